"""Whether calling a function can change what a later call computes: the ops it reaches that keep state.

The probe makes several inference calls at once only when none of them can: then each result is what
it would be alone, in any order (see :meth:`hubcheck.probe.Probe.call_each`). An op counts as keeping
state when TensorFlow registers it as stateful and it is not one of the few that only read (a variable,
a table); an op TensorFlow does not know counts too. Random ops are stateful (their generator
advances), and so are variable writes, ``Assert`` and everything that touches the outside world.
"""

from __future__ import annotations

from collections.abc import Iterable

from hubcheck.graph.program import Program, op_def

READ_ONLY_STATEFUL_OPS = frozenset({
    "ReadVariableOp", "VarHandleOp", "VariableShape", "ResourceGather", "ResourceGatherNd",
    "LookupTableFindV2", "LookupTableSizeV2",
    "StatefulPartitionedCall",  # a call: what it runs is walked like the rest
})


def state_keeping_op(program: Program, functions: Iterable[str]) -> str | None:
    """The first op reachable from the library functions ``functions`` that may keep state between calls,
    as ``"Op in function"``; None when there is none."""
    seen: set[str] = set()
    pending = list(functions)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        body = program.body(name)
        if body is None:
            return f"a call of {name}, which is not in the graph's library"
        for node in body.nodes:
            pending.extend(callee for _, callee in program.function_attrs(node))
            if node.op in program.library:
                pending.append(node.op)
                continue
            if node.op in READ_ONLY_STATEFUL_OPS:
                continue
            definition = op_def(node.op)
            if definition is None or definition.is_stateful:
                return f"{node.op} in {name}"
    return None


__all__ = ["READ_ONLY_STATEFUL_OPS", "state_keeping_op"]
