"""Immutable results: what checks return and what reporters read, and every report made without a run.

Nothing here imports TensorFlow, so reporters, the exit-code decision and the
JSON round trip work (and are tested) without it.

A :class:`Report` comes from a run (:func:`hubcheck.runner.run_checks`, in this process or in the
isolated child) or is made here when there was no complete run: :func:`unavailable_report` (the
model could not be fetched) and :func:`partial_report` (the checking process stopped). Either way,
:func:`with_source` completes its ``model`` section with where the model came from.
"""

from __future__ import annotations

import enum
import math
import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hubcheck.options import RunOptions
    from hubcheck.registry import Check

JSONValue = Any  # str | int | float | bool | None | list[JSONValue] | dict[str, JSONValue]

SCHEMA_VERSION = "1.0"


def json_clean(value: Any) -> JSONValue:
    """Make check details strict JSON: tuples to lists, numpy scalars to Python, NaN/Inf to strings."""
    if isinstance(value, Mapping):
        return {str(k): json_clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_clean(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float) or hasattr(value, "item"):
        number = value.item() if hasattr(value, "item") else value
        if isinstance(number, float) and not math.isfinite(number):
            return str(number)
        return number
    return str(value)


MAX_MESSAGE_CHARS = 1000
"""A check's message is at most this long; the rest is cut, saying how much (see :func:`bounded`)."""

MAX_DETAIL_CHARS = 10_000
"""Every string in a check's details and in the report's model facts is at most this long (a
``--debug`` traceback fits)."""


def bounded(text: str, limit: int) -> str:
    """``text`` if it has at most ``limit`` characters, else its start and "… (N more characters)",
    ``limit`` characters in all. Model-controlled strings (exception messages, names from the graph)
    pass through here on their way into a report, so a hostile model cannot make one huge."""
    if len(text) <= limit:
        return text
    keep = max(0, limit - 40)  # room for the marker with a count of up to 20 digits
    return f"{text[:keep]}… ({len(text) - keep} more characters)"


def _bounded_json(value: Any, limit: int) -> Any:
    """Every string in ``value`` (keys included) bounded to ``limit``; other values untouched."""
    if isinstance(value, str):
        return bounded(value, limit)
    if isinstance(value, Mapping):
        return {bounded(k, limit) if isinstance(k, str) else k: _bounded_json(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_bounded_json(v, limit) for v in value]
    if isinstance(value, tuple):
        return tuple(_bounded_json(v, limit) for v in value)
    return value


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one line, its text at most ``limit`` characters, for a finding's message."""
    text = bounded(" ".join(str(exc).split()), limit)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Status(str, enum.Enum):
    """Outcome of one check. ``error`` means the check itself raised."""

    PASS = "pass"
    WARN = "warn"
    SKIP = "skip"
    FAIL = "fail"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


CONSEQUENCE_OF = "consequence_of"
"""The details key of a failure that follows from another check's failure; its value is that check's id."""


@dataclass(frozen=True)
class Finding:
    """What a check's ``run`` returns: a verdict, one sentence, and evidence."""

    status: Status
    message: str
    details: Mapping[str, JSONValue] = field(default_factory=dict)

    @classmethod
    def passed(cls, message: str, **details: JSONValue) -> Finding:
        return cls(Status.PASS, message, details)

    @classmethod
    def failed(cls, message: str, **details: JSONValue) -> Finding:
        return cls(Status.FAIL, message, details)

    @classmethod
    def warned(cls, message: str, **details: JSONValue) -> Finding:
        return cls(Status.WARN, message, details)

    @classmethod
    def skipped(cls, reason: str, **details: JSONValue) -> Finding:
        return cls(Status.SKIP, reason, details)


@dataclass(frozen=True)
class CheckResult:
    """A finding attributed to a check, as it appears in the report."""

    id: str
    title: str
    status: Status
    message: str
    details: Mapping[str, JSONValue] = field(default_factory=dict)
    duration_s: float = 0.0

    def __post_init__(self) -> None:
        # The one place every result passes: checks, the isolated child's stream, reports read back.
        object.__setattr__(self, "message", bounded(self.message, MAX_MESSAGE_CHARS))
        object.__setattr__(self, "details", _bounded_json(self.details, MAX_DETAIL_CHARS))

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status.value,
            "message": self.message,
            "details": json_clean(dict(self.details)),
            "duration_s": round(self.duration_s, 6),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, JSONValue]) -> CheckResult:
        return cls(
            id=data["id"],
            title=data["title"],
            status=Status(data["status"]),
            message=data["message"],
            details=dict(data.get("details", {})),
            duration_s=float(data.get("duration_s", 0.0)),
        )


@dataclass(frozen=True)
class Report:
    """Everything one run found out about one model."""

    hubcheck_version: str
    environment: Mapping[str, JSONValue]
    model: Mapping[str, JSONValue]
    checks: Sequence[CheckResult]
    duration_s: float = 0.0
    strict: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", _bounded_json(self.model, MAX_DETAIL_CHARS))

    @property
    def summary(self) -> dict[str, int]:
        counts = {status.value: 0 for status in Status}
        for result in self.checks:
            counts[result.status.value] += 1
        return counts

    @property
    def root_causes(self) -> list[str]:
        """The problems to fix first: the ids, in report order, of the checks that fail or error
        other than as a consequence of another failure.

        A check says that its failure follows from another's with ``details.consequence_of`` (that
        check's id). The claim counts only when that other check fails or errors in this report too,
        so a failure whose cause was not selected (``--select``) or did not fail is a root cause.
        """
        bad = (Status.FAIL, Status.ERROR)
        failing = {result.id for result in self.checks if result.status in bad}
        return [
            result.id for result in self.checks
            if result.status in bad and not _is_consequence(result, failing)
        ]

    @property
    def failed(self) -> bool:
        """True when the model does not conform (warnings count only if strict)."""
        bad = {Status.FAIL, Status.ERROR} | ({Status.WARN} if self.strict else set())
        return any(result.status in bad for result in self.checks)

    @property
    def status(self) -> Status:
        """The verdict: :attr:`Status.FAIL` when :attr:`failed`, else :attr:`Status.PASS`."""
        return Status.FAIL if self.failed else Status.PASS

    def result(self, check_id: str) -> CheckResult:
        for result in self.checks:
            if result.id == check_id:
                return result
        raise KeyError(check_id)

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "schema_version": SCHEMA_VERSION,
            "hubcheck_version": self.hubcheck_version,
            "environment": dict(self.environment),
            "model": json_clean(dict(self.model)),
            "status": self.status.value,
            "strict": self.strict,
            "summary": {**self.summary, "root_causes": self.root_causes},
            "checks": [result.to_json() for result in self.checks],
            "duration_s": round(self.duration_s, 6),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, JSONValue]) -> Report:
        return cls(
            hubcheck_version=data["hubcheck_version"],
            environment=dict(data["environment"]),
            model=dict(data["model"]),
            checks=tuple(CheckResult.from_json(item) for item in data["checks"]),
            duration_s=float(data.get("duration_s", 0.0)),
            strict=bool(data.get("strict", False)),
        )


def _is_consequence(result: CheckResult, failing: set[str]) -> bool:
    """Whether ``result`` fails only because another check in ``failing`` (not itself) does."""
    cause = result.details.get(CONSEQUENCE_OF)
    return isinstance(cause, str) and cause != result.id and cause in failing


ProgressCallback = Callable[[str, CheckResult | None], None]
"""Called with (check id, None) when a check starts and (check id, result) when it ends."""


def hubcheck_version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # 20 ms: not on every start-up's path

    try:
        return version("hubcheck")
    except PackageNotFoundError:
        return "0+unknown"


def environment() -> dict[str, JSONValue]:
    """The versions a report was made with (the report's ``environment`` section)."""
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, JSONValue] = {"python": platform.python_version(), "platform": platform.platform()}
    for package in ("tensorflow", "tensorflow-hub", "tf-keras", "numpy"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return versions


# -- reports made without a complete run ---------------------------------------------------------------

NOT_A_SAVED_MODEL = "not-a-saved-model"  # hubcheck.loader.ModelFormat.NOT_A_SAVED_MODEL, without importing it


def unavailable_report(source: str, options: RunOptions, reason: str) -> Report:
    """The report of a model that could not be had (a download failed): ``load`` fails with the
    reason, every other selected check is skipped behind it, and ``model.fetch_error`` says why."""
    from hubcheck.registry import available_checks

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
    model: dict[str, JSONValue] = {"path": source, "format": NOT_A_SAVED_MODEL, "source": source,
                                   "fetch_error": reason}
    return Report(hubcheck_version(), environment(), model, tuple(results), 0.0, options.strict)


def partial_report(
    path: str,
    model_format: str,
    checks: Sequence[type[Check]],
    finished: Mapping[str, CheckResult],
    running: str | None,
    reason: str | None,
    *,
    duration_s: float,
    strict: bool,
) -> Report:
    """The report of a run that stopped before its end (a timeout, the memory cap, a crash of the
    checking process): the ``finished`` results stand, the ``running`` check is an ``error`` that
    says why, the rest of ``checks`` are skipped behind it. A run that stopped between two checks
    gets an extra ``run`` error, so that the report still fails."""
    reason = reason or "the checking process stopped"
    results: list[CheckResult] = []
    for check in checks:
        if check.id in finished:
            results.append(finished[check.id])
        elif check.id == running:
            results.append(CheckResult(check.id, check.title, Status.ERROR, f"{reason} while running {check.id}",
                                       {"stopped": reason}))
        else:
            results.append(CheckResult(check.id, check.title, Status.SKIP,
                                       f"not run: the run stopped at {running or 'start-up'} ({reason})",
                                       {"blocked_by": running or "load", "stopped": reason}))
    if running is None and not any(r.status is Status.ERROR for r in results):
        results.append(CheckResult("run", "The run completed", Status.ERROR, reason, {"stopped": reason}))
    model: dict[str, JSONValue] = {"path": path, "format": model_format}
    return Report(hubcheck_version(), environment(), model, tuple(results), duration_s, strict)


def with_source(report: Report, path: str, source: Mapping[str, JSONValue]) -> Report:
    """``report`` with its model named ``path`` (what the user wrote: a folder, an archive, a URL)
    and the ``source`` facts of where it was checked (:meth:`hubcheck.sources.ResolvedModel.to_json`)."""
    return replace(report, model={**report.model, **source, "path": path})
