"""``hubcheck export``: wrap a model people have into a Reusable SavedModel (docs/export.md).

:func:`export_model` loads the source (:mod:`.sources`), puts the opt-in adapters around it and traces the
call (:mod:`.wrapper`), writes and verifies the SavedModel (:mod:`.writer`) and returns an
:class:`ExportResult`. It refuses with :class:`ExportError` what no wrapper can make conformant. Checking
the written model is left to the caller (the command line runs the whole catalog; :func:`hubcheck.export`
does too unless told not to).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubcheck.exporter.errors import ExportError
from hubcheck.results import JSONValue, Report

if TYPE_CHECKING:
    from hubcheck.exporter.sources import Source

__all__ = ["ExportError", "ExportOptions", "ExportResult", "export_model"]

LOGITS_CHOICES = ("softmax", "sigmoid")


@dataclass(frozen=True, kw_only=True)
class ExportOptions:
    """The adapters and choices of one export; :meth:`of` parses and validates them from text."""

    input_range: tuple[float, float] | None = None
    grayscale: bool = False
    output: str | None = None
    logits: str | None = None
    signature: str | None = None
    input_size: tuple[int, int] | None = None
    allow_unsafe_ops: bool = False

    @classmethod
    def of(cls, *, input_range: str | tuple[float, float] | None = None, grayscale: bool = False,
           output: str | int | None = None, logits: str | None = None, signature: str | None = None,
           input_size: str | tuple[int, int] | None = None, allow_unsafe_ops: bool = False) -> ExportOptions:
        """Options from the command line's text (or Python values); ``ValueError`` saying which is malformed."""
        if logits is not None and logits not in LOGITS_CHOICES:
            raise ValueError(f"logits must be one of {', '.join(LOGITS_CHOICES)}; got {logits!r}")
        return cls(input_range=_parse_range(input_range), grayscale=bool(grayscale),
                   output=None if output is None else str(output), logits=logits, signature=signature,
                   input_size=_parse_size(input_size), allow_unsafe_ops=allow_unsafe_ops)

    def applied(self) -> list[str]:
        """The adapters in the order they act, as the output and the report name them."""
        names = []
        if self.input_range is not None:
            names.append(f"input-range {self.input_range[0]:g},{self.input_range[1]:g}")
        if self.grayscale:
            names.append("grayscale")
        if self.output is not None:
            names.append(f"output {self.output}")
        if self.logits is not None:
            names.append(f"logits {self.logits}")
        if self.input_size is not None:
            names.append(f"input-size {self.input_size[0]}x{self.input_size[1]}")
        return names


def _parse_range(value: str | tuple[float, float] | None) -> tuple[float, float] | None:
    if value is None:
        return None
    if isinstance(value, str):
        parts = value.split(",")
        try:
            low, high = (float(part) for part in parts)
        except ValueError:
            raise ValueError(f"input range must look like LO,HI (e.g. 0,255 or -1,1); got {value!r}") from None
    else:
        low, high = (float(v) for v in value)
    if not (low < high) or not all(map(_finite, (low, high))):
        raise ValueError(f"input range needs finite LO < HI; got {low:g},{high:g}")
    return low, high


def _finite(value: float) -> bool:
    return value == value and abs(value) != float("inf")


def _parse_size(value: str | tuple[int, int] | None) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", value)
        if not match:
            raise ValueError(f"input size must look like HxW (e.g. 224x224); got {value!r}")
        size = int(match.group(1)), int(match.group(2))
    else:
        size = int(value[0]), int(value[1])
    if min(size) < 1:
        raise ValueError(f"input size needs positive height and width; got {size[0]}x{size[1]}")
    return size


@dataclass(frozen=True, kw_only=True)
class ExportResult:
    """What an export wrote and how: the facts the report's ``model.export`` section carries."""

    path: Path
    source: str
    source_kind: str
    fine_tunable: bool
    adapters: tuple[str, ...]
    input_shape: tuple[int | None, ...]
    output_width: int
    notes: tuple[str, ...] = ()
    report: Report | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, JSONValue]:
        from hubcheck import __version__

        return {
            "source": self.source,
            "source_kind": self.source_kind,
            "fine_tunable": self.fine_tunable,
            "adapters": list(self.adapters),
            "input_shape": list(self.input_shape),
            "output_width": self.output_width,
            "notes": list(self.notes),
            "hubcheck_version": __version__,
        }


def export_model(model: Any, out: str | os.PathLike[str], options: ExportOptions = ExportOptions()) -> ExportResult:
    """Export ``model`` (a path, or a live Keras 3 / tf-keras model) to the new folder ``out``.

    Raises :class:`ExportError` (nothing written) for a source it cannot read or no wrapper can make
    conformant, or an ``out`` that exists and is not empty; :class:`hubcheck.exitcodes.Crash` when the
    written model does not load back or computes something else than the wrapper did.
    """
    from hubcheck.exporter.rewrites import pointwise_strides_as_slices
    from hubcheck.exporter.sources import load_source
    from hubcheck.exporter.writer import check_apart, check_target
    from hubcheck.tfimport import native_logs_silenced

    target = Path(out).expanduser()
    check_target(target)  # before any loading: an export into a used folder never starts
    if isinstance(model, (str, os.PathLike)):
        check_apart(Path(model).expanduser(), target)
    with native_logs_silenced():
        source = load_source(model, signature=options.signature, allow_unsafe_ops=options.allow_unsafe_ops)
        with pointwise_strides_as_slices(source.keras_model) as rewritten:
            if rewritten:
                source.notes.append(f"{rewritten} strided 1x1 convolution(s) run as a slice then a stride-1 "
                                    "convolution: the same values, and gradients that TensorFlow 2.21's CPU "
                                    "kernels compute without crashing (docs/export.md)")
            if source.kind == "tf2-saved-model" and source.fine_tunable:
                _note_unrewritable(source)
            return _write(model, target, source, options)


def _note_unrewritable(source: Source) -> None:
    from hubcheck.exporter.rewrites import unrewritable_pointwise_strides

    found = unrewritable_pointwise_strides(list(getattr(source.keep.__call__, "concrete_functions", [])))
    if found:
        source.notes.append(f"the source's graph has {found} strided 1x1 convolution(s), which export cannot "
                            "rewrite in a SavedModel: TensorFlow 2.21's CPU kernels may crash taking their "
                            "gradients (a check killed by SIGSEGV or SIGABRT); export the Keras model it came "
                            "from instead (docs/export.md)")


def _write(model: Any, target: Path, source: Source, options: ExportOptions) -> ExportResult:
    """Wrap the loaded ``source`` with the adapters of ``options``, trace it and write it at ``target``."""
    from hubcheck.exporter.wrapper import Adapters, build_root, output_width, traced_size
    from hubcheck.exporter.writer import write_model

    adapters = Adapters(input_range=options.input_range, grayscale=options.grayscale, output=options.output,
                        logits=options.logits, input_size=options.input_size)
    root = build_root(source, adapters)
    size = traced_size(source, options.input_size)
    width = output_width(root, size)
    applied = list(options.applied())
    if source.input_dtype.name != "float32":
        applied.append(f"input cast to {source.input_dtype.name}")
    if source.output_dtype not in (None, "float32"):
        applied.append(f"output cast from {source.output_dtype} to float32")
    result = ExportResult(
        path=target,
        source=os.fspath(model) if isinstance(model, (str, os.PathLike)) else f"<{type(model).__name__} object>",
        source_kind=source.kind,
        fine_tunable=source.fine_tunable,
        adapters=tuple(applied),
        input_shape=(None, *size, 3),
        output_width=width,
        notes=tuple(source.notes),
    )
    write_model(root, target, result.to_json(), (size[0] or 96, size[1] or 96))
    return result


def with_export_facts(report: Report, facts: dict[str, JSONValue] | Any) -> Report:
    """``report`` with the export's facts as its ``model.export`` section (docs/report.schema.json)."""
    import dataclasses

    return dataclasses.replace(report, model={**report.model, "export": dict(facts)})
