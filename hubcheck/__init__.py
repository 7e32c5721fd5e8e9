"""hubcheck: conformance checks for TF2 image models published as Reusable SavedModels.

    >>> import hubcheck
    >>> report = hubcheck.check("path/to/model")        # doctest: +SKIP
    >>> report.status, report.result("output-shape").message   # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from hubcheck.options import RunOptions, Task, Tolerances
from hubcheck.results import CheckResult, Finding, ProgressCallback, Report, Status

if TYPE_CHECKING:
    from hubcheck.documentation import DocFacts
    from hubcheck.exporter import ExportResult
    from hubcheck.runners import Runner
    from hubcheck.sources import ResolvedModel

__all__ = ["check", "export", "CheckResult", "Finding", "Report", "RunOptions", "Status", "Task", "Tolerances", "__version__"]



def __getattr__(name: str) -> str:
    # __version__ on first use: importlib.metadata costs 20 ms that the hubcheck command's start-up
    # (hubcheck.prestart imports this package first) need not pay.
    if name == "__version__":
        try:
            from hubcheck.results import hubcheck_version

            return hubcheck_version()
        except Exception:  # noqa: BLE001 - a source tree that is not installed
            return "0+unknown"
    raise AttributeError(f"module 'hubcheck' has no attribute {name!r}")


def check(
    path: str | os.PathLike[str] | ResolvedModel,
    *,
    task: str | Task = Task.AUTO,
    input_sizes: Iterable[tuple[int, int] | str] = (),
    select: Iterable[str] = (),
    ignore: Iterable[str] = (),
    tolerances: Tolerances | Mapping[str, float] | None = None,
    strict: bool = False,
    progress: ProgressCallback | None = None,
    allow_unsafe_ops: bool = False,
    isolate: bool = False,
    timeout_s: float | None = None,
    max_memory_bytes: int | None = None,
    debug: bool = False,
    runner: Runner | None = None,
    doc: str | os.PathLike[str] | DocFacts | None = None,
) -> Report:
    """Check the model at ``path`` and return its :class:`Report`.

    ``path`` is a SavedModel directory, a ``.tar.gz`` archive of one, an ``http(s)://``
    URL or a model-hub handle (see docs/sources.md), or an already resolved
    :class:`hubcheck.sources.ResolvedModel`. ``task`` is ``"auto"``,
    ``"image-feature-vector"`` or ``"image-classification"``; ``input_sizes`` are
    ``(height, width)`` pairs or ``"HxW"`` strings, used when the model's traces do not
    fix the size; ``select``/``ignore`` are check ids (see ``hubcheck --list-checks``);
    ``tolerances`` overrides some of :class:`Tolerances` by name, e.g. ``{"rtol": 1e-3}``;
    ``strict`` makes warnings fail the report. ``allow_unsafe_ops`` loads and calls the
    model even when the ``unsafe-ops`` check finds ops that reach outside the process
    (by default it is not loaded). ``progress`` is called with ``(check_id, None)`` when a
    check starts and ``(check_id, result)`` when it ends.

    ``isolate=True`` runs the checks in a sandboxed child process (docs/security.md), bounded
    by ``timeout_s`` (whole run) and ``max_memory_bytes`` (resident memory; ``None``, the
    default, caps it at 75% of the machine's memory, ``0`` means no cap); a model that hangs,
    crashes or grows past the cap still yields a report, with the running check as ``error``. ``debug=True``
    keeps the traceback of a check that raised in its ``details["traceback"]``. ``runner`` checks the
    model some other way (a :class:`hubcheck.runners.Runner`; then leave ``isolate``, ``timeout_s`` and
    ``max_memory_bytes`` alone). ``doc`` is the model's documentation (TF Hub markdown or Kaggle
    ``model-instance-metadata.json``, or facts already read with
    :func:`hubcheck.documentation.read_documentation`): the ``doc-*`` checks compare it with the model.

    Raises ``FileNotFoundError`` when a local ``path`` does not exist,
    :class:`hubcheck.sources.SourceError` when a URL cannot be fetched, and ``ValueError``
    for an unknown task, check id, tolerance or a malformed input size; everything wrong
    with the model itself is a finding in the report, never an exception.
    """
    from hubcheck.config import Settings
    from hubcheck.runners import check_model, runner_for
    from hubcheck.sources import NotFoundError, ResolvedModel, resolve_model

    from hubcheck.documentation import DocFacts, DocumentationError

    facts = doc if isinstance(doc, DocFacts) else None
    doc_path = None if isinstance(doc, DocFacts) or doc is None else os.fspath(doc)
    settings = Settings.of(task=task, input_sizes=input_sizes, select=select, ignore=ignore,
                           tolerances=tolerances, strict=strict, allow_unsafe_ops=allow_unsafe_ops, doc=doc_path)
    try:
        options = dataclasses.replace(settings.run_options(), debug=debug)
    except DocumentationError as exc:
        raise ValueError(str(exc)) from None
    if facts is not None:
        options = dataclasses.replace(options, documentation=facts)
    if runner is None:
        runner = runner_for(isolate=isolate, timeout_s=timeout_s, max_memory_bytes=max_memory_bytes)
    elif isolate or timeout_s is not None or max_memory_bytes is not None:
        raise ValueError("runner= decides how the model runs: leave isolate, timeout_s and max_memory_bytes unset")
    if isinstance(path, ResolvedModel):
        resolved = path
    else:
        try:
            resolved = resolve_model(os.fspath(path))
        except NotFoundError:
            raise FileNotFoundError(f"no such model path: {os.fspath(path)}") from None
    return check_model(runner, resolved, options, progress=progress)


def export(
    model: object,
    out: str | os.PathLike[str],
    *,
    input_range: str | tuple[float, float] | None = None,
    grayscale: bool = False,
    output: str | int | None = None,
    logits: str | None = None,
    signature: str | None = None,
    input_size: str | tuple[int, int] | None = None,
    allow_unsafe_ops: bool = False,
    run_checks: bool = True,
    **check_options: object,
) -> ExportResult:
    """Write ``model`` as a Reusable SavedModel in the new folder ``out`` and, with ``check``, check it.

    ``model`` is a path (a Keras 3 or tf-keras ``.keras``/``.h5`` file, a SavedModel folder) or a live
    Keras 3 or tf-keras model. The adapters, each opt-in, are those of ``hubcheck export`` (docs/export.md):
    ``input_range=(0, 255)`` (or ``"0,255"``), ``grayscale=True``, ``output="name"`` or an index,
    ``logits="softmax"|"sigmoid"``, ``signature="name"`` for a serving-only SavedModel, and
    ``input_size=(224, 224)`` (or ``"224x224"``) to fix the traced size. A SavedModel source whose graph
    fails the ``unsafe-ops`` allowlist is refused unless ``allow_unsafe_ops`` (the source is loaded and
    called in this process). With ``run_checks`` (the default) the
    written model is checked with :func:`check` (``check_options`` are its keyword arguments) and the
    report, with the export's facts as ``report.model["export"]``, is the result's ``report``.

    Raises :class:`hubcheck.exporter.ExportError` (nothing written) when the source cannot be read or no
    wrapper can make it conformant, or ``out`` exists and is not empty; ``ValueError`` for a malformed option.
    """
    import dataclasses

    from hubcheck.exporter import ExportOptions, export_model, with_export_facts

    options = ExportOptions.of(input_range=input_range, grayscale=grayscale, output=output, logits=logits,
                               signature=signature, input_size=input_size, allow_unsafe_ops=allow_unsafe_ops)
    result = export_model(model, out, options)
    if not run_checks:
        return result
    report = check(result.path, allow_unsafe_ops=allow_unsafe_ops, **check_options)  # type: ignore[arg-type]
    return dataclasses.replace(result, report=with_export_facts(report, result.to_json()))
