"""What the graph says about a model, without running it: the data behind ``hubcheck inspect``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from hubcheck.graph.input_range import analyze_call, analyze_signatures
from hubcheck.graph.program import Program, choose_meta_graph, saved_model_of, tensor_info
from hubcheck.graph.unsafe import SAVER, scan_proto, walk_program
from hubcheck.results import JSONValue
from hubcheck.tensors import render

FORMAT_NAMES = {
    "tf2-saved-model": "TF2 SavedModel",
    "tf1-saved-model": "TF1 signature-only SavedModel",
    "tf1-hub-module": "TF1 Hub module",
    "keras-file": "Keras file",
    "not-a-saved-model": "not a SavedModel",
    "unreadable": "unreadable SavedModel",
}


def _tensor(info: Any) -> dict[str, JSONValue]:
    return tensor_info(info).to_json()


def describe_tensor(tensor: dict[str, JSONValue]) -> str:
    shape = tensor.get("shape")
    return render(str(tensor.get("dtype")), shape if isinstance(shape, list) else None)


def signatures(program: Program) -> dict[str, JSONValue]:
    found: dict[str, JSONValue] = {}
    for name, signature in sorted(program.meta_graph.signature_def.items()):
        if name.startswith("__"):
            continue
        found[name] = {
            "inputs": {key: _tensor(value) for key, value in sorted(signature.inputs.items())},
            "outputs": {key: _tensor(value) for key, value in sorted(signature.outputs.items())},
            "method_name": signature.method_name or None,
        }
    return found


def _bytes(dtype_enum: int, dims: list[int]) -> int | None:
    from hubcheck.tfimport import tensorflow

    try:
        dtype = tensorflow().dtypes.as_dtype(dtype_enum)
    except TypeError:
        return None
    if any(d < 0 for d in dims):
        return None
    count = 1
    for d in dims:
        count *= d
    try:
        return count * dtype.size
    except (AttributeError, TypeError):
        return None


def variables(program: Program) -> dict[str, JSONValue]:
    """Count and size of the variables, from the object graph (TF2) or the variable ops (TF1)."""
    count = trainable = total = 0
    unknown = 0
    if program.has_object_graph:
        source = "object graph"
        for node in program.object_graph.nodes:
            if node.WhichOneof("kind") != "variable":
                continue
            variable = node.variable
            count += 1
            trainable += bool(variable.trainable)
            size = _bytes(variable.dtype, [d.size for d in variable.shape.dim])
            if size is None:
                unknown += 1
            else:
                total += size
    else:
        source = "graph variable ops"
        for node in program.graph.nodes:
            if node.op not in ("VariableV2", "Variable", "VarHandleOp"):
                continue
            count += 1
            shape = node.attr["shape"].shape if "shape" in node.attr else None
            dtype = node.attr["dtype"].type if "dtype" in node.attr else 0
            size = None if shape is None or shape.unknown_rank else _bytes(dtype, [d.size for d in shape.dim])
            if size is None:
                unknown += 1
            else:
                total += size
        collection = program.meta_graph.collection_def.get("trainable_variables")
        trainable = len(collection.bytes_list.value) if collection is not None else 0
    return {"count": count, "trainable": trainable, "bytes": total, "unknown_size": unknown, "source": source}


def op_histogram(program: Program) -> dict[str, int]:
    """Ops of every main-graph node and library function the model can run (not the variable save/restore)."""
    walker = walk_program(program)
    counts: Counter[str] = Counter()
    for node in program.graph.nodes:
        reach = walker.node_reach.get(node.name)
        if reach is None or reach.kind != SAVER:
            counts[node.op] += 1
    for name in program.library:
        reach = walker.function_reach.get(name)
        if reach is not None and reach.kind == SAVER:
            continue
        body = program.body(name)
        assert body is not None
        counts.update(node.op for node in body.nodes)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def endpoints(program: Program) -> dict[str, int]:
    """Functions saved as attributes of the root other than ``__call__``, with their number of traces."""
    found: dict[str, int] = {}
    nodes = program.object_graph.nodes
    if not len(nodes):
        return found
    for child in nodes[0].children:
        if child.local_name == "__call__" or not 0 <= child.node_id < len(nodes):
            continue
        node = nodes[child.node_id]
        kind = node.WhichOneof("kind")
        if kind == "function":
            found[child.local_name] = len(node.function.concrete_functions)
        elif kind == "bare_concrete_function":
            found[child.local_name] = 1
    return found


def describe_model(path: Path) -> dict[str, JSONValue]:
    """Everything ``hubcheck inspect`` prints, as JSON-ready data. Never loads or calls the model."""
    from hubcheck.loader import inspect_path

    source = inspect_path(path)
    fmt = source.format.value
    info: dict[str, JSONValue] = {
        "path": str(path),
        "format": fmt,
        "format_name": FORMAT_NAMES.get(fmt, fmt),
        "problem": source.problem,
    }
    proto = saved_model_of(source)
    if proto is None:
        info["note"] = "there is no SavedModel graph to read"
        return info
    meta_graph = choose_meta_graph(proto, source.tags)
    if meta_graph is None:
        info["note"] = "the SavedModel holds no MetaGraph"
        return info
    program = Program(meta_graph, path if path.is_dir() else None)
    info["exported_by_tensorflow"] = meta_graph.meta_info_def.tensorflow_version or None
    info["meta_graphs"] = [list(mg.meta_info_def.tags) for mg in proto.meta_graphs]
    info["tags"] = program.tags
    if program.call_function is not None:
        info["call"] = {
            "argument_names": program.call_argument_names,
            "traces": [trace.to_json() for trace in program.traces],
        }
    else:
        info["call"] = None
    info["endpoints"] = endpoints(program)
    info["signatures"] = signatures(program)
    info["variables"] = variables(program)
    histogram = op_histogram(program)
    info["ops"] = {"distinct": len(histogram), "nodes": sum(histogram.values()), "histogram": histogram,
                   "functions": len(program.library)}
    info["unsafe"] = scan_proto(proto, path if path.is_dir() else None).to_json()
    info["input_range"] = {
        "call": [analysis.to_json() for analysis in analyze_call(program)] if program.traces else [],
        "signatures": [analysis.to_json() for analysis in analyze_signatures(program)],
    }
    return info
