"""The facts a model's documentation states, the linter's findings, and what a run measured.

Plain, frozen, TensorFlow-free values: :class:`DocFacts` is what :func:`read_documentation` found,
:class:`DocFinding` one thing :func:`lint_documentation` objects to, :class:`MeasuredModel` what
:func:`write_documentation` turns into a draft doc.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JSONValue = Any  # str | int | float | bool | None | list[JSONValue] | dict[str, JSONValue]

KINDS = ("tfhub-markdown", "kaggle-metadata")
IMAGE_TASKS = ("image-feature-vector", "image-classification")
SAVED_MODEL_2 = "saved_model_2"

FACT_KEYS = ("path", "kind", "task", "fine_tunable", "format", "input_size", "num_outputs", "value_range",
             "arguments", "evidence")
"""The keys of ``DocFacts.to_json()``, in order (docs/report.schema.json, ``$defs/documentation``)."""

CHANNELS_FIRST = "channels_first"
"""An evidence key that is not a fact: a statement that the input is channels-first (NCHW)."""
CONFLICT_SUFFIX = "_conflict"
"""``evidence[fact + CONFLICT_SUFFIX]``: a statement of ``fact`` that contradicts the one kept."""


class DocumentationError(Exception):
    """The file cannot be read as a model's documentation (missing, unreadable, not a doc): exit 2."""


@dataclass(frozen=True)
class DocInputSize:
    """A documented input size; ``fixed`` when the doc says only this size works (else it is a default)."""

    height: int
    width: int
    fixed: bool

    def to_json(self) -> dict[str, JSONValue]:
        return {"height": self.height, "width": self.width, "fixed": self.fixed}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DocInputSize:
        return cls(height=int(data["height"]), width=int(data["width"]), fixed=bool(data["fixed"]))


@dataclass(frozen=True)
class DocFacts:
    """What one doc states; ``None`` (or empty) where it says nothing the reader could find.

    ``evidence`` maps a fact's name to the sentence, line or metadata entry it was read from; it may
    also hold ``channels_first`` and ``<fact>_conflict`` entries (statements the linter judges)."""

    path: str
    kind: str  # "tfhub-markdown" | "kaggle-metadata"
    task: str | None = None  # "image-feature-vector" | "image-classification" | other text as found
    fine_tunable: bool | None = None
    format: str | None = None  # e.g. "saved_model_2"
    input_size: DocInputSize | None = None
    num_outputs: int | None = None
    value_range: tuple[float, float] | None = None
    arguments: dict[str, JSONValue] = field(default_factory=dict)  # hyperparameter -> documented example value
    evidence: dict[str, str] = field(default_factory=dict)  # fact name -> the sentence/line it came from

    def to_json(self) -> dict[str, JSONValue]:
        """Exactly the keys of :data:`FACT_KEYS` (the report schema's ``documentation``)."""
        return {
            "path": self.path,
            "kind": self.kind,
            "task": self.task,
            "fine_tunable": self.fine_tunable,
            "format": self.format,
            "input_size": self.input_size.to_json() if self.input_size is not None else None,
            "num_outputs": self.num_outputs,
            "value_range": list(self.value_range) if self.value_range is not None else None,
            "arguments": dict(self.arguments),
            "evidence": dict(self.evidence),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DocFacts:
        """The inverse of :meth:`to_json`; raises ``ValueError`` on a value of the wrong shape."""
        try:
            size = data.get("input_size")
            value_range = data.get("value_range")
            if value_range is not None and len(value_range) != 2:
                raise ValueError(f"value_range must be [lo, hi], got {value_range!r}")
            num = data.get("num_outputs")
            fine = data.get("fine_tunable")
            return cls(
                path=str(data["path"]),
                kind=str(data["kind"]),
                task=None if data.get("task") is None else str(data["task"]),
                fine_tunable=None if fine is None else bool(fine),
                format=None if data.get("format") is None else str(data["format"]),
                input_size=None if size is None else DocInputSize.from_json(size),
                num_outputs=None if num is None else int(num),
                value_range=None if value_range is None else (float(value_range[0]), float(value_range[1])),
                arguments=dict(data.get("arguments") or {}),
                evidence={str(k): str(v) for k, v in (data.get("evidence") or {}).items()},
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not documentation facts: {exc!r}") from None


@dataclass(frozen=True)
class DocFinding:
    """One thing the linter objects to: a stable ``code``, a sentence for the user, the text it is about."""

    code: str
    message: str
    evidence: str | None = None

    def to_json(self) -> dict[str, JSONValue]:
        return {"code": self.code, "message": self.message, "evidence": self.evidence}


@dataclass(frozen=True)
class MeasuredModel:
    """What a run measured about a model, the input of :func:`write_documentation`."""

    task: str
    fine_tunable: bool
    num_outputs: int | None
    input_size: DocInputSize | None
    arguments: dict[str, JSONValue]
    handle: str = "publisher/model/1"
