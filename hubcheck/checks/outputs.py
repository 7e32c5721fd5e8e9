"""What the model returns: one float32 ``[batch, N]`` tensor of finite values, N constant; logits for classifiers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubcheck.context import CheckContext
from hubcheck.numeric import looks_like_probabilities
from hubcheck.images import kind_of
from hubcheck.options import InputSize, Task
from hubcheck.probe import ProbeCall
from hubcheck.registry import Check
from hubcheck.results import Finding, Status
from hubcheck.session import ModelUnavailable

if TYPE_CHECKING:
    import numpy as np


def _size(size: InputSize) -> str:
    return f"{size[0]}x{size[1]}"


def _blocked_by_output_shape(ctx: CheckContext) -> Finding:
    """The skip the runner gives a check that requires output-shape, for checks that only use it."""
    result = ctx.result("output-shape")
    if result is None or result.status is Status.PASS:
        raise ModelUnavailable("the output is not [batch, N]", "output-shape")
    return Finding.skipped(f"blocked by output-shape ({result.status})", blocked_by="output-shape")


def _width(call: ProbeCall) -> int | None:
    """N of a call's output: its second dimension, or the only one of a batch of 1 squeezed to [N]
    (output-shape fails that squeeze; N is still the model's)."""
    if not call.is_tensor or call.value is None:
        return None
    if call.value.ndim == 2:
        return int(call.value.shape[1])
    if call.value.ndim == 1 and call.key.batch == 1:
        return int(call.value.shape[0])
    return None


class OutputSingleTensorCheck(Check):
    """The call returns one tensor.

    Fails when ``obj(images)`` raises, or returns a dict, list or tuple (e.g.
    a multi-output Keras model, or a detection backbone returning feature maps).

    Fix: make ``__call__`` return the single ``[batch, N]`` feature or logits
    tensor; keep other outputs for a separate signature. ``hubcheck export MODEL
    OUT --output NAME`` (or ``INDEX``) wraps the model to return one of them.
    """

    id = "output-single-tensor"
    title = "Returns a single tensor"
    requires = ("input-dtype", "input-layout")
    order = 60

    def run(self, ctx: CheckContext) -> Finding:
        call = ctx.probe.call(ctx.plan.single_batch)
        if not call.ok:
            return Finding.failed(f"obj(images) with images {call.key.describe()} raised {call.error}")
        if not call.is_tensor:
            return Finding.failed(
                f"obj(images) returned {call.structure}; the API returns one [batch, N] tensor. Return the "
                "feature (or logits) tensor from __call__ and keep other outputs for a separate signature; "
                "where that output is one [batch, N] tensor, `hubcheck export MODEL OUT --output NAME|INDEX` "
                "writes such a __call__.",
                returned=call.structure,
            )
        return Finding.passed(f"Returns a {call.dtype} tensor of shape {list(call.shape or ())}")


class OutputDtypeCheck(Check):
    """The output is float32.

    Fails when the returned tensor has another dtype (float16, float64, an
    integer class id, ...).

    Fix: cast the output with ``tf.cast(outputs, tf.float32)`` at the end of
    ``__call__`` (mixed-precision models included); ``hubcheck export MODEL OUT``
    adds the cast.
    """

    id = "output-dtype"
    title = "Output is float32"
    requires = ("output-single-tensor",)
    order = 70

    def run(self, ctx: CheckContext) -> Finding:
        call = ctx.probe.call(ctx.plan.single_batch)
        if call.dtype == "float32":
            return Finding.passed("Output dtype is float32")
        return Finding.failed(f"Output dtype is {call.dtype}, not float32; cast it to tf.float32.", dtype=call.dtype)


def _size_probe_batch(ctx: CheckContext) -> int:
    batch_result = ctx.result("batch-size")
    passed = batch_result is None or batch_result.status is Status.PASS
    return ctx.plan.small_batch if passed else ctx.plan.single_batch


def _size_probes(ctx: CheckContext) -> list[ProbeCall]:
    """One call per input size: batch 1 at the first size (made already), batch 2 at the others
    (or the traced batch everywhere, when the traces fix it)."""
    batch = _size_probe_batch(ctx)
    single = ctx.plan.single_batch
    return [ctx.probe.call(single if size == ctx.plan.primary_size else batch, size) for size in ctx.plan.input_sizes]


class OutputShapeCheck(Check):
    """The output is ``[batch_size, N]`` for every call made, batch size 1 included.

    Fails when the output has another rank (e.g. a spatial feature map
    ``[batch, h, w, c]``, or a squeezed ``[N]`` for batch size 1), when its
    first dimension differs from the batch size, or when a call at one of the
    probed input sizes raises.

    Fix: pool or flatten to ``[batch, N]`` inside the model (e.g.
    ``GlobalAveragePooling2D``) and never squeeze the batch dimension. If the
    model accepts only some sizes, trace them or pass ``--input-size``.
    """

    id = "output-shape"
    title = "Output is [batch_size, N]"
    requires = ("output-single-tensor",)
    uses = ("batch-size",)  # probes other sizes at batch 2 only when batch 2 works
    order = 80

    def run(self, ctx: CheckContext) -> Finding:
        size_calls = _size_probes(ctx)
        failed_sizes = [c for c in size_calls if not c.ok]
        problems = []
        shapes = {}
        for call in ctx.probe.calls:
            if not call.is_tensor or call.value is None:
                continue
            shape = tuple(call.value.shape)
            shapes[call.key.describe()] = list(shape)
            if len(shape) != 2:
                problems.append(f"{call.key.describe()} -> {list(shape)} (rank {len(shape)}, not 2)")
            elif shape[0] != call.key.batch:
                problems.append(f"{call.key.describe()} -> {list(shape)} (batch {shape[0]}, not {call.key.batch})")
        details = {"shapes": shapes}
        if problems:
            return Finding.failed(
                "Output is not [batch_size, N]: " + "; ".join(problems[:4])
                + ". Pool or flatten the output to [batch, N] and keep the batch dimension.",
                **details,
            )
        if failed_sizes:
            listed = "; ".join(f"{_size((c.key.height, c.key.width))}: {c.error}" for c in failed_sizes)
            return Finding.failed(
                f"Calls at input size(s) {listed}. The sizes came from {ctx.plan.input_sizes_source}; "
                "if the model only accepts certain sizes, trace them or pass --input-size.",
                **details,
            )
        widths = sorted({shape[1] for shape in shapes.values()})
        return Finding.passed(f"Output is [batch_size, {', '.join(map(str, widths))}] for all {len(shapes)} calls", **details)


class OutputSizeConstantCheck(Check):
    """N, the output width, is the same for every input size probed.

    Fails when N changes with the input height or width (e.g. the model
    flattens a feature map instead of pooling it). Skipped when the traces fix
    a single input size, or only one size was given.

    Fix: pool over the spatial dimensions (``GlobalAveragePooling2D``) before
    the last layer so that N is a constant of the model. A batch of 1 squeezed to
    ``[N]`` is output-shape's failure; N is still compared here.
    """

    id = "output-size-constant"
    title = "N does not depend on the input size"
    requires = ("output-single-tensor",)
    # probes other sizes at batch 2 only when batch 2 works; skips when output-shape finds no N at all
    uses = ("batch-size", "output-shape")
    order = 90

    def run(self, ctx: CheckContext) -> Finding:
        if len(ctx.plan.input_sizes) < 2:
            return Finding.skipped(
                f"not applicable: only one input size ({_size(ctx.plan.primary_size)}, {ctx.plan.input_sizes_source})"
            )
        widths = {}
        for call in _size_probes(ctx):
            width = _width(call)
            if width is None:
                return _blocked_by_output_shape(ctx)
            widths[_size((call.key.height, call.key.width))] = width
        if len(set(widths.values())) > 1:
            listed = ", ".join(f"{size}: N={n}" for size, n in widths.items())
            return Finding.failed(
                f"N changes with the input size ({listed}); pool spatially so that N is constant.",
                widths=widths,
            )
        return Finding.passed(f"N={next(iter(widths.values()))} for sizes {', '.join(widths)}", widths=widths)


class OutputFiniteCheck(Check):
    """No NaN or Inf in the output for black, white, random and natural-looking images.

    Fails when any output value is NaN or infinite for one of the probe
    images, typically from a log, division or normalisation of an all-black
    or all-white image. When the traces fix a batch smaller than 4, further
    batches of that shape hold the kinds the first one lacks.

    Fix: guard divisions and logs with an epsilon (``tf.math.divide_no_nan``,
    ``tf.math.log(x + eps)``) and check the preprocessing on constant images.
    """

    id = "output-finite"
    title = "Outputs are finite"
    requires = ("output-single-tensor",)
    uses = ("batch-size",)  # probes at the plan's batch, which is the traced one when batch-size fails for it
    order = 100

    def run(self, ctx: CheckContext) -> Finding:
        import numpy as np

        batch = ctx.plan.full_batch
        outputs = [(offset, ctx.probe.tensor(batch, offset=offset)) for offset in ctx.plan.kind_offsets()]
        bad_kinds = {
            kind_of(offset + i)
            for offset, output in outputs
            for i in range(min(batch, output.shape[0] if output.ndim else 0))
            if not np.all(np.isfinite(output[i]))
        }
        if bad_kinds:
            kinds = sorted(bad_kinds)
            return Finding.failed(
                f"NaN or Inf in the output for {', '.join(kinds)} image(s); guard logs, divisions and "
                "normalisations against constant images.",
                non_finite_kinds=kinds,
                nan_count=int(sum(np.isnan(output).sum() for _, output in outputs)),
                inf_count=int(sum(np.isinf(output).sum() for _, output in outputs)),
            )
        return Finding.passed("All outputs are finite for black, white, random and natural images")


class LogitsCheck(Check):
    """A classifier returns logits, not probabilities.

    Fails for an image classifier (``--task image-classification``, or
    ``auto`` deciding so) whose output rows are non-negative and sum to 1
    (softmax) or whose values all lie in [0, 1] (sigmoid). Skipped for
    feature vectors.

    Fix: drop the final softmax/sigmoid activation from the exported model;
    consumers apply it themselves (e.g. ``tf.nn.softmax(logits)``). Where
    retraining is not an option, ``hubcheck export MODEL OUT --logits softmax``
    (or ``sigmoid``) returns the logits that give back the same probabilities.
    """

    id = "logits"
    title = "Classifier returns logits"
    requires = ("output-single-tensor",)
    uses = ("batch-size", "output-shape")  # judged on the full batch when it is [batch, N]
    order = 190

    def run(self, ctx: CheckContext) -> Finding:
        import numpy as np

        task, reason = ctx.task
        if task is not Task.CLASSIFICATION:
            return Finding.skipped(f"not applicable: task is {task.value} ({reason})", task=task.value)
        output = ctx.probe.tensor(ctx.plan.full_batch)
        if output.ndim != 2:
            return _blocked_by_output_shape(ctx)
        finite = output[np.isfinite(output)]
        details = {"task": task.value, "task_reason": reason,
                   "min": float(finite.min()) if finite.size else None,
                   "max": float(finite.max()) if finite.size else None}
        if looks_like_probabilities(output, ctx.options.tolerances.probability_sum):
            return Finding.failed(
                "Every output row is non-negative and sums to 1: these are softmax probabilities. "
                "Remove the final softmax so the model returns logits (or wrap it: `hubcheck export MODEL OUT "
                "--logits softmax`).",
                **details,
            )
        if finite.size and finite.min() >= 0.0 and finite.max() <= 1.0:
            return Finding.failed(
                "All outputs lie in [0, 1], like sigmoid probabilities. Remove the final activation "
                "so the model returns logits (or wrap it: `hubcheck export MODEL OUT --logits sigmoid`).",
                **details,
            )
        return Finding.passed("Outputs are unnormalised scores (logits)", **details)
