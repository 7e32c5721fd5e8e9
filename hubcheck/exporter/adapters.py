"""The opt-in adapters of ``hubcheck export``: small pure TensorFlow functions put in front of or behind the source.

Each one maps a tensor to a tensor and holds no state, so the written model's graph shows exactly what
was added. Their numeric guards are documented in docs/export.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hubcheck.exporter.errors import ExportError
from hubcheck.tfimport import tensorflow

# ITU-R BT.601 luma weights: the grey level of an RGB pixel, as PIL's convert("L") and
# tf.image.rgb_to_grayscale compute it.
LUMA_WEIGHTS: tuple[float, float, float] = (0.299, 0.587, 0.114)

# log(0) guard of --logits softmax: the smallest normal float32 (about 1.18e-38), so the logit of a
# probability that underflowed to 0 is log(tiny) ~ -87.3, which softmax maps back to ~0.
SOFTMAX_FLOOR: float = float(np.finfo(np.float32).tiny)

# Guard of --logits sigmoid: probabilities are clipped to [1e-7, 1 - 1e-7] (1 - 1e-7 is still below 1.0 in
# float32), so logits stay within about +-16.1.
SIGMOID_EPSILON: float = 1e-7


def from_unit_range(images: Any, low: float, high: float) -> Any:
    """Map images in [0, 1] onto [low, high], the range the source expects (``--input-range``)."""
    return images * (high - low) + low


def to_luminance(images: Any) -> Any:
    """[batch, H, W, 3] RGB to [batch, H, W, 1] luminance with the BT.601 weights (``--grayscale``).

    A 1x1 convolution rather than a per-channel multiply and a sum: the input-range check folds element-wise
    ops from the image on, and per-channel weights of 0.114 would read as a transform made for neither
    [0, 1] nor [0, 255]; a convolution is where that walk stops, as at a network's first layer."""
    tf = tensorflow()
    weights = tf.reshape(tf.constant(LUMA_WEIGHTS, dtype=images.dtype), [1, 1, 3, 1])
    return tf.nn.conv2d(images, weights, strides=1, padding="VALID")


def softmax_logits(probabilities: Any) -> Any:
    """Logits whose softmax gives back ``probabilities`` (``--logits softmax``): log(max(p, SOFTMAX_FLOOR))."""
    tf = tensorflow()
    return tf.math.log(tf.maximum(probabilities, SOFTMAX_FLOOR))


def sigmoid_logits(probabilities: Any) -> Any:
    """The logit function log(p) - log(1 - p) of probabilities clipped to [SIGMOID_EPSILON, 1 - SIGMOID_EPSILON]
    (``--logits sigmoid``)."""
    tf = tensorflow()
    clipped = tf.clip_by_value(probabilities, SIGMOID_EPSILON, 1.0 - SIGMOID_EPSILON)
    return tf.math.log(clipped) - tf.math.log1p(-clipped)


LOGITS = {"softmax": softmax_logits, "sigmoid": sigmoid_logits}


def to_float32(tensor: Any) -> Any:
    """A non-float32 output cast to float32 (integers and float16/64 alike)."""
    tf = tensorflow()
    return tensor if tensor.dtype == tf.float32 else tf.cast(tensor, tf.float32)


def output_names(outputs: Any) -> list[str] | None:
    """The names ``--output NAME`` can pick from, in the order ``--output INDEX`` counts them; ``None`` for one tensor."""
    if isinstance(outputs, Mapping):
        return [str(key) for key in outputs]
    if isinstance(outputs, Sequence) and not isinstance(outputs, str):
        return [str(index) for index in range(len(outputs))]
    return None


def pick_output(outputs: Any, choice: str | None) -> Any:
    """:func:`pick_one` that refuses a pick which is itself several tensors (a nested list, say)."""
    picked = pick_one(outputs, choice)
    inner = output_names(picked)
    if inner is not None:
        raise ExportError(f"output {choice if choice is not None else 0} is itself {len(inner)} outputs, not one "
                          "tensor; an image model returns one [batch, N] tensor")
    return picked


def pick_one(outputs: Any, choice: str | None) -> Any:
    """One tensor of a dict, list or tuple of outputs (``--output NAME|INDEX``); a single tensor as it is.

    A dict's index counts its keys in the order the source returns them (for a signature: sorted by name).
    Raises :class:`ExportError` when the choice is missing or names nothing.
    """
    names = output_names(outputs)
    if names is None:
        if choice is not None:
            raise ExportError(f"--output {choice}: the source returns one tensor; leave --output out")
        return outputs
    if choice is None:
        if len(names) == 1:
            return outputs[next(iter(outputs))] if isinstance(outputs, Mapping) else outputs[0]
        raise ExportError(f"the source returns {len(names)} outputs ({', '.join(names)}); pick one with "
                          "--output NAME or --output INDEX")
    if isinstance(outputs, Mapping):
        keys = list(outputs)
        if choice in names:
            return outputs[keys[names.index(choice)]]
        if choice.isdigit() and int(choice) < len(keys):
            return outputs[keys[int(choice)]]
    elif choice.isdigit() and int(choice) < len(names):
        return outputs[int(choice)]
    raise ExportError(f"--output {choice}: no such output; the source returns {', '.join(names)}")
