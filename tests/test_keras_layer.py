"""keras-layer answers the same questions while reusing the probe's work (one Sequential, snapshots
instead of weight copies, the probe's function instantiations)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hubcheck.results import Report, Status


def _keras_layer(report: Report):  # -> CheckResult
    (result,) = [check for check in report.checks if check.id == "keras-layer"]
    return result


@pytest.mark.slow
def test_the_fine_tuning_step_still_fails_where_a_consumers_optimizer_fails(checked: Callable[[str], Report]) -> None:
    result = _keras_layer(checked("keras_layer_breaks"))
    assert result.status is Status.FAIL
    assert result.details["stage"] == "fine-tuning one step with trainable=True"


@pytest.mark.slow
def test_the_step_counts_only_weights_that_changed(checked: Callable[[str], Report]) -> None:
    """no_gradient: three of four trainable weights are cut off from the output (compared with the
    snapshots taken before the step, not with copies)."""
    result = _keras_layer(checked("no_gradient"))
    assert result.status is Status.PASS
    assert result.details["weights_changed"] == 1 and result.details["trainable_weights"] == 4


@pytest.mark.slow
def test_the_head_goes_on_the_inference_model_behind_a_reshape_when_needed(checked: Callable[[str], Report]) -> None:
    result = _keras_layer(checked("squeezed_batch_1"))
    assert result.status is Status.PASS and result.details["head_reshape"] == [16]
