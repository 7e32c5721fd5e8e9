"""Which calls a run makes: input sizes, batch sizes and the training probe, decided without TensorFlow.

A :class:`ProbePlan` is built from the ``__call__`` traces (as the SavedModel
reader decodes them) and the run options; it is plain data, so it can be tested
without a model. Every distinct input shape costs the model a new function
instantiation (about half a second on a MobileNet), so the checks share the few
shapes the plan names rather than each making its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from hubcheck.images import KINDS
from hubcheck.options import DEFAULT_INPUT_SIZES, InputSize, RunOptions
from hubcheck.probe import ProbeKey
from hubcheck.tensors import TensorInfo

# Batch sizes probed when the traces accept any batch: 1 (the edge case) and 5 (odd, and holds
# one image of each kind; see hubcheck.images) at the first input size, 2 at each further size.
# When the traces fix the batch size, every call uses the traced batch instead (ProbePlan.full_batch).
SMALL_BATCH = 2
FULL_BATCH = 5


@dataclass(frozen=True)
class TracedInput:
    """What the plan needs of one trace: its image input and its traced ``training`` value."""

    image: TensorInfo | None
    training: bool | None


class ProbePlan:
    """Input sizes (and why), batch sizes and the key of the training call whose gradients are taken."""

    def __init__(self, traces: Sequence[TracedInput], options: RunOptions, has_training_argument: bool,
                 default_call_is_inference: bool = False) -> None:
        self.traces = tuple(traces)
        self.options = options
        self.has_training_argument = has_training_argument
        # The saved signature's default is training=False: obj(images) binds it, so the call with
        # training=False is the default call, keyed (and made) once.
        self.default_call_is_inference = default_call_is_inference

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
    def traced_batch(self) -> int | None:
        """The batch size the float32 traces fix, or None when any of them accepts any batch.

        With several fixed batch sizes (e.g. ``[1, ...]`` and ``[8, ...]``) the largest is used:
        it holds the most probe images.
        """
        batches: list[int] = []
        for trace in self.traces:
            if not trace.image or trace.image.dtype != "float32":
                continue
            shape = trace.image.shape
            if not shape or shape[0] is None:
                return None
            batches.append(shape[0])
        return max(batches) if batches else None

    @property
    def full_batch(self) -> int:
        """The batch of the main inference calls: 5 (one image of each kind), or the traced batch."""
        return self.traced_batch or FULL_BATCH

    @property
    def small_batch(self) -> int:
        """The batch of the calls at further sizes and in training mode: 2, or the traced batch."""
        return self.traced_batch or SMALL_BATCH

    @property
    def single_batch(self) -> int:
        """The batch of the first call: 1, or the traced batch."""
        return self.traced_batch or 1

    @property
    def batch_sizes(self) -> list[int]:
        """Every batch size the plan calls the model with."""
        return sorted({self.single_batch, self.small_batch, self.full_batch})

    @property
    def batch_sizes_source(self) -> str:
        if self.traced_batch is None:
            return "any batch: 1 (the edge case), 2 (at further sizes and in training mode) and 5 (one image of each kind)"
        return (f"traced: the __call__ traces fix the batch size to {self.traced_batch}, so every call uses it "
                "(batch-size judges the fixed batch)")

    def kind_offsets(self) -> list[int]:
        """Where batches of ``full_batch`` images start so that together they hold every kind of probe image.

        One batch when it holds all kinds (``full_batch`` >= 4); with a fixed batch of 1, 2 or 3,
        further batches of the same shape continue the sequence of images (see hubcheck.images).
        """
        return list(range(0, len(KINDS), self.full_batch))

    @cached_property
    def _sizes_and_source(self) -> tuple[list[InputSize], str]:
        if self.traced_sizes:
            note = ""
            if self.options.input_sizes:
                note = " (--input-size ignored: the traces fix the size)"
            return list(self.traced_sizes), "traced: the __call__ traces fix height and width" + note
        doc = self.options.documentation
        if doc is not None and doc.input_size is not None:
            # The documented size first; a second size (--input-size or a default) for output-size-constant.
            documented = (doc.input_size.height, doc.input_size.width)
            others = [size for size in (self.options.input_sizes or DEFAULT_INPUT_SIZES) if size != documented]
            return [documented, *others[:1]], "documentation: the documented size first"
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

    @property
    def second_size(self) -> InputSize:
        """The size of the small-batch inference call: the second input size, or the first when there is one."""
        return self.input_sizes[1] if len(self.input_sizes) > 1 else self.primary_size

    def batch_probes(self) -> list[tuple[int, InputSize]]:
        """The (batch, size) calls of the batch-size check: 1 and 5 at the first size, 2 at the
        second size if there is one (a shape output-size-constant needs anyway), else at the first.
        With a traced batch, the traced batch at each size (the one batch the model accepts)."""
        if self.traced_batch is not None:
            return [(self.traced_batch, size) for size in self.input_sizes]
        return [(1, self.primary_size), (SMALL_BATCH, self.second_size), (FULL_BATCH, self.primary_size)]

    def key(self, batch: int, size: InputSize | None = None, training: bool | None = None, repeat: int = 0,
            offset: int = 0) -> ProbeKey:
        height, width = size or self.primary_size
        if training is False and self.default_call_is_inference:
            training = None  # the same call: see default_call_is_inference
        return ProbeKey(batch, height, width, training, repeat, offset)

    @property
    def gradient_key(self) -> ProbeKey:
        """The training-mode call that gradient-flow differentiates and the fine-tuning step reuses."""
        height, width = self.training_size
        return ProbeKey(self.small_batch, height, width, True if self.has_training_argument else None)


__all__ = ["FULL_BATCH", "ProbePlan", "SMALL_BATCH", "TracedInput"]
