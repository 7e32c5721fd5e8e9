"""What checks see: the model (loaded once, lazily), its traced facts, and the shared probe."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from hubcheck.loader import (
    LoadedModel,
    ModelFormat,
    ModelLoadError,
    ModelSource,
    TensorInfo,
    inspect_path,
    load_saved_model,
)
from hubcheck.options import DEFAULT_INPUT_SIZES, InputSize, RunOptions, Task
from hubcheck.probe import GradientProbe, Probe, ProbeCall, ProbeKey
from hubcheck.results import CheckResult, JSONValue, Status

# Batch sizes probed: 1 (the edge case) and 5 (odd, and holds one image of each kind; see
# hubcheck.images) at the first input size, 2 at each further size. Every distinct input shape
# costs the model a new function instantiation (about half a second on a MobileNet), so checks
# share these few shapes rather than each making its own.
SMALL_BATCH = 2
FULL_BATCH = 5


# Output names that exporters give classification heads: Keras applications call theirs
# "predictions", TF Hub classifiers "logits", others "probabilities" or "classes".
CLASSIFIER_OUTPUT_NAME = re.compile(r"logit|predict|probab|class", re.IGNORECASE)


class ModelUnavailable(Exception):
    """A check needs something an earlier stage could not provide (load, call)."""

    def __init__(self, reason: str, blocked_by: str) -> None:
        super().__init__(reason)
        self.blocked_by = blocked_by


@dataclass(frozen=True)
class CallTrace:
    """One concrete function traced for the root object's ``__call__``."""

    image: TensorInfo | None  # None when the first argument is not a single tensor
    first_argument: str  # description of the first argument's structure
    training: bool | None  # the traced Python value; None if there is no training argument
    extra_kwargs: dict[str, JSONValue] = field(default_factory=dict)

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "input": self.image.to_json() if self.image else None,
            "first_argument": self.first_argument,
            "training": self.training,
            "extra_kwargs": dict(self.extra_kwargs),
        }


def _spec_info(spec: Any) -> TensorInfo | None:
    dtype = getattr(spec, "dtype", None)
    shape = getattr(spec, "shape", None)
    if dtype is None or shape is None:
        return None
    dims = None if shape.rank is None else tuple(shape.as_list())
    return TensorInfo(dtype.name, dims)


def _json_safe(value: Any) -> JSONValue:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


class CheckContext:
    """Shared state of one run. Loads the model on first need, at most once."""

    def __init__(self, path: Path, options: RunOptions, source_problem: str | None = None) -> None:
        self.path = path
        self.options = options
        self.source_problem = source_problem  # found while fetching or unpacking (hubcheck.sources)
        self.results: dict[str, CheckResult] = {}
        self._loaded: LoadedModel | None = None
        self._load_error: str | None = None

    # -- the model -------------------------------------------------------------------------

    @cached_property
    def source(self) -> ModelSource:
        if self.source_problem:
            return ModelSource(self.path, ModelFormat.NOT_A_SAVED_MODEL, self.source_problem)
        return inspect_path(self.path)

    def loaded(self) -> LoadedModel:
        if self._loaded is not None:
            return self._loaded
        if not self.source.loadable:
            raise ModelUnavailable(self.source.problem or "the model cannot be loaded", "load")
        self._refuse_unsafe_ops()
        if self._load_error is None:
            try:
                self._loaded = load_saved_model(self.source)
                return self._loaded
            except ModelLoadError as exc:
                self._load_error = str(exc)
        raise ModelUnavailable(f"tf.saved_model.load failed: {self._load_error}", "load")

    def _refuse_unsafe_ops(self) -> None:
        """Never load a model whose graph reaches outside the process, unless ``allow_unsafe_ops``.

        Uses the ``unsafe-ops`` result when that check ran; otherwise (it was not
        selected) scans here, so that no selection of checks loads an unsafe model.
        """
        if self.options.allow_unsafe_ops:
            return
        result = self.results.get("unsafe-ops")
        if result is not None:
            if result.status in (Status.FAIL, Status.ERROR):
                raise ModelUnavailable(
                    f"the model was not loaded because unsafe-ops {result.status}ed; "
                    "rerun with --allow-unsafe-ops to load it anyway",
                    "unsafe-ops",
                )
            return
        try:
            from hubcheck.graph.unsafe import scan_source

            scan = scan_source(self.source)
        except Exception as exc:  # fail closed: an unscanned model is not loaded
            raise ModelUnavailable(f"not loaded because the unsafe-op scan failed: {exc}", "unsafe-ops") from exc
        if scan is not None and scan.unsafe:
            raise ModelUnavailable(f"not loaded because of unsafe ops: {scan.summary(3)}", "unsafe-ops")

    @property
    def root(self) -> Any:
        return self.loaded().root

    @property
    def is_callable(self) -> bool:
        return callable(self.root) and bool(self.concrete_functions)

    @cached_property
    def concrete_functions(self) -> list[Any]:
        call = getattr(self.root, "__call__", None)
        return list(getattr(call, "concrete_functions", None) or [])

    @cached_property
    def call_argument_names(self) -> list[str]:
        call = getattr(self.root, "__call__", None)
        spec = getattr(call, "function_spec", None)
        fullargspec = getattr(spec, "fullargspec", None)
        if fullargspec is None:
            return []
        names = [name for name in fullargspec.args if name != "self"]
        return names + list(fullargspec.kwonlyargs or [])

    @cached_property
    def traces(self) -> list[CallTrace]:
        names = self.call_argument_names
        traces = []
        for function in self.concrete_functions:
            args, kwargs = function.structured_input_signature
            first = args[0] if args else None
            named: dict[str, Any] = dict(zip(names[1:], args[1:]))
            named.update(kwargs)
            training = named.pop("training", None)
            traces.append(
                CallTrace(
                    image=_spec_info(first),
                    first_argument=type(first).__name__,
                    training=training if isinstance(training, bool) else None,
                    extra_kwargs={k: _json_safe(v) for k, v in sorted(named.items())},
                )
            )
        return traces

    @property
    def has_training_argument(self) -> bool:
        return "training" in self.call_argument_names or any(t.training is not None for t in self.traces)

    @property
    def training_values_traced(self) -> list[bool]:
        return sorted({t.training for t in self.traces if t.training is not None})

    @cached_property
    def trainable_variables(self) -> list[Any]:
        return list(getattr(self.root, "trainable_variables", None) or [])

    @property
    def fine_tunable(self) -> bool:
        return bool(self.trainable_variables)

    # -- calls -----------------------------------------------------------------------------

    @cached_property
    def probe(self) -> Probe:
        if not self.is_callable:
            raise ModelUnavailable("the root object has no traced __call__", "callable")
        # With gradients wanted, every training-mode call runs under a tape: TensorFlow then uses
        # one (taped) function instantiation for all of them instead of building two.
        return Probe(self.root, tape_training_calls=self.wants_gradients)

    @property
    def wants_gradients(self) -> bool:
        return self.options.wants("gradient-flow") and self.fine_tunable

    def call(self, batch: int, size: InputSize | None = None, training: bool | None = None, repeat: int = 0) -> ProbeCall:
        height, width = size or self.primary_size
        key = ProbeKey(batch, height, width, training, repeat)
        if key == self.gradient_key and self.wants_gradients:
            # The training-mode call that gradient-flow differentiates: record it under a tape
            # the first time anyone asks, so the forward pass is paid once.
            self.gradients()
        return self.probe.call(key)

    @property
    def gradient_key(self) -> ProbeKey:
        height, width = self.training_size
        return ProbeKey(SMALL_BATCH, height, width, True if self.has_training_argument else None)

    def gradients(self) -> GradientProbe:
        return self.probe.gradients(self.gradient_key, self.trainable_variables)

    def tensor_call(self, batch: int, size: InputSize | None = None, training: bool | None = None, repeat: int = 0) -> np.ndarray:
        """The output array of a call that earlier checks established works; raise if it does not."""
        result = self.call(batch, size, training, repeat)
        if not result.ok:
            raise ModelUnavailable(f"the call {result.key.describe()} raised {result.error}", "output-single-tensor")
        if not result.is_tensor or result.value is None:
            raise ModelUnavailable(f"the call returned {result.structure}", "output-single-tensor")
        return result.value

    # -- input sizes and task --------------------------------------------------------------

    @cached_property
    def traced_sizes(self) -> list[InputSize]:
        """The sizes the traces fix, or [] when any image trace accepts other sizes too.

        Only float32 channels-last traces count: a uint8 or NCHW trace says nothing about the
        images the API call takes. A smoke-test trace at 224x224 next to a general trace does not
        fix the size: the general trace decides, and the sizes come from --input-size or defaults.
        """
        sizes: list[InputSize] = []
        for trace in self.traces:
            shape = trace.image.shape if trace.image and trace.image.dtype == "float32" else None
            if shape is None:
                if trace.image and trace.image.dtype == "float32":
                    return []  # unknown rank: any size goes
                continue
            if len(shape) != 4 or shape[3] not in (3, None):
                continue
            height, width = shape[1], shape[2]
            if height is None or width is None:
                return []
            if (height, width) not in sizes:
                sizes.append((height, width))
        return sizes

    @cached_property
    def _sizes_and_source(self) -> tuple[list[InputSize], str]:
        if self.traced_sizes:
            note = ""
            if self.options.input_sizes:
                note = " (--input-size ignored: the traces fix the size)"
            return list(self.traced_sizes), "traced: the __call__ traces fix height and width" + note
        if self.options.input_sizes:
            return list(self.options.input_sizes), "--input-size"
        return list(DEFAULT_INPUT_SIZES), (
            "defaults: the traces accept any height and width and no --input-size was given"
        )

    @property
    def input_sizes(self) -> list[InputSize]:
        return self._sizes_and_source[0]

    @property
    def input_sizes_source(self) -> str:
        return self._sizes_and_source[1]

    @property
    def primary_size(self) -> InputSize:
        return self.input_sizes[0]

    @property
    def training_size(self) -> InputSize:
        """Where training-mode calls and gradients are probed: the smallest size, with batch 2.

        Training mode is a function instantiation of its own whatever the shape, so nothing is
        shared by matching the inference shapes, while the backward pass's memory grows with
        batch x height x width.
        """
        return min(self.input_sizes, key=lambda size: size[0] * size[1])

    def batch_probes(self) -> list[tuple[int, InputSize]]:
        """The (batch, size) calls of the batch-size check: 1 and 5 at the first size, 2 at the
        second size if there is one (a shape output-size-constant needs anyway), else at the first."""
        second = self.input_sizes[1] if len(self.input_sizes) > 1 else self.primary_size
        return [(1, self.primary_size), (SMALL_BATCH, second), (FULL_BATCH, self.primary_size)]

    @cached_property
    def task(self) -> tuple[Task, str]:
        if self.options.task is not Task.AUTO:
            return self.options.task, "given with --task"
        try:
            output = self.call(FULL_BATCH)
        except ModelUnavailable:
            return Task.FEATURE_VECTOR, "assumed: the model could not be called to look at its output"
        if not output.is_tensor or output.value is None or output.value.ndim != 2:
            return Task.FEATURE_VECTOR, "assumed: the output is not a [batch, N] tensor"
        width = output.value.shape[1]
        if width in (1000, 1001):
            return Task.CLASSIFICATION, f"auto: N={width} is the size of the ImageNet label set"
        if looks_like_probabilities(output.value, self.options.tolerances.probability_sum):
            return Task.CLASSIFICATION, "auto: every output row is non-negative and sums to 1, like class probabilities"
        named = [
            f"{sig.name}/{key}" for sig in self.source.signatures for key, info in sorted(sig.outputs.items())
            if CLASSIFIER_OUTPUT_NAME.search(key) and info.shape is not None and len(info.shape) == 2
        ]
        if named:
            return Task.CLASSIFICATION, f"auto: the signature output {named[0]} is named like a classifier's"
        return Task.FEATURE_VECTOR, (
            f"auto: N={width} and the outputs are not probabilities; "
            "pass --task image-classification if this is a classifier"
        )

    # -- the report ------------------------------------------------------------------------

    def facts(self) -> dict[str, JSONValue]:
        """The model section of the report: whatever could be learned, never raising."""
        source = self.source
        facts: dict[str, JSONValue] = {
            "path": str(self.path),
            "format": source.format.value,
            "tags": list(source.tags),
            "meta_graphs": [list(tags) for tags in source.meta_graph_tags],
            "exported_by_tensorflow": source.tensorflow_version,
            "signatures": {sig.name: sig.to_json() for sig in source.signatures},
        }
        if self._loaded is None:
            return facts
        root = self._loaded.root
        facts["load_seconds"] = round(self._loaded.load_seconds, 3)
        facts["num_variables"] = len(list(getattr(root, "variables", None) or []))
        facts["num_trainable_variables"] = len(self.trainable_variables)
        facts["call_argument_names"] = self.call_argument_names
        facts["call_traces"] = [trace.to_json() for trace in self.traces]
        facts["training_values_traced"] = self.training_values_traced
        if source.format is not ModelFormat.TF2_SAVED_MODEL or not self.concrete_functions:
            return facts
        facts["input_sizes"] = [list(size) for size in self.input_sizes]
        facts["input_sizes_source"] = self.input_sizes_source
        if "task" in self.__dict__ or self.options.task is not Task.AUTO:
            task, reason = self.task
            facts["task"], facts["task_reason"] = task.value, reason
        facts["output_width"] = self._output_width()
        if "probe" in self.__dict__:
            facts["calls"] = [
                {
                    "input": call.key.describe(),
                    "seconds": round(call.seconds, 4),
                    "result": call.error if call.error else (
                        f"{call.dtype}{list(call.shape or ())}" if call.is_tensor else call.structure
                    ),
                }
                for call in self.probe.calls
            ]
        return facts

    def _output_width(self) -> int | None:
        if "probe" not in self.__dict__:
            return None
        widths = {
            call.value.shape[1]
            for call in self.probe.calls
            if call.is_tensor and call.value is not None and call.value.ndim == 2
        }
        return widths.pop() if len(widths) == 1 else None


def looks_like_probabilities(values: np.ndarray, tolerance: float) -> bool:
    """Every row is non-negative and sums to 1 (within ``tolerance``)."""
    if values.ndim != 2 or values.shape[1] < 2 or not np.all(np.isfinite(values)):
        return False
    return bool(np.all(values >= 0) and np.all(np.abs(values.sum(axis=1) - 1.0) <= tolerance))


def allclose(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> bool:
    """NaN-aware closeness with ``atol`` scaled to the output's magnitude (see Tolerances)."""
    if actual.shape != expected.shape:
        return False
    finite = expected[np.isfinite(expected)]
    scale = max(1.0, float(np.max(np.abs(finite)))) if finite.size else 1.0
    return bool(np.allclose(actual, expected, rtol=rtol, atol=atol * scale, equal_nan=True))


def max_abs_difference(a: np.ndarray, b: np.ndarray) -> float:
    with np.errstate(invalid="ignore"):
        diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    diff = diff[np.isfinite(diff)]
    return float(diff.max()) if diff.size else 0.0
