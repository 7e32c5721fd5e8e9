"""Find the ops of a SavedModel that reach outside the process, without running it.

Every MetaGraph is read. From each entry point (the root's ``__call__`` traces,
the signatures, what loading runs, every other saved function, every node of
the main graph) the scan follows nested calls (``PartitionedCall``,
``StatefulPartitionedCall``, ``If``/``While`` branches and bodies, any
function-valued attribute, nodes whose op is a library function) and records
the first path by which it reached each function. The model's own checkpoint
machinery (the functions behind ``saver_def``, which ``tf.saved_model.load``
runs to restore variables) is not a finding unless something else reaches it.

The denylist (:data:`FAMILIES`) is a superset of TensorFlow's own
``saved_model_cli scan`` list, which :func:`tensorflow_denylist` reads from
the installed TensorFlow and :func:`denylist` merges in.
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

from hubcheck.graph.program import CALL_OPS, Program, op_def, saved_model_of
from hubcheck.results import JSONValue

# -- the denylist -----------------------------------------------------------------------------------

FAMILIES: dict[str, tuple[str, frozenset[str]]] = {
    "file-read": (
        "reads files",
        frozenset({
            "ReadFile", "MatchingFiles", "RecordInput", "FileSystemSetConfiguration",
            "WholeFileReader", "WholeFileReaderV2", "TextLineReader", "TextLineReaderV2",
            "TFRecordReader", "TFRecordReaderV2", "FixedLengthRecordReader", "FixedLengthRecordReaderV2",
            "LMDBReader", "InitializeTableFromTextFile", "InitializeTableFromTextFileV2",
            "GenerateVocabRemapping",
        }),
    ),
    "file-write": (
        "writes files",
        frozenset({
            "WriteFile", "DatasetToTFRecord", "ExperimentalDatasetToTFRecord", "SaveDataset", "SaveDatasetV2",
            "DistributedSave", "CalibrationStatisticsSaver", "DumpTensor",
        }),
    ),
    "checkpoint": (
        "saves or restores a checkpoint from inside the model's own functions",
        frozenset({
            "SaveV2", "Save", "SaveSlices", "RestoreV2", "Restore", "RestoreSlice", "MergeV2Checkpoints",
            "DTensorRestoreV2", "LoadAndRemapMatrix",
        }),
    ),
    "summary": (
        "writes TensorBoard summaries or events",
        frozenset({
            "SummaryWriter", "CreateSummaryFileWriter", "CreateSummaryDbWriter", "WriteSummary",
            "WriteScalarSummary", "WriteHistogramSummary", "WriteImageSummary", "WriteAudioSummary",
            "WriteGraphSummary", "WriteRawProtoSummary", "ImportEvent", "FlushSummaryWriter",
            "CloseSummaryWriter", "StatsAggregatorSetSummaryWriter",
        }),
    ),
    "debug": (
        "is a debugger op that can dump tensors to files or gRPC endpoints",
        frozenset({
            "DebugIdentity", "DebugIdentityV2", "DebugIdentityV3", "DebugNanCount", "DebugNumericSummary",
            "DebugNumericSummaryV2", "Copy", "CopyHost",
        }),
    ),
    "print": (
        "prints (PrintV2 can write to a file)",
        frozenset({"PrintV2", "Print"}),
    ),
    "dataset-file": (
        "is a dataset that reads or writes files",
        frozenset({
            "TFRecordDataset", "TFRecordDatasetV2", "TextLineDataset", "FixedLengthRecordDataset",
            "FixedLengthRecordDatasetV2", "CSVDataset", "CSVDatasetV2", "ExperimentalCSVDataset", "SqlDataset",
            "ExperimentalSqlDataset", "LMDBDataset", "ExperimentalLMDBDataset", "LoadDataset",
            "ExperimentalLoadDataset", "SnapshotDataset", "SnapshotDatasetV2", "SnapshotDatasetReader",
            "SnapshotNestedDatasetReader", "SnapshotChunkDataset", "ListSnapshotChunksDataset",
            "MatchingFilesDataset", "ExperimentalMatchingFilesDataset", "CacheDataset", "CacheDatasetV2",
        }),
    ),
    "memory-mapped": (
        "maps a file into memory (ImmutableConst)",
        frozenset({"ImmutableConst"}),
    ),
    "python": (
        "runs Python code (py_function/numpy_function), which a SavedModel cannot carry",
        frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"}),
    ),
    "network": (
        "talks to other processes over the network (RPC, tf.data service)",
        frozenset({
            "RpcServer", "RpcClient", "RpcCall", "RpcServerStart", "RpcServerRegister", "RpcCheckStatus",
            "RpcGetValue", "DeleteRpcFutureResource", "DataServiceDataset", "DataServiceDatasetV2",
            "DataServiceDatasetV3", "DataServiceDatasetV4", "RegisterDataset", "RegisterDatasetV2",
        }),
    ),
}
"""family -> (what the op does, op types). ``unknown-op`` (not registered in this TensorFlow) is the
last family; it is decided per op, not listed."""

UNKNOWN_FAMILY = "unknown-op"
UNKNOWN_DESCRIPTION = "is not an op this TensorFlow knows (a custom op: native code hubcheck cannot vet)"

LOAD_TIME_ASSET_OPS = frozenset({"InitializeTableFromTextFile", "InitializeTableFromTextFileV2"})
"""Reading a vocabulary file is what loading does to fill a lookup table from the model's assets;
it is a finding only when reached from something other than load-time initialisation."""

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
    """op type -> family: :data:`FAMILIES` plus anything TensorFlow's own scan denylists that they miss."""
    families = {op: family for family, (_, ops) in FAMILIES.items() for op in ops}
    for op in sorted(tensorflow_denylist()):
        families.setdefault(op, "tensorflow-denylist")
    return families


def family_description(family: str) -> str:
    if family == UNKNOWN_FAMILY:
        return UNKNOWN_DESCRIPTION
    if family == "tensorflow-denylist":
        return "is on TensorFlow's saved_model_cli scan denylist"
    return FAMILIES[family][0]


def classify(node: Any, program: Program) -> str | None:
    """The family of a node's op, or None when it is harmless."""
    if node.op in program.library:
        return None  # a direct call of a library function, followed by the walk
    family = denylist().get(node.op)
    if family is not None:
        return family
    if op_def(node.op) is None:
        return UNKNOWN_FAMILY
    if node.op in ("DecodeProtoV2", "EncodeProto"):
        source = node.attr["descriptor_source"].s.decode(errors="replace") if "descriptor_source" in node.attr else ""
        if source and not source.startswith(("local://", "bytes://")):
            return "file-read"
    return None


def op_detail(node: Any) -> str | None:
    """Attribute values that say where the op writes (PrintV2's stream, debug URLs)."""
    if node.op == "PrintV2" and "output_stream" in node.attr:
        return f"output_stream={node.attr['output_stream'].s.decode(errors='replace')}"
    if node.op.startswith("Debug") and "debug_urls" in node.attr:
        urls = [url.decode(errors="replace") for url in node.attr["debug_urls"].list.s]
        if urls:
            return "debug_urls=" + ",".join(urls)
    return None


# -- walking the program ------------------------------------------------------------------------------

# Entry-point kinds, most important first: a finding is attributed to the first kind that reaches it.
CALL, SIGNATURE, LOAD, METHOD, GRAPH, UNREACHED, SAVER = "call", "signature", "load", "method", "graph", "unreached", "saver"
_KIND_RANK = {kind: rank for rank, kind in enumerate((CALL, SIGNATURE, LOAD, METHOD, GRAPH, UNREACHED, SAVER))}


@dataclass(frozen=True)
class UnsafeOp:
    """One denylisted op and how the model reaches it."""

    op: str
    node: str
    function: str  # "<main graph>" or the FunctionDef name
    family: str
    entry: str  # "call", "signature", "load", "method", "graph" or "unreached"
    path: tuple[str, ...]  # from the entry point to the function holding the op
    meta_graph_tags: tuple[str, ...] = ()
    detail: str | None = None

    @property
    def allowed(self) -> bool:
        return self.entry == LOAD and self.op in LOAD_TIME_ASSET_OPS

    def describe(self) -> str:
        where = "the main graph" if self.function == "<main graph>" else self.function
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.op}{detail} [{self.family}] node {self.node!r} in {where}, reached from {' -> '.join(self.path)}"

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "op": self.op,
            "node": self.node,
            "function": self.function,
            "family": self.family,
            "entry": self.entry,
            "path": list(self.path),
            "meta_graph_tags": list(self.meta_graph_tags),
            "detail": self.detail,
        }


@dataclass
class ScanResult:
    """What the scan found in every MetaGraph of one SavedModel."""

    findings: list[UnsafeOp] = field(default_factory=list)  # denylisted ops that count
    allowed: list[UnsafeOp] = field(default_factory=list)  # e.g. a vocabulary table filled from an asset at load
    unreachable: list[UnsafeOp] = field(default_factory=list)  # dead main-graph nodes, unreferenced functions
    functions_scanned: int = 0
    nodes_scanned: int = 0
    meta_graphs: int = 0

    @property
    def unsafe(self) -> bool:
        return bool(self.findings)

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
            "unsafe_ops": [finding.to_json() for finding in self.findings],
            "allowed": [finding.to_json() for finding in self.allowed],
            "unreachable": [finding.to_json() for finding in self.unreachable],
            "families": self.families(),
            "functions_scanned": self.functions_scanned,
            "nodes_scanned": self.nodes_scanned,
            "meta_graphs": self.meta_graphs,
        }


@dataclass(frozen=True)
class _Reach:
    kind: str
    path: tuple[str, ...]


def _tensor_node(name: str) -> str:
    return name.split(":")[0].lstrip("^")


class _Walker:
    """Breadth-first reachability over main-graph nodes and library functions, per entry-point kind."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.function_reach: dict[str, _Reach] = {}
        self.node_reach: dict[str, _Reach] = {}

    def _better(self, old: _Reach | None, kind: str) -> bool:
        return old is None or _KIND_RANK[kind] < _KIND_RANK[old.kind]

    def reach_function(self, name: str, kind: str, path: tuple[str, ...]) -> None:
        queue: deque[tuple[str, tuple[str, ...]]] = deque([(name, path)])
        while queue:
            current, trail = queue.popleft()
            if current not in self.program.library or not self._better(self.function_reach.get(current), kind):
                continue
            self.function_reach[current] = _Reach(kind, trail)
            body = self.program.body(current)
            assert body is not None
            for node in body.nodes:
                for callee, via in self._callees(node):
                    queue.append((callee, (*trail, f"{via} -> {callee}")))

    def _callees(self, node: Any) -> Iterator[tuple[str, str]]:
        if node.op in self.program.library:
            yield node.op, f"{node.name} ({node.op})"
        for attr, function in Program.function_attrs(node):
            yield function, node.name if node.op in CALL_OPS and attr == "f" else f"{node.name} ({node.op}.{attr})"

    def reach_graph(self, names: Iterable[str], kind: str, label: str) -> None:
        """Every ancestor of the named main-graph nodes (data and control inputs), and the functions they call."""
        graph = self.program.graph
        queue = deque(_tensor_node(name) for name in names)
        while queue:
            current = queue.popleft()
            node = graph.by_name.get(current)
            if node is None or not self._better(self.node_reach.get(current), kind):
                continue
            self.node_reach[current] = _Reach(kind, (label,))
            for callee, via in self._callees(node):
                self.reach_function(callee, kind, (label, f"{via} -> {callee}"))
            queue.extend(_tensor_node(text) for text in node.input)


def _collection_nodes(meta_graph: Any, key: str) -> list[str]:
    if key not in meta_graph.collection_def:
        return []
    collection = meta_graph.collection_def[key]
    if collection.HasField("node_list"):
        return list(collection.node_list.value)
    return []


def walk_program(program: Program) -> _Walker:
    """Reach every main-graph node and library function from the entry points, best entry kind first."""
    meta_graph = program.meta_graph
    walker = _Walker(program)

    for trace in program.traces:
        label = "__call__" + (f"(training={trace.training})" if trace.training is not None else "")
        walker.reach_function(trace.function, CALL, (label, trace.function))
    function = program.call_function
    if function is not None:
        for name in function.concrete_functions:  # traces whose signature did not decode
            walker.reach_function(name, CALL, ("__call__", name))

    init_names: list[str] = []
    for name, signature in sorted(meta_graph.signature_def.items()):
        tensors = [info.name for info in signature.outputs.values()] + [info.name for info in signature.inputs.values()]
        if name == "__saved_model_init_op":
            init_names += tensors
            continue
        walker.reach_graph(tensors, SIGNATURE, f"signature {name!r}")
    for key in ("saved_model_main_op", "legacy_init_op", "table_initializer", "main_op"):
        init_names += _collection_nodes(meta_graph, key)
    walker.reach_graph(init_names, LOAD, "loading (init op)")
    for path, name in program.resource_functions():
        walker.reach_function(name, LOAD, (f"loading ({path})", name))

    for path, name in program.object_functions():
        walker.reach_function(name, METHOD, (path, name))
    for name in program.object_graph.concrete_functions:  # every concrete function the loader restores
        walker.reach_function(name, METHOD, ("saved concrete function", name))

    # The saver's own subgraph is walked after every real entry point and ranks lowest:
    # only what nothing else reaches stays SAVER, and is not scanned.
    saver = meta_graph.saver_def
    saver_names = [name for name in (saver.save_tensor_name, saver.restore_op_name, saver.filename_tensor_name) if name]
    walker.reach_graph(saver_names, SAVER, "variable restore/save (saver_def)")
    for node in program.graph.nodes:
        if node.name not in walker.node_reach:
            walker.reach_graph([node.name], GRAPH, f"main graph node {node.name!r}")
    for name in program.library:
        if name not in walker.function_reach:
            walker.reach_function(name, UNREACHED, ("(not called from any entry point)", name))
    return walker


def scan_program(program: Program) -> tuple[list[UnsafeOp], int, int]:
    """Unsafe ops of one MetaGraph, each with its best entry point; plus (functions, nodes) scanned."""
    walker = walk_program(program)
    findings: list[UnsafeOp] = []
    tags = tuple(program.tags)
    nodes_scanned = 0
    for node in program.graph.nodes:
        nodes_scanned += 1
        family = classify(node, program)
        reach = walker.node_reach.get(node.name)
        if family is None or reach is None or reach.kind == SAVER:
            continue
        findings.append(UnsafeOp(node.op, node.name, "<main graph>", family, reach.kind, reach.path, tags, op_detail(node)))
    for name in program.library:
        reach = walker.function_reach.get(name)
        body = program.body(name)
        assert body is not None
        for node in body.nodes:
            nodes_scanned += 1
            family = classify(node, program)
            if family is None or reach is None or reach.kind == SAVER:
                continue
            findings.append(UnsafeOp(node.op, node.name, name, family, reach.kind, reach.path, tags, op_detail(node)))
    findings.sort(key=lambda f: (_KIND_RANK[f.entry], f.function, f.node))
    return findings, len(program.library), nodes_scanned


def scan_proto(proto: Any, path: Path | None = None) -> ScanResult:
    result = ScanResult()
    for meta_graph in proto.meta_graphs:
        findings, functions, nodes = scan_program(Program(meta_graph, path))
        result.meta_graphs += 1
        result.functions_scanned += functions
        result.nodes_scanned += nodes
        for finding in findings:
            if finding.allowed:
                result.allowed.append(finding)
            elif finding.entry in (GRAPH, UNREACHED):
                result.unreachable.append(finding)
            else:
                result.findings.append(finding)
    return result


_scan_cache: list[tuple[Any, ScanResult | None]] = []


def scan_source(source: Any) -> ScanResult | None:
    """Scan every MetaGraph of a ``ModelSource`` (cached per source); None when there is no graph to read."""
    for cached, result in _scan_cache:
        if cached is source:
            return result
    proto = saved_model_of(source)
    result = None
    if proto is not None:
        path = Path(source.path)
        result = scan_proto(proto, path if path.is_dir() else None)
    _scan_cache.append((source, result))
    del _scan_cache[:-4]
    return result


def scan_path(path: Path) -> ScanResult | None:
    from hubcheck.graph.program import read_saved_model

    proto = read_saved_model(path) if path.is_dir() else None
    return None if proto is None else scan_proto(proto, path)


__all__ = [
    "FAMILIES", "ScanResult", "UnsafeOp", "classify", "denylist", "scan_path", "scan_proto",
    "scan_source", "tensorflow_denylist",
]
