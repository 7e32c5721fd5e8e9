"""Which pixel range does the graph expect? Fold the first element-wise affine steps into ``scale * x + offset``.

The walk starts at the image argument of a ``__call__`` trace (or at a signature's
input in the main graph) and follows the single data path forward, stepping into
nested calls (``PartitionedCall``/``StatefulPartitionedCall``, a node whose op is
a library function) and back out through their returns. It folds

* ``Mul``, ``RealDiv``/``Div``, ``Sub``, ``AddV2``/``Add``, ``BiasAdd``, ``Neg``
  by a constant (what Keras ``Rescaling`` and ``Normalization`` compile to),
* an inference-mode ``FusedBatchNorm*`` with constant statistics,

and passes through ops that keep the value range (``Cast`` to a float type,
``Identity``, reshapes, slices, ``Pad``, resizes, average/max pooling), which it
lists among the steps. It stops at the first other op. A constant may be a
``Const`` node, a captured constant, or a captured variable whose value is read
from the checkpoint as data (``tf.train.load_checkpoint``); nothing is executed.

:func:`judge` then says whether ``scale * x + offset`` is made for [0, 1] or for
[0, 255] inputs, or that it cannot tell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any

import numpy as np

from hubcheck.graph.program import (
    CONTROL_FLOW_OPS,
    MAX_FOLDED_ELEMENTS,
    Body,
    Program,
    Trace,
    checkpoint_value,
    const_value,
)
from hubcheck.results import JSONValue

MAX_STEPS = 400
MAX_CONST_DEPTH = 60

SHAPE_ONLY = frozenset({"Shape", "ShapeN", "Size", "Rank"})
"""Consumers that read only the shape of the image: they do not branch the data path."""

RANGE_PRESERVING = frozenset({
    "Identity", "Snapshot", "StopGradient", "PreventGradient", "EnsureShape", "CheckNumerics", "CheckNumericsV2",
    "Reshape", "ExpandDims", "Squeeze", "StridedSlice", "Slice", "Pad", "PadV2", "MirrorPad", "ReverseV2",
    "Transpose", "Tile", "DepthToSpace", "SpaceToDepth", "ResizeBilinear", "ResizeNearestNeighbor", "ResizeArea",
    "ScaleAndTranslate", "CropAndResize", "AvgPool", "MaxPool", "MaxPoolV2", "Cast", "IdentityN",
})
"""Ops that move, pick, pad, resize or average pixels without changing the value scale."""

INTEGER_TYPES = {3, 4, 5, 6, 9, 17, 22, 23}  # int32, uint8, int16, int8, int64, uint16, uint32, uint64 (DataType)


@dataclass(frozen=True)
class Step:
    """One op on the image path: folded into the transform, or passed through."""

    op: str
    node: str
    function: str
    effect: str
    folded: bool = False  # True: part of scale/offset; False: passed through, keeping the value range

    def to_json(self) -> dict[str, JSONValue]:
        return {"op": self.op, "node": self.node, "function": self.function, "effect": self.effect,
                "folded": self.folded}


@dataclass
class RangeAnalysis:
    """The folded transform of one entry point and what it says about the expected input range."""

    entry: str  # e.g. "__call__(float32[?,?,?,3], training=False)" or "signature 'serving_default' input 'x'"
    function: str
    scale: list[float] = field(default_factory=lambda: [1.0])
    offset: list[float] = field(default_factory=lambda: [0.0])
    steps: list[Step] = field(default_factory=list)
    stop: dict[str, JSONValue] | None = None  # where the walk ended and why
    settled: bool = True  # False: the walk stopped before the first non-affine op (branch, unknown operand...)
    expects: str = "unclear"  # "0-1", "0-255" or "unclear"
    reason: str = ""

    @property
    def folded(self) -> bool:
        return any(step.folded for step in self.steps)

    def formula(self) -> str:
        return f"{_numbers(self.scale)} * x + {_numbers(self.offset)}"

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "entry": self.entry,
            "function": self.function,
            "transform": self.formula(),
            "scale": [float(v) for v in self.scale],
            "offset": [float(v) for v in self.offset],
            "maps_0_1_to": _interval(self.scale, self.offset, 1.0),
            "maps_0_255_to": _interval(self.scale, self.offset, 255.0),
            "steps": [step.to_json() for step in self.steps],
            "stop": self.stop,
            "settled": self.settled,
            "expects": self.expects,
            "reason": self.reason,
        }


def _numbers(values: list[float]) -> str:
    rounded = [float(f"{v:.4g}") for v in values]
    if len(set(rounded)) == 1:
        return f"{rounded[0]:g}"
    return "[" + ", ".join(f"{v:g}" for v in rounded) + "]"


def _interval(scale: list[float], offset: list[float], top: float) -> list[list[float]]:
    s, o = np.broadcast_arrays(np.asarray(scale, float), np.asarray(offset, float))
    low, high = np.minimum(o, s * top + o), np.maximum(o, s * top + o)
    return [[round(float(a), 4), round(float(b), 4)] for a, b in zip(low, high)]


# -- judging a transform ----------------------------------------------------------------------------


def judge(scale: list[float] | np.ndarray, offset: list[float] | np.ndarray) -> tuple[str, str]:
    """``("0-1" | "0-255" | "unclear", reason)`` for ``y = scale * x + offset`` (per channel or scalar).

    Networks are trained on inputs of magnitude about 1 ([0, 1], [-1, 1], or standardised
    values within a few units). If the transform brings [0, 255] to such a range while [0, 1]
    would become a sliver (span < 0.05), or if it subtracts a mean on the 0-255 scale
    (the input value that maps to 0 is between 20 and 300), it was made for [0, 255].
    If it brings [0, 1] to such a range (span 0.5..20) around an input centre within
    [-2, 2], or scales [0, 1] up by 127..300 around a centre inside [-0.5, 1.5] (``x * 255``,
    perhaps minus a 0-255 mean, in front of a network trained on pixels), it was made for [0, 1].
    The identity (no rescaling) counts as [0, 1].
    """
    s, o = np.broadcast_arrays(np.atleast_1d(np.asarray(scale, float)), np.atleast_1d(np.asarray(offset, float)))
    if not (np.all(np.isfinite(s)) and np.all(np.isfinite(o))) or np.any(s == 0):
        return "unclear", "the folded transform is degenerate (zero or non-finite scale)"
    if np.allclose(s, 1.0) and np.allclose(o, 0.0):
        return "0-1", "no rescaling before the first layer: nothing in the graph expects [0, 255]"
    span1, span255 = np.abs(s), np.abs(s) * 255.0
    centre = -o / s
    low255, high255 = np.minimum(o, s * 255 + o), np.maximum(o, s * 255 + o)
    if np.all((span255 >= 0.5) & (span255 <= 10.0)) and np.all(span1 < 0.05):
        return "0-255", (
            f"it maps [0, 255] to [{low255.min():.3g}, {high255.max():.3g}] but [0, 1] to a sliver "
            f"{float(span1.max()):.3g} wide"
        )
    if np.any((np.abs(centre) >= 20.0) & (np.abs(centre) <= 300.0)):
        return "0-255", f"it centres the input on {_numbers(list(centre))}, a mean on the 0-255 scale"
    low1, high1 = np.minimum(o, s + o), np.maximum(o, s + o)
    if np.all((span1 >= 0.5) & (span1 <= 20.0)) and np.all(np.abs(centre) <= 2.0):
        return "0-1", f"it maps [0, 1] to [{low1.min():.3g}, {high1.max():.3g}]"
    if np.all((span1 >= 127.0) & (span1 <= 300.0)) and np.all((centre >= -0.5) & (centre <= 1.5)):
        # Scaling [0, 1] up around its own middle: the x*255 (minus a 0-255 mean) that a wrapper
        # adds in front of a network trained on 0-255 pixels. [0, 255] inputs would land far away.
        return "0-1", (
            f"it scales [0, 1] up to [{low1.min():.3g}, {high1.max():.3g}], as a wrapper around a network "
            "trained on 0-255 pixels does"
        )
    return "unclear", "the folded transform fits neither [0, 1] nor [0, 255] inputs"


# -- walking the graph --------------------------------------------------------------------------------

_Stack = tuple[tuple[Body, Any], ...]  # (caller body, call node), innermost last


class _Unsettled(Exception):
    pass


class _Walk:
    def __init__(self, program: Program, trace: Trace | None) -> None:
        self.program = program
        self.trace = trace

    # constants ------------------------------------------------------------------------------------

    def constant(self, body: Body, ref: str, stack: _Stack, depth: int = 0) -> np.ndarray | None:
        if depth > MAX_CONST_DEPTH:
            return None
        node, index = body.producer(ref)
        if node is None:
            return self._argument(body, index, stack, depth)
        inputs = body.data_inputs(node)

        def arg(i: int) -> np.ndarray | None:
            return self.constant(body, inputs[i], stack, depth + 1) if i < len(inputs) else None

        op = node.op
        try:
            if op == "Const":
                return const_value(node)
            if op in ("Identity", "Snapshot", "StopGradient", "ReadVariableOp", "EnsureShape", "CheckNumerics",
                      "CheckNumericsV2", "BroadcastTo", "PreventGradient"):
                return arg(0)
            if op == "IdentityN":
                return arg(index)
            if op == "Cast":
                value = arg(0)
                return None if value is None else value.astype(np.float64)
            if op == "Reshape":
                value, shape = arg(0), arg(1)
                return None if value is None or shape is None else np.reshape(value, shape.astype(int))
            if op == "ExpandDims":
                value, axis = arg(0), arg(1)
                return None if value is None or axis is None else np.expand_dims(value, int(axis))
            if op == "Squeeze":
                value = arg(0)
                dims = tuple(node.attr["squeeze_dims"].list.i) if "squeeze_dims" in node.attr else ()
                return None if value is None else (np.squeeze(value, axis=dims) if dims else np.squeeze(value))
            if op == "Pack":
                values = [arg(i) for i in range(len(inputs))]
                if any(v is None for v in values):
                    return None
                present = [v for v in values if v is not None]
                if sum(np.size(v) for v in present) > MAX_FOLDED_ELEMENTS:
                    return None
                return np.stack(present, axis=int(node.attr["axis"].i) if "axis" in node.attr else 0)
            if op in _BINARY:
                a, b = arg(0), arg(1)
                if a is None or b is None or _elements(np.broadcast_shapes(np.shape(a), np.shape(b))) > MAX_FOLDED_ELEMENTS:
                    return None
                return _BINARY[op](np.asarray(a, float), np.asarray(b, float))
            if op in _UNARY:
                a = arg(0)
                return None if a is None else _UNARY[op](np.asarray(a, float))
            callee = self.program.callee(node)
            if callee is not None and index < len(callee.rets):
                return self.constant(callee, callee.rets[index], (*stack, (body, node)), depth + 1)
            if not body.is_function and op in ("VariableV2", "Variable", "VarHandleOp"):
                return self._checkpoint(node)
        except (ValueError, TypeError, FloatingPointError):
            return None
        return None

    def _argument(self, body: Body, index: int, stack: _Stack, depth: int) -> np.ndarray | None:
        if index < 0:
            return None
        if stack:
            caller, call_node = stack[-1]
            inputs = caller.data_inputs(call_node)
            return self.constant(caller, inputs[index], stack[:-1], depth + 1) if index < len(inputs) else None
        bound = self.trace.bound_inputs if self.trace is not None else ()
        first_capture = len(body.args) - len(bound)
        if bound and index >= first_capture:
            return self.program.capture_value(bound[index - first_capture])
        return None

    def _checkpoint(self, node: Any) -> np.ndarray | None:
        reader = self.program.checkpoint_reader
        if reader is None:
            return None
        shared = node.attr["shared_name"].s.decode() if "shared_name" in node.attr else ""
        keys = [key for key in (shared, node.name) if key and reader.has_tensor(key)]
        if not keys:
            return None
        return checkpoint_value(reader, keys[0])

    # the forward walk ----------------------------------------------------------------------------

    def run(self, analysis: RangeAnalysis, body: Body, ref: str) -> RangeAnalysis:
        scale, offset = np.ones(1), np.zeros(1)
        stack: _Stack = ()

        def finish(stop: dict[str, JSONValue], settled: bool) -> RangeAnalysis:
            analysis.scale, analysis.offset = [float(v) for v in scale], [float(v) for v in offset]
            analysis.stop, analysis.settled = stop, settled
            return analysis

        for _ in range(MAX_STEPS):
            uses = [use for use in body.consumers(ref) if use.node.op not in SHAPE_ONLY]
            rets = body.ret_positions(ref)
            if not uses and rets:
                if not stack:
                    return finish({"reason": "reaches the returned tensor (no non-affine op on the image path)",
                                   "function": body.name}, True)
                caller, call_node = stack[-1]
                stack = stack[:-1]
                body, ref = caller, caller.output_ref(call_node, rets[0])
                continue
            if not uses:
                if not body.is_function:
                    return finish({"reason": "reaches an output of the graph (no non-affine op on the image path)",
                                   "function": body.name}, True)
                return finish({"reason": "the image is not used", "function": body.name}, False)
            if len(uses) > 1 or rets:
                names = ", ".join(f"{use.node.name} ({use.node.op})" for use in uses[:4])
                firsts = [self._first_op(body, use, stack) for use in uses]
                if not rets and all(first is not None and _not_affine(first[0]) for first in firsts):
                    ops = sorted({f"{first[0].op}" for first in firsts if first is not None})
                    return finish({"ops": ops, "function": body.name,
                                   "reason": f"the image feeds {len(uses)} ops ({names}), none of them an "
                                             "element-wise affine step"}, True)
                return finish({"reason": f"the image feeds {len(uses) + len(rets)} ops ({names}); "
                                         "the path branches", "function": body.name}, False)
            node, position = uses[0].node, uses[0].position
            where = {"op": node.op, "node": node.name, "function": body.name}
            callee = self.program.callee(node)
            if callee is not None:
                if position >= len(callee.args):
                    return finish({**where, "reason": "a call whose arguments do not match its function"}, False)
                stack = (*stack, (body, node))
                body, ref = callee, callee.args[position]
                continue
            if node.op in CONTROL_FLOW_OPS:
                return finish({**where, "reason": "the image enters a tf.cond/tf.while_loop"}, False)
            if node.op in RANGE_PRESERVING:
                if node.op == "Cast" and node.attr["DstT"].type in INTEGER_TYPES:
                    return finish({**where, "reason": "the image is cast to an integer type"}, True)
                if position != 0 and node.op != "IdentityN":
                    return finish({**where, "reason": "the image is a shape or index operand"}, False)
                if node.op not in ("Identity", "IdentityN", "Snapshot", "StopGradient", "EnsureShape"):
                    analysis.steps.append(Step(node.op, node.name, body.name, "keeps the value range"))
                ref = body.output_ref(node, position if node.op == "IdentityN" else 0)
                continue
            try:
                folded = self._fold(node, position, body, stack, scale, offset)
            except _Unsettled as exc:
                return finish({**where, "reason": str(exc)}, False)
            except (ValueError, TypeError) as exc:  # shapes that do not broadcast
                return finish({**where, "reason": f"cannot fold this step ({exc})"}, False)
            if folded is None:
                return finish({**where, "reason": "first op that is not an element-wise affine transform"}, True)
            scale, offset, effect = folded
            analysis.steps.append(Step(node.op, node.name, body.name, effect, folded=True))
            ref = body.output_ref(node, 0)
        return finish({"reason": f"gave up after {MAX_STEPS} steps"}, False)

    def _first_op(self, body: Body, use: Any, stack: _Stack) -> tuple[Any, Body] | None:
        """The first non-call op a use leads to (following calls into their functions), if the path does not branch."""
        for _ in range(50):
            callee = self.program.callee(use.node)
            if callee is None:
                return use.node, body
            if use.position >= len(callee.args):
                return None
            uses = [u for u in callee.consumers(callee.args[use.position]) if u.node.op not in SHAPE_ONLY]
            if len(uses) != 1:
                return None
            body, use = callee, uses[0]
        return None

    def _fold(self, node: Any, position: int, body: Body, stack: _Stack, scale: np.ndarray,
              offset: np.ndarray) -> tuple[np.ndarray, np.ndarray, str] | None:
        """The transform after ``node``, or None when ``node`` is not element-wise affine in the image."""
        op = node.op
        inputs = body.data_inputs(node)
        if op == "Neg":
            return -scale, -offset, "negate"
        if op in BATCH_NORM_OPS:
            if position != 0 or ("is_training" in node.attr and node.attr["is_training"].b):
                return None  # training mode normalises with batch statistics: not a fixed transform
            values = [self.constant(body, inputs[i], stack) if i < len(inputs) else None for i in range(1, 5)]
            if any(v is None for v in values):
                raise _Unsettled(f"{op} with statistics that are not constants")
            gamma, beta, mean, variance = (_per_channel(v) for v in values)
            if gamma is None or beta is None or mean is None or variance is None:
                raise _Unsettled(f"{op} with statistics that are not per channel")
            epsilon = node.attr["epsilon"].f if "epsilon" in node.attr else 1e-3
            factor = gamma / np.sqrt(variance + epsilon)
            return scale * factor, (offset - mean) * factor + beta, f"batch norm (inference): x * {_numbers(list(factor))} + ..."
        if op not in AFFINE_BINARY:
            return None
        other = 1 - position
        if not 0 <= other < len(inputs):
            return None
        if op in ("RealDiv", "Div", "DivNoNan") and position != 0:
            return None  # the image in the denominator
        value = self.constant(body, inputs[other], stack)
        if value is None:
            raise _Unsettled(
                f"{op} by an operand that is not a constant (computed from the image, or a value hubcheck cannot read)"
            )
        c = _per_channel(value)
        if c is None:
            raise _Unsettled(f"{op} by a constant of shape {list(np.shape(value))} that is not per channel")
        text = _numbers([float(v) for v in c])
        if op == "Mul":
            return scale * c, offset * c, f"× {text}"
        if op in ("RealDiv", "Div", "DivNoNan"):
            return scale / c, offset / c, f"÷ {text}"
        if op == "Sub":
            if position == 0:
                return scale, offset - c, f"- {text}"
            return -scale, c - offset, f"{text} - x"
        return scale, offset + c, f"+ {text}"


BATCH_NORM_OPS = frozenset({"FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"})
AFFINE_BINARY = frozenset({"Mul", "RealDiv", "Div", "DivNoNan", "Sub", "AddV2", "Add", "BiasAdd", "BiasAddV1"})


def _elements(shape: tuple[int, ...]) -> int:
    count = 1
    for dim in shape:
        count *= int(dim)
    return count


def _not_affine(node: Any) -> bool:
    return (node.op not in AFFINE_BINARY and node.op not in BATCH_NORM_OPS and node.op not in RANGE_PRESERVING
            and node.op not in CONTROL_FLOW_OPS and node.op != "Neg")


def _per_channel(value: Any) -> np.ndarray | None:
    """A scalar or per-channel (last axis) constant as a 1-D array; None for anything else."""
    array = np.asarray(value, dtype=float)
    if array.size == 1:
        return array.reshape(1)
    if array.ndim >= 1 and all(dim == 1 for dim in array.shape[:-1]):
        return array.reshape(-1)
    return None


_BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "Mul": np.multiply, "RealDiv": np.divide, "Div": np.divide, "Sub": np.subtract, "AddV2": np.add,
    "Add": np.add, "Maximum": np.maximum, "Minimum": np.minimum, "Pow": np.power,
}
_UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "Sqrt": np.sqrt, "Rsqrt": lambda a: 1.0 / np.sqrt(a), "Reciprocal": lambda a: 1.0 / a,
    "Inv": lambda a: 1.0 / a, "Neg": np.negative, "Square": np.square, "Abs": np.abs,
}



# -- entry points -------------------------------------------------------------------------------------


def _conclude(analysis: RangeAnalysis) -> RangeAnalysis:
    expects, reason = judge(analysis.scale, analysis.offset)
    stop = analysis.stop or {}
    if not analysis.settled:
        if expects == "0-255":
            reason = f"{reason} (folded before the walk stopped: {stop.get('reason')})"
        else:
            so_far = f"; folded so far: {analysis.formula()}" if analysis.folded else ""
            expects, reason = "unclear", f"{stop.get('reason')}{so_far}"  # the check says it does not settle
    elif not analysis.folded and stop.get("op"):
        reason = f"no rescaling before {stop['op']} {stop.get('node')!r}: nothing in the graph expects [0, 255]"
    elif not analysis.folded and stop.get("ops"):
        reason = (f"no rescaling before the ops the image feeds ({', '.join(map(str, stop['ops']))}): "
                  "nothing in the graph expects [0, 255]")
    analysis.expects, analysis.reason = expects, reason
    return analysis


def analyze_trace(program: Program, trace: Trace) -> RangeAnalysis:
    """Fold the image path of one ``__call__`` trace."""
    analysis = RangeAnalysis(entry=f"__call__({trace.describe()})", function=trace.function)
    body = program.body(trace.function)
    if body is None or not body.args:
        analysis.settled, analysis.expects = False, "unclear"
        analysis.reason = f"the function {trace.function} is not in the library"
        return analysis
    if trace.image is None:
        analysis.settled, analysis.expects = False, "unclear"
        analysis.reason = f"the first argument is a {trace.first_argument}, not one image tensor"
        return analysis
    if trace.image.dtype != "float32":
        analysis.settled, analysis.expects = False, "unclear"
        analysis.reason = f"the image input is {trace.image.dtype}, not float32"
        return analysis
    return _conclude(_Walk(program, trace).run(analysis, body, body.args[0]))


def analyze_call(program: Program) -> list[RangeAnalysis]:
    """One analysis per float32 ``__call__`` trace, inference-mode traces first.

    Training-mode traces are analysed only when there is no other: they hold data
    augmentation and batch statistics that are not part of the input contract.
    """
    traces = [t for t in program.traces if t.image is not None and t.image.dtype == "float32"]
    inference = [t for t in traces if t.training is not True]
    return [analyze_trace(program, trace) for trace in (inference or traces or program.traces)]


def analyze_signatures(program: Program) -> list[RangeAnalysis]:
    """One analysis per signature input of dtype float (TF1 exports have no ``__call__`` to start from)."""
    results = []
    for name, signature in sorted(program.meta_graph.signature_def.items()):
        if name.startswith("__"):
            continue
        for key, info in sorted(signature.inputs.items()):
            if info.dtype != 1:  # DT_FLOAT
                continue
            analysis = RangeAnalysis(entry=f"signature {name!r} input {key!r}", function="<main graph>")
            graph = program.graph
            ref = graph.canonical(info.name)
            if graph.producer(ref)[0] is None:
                analysis.settled, analysis.expects = False, "unclear"
                analysis.reason = f"the input tensor {info.name} is not in the graph"
                results.append(analysis)
                continue
            results.append(_conclude(_Walk(program, None).run(analysis, graph, ref)))
    return results
