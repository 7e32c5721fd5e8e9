"""The written model: a trackable root whose ``__call__`` is adapters + source, traced for float32 image batches.

The root follows the Reusable SavedModel API (docs/export.md): ``__call__(images, training=False)`` traced
for ``[None, H, W, 3]`` float32 and, when the source has a training mode, for both ``training`` values;
``variables``; and, when fine-tunable, ``trainable_variables`` and ``regularization_losses``
(``tf.function``s without arguments that compute each loss from the current weights).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hubcheck.exporter import adapters
from hubcheck.exporter.errors import ExportError, first_line
from hubcheck.exporter.sources import Source
from hubcheck.tfimport import tensorflow


@dataclass(frozen=True)
class Adapters:
    """What goes around the source: each field is one opt-in adapter (``None``/``False``: not applied)."""

    input_range: tuple[float, float] | None = None
    grayscale: bool = False
    output: str | None = None
    logits: str | None = None
    input_size: tuple[int, int] | None = None


def traced_size(source: Source, wanted: tuple[int, int] | None) -> tuple[int | None, int | None]:
    """The height and width the call is traced for: the source's, else ``--input-size``, else open."""
    height, width, _ = source.input_shape
    if wanted is None:
        return height, width
    for name, fixed, asked in (("height", height, wanted[0]), ("width", width, wanted[1])):
        if fixed is not None and fixed != asked:
            raise ExportError(f"--input-size {wanted[0]}x{wanted[1]}: the source fixes the {name} to {fixed}")
    return wanted


def check_channels(source: Source, grayscale: bool) -> None:
    channels = source.input_shape[2]
    if grayscale and channels not in (1, None):
        raise ExportError(f"--grayscale: the source takes {channels} channels, not one")
    if not grayscale and channels == 1:
        raise ExportError("the source takes one-channel images; give --grayscale to convert RGB in front of it")
    if not grayscale and channels not in (3, None):
        raise ExportError(f"the source takes {channels}-channel images; an image model takes RGB (3 channels)")


def _to_source_dtype(images: Any, dtype: Any) -> Any:
    tf = tensorflow()
    if dtype == tf.float32:
        return images
    if dtype.is_integer:
        return tf.saturate_cast(tf.round(images), dtype)
    return tf.cast(images, dtype)


def build_root(source: Source, options: Adapters) -> Any:
    """The trackable root to save, with its ``__call__`` traced; :class:`ExportError` when the source cannot
    be called as an image model."""
    tf = tensorflow()
    check_channels(source, options.grayscale)
    if source.input_dtype.is_integer and options.input_range is None:
        raise ExportError(f"the source takes {source.input_dtype.name} images; give --input-range (e.g. 0,255) "
                          "to map [0, 1] onto the values it expects")

    def forward(images: Any, training: bool | None) -> Any:
        x = images
        if options.input_range is not None:
            x = adapters.from_unit_range(x, *options.input_range)
        if options.grayscale:
            x = adapters.to_luminance(x)
        x = _to_source_dtype(x, source.input_dtype)
        y = adapters.pick_output(source.call(x, training), options.output)
        source.output_dtype = y.dtype.name
        y = adapters.to_float32(y)
        if options.logits is not None:
            y = adapters.LOGITS[options.logits](y)
        return y

    height, width = traced_size(source, options.input_size)
    spec = tf.TensorSpec([None, height, width, 3], tf.float32, name="images")
    # A fine-tunable export takes training= (a consumer's fine-tuning passes it) even when the source has no
    # training mode: then both values compute the same.
    takes_training = source.has_training or source.fine_tunable
    if takes_training and not source.has_training:
        source.notes.append("the source has no training mode: the export's training=True computes what "
                            "training=False does")
    root = _traced_root(forward, spec, takes_training)
    root.variables = list(source.variables)
    if source.fine_tunable:
        try:
            trainable = reached_variables(root.__call__, spec, list(source.trainable_variables))
        except LookupError as exc:  # an op of the training mode has no gradient (random augmentation, say)
            op = re.search(r"op type: (\w+)", str(exc))
            source.notes.append("the source's training mode cannot be differentiated ("
                                + (f"{op.group(1)} has no gradient" if op else first_line(exc)[:160])
                                + "); the export runs it in inference mode for "
                                "training=True too, so fine-tuning keeps batch-norm statistics and skips dropout")
            root = _traced_root(lambda images, training: forward(images, False), spec, True)
            root.variables = list(source.variables)
            trainable = reached_variables(root.__call__, spec, list(source.trainable_variables))
        if options.output is None:
            trainable = list(source.trainable_variables)  # a weight the output never reaches is gradient-flow's news
        root.trainable_variables = trainable
        root.regularization_losses = [
            tf.function(_scalar_loss(loss), input_signature=[], autograph=False)
            for loss in source.regularization_losses
        ]
    if source.keep is not None:
        root.source = source.keep  # resources the call captures are saved with the model
    return root


def _traced_root(forward: Any, spec: Any, has_training: bool) -> Any:
    """A fresh root whose ``__call__`` is ``forward`` traced for ``spec`` (and both ``training`` values)."""
    tf = tensorflow()
    root = tf.__internal__.tracking.AutoTrackable()
    # autograph off: the adapters are plain TensorFlow, and an ExportError raised while tracing must
    # reach the user as it is.
    if has_training:
        def call(images: Any, training: bool = False) -> Any:
            return forward(images, training)

        root.__call__ = tf.function(call, autograph=False)
        for training in (False, True):
            _trace(root.__call__, spec, training)
    else:
        def call_inference(images: Any) -> Any:
            return forward(images, None)

        root.__call__ = tf.function(call_inference, autograph=False)
        _trace(root.__call__, spec)
    return root


def reached_variables(call: Any, spec: Any, variables: list[Any]) -> list[Any]:
    """The ``variables`` the training-mode output has a gradient path to, found by tracing (never running:
    a training-mode call would update batch-norm statistics)."""
    tf = tensorflow()
    connected: list[bool] = []

    def gradients(images: Any) -> Any:
        with tf.GradientTape() as tape:
            output = call(images, training=True)
        found = tape.gradient(output, variables)
        connected[:] = [gradient is not None for gradient in found]
        return output

    tf.function(gradients, autograph=False).get_concrete_function(spec)
    return [variable for variable, reached in zip(variables, connected) if reached]


def _scalar_loss(loss: Any) -> Any:
    tf = tensorflow()
    return lambda: tf.reshape(tf.cast(loss(), tf.float32), [])


def _trace(function: Any, spec: Any, *args: Any) -> None:
    try:
        function.get_concrete_function(spec, *args)
    except ExportError:
        raise
    except Exception as exc:
        raise ExportError(f"the source cannot be called on a {_describe(spec)} image batch: "
                          f"{first_line(exc)}") from None


def _describe(spec: Any) -> str:
    return "[" + ", ".join("None" if d is None else str(d) for d in spec.shape.as_list()) + "]"


# Sizes a call with open height and width is tried at: two, so an output whose width follows the
# input size shows; both multiples of 32, which most strided networks need.
TRY_SIZES: tuple[tuple[int, int], ...] = ((96, 96), (128, 160))


def output_width(root: Any, size: tuple[int | None, int | None]) -> int:
    """Call the traced root on zero images at the traced size (or at :data:`TRY_SIZES` when it is open) and
    return the output width N of its ``[batch, N]`` output; :class:`ExportError` when the output is not
    one, or when N depends on the input size."""
    tf = tensorflow()
    sizes = [(size[0] or h, size[1] or w) for h, w in TRY_SIZES]  # one size when both are fixed
    widths: dict[tuple[int, int], int] = {}
    for height, width in dict.fromkeys(sizes):
        images = tf.zeros([2, height, width, 3], tf.float32)
        try:
            output = root.__call__(images)
        except (tf.errors.InvalidArgumentError, ValueError) as exc:  # what a size the source cannot take raises
            hint = "" if size[0] and size[1] else "; if it needs one size, give it with --input-size HxW"
            raise ExportError(f"the source fails on a {height}x{width} image: {first_line(exc)[:240]}{hint}") from None
        except tf.errors.ResourceExhaustedError:
            raise ExportError(f"the source ran out of memory on a batch of two {height}x{width} images") from None
        shape = output.shape.as_list()
        if len(shape) != 2 or shape[0] != 2:
            raise ExportError(f"the output has shape {shape} for a batch of 2 {height}x{width} images: the "
                              "API wants one [batch, N] tensor (a feature map or a per-pixel output cannot be "
                              "wrapped)")
        widths[(height, width)] = shape[1]
    if len(set(widths.values())) > 1:
        seen = ", ".join(f"{n} at {h}x{w}" for (h, w), n in widths.items())
        raise ExportError(f"the output width depends on the input size ({seen}); give the size the model was "
                          "made for with --input-size HxW")
    return next(iter(widths.values()))
