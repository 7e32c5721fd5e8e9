"""The probe memoizes forward passes; probe images are deterministic and in [0, 1]."""

from __future__ import annotations

import threading

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hubcheck.images import KINDS, kind_of, make_batch
from hubcheck.probe import Probe, ProbeKey
from hubcheck.tfimport import tensorflow


class CountingModel:
    """Stands in for a loaded SavedModel: mean colour per image, counting calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, images, training=None):
        self.calls += 1
        return tensorflow().reduce_mean(images, axis=[1, 2])


def test_same_key_is_computed_once() -> None:
    model = CountingModel()
    probe = Probe(model)
    first = probe.call(ProbeKey(2, 8, 8))
    second = probe.call(ProbeKey(2, 8, 8))
    assert model.calls == 1
    assert first is second
    assert first.shape == (2, 3) and first.dtype == "float32"


def test_repeat_and_training_are_separate_calls() -> None:
    model = CountingModel()
    probe = Probe(model)
    probe.call(ProbeKey(2, 8, 8))
    probe.call(ProbeKey(2, 8, 8, repeat=1))
    probe.call(ProbeKey(2, 8, 8, training=True))
    assert model.calls == 3
    assert len(probe.calls) == 3


def test_a_raising_model_becomes_a_recorded_error() -> None:
    def broken(images, training=None):
        raise ValueError("bad\nthings happened")

    call = Probe(broken).call(ProbeKey(1, 4, 4))
    assert not call.ok
    assert call.error == "ValueError: bad things happened"


def test_gradients_reuse_the_forward_pass() -> None:
    tf = tensorflow()
    kernel = tf.Variable(tf.ones([3, 2]), name="kernel")
    unused = tf.Variable(1.0, name="unused")
    calls = []

    def model(images, training=None):
        calls.append(training)
        return tf.matmul(tf.reduce_mean(images, axis=[1, 2]), kernel)

    probe = Probe(model)
    key = ProbeKey(2, 4, 4, training=True)
    result = probe.gradients(key, [kernel, unused])
    assert result.reached == ("kernel:0",) and result.missed == ("unused:0",)
    assert probe.call(key).shape == (2, 2)
    assert len(calls) == 1


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 9), st.integers(1, 40), st.integers(1, 40))
def test_example_i_is_the_same_image_in_every_batch(batch: int, height: int, width: int) -> None:
    images = make_batch(batch, height, width)
    assert images.shape == (batch, height, width, 3) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    np.testing.assert_array_equal(images[0], make_batch(1, height, width)[0])
    np.testing.assert_array_equal(images, make_batch(batch, height, width))


def test_a_batch_of_four_holds_every_kind() -> None:
    assert {kind_of(i) for i in range(4)} == set(KINDS)
    images = make_batch(4, 16, 16)
    assert images[KINDS.index("black")].max() == 0.0
    assert images[KINDS.index("white")].min() == 1.0


class RecordingOptimizerModel:
    """Records, for each call, whether TensorFlow's graph optimizer was switched off; updates a
    batch-norm-like statistic in training mode."""

    def __init__(self) -> None:
        tf = tensorflow()
        self.statistic = tf.Variable(tf.ones([3]))
        self.variables = [self.statistic]
        self.optimizer_off: list[tuple[bool | None, bool]] = []

    def __call__(self, images, training=None):
        tf = tensorflow()
        off = bool(tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False))
        self.optimizer_off.append((training, off))
        if training:
            self.statistic.assign_add(tf.ones([3]))
        return tf.reduce_mean(images, axis=[1, 2]) * self.statistic


def test_inference_calls_skip_the_graph_optimizer_and_training_calls_keep_it() -> None:
    model = RecordingOptimizerModel()
    probe = Probe(model, tape_training_calls=True)
    probe.call(ProbeKey(2, 8, 8))
    probe.call(ProbeKey(2, 8, 8, training=False))
    probe.call(ProbeKey(2, 8, 8, training=True))
    assert model.optimizer_off == [(None, True), (False, True), (True, False)]
    options = tensorflow().config.optimizer.get_experimental_options()
    assert not options.get("disable_meta_optimizer", False)  # put back for everything else


def test_training_calls_leave_the_published_variables() -> None:
    """preserved_variables keeps snapshots, not copies: an in-place update must not reach them."""
    model = RecordingOptimizerModel()
    probe = Probe(model, tape_training_calls=True)
    before = probe.call(ProbeKey(2, 8, 8)).value
    trained = probe.call(ProbeKey(2, 8, 8, training=True)).value
    np.testing.assert_array_equal(model.statistic.numpy(), np.ones(3, np.float32))
    np.testing.assert_allclose(trained, 2 * before)  # the update happened during the call
    again = probe.call(ProbeKey(2, 8, 8, training=False)).value
    np.testing.assert_array_equal(again, before)


def test_a_model_whose_graph_swaps_implementations_keeps_the_graph_optimizer() -> None:
    """Grappler's implementation selector decides which api_implements twin runs: keep it on."""
    model = RecordingOptimizerModel()
    probe = Probe(model, skip_graph_optimizer=False)
    probe.call(ProbeKey(2, 8, 8))
    assert model.optimizer_off == [(None, False)]


class ThreadRecordingModel:
    """Mean colour per image; records which thread made each call and whether the optimizer was off."""

    def __init__(self) -> None:
        self.made: list[tuple[tuple[int, ...], bool | None, int, bool]] = []

    def __call__(self, images, training=None):
        tf = tensorflow()
        off = bool(tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False))
        self.made.append((tuple(images.shape), training, threading.get_ident(), off))
        return tf.reduce_mean(images, axis=[1, 2])


def test_make_at_once_makes_the_new_inference_calls_in_threads() -> None:
    model = ThreadRecordingModel()
    probe = Probe(model, tape_training_calls=True)
    first = probe.call(ProbeKey(1, 8, 8))
    keys = [ProbeKey(1, 8, 8), ProbeKey(2, 8, 8), ProbeKey(5, 8, 8), ProbeKey(2, 8, 8, training=True)]
    probe.make_at_once(keys)
    assert probe.made(ProbeKey(2, 8, 8, training=True)) is None  # training calls: one at a time, later
    calls = [probe.call(key) for key in keys]
    assert calls[0] is first  # made already: not made again
    shapes = [made[0][0] for made in model.made]
    assert sorted(shapes) == [1, 2, 2, 5]  # each key once
    main = threading.get_ident()
    by_key = {(made[0][0], made[1]): made for made in model.made}
    assert by_key[(2, None)][2] != main and by_key[(5, None)][2] != main
    assert by_key[(2, None)][3] and by_key[(5, None)][3]  # without the graph optimizer, as alone
    assert by_key[(2, True)][2] == main and not by_key[(2, True)][3]
    sequential = Probe(CountingModel())
    for call in calls:
        np.testing.assert_array_equal(call.value, sequential.call(call.key).value)
    assert not tensorflow().config.optimizer.get_experimental_options().get("disable_meta_optimizer", False)


def test_make_at_once_leaves_a_single_new_call_to_the_calling_thread() -> None:
    model = ThreadRecordingModel()
    probe = Probe(model)
    probe.make_at_once([ProbeKey(1, 8, 8)])
    assert probe.made(ProbeKey(1, 8, 8)) is None and not model.made


def test_inference_that_keeps_state_is_told_from_inference_that_only_reads(model_path) -> None:
    from hubcheck.graph.program import Program, choose_meta_graph, parse_saved_model
    from hubcheck.graph.state import state_keeping_op

    def first_state_keeping_op(name: str) -> str | None:
        program = Program(choose_meta_graph(parse_saved_model(model_path(name))))
        return state_keeping_op(program, [t.function for t in program.traces if t.training is not True])

    assert first_state_keeping_op("feature_vector") is None
    assert first_state_keeping_op("keras_feature_vector") is None  # batch norm updates only in training mode
    found = first_state_keeping_op("random_inference")
    assert found is not None and "Random" in found, found
