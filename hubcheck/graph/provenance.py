"""Where a string tensor of a SavedModel comes from: the file-name arguments of the few ops the gate allows.

Two kinds of file-touching op are normal in a SavedModel: the saver's checkpoint
ops, whose file name is the saver's filename tensor (fed by the loader with the
model's own ``variables/variables``), and a vocabulary table filled from one of
the model's assets. Both are allowed only when their file-name input provably
comes from there. :class:`Provenance` follows a tensor backwards through the few
ops that pass a file name along (``Identity``, ``StringJoin``, ``Select``,
``ShardedFilename``, ``Pack``, a variable assigned once from an asset path),
across function boundaries through every call site and the object graph's
bindings, and returns the set of :class:`Origin` it may come from. Anything it
cannot follow is an ``unresolved`` origin, and the caller refuses.

The work is bounded: results are memoised per tensor, and a query that needs
more than :data:`MAX_STEPS` steps is unresolved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from hubcheck.graph.program import CALL_OPS, Body, Program

MAX_STEPS = 20_000
"""Steps one origin query may take before giving up (unresolved): a hostile graph cannot make it slow."""

ASSET, SAVER_FILENAME, CONST, UNRESOLVED = "asset", "saver-filename", "const", "unresolved"


@dataclass(frozen=True)
class Origin:
    kind: str  # ASSET, SAVER_FILENAME, CONST or UNRESOLVED
    detail: str  # the asset file name, the constant's text, or why it is unresolved

    def describe(self) -> str:
        if self.kind == ASSET:
            return f"the asset {self.detail!r}"
        if self.kind == SAVER_FILENAME:
            return "the saver's filename tensor"
        if self.kind == CONST:
            return f"the constant {self.detail!r}"
        return self.detail


PASS_THROUGH = frozenset({"Identity", "Snapshot", "StopGradient", "PlaceholderWithDefault"})


class _Budget(Exception):
    pass


class Provenance:
    """Origins of tensors in one :class:`Program` (one MetaGraph)."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self._memo: dict[tuple[str, str], frozenset[Origin]] = {}
        self._rooted_memo: dict[tuple[str, str], str | None] = {}
        self._steps = 0
        # Which main-graph call sites may pass a value on: set per query kind (see origins()/rooted()).
        self._site_problem: Callable[[Any], str | None] = lambda node: None

    # -- indexes ----------------------------------------------------------------------------------

    @cached_property
    def call_sites(self) -> dict[str, list[tuple[Body, Any, int]]]:
        """function name -> ``(caller body, call node, offset of the function's first argument in the inputs)``.

        Plain calls pass their inputs in order. Any other function-valued attribute
        (``If``/``While``/``Case`` branches, ``api_implements`` swaps) binds
        arguments in ways this reader does not follow: those call sites get offset
        -1, which makes every argument of the function unresolved.
        """
        sites: dict[str, list[tuple[Body, Any, int]]] = {}
        bodies = [self.program.graph] + [b for b in (self.program.body(n) for n in self.program.library) if b]
        for body in bodies:
            for node in body.nodes:
                if node.op in self.program.library:
                    sites.setdefault(node.op, []).append((body, node, 0))
                for attr, name in Program.function_attrs(node):
                    offset = 0 if node.op in CALL_OPS and attr == "f" else -1
                    sites.setdefault(name, []).append((body, node, offset))
        for members in self.program_groups.values():
            for name in members:
                for other in members:
                    if other != name:
                        sites.setdefault(name, []).extend((b, n, -1) for b, n, _ in sites.get(other, []))
        return sites

    @cached_property
    def program_groups(self) -> dict[str, list[str]]:
        """``api_implements`` value -> the library functions carrying it (grappler may swap any for any)."""
        return implementation_groups(self.program)

    @cached_property
    def variable_handles(self) -> dict[tuple[str, str], list[str]]:
        """(container, shared_name) -> every variable-handle node, in the main graph and every function."""
        handles: dict[tuple[str, str], list[str]] = {}
        bodies = [self.program.graph] + [b for b in (self.program.body(n) for n in self.program.library) if b]
        for body in bodies:
            for node in body.nodes:
                if node.op in ("VarHandleOp", "VariableV2", "Variable", "_VarHandlesOp"):
                    handles.setdefault(_resource_key(node), []).append(f"{body.name}/{node.name}")
        return handles

    @cached_property
    def asset_tensors(self) -> dict[str, str]:
        """Main-graph tensor name -> asset file name, from ``asset_file_def`` (what the TF1 loader feeds)."""
        found = {}
        for asset in self.program.meta_graph.asset_file_def:
            name = asset.tensor_info.name
            found[name if ":" in name else f"{name}:0"] = asset.filename
        return found

    @cached_property
    def saver_filename(self) -> str | None:
        name = self.program.meta_graph.saver_def.filename_tensor_name
        if not name:
            return None
        return name if ":" in name else f"{name}:0"

    @cached_property
    def bindings(self) -> dict[str, tuple[int, ...]]:
        """Concrete function name -> the object-graph node ids bound to its captured (last) arguments."""
        return {name: tuple(saved.bound_inputs) for name, saved in self.program.object_graph.concrete_functions.items()}

    # -- queries ----------------------------------------------------------------------------------

    def origins(self, body: Body, ref: str, site_problem: Callable[[Any], str | None] | None = None
                ) -> frozenset[Origin]:
        """Where ``ref`` may come from. ``site_problem`` judges each main-graph call site an argument is
        resolved through (why that site does not count, or None); memoised per judge."""
        self._steps = 0
        if site_problem is not None and site_problem is not self._site_problem:
            self._site_problem, self._memo = site_problem, {}
        try:
            return self._origins(body, ref, 0)
        except (_Budget, RecursionError):
            return frozenset({Origin(UNRESOLVED, "too deep or too large to follow")})

    def rooted(self, body: Body, ref: str, site_problem: Callable[[Any], str | None]) -> str | None:
        """Why ``ref`` is not a path under the saver's filename, or None when it is.

        A path is rooted when it is the saver's filename tensor, or ``StringJoin`` of a rooted
        path first and then safe suffix constants, or ``ShardedFilename``/``Identity`` of one,
        ``Select`` between two, ``Pack`` of several, or a function argument that every call site
        fills with one (main-graph call sites judged by ``site_problem``). Anything else,
        a constant standing alone as a path included, is not.
        """
        self._steps = 0
        self._site_problem, self._rooted_memo = site_problem, {}
        try:
            return self._rooted(body, ref, 0)
        except (_Budget, RecursionError):
            return "its file name is too deep or too large to follow"

    def _rooted(self, body: Body, ref: str, depth: int) -> str | None:
        key = (body.name, ref)
        if key in self._rooted_memo:
            return self._rooted_memo[key]
        self._steps += 1
        if self._steps > MAX_STEPS or depth > 200:
            raise _Budget
        self._rooted_memo[key] = "its file name depends on itself"
        result = self._compute_rooted(body, ref, depth)
        self._rooted_memo[key] = result
        return result

    def _compute_rooted(self, body: Body, ref: str, depth: int) -> str | None:
        node, index = body.producer(ref)
        if node is None:
            if not body.is_function or index < 0:
                return f"its file name is an unknown tensor {ref[:120]!r}"
            return self._rooted_argument(body, index, depth)
        if not body.is_function and f"{node.name}:{index}" == self.saver_filename:
            # TF1 savers feed a Const ("model") or a placeholder; either is fed by the loader on the restore
            # path, and uses of it anywhere else (init ops, signatures) are refused by the caller's site check.
            if node.op not in ("Placeholder", "PlaceholderWithDefault", "Const"):
                return f"the saver's filename tensor is a {node.op}, not a tensor the loader feeds"
            return None
        inputs = body.data_inputs(node)
        if node.op in ("Identity", "Snapshot") and inputs:
            return self._rooted(body, inputs[0], depth + 1)
        if node.op == "IdentityN" and index < len(inputs):
            return self._rooted(body, inputs[index], depth + 1)
        if node.op == "ShardedFilename" and inputs:
            return self._rooted(body, inputs[0], depth + 1)
        if node.op in ("Select", "SelectV2") and len(inputs) == 3:
            return self._rooted(body, inputs[1], depth + 1) or self._rooted(body, inputs[2], depth + 1)
        if node.op == "Pack" and inputs:
            for item in inputs:
                problem = self._rooted(body, item, depth + 1)
                if problem:
                    return problem
            return None
        if node.op == "StringJoin" and inputs:
            separator = node.attr["separator"].s.decode("utf-8", "replace") if "separator" in node.attr else ""
            if separator and not _safe_suffix(separator):
                return f"its file name is joined with the separator {separator[:120]!r}"
            problem = self._rooted(body, inputs[0], depth + 1)
            if problem:
                return problem
            for item in inputs[1:]:
                problem = self._suffix(body, item, depth + 1)
                if problem:
                    return problem
            return None
        if node.op == "Const":
            return f"its file name is the constant {_const_text(node)!r}, not under the saver's filename"
        return f"its file name comes from {node.op} {node.name[:120]!r}"

    def _suffix(self, body: Body, ref: str, depth: int) -> str | None:
        """Why ``ref`` is not a safe suffix (constant strings with no ``..``, no root, no scheme), or None."""
        node, index = body.producer(ref)
        if node is None:
            return "a suffix of its file name is not a constant"
        inputs = body.data_inputs(node)
        if node.op == "Const":
            values = [value.decode("utf-8", "replace") for value in node.attr["value"].tensor.string_val]
            bad = [value for value in values if not _safe_suffix(value)]
            if not values or bad:
                return f"its file name has the suffix {(bad or [''])[0][:120]!r}"
            return None
        if node.op in ("Identity", "Snapshot") and inputs:
            return self._suffix(body, inputs[0], depth + 1)
        if node.op in ("Select", "SelectV2") and len(inputs) == 3:
            return self._suffix(body, inputs[1], depth + 1) or self._suffix(body, inputs[2], depth + 1)
        return f"a suffix of its file name comes from {node.op} {node.name[:120]!r}"

    def _rooted_argument(self, body: Body, index: int, depth: int) -> str | None:
        if body.name in self.bindings:
            return f"argument {index} of {body.name[:120]!r} is passed by a Python caller or the object graph"
        sites = self.call_sites.get(body.name, [])
        if not sites:
            return f"nothing passes argument {index} of {body.name[:120]!r}"
        for caller, node, offset in sites:
            inputs = caller.data_inputs(node)
            if offset < 0 or offset + index >= len(inputs):
                return f"{node.op} {node.name[:120]!r} binds the arguments of {body.name[:120]!r}"
            if not caller.is_function:
                problem = self._site_problem(node)
                if problem is not None:
                    return problem
            problem = self._rooted(caller, inputs[offset + index], depth + 1)
            if problem is not None:
                return problem
        return None

    def _origins(self, body: Body, ref: str, depth: int) -> frozenset[Origin]:
        key = (body.name, ref)
        if key in self._memo:
            return self._memo[key]
        self._steps += 1
        if self._steps > MAX_STEPS or depth > 200:
            raise _Budget
        self._memo[key] = frozenset({Origin(UNRESOLVED, "a cycle")})  # a cycle is never a proof
        result = frozenset(self._compute(body, ref, depth))
        self._memo[key] = result
        return result

    def _compute(self, body: Body, ref: str, depth: int) -> Iterator[Origin]:
        node, index = body.producer(ref)
        if node is None:
            if body.is_function and index >= 0:
                yield from self._argument(body, index, depth)
            else:
                yield Origin(UNRESOLVED, f"an unknown tensor {ref[:120]!r}")
            return
        canonical = f"{node.name}:{index}"
        if not body.is_function:
            if canonical == self.saver_filename:
                yield Origin(SAVER_FILENAME, canonical)
                return
            if canonical in self.asset_tensors:
                yield Origin(ASSET, self.asset_tensors[canonical])
                return
        inputs = body.data_inputs(node)
        op = node.op
        if op == "Const":
            yield from _const_origins(node)
        elif op in PASS_THROUGH and inputs:
            yield from self._origins(body, inputs[0], depth + 1)
        elif op == "IdentityN" and index < len(inputs):
            yield from self._origins(body, inputs[index], depth + 1)
        elif op in ("StringJoin", "Pack"):
            separator = node.attr["separator"].s.decode("utf-8", "replace") if "separator" in node.attr else ""
            if separator:
                yield from _text_origins(separator)
            for item in inputs:
                yield from self._origins(body, item, depth + 1)
        elif op == "ShardedFilename" and inputs:
            yield from self._origins(body, inputs[0], depth + 1)  # the other inputs are shard numbers
        elif op in ("Select", "SelectV2") and len(inputs) == 3:
            yield from self._origins(body, inputs[1], depth + 1)
            yield from self._origins(body, inputs[2], depth + 1)
        elif op == "ReadVariableOp" and not body.is_function and inputs:
            yield from self._variable(body, inputs[0], depth)
        else:
            callee = self.program.callee(node)
            if callee is not None and index < len(callee.rets):
                yield from self._origins(callee, callee.rets[index], depth + 1)
            else:
                yield Origin(UNRESOLVED, f"the output of {op} {node.name[:120]!r}")

    def _variable(self, body: Body, handle_ref: str, depth: int) -> Iterator[Origin]:
        """A main-graph variable read: the values assigned to it, if nothing else can write it."""
        handle, _ = body.producer(handle_ref)
        if handle is None or handle.op != "VarHandleOp":
            yield Origin(UNRESOLVED, "a variable that is not a plain VarHandleOp")
            return
        if len(self.variable_handles.get(_resource_key(handle), ())) > 1:
            # Another handle with the same container and shared_name is the same variable, written elsewhere.
            yield Origin(UNRESOLVED, f"variable {handle.name[:120]!r} shares its resource with another handle")
            return
        assigned = False
        for use in body.consumers(body.canonical(handle.name)):
            if use.node.op == "AssignVariableOp" and use.position == 0:
                values = body.data_inputs(use.node)
                if len(values) > 1:
                    assigned = True
                    yield from self._origins(body, values[1], depth + 1)
            elif use.node.op not in ("ReadVariableOp", "VarIsInitializedOp"):
                yield Origin(UNRESOLVED, f"variable {handle.name[:120]!r} is also passed to {use.node.op}")
        if not assigned:
            yield Origin(UNRESOLVED, f"variable {handle.name[:120]!r} is never assigned in the graph")

    def _argument(self, body: Body, index: int, depth: int) -> Iterator[Origin]:
        sites = self.call_sites.get(body.name, [])
        bound = self.bindings.get(body.name, ())
        explicit = len(body.args) - len(bound)
        any_source = False
        if bound and index >= explicit:
            any_source = True
            yield self._bound(bound[index - explicit])
        elif body.name in self.bindings:
            any_source = True
            yield Origin(UNRESOLVED, f"argument {index} of {body.name[:120]!r} is passed by a Python caller")
        for caller, node, offset in sites:
            any_source = True
            inputs = caller.data_inputs(node)
            if offset < 0 or offset + index >= len(inputs):
                yield Origin(UNRESOLVED, f"{node.op} {node.name[:120]!r} binds the arguments of {body.name[:120]!r}")
                continue
            problem = self._site_problem(node) if not caller.is_function else None
            if problem is not None:
                yield Origin(UNRESOLVED, problem)
                continue
            yield from self._origins(caller, inputs[offset + index], depth + 1)
        if not any_source:
            yield Origin(UNRESOLVED, f"nothing passes argument {index} of {body.name[:120]!r}")

    def _bound(self, node_id: int) -> Origin:
        nodes = self.program.object_graph.nodes
        if not 0 <= node_id < len(nodes):
            return Origin(UNRESOLVED, f"a binding to a missing object node {node_id}")
        node = nodes[node_id]
        if node.WhichOneof("kind") != "asset":
            return Origin(UNRESOLVED, f"a captured {node.WhichOneof('kind')}")
        files = self.program.meta_graph.asset_file_def
        position = node.asset.asset_file_def_index
        if not 0 <= position < len(files):
            return Origin(UNRESOLVED, f"an asset with a missing asset_file_def entry {position}")
        return Origin(ASSET, files[position].filename)


def _resource_key(node: Any) -> tuple[str, str]:
    """A variable's identity: its container and shared name (the node name when the shared name is empty)."""
    container = node.attr["container"].s.decode("utf-8", "replace") if "container" in node.attr else ""
    shared = node.attr["shared_name"].s.decode("utf-8", "replace") if "shared_name" in node.attr else ""
    return container, shared or node.name


def _const_origins(node: Any) -> Iterator[Origin]:
    tensor = node.attr["value"].tensor
    if not tensor.string_val:
        yield Origin(UNRESOLVED, "a constant that is not a list of strings")
        return
    for value in tensor.string_val[:64]:
        yield from _text_origins(value.decode("utf-8", "replace"))
    if len(tensor.string_val) > 64:
        yield Origin(UNRESOLVED, "a constant with too many strings")


def _safe_suffix(text: str) -> bool:
    """A string that may follow a path without leaving it: no ``..`` part, no root, no scheme, no NUL."""
    if "\x00" in text or "://" in text or text.startswith(("/", "\\")):
        return False
    return ".." not in text.replace("\\", "/").split("/")


def _const_text(node: Any) -> str:
    values = node.attr["value"].tensor.string_val
    return values[0].decode("utf-8", "replace")[:120] if values else "<not a string>"


def _text_origins(text: str) -> Iterator[Origin]:
    yield Origin(CONST, text[:300])


def implementation_groups(program: Program) -> dict[str, list[str]]:
    """``api_implements`` value -> library functions that carry it."""
    groups: dict[str, list[str]] = {}
    for name, function in program.library.items():
        if "api_implements" in function.attr:
            value = function.attr["api_implements"].s.decode("utf-8", "replace")
            if value:
                groups.setdefault(value, []).append(name)
    return {key: sorted(members) for key, members in groups.items()}


__all__ = ["ASSET", "CONST", "Origin", "Provenance", "SAVER_FILENAME", "UNRESOLVED", "implementation_groups"]
