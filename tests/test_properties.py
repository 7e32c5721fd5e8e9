"""Property-based tests: random batch and image sizes against the probe and the shape checks."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubcheck.checks.outputs import OutputShapeCheck, OutputSizeConstantCheck
from hubcheck.context import CheckContext
from hubcheck.options import RunOptions
from hubcheck.probe import ProbeKey
from hubcheck.results import Status

sizes = st.tuples(st.integers(8, 96), st.integers(8, 96))


@pytest.fixture(scope="module")
def feature_vector_context(model_path) -> CheckContext:
    return CheckContext(model_path("feature_vector"), RunOptions())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.integers(1, 7), size=sizes)
def test_probe_output_is_batch_by_n_for_any_batch_and_size(feature_vector_context, batch: int, size) -> None:
    call = feature_vector_context.probe.call(ProbeKey(batch, *size))
    assert call.ok and call.is_tensor
    assert call.shape == (batch, 16)


@settings(max_examples=10, deadline=None)
@given(chosen=st.lists(sizes, min_size=1, max_size=3, unique=True))
def test_shape_checks_pass_for_any_sizes_the_model_accepts(model_path, chosen) -> None:
    ctx = CheckContext(model_path("feature_vector"), RunOptions(input_sizes=tuple(chosen)))
    shape = OutputShapeCheck().run(ctx)
    constant = OutputSizeConstantCheck().run(ctx)
    assert shape.status is Status.PASS, shape.message
    expected = Status.PASS if len(chosen) > 1 else Status.SKIP
    assert constant.status is expected, constant.message


@settings(max_examples=10, deadline=None)
@given(chosen=st.lists(sizes, min_size=2, max_size=3, unique=True))
def test_size_dependent_output_is_caught_for_any_two_sizes(model_path, chosen) -> None:
    ctx = CheckContext(model_path("size_dependent_output"), RunOptions(input_sizes=tuple(chosen)))
    finding = OutputSizeConstantCheck().run(ctx)
    widths = set(finding.details["widths"].values())
    assert (finding.status is Status.FAIL) == (len(widths) > 1)
