"""Property-based tests: random batch and image sizes against the probe and the shape checks.

The expected N never comes from hubcheck: for the feature vector it is the width the fixture is built with
(``fixtures.models.FEATURES``), for the size-dependent model it is what plain TensorFlow returns when the
loaded model is called at that size.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import hubcheck
from fixtures.models import FEATURES
from hubcheck.probe import Probe, ProbeKey
from hubcheck.results import Report, Status

Size = tuple[int, int]
sizes = st.tuples(st.integers(8, 96), st.integers(8, 96))
SHAPE_CHECKS = ("output-shape", "output-size-constant")


@pytest.fixture(scope="module")
def feature_vector_probe(model_path: Callable[[str], Path]) -> Probe:
    """hubcheck's probe over the feature vector as plain TensorFlow loads it."""
    from hubcheck.tfimport import tensorflow

    return Probe(tensorflow().saved_model.load(str(model_path("feature_vector"))))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.integers(1, 7), size=sizes)
def test_probe_output_is_batch_by_n_for_any_batch_and_size(feature_vector_probe: Probe, batch: int,
                                                           size: Size) -> None:
    call = feature_vector_probe.call(ProbeKey(batch, *size))
    assert call.ok and call.is_tensor
    assert call.shape == (batch, FEATURES)
    assert call.value is not None and call.value.shape == (batch, FEATURES)


def _shape_checks(path: Path, chosen: list[Size]) -> Report:
    return hubcheck.check(path, input_sizes=chosen, select=SHAPE_CHECKS)


def _label(size: Size) -> str:
    return f"{size[0]}x{size[1]}"


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chosen=st.lists(sizes, min_size=1, max_size=3, unique=True))
@example(chosen=[(8, 8)])  # one size: output-size-constant is not applicable
@example(chosen=[(8, 8), (96, 64)])
def test_shape_checks_pass_for_any_sizes_the_model_accepts(model_path: Callable[[str], Path],
                                                           chosen: list[Size]) -> None:
    report = _shape_checks(model_path("feature_vector"), chosen)
    shape, constant = report.result("output-shape"), report.result("output-size-constant")
    assert shape.status is Status.PASS, shape.message
    shapes = shape.details["shapes"]
    assert shapes and all(len(dims) == 2 and dims[1] == FEATURES for dims in shapes.values()), shapes
    if len(chosen) > 1:
        assert constant.status is Status.PASS, constant.message
        assert constant.details["widths"] == {_label(size): FEATURES for size in chosen}
    else:
        assert constant.status is Status.SKIP, constant.message


@pytest.fixture(scope="module")
def plain_width(model_path: Callable[[str], Path]) -> Callable[[Size], int]:
    """N of size_dependent_output at an image size, from a plain TensorFlow call of the loaded model."""
    from hubcheck.tfimport import tensorflow

    tf = tensorflow()
    model: Any = tf.saved_model.load(str(model_path("size_dependent_output")))
    widths: dict[Size, int] = {}

    def width(size: Size) -> int:
        if size not in widths:
            output = model(tf.constant(np.zeros((1, *size, 3), np.float32)))
            assert output.shape.rank == 2 and output.shape[0] == 1, output.shape
            widths[size] = int(output.shape[1])
        return widths[size]

    return width


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chosen=st.lists(sizes, min_size=2, max_size=3, unique=True))
@example(chosen=[(8, 8), (32, 32)])  # the same N at both sizes: the check passes
@example(chosen=[(8, 8), (96, 64)])  # different N
def test_size_dependent_output_is_caught_for_any_two_sizes(model_path: Callable[[str], Path],
                                                           plain_width: Callable[[Size], int],
                                                           chosen: list[Size]) -> None:
    expected = {_label(size): plain_width(size) for size in chosen}
    finding = _shape_checks(model_path("size_dependent_output"), chosen).result("output-size-constant")
    assert finding.status is (Status.FAIL if len(set(expected.values())) > 1 else Status.PASS), finding.message
    assert finding.details["widths"] == expected
