"""Hyperparameter keyword arguments of ``__call__``: optional, passable, and as documented."""

from __future__ import annotations

import re
from typing import Any

from hubcheck.context import CheckContext
from hubcheck.probe import preserved_variables
from hubcheck.registry import Check
from hubcheck.results import Finding, JSONValue, one_line

CONSUMER_ARGUMENTS = frozenset({"training", "mask"})
"""Arguments that belong to the API or to Keras's own ``__call__(inputs, training=None, mask=None)``,
not hyperparameters."""

_TENSOR = re.compile(r"^[a-z0-9_]+\[.*\]$")  # how the reader spells a traced TensorSpec: "float32[]"


class HparamArgumentsCheck(Check):
    """Extra keyword arguments of ``__call__`` (hyperparameters) are optional and take the documented values.

    Fails when an extra argument has no default (so ``obj(images)`` alone fails), when a
    documented argument does not exist or fails with its documented value (called directly
    and through ``hub.KerasLayer(arguments=...)``, in inference and in one training-mode call),
    or when an argument was traced only as a Python constant while the documentation shows
    another value. Warns for an argument traced only as a Python constant when there is no
    documentation: no other value can ever be passed.

    Fix: give each hyperparameter a default and trace it as a tensor, e.g.
    ``input_signature=[..., tf.TensorSpec([], tf.float32)]``, so any value can be passed.
    """

    id = "hparam-arguments"
    title = "Hyperparameter arguments are optional and work"
    requires = ("callable",)
    order = 360

    def run(self, ctx: CheckContext) -> Finding:
        program = ctx.model.program
        names = [n for n in (program.call_argument_names[1:] if program else []) if n not in CONSUMER_ARGUMENTS]
        defaults = {name: value for name, value in (program.call_argument_defaults if program else {}).items()
                    if name not in CONSUMER_ARGUMENTS}
        traced: dict[str, list[JSONValue]] = {}
        for trace in ctx.model.traces:
            for name, value in trace.extra_kwargs.items():
                traced.setdefault(name, []).append(value)
        doc = ctx.options.documentation
        documented: dict[str, JSONValue] = dict(doc.arguments) if doc is not None else {}
        if not names and not documented:
            return Finding.skipped("not applicable: __call__ takes no hyperparameter arguments")
        failures: list[str] = []
        warnings: list[str] = []
        for name in names:
            if name not in defaults:
                failures.append(f"{name} has no default, so obj(images) without it fails")
            values = traced.get(name, [])
            constants = [value for value in values if not (isinstance(value, str) and _TENSOR.match(value))]
            if values and len(constants) == len(values):
                shown = ", ".join(sorted({repr(value) for value in constants}))
                if name in documented and documented[name] not in constants:
                    failures.append(f"{name} was traced only as the Python constant(s) {shown}, so the documented "
                                    f"value {documented[name]!r} can never be passed")
                else:
                    warnings.append(f"{name} was traced only as the Python constant(s) {shown}: no other value can "
                                    "be passed")
        for name, value in documented.items():
            if name not in names:
                failures.append(f"the documented argument {name} is not an argument of __call__")
                continue
            problem = _call_with(ctx, name, value)
            if problem:
                failures.append(problem)
        details: dict[str, JSONValue] = {"arguments": names, "defaults": defaults, "documented": documented,
                                         "traced": {k: list(v) for k, v in traced.items()}}
        if failures:
            return Finding.failed("; ".join(failures) + ".", **details)
        if warnings:
            return Finding.warned("; ".join(warnings) + ". Trace hyperparameters as tensors "
                                  "(tf.TensorSpec([], tf.float32)).", **details)
        shown = ", ".join(names) if names else "none"
        return Finding.passed(f"Hyperparameter arguments ({shown}) have defaults"
                              + (f" and take their documented values ({', '.join(documented)})" if documented else ""),
                              **details)


def _call_with(ctx: CheckContext, name: str, value: JSONValue) -> str | None:
    """Why calling with ``name=value`` fails (directly or through hub.KerasLayer), or None."""
    from hubcheck.tfimport import tensorflow

    tf = tensorflow()
    root = ctx.model.root
    key = ctx.plan.key(ctx.plan.small_batch, ctx.plan.training_size)
    images = tf.constant(ctx.probe.images(key))
    modes: list[dict[str, Any]] = [{}]
    if ctx.model.has_training_argument:
        modes = [{"training": False}, {"training": True}]
    for mode in modes:
        where = f"obj(images, {name}={value!r}" + "".join(f", {k}={v}" for k, v in mode.items()) + ")"
        try:
            with preserved_variables(root):
                root(images, **{name: value}, **mode)
        except Exception as exc:  # noqa: BLE001 - the model's failure is the finding
            return f"{where} fails: {one_line(exc)}"
    try:
        import tensorflow_hub as hub

        layer = hub.KerasLayer(root, arguments={name: value}, trainable=ctx.model.fine_tunable)
        for mode in modes:
            with preserved_variables(root):
                layer(images, **mode)
    except Exception as exc:  # noqa: BLE001
        return f"hub.KerasLayer(obj, arguments={{{name!r}: {value!r}}}) fails: {one_line(exc)}"
    return None
