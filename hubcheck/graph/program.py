"""A SavedModel as a program to read, never to run.

:class:`Program` wraps one MetaGraph of a parsed ``saved_model.pb``: the main
graph, the function library, the object graph (the root's ``__call__`` and its
traced concrete functions) and the signatures. :class:`Body` is one function
or the main graph with its dataflow indexed both ways, so analyses can walk
producers (backwards) and consumers (forwards) and step into nested calls.

Nothing here calls ``tf.saved_model.load``, builds a graph, or executes an op.
TensorFlow is imported only for its protos, its op registry (which ops this
TensorFlow knows and what their outputs are called), ``nested_structure_coder``
(to decode the traced input signatures) and the checkpoint reader (which reads
variable values as data, for folding constants).
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from hubcheck.modelfiles import MAX_PROTO_BYTES, PROTO_NAMES, ModelFileError, read_regular_file
from hubcheck.results import JSONValue
from hubcheck.tensors import TensorInfo, spec_info

CALL_OPS = frozenset({"PartitionedCall", "StatefulPartitionedCall"})
"""Ops whose ``f`` attribute is a function called with the node's inputs, returning its outputs."""

CONTROL_FLOW_OPS = frozenset({"If", "StatelessIf", "While", "StatelessWhile", "Case", "StatelessCase"})


def _tf() -> Any:
    from hubcheck.tfimport import tensorflow

    return tensorflow()


# -- op registry ---------------------------------------------------------------------------------


def op_def(op_type: str) -> Any | None:
    """The OpDef this TensorFlow registers for ``op_type``, or None for an op it does not know."""
    _tf()
    from tensorflow.python.framework import op_def_registry

    try:
        return op_def_registry.get(op_type)
    except Exception:  # noqa: BLE001 - a malformed name is simply unknown
        return None


def tensor_info(proto: Any) -> TensorInfo:
    """A signature's ``TensorInfo`` proto (dtype enum, shape proto) as a :class:`TensorInfo`."""
    tf = _tf()
    shape = proto.tensor_shape
    dims = None if shape.unknown_rank else tuple(None if d.size < 0 else int(d.size) for d in shape.dim)
    try:
        dtype = str(tf.dtypes.as_dtype(proto.dtype).name)
    except TypeError:
        dtype = f"dtype#{proto.dtype}"
    return TensorInfo(dtype, dims)


def _arg_count(arg: Any, node: Any) -> int:
    if arg.number_attr:
        return int(node.attr[arg.number_attr].i) if arg.number_attr in node.attr else 1
    if arg.type_list_attr:
        return len(node.attr[arg.type_list_attr].list.type) if arg.type_list_attr in node.attr else 1
    return 1


# -- one function body or the main graph -----------------------------------------------------------


@dataclass(frozen=True)
class Use:
    """``node`` reads the tracked tensor as its input number ``position`` (control inputs excluded)."""

    node: Any
    position: int


class Body:
    """A FunctionDef or the main GraphDef with producers and consumers indexed.

    Tensor references are canonical strings: in a function, ``"arg"`` for an
    argument and ``"node:out_arg:index"`` for a node output; in the main graph,
    ``"node:index"``. Control inputs (``"^node"``) are kept apart.
    """

    def __init__(self, program: Program, name: str, nodes: Any, function: Any | None = None) -> None:
        self.program = program
        self.name = name
        self.function = function
        self.is_function = function is not None
        self.nodes: list[Any] = list(nodes)
        self.by_name: dict[str, Any] = {node.name: node for node in self.nodes}
        self.args: list[str] = [arg.name for arg in function.signature.input_arg] if function is not None else []
        self.output_names: list[str] = [arg.name for arg in function.signature.output_arg] if function is not None else []
        self.rets: list[str] = [function.ret[name] for name in self.output_names] if function is not None else []
        self._uses: dict[str, list[Use]] | None = None

    def __repr__(self) -> str:
        return f"Body({self.name!r})"

    def data_inputs(self, node: Any) -> list[str]:
        return [self.canonical(text) for text in node.input if not text.startswith("^")]

    def control_inputs(self, node: Any) -> list[str]:
        return [text[1:] for text in node.input if text.startswith("^")]

    def canonical(self, text: str) -> str:
        if self.is_function:
            return text
        return text if ":" in text else f"{text}:0"

    @property
    def uses(self) -> dict[str, list[Use]]:
        if self._uses is None:
            uses: dict[str, list[Use]] = {}
            for node in self.nodes:
                for position, ref in enumerate(self.data_inputs(node)):
                    uses.setdefault(ref, []).append(Use(node, position))
            self._uses = uses
        return self._uses

    def consumers(self, ref: str) -> list[Use]:
        return self.uses.get(ref, [])

    def ret_positions(self, ref: str) -> list[int]:
        return [index for index, ret in enumerate(self.rets) if ret == ref]

    def producer(self, ref: str) -> tuple[Any | None, int]:
        """``(node, flat output index)``, or ``(None, argument index)`` for a function argument."""
        if self.is_function and ":" not in ref:
            return None, self.args.index(ref) if ref in self.args else -1
        parts = ref.split(":")
        node = self.by_name.get(parts[0])
        if node is None:
            return None, -1
        try:  # a hostile proto may name "x:abc"
            if not self.is_function:
                return node, int(parts[1]) if len(parts) > 1 else 0
            out_arg, index = (parts[1], int(parts[2])) if len(parts) > 2 else (parts[1] if len(parts) > 1 else "", 0)
        except ValueError:
            return None, -1
        return node, self._flat_index(node, out_arg, index)

    def _output_args(self, node: Any) -> list[tuple[str, int]]:
        callee = self.program.callee(node)
        if callee is not None and node.op not in CALL_OPS:
            return [(name, 1) for name in callee.output_names]
        definition = op_def(node.op)
        if definition is None:
            return []
        return [(arg.name, _arg_count(arg, node)) for arg in definition.output_arg]

    def _flat_index(self, node: Any, out_arg: str, index: int) -> int:
        offset = 0
        for name, count in self._output_args(node):
            if name == out_arg:
                return offset + index
            offset += count
        return index

    def output_ref(self, node: Any, flat_index: int = 0) -> str:
        if not self.is_function:
            return f"{node.name}:{flat_index}"
        offset = 0
        for name, count in self._output_args(node):
            if flat_index < offset + count:
                return f"{node.name}:{name}:{flat_index - offset}"
            offset += count
        return f"{node.name}:output:{flat_index}"


# -- the object graph: __call__ and its traces -----------------------------------------------------


@dataclass(frozen=True)
class Trace:
    """One concrete function of the root's ``__call__``, read from the object graph.

    The one description of a trace: the graph analyses and the checks both use it
    (the loaded object's own view is never decoded a second time).
    """

    function: str  # the FunctionDef name
    image: TensorInfo | None  # the first argument when it is one tensor
    first_argument: str  # the type name of the first argument
    training: bool | None  # the traced Python value; None if there is no training argument
    extra_kwargs: dict[str, JSONValue] = field(default_factory=dict)
    bound_inputs: tuple[int, ...] = ()

    def describe(self) -> str:
        parts = [self.image.describe() if self.image is not None else self.first_argument]
        if self.training is not None:
            parts.append(f"training={self.training}")
        parts += [f"{key}={value}" for key, value in self.extra_kwargs.items()]
        return ", ".join(parts)

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "function": self.function,
            "input": self.image.to_json() if self.image is not None else None,
            "first_argument": self.first_argument,
            "training": self.training,
            "extra_kwargs": dict(self.extra_kwargs),
        }


def _plain(value: Any) -> JSONValue:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    spec = spec_info(value)
    if spec is not None:
        return spec.describe()
    return repr(value)


MAX_STRUCTURE_NODES = 100_000
"""Messages a decoded structure may hold; a larger one is not decoded."""

MAX_EXPANSION_BYTES = 64 << 20
"""A TensorProto inside a structure may declare at most this much more than it stores
(a BoundedTensorSpec's minimum of float32[2**30] stored as one value would be filled in memory)."""


def expanding_tensor(message: Any) -> str | None:
    """Why a protobuf message must not be decoded: it holds a TensorProto that would expand in memory,
    or too many nested messages. Walks the message iteratively (no recursion)."""
    stack = [message]
    seen = 0
    while stack:
        current = stack.pop()
        seen += 1
        if seen > MAX_STRUCTURE_NODES:
            return f"more than {MAX_STRUCTURE_NODES} nested messages"
        if current.DESCRIPTOR.full_name == "tensorflow.TensorProto":
            elements = declared_elements(current.tensor_shape)
            if elements is None:
                continue
            if elements * 8 - current.ByteSize() > MAX_EXPANSION_BYTES:
                return f"a tensor declaring {elements} elements while storing {current.ByteSize()} bytes"
            continue
        for descriptor, value in current.ListFields():
            if descriptor.type != descriptor.TYPE_MESSAGE:
                continue
            if descriptor.is_repeated:
                items = value.values() if isinstance(value, Mapping) else value
                stack.extend(item for item in items if hasattr(item, "DESCRIPTOR"))
            else:
                stack.append(value)
    return None


def decode_structure(proto: Any) -> Any:
    """Decode a StructuredValue proto (TensorSpecs, bools, tuples...) without running anything."""
    _tf()
    from tensorflow.python.saved_model import nested_structure_coder

    return nested_structure_coder.decode_proto(proto)


# -- the program -----------------------------------------------------------------------------------


class Program:
    """One MetaGraph of a SavedModel, read as a program."""

    def __init__(self, meta_graph: Any, path: Path | None = None) -> None:
        self.meta_graph = meta_graph
        self.path = path
        self.library: dict[str, Any] = {f.signature.name: f for f in meta_graph.graph_def.library.function}
        self._bodies: dict[str, Body] = {}
        self._lock = threading.Lock()

    @property
    def tags(self) -> list[str]:
        return list(self.meta_graph.meta_info_def.tags)

    @property
    def object_graph(self) -> Any:
        return self.meta_graph.object_graph_def

    @property
    def has_object_graph(self) -> bool:
        return len(self.object_graph.nodes) > 0

    @cached_property
    def graph(self) -> Body:
        return Body(self, "<main graph>", self.meta_graph.graph_def.node)

    def body(self, name: str) -> Body | None:
        if name not in self.library:
            return None
        with self._lock:
            if name not in self._bodies:
                function = self.library[name]
                self._bodies[name] = Body(self, name, function.node_def, function)
            return self._bodies[name]

    def callee(self, node: Any) -> Body | None:
        """The function a call node runs: ``PartitionedCall``'s ``f`` or a node whose op is a library function."""
        if node.op in CALL_OPS and "f" in node.attr:
            return self.body(node.attr["f"].func.name)
        if node.op in self.library:
            return self.body(node.op)
        return None

    @staticmethod
    def function_attrs(node: Any) -> Iterator[tuple[str, str]]:
        """Every ``(attribute, function name)`` a node refers to, including list-valued attributes."""
        for key in sorted(node.attr):
            value = node.attr[key]
            if value.HasField("func") and value.func.name:
                yield key, value.func.name
            elif value.HasField("list"):
                for func in value.list.func:
                    if func.name:
                        yield key, func.name

    # -- object graph --------------------------------------------------------------------------

    @cached_property
    def object_paths(self) -> dict[int, str]:
        """A readable path for each object node, breadth first from the root (``root.layer-1.call``)."""
        nodes = self.object_graph.nodes
        paths: dict[int, str] = {}
        if not len(nodes):
            return paths
        paths[0] = "root"
        queue = deque([0])
        while queue:
            current = queue.popleft()
            for child in nodes[current].children:
                if child.node_id not in paths and 0 <= child.node_id < len(nodes):
                    paths[child.node_id] = f"{paths[current]}.{child.local_name}"
                    queue.append(child.node_id)
        return paths

    def root_child(self, name: str) -> Any | None:
        nodes = self.object_graph.nodes
        if not len(nodes):
            return None
        for child in nodes[0].children:
            if child.local_name == name and 0 <= child.node_id < len(nodes):
                return nodes[child.node_id]
        return None

    @cached_property
    def call_function(self) -> Any | None:
        """The ``function`` object of the root's ``__call__``, if it has one."""
        node = self.root_child("__call__")
        if node is None or node.WhichOneof("kind") != "function":
            return None
        return node.function

    @cached_property
    def _call_argspec(self) -> Any | None:
        function = self.call_function
        if function is None or not function.HasField("function_spec"):
            return None
        if expanding_tensor(function.function_spec) is not None:
            return None
        try:
            return decode_structure(function.function_spec.fullargspec)
        except Exception:  # noqa: BLE001 - an undecodable spec just has no names
            return None

    @cached_property
    def call_argument_names(self) -> list[str]:
        spec = self._call_argspec
        names = [name for name in (getattr(spec, "args", None) or []) if name != "self"]
        return names + list(getattr(spec, "kwonlyargs", None) or [])

    @cached_property
    def call_argument_defaults(self) -> dict[str, JSONValue]:
        """``__call__``'s arguments that have a Python default, with it (as the saved argspec records)."""
        spec = self._call_argspec
        args = [name for name in (getattr(spec, "args", None) or []) if name != "self"]
        defaults = list(getattr(spec, "defaults", None) or [])
        found = {name: _plain(value) for name, value in zip(args[len(args) - len(defaults):], defaults)}
        found.update({name: _plain(value) for name, value in (getattr(spec, "kwonlydefaults", None) or {}).items()})
        return found

    @cached_property
    def traces(self) -> list[Trace]:
        """The traced concrete functions of ``__call__`` with their inputs, as ``ctx.traces`` reports them after loading."""
        function = self.call_function
        if function is None:
            return []
        names = self.call_argument_names
        traces = []
        for name in function.concrete_functions:
            saved = self.object_graph.concrete_functions.get(name)
            bound = tuple(saved.bound_inputs) if saved is not None else ()
            try:
                if saved is None or expanding_tensor(saved.canonicalized_input_signature) is not None:
                    raise ValueError("a signature whose tensors would expand in memory is not decoded")
                args, kwargs = decode_structure(saved.canonicalized_input_signature)
            except Exception:  # noqa: BLE001 - unknown TypeSpec types: still list the trace
                traces.append(Trace(name, None, "<undecodable signature>", None, {}, bound))
                continue
            args = tuple(args)
            first = args[0] if args else None
            named: dict[str, Any] = dict(zip(names[1:], args[1:]))
            named.update(dict(kwargs))
            training = named.pop("training", None)
            traces.append(
                Trace(
                    function=name,
                    image=spec_info(first),
                    first_argument=type(first).__name__,
                    training=training if isinstance(training, bool) else None,
                    extra_kwargs={key: _plain(value) for key, value in sorted(named.items())},
                    bound_inputs=bound,
                )
            )
        return traces

    def object_functions(self) -> Iterator[tuple[str, str]]:
        """``(object path, concrete function name)`` for every function saved in the object graph."""
        paths = self.object_paths
        for node_id, node in enumerate(self.object_graph.nodes):
            kind = node.WhichOneof("kind")
            path = paths.get(node_id, f"node {node_id}")
            if kind == "function":
                for name in node.function.concrete_functions:
                    yield path, name
            elif kind == "bare_concrete_function":
                yield path, node.bare_concrete_function.concrete_function_name

    def resource_functions(self) -> Iterator[tuple[str, str]]:
        """Functions that loading runs on its own: resource creation/initialization (tables, iterators)."""
        paths = self.object_paths
        nodes = self.object_graph.nodes
        for node_id, node in enumerate(nodes):
            if node.WhichOneof("kind") != "resource":
                continue
            for child in node.children:
                if child.local_name in ("_create_resource", "_initialize") and 0 <= child.node_id < len(nodes):
                    target = nodes[child.node_id]
                    kind = target.WhichOneof("kind")
                    if kind == "function":
                        for name in target.function.concrete_functions:
                            yield f"{paths.get(node_id, node_id)}.{child.local_name}", name
                    elif kind == "bare_concrete_function":
                        yield f"{paths.get(node_id, node_id)}.{child.local_name}", target.bare_concrete_function.concrete_function_name

    # -- captured values, for constant folding ---------------------------------------------------

    def capture_value(self, node_id: int) -> Any | None:
        """The value of a captured constant or variable (read from the checkpoint as data), or None."""
        nodes = self.object_graph.nodes
        if not 0 <= node_id < len(nodes):
            return None
        node = nodes[node_id]
        kind = node.WhichOneof("kind")
        if kind == "constant":
            graph_node = self.graph.by_name.get(node.constant.operation)
            if graph_node is not None and graph_node.op == "Const":
                return const_value(graph_node)
            return None
        if kind == "variable":
            key = self.checkpoint_keys.get(node_id)
            reader = self.checkpoint_reader
            if key is None or reader is None:
                return None
            return checkpoint_value(reader, key)
        return None

    @cached_property
    def checkpoint_reader(self) -> Any | None:
        if self.path is None:
            return None
        prefix = self.path / "variables" / "variables"
        folder = self.path / "variables"
        # Only regular files: a FIFO or device in variables/ would block or never end the read.
        if not Path(f"{prefix}.index").is_file() or any(
            not (folder / name).is_file() for name in os.listdir(folder) if name.startswith("variables.")
        ):
            return None
        tf = _tf()
        try:
            return tf.train.load_checkpoint(str(prefix))
        except Exception:  # noqa: BLE001 - unreadable checkpoint: values unknown
            return None

    @cached_property
    def checkpoint_keys(self) -> dict[int, str]:
        """Object node id -> checkpoint key of its variable value (the checkpoint's object graph shares the ids)."""
        reader = self.checkpoint_reader
        if reader is None:
            return {}
        from tensorflow.core.protobuf import trackable_object_graph_pb2

        graph = trackable_object_graph_pb2.TrackableObjectGraph()
        try:
            graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
        except Exception:  # noqa: BLE001
            return {}
        keys = {}
        for node_id, node in enumerate(graph.nodes):
            for attribute in node.attributes:
                if attribute.name == "VARIABLE_VALUE":
                    keys[node_id] = attribute.checkpoint_key
        return keys


MAX_FOLDED_ELEMENTS = 1 << 22
"""Largest constant (in elements) the graph analyses materialise; a proto can declare float32[1.6e9]
while storing one value, and building that array would cost 6.4 GB."""


def declared_elements(shape_proto: Any) -> int | None:
    """Elements of a TensorShapeProto, or None when unknown."""
    if shape_proto.unknown_rank:
        return None
    count = 1
    for dim in shape_proto.dim:
        if dim.size < 0:
            return None
        count *= int(dim.size)
    return count


def const_value(node: Any) -> Any | None:
    """The value of a ``Const`` node as a numpy array (None if it cannot be decoded or is too large)."""
    _tf()
    from tensorflow.python.framework import tensor_util

    tensor = node.attr["value"].tensor
    elements = declared_elements(tensor.tensor_shape)
    if elements is None or elements > MAX_FOLDED_ELEMENTS:
        return None
    try:
        return tensor_util.MakeNdarray(tensor)
    except Exception:  # noqa: BLE001
        return None


# -- reading the file --------------------------------------------------------------------------------


class SavedModelUnreadable(Exception):
    """``saved_model.pb``/``.pbtxt`` cannot be read or parsed; the message is one sentence for the user."""


def proto_file(path: Path) -> Path | None:
    """The proto ``tf.saved_model.load`` reads in ``path``: ``saved_model.pb``, else ``saved_model.pbtxt``."""
    for name in PROTO_NAMES:
        if os.path.lexists(path / name):
            return path / name
    return None


def parse_saved_model(path: Path) -> Any | None:
    """The one reader of ``saved_model.pb``/``.pbtxt`` (loader, graph analyses and scan all use it).

    None when the folder has neither file; :class:`SavedModelUnreadable` when the file
    is not a regular file, is too large, empty, or does not parse. The file is read
    once, without blocking, under :data:`MAX_PROTO_BYTES`.
    """
    proto_path = proto_file(path)
    if proto_path is None:
        return None
    try:
        data = read_regular_file(proto_path, MAX_PROTO_BYTES)
    except ModelFileError as exc:
        raise SavedModelUnreadable(str(exc)) from None
    if not data:
        raise SavedModelUnreadable(f"{proto_path.name} is empty (0 bytes); re-export the model.")
    _tf()
    from google.protobuf import message, text_format
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    try:
        if proto_path.suffix == ".pbtxt":
            text_format.Parse(data.decode("utf-8", errors="replace"), proto)
        else:
            proto.ParseFromString(data)
    except (message.DecodeError, text_format.ParseError, ValueError, RuntimeError, RecursionError) as exc:
        first_line = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
        raise SavedModelUnreadable(
            f"{proto_path.name} ({len(data)} bytes) is not a valid SavedModel proto: it is truncated "
            f"or corrupt ({first_line}). Re-export or re-download the model."
        ) from None
    return proto


def read_saved_model(path: Path) -> Any | None:
    """Like :func:`parse_saved_model`, with None for a file that cannot be read (the loader reports why)."""
    try:
        return parse_saved_model(path)
    except SavedModelUnreadable:
        return None


def choose_meta_graph(proto: Any, tags: tuple[str, ...] | list[str] = ()) -> Any | None:
    """The MetaGraph to load: exactly ``tags`` if given, else the one tagged only ``serve``,
    else one tagged ``serve``, else the first (e.g. one tagged only ``train``)."""
    if not proto.meta_graphs:
        return None
    if tags:
        for meta_graph in proto.meta_graphs:
            if set(meta_graph.meta_info_def.tags) == set(tags):
                return meta_graph
    for meta_graph in proto.meta_graphs:
        if set(meta_graph.meta_info_def.tags) == {"serve"}:
            return meta_graph
    for meta_graph in proto.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return meta_graph
    return proto.meta_graphs[0]


TF2_PATH, TF1_PATH = "tf2", "tf1"


def load_path(proto: Any) -> tuple[str, str]:
    """Which loader ``tf.saved_model.load`` takes for this proto, and why, by TensorFlow's own rule.

    ``load.py`` takes the TF2 loader only when there is exactly one MetaGraph and it
    has an ``object_graph_def`` field; everything else goes to ``load_v1_in_v2``,
    which runs the saver's restore op and the init op (or the default local init op).
    """
    count = len(proto.meta_graphs)
    if count == 1 and proto.meta_graphs[0].HasField("object_graph_def"):
        return TF2_PATH, "one MetaGraph with an object graph: tf.saved_model.load uses its TF2 loader"
    if count == 1:
        return TF1_PATH, "no object graph: tf.saved_model.load uses its TF1 loader (load_v1_in_v2)"
    return TF1_PATH, (
        f"{count} MetaGraphs: tf.saved_model.load uses its TF1 loader (load_v1_in_v2) whenever there is more "
        "than one, even if one has an object graph"
    )


def saved_model_of(source: Any) -> Any | None:
    """The parsed SavedModel proto of a ``ModelSource``; TF1 Hub modules are parsed here (the loader does not)."""
    proto = getattr(source, "saved_model_proto", None)
    if proto is not None:
        return proto
    path = Path(source.path)
    if path.is_dir():
        return read_saved_model(path)
    return None


def checkpoint_value(reader: Any, key: str) -> Any | None:
    """A checkpoint tensor as data, only when it is at most :data:`MAX_FOLDED_ELEMENTS` elements."""
    import numpy as np

    try:
        shape = reader.get_variable_to_shape_map().get(key)
        if shape is None:
            return None
        elements = 1
        for dim in shape:
            elements *= int(dim)
        if elements > MAX_FOLDED_ELEMENTS:
            return None
        return np.asarray(reader.get_tensor(key))
    except Exception:  # noqa: BLE001 - an unreadable value is simply unknown
        return None
