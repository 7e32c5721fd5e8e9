"""Immutable results: what checks return and what reporters read.

Nothing here imports TensorFlow, so reporters, the exit-code decision and the
JSON round trip work (and are tested) without it.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

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
    def failed(self) -> bool:
        """True when the model does not conform (warnings count only if strict)."""
        bad = {Status.FAIL, Status.ERROR} | ({Status.WARN} if self.strict else set())
        return any(result.status in bad for result in self.checks)

    @property
    def status(self) -> str:
        return "fail" if self.failed else "pass"

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
            "status": self.status,
            "strict": self.strict,
            "summary": self.summary,
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
