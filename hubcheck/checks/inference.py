"""Inference-mode behaviour: the same input gives the same output, one example at a time."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubcheck.context import CheckContext
from hubcheck.numeric import allclose, max_abs_difference
from hubcheck.registry import Check
from hubcheck.results import Finding

if TYPE_CHECKING:
    import numpy as np


def noise_note(noise: float) -> str:
    """What a comparison that allows for the model's own noise adds to its message ('' without noise)."""
    return f" (allowing for the model's own noise, max |diff| {noise:.3g} between identical calls: deterministic judges that)" if noise else ""


def model_noise(ctx: CheckContext) -> float:
    """The model's own noise in inference mode: the max |diff| between the two identical calls
    ``deterministic`` makes (memoized: no extra call), or 0.0 when they agree within the tolerances."""
    tol = ctx.options.tolerances
    first, second = repeated_call(ctx)
    return 0.0 if allclose(second, first, tol.rtol, tol.atol) else max_abs_difference(first, second)


def repeated_call(ctx: CheckContext) -> tuple[np.ndarray, np.ndarray]:
    """The outputs of the full-batch inference call (every kind of probe image) and of the same call made
    again; its function instantiation exists by then, so the second run only computes. A batch of one
    would be cheaper but blind to randomness across the batch (a shuffled or mixed batch)."""
    return ctx.probe.tensor(ctx.plan.full_batch), ctx.probe.tensor(ctx.plan.full_batch, repeat=1)


def close_allowing_noise(a: np.ndarray, b: np.ndarray, rtol: float, atol: float, noise: float) -> bool:
    """Equal within the tolerances, or, for a noisy model, within a few times its noise.

    Two noisy outputs may differ by about the noise measured between two identical calls, and
    by chance somewhat more, hence the factor; a real difference (batch statistics, a
    training-mode default) is larger than that, or shows where the noise is zero.
    """
    import numpy as np

    if allclose(a, b, rtol, atol):
        return True
    if not noise or a.shape != b.shape or not np.array_equal(np.isfinite(a), np.isfinite(b)):
        return False
    return max_abs_difference(a, b) <= NOISE_FACTOR * noise


NOISE_FACTOR = 3.0


class DeterministicCheck(Check):
    """The same input twice in inference mode gives the same output (NaN-aware).

    Fails when two identical calls without ``training=True`` differ by more
    than the tolerances (``rtol``, ``atol``): random ops such as noise,
    dropout or random crops run at inference.

    Fix: run random augmentation, noise and dropout only when
    ``training=True``.

    The difference found is the model's noise: batch-independence,
    training-argument and keras-layer allow for it, so that noise fails this
    check only.
    """

    id = "deterministic"
    title = "Deterministic in inference mode"
    requires = ("output-single-tensor",)
    uses = ("batch-size",)  # probes at the plan's batch, which is the traced one when batch-size fails for it
    order = 110

    def run(self, ctx: CheckContext) -> Finding:
        first, second = repeated_call(ctx)
        tol = ctx.options.tolerances
        difference = max_abs_difference(first, second)
        if allclose(second, first, tol.rtol, tol.atol):
            return Finding.passed("Two identical calls give the same output", max_abs_difference=difference)
        return Finding.failed(
            f"Two identical inference calls differ (max |diff| {difference:.3g}); keep random ops "
            "(noise, dropout, augmentation) behind training=True.",
            max_abs_difference=difference,
        )


class BatchIndependenceCheck(Check):
    """In inference mode, each example's output does not depend on the rest of its batch.

    Fails when an image's output row changes with the other images in the
    batch (compared: image 0 alone vs. in a batch of 5 different images; when
    the traces fix the batch, each image at one position vs. the next, with
    other companions), e.g. batch normalisation using batch statistics at
    inference, or normalisation over the batch axis. A noisy model's rows are
    compared allowing for its noise (``deterministic`` fails that). Skipped when
    the traces fix the batch size to 1.

    Fix: use moving statistics at inference (``training=False``) and never
    reduce over the batch axis.
    """

    id = "batch-independence"
    title = "Examples are independent in a batch"
    requires = ("output-single-tensor",)
    uses = ("batch-size",)  # probes at the plan's batch, which is the traced one when batch-size fails for it
    order = 120

    def run(self, ctx: CheckContext) -> Finding:
        batch = ctx.plan.full_batch
        if ctx.plan.traced_batch == 1:
            return Finding.skipped("not applicable: the traces fix the batch size to 1, so no image has companions")
        full = ctx.probe.tensor(batch)
        if ctx.plan.traced_batch is None:
            single = ctx.probe.tensor(1)
            # A batch of 1 squeezed to [N] (output-shape fails that) still holds image 0's row.
            row = single if single.ndim == full.ndim - 1 else single[0]
            comparisons = {f"image 0: batch of 1 vs batch of {batch}": (row, full[0])}
            same = "the same alone and in larger batches"
        else:
            shifted = ctx.probe.tensor(batch, offset=1)  # images 1 .. batch: each one position earlier
            comparisons = {
                f"image {i}: position {i} vs {i - 1}": (full[i], shifted[i - 1]) for i in range(1, batch)
            }
            same = f"the same at each position of the traced batch of {batch}, among other companions"
        tol = ctx.options.tolerances
        noise = model_noise(ctx)
        differing = {
            name: max_abs_difference(a, b) for name, (a, b) in comparisons.items()
            if not close_allowing_noise(a, b, tol.rtol, tol.atol, noise)
        }
        details = {"model_noise": noise} if noise else {}
        if differing:
            listed = "; ".join(f"{name} (max |diff| {diff:.3g})" for name, diff in list(differing.items())[:3])
            return Finding.failed(
                f"Outputs depend on the other images in the batch: {listed}{noise_note(noise)}. Use moving "
                "statistics at inference and do not reduce over the batch axis.",
                differences=differing, **details,
            )
        return Finding.passed(f"Each image's output is {same}{noise_note(noise)}", **details)
