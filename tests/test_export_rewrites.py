"""Exact rewrites around TensorFlow kernel bugs (hubcheck/exporter/rewrites.py), and the export that needed them.

The gray_residual_h5 fixture has the structure of the published mini-Xception emotion classifier whose
export crashed the checking child: TensorFlow 2.21's oneDNN backward kernel of its 1x1 stride-2 shortcut
convolution corrupts the heap, so taking gradients killed the process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import hubcheck
from fixtures.export_sources import export_source
from hubcheck.cli import main
from hubcheck.exporter.rewrites import pointwise_strides_as_slices, strided_pointwise


def _tf() -> Any:
    from hubcheck.tfimport import tensorflow

    return tensorflow()


def _tf_keras_model() -> Any:
    _tf()
    import tf_keras

    tf_keras.utils.set_random_seed(3)
    inputs = tf_keras.Input((None, None, 3))
    same = tf_keras.layers.Conv2D(4, 1, strides=2, padding="same")(inputs)
    valid = tf_keras.layers.Conv2D(4, 1, strides=(3, 2), padding="valid")(inputs)
    kept = tf_keras.layers.Conv2D(4, 3, strides=2, padding="same")(inputs)  # not 1x1: left alone
    pooled = [tf_keras.layers.GlobalAveragePooling2D()(x) for x in (same, valid, kept)]
    return tf_keras.Model(inputs, tf_keras.layers.Concatenate()(pooled))


def _keras3_model() -> Any:
    from hubcheck.exporter.sources import keras3

    keras = keras3()
    keras.utils.set_random_seed(3)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 1, strides=2, padding="same")(inputs)
    y = keras.layers.DepthwiseConv2D(1, strides=2)(inputs)  # another layer class: left alone
    return keras.Model(inputs, keras.layers.Concatenate()([keras.layers.GlobalAveragePooling2D()(t) for t in (x, y)]))


def _values_and_gradients(model: Any, images: Any) -> tuple[np.ndarray, list[np.ndarray]]:
    tf = _tf()
    with tf.GradientTape() as tape:
        output = model(images, training=True)
        loss = tf.reduce_sum(output * tf.range(1.0, output.shape[-1] + 1.0))
    weights = [w if isinstance(w, tf.Variable) else w.value for w in model.trainable_weights]
    return output.numpy(), [g.numpy() for g in tape.gradient(loss, weights)]


@pytest.mark.parametrize("build, rewritten", [(_tf_keras_model, 2), (_keras3_model, 1)])
def test_rewrite_keeps_values_and_gradients_and_is_undone(build: Any, rewritten: int) -> None:
    model = build()
    # odd sizes: the last stride-2 window starts on the last pixel; shapes the buggy kernel handles
    images = _tf().constant(np.random.default_rng(0).random((2, 15, 13, 3)), dtype="float32")
    before, gradients_before = _values_and_gradients(model, images)
    with pointwise_strides_as_slices(model) as count:
        assert count == rewritten
        assert not strided_pointwise(model)  # each rewritten once: none left to find
        during, gradients_during = _values_and_gradients(model, images)
    assert len(strided_pointwise(model)) == rewritten  # put back as they were
    assert not any("convolution_op" in vars(layer) for layer in model._flatten_layers())
    np.testing.assert_allclose(during, before, rtol=1e-5, atol=1e-6)
    for changed, original in zip(gradients_during, gradients_before):
        np.testing.assert_allclose(changed, original, rtol=1e-4, atol=1e-5)


def test_sources_without_keras_layers_are_left_alone() -> None:
    with pointwise_strides_as_slices(None) as count:
        assert count == 0


def _strided_convolutions(saved: Path) -> list[str]:
    """The convolution nodes (and their gradients) of the written graph with a stride above 1."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((saved / "saved_model.pb").read_bytes())
    graph = proto.meta_graphs[0].graph_def
    nodes = [node for function in graph.library.function for node in function.node_def]
    found = []
    for node in nodes:
        if node.op in ("Conv2D", "Conv2DBackpropFilter", "Conv2DBackpropInput"):
            strides = list(node.attr["strides"].list.i)
            if max(strides) > 1:
                found.append(f"{node.op} {node.name} strides={strides}")
    return found


@pytest.mark.slow
def test_gray_residual_export_passes_the_isolated_run_fine_tunable(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The regression: the checking child was killed by SIGSEGV/SIGABRT in training-argument."""
    monkeypatch.delenv("HUBCHECK_IN_PROCESS", raising=False)
    out = tmp_path / "out"
    result = hubcheck.export(export_source("gray_residual_h5"), out, grayscale=True, input_range=(-1, 1),
                             logits="softmax", run_checks=False)
    assert any("strided 1x1 convolution" in note for note in result.notes)
    assert _strided_convolutions(out) == []  # its only strided convolutions were the 1x1 shortcuts
    checked = CliRunner().invoke(main, [str(out), "--task", "image-classification", "--format", "json"])
    document = json.loads(checked.output)
    statuses = {check["id"]: check["status"] for check in document["checks"]}
    assert document["environment"].get("sandbox"), "checked in the sandboxed child"
    assert checked.exit_code == 0 and document["status"] == "pass", statuses
    assert {check: statuses[check] for check in ("training-argument", "trainable-variables", "gradient-flow",
                                                  "keras-layer", "input-range")} == dict.fromkeys(
        ("training-argument", "trainable-variables", "gradient-flow", "keras-layer", "input-range"), "pass")


def test_a_saved_model_graph_with_strided_pointwise_convolutions_gets_a_note(tmp_path: Path) -> None:
    """A tf2-saved-model is called as its graph stands: export cannot rewrite it, so it says what may crash."""
    tf = _tf()
    rng = np.random.default_rng(1)

    class Shortcut(tf.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.pointwise = tf.Variable(rng.normal(size=(1, 1, 3, 4)).astype(np.float32))
            self.spatial = tf.Variable(rng.normal(size=(3, 3, 3, 4)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
        def __call__(self, images: Any) -> Any:
            shortcut = tf.nn.conv2d(images, self.pointwise, 2, "SAME")
            return tf.reduce_mean(shortcut + tf.nn.conv2d(images, self.spatial, 2, "SAME"), [1, 2])

    tf.saved_model.save(Shortcut(), str(tmp_path / "source"))
    result = hubcheck.export(tmp_path / "source", tmp_path / "out", run_checks=False)
    assert result.source_kind == "tf2-saved-model" and result.fine_tunable
    notes = [note for note in result.notes if "strided 1x1" in note]
    assert len(notes) == 1 and "has 1 strided 1x1 convolution(s)" in notes[0]  # the 3x3 one is not counted


def test_plain_module_fixture_gets_no_such_note(tmp_path: Path) -> None:
    result = hubcheck.export(export_source("plain_module"), tmp_path / "out", run_checks=False)
    assert result.fine_tunable and not any("strided 1x1" in note for note in result.notes)
