"""Find every op of a SavedModel that could reach outside the process, without running it.

Deny by default, everywhere TensorFlow can execute. Every function of every
MetaGraph's library and every node of every main graph is judged, reachable or
not: TensorFlow loads the whole function library, its graph optimizer swaps
functions by ``api_implements``, and its TF1 loader runs the saver and init ops.
Each op type must be on the allowlist of :mod:`hubcheck.graph.oppolicy` (op types
this TensorFlow registers that are known not to touch files, the network, the
environment or other processes); denied, unreviewed and unknown (custom) op types
are findings, and so are non-empty attributes that name files.

A few denied ops are allowed in one well-defined use, after their arguments are
checked (:mod:`hubcheck.graph.provenance`): the saver's checkpoint ops when their
file name comes from the saver's filename tensor, a vocabulary table filled from a
regular file inside the model's own ``assets/``, protobuf ops with a compiled-in
descriptor, and a candidate sampler without a vocabulary file.

Reachability is still computed, for the report only: each finding says which entry
point reaches it (``__call__``, a signature, what loading runs on the path
``tf.saved_model.load`` will take, ...) or that nothing does; it never decides.
"""

from __future__ import annotations

import ast
import importlib.util
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from hubcheck.graph import oppolicy
from hubcheck.graph.program import CALL_OPS, TF1_PATH, Body, Program, expanding_tensor, load_path, saved_model_of
from hubcheck.graph.provenance import ASSET, Provenance, implementation_groups
from hubcheck.modelfiles import asset_problem, loader_files
from hubcheck.results import JSONValue

# -- the policy -------------------------------------------------------------------------------------

FAMILIES: dict[str, tuple[str, frozenset[str]]] = {
    entry.name: (entry.reason, entry.ops) for entry in oppolicy.DENIED_FAMILIES
}
"""Denied family -> (what its ops do, op types), from :mod:`hubcheck.graph.oppolicy`."""

UNKNOWN_FAMILY = oppolicy.UNKNOWN_FAMILY
UNREVIEWED_FAMILY = oppolicy.UNREVIEWED_FAMILY
FILE_ATTRIBUTE_FAMILY = "file-attribute"

_TF_DENYLIST_FALLBACK = frozenset({"WriteFile", "ReadFile", "PrintV2"})


@lru_cache(maxsize=1)
def tensorflow_denylist() -> frozenset[str]:
    """``_OP_DENYLIST`` of the installed TensorFlow's ``saved_model_cli``, read from its source (not imported:
    importing it defines absl flags)."""
    try:
        spec = importlib.util.find_spec("tensorflow.python.tools.saved_model_cli")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin:
        return _TF_DENYLIST_FALLBACK
    try:
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return _TF_DENYLIST_FALLBACK
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "_OP_DENYLIST" for target in statement.targets
        ):
            names = {
                node.value for node in ast.walk(statement.value)
                if isinstance(node, ast.Constant) and isinstance(node.value, str)
            }
            if names:
                return frozenset(names)
    return _TF_DENYLIST_FALLBACK


@lru_cache(maxsize=1)
def denylist() -> dict[str, str]:
    """op type -> family for every denied op type, plus anything TensorFlow's own scan denylists."""
    families = {op: family for family, (_, ops) in FAMILIES.items() for op in ops}
    for op in sorted(tensorflow_denylist()):
        families.setdefault(op, "tensorflow-denylist")
    return families


def family_description(family: str) -> str:
    if family == FILE_ATTRIBUTE_FAMILY:
        return "names a file in an attribute, which the op opens"
    if family == EXPANDING_CONSTANT_FAMILY:
        return "a constant that TensorFlow would expand to a huge array in memory"
    if family == "tensorflow-denylist":
        return "is on TensorFlow's saved_model_cli scan denylist"
    if family in FAMILIES:
        return FAMILIES[family][0]
    try:
        return oppolicy.family(family).reason
    except KeyError:
        return family


def _op_judgement(node: Any, program: Program) -> tuple[str, str] | None:
    if node.op in program.library and oppolicy.op_verdict(node.op).status == "unknown":
        return None  # a direct call of a library function, judged on its own
    if node.op in denylist():
        return denylist()[node.op], ""
    verdict = oppolicy.op_verdict(node.op)
    if verdict.status == "allowed":
        return None
    return verdict.family, verdict.reason


def file_attributes(node: Any) -> list[str]:
    """``name=value`` of every non-empty attribute that names a file, directory or URL."""
    found = []
    for key in sorted(node.attr):
        if key not in oppolicy.FILE_NAME_ATTRS:
            continue
        value = node.attr[key]
        texts = [value.s] if value.HasField("s") else list(value.list.s) if value.HasField("list") else []
        for text in texts:
            if text:
                found.append(f"{key}={text.decode('utf-8', 'replace')[:200]}")
    return found


EXPANDING_CONSTANT_FAMILY = "expanding-constant"
MAX_EXPANDED_CONSTANT_BYTES = 256 << 20
"""A constant may declare at most this much more than it stores: TensorFlow fills a compact constant
(one stored value, a huge shape) to its full size in memory when the graph runs."""

_DTYPE_BYTES = {1: 4, 2: 8, 3: 4, 4: 1, 5: 2, 6: 1, 9: 8, 10: 1, 14: 2, 17: 2, 19: 2, 22: 4, 23: 8}


def expanding_constant(node: Any) -> str | None:
    """How much a ``Const`` declares and stores, when it declares over the limit more than it stores."""
    if node.op not in ("Const", "HostConst") or "value" not in node.attr:
        return None
    tensor = node.attr["value"].tensor
    shape = tensor.tensor_shape
    if shape.unknown_rank:
        return None
    elements = 1
    for dim in shape.dim:
        elements *= max(int(dim.size), 0)
    declared = elements * _DTYPE_BYTES.get(int(tensor.dtype), 8)
    stored = tensor.ByteSize()
    if declared - stored <= MAX_EXPANDED_CONSTANT_BYTES:
        return None
    dims = ",".join(str(dim.size) for dim in shape.dim)
    return f"declares [{dims[:120]}] ({declared} bytes) but stores {stored} bytes"


def op_detail(node: Any) -> str | None:
    """Attribute values that say where the op writes (PrintV2's stream, debug URLs, file attributes)."""
    if node.op == "PrintV2" and "output_stream" in node.attr:
        return f"output_stream={node.attr['output_stream'].s.decode(errors='replace')[:200]}"
    if node.op.startswith("Debug") and "debug_urls" in node.attr:
        urls = [url.decode(errors="replace")[:200] for url in node.attr["debug_urls"].list.s]
        if urls:
            return "debug_urls=" + ",".join(urls[:5])
    attributes = file_attributes(node)
    return ", ".join(attributes[:3]) if attributes else None


# -- walking the program (for the report: which entry point reaches what) ----------------------------

# Entry-point kinds, most important first: a finding is attributed to the first kind that reaches it.
CALL, SIGNATURE, LOAD, METHOD, SAVER, GRAPH, UNREACHED = (
    "call", "signature", "load", "method", "saver", "graph", "unreached",
)
_KIND_RANK = {kind: rank for rank, kind in enumerate((CALL, SIGNATURE, LOAD, METHOD, SAVER, GRAPH, UNREACHED))}
ENTRY_WORDS = {
    CALL: "__call__ runs it",
    SIGNATURE: "a signature runs it",
    LOAD: "loading runs it",
    METHOD: "a saved function of the object graph runs it",
    SAVER: "the saver subgraph (run by the TF1 loader, and by anyone who saves or restores)",
    GRAPH: "a main-graph node that no entry point reaches",
    UNREACHED: "no call edge reaches it, but TensorFlow loads every library function",
}

MAX_PATH_SHOWN = 12


@dataclass(frozen=True)
class UnsafeOp:
    """One op that may reach outside the process, and how the model reaches it."""

    op: str
    node: str
    function: str  # "<main graph>" or the FunctionDef name
    family: str
    entry: str  # CALL, SIGNATURE, LOAD, METHOD, SAVER, GRAPH or UNREACHED
    path: tuple[str, ...]  # from the entry point to the function holding the op (shortened when long)
    meta_graph_tags: tuple[str, ...] = ()
    detail: str | None = None
    condition: str | None = None  # for an allowed conditional op: the condition that was checked

    @property
    def reached(self) -> bool:
        return self.entry not in (GRAPH, UNREACHED)

    def describe(self) -> str:
        where = "the main graph" if self.function == "<main graph>" else self.function[:120]
        detail = f" ({self.detail})" if self.detail else ""
        how = " -> ".join(self.path) if self.reached else ENTRY_WORDS[self.entry]
        return f"{self.op[:120]}{detail} [{self.family}] node {self.node[:120]!r} in {where}, reached from {how}"

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "op": self.op[:200],
            "node": self.node[:200],
            "function": self.function[:200],
            "family": self.family,
            "entry": self.entry,
            "reached": self.reached,
            "path": list(self.path),
            "meta_graph_tags": list(self.meta_graph_tags),
            "detail": self.detail,
            "condition": self.condition,
        }


MAX_LISTED = 200
"""Findings listed one by one in the report; the count covers the rest."""


@dataclass
class ScanResult:
    """What the scan found in every MetaGraph of one SavedModel."""

    findings: list[UnsafeOp] = field(default_factory=list)  # ops that may reach outside the process: fail
    allowed: list[UnsafeOp] = field(default_factory=list)  # conditional ops whose arguments passed the check
    outside_files: list[dict[str, JSONValue]] = field(default_factory=list)  # loader files resolving elsewhere
    functions_scanned: int = 0
    nodes_scanned: int = 0
    meta_graphs: int = 0
    load_path: str | None = None
    load_path_reason: str | None = None

    @property
    def unsafe(self) -> bool:
        return bool(self.findings)

    @property
    def unreachable(self) -> list[UnsafeOp]:
        """Findings that no entry point reaches: still findings (TensorFlow may run them anyway)."""
        return [finding for finding in self.findings if not finding.reached]

    def families(self) -> list[str]:
        return sorted({finding.family for finding in self.findings})

    def summary(self, limit: int = 5) -> str:
        """One line per op type (first place found, how many more), at most ``limit`` op types."""
        groups: dict[str, list[UnsafeOp]] = {}
        for finding in self.findings:
            groups.setdefault(finding.op, []).append(finding)
        parts = []
        for found in list(groups.values())[:limit]:
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            parts.append(found[0].describe() + more)
        rest = len(groups) - limit
        return "; ".join(parts) + (f"; and {rest} more op type(s)" if rest > 0 else "")

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "unsafe_ops": [finding.to_json() for finding in self.findings[:MAX_LISTED]],
            "unsafe_op_count": len(self.findings),
            "allowed": [finding.to_json() for finding in self.allowed[:MAX_LISTED]],
            "unreachable": [finding.to_json() for finding in self.unreachable[:MAX_LISTED]],
            "outside_files": list(self.outside_files[:MAX_LISTED]),
            "families": self.families(),
            "functions_scanned": self.functions_scanned,
            "nodes_scanned": self.nodes_scanned,
            "meta_graphs": self.meta_graphs,
            "load_path": self.load_path,
            "load_path_reason": self.load_path_reason,
        }


@dataclass(frozen=True)
class _Reach:
    kind: str
    parent: str | None  # the function that called this one (None: called from an entry point)
    step: str  # this function's step in the path: "call node -> function"
    entry: str  # the entry point's label (for the path's first element)
    depth: int = 0  # calls from the entry point
    head: tuple[str, ...] = ()  # the first steps of the path (bounded, so copying it costs O(1))


def _tensor_node(name: str) -> str:
    return name.split(":")[0].lstrip("^")


class _Walker:
    """Breadth-first reachability over main-graph nodes and library functions, per entry-point kind.

    Stores one parent pointer per function (never a copy of the path), so the walk is
    linear in the size of the proto however deep the call chains are.
    """

    def __init__(self, program: Program) -> None:
        self.program = program
        self.function_reach: dict[str, _Reach] = {}
        self.node_reach: dict[str, _Reach] = {}
        self.groups = implementation_groups(program)
        self.group_of = {name: key for key, members in self.groups.items() for name in members}

    def _better(self, old: _Reach | None, kind: str) -> bool:
        return old is None or _KIND_RANK[kind] < _KIND_RANK[old.kind]

    def reach_function(self, name: str, kind: str, entry: str, step: str | None = None) -> None:
        """Reach ``name`` from the entry point labelled ``entry`` and everything it calls."""
        queue: deque[tuple[str, str | None, str]] = deque([(name, None, step or name)])
        while queue:
            current, caller, how = queue.popleft()
            if current not in self.program.library or not self._better(self.function_reach.get(current), kind):
                continue
            above = self.function_reach.get(caller) if caller is not None else None
            depth = above.depth + 1 if above is not None else 1
            head = above.head if above is not None else ()
            if len(head) < MAX_PATH_SHOWN // 2:
                head = (*head, how)
            self.function_reach[current] = _Reach(kind, caller, how, entry, depth, head)
            body = self.program.body(current)
            assert body is not None
            for node in body.nodes:
                for callee, label in self._callees(node):
                    queue.append((callee, current, f"{label} -> {callee[:120]}"))
            group = self.group_of.get(current)
            if group is not None:  # grappler's implementation selector may run any member instead
                for member in self.groups[group]:
                    queue.append((member, caller, f"{how} [api_implements={group[:80]}: may run {member[:120]}]"))

    def _callees(self, node: Any) -> Iterator[tuple[str, str]]:
        if node.op in self.program.library:
            yield node.op, f"{node.name[:120]} ({node.op[:120]})"
        for attr, function in Program.function_attrs(node):
            yield function, node.name[:120] if node.op in CALL_OPS and attr == "f" else f"{node.name[:120]} ({node.op}.{attr})"

    def reach_graph(self, names: Iterable[str], kind: str, label: str) -> None:
        """Every ancestor of the named main-graph nodes (data and control inputs), and the functions they call."""
        graph = self.program.graph
        queue = deque(_tensor_node(name) for name in names)
        while queue:
            current = queue.popleft()
            node = graph.by_name.get(current)
            if node is None or not self._better(self.node_reach.get(current), kind):
                continue
            self.node_reach[current] = _Reach(kind, None, label, label)
            for callee, via in self._callees(node):
                self.reach_function(callee, kind, label, f"{via} -> {callee[:120]}")
            queue.extend(_tensor_node(text) for text in node.input)

    def path_to(self, name: str) -> tuple[str, ...]:
        """Entry point, then each call down to ``name`` (the first and last steps when it is long).

        Reads at most :data:`MAX_PATH_SHOWN` parent pointers, so describing every finding
        of a 40,000-deep call chain stays linear.
        """
        reach = self.function_reach.get(name)
        if reach is None:
            return ()
        tail: list[str] = []
        current: _Reach | None = reach
        while current is not None and len(tail) < MAX_PATH_SHOWN:
            tail.append(current.step)
            current = self.function_reach.get(current.parent) if current.parent is not None else None
        tail.reverse()
        if reach.depth <= MAX_PATH_SHOWN:
            return (reach.entry, *tail)
        keep = MAX_PATH_SHOWN // 2
        hidden = reach.depth - len(reach.head) - keep
        return (reach.entry, *reach.head, f"... ({hidden} more calls)", *tail[-keep:])


def _collection_nodes(meta_graph: Any, key: str) -> list[str]:
    if key not in meta_graph.collection_def:
        return []
    collection = meta_graph.collection_def[key]
    if collection.HasField("node_list"):
        return list(collection.node_list.value)
    if collection.HasField("bytes_list"):  # variables: VariableDef protos naming their initializer
        return _variable_initializers(collection.bytes_list.value)
    return []


def _variable_initializers(serialized: Iterable[bytes]) -> list[str]:
    from tensorflow.core.framework import variable_pb2

    names = []
    for data in serialized:
        definition = variable_pb2.VariableDef()
        try:
            definition.ParseFromString(data)
        except Exception:  # noqa: BLE001 - an unparsable entry names nothing; every node is scanned anyway
            continue
        names += [name for name in (definition.initializer_name, definition.snapshot_name) if name]
    return names


# What the TF1 loader (load_v1_in_v2) runs at load: the init op, else the default local init op.
_MAIN_OP_COLLECTIONS = ("saved_model_main_op", "legacy_init_op", "main_op")
_LOCAL_INIT_COLLECTIONS = ("local_variables", "table_initializer", "local_resources")
_TRAIN_OP_COLLECTIONS = ("train_op", "saved_model_train_op")
_INIT_SIGNATURE = "__saved_model_init_op"


def _signature_tensors(meta_graph: Any) -> dict[str, list[str]]:
    """Signature name -> the main-graph tensors it feeds and fetches, in name order (init op included)."""
    return {
        name: [info.name for info in signature.outputs.values()] + [info.name for info in signature.inputs.values()]
        for name, signature in sorted(meta_graph.signature_def.items())
    }


def _collections(meta_graph: Any, keys: Iterable[str]) -> list[str]:
    return [name for key in keys for name in _collection_nodes(meta_graph, key)]


def walk_program(program: Program, tf1_path: bool = False) -> _Walker:
    """Reach every main-graph node and library function from the entry points, best entry kind first."""
    meta_graph = program.meta_graph
    walker = _Walker(program)

    for trace in program.traces:
        label = "__call__" + (f"(training={trace.training})" if trace.training is not None else "")
        walker.reach_function(trace.function, CALL, label)
    function = program.call_function
    if function is not None:
        for name in function.concrete_functions:  # traces whose signature did not decode
            walker.reach_function(name, CALL, "__call__")

    signatures = _signature_tensors(meta_graph)
    init_names = signatures.pop(_INIT_SIGNATURE, [])
    for name, tensors in signatures.items():
        walker.reach_graph(tensors, SIGNATURE, f"signature {name[:120]!r}")
    saver = meta_graph.saver_def
    saver_names = [name for name in (saver.save_tensor_name, saver.restore_op_name, saver.filename_tensor_name) if name]
    if tf1_path:
        init_names += _collections(meta_graph, (*_MAIN_OP_COLLECTIONS, *_LOCAL_INIT_COLLECTIONS))
        walker.reach_graph(init_names, LOAD, "loading (TF1 loader: init op)")
        walker.reach_graph([saver.restore_op_name] if saver.restore_op_name else [], LOAD,
                           "loading (TF1 loader: the saver's restore op)")
    else:
        walker.reach_graph(init_names, LOAD, "loading (init op)")
        for path, name in program.resource_functions():
            walker.reach_function(name, LOAD, f"loading ({path[:120]})")
    for path, name in program.object_functions():
        walker.reach_function(name, METHOD, path[:120])
    for name in program.object_graph.concrete_functions:  # every concrete function the loader restores
        walker.reach_function(name, METHOD, "saved concrete function")
    walker.reach_graph(saver_names, SAVER, "the saver (saver_def)")
    for node in program.graph.nodes:
        if node.name not in walker.node_reach:
            walker.reach_graph([node.name], GRAPH, f"main graph node {node.name[:120]!r}")
    for name in program.library:
        if name not in walker.function_reach:
            walker.reach_function(name, UNREACHED, "(not called from any entry point)")
    return walker


# -- conditional ops: checked arguments ------------------------------------------------------------

_CHECKPOINT_PATH_INPUTS: dict[str, tuple[int, ...]] = {
    "SaveV2": (0,), "RestoreV2": (0,), "MergeV2Checkpoints": (0, 1), "Save": (0,), "SaveSlices": (0,),
    "Restore": (0,), "RestoreSlice": (0,),
}
_VOCABULARY_OPS = frozenset({"InitializeTableFromTextFile", "InitializeTableFromTextFileV2"})
_PROTO_OPS = frozenset({"DecodeProtoV2", "EncodeProto"})


class _MainGraphRuns:
    """Which main-graph nodes run in which circumstance, for the conditional ops found there.

    ``init``: ancestors of the init op (and, on the TF1 path, the default local init op's
    collections): run by the loader with the asset tensors fed. ``saver``: ancestors of the
    saver's restore op and save tensor: run with only the filename tensor fed. ``other``:
    ancestors of the signatures and train ops: run with neither fed.
    """

    def __init__(self, program: Program, tf1_path: bool) -> None:
        meta_graph = program.meta_graph
        signatures = _signature_tensors(meta_graph)
        init = signatures.pop(_INIT_SIGNATURE, [])
        init += _collections(meta_graph, (*_MAIN_OP_COLLECTIONS, *(_LOCAL_INIT_COLLECTIONS if tf1_path else ())))
        other = [tensor for tensors in signatures.values() for tensor in tensors]
        other += _collections(meta_graph, _TRAIN_OP_COLLECTIONS)
        saver = meta_graph.saver_def
        self.init = _ancestors(program, init)
        self.saver = _ancestors(program, [name for name in (saver.restore_op_name, saver.save_tensor_name) if name])
        self.other = _ancestors(program, other)

    def saver_problem(self, node: Any) -> str | None:
        """Why a main-graph node may not use the saver's filename: it runs where the filename is not fed."""
        if node.name not in self.saver:
            return f"{node.name[:120]!r} is not part of the saver's restore or save subgraph"
        if node.name in self.init or node.name in self.other:
            return f"{node.name[:120]!r} also runs outside the saver (init op or signature), where the filename is not fed"
        return None

    def asset_problem(self, node: Any) -> str | None:
        """Why a main-graph node may not use an asset tensor: it runs where the asset tensors are not fed."""
        if node.name not in self.init:
            return f"{node.name[:120]!r} does not run under the init op, where the loader feeds the asset paths"
        if node.name in self.saver or node.name in self.other:
            return f"{node.name[:120]!r} also runs outside the init op, where the asset tensors hold their own values"
        return None


def _ancestors(program: Program, names: Iterable[str]) -> frozenset[str]:
    graph = program.graph
    seen: set[str] = set()
    queue = deque(_tensor_node(name) for name in names)
    while queue:
        current = queue.popleft()
        node = graph.by_name.get(current)
        if node is None or current in seen:
            continue
        seen.add(current)
        queue.extend(_tensor_node(text) for text in node.input)
    return frozenset(seen)


class _Conditions:
    """Checks the arguments of the conditional ops (:data:`oppolicy.CONDITIONAL_OPS`)."""

    def __init__(self, program: Program, tf1_path: bool) -> None:
        self.program = program
        self.provenance = Provenance(program)
        self.runs = _MainGraphRuns(program, tf1_path)

    def problem(self, node: Any, body: Body) -> str | None:
        """Why this use of a conditional op is not allowed, or None when its arguments pass."""
        op = node.op
        if op in _CHECKPOINT_PATH_INPUTS:
            return self._checkpoint(node, body)
        if op in _VOCABULARY_OPS:
            return self._vocabulary(node, body)
        if op in _PROTO_OPS:
            source = node.attr["descriptor_source"].s.decode("utf-8", "replace") if "descriptor_source" in node.attr else ""
            if source and not source.startswith(("local://", "bytes://")):
                return f"descriptor_source={source[:200]} is a file"
            return None
        if op == "FixedUnigramCandidateSampler":
            vocab = node.attr["vocab_file"].s if "vocab_file" in node.attr else b""
            return f"vocab_file={vocab.decode('utf-8', 'replace')[:200]}" if vocab else None
        return "no argument check is implemented for this op"

    def _checkpoint(self, node: Any, body: Body) -> str | None:
        if not body.is_function:
            problem = self.runs.saver_problem(node)
            if problem:
                return problem
        inputs = body.data_inputs(node)
        for position in _CHECKPOINT_PATH_INPUTS[node.op]:
            if position >= len(inputs):
                return f"its file name (input {position}) is missing"
            problem = self.provenance.rooted(body, inputs[position], self.runs.saver_problem)
            if problem:
                return problem
        return None

    def _vocabulary(self, node: Any, body: Body) -> str | None:
        if not body.is_function:
            problem = self.runs.asset_problem(node)
            if problem:
                return problem
        inputs = body.data_inputs(node)
        origins = self.provenance.origins(body, inputs[1], self.runs.asset_problem) if len(inputs) > 1 else None
        if not origins:
            return "its file name (input 1) is missing"
        for origin in origins:
            if origin.kind != ASSET:
                return f"its file name comes from {origin.describe()}, not from the model's assets"
            if self.program.path is None:
                return "the model folder is unknown, so the asset cannot be checked"
            problem = asset_problem(self.program.path, origin.detail)
            if problem:
                return problem
        return None


# -- the scan ----------------------------------------------------------------------------------------


def scan_program(program: Program, tf1_path: bool = False) -> tuple[list[UnsafeOp], list[UnsafeOp], int, int]:
    """(findings, allowed conditional ops, functions scanned, nodes scanned) of one MetaGraph."""
    walker = walk_program(program, tf1_path)
    conditions = _Conditions(program, tf1_path)
    findings: list[UnsafeOp] = []
    allowed: list[UnsafeOp] = []
    tags = tuple(program.tags)
    nodes_scanned = 0

    def judge(node: Any, body: Body, function: str, reach: _Reach | None, path: tuple[str, ...]) -> None:
        judgement = _op_judgement(node, program)
        entry = reach.kind if reach is not None else UNREACHED
        if judgement is None:
            expanding = expanding_constant(node)
            if expanding is not None:
                findings.append(UnsafeOp(node.op, node.name, function, EXPANDING_CONSTANT_FAMILY, entry, path, tags,
                                         expanding))
                return
            attributes = file_attributes(node)
            if attributes:
                findings.append(UnsafeOp(node.op, node.name, function, FILE_ATTRIBUTE_FAMILY, entry, path, tags,
                                         ", ".join(attributes[:3])))
            return
        family, _ = judgement
        if node.op in oppolicy.CONDITIONAL_OPS:
            problem = conditions.problem(node, body)
            if problem is None:
                allowed.append(UnsafeOp(node.op, node.name, function, family, entry, path, tags, op_detail(node),
                                        oppolicy.CONDITIONAL_OPS[node.op]))
                return
            findings.append(UnsafeOp(node.op, node.name, function, family, entry, path, tags,
                                     f"allowed only when {oppolicy.CONDITIONAL_OPS[node.op]}, but {problem}"))
            return
        findings.append(UnsafeOp(node.op, node.name, function, family, entry, path, tags, op_detail(node)))

    graph = program.graph
    for node in graph.nodes:
        nodes_scanned += 1
        reach = walker.node_reach.get(node.name)
        judge(node, graph, "<main graph>", reach, (reach.entry,) if reach is not None else ())
    for name in program.library:
        body = program.body(name)
        assert body is not None
        reach = walker.function_reach.get(name)
        path = walker.path_to(name) if reach is not None else ()
        for node in body.nodes:
            nodes_scanned += 1
            judge(node, body, name, reach, path)
    # The object graph's structures (input signatures, bounded specs) are decoded by the loader:
    # a tensor in them that declares far more than it stores would be filled in memory.
    for name, saved in program.object_graph.concrete_functions.items():
        expanding = expanding_tensor(saved)
        if expanding is not None:
            findings.append(UnsafeOp("<signature>", name, name, EXPANDING_CONSTANT_FAMILY, METHOD,
                                     ("saved concrete function", name[:120]), tags, expanding))
    for node_id, object_node in enumerate(program.object_graph.nodes):
        if object_node.WhichOneof("kind") == "function":
            expanding = expanding_tensor(object_node.function.function_spec)
            if expanding is not None:
                where = program.object_paths.get(node_id, f"node {node_id}")
                findings.append(UnsafeOp("<function spec>", where, where, EXPANDING_CONSTANT_FAMILY, METHOD,
                                         (where,), tags, expanding))
    # Ordered by what does not depend on TensorFlow's function-name counters, so reports are reproducible.
    findings.sort(key=lambda f: (_KIND_RANK[f.entry], f.op, f.node, f.function))
    allowed.sort(key=lambda f: (f.op, f.node, f.function))
    return findings, allowed, len(program.library), nodes_scanned


def scan_proto(proto: Any, path: Path | None = None, known: Program | None = None) -> ScanResult:
    """Scan every MetaGraph of ``proto``; ``known`` is a :class:`Program` already built for one of them
    (the one that loads), whose indexed bodies are reused rather than built again."""
    kind, reason = load_path(proto)
    result = ScanResult(load_path=kind, load_path_reason=reason)
    for meta_graph in proto.meta_graphs:
        program = known if known is not None and known.meta_graph is meta_graph else Program(meta_graph, path)
        findings, allowed, functions, nodes = scan_program(program, tf1_path=kind == TF1_PATH)
        result.meta_graphs += 1
        result.functions_scanned += functions
        result.nodes_scanned += nodes
        result.findings += findings
        result.allowed += allowed
    if path is not None:
        assets = tuple(asset.filename for meta_graph in proto.meta_graphs for asset in meta_graph.asset_file_def)
        result.outside_files = [found.to_json() for found in loader_files(path, assets) if found.outside]
    return result


def scan_source(source: Any, known: Program | None = None) -> ScanResult | None:
    """Scan every MetaGraph of a ``ModelSource``; None when there is no graph to read.

    Not cached here: a run's :class:`~hubcheck.session.ModelSession` owns its scan (and passes
    its :class:`Program` as ``known``).
    """
    proto = saved_model_of(source)
    if proto is None:
        return None
    path = Path(source.path)
    return scan_proto(proto, path if path.is_dir() else None, known)


def scan_path(path: Path) -> ScanResult | None:
    from hubcheck.graph.program import read_saved_model

    proto = read_saved_model(path) if path.is_dir() else None
    return None if proto is None else scan_proto(proto, path)


__all__ = [
    "FAMILIES", "ScanResult", "UnsafeOp", "denylist", "family_description", "scan_path", "scan_proto",
    "scan_source", "tensorflow_denylist",
]
