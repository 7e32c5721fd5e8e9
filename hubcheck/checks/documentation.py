"""The model agrees with its documentation (``--doc PATH``): task, fine-tunability, sizes, range, metadata.

Each check skips, saying so, when no documentation was given or the documentation
does not state its fact. The facts come from :mod:`hubcheck.documentation`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hubcheck.context import CheckContext
from hubcheck.options import Task
from hubcheck.registry import Check
from hubcheck.results import Finding, Status

if TYPE_CHECKING:
    from hubcheck.documentation import DocFacts

IMAGE_TASKS = (Task.FEATURE_VECTOR.value, Task.CLASSIFICATION.value)
OWN_CHECKS = frozenset({"value-range", "task-out-of-scope"})
"""Lint codes that another doc check judges; doc-metadata leaves them to it."""


def _doc(ctx: CheckContext) -> DocFacts | None:
    return ctx.options.documentation


def _no_doc() -> Finding:
    return Finding.skipped("not applicable: no documentation given (--doc PATH)")


def _not_stated(fact: str) -> Finding:
    return Finding.skipped(f"not applicable: the documentation does not state {fact}")


def _quote(doc: DocFacts, fact: str) -> dict[str, Any]:
    return {"documented": fact, "evidence": doc.evidence.get(fact)}


class DocMetadataCheck(Check):
    """The documentation itself is well-formed: required tags present, valid values, nothing against the API.

    Fails when TF Hub markdown lacks or misspells ``format: saved_model_2``, ``task`` or
    ``fine-tunable``, when Kaggle metadata's ``framework`` is not ``tensorFlow2``, when the task
    contradicts itself, or when the prose states channels-first input. ``hubcheck doc PATH``
    lists the same findings; the documented range and task are judged by ``doc-input-range``
    and ``doc-task``.

    Fix: correct the tags and sentences the finding quotes (docs/documentation.md).
    """

    id = "doc-metadata"
    title = "Documentation metadata is valid"
    order = 300

    def run(self, ctx: CheckContext) -> Finding:
        doc = _doc(ctx)
        if doc is None:
            return _no_doc()
        from hubcheck.documentation import lint_documentation

        # The range and the task have checks of their own (doc-input-range, doc-task): one problem, one failure.
        findings = [f for f in lint_documentation(doc) if f.code not in OWN_CHECKS]
        if not findings:
            return Finding.passed(f"{doc.kind} documentation has the required metadata and no contradiction")
        listed = "; ".join(finding.message for finding in findings[:5])
        more = f" (and {len(findings) - 5} more)" if len(findings) > 5 else ""
        return Finding.failed(f"{len(findings)} documentation finding(s): {listed}{more}",
                              findings=[{"code": f.code, "message": f.message, "evidence": f.evidence}
                                        for f in findings])


class DocTaskCheck(Check):
    """The documented task fits the model and the run.

    Fails when the documentation names a task outside the image API, when ``--task``
    contradicts it, or when it says ``image-classification`` for a model whose output is
    not ``[batch, N]`` logits-shaped (a spatial feature map, say).

    Fix: tag the task the model implements (``image-feature-vector`` for features,
    ``image-classification`` for logits), or fix the model's output.
    """

    id = "doc-task"
    title = "Documented task fits the model"
    uses = ("output-shape",)
    order = 310

    def run(self, ctx: CheckContext) -> Finding:
        doc = _doc(ctx)
        if doc is None:
            return _no_doc()
        if doc.task is None:
            return _not_stated("a task")
        details = _quote(doc, "task")
        if doc.task not in IMAGE_TASKS:
            return Finding.failed(f"The documented task {doc.task!r} is not one of the image tasks hubcheck checks "
                                  f"({', '.join(IMAGE_TASKS)}).", **details)
        given = ctx.options.task
        if given is not Task.AUTO and given.value != doc.task:
            return Finding.failed(f"--task {given.value} contradicts the documented task {doc.task}.", **details)
        if doc.task == Task.CLASSIFICATION.value:
            shape = ctx.result("output-shape")
            if shape is not None and shape.status is Status.FAIL:
                return Finding.skipped("blocked by output-shape (fail): a classifier's output shape is judged there",
                                       blocked_by="output-shape", **details)
        return Finding.passed(f"Documented task {doc.task} fits the model", **details)


class DocFineTunableCheck(Check):
    """A model documented as fine-tunable really is: trainable variables that gradients reach.

    Fails when the documentation says ``fine-tunable: true`` (Kaggle ``fineTunable: true``)
    but the model has no trainable variables, or no gradient reaches any of them. A
    ``false`` passes either way.

    Fix: export with trainable variables and a training-mode trace, or document
    ``fine-tunable: false``.
    """

    id = "doc-fine-tunable"
    title = "Documented fine-tunability holds"
    requires = ("callable",)
    order = 320

    def run(self, ctx: CheckContext) -> Finding:
        doc = _doc(ctx)
        if doc is None:
            return _no_doc()
        if doc.fine_tunable is None:
            return _not_stated("whether the model is fine-tunable")
        details = _quote(doc, "fine_tunable")
        if not doc.fine_tunable:
            return Finding.passed("Documented as not fine-tunable", **details)
        if not ctx.model.fine_tunable:
            return Finding.failed("Documented as fine-tunable, but the model has no trainable variables.", **details)
        gradients = ctx.probe.gradients()
        if gradients.error:
            return Finding.failed(f"Documented as fine-tunable, but taking gradients failed: {gradients.error}",
                                  **details)
        if not gradients.reached:
            return Finding.failed("Documented as fine-tunable, but no gradient reaches a trainable variable.",
                                  **details)
        return Finding.passed(f"Fine-tunable as documented: gradients reach {len(gradients.reached)} of "
                              f"{len(ctx.model.trainable_variables)} trainable variables", **details)


class DocInputSizeCheck(Check):
    """The documented input size is what the model accepts.

    Fails when a call at the documented height and width fails, when the documentation
    says the size is fixed but the traces fix another size, or when it documents a
    default with other sizes possible while the traces fix one size.

    Fix: document the size the model was traced for, or trace ``__call__`` with
    ``None`` height and width.
    """

    id = "doc-input-size"
    title = "Documented input size is accepted"
    requires = ("input-dtype", "input-layout")
    order = 330

    def run(self, ctx: CheckContext) -> Finding:
        doc = _doc(ctx)
        if doc is None:
            return _no_doc()
        if doc.input_size is None:
            return _not_stated("an input size")
        size = (doc.input_size.height, doc.input_size.width)
        details = _quote(doc, "input_size")
        shown = f"{size[0]}x{size[1]}"
        traced = ctx.plan.traced_sizes
        if traced and size not in traced:
            fixed = ", ".join(f"{h}x{w}" for h, w in traced)
            return Finding.failed(f"The documentation gives {shown}, but the traces fix {fixed}.", **details)
        if traced and not doc.input_size.fixed:
            return Finding.failed(f"The documentation says {shown} by default with other sizes possible, but the "
                                  "traces fix the size.", **details)
        call = ctx.probe.call(ctx.plan.single_batch, size)
        if not call.ok:
            return Finding.failed(f"A call at the documented size {shown} fails: {call.error}", **details)
        kind = "fixed" if doc.input_size.fixed else "default"
        return Finding.passed(f"The documented {kind} size {shown} is accepted", **details)


class DocOutputSizeCheck(Check):
    """The output width N is the documented ``num_features`` / ``num_classes``.

    Fails when the model returns ``[batch, N]`` with N other than the documented number.

    Fix: document the model's real N, or publish the model the documentation describes.
    """

    id = "doc-output-size"
    title = "Output width matches the documentation"
    requires = ("output-shape",)
    order = 340

    def run(self, ctx: CheckContext) -> Finding:
        doc = _doc(ctx)
        if doc is None:
            return _no_doc()
        if doc.num_outputs is None:
            return _not_stated("the output width (num_features / num_classes)")
        width = int(ctx.probe.tensor(ctx.plan.single_batch).shape[-1])
        details = {**_quote(doc, "num_outputs"), "output_width": width}
        if width == doc.num_outputs:
            return Finding.passed(f"N={width} as documented", **details)
        return Finding.failed(f"The model returns N={width}, the documentation says {doc.num_outputs}.", **details)


class DocInputRangeCheck(Check):
    """The documented input range is the API's [0, 1].

    Fails when the documentation states another range for the input values (e.g.
    [-1, 1] or [0, 255]); when the graph analysis (``input-range``) also finds the model
    expects another range, the message says both.

    Fix: make ``__call__`` take [0, 1] images and document that range.
    """

    id = "doc-input-range"
    title = "Documented input range is [0, 1]"
    uses = ("input-range",)
    order = 350

    def run(self, ctx: CheckContext) -> Finding:
        doc = _doc(ctx)
        if doc is None:
            return _no_doc()
        if doc.value_range is None:
            return _not_stated("an input value range")
        low, high = doc.value_range
        details = _quote(doc, "value_range")
        graph = ctx.result("input-range")
        graph_says = ""
        if graph is not None and graph.status is Status.FAIL:
            graph_says = f" The graph agrees that the model is not made for [0, 1]: {graph.message}"
        if (low, high) == (0.0, 1.0):
            return Finding.passed("The documented input range is [0, 1]", **details)
        return Finding.failed(f"The documentation gives the input range [{low:g}, {high:g}]; the API's input is "
                              f"[0, 1].{graph_says}", **details)
