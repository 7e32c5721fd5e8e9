"""Run the selected checks against one model and assemble the :class:`Report`."""

from __future__ import annotations

import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from hubcheck.engine import Engine
from hubcheck.options import RunOptions
from hubcheck.registry import Check, available_checks
from hubcheck.results import (
    CheckResult,
    Finding,
    ProgressCallback,
    Report,
    Status,
    environment,
    hubcheck_version,
    one_line,
)
from hubcheck.session import ModelUnavailable

__all__ = ["ProgressCallback", "environment", "hubcheck_version", "run_check", "run_checks"]


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


def run_check(check: type[Check], engine: Engine) -> CheckResult:
    """Run one check in isolation: whatever it raises becomes its own ``error``."""
    started = time.perf_counter()
    blocker = _blocker(check, engine.results)
    if blocker is not None:
        finding = Finding.skipped(f"blocked by {blocker.id} ({blocker.status})", blocked_by=blocker.id)
    else:
        try:
            finding = check().run(engine.context_for(check))
        except ModelUnavailable as exc:
            finding = Finding.skipped(f"blocked by {exc.blocked_by}: {exc}", blocked_by=exc.blocked_by)
        except Exception as exc:  # a bug in a check must not take the other checks down
            details = {"traceback": traceback.format_exc()} if engine.options.debug else {}
            finding = Finding(Status.ERROR, f"the check raised {one_line(exc)}", details)
    return CheckResult(
        id=check.id,
        title=check.title,
        status=finding.status,
        message=finding.message,
        details=finding.details,
        duration_s=time.perf_counter() - started,
    )


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
    engine = Engine(path, options, source_problem)
    for check in catalog:
        if not options.wants(check.id):
            continue
        if progress:
            progress(check.id, None)
        result = run_check(check, engine)
        engine.record(result)
        if progress:
            progress(check.id, result)
    try:
        facts = engine.facts()
    except Exception as exc:  # a model odd enough to break fact-finding still gets its report
        source = engine.session.inspected  # the ModelSource, if inspection got that far
        model_format = source.format.value if source is not None else "unreadable"
        facts = {"path": str(path), "format": model_format, "facts_error": one_line(exc)}
    return Report(
        hubcheck_version=hubcheck_version(),
        environment=environment(),
        model=facts,
        checks=tuple(engine.results.values()),
        duration_s=time.perf_counter() - started,
        strict=options.strict,
    )
