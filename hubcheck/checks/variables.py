"""The attributes a Reusable SavedModel exposes: variables, trainable_variables, regularization_losses."""

from __future__ import annotations

import math
from typing import Any

from hubcheck.context import CheckContext
from hubcheck.registry import Check
from hubcheck.results import Finding, one_line


def _is_variable(value: Any) -> bool:
    from hubcheck.tfimport import tensorflow

    return isinstance(value, tensorflow().Variable)


def _describe(value: Any) -> str:
    return getattr(value, "name", None) or type(value).__name__


def _as_list(value: Any) -> list[Any] | None:
    if isinstance(value, (list, tuple)):
        return list(value)
    try:  # restored lists are ListWrapper objects, which are sequences
        return list(value)
    except TypeError:
        return None


class VariablesCheck(Check):
    """``obj.variables`` is a list of the model's variables.

    Fails when the attribute is missing (a ``tf.Module`` saved without
    assigning it: its ``variables`` property is not saved), is not a
    list, or holds something other than ``tf.Variable`` objects.

    Fix: before saving, set ``obj.variables = list(model.variables)`` on the
    exported object (tf-keras models saved with tf.saved_model.save have it).
    """

    id = "variables"
    title = "obj.variables lists the variables"
    requires = ("callable",)  # a TF1-style export has an empty list that says nothing
    order = 150

    def run(self, ctx: CheckContext) -> Finding:
        root = ctx.model.root
        if not hasattr(root, "variables"):
            return Finding.failed(
                "The loaded object has no variables attribute; set obj.variables = [...] before saving."
            )
        items = _as_list(root.variables)
        if items is None:
            return Finding.failed(f"obj.variables is a {type(root.variables).__name__}, not a list")
        not_variables = [_describe(item) for item in items if not _is_variable(item)]
        if not_variables:
            return Finding.failed(
                f"obj.variables holds {len(not_variables)} item(s) that are not tf.Variable: "
                f"{', '.join(not_variables[:5])}",
                not_variables=not_variables,
            )
        return Finding.passed(f"obj.variables lists {len(items)} variable(s)", count=len(items))


class TrainableVariablesCheck(Check):
    """If present, ``obj.trainable_variables`` lists trainable variables that all appear in ``obj.variables``.

    Fails when it is not a list, holds non-variables or variables created with
    ``trainable=False``, or names a variable missing from ``obj.variables``.
    Passes (not fine-tunable) when the attribute is absent.

    Fix: set ``obj.trainable_variables = [v for v in obj.variables if v.trainable]``.
    """

    id = "trainable-variables"
    title = "obj.trainable_variables is consistent"
    requires = ("variables",)
    order = 160

    def run(self, ctx: CheckContext) -> Finding:
        root = ctx.model.root
        if not hasattr(root, "trainable_variables"):
            return Finding.passed("No trainable_variables attribute: the model is not fine-tunable")
        items = _as_list(root.trainable_variables)
        if items is None:
            return Finding.failed(f"obj.trainable_variables is a {type(root.trainable_variables).__name__}, not a list")
        problems = []
        not_variables = [_describe(item) for item in items if not _is_variable(item)]
        if not_variables:
            problems.append(f"not tf.Variable: {', '.join(not_variables[:5])}")
        variables = [v for v in items if _is_variable(v)]
        not_trainable = [v.name for v in variables if not v.trainable]
        if not_trainable:
            problems.append(f"created with trainable=False: {', '.join(not_trainable[:5])}")
        known = {id(v) for v in (_as_list(getattr(root, "variables", [])) or [])}
        missing = [v.name for v in variables if id(v) not in known]
        if missing:
            problems.append(f"missing from obj.variables: {', '.join(missing[:5])}")
        if problems:
            return Finding.failed("obj.trainable_variables has " + "; ".join(problems),
                                  not_variables=not_variables, not_trainable=not_trainable, missing=missing)
        return Finding.passed(f"{len(items)} trainable variable(s), all in obj.variables", count=len(items))


class RegularizationLossesCheck(Check):
    """If present, every item of ``obj.regularization_losses`` is a zero-argument callable returning a finite float scalar.

    Fails when an item is not callable, needs arguments, raises, or returns a
    non-scalar, non-float or non-finite value. Skipped when the attribute is
    absent.

    Fix: store ``tf.function``s with ``input_signature=[]`` that return a
    scalar float32 loss, e.g. ``lambda: 1e-4 * tf.nn.l2_loss(kernel)``.
    """

    id = "regularization-losses"
    title = "Regularization losses are scalar callables"
    requires = ("callable",)
    order = 170

    def run(self, ctx: CheckContext) -> Finding:
        root = ctx.model.root
        if not hasattr(root, "regularization_losses"):
            return Finding.skipped("not applicable: no regularization_losses attribute")
        items = _as_list(root.regularization_losses)
        if items is None:
            return Finding.failed(f"obj.regularization_losses is a {type(root.regularization_losses).__name__}, not a list")
        problems = [problem for index, item in enumerate(items) if (problem := _loss_problem(index, item))]
        if problems:
            return Finding.failed("; ".join(problems[:5]), problems=problems)
        return Finding.passed(f"{len(items)} regularization loss(es), each a finite float scalar", count=len(items))


def _loss_problem(index: int, item: Any) -> str | None:
    if not callable(item):
        return f"item {index} is a {type(item).__name__}, not a callable"
    try:
        value = item()
    except Exception as exc:
        return f"item {index}() raised {one_line(exc)}"
    dtype = getattr(value, "dtype", None)
    shape = getattr(value, "shape", None)
    if dtype is None or not getattr(dtype, "is_floating", False):
        return f"item {index}() returned {getattr(dtype, 'name', type(value).__name__)}, not a float tensor"
    if shape is None or shape.rank != 0:
        return f"item {index}() returned shape {list(shape) if shape is not None else '?'}, not a scalar"
    number = float(value.numpy())
    if not math.isfinite(number):
        return f"item {index}() returned {number}"
    return None
