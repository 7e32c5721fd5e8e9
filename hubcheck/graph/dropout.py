"""Dropout on the returned tensor, read from the training-mode traces of ``__call__``.

From the returned tensor the walk goes back through ``Identity`` ops and out of
nested calls to the op that produces the output. It is dropout when that op is a
``Mul``, ``Select`` or ``SelectV2`` one of whose operands is built, through a few
mask-building ops only (compare, cast, floor, add, multiply, fill), from a random
op (``RandomUniform``, the stateless and stateful random ops): the pattern of
``tf.nn.dropout``, Keras ``Dropout`` (random uniform, compare, select or scale)
and ``GaussianDropout`` (multiply by random normal noise). The mask walk never
crosses a call or a layer (convolution, matmul...), so dropout further inside the
network is not reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hubcheck.graph.program import Body, Program, Trace
from hubcheck.results import JSONValue

RANDOM_OPS = frozenset({
    "RandomUniform", "RandomUniformInt", "RandomStandardNormal", "TruncatedNormal", "RandomGamma",
    "StatelessRandomUniform", "StatelessRandomUniformV2", "StatelessRandomNormal", "StatelessRandomNormalV2",
    "StatelessTruncatedNormal", "StatelessTruncatedNormalV2", "StatelessRandomUniformInt",
    "StatelessRandomUniformIntV2", "StatelessRandomUniformFullInt", "StatelessRandomUniformFullIntV2",
    "StatelessRandomBinomial", "StatefulUniform", "StatefulUniformInt", "StatefulUniformFullInt",
    "StatefulStandardNormal", "StatefulStandardNormalV2", "StatefulTruncatedNormal", "RandomShuffle",
})
COMPARE_OPS = frozenset({"GreaterEqual", "Greater", "Less", "LessEqual"})
MASK_OPS = COMPARE_OPS | frozenset({
    "Cast", "Identity", "Floor", "AddV2", "Add", "Mul", "Sub", "RealDiv", "Fill", "OnesLike", "ZerosLike",
    "Reshape", "ExpandDims", "BroadcastTo", "Snapshot", "LogicalAnd",
})
"""Ops a dropout mask is built from; the mask walk goes through these only."""

PASS_THROUGH = frozenset({"Identity", "IdentityN", "Snapshot", "StopGradient", "EnsureShape"})
OUTPUT_OPS = frozenset({"Mul", "SelectV2", "Select"})
MASK_DEPTH = 8


@dataclass(frozen=True)
class DropoutEvidence:
    """A trace whose returned tensor comes straight out of a dropout pattern."""

    trace: str
    function: str
    node: str
    op: str
    random_op: str
    random_node: str
    compare_op: str | None

    def describe(self) -> str:
        compare = f", {self.compare_op}" if self.compare_op else ""
        return (
            f"{self.trace} returns {self.op} {self.node!r} (in {self.function}) masked by "
            f"{self.random_op} {self.random_node!r}{compare}"
        )

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "trace": self.trace,
            "function": self.function,
            "node": self.node,
            "op": self.op,
            "random_op": self.random_op,
            "random_node": self.random_node,
            "compare_op": self.compare_op,
        }


def _output_producer(program: Program, body: Body, ref: str) -> tuple[Any, Body] | None:
    stack: list[tuple[Body, Any]] = []
    for _ in range(200):
        node, index = body.producer(ref)
        if node is None:
            if not stack or index < 0:
                return None
            caller, call_node = stack.pop()
            inputs = caller.data_inputs(call_node)
            if index >= len(inputs):
                return None
            body, ref = caller, inputs[index]
            continue
        callee = program.callee(node)
        if callee is not None:
            if index >= len(callee.rets):
                return None
            stack.append((body, node))
            body, ref = callee, callee.rets[index]
            continue
        if node.op in PASS_THROUGH:
            inputs = body.data_inputs(node)
            position = index if node.op == "IdentityN" else 0
            if position >= len(inputs):
                return None
            ref = inputs[position]
            continue
        return node, body
    return None


def _mask_source(body: Body, ref: str) -> tuple[Any | None, Any | None]:
    """(random node, compare node) among the mask-building ancestors of ``ref``, within this function."""
    random_node = compare_node = None
    seen: set[str] = set()
    frontier = [(ref, 0)]
    while frontier:
        current, depth = frontier.pop()
        node, _ = body.producer(current)
        if node is None or node.name in seen or depth > MASK_DEPTH:
            continue
        seen.add(node.name)
        if node.op in RANDOM_OPS:
            random_node = random_node or node
            continue
        if node.op not in MASK_OPS:
            continue
        if node.op in COMPARE_OPS:
            compare_node = compare_node or node
        frontier.extend((text, depth + 1) for text in body.data_inputs(node))
    return random_node, compare_node


def trace_dropout(program: Program, trace: Trace) -> DropoutEvidence | None:
    body = program.body(trace.function)
    if body is None or len(body.rets) != 1:
        return None
    found = _output_producer(program, body, body.rets[0])
    if found is None:
        return None
    node, where = found
    if node.op not in OUTPUT_OPS:
        return None
    for ref in where.data_inputs(node):
        random_node, compare_node = _mask_source(where, ref)
        if random_node is not None:
            return DropoutEvidence(
                trace=f"__call__({trace.describe()})",
                function=where.name,
                node=node.name,
                op=node.op,
                random_op=random_node.op,
                random_node=random_node.name,
                compare_op=compare_node.op if compare_node is not None else None,
            )
    return None


def output_dropout(program: Program) -> tuple[list[DropoutEvidence], int]:
    """Dropout evidence per training-mode trace, and how many training-mode traces were read."""
    traces = [trace for trace in program.traces if trace.training is True]
    found = [evidence for trace in traces if (evidence := trace_dropout(program, trace)) is not None]
    return found, len(traces)
