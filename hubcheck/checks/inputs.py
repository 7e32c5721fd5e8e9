"""What the model accepts: dtype, layout and batch size of the image input."""

from __future__ import annotations

from hubcheck.context import CheckContext
from hubcheck.loader import TensorInfo
from hubcheck.registry import Check
from hubcheck.results import Finding


def _traced_inputs(ctx: CheckContext) -> list[str]:
    return [trace.image.describe() if trace.image else trace.first_argument for trace in ctx.model.traces]


class InputDtypeCheck(Check):
    """A trace of ``__call__`` accepts float32 images.

    Fails when every concrete function of ``__call__`` takes another dtype
    (e.g. uint8 pixels) or no tensor at all as its first argument.

    Fix: trace ``__call__`` for ``tf.float32`` images with values in [0, 1]
    (what ``tf.image.convert_image_dtype(images, tf.float32)`` gives); convert
    any other input inside a serving signature instead.
    """

    id = "input-dtype"
    title = "Accepts float32 images"
    requires = ("callable",)
    order = 30

    def run(self, ctx: CheckContext) -> Finding:
        traced = _traced_inputs(ctx)
        if any(trace.image and trace.image.dtype == "float32" for trace in ctx.model.traces):
            return Finding.passed("A __call__ trace takes float32 images", traced_inputs=traced)
        return Finding.failed(
            f"No __call__ trace takes float32 images (traced: {', '.join(traced)}). "
            "The API's input is float32 in [0, 1]; trace __call__ for tf.float32.",
            traced_inputs=traced,
        )


class InputLayoutCheck(Check):
    """The image input is rank 4, channels last, with 3 (RGB) channels.

    Fails when the float32 traces fix another rank, put the channels first
    (NCHW, ``[batch, 3, height, width]``) or fix another channel count
    (e.g. grayscale with 1 channel). A trace of unknown rank passes with a
    warning, because the model does not state its layout.

    Fix: trace ``__call__`` with ``tf.TensorSpec([None, height, width, 3], tf.float32)``
    (``None`` for any height/width the model accepts) and transpose or convert
    to RGB inside the model if the network needs something else.
    ``hubcheck export MODEL OUT --grayscale`` puts an RGB-to-luminance step in
    front of a one-channel model.
    """

    id = "input-layout"
    title = "Input is [batch, height, width, 3]"
    requires = ("callable",)
    order = 40

    def run(self, ctx: CheckContext) -> Finding:
        float_traces = [t.image for t in ctx.model.traces if t.image and t.image.dtype == "float32"]
        images = float_traces or [t.image for t in ctx.model.traces if t.image]
        if not images:
            return Finding.failed("No __call__ trace takes a single tensor as its first argument")
        traced = [image.describe() for image in images]
        declared = [image for image in images if image.shape is not None]
        if not declared:
            return Finding.warned(
                "The __call__ traces accept a tensor of any shape, so the model does not declare an image "
                "layout; trace it with TensorSpec([None, height, width, 3], tf.float32).",
                traced_inputs=traced,
            )
        unique = {image.describe(): image for image in declared}.values()
        problems = [(image, _layout_problem(image)) for image in unique]
        good = [image for image, problem in problems if problem is None]
        if good:
            return Finding.passed(f"Image input {good[0].describe()}", traced_inputs=traced)
        listed = "; ".join(f"{image.describe()} {problem}" for image, problem in problems)
        one_channel = any(len(image.shape or ()) == 4 and (image.shape or ())[3] == 1 for image in unique)
        export = (" For a one-channel model, `hubcheck export MODEL OUT --grayscale` puts an RGB-to-luminance "
                  "step in front." if one_channel else "")
        return Finding.failed(f"{listed}. Trace __call__ for [batch, height, width, 3].{export}",
                              traced_inputs=traced)


def _layout_problem(image: TensorInfo) -> str | None:
    """What is wrong with a declared input shape, or None if it is NHWC with 3 channels."""
    shape = image.shape or ()
    if len(shape) != 4:
        return f"has rank {len(shape)}, not 4"
    if shape[3] == 3:
        return None
    if shape[1] == 3:
        return "is channels-first (NCHW); the API is channels-last (NHWC)"
    if shape[3] is None:
        return None
    return f"has {shape[3]} channel(s); the API requires 3 (RGB)"


class BatchSizeCheck(Check):
    """Any batch size works: the traced batch dimension is unknown and calls with several sizes succeed.

    Fails when a float32 trace fixes the batch dimension (e.g. ``[1, 224, 224, 3]``)
    or a call with batch size 1, 2 or 5 raises. When the traces fix the batch,
    the other checks probe the model at that batch and are judged as usual;
    the report's ``batch_sizes_source`` says so.

    Fix: trace ``__call__`` with ``None`` as the batch dimension and avoid
    reshapes that hard-code it (use ``tf.shape(images)[0]``).
    """

    id = "batch-size"
    title = "Accepts any batch size"
    requires = ("input-dtype", "input-layout")
    order = 50

    def run(self, ctx: CheckContext) -> Finding:
        fixed = sorted({
            t.image.describe() for t in ctx.model.traces
            if t.image and t.image.dtype == "float32" and t.image.shape and t.image.shape[0] is not None
        })
        free = any(
            t.image and t.image.dtype == "float32" and (t.image.shape is None or t.image.shape[0] is None)
            for t in ctx.model.traces
        )
        calls = ctx.probe.call_each(ctx.plan.batch_probes())
        errors = {call.key.describe(): call.error for call in calls if not call.ok}
        batches = [call.key.batch for call in calls]
        details = {"calls": [call.key.describe() for call in calls], "errors": errors}
        if not free and fixed:
            listed = "; ".join(f"{key}: {error}" for key, error in errors.items())
            works = f"calls at the traced batch fail too ({listed})" if errors else (
                f"the other checks probe at the traced batch of {ctx.plan.full_batch}")
            return Finding.failed(
                f"The traces fix the batch size ({', '.join(fixed)}); trace __call__ with None as the batch dimension. "
                f"Meanwhile {works}.",
                fixed_batch_traces=fixed, **details,
            )
        if errors:
            listed = "; ".join(f"{key}: {error}" for key, error in errors.items())
            return Finding.failed(f"Calls failed for some batch sizes: {listed}", **details)
        return Finding.passed(f"Calls with batch sizes {', '.join(map(str, batches))} succeed", **details)
