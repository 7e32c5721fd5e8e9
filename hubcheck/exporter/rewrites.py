"""Exact rewrites of a Keras source's layers around TensorFlow kernel bugs, applied only while the export traces.

TensorFlow 2.21's CPU (oneDNN) backward kernels of a 1x1 convolution with stride > 1 corrupt the heap for
some shapes (8 -> 16 channels on 60x60 or 64x64 images, say: the residual shortcut of mini-Xception), so
any process that fine-tunes such a model, hubcheck's checking child included, dies with SIGSEGV or SIGABRT
while taking gradients. A 1x1 kernel with stride s reads exactly ``x[:, ::s, ::s, :]`` (no padding is
added for "same" or "valid" alike: the last window starts at or before the last pixel), so the export
slices first and convolves with stride 1: the same values and gradients through kernels that work. The
layers are put back as they were when the export is written, so a live model given to export is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hubcheck.tfimport import tensorflow


def _conv2d_class(model: Any) -> Any:
    """The ``Conv2D`` class of the Keras that built ``model`` (Keras 3 or tf-keras); ``None`` for neither."""
    from hubcheck.exporter.sources import keras_flavour

    flavour = keras_flavour(model)
    if flavour == "tf-keras":
        import tf_keras

        return tf_keras.layers.Conv2D
    if flavour == "keras3":
        import keras

        return keras.layers.Conv2D
    return None


def strided_pointwise(model: Any) -> list[Any]:
    """The plain ``Conv2D`` layers of ``model`` (nested models included) with a 1x1 kernel and a stride > 1."""
    conv2d = _conv2d_class(model)
    if conv2d is None:
        return []
    found = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if not isinstance(layer, conv2d) or "convolution_op" in vars(layer):
            continue
        plain = type(layer).call is conv2d.call and type(layer).convolution_op is conv2d.convolution_op
        if (plain and tuple(layer.kernel_size) == (1, 1) and max(layer.strides) > 1
                and layer.data_format == "channels_last" and getattr(layer, "groups", 1) == 1
                and tuple(layer.dilation_rate) == (1, 1) and str(layer.padding).lower() in ("same", "valid")):
            found.append(layer)
    return found


def _sliced_convolution(strides: tuple[int, int]) -> Any:
    rows, columns = strides

    def convolution_op(inputs: Any, kernel: Any) -> Any:
        tf = tensorflow()
        return tf.nn.conv2d(inputs[:, ::rows, ::columns, :], kernel, strides=1, padding="VALID")

    return convolution_op


@contextmanager
def pointwise_strides_as_slices(model: Any) -> Iterator[int]:
    """While inside, every layer :func:`strided_pointwise` finds slices then convolves with stride 1; yields
    how many layers that is."""
    layers = strided_pointwise(model)
    try:
        for layer in layers:
            layer.convolution_op = _sliced_convolution(tuple(layer.strides))
        yield len(layers)
    finally:
        for layer in layers:
            if "convolution_op" in vars(layer):
                delattr(layer, "convolution_op")


def unrewritable_pointwise_strides(functions: list[Any], depth: int = 4) -> int:
    """How many 1x1 ``Conv2D`` ops with a stride > 1 the graphs of ``functions`` (a SavedModel's traced
    ``__call__``, and the functions it calls) hold: a graph is called as it stands, so these keep the kernel
    bug; best effort, for a note."""
    seen: set[str] = set()
    found: set[str] = set()  # op names: each trace (training=True, False) holds the same ops

    def walk(graph: Any, level: int) -> None:
        for op in graph.get_operations():
            if op.type == "Conv2D":
                strides = list(op.get_attr("strides"))
                if max(strides) > 1 and op.inputs[1].shape[:2].as_list() == [1, 1]:
                    found.add(op.name)
            elif op.type in ("PartitionedCall", "StatefulPartitionedCall") and level < depth:
                name = op.get_attr("f").name
                if name in seen:
                    continue
                seen.add(name)
                called = getattr(graph._get_function(name), "graph", None)
                if called is not None:
                    walk(called, level + 1)

    for function in functions:
        try:
            walk(function.graph, 0)
        except Exception:  # a graph this walk does not understand: no note rather than a failed export
            continue
    return len(found)
