"""One problem, one failure (issue #13): a model that breaks exactly one rule fails exactly that rule's check.

The models here are not fixtures: each is a small fine-tunable ``__call__(images, training=False)``
(a conv, a mean pool and a dense layer: a 16-wide feature vector) that breaks one rule, built
with plain TensorFlow in this file, so that the checks are judged on models they were not tuned on.
For each, the one expected check fails and every other check that can be judged passes; the few
legitimate skips are listed with their reasons.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hubcheck.options import RunOptions
from hubcheck.results import Report, Status
from hubcheck.runner import run_checks

FEATURES = 16

# Checks that may be skipped on every model here, and why:
LEGITIMATE_SKIPS = {
    # the output is a 16-wide feature vector, so the task is image-feature-vector and logits do not apply
    "logits",
    # no documentation is given and __call__ has no hyperparameter arguments: nothing to compare
    "doc-metadata", "doc-task", "doc-fine-tunable", "doc-input-size", "doc-output-size", "doc-input-range",
    "hparam-arguments",
}


def _build(export_dir: Path, *, spec: list[int | None] | None = None,
           finish: Callable[[Any, Any, Any], Any] | None = None) -> None:
    """Save the tiny network traced at ``spec`` (default: any batch, any size), its output passed through ``finish``."""
    import tensorflow as tf

    rng = np.random.default_rng(13)
    conv = tf.Variable(rng.normal(0.0, 0.5, (3, 3, 3, 8)).astype(np.float32), name="conv/kernel")
    kernel = tf.Variable(rng.normal(0.0, 0.35, (8, FEATURES)).astype(np.float32), name="dense/kernel")
    bias = tf.Variable(rng.normal(0.0, 0.5, (FEATURES,)).astype(np.float32), name="dense/bias")
    variables = [conv, kernel, bias]

    @tf.function
    def call(images: Any, training: bool = False) -> Any:
        x = tf.nn.avg_pool2d(images, ksize=4, strides=4, padding="SAME")
        x = tf.nn.relu(tf.nn.conv2d(x, conv, strides=2, padding="SAME"))
        out = tf.matmul(tf.reduce_mean(x, axis=[1, 2]), kernel) + bias
        return finish(tf, images, out) if finish else out

    image_spec = tf.TensorSpec(spec or [None, None, None, 3], tf.float32, name="images")
    call.get_concrete_function(image_spec, training=True)
    call.get_concrete_function(image_spec, training=False)

    @tf.function(input_signature=[])
    def l2_loss() -> Any:
        return 1e-4 * tf.reduce_sum(tf.square(kernel))

    root = tf.__internal__.tracking.AutoTrackable()
    root.__call__ = call
    root.variables = variables
    root.trainable_variables = variables
    root.regularization_losses = [l2_loss]
    tf.saved_model.save(root, str(export_dir))


def _noise(stddev: float) -> Callable[[Any, Any, Any], Any]:
    return lambda tf, images, out: out + tf.random.normal(tf.shape(out), stddev=stddev)


def _inf_on_black(tf: Any, images: Any, out: Any) -> Any:
    brightness = tf.reduce_mean(images, axis=[1, 2, 3])[:, None]  # 0 for an all-black image
    return out + tf.where(brightness > 0, 0.0, np.inf)


def _squeeze(tf: Any, images: Any, out: Any) -> Any:
    return tf.squeeze(out)  # [1, N] -> [N]


# name -> (how to build it, the one check that must fail)
MODELS: dict[str, tuple[dict[str, Any], str]] = {
    "fixed-batch-8": ({"spec": [8, None, None, 3]}, "batch-size"),
    "fixed-batch-1": ({"spec": [1, None, None, 3]}, "batch-size"),
    "fixed-4x96x96": ({"spec": [4, 96, 96, 3]}, "batch-size"),
    "noise-large": ({"finish": _noise(0.1)}, "deterministic"),
    "noise-small": ({"finish": _noise(1e-3)}, "deterministic"),
    "float64": ({"finish": lambda tf, images, out: tf.cast(out, tf.float64)}, "output-dtype"),
    "inf-on-black": ({"finish": _inf_on_black}, "output-finite"),
    "squeezed-batch-1": ({"finish": _squeeze}, "output-shape"),
}

# Checks that may warn on one model only, and why.
WARNINGS = {
    # The image feeds the network and the brightness that makes the inf: the input-range walk
    # stops at the branch and says so (a warning about the graph, not a second failure).
    "inf-on-black": {"input-range"},
}

# Checks that may be skipped on one model only, and why.
EXTRA_SKIPS = {
    # A batch fixed to 1 gives no image a companion to depend on.
    "fixed-batch-1": {"batch-independence"},
    # One traced size: there is no second size to compare N at.
    "fixed-4x96x96": {"output-size-constant"},
}


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Report]:
    root = tmp_path_factory.mktemp("one-failure")
    built: dict[str, Report] = {}
    for name, (kwargs, _) in MODELS.items():
        _build(root / name, **kwargs)
        built[name] = run_checks(root / name, RunOptions())
    return built


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_only_the_broken_rule_fails(reports: dict[str, Report], name: str) -> None:
    report = reports[name]
    expected = MODELS[name][1]
    statuses = {result.id: result.status for result in report.checks}
    failed = sorted(check for check, status in statuses.items() if status in (Status.FAIL, Status.ERROR))
    messages = {result.id: result.message for result in report.checks}
    assert failed == [expected], {check: messages[check] for check in failed}
    allowed = LEGITIMATE_SKIPS | EXTRA_SKIPS.get(name, set())
    skipped = {check for check, status in statuses.items() if status is Status.SKIP}
    assert skipped <= allowed, {check: messages[check] for check in skipped - allowed}
    warned = {check for check, status in statuses.items() if status is Status.WARN}
    assert warned <= WARNINGS.get(name, set()), {check: messages[check] for check in warned}


@pytest.mark.slow
def test_the_report_says_which_batch_was_probed_and_why(reports: dict[str, Report]) -> None:
    fixed = reports["fixed-batch-8"].model
    assert fixed["batch_sizes"] == [8]
    assert "traced" in str(fixed["batch_sizes_source"])
    assert all(str(call["input"]).startswith("[8,") for call in fixed["calls"])
    assert reports["noise-small"].model["batch_sizes"] == [1, 2, 5]


@pytest.mark.slow
def test_no_two_checks_pay_for_the_same_call(reports: dict[str, Report]) -> None:
    for name, report in reports.items():
        inputs = [call["input"] for call in report.model["calls"]]
        assert len(inputs) == len(set(inputs)), name


@pytest.mark.slow
def test_noise_is_reported_where_it_is_allowed_for(reports: dict[str, Report]) -> None:
    report = reports["noise-large"]
    result = report.result("batch-independence")
    assert result.details["model_noise"] > 0
    assert "deterministic judges that" in result.message


@pytest.mark.slow
def test_a_default_of_training_false_makes_the_default_call_the_inference_call(reports: dict[str, Report]) -> None:
    """TensorFlow binds the saved default before it dispatches: obj(images) is obj(images, training=False),
    made once, and training-argument says why it compares nothing (even for a noisy model)."""
    for name in ("noise-large", "fixed-batch-8"):
        report = reports[name]
        assert not any("training=False" in str(call["input"]) for call in report.model["calls"]), name
        result = report.result("training-argument")
        assert result.details["training_default"] is False
        assert "saved signature's default" in result.message and "model_noise" not in result.details


def test_the_plan_keys_training_false_as_the_default_call_only_when_that_is_the_saved_default() -> None:
    from hubcheck.plan import ProbePlan, TracedInput
    from hubcheck.probe import ProbeKey
    from hubcheck.tensors import TensorInfo

    traces = [TracedInput(TensorInfo("float32", (None, None, None, 3)), value) for value in (True, False)]
    declared = ProbePlan(traces, RunOptions(), True, default_call_is_inference=True)
    assert declared.key(5, None, training=False) == declared.key(5) == ProbeKey(5, 224, 224)
    assert declared.key(2, (160, 192), training=True).training is True
    undeclared = ProbePlan(traces, RunOptions(), True)
    assert undeclared.key(5, None, training=False) == ProbeKey(5, 224, 224, training=False)


@pytest.mark.slow
def test_an_unsettled_input_range_is_said_once(reports: dict[str, Report]) -> None:
    message = reports["inf-on-black"].result("input-range").message
    assert message.count("does not settle") == 1, message


# -- the plan's batch choice, as plain data ----------------------------------------------------------


def _plan(*shapes: tuple[int | None, ...] | None) -> Any:
    from hubcheck.plan import ProbePlan, TracedInput
    from hubcheck.tensors import TensorInfo

    return ProbePlan([TracedInput(TensorInfo("float32", shape), None) for shape in shapes], RunOptions(), False)


def test_a_free_batch_is_probed_at_1_2_and_5() -> None:
    plan = _plan((None, None, None, 3), (8, None, None, 3))
    assert plan.traced_batch is None
    assert (plan.single_batch, plan.small_batch, plan.full_batch) == (1, 2, 5)
    assert plan.kind_offsets() == [0]
    assert [batch for batch, _ in plan.batch_probes()] == [1, 2, 5]


@pytest.mark.parametrize(("batch", "offsets"), [(1, [0, 1, 2, 3]), (2, [0, 2]), (3, [0, 3]), (8, [0])])
def test_a_traced_batch_is_used_for_every_call(batch: int, offsets: list[int]) -> None:
    plan = _plan((batch, None, None, 3))
    assert plan.traced_batch == batch
    assert plan.batch_sizes == [batch]
    assert plan.gradient_key.batch == batch
    assert {b for b, _ in plan.batch_probes()} == {batch}
    assert plan.kind_offsets() == offsets
    assert "traced" in plan.batch_sizes_source


def test_a_traced_batch_and_size() -> None:
    plan = _plan((4, 96, 96, 3))
    assert plan.batch_probes() == [(4, (96, 96))]
    assert plan.key(4, offset=1).describe() == "[4,96,96,3], images 1-4"


def test_offset_batches_continue_the_image_sequence() -> None:
    from hubcheck.images import make_batch

    np.testing.assert_array_equal(make_batch(2, 8, 8, offset=1)[0], make_batch(3, 8, 8)[1])
