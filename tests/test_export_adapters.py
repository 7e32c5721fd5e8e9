"""The export's adapters as pure functions, and over combinations on a Keras 3 source (Hypothesis)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hubcheck
from fixtures.export_sources import export_source
from hubcheck.exporter import adapters
from hubcheck.exporter.errors import ExportError
from hubcheck.images import make_batch


def _tf() -> Any:
    from hubcheck.tfimport import tensorflow

    return tensorflow()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.0, 1.0, width=32), min_size=2, max_size=6).filter(lambda p: sum(p) > 0.05))
def test_softmax_of_the_logits_gives_back_the_probabilities(weights: list[float]) -> None:
    tf = _tf()
    p = np.asarray(weights, np.float32) / np.float32(sum(weights))
    back = tf.nn.softmax(adapters.softmax_logits(tf.constant(p[None]))).numpy()[0]
    np.testing.assert_allclose(back, p, rtol=1e-5, atol=1e-7)
    assert np.isfinite(adapters.softmax_logits(tf.constant(p[None])).numpy()).all()


@settings(max_examples=30, deadline=None)
@given(st.floats(0.0, 1.0, width=32))
def test_sigmoid_of_the_logit_gives_back_the_probability_within_the_clip(p: float) -> None:
    tf = _tf()
    logit = adapters.sigmoid_logits(tf.constant([[p]], tf.float32)).numpy()
    assert np.isfinite(logit).all() and abs(float(logit.item())) < 16.2
    clipped = min(max(p, adapters.SIGMOID_EPSILON), 1 - adapters.SIGMOID_EPSILON)
    np.testing.assert_allclose(tf.sigmoid(logit).numpy(), clipped, rtol=1e-4, atol=1e-7)


def test_luminance_and_range() -> None:
    tf = _tf()
    pixel = tf.constant([[[[1.0, 0.5, 0.0]]]])
    assert adapters.to_luminance(pixel).shape == (1, 1, 1, 1)
    np.testing.assert_allclose(adapters.to_luminance(pixel).numpy().item(), 0.299 + 0.5 * 0.587, rtol=1e-6)
    np.testing.assert_allclose(adapters.from_unit_range(tf.constant([0.0, 0.5, 1.0]), -1, 1).numpy(), [-1, 0, 1])
    assert adapters.to_float32(tf.constant([1], tf.int32)).dtype == tf.float32


def test_pick_output() -> None:
    outputs = {"a": 1, "b": 2}
    assert adapters.pick_output(outputs, "b") == 2 and adapters.pick_output(outputs, "0") == 1
    assert adapters.pick_output([5, 6], "1") == 6 and adapters.pick_output(7, None) == 7
    with pytest.raises(ExportError, match="a, b"):
        adapters.pick_output(outputs, None)
    with pytest.raises(ExportError, match="one tensor"):
        adapters.pick_output(7, "a")


@pytest.fixture(scope="module")
def classifier() -> Any:
    from hubcheck.exporter.sources import keras3

    return keras3().saving.load_model(export_source("keras3_classifier"), compile=False)


@pytest.mark.slow
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    input_range=st.sampled_from([None, (0.0, 255.0), (-1.0, 1.0)]),
    logits=st.sampled_from([None, "softmax", "sigmoid"]),
    input_size=st.sampled_from([None, (40, 48)]),
)
def test_adapter_combinations_compute_the_source_after_the_adapters(
        input_range: tuple[float, float] | None, logits: str | None, input_size: tuple[int, int] | None,
        classifier: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    out = tmp_path_factory.mktemp("combination") / "out"
    result = hubcheck.export(classifier, out, input_range=input_range, logits=logits, input_size=input_size,
                             run_checks=False)
    images = make_batch(3, *(input_size or (36, 44)))
    x = images if input_range is None else images * (input_range[1] - input_range[0]) + input_range[0]
    p = np.asarray(classifier(x, training=False), np.float32)
    expected = {
        None: p,
        "softmax": np.log(np.maximum(p, np.finfo(np.float32).tiny)),
        "sigmoid": np.log(np.clip(p, 1e-7, 1 - 1e-7)) - np.log1p(-np.clip(p, 1e-7, 1 - 1e-7)),
    }[logits]
    loaded = _tf().saved_model.load(str(out))
    np.testing.assert_allclose(loaded(images).numpy(), expected, rtol=1e-4, atol=1e-5)
    assert result.input_shape == (None, *(input_size or (None, None)), 3)
    assert len(result.adapters) == sum(v is not None for v in (input_range, logits, input_size))
    assert isinstance(out, Path) and out.is_dir()
