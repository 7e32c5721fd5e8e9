"""Fine-tuning behaviour: the ``training`` argument, dropout on the output, gradients."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hubcheck.checks.inference import close_allowing_noise, model_noise, noise_note
from hubcheck.context import CheckContext
from hubcheck.numeric import allclose, max_abs_difference
from hubcheck.registry import Check
from hubcheck.results import Finding, JSONValue

if TYPE_CHECKING:
    import numpy as np


class TrainingArgumentCheck(Check):
    """``training=True`` and ``training=False`` both work, and the default is inference mode.

    Applies when ``__call__`` takes ``training`` or the model is fine-tunable.
    Fails when one of the two Python booleans was not traced or its call
    raises, or when calling without ``training`` differs from
    ``training=False`` (for a noisy model: by more than its own noise, which
    ``deterministic`` judges). When the saved signature's default is
    ``training=False``, calling without ``training`` is that call (TensorFlow
    binds the default first), so it is made once. Warns when the model is fine-tunable but takes no
    ``training`` argument, so consumers cannot switch dropout or batch norm
    into training mode.

    Fix: define ``__call__(self, images, training=False)`` and trace it for both
    ``training=True`` and ``training=False``.
    """

    id = "training-argument"
    title = "training=True/False both work"
    requires = ("output-single-tensor",)
    uses = ("batch-size",)  # probes at the plan's batch, which is the traced one when batch-size fails for it
    order = 130

    def run(self, ctx: CheckContext) -> Finding:
        details: dict[str, JSONValue] = {
            "training_values_traced": list(ctx.model.training_values_traced), "fine_tunable": ctx.model.fine_tunable,
        }
        if not ctx.model.has_training_argument:
            if ctx.model.fine_tunable:
                return Finding.warned(
                    f"The model is fine-tunable ({len(ctx.model.trainable_variables)} trainable variables) but "
                    "__call__ takes no training argument; add training=False and trace both values.",
                    **details,
                )
            return Finding.skipped("not applicable: no training argument and no trainable variables", **details)
        batch = ctx.plan.full_batch
        calls = {value: ctx.probe.call(batch, training=value) for value in (False, None)}
        calls[True] = ctx.probe.call(ctx.plan.small_batch, ctx.plan.training_size, training=True)
        failed = {value: call.error for value, call in calls.items() if value is not None and not call.ok}
        if failed:
            listed = "; ".join(f"training={value}: {error}" for value, error in failed.items())
            return Finding.failed(f"Calls with an explicit training value failed: {listed}", **details)
        if ctx.plan.default_call_is_inference:  # one call: see ProbePlan.default_call_is_inference
            return Finding.passed(
                "training=True and training=False both work; the default is training=False (the saved signature's "
                "default, so obj(images) is the training=False call)", training_default=False, **details
            )
        default, inference = ctx.probe.tensor(batch), ctx.probe.tensor(batch, training=False)
        tol = ctx.options.tolerances
        noise = model_noise(ctx)
        if noise:
            details["model_noise"] = noise
        if not close_allowing_noise(default, inference, tol.rtol, tol.atol, noise):
            return Finding.failed(
                f"Calling without training differs from training=False (max |diff| "
                f"{max_abs_difference(default, inference):.3g}){noise_note(noise)}; the default must be "
                "inference mode (training=False).",
                **details,
            )
        return Finding.passed(
            f"training=True and training=False both work; the default is training=False{noise_note(noise)}", **details
        )


def dropout_evidence(first: np.ndarray, second: np.ndarray, rtol: float, atol: float) -> dict[str, float] | None:
    """Compare two training-mode outputs for the fingerprint of dropout on the output itself.

    Dropout on the returned tensor zeroes a random subset of elements and
    scales the rest by the same factor on every run, so wherever the runs
    differ, one side is exactly zero, and elsewhere they agree. Dropout
    inside the network changes values everywhere instead.
    """
    import numpy as np

    if first.shape != second.shape or first.size == 0:
        return None
    scale = max(1.0, float(np.nanmax(np.abs(first)))) if np.isfinite(first).any() else 1.0
    differ = ~np.isclose(first, second, rtol=rtol, atol=atol * scale, equal_nan=True)
    if not differ.any():
        return None
    one_zero = differ & ((first == 0) ^ (second == 0))
    both_nonzero_agree = ~differ | one_zero
    share = float(one_zero.sum() / differ.sum())
    if share < 0.99 or not both_nonzero_agree.all():
        return None
    zeros = np.concatenate([(first == 0).ravel(), (second == 0).ravel()])
    return {"zeroed_fraction": float(zeros.mean()), "differing_elements": int(differ.sum())}


class NoOutputDropoutCheck(Check):
    """No dropout is applied to the returned tensor in training mode.

    Fails when two ``training=True`` calls on the same images differ exactly
    where one of them has a zero and agree everywhere else: the fingerprint of
    dropout on the output, which the API forbids (consumers add their own
    dropout). Also fails when the graph of a ``training=True`` trace returns
    the output of a dropout pattern (random uniform, compare, select or scale)
    directly; ``details`` reports both kinds of evidence. Dropout inside the
    network is allowed and passes.

    Fix: remove the final ``Dropout`` layer (or ``tf.nn.dropout``) from the
    exported model; keep dropout before the last layer if needed.
    """

    id = "no-output-dropout"
    title = "No dropout on the output"
    requires = ("training-argument",)
    order = 140

    def run(self, ctx: CheckContext) -> Finding:
        if not ctx.model.has_training_argument:
            return Finding.skipped("not applicable: __call__ takes no training argument")
        # Random ops with fixed seeds replay the same sequence in each function instantiation, and a
        # taped call runs another instantiation than an untaped one: compare two calls of one kind.
        batch = ctx.plan.small_batch
        first = ctx.probe.tensor(batch, ctx.plan.training_size, training=True)
        second = ctx.probe.tensor(batch, ctx.plan.training_size, training=True, repeat=1)
        tol = ctx.options.tolerances
        evidence = dropout_evidence(first, second, tol.rtol, tol.atol)
        runs_differ = not allclose(second, first, tol.rtol, tol.atol)
        graph, graph_details = _graph_dropout_evidence(ctx)
        details = {"training_runs_differ": runs_differ, "run_evidence": evidence, **graph_details}
        if evidence:
            also = f" The graph agrees: {graph[0].describe()}." if graph else ""
            return Finding.failed(
                f"Two training-mode calls differ only where one output is zero ({evidence['zeroed_fraction']:.0%} "
                f"of outputs zeroed): dropout is applied to the returned tensor. Remove the final dropout.{also}",
                **details,
            )
        if graph:
            return Finding.failed(
                f"The training-mode trace applies dropout to the returned tensor: {graph[0].describe()} "
                "(the two probe runs did not show it). Remove the final dropout.",
                **details,
            )
        if runs_differ:
            return Finding.passed("Training-mode outputs vary, but not by zeroing outputs (dropout inside the network is fine)", **details)
        return Finding.passed("Training-mode outputs are stable: no dropout on the output", **details)


def _graph_dropout_evidence(ctx: CheckContext) -> tuple[list[Any], dict[str, Any]]:
    """Dropout patterns feeding the returned tensor of the training-mode traces, read from the graph."""
    try:
        from hubcheck.graph.dropout import output_dropout

        program = ctx.model.program
        if program is None:
            return [], {"graph_evidence": None, "graph_note": "no graph to read"}
        found, traces = output_dropout(program)
    except Exception as exc:  # noqa: BLE001 - graph evidence is a bonus; the run evidence still decides
        return [], {"graph_evidence": None, "graph_note": f"reading the graph failed: {exc}"}
    return found, {"graph_evidence": [item.to_json() for item in found], "graph_training_traces_read": traces}


class GradientFlowCheck(Check):
    """For a fine-tunable model, gradients of a loss on the training-mode output reach the trainable variables.

    Fails when no trainable variable receives a gradient (e.g. the output is
    behind ``tf.stop_gradient``, or variables are captured as constants).
    Warns, naming them, when only some trainable variables get none.
    Skipped for models without trainable variables.

    Fix: do not stop gradients on the path to the output, and list in
    ``trainable_variables`` only the variables the output depends on.
    """

    id = "gradient-flow"
    title = "Gradients reach trainable variables"
    requires = ("output-single-tensor",)
    uses = ("batch-size",)  # differentiates at the plan's batch, which is the traced one when batch-size fails for it
    order = 180

    def run(self, ctx: CheckContext) -> Finding:
        if not ctx.model.fine_tunable:
            return Finding.skipped("not applicable: the model has no trainable variables")
        result = ctx.probe.gradients()
        total = len(ctx.model.trainable_variables)
        if result.error:
            return Finding.failed(f"Computing gradients failed: {result.error}")
        details = {"reached": len(result.reached), "missed": list(result.missed), "zero": list(result.zero),
                   "trainable_variables": total}
        if not result.reached and not result.zero:
            return Finding.failed(
                f"None of the {total} trainable variables gets a gradient from the output; "
                "remove tf.stop_gradient or constant captures on the path to the output.",
                **details,
            )
        if result.missed:
            shown = ", ".join(result.missed[:5]) + (" ..." if len(result.missed) > 5 else "")
            return Finding.warned(
                f"{len(result.missed)} of {total} trainable variables get no gradient from the output: {shown}. "
                "Mark them non-trainable or drop them from trainable_variables.",
                **details,
            )
        return Finding.passed(f"Gradients reach all {total} trainable variables", **details)
