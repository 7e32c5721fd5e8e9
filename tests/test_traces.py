"""Models traced in more than one way: which sizes are probed, and the checks that depend on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubcheck.options import RunOptions
from hubcheck.results import Status
from hubcheck.runner import run_checks


def _export(path: Path, flatten: bool, specs: list, smoke_test: tuple[int, int] | None = None) -> Path:
    """A fine-tunable feature vector with a training argument, traced for each spec (True and False)."""
    from hubcheck.tfimport import tensorflow

    tf = tensorflow()
    tf.random.set_seed(0)
    kernel = tf.Variable(tf.random.normal([3, 3, 3, 4], seed=1), name="kernel")
    dense = tf.Variable(tf.random.normal([4, 6], seed=2), name="dense")

    @tf.function
    def call(images, training=False):
        features = tf.nn.relu(tf.nn.conv2d(images, kernel, strides=4, padding="SAME"))
        if flatten:  # N depends on the image size
            return tf.reshape(features, [tf.shape(images)[0], -1])
        return tf.matmul(tf.reduce_mean(features, axis=[1, 2]), dense)

    root = tf.train.Checkpoint()
    root.variables = [kernel, dense]
    root.trainable_variables = [kernel, dense]
    root.__call__ = call
    if smoke_test:  # what a publisher's quick test before export leaves behind
        call(tf.zeros([1, *smoke_test, 3]))
    for spec in specs:
        for training in (True, False):
            call.get_concrete_function(spec, training=training)
    tf.saved_model.save(root, str(path))
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from hubcheck.tfimport import tensorflow

    tf = tensorflow()
    root = tmp_path_factory.mktemp("traces")
    general = tf.TensorSpec([None, None, None, 3], tf.float32)
    return {
        "smoke_tested_flatten": _export(root / "a", True, [general], smoke_test=(64, 64)),
        "two_fixed_sizes": _export(root / "b", False, [tf.TensorSpec([None, 64, 64, 3], tf.float32),
                                                       tf.TensorSpec([None, 48, 56, 3], tf.float32)]),
    }


def test_a_smoke_test_trace_does_not_fix_the_size(models) -> None:
    report = run_checks(models["smoke_tested_flatten"], RunOptions(input_sizes=((64, 64), (48, 40))))
    assert report.model["input_sizes_source"] == "--input-size"
    size_constant = report.result("output-size-constant")
    assert size_constant.status is Status.FAIL, size_constant.message
    assert size_constant.details["widths"] == {"64x64": 1024, "48x40": 480}


def test_every_traced_size_is_probed_and_keras_layer_trains_at_the_smallest(models) -> None:
    report = run_checks(models["two_fixed_sizes"], RunOptions())
    assert report.model["input_sizes"] == [[64, 64], [48, 56]]
    assert report.model["input_sizes_source"].startswith("traced")
    statuses = {r.id: r.status for r in report.checks}
    assert statuses["output-size-constant"] is Status.PASS
    assert statuses["keras-layer"] is Status.PASS, report.result("keras-layer").message
    assert not [r for r in report.checks if r.status in (Status.FAIL, Status.ERROR)]


def test_auto_task_reads_a_classifier_from_its_signature_output_name(tmp_path: Path) -> None:
    from hubcheck.tfimport import tensorflow

    tf = tensorflow()
    weights = tf.Variable(tf.random.normal([3, 10], seed=3), name="head")

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    def call(images):
        return tf.matmul(tf.reduce_mean(images, axis=[1, 2]), weights) - 0.5

    root = tf.train.Checkpoint()
    root.variables = [weights]
    root.__call__ = call
    serving = tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])(
        lambda images: {"logits": call(images)}
    )
    tf.saved_model.save(root, str(tmp_path / "model"), signatures={"serving_default": serving})
    report = run_checks(tmp_path / "model", RunOptions(select=frozenset({"logits"})))
    assert report.model["task"] == "image-classification"
    assert "serving_default/logits" in report.model["task_reason"]
    assert report.result("logits").status is Status.PASS
