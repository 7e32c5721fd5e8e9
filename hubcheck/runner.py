"""Run the selected checks against one model and assemble the :class:`Report`."""

from __future__ import annotations

import platform
import time
import traceback
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from hubcheck.context import CheckContext, ModelUnavailable
from hubcheck.options import RunOptions
from hubcheck.registry import Check, available_checks
from hubcheck.results import CheckResult, Finding, JSONValue, Report, Status, one_line

ProgressCallback = Callable[[str, CheckResult | None], None]
"""Called with (check id, None) when a check starts and (check id, result) when it ends."""


def hubcheck_version() -> str:
    try:
        return version("hubcheck")
    except PackageNotFoundError:
        return "0+unknown"


def environment() -> dict[str, JSONValue]:
    versions: dict[str, JSONValue] = {"python": platform.python_version(), "platform": platform.platform()}
    for package in ("tensorflow", "tensorflow-hub", "tf-keras", "numpy"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return versions


def _blocker(check: type[Check], results: dict[str, CheckResult]) -> CheckResult | None:
    """The failed check that makes ``check`` meaningless, traced back to the root cause."""
    for required in check.requires:
        earlier = results.get(required)
        if earlier is None:
            continue
        if earlier.status in (Status.FAIL, Status.ERROR):
            return earlier
        root = earlier.details.get("blocked_by")
        if root is not None:
            return results.get(str(root), earlier)
    return None


def run_check(check: type[Check], ctx: CheckContext) -> CheckResult:
    """Run one check in isolation: whatever it raises becomes its own ``error``."""
    started = time.perf_counter()
    blocker = _blocker(check, ctx.results)
    if blocker is not None:
        finding = Finding.skipped(f"blocked by {blocker.id} ({blocker.status})", blocked_by=blocker.id)
    else:
        try:
            finding = check().run(ctx)
        except ModelUnavailable as exc:
            finding = Finding.skipped(f"blocked by {exc.blocked_by}: {exc}", blocked_by=exc.blocked_by)
        except Exception as exc:  # a bug in a check must not take the other checks down
            details = {"traceback": traceback.format_exc()} if ctx.options.debug else {}
            finding = Finding(Status.ERROR, f"the check raised {one_line(exc)}", details)
    return CheckResult(
        id=check.id,
        title=check.title,
        status=finding.status,
        message=finding.message,
        details=finding.details,
        duration_s=time.perf_counter() - started,
    )


def unavailable_report(source: str, options: RunOptions, reason: str) -> Report:
    """The report of a model that could not be had (a download failed): ``load`` fails with the
    reason, every other selected check is skipped behind it, and ``model.fetch_error`` says why."""
    results = []
    for check in available_checks():
        if not options.wants(check.id):
            continue
        if check.id == "load":
            results.append(CheckResult(check.id, check.title, Status.FAIL, f"could not fetch the model: {reason}",
                                       {"fetch_error": reason}))
        else:
            results.append(CheckResult(check.id, check.title, Status.SKIP, "blocked by load (fail)",
                                       {"blocked_by": "load"}))
    model: dict[str, JSONValue] = {"path": source, "format": "not-a-saved-model", "source": source,
                                   "fetch_error": reason}
    return Report(hubcheck_version(), environment(), model, tuple(results), 0.0, options.strict)


def run_checks(
    path: Path,
    options: RunOptions,
    checks: Sequence[type[Check]] | None = None,
    progress: ProgressCallback | None = None,
    source_problem: str | None = None,
) -> Report:
    """Check the model at ``path`` (which must exist) and return the report.

    ``source_problem`` is what went wrong fetching or unpacking the model; ``load`` reports it.
    """
    started = time.perf_counter()
    catalog = available_checks() if checks is None else tuple(checks)
    # Ids name registered checks even when the caller runs a subset (the isolated child does).
    options.validate_ids({check.id for check in catalog} | {check.id for check in available_checks()})
    ctx = CheckContext(path, options, source_problem)
    for check in catalog:
        if not options.wants(check.id):
            continue
        if progress:
            progress(check.id, None)
        result = run_check(check, ctx)
        ctx.results[check.id] = result
        if progress:
            progress(check.id, result)
    try:
        facts = ctx.facts()
    except Exception as exc:  # a model odd enough to break fact-finding still gets its report
        source = ctx.__dict__.get("source")  # the cached ModelSource, if inspection got that far
        model_format = source.format.value if source is not None else "unreadable"
        facts = {"path": str(path), "format": model_format, "facts_error": one_line(exc)}
    return Report(
        hubcheck_version=hubcheck_version(),
        environment=environment(),
        model=facts,
        checks=tuple(ctx.results.values()),
        duration_s=time.perf_counter() - started,
        strict=options.strict,
    )
