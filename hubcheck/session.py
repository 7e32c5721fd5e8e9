"""The model of one run: inspected once, scanned once, loaded at most once, behind the unsafe-op gate.

:class:`ModelSession` owns the one parsed SavedModel (its :class:`ModelSource`),
the graph :class:`Program` of the MetaGraph that loads, the unsafe-op scan of
every MetaGraph, and the loaded root object. Nothing else in a run parses
``saved_model.pb`` or calls ``tf.saved_model.load``.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubcheck.loader import LoadedModel, ModelFormat, ModelLoadError, ModelSource, inspect_path, load_saved_model
from hubcheck.options import RunOptions

if TYPE_CHECKING:
    from hubcheck.graph.program import Program, Trace
    from hubcheck.graph.unsafe import ScanResult


class ModelUnavailable(Exception):
    """A check needs something an earlier stage could not provide (load, call); ``blocked_by`` names it."""

    def __init__(self, reason: str, blocked_by: str) -> None:
        super().__init__(reason)
        self.blocked_by = blocked_by


class ModelSession:
    """One model: what it is, what its graph holds, and (on first need) the loaded object."""

    def __init__(self, path: Path, options: RunOptions, source_problem: str | None = None) -> None:
        self.path = path
        self.options = options
        self.source_problem = source_problem  # found while fetching or unpacking (hubcheck.sources)
        self._loaded: LoadedModel | None = None
        self._load_error: str | None = None

    # -- reading, without running --------------------------------------------------------------

    @cached_property
    def source(self) -> ModelSource:
        if self.source_problem:
            return ModelSource(self.path, ModelFormat.NOT_A_SAVED_MODEL, self.source_problem)
        return inspect_path(self.path)

    @property
    def inspected(self) -> ModelSource | None:
        """The source if it was inspected already (for a report of a run that broke early)."""
        return self.__dict__.get("source")

    @cached_property
    def program(self) -> Program | None:
        """The graph of the MetaGraph that loads, read as a program; None without a SavedModel proto."""
        from hubcheck.graph.program import Program, choose_meta_graph, saved_model_of

        proto = saved_model_of(self.source)
        meta_graph = choose_meta_graph(proto, self.source.tags) if proto is not None else None
        if meta_graph is None:
            return None
        return Program(meta_graph, self.path if self.path.is_dir() else None)

    @cached_property
    def scan(self) -> ScanResult | None:
        """The unsafe-op scan of every MetaGraph; None when there is no graph to read. May raise."""
        from hubcheck.graph.unsafe import scan_source

        return scan_source(self.source, self.program)

    # -- loading ---------------------------------------------------------------------------------

    def loaded(self) -> LoadedModel:
        if self._loaded is not None:
            return self._loaded
        if not self.source.loadable:
            raise ModelUnavailable(self.source.problem or "the model cannot be loaded", "load")
        self._refuse_unsafe_ops()
        if self._load_error is None:
            from hubcheck.tfimport import long_lived_objects

            try:
                with long_lived_objects():  # the loaded model lives as long as the run
                    self._loaded = load_saved_model(self.source)
                return self._loaded
            except ModelLoadError as exc:
                self._load_error = str(exc)
        raise ModelUnavailable(f"tf.saved_model.load failed: {self._load_error}", "load")

    def _refuse_unsafe_ops(self) -> None:
        """Never load a model whose graph reaches outside the process, unless ``allow_unsafe_ops``.

        The gate reads the same scan as the ``unsafe-ops`` check, whether or not that check
        was selected, so that no selection of checks loads an unsafe model; a scan that
        raises refuses too (fail closed).
        """
        if self.options.allow_unsafe_ops:
            return
        reported = self.options.wants("unsafe-ops")
        try:
            scan = self.scan
        except Exception as exc:  # noqa: BLE001 - fail closed: an unscanned model is not loaded
            if reported:
                raise ModelUnavailable(
                    "the model was not loaded because unsafe-ops errored; rerun with --allow-unsafe-ops to load it "
                    "anyway", "unsafe-ops") from exc
            raise ModelUnavailable(f"not loaded because the unsafe-op scan failed: {exc}", "unsafe-ops") from exc
        if scan is None or not scan.unsafe:
            return
        if reported:
            raise ModelUnavailable(
                "the model was not loaded because unsafe-ops failed; rerun with --allow-unsafe-ops to load it anyway",
                "unsafe-ops",
            )
        raise ModelUnavailable(f"not loaded because of unsafe ops: {scan.summary(3)}", "unsafe-ops")

    @property
    def loaded_model(self) -> LoadedModel | None:
        """The loaded model if loading happened (never loads)."""
        return self._loaded

    @property
    def root(self) -> Any:
        return self.loaded().root

    # -- the loaded object's __call__ -------------------------------------------------------------

    @cached_property
    def concrete_functions(self) -> list[Any]:
        call = getattr(self.root, "__call__", None)
        return list(getattr(call, "concrete_functions", None) or [])

    @property
    def is_callable(self) -> bool:
        return callable(self.root) and bool(self.concrete_functions)

    def _call_program(self) -> Program | None:
        """The SavedModel reader's view of the loaded model, where it has a ``__call__`` (after loading
        succeeded); None for a model the TF1 loader loaded, which returns no ``__call__``."""
        self.loaded()
        return self.program if self.source.load_path == "tf2" else None

    @cached_property
    def traces(self) -> list[Trace]:
        """The ``__call__`` traces, as the SavedModel reader decodes them (after loading succeeded)."""
        program = self._call_program()
        return list(program.traces) if program is not None else []

    @property
    def call_argument_names(self) -> list[str]:
        program = self._call_program()
        return list(program.call_argument_names) if program is not None else []

    @property
    def has_training_argument(self) -> bool:
        return "training" in self.call_argument_names or any(t.training is not None for t in self.traces)

    @property
    def default_call_is_inference(self) -> bool:
        """Whether the saved ``__call__`` signature gives ``training`` the default ``False``.

        TensorFlow binds a restored function's defaults before it picks the concrete function, so
        ``obj(images)`` is then the very call ``obj(images, training=False)``: the same function on the
        same inputs, which the probe makes once."""
        program = self._call_program()
        defaults = program.call_argument_defaults if program is not None else {}
        return "training" in defaults and defaults["training"] is False

    @cached_property
    def inference_keeps_no_state(self) -> bool:
        """Whether no inference-mode ``__call__`` trace reaches an op that may change what a later call
        computes (:mod:`hubcheck.graph.state`): then inference calls may run at the same time."""
        program = self._call_program()
        if program is None:
            return False
        from hubcheck.graph.state import state_keeping_op

        # obj(images) runs what the saved default binds: unless that is training=False, any trace.
        functions = [trace.function for trace in self.traces
                     if not (trace.training is True and self.default_call_is_inference)]
        return bool(functions) and state_keeping_op(program, functions) is None

    @property
    def training_values_traced(self) -> list[bool]:
        return sorted({t.training for t in self.traces if t.training is not None})

    @cached_property
    def swaps_implementations(self) -> bool:
        """Whether a function of the graph names an ``api_implements`` interface. Grappler's
        implementation selector may then run another function than the one called (tf-keras's LSTM
        picks its cuDNN or generic twin this way), so calls must keep the graph optimizer to run
        what consumers run. True when there is no graph to read."""
        program = self.program
        if program is None:
            return True
        return any("api_implements" in function.attr for function in program.meta_graph.graph_def.library.function)

    @cached_property
    def trainable_variables(self) -> list[Any]:
        return list(getattr(self.root, "trainable_variables", None) or [])

    @property
    def fine_tunable(self) -> bool:
        return bool(self.trainable_variables)


__all__ = ["ModelSession", "ModelUnavailable"]
