"""Inference-mode behaviour: the same input gives the same output, one example at a time."""

from __future__ import annotations

from hubcheck.context import CheckContext
from hubcheck.numeric import allclose, max_abs_difference
from hubcheck.plan import FULL_BATCH
from hubcheck.registry import Check
from hubcheck.results import Finding


class DeterministicCheck(Check):
    """The same input twice in inference mode gives the same output (NaN-aware).

    Fails when two identical calls without ``training=True`` differ by more
    than the tolerances (``rtol``, ``atol``): random ops such as noise,
    dropout or random crops run at inference.

    Fix: run random augmentation, noise and dropout only when
    ``training=True``.
    """

    id = "deterministic"
    title = "Deterministic in inference mode"
    requires = ("output-single-tensor", "batch-size")
    order = 110

    def run(self, ctx: CheckContext) -> Finding:
        first = ctx.probe.tensor(FULL_BATCH)
        second = ctx.probe.tensor(FULL_BATCH, repeat=1)
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
    batch (compared: image 0 alone vs. in a batch of 5 different images),
    e.g. batch normalisation using batch statistics at inference, or
    normalisation over the batch axis.

    Fix: use moving statistics at inference (``training=False``) and never
    reduce over the batch axis.
    """

    id = "batch-independence"
    title = "Examples are independent in a batch"
    requires = ("output-single-tensor", "batch-size")
    order = 120

    def run(self, ctx: CheckContext) -> Finding:
        full = ctx.probe.tensor(FULL_BATCH)
        single = ctx.probe.tensor(1)
        tol = ctx.options.tolerances
        comparisons = {"image 0: batch of 1 vs batch of 5": (single[0], full[0])}
        differing = {
            name: max_abs_difference(a, b) for name, (a, b) in comparisons.items() if not allclose(a, b, tol.rtol, tol.atol)
        }
        if differing:
            listed = "; ".join(f"{name} (max |diff| {diff:.3g})" for name, diff in differing.items())
            return Finding.failed(
                f"Outputs depend on the other images in the batch: {listed}. Use moving statistics at "
                "inference and do not reduce over the batch axis.",
                differences=differing,
            )
        return Finding.passed("Each image's output is the same alone and in larger batches")
