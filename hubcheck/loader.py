"""Recognise what a model directory holds, then load it once.

:func:`inspect_path` reads files and protos only; it never executes the model.
It answers "what is this?" with a :class:`ModelSource`, including a ``problem``
sentence when the directory cannot be a TF2 Reusable SavedModel.
:func:`load_saved_model` then calls ``tf.saved_model.load`` exactly once.
"""

from __future__ import annotations

import dataclasses
import enum
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubcheck.results import JSONValue, one_line
from hubcheck.tensors import TensorInfo

EXPORT_HINT = (
    "Export a SavedModel directory with tf.saved_model.save(model, path) "
    "(tf-keras: model.save(path) without a .h5/.keras suffix) and check that directory."
)


class ModelFormat(str, enum.Enum):
    TF2_SAVED_MODEL = "tf2-saved-model"
    TF1_SAVED_MODEL = "tf1-saved-model"  # signatures only, no object graph
    TF1_HUB_MODULE = "tf1-hub-module"
    KERAS_FILE = "keras-file"
    NOT_A_SAVED_MODEL = "not-a-saved-model"
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class SignatureInfo:
    name: str
    inputs: dict[str, TensorInfo]
    outputs: dict[str, TensorInfo]

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "inputs": {k: v.to_json() for k, v in sorted(self.inputs.items())},
            "outputs": {k: v.to_json() for k, v in sorted(self.outputs.items())},
        }

    def describe(self) -> str:
        ins = ", ".join(f"{k}: {v.describe()}" for k, v in sorted(self.inputs.items()))
        outs = ", ".join(f"{k}: {v.describe()}" for k, v in sorted(self.outputs.items()))
        return f"{self.name}({ins}) -> {{{outs}}}"


@dataclass(frozen=True)
class ModelSource:
    """What :func:`inspect_path` learned about a path without running anything."""

    path: Path
    format: ModelFormat
    problem: str | None = None  # set when the path cannot be loaded as a TF2 SavedModel
    tags: tuple[str, ...] = ()
    meta_graph_tags: tuple[tuple[str, ...], ...] = ()
    tensorflow_version: str | None = None  # of the exporter
    signatures: tuple[SignatureInfo, ...] = ()
    has_object_graph: bool = False
    load_path: str | None = None  # "tf2" or "tf1": the loader tf.saved_model.load will take
    load_path_reason: str | None = None
    saved_model_proto: Any = field(default=None, compare=False, repr=False)

    @property
    def loadable(self) -> bool:
        return self.problem is None


class ModelLoadError(Exception):
    """``tf.saved_model.load`` failed; the message is one line for the user."""


def _signatures(meta_graph: Any) -> tuple[SignatureInfo, ...]:
    from hubcheck.graph.program import tensor_info

    found = []
    for name, sig in sorted(meta_graph.signature_def.items()):
        if name.startswith("__"):  # __saved_model_init_op and friends are plumbing
            continue
        found.append(
            SignatureInfo(
                name,
                {k: tensor_info(v) for k, v in sig.inputs.items()},
                {k: tensor_info(v) for k, v in sig.outputs.items()},
            )
        )
    return tuple(found)


def _describe_listing(path: Path) -> str:
    try:
        names = sorted(os.listdir(path))
    except OSError as exc:
        return f"cannot list it ({exc.strerror})"
    if not names:
        return "it is empty"
    shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    return f"it contains: {shown}"


def _keras_file_problem(path: Path) -> str:
    return (
        f"{path.name} is a Keras model file, not a SavedModel directory; "
        "a Reusable SavedModel is a directory with saved_model.pb and variables/. "
        f"`hubcheck export {path.name} OUT` writes one from it (Keras 3 or tf-keras; "
        "tf.saved_model.save of a Keras 3 model gives no __call__) and checks it (docs/export.md)."
    )


KERAS_SUFFIXES = (".h5", ".hdf5", ".keras")


def inspect_path(path: Path) -> ModelSource:
    """Classify ``path`` (which must exist) and parse its SavedModel proto."""
    return classify_files(path) or _parse_saved_model(path, _proto_path(path))


def _proto_path(path: Path) -> Path:
    pb = path / "saved_model.pb"
    return pb if os.path.lexists(pb) else path / "saved_model.pbtxt"


def classify_files(path: Path) -> ModelSource | None:
    """What ``path`` is from its file names alone (no TensorFlow), or None if it holds a SavedModel proto."""
    if path.is_file():
        if path.suffix.lower() in KERAS_SUFFIXES:
            return ModelSource(path, ModelFormat.KERAS_FILE, _keras_file_problem(path))
        return ModelSource(
            path,
            ModelFormat.NOT_A_SAVED_MODEL,
            f"{path} is a file; a SavedModel is a directory holding saved_model.pb and variables/. "
            + EXPORT_HINT,
        )
    if (path / "tfhub_module.pb").exists():
        return ModelSource(
            path,
            ModelFormat.TF1_HUB_MODULE,
            "This is a TF1 Hub module (tfhub_module.pb), a deprecated format that TF2 cannot call "
            "as a Reusable SavedModel. Re-export the model from TF2 with tf.saved_model.save() "
            "so that the root object has __call__, variables and trainable_variables.",
        )
    if not os.path.lexists(_proto_path(path)):
        keras_files = sorted(p.name for p in path.glob("*") if p.suffix.lower() in KERAS_SUFFIXES)
        if keras_files:
            return ModelSource(path, ModelFormat.KERAS_FILE, _keras_file_problem(path / keras_files[0]))
        return ModelSource(
            path,
            ModelFormat.NOT_A_SAVED_MODEL,
            f"No saved_model.pb or saved_model.pbtxt in {path} ({_describe_listing(path)}). "
            + EXPORT_HINT,
        )
    return None


def _parse_saved_model(path: Path, proto_path: Path) -> ModelSource:
    from hubcheck.graph.program import TF1_PATH, SavedModelUnreadable, choose_meta_graph, load_path, parse_saved_model

    try:
        proto = parse_saved_model(path)
    except SavedModelUnreadable as exc:
        return ModelSource(path, ModelFormat.UNREADABLE, str(exc))
    if proto is None:  # vanished since classify_files looked
        return ModelSource(path, ModelFormat.UNREADABLE, f"Cannot read {proto_path.name}.")
    if not proto.meta_graphs:
        return ModelSource(
            path, ModelFormat.UNREADABLE, f"{proto_path.name} parses but holds no MetaGraph; re-export the model."
        )
    meta_graph_tags = tuple(tuple(mg.meta_info_def.tags) for mg in proto.meta_graphs)
    chosen = choose_meta_graph(proto)
    assert chosen is not None  # there is at least one MetaGraph
    has_object_graph = len(chosen.object_graph_def.nodes) > 0
    path_kind, path_reason = load_path(proto)
    source = ModelSource(
        path=path,
        # TensorFlow's own rule decides the format: a TF2 object graph beside a second MetaGraph
        # is loaded by the TF1 loader, and what comes back has no __call__.
        format=ModelFormat.TF1_SAVED_MODEL if path_kind == TF1_PATH else ModelFormat.TF2_SAVED_MODEL,
        tags=tuple(chosen.meta_info_def.tags),
        meta_graph_tags=meta_graph_tags,
        tensorflow_version=chosen.meta_info_def.tensorflow_version or None,
        signatures=_signatures(chosen),
        has_object_graph=has_object_graph,
        load_path=path_kind,
        load_path_reason=path_reason,
        saved_model_proto=proto,
    )
    problem = _special_file_problem(path) or _variables_problem(path, chosen)
    if problem:
        return dataclasses.replace(source, problem=problem)
    return source


def _special_file_problem(path: Path) -> str | None:
    """A file TensorFlow would open that is a FIFO, device or socket: opening it could block or never end."""
    from hubcheck.modelfiles import MAX_SMALL_FILE_BYTES, SIDE_FILES, loader_files

    for found in loader_files(path):
        if found.kind not in ("a regular file", "a directory"):
            return (
                f"{found.name} is {found.kind}, not a regular file; tf.saved_model.load would block on it or "
                "read it without end, so hubcheck does not load this model. Publish regular files only."
            )
        if found.name in SIDE_FILES and os.path.getsize(path / found.name) > MAX_SMALL_FILE_BYTES:
            return (
                f"{found.name} is {os.path.getsize(path / found.name)} bytes, over the {MAX_SMALL_FILE_BYTES}-byte "
                "limit; tf.saved_model.load reads it whole into memory. Re-export the model."
            )
    return None


def _graph_has_variables(meta_graph: Any) -> bool:
    from tensorflow.core.protobuf import saved_object_graph_pb2  # noqa: F401  (proto types)

    if any(node.WhichOneof("kind") == "variable" for node in meta_graph.object_graph_def.nodes):
        return True
    # TF1 exports: variables live in the graph and are restored by a SaverDef.
    var_ops = {"VariableV2", "VarHandleOp", "Variable"}
    return any(node.op in var_ops for node in meta_graph.graph_def.node)


def _variables_problem(path: Path, meta_graph: Any) -> str | None:
    if not _graph_has_variables(meta_graph):
        return None
    variables_dir = path / "variables"
    index = variables_dir / "variables.index"
    if not variables_dir.is_dir():
        return (
            "The model has variables but the variables/ folder is missing; "
            "copy the whole exported directory (saved_model.pb and variables/)."
        )
    if not index.is_file():
        return "variables/variables.index is missing; copy the whole exported directory again."
    shards = list(variables_dir.glob("variables.data-*"))
    if not shards:
        return "variables/ has an index but no variables.data-* shard; copy the whole exported directory again."
    return None


@dataclass
class LoadedModel:
    """The root object returned by ``tf.saved_model.load`` and where it came from."""

    source: ModelSource
    root: Any
    load_seconds: float = 0.0


def load_saved_model(source: ModelSource) -> LoadedModel:
    """Call ``tf.saved_model.load`` once; wrap any failure in :class:`ModelLoadError`."""
    import time

    from hubcheck.tfimport import tensorflow

    tf = tensorflow()
    started = time.perf_counter()
    try:
        root = tf.saved_model.load(str(source.path), tags=list(source.tags) or None)
    except Exception as exc:  # TensorFlow raises many unrelated types here
        raise ModelLoadError(one_line(exc, limit=400)) from exc
    return LoadedModel(source, root, time.perf_counter() - started)
