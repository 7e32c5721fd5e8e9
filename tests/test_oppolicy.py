"""The op allowlist/denylist covers every op this TensorFlow registers, once, and allows what models use."""

from __future__ import annotations

import ast
import importlib.util
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from hubcheck.graph import oppolicy
from hubcheck.graph.oppolicy import (
    ALLOWED_FAMILIES,
    CONDITIONAL_OPS,
    DENIED_FAMILIES,
    FILE_NAME_ATTRS,
    OpFamily,
    family,
    op_verdict,
    registered_ops,
)

ALL_FAMILIES: tuple[OpFamily, ...] = (*ALLOWED_FAMILIES, *DENIED_FAMILIES)


def _listed() -> Counter[str]:
    return Counter(op for entry in ALL_FAMILIES for op in entry.ops)


def test_every_registered_op_is_classified() -> None:
    registered = registered_ops()
    assert len(registered) > 1000, f"TF_GetAllOpList returned only {len(registered)} ops"
    unclassified = sorted(registered - set(_listed()))
    assert not unclassified, (
        f"{len(unclassified)} op(s) registered by this TensorFlow are in no family of hubcheck/graph/oppolicy.py; "
        f"review each and classify it there (allowed or denied, with the family's reason): {', '.join(unclassified)}"
    )
    for op in sorted(registered)[:: max(1, len(registered) // 50)]:  # a sample through the public function
        assert op_verdict(op).status in ("allowed", "denied"), op


def test_families_are_well_formed() -> None:
    names = [entry.name for entry in ALL_FAMILIES]
    assert len(names) == len(set(names)), [name for name, count in Counter(names).items() if count > 1]
    assert all(entry.allowed for entry in ALLOWED_FAMILIES)
    assert not any(entry.allowed for entry in DENIED_FAMILIES)
    for entry in ALL_FAMILIES:
        assert entry.ops, entry.name
        assert entry.reason.strip(), entry.name
        assert isinstance(entry.ops, frozenset) and all(isinstance(op, str) and op for op in entry.ops), entry.name
        assert family(entry.name) is entry
    for kept in ("file-read", "file-write", "checkpoint", "summary", "debug", "print", "memory-mapped", "python",
                 "network", "dataset", "program-as-data", "test-only"):
        assert not family(kept).allowed, kept
    with pytest.raises(KeyError):
        family("no-such-family")


def test_no_op_is_in_two_families() -> None:
    twice = {op: [entry.name for entry in ALL_FAMILIES if op in entry.ops]
             for op, count in _listed().items() if count > 1}
    assert not twice, f"ops in more than one family (an op both allowed and denied is a bug): {twice}"
    assert not (oppolicy.ALLOWED_OPS & oppolicy.DENIED_OPS)


def test_conditional_ops_are_denied() -> None:
    assert CONDITIONAL_OPS
    for op, condition in CONDITIONAL_OPS.items():
        verdict = op_verdict(op)
        assert verdict.status == "denied", f"{op} is conditional ({condition}) but {verdict.status} in {verdict.family}"
        assert condition.strip()
    for op in ("SaveV2", "RestoreV2", "MergeV2Checkpoints"):
        assert op_verdict(op).family == "checkpoint"
    assert {"vocab_file", "filename", "file_pattern", "output_stream"} <= FILE_NAME_ATTRS


def _saved_model_cli_denylist() -> frozenset[str]:
    """``_OP_DENYLIST`` from the source of saved_model_cli, which is not imported (it defines absl flags)."""
    spec = importlib.util.find_spec("tensorflow.python.tools.saved_model_cli")
    assert spec is not None and spec.origin, "tensorflow.python.tools.saved_model_cli not found"
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "_OP_DENYLIST" for target in statement.targets
        ):
            return frozenset(
                node.value for node in ast.walk(statement.value)
                if isinstance(node, ast.Constant) and isinstance(node.value, str)
            )
    raise AssertionError("_OP_DENYLIST not found in saved_model_cli")


def test_tensorflow_saved_model_cli_denylist_is_denied() -> None:
    tensorflow_list = _saved_model_cli_denylist()
    assert {"ReadFile", "WriteFile"} <= tensorflow_list
    not_denied = {op: op_verdict(op).status for op in sorted(tensorflow_list) if op not in oppolicy.DENIED_OPS}
    assert not not_denied, f"saved_model_cli denylists ops that oppolicy does not deny: {not_denied}"


@pytest.mark.parametrize(
    ("op", "family_name"),
    [
        ("ReadFile", "file-read"), ("WriteFile", "file-write"), ("DatasetFromGraph", "dataset"),
        ("XlaCallModule", "program-as-data"), ("PyFunc", "python"), ("FixedUnigramCandidateSampler", "file-read"),
        ("Abort", "process"), ("ImmutableConst", "memory-mapped"), ("PrintV2", "print"),
        ("RpcClient", "network"), ("InitializeTableFromTextFileV2", "file-read"),
    ],
)
def test_denied_spot_checks(op: str, family_name: str) -> None:
    verdict = op_verdict(op)
    assert (verdict.status, verdict.family) == ("denied", family_name)
    assert verdict.reason == family(family_name).reason


@pytest.mark.parametrize(
    "op",
    ["Conv2D", "MatMul", "ReadVariableOp", "StatefulPartitionedCall", "VarHandleOp", "Const", "Identity",
     "DecodeJpeg", "ShardedFilename", "StringJoin", "If", "While", "FusedBatchNormV3"],
)
def test_allowed_spot_checks(op: str) -> None:
    verdict = op_verdict(op)
    assert verdict.status == "allowed", verdict
    assert family(verdict.family).allowed and op in family(verdict.family).ops


def test_unknown_and_unreviewed_ops() -> None:
    custom = "HubcheckNoSuchCustomOp"
    assert custom not in registered_ops()
    unknown = op_verdict(custom)  # the default lookup: TensorFlow's op registry
    assert (unknown.status, unknown.family) == ("unknown", "unknown-op")
    assert unknown.reason == family("unknown-op").reason

    def everything_registered(op: str) -> bool:
        return True

    unreviewed = op_verdict("HubcheckFutureTensorFlowOp", everything_registered)
    assert (unreviewed.status, unreviewed.family) == ("unreviewed", "unreviewed-op")
    assert "neither list" in unreviewed.reason
    # A listed op keeps its verdict whatever the registry says.
    assert op_verdict("Conv2D", lambda op: False).status == "allowed"
    assert op_verdict("ReadFile", lambda op: False).status == "denied"


def test_typical_model_ops_are_allowed(tmp_path: Path) -> None:
    from hubcheck.tfimport import tensorflow

    tf = tensorflow()
    from tensorflow.core.protobuf import saved_model_pb2

    module_base: Any = tf.Module

    class Tiny(module_base):
        def __init__(self) -> None:
            super().__init__()
            self.kernel = tf.Variable(tf.random.normal([3, 3, 3, 4]), name="kernel")
            self.bias = tf.Variable(tf.zeros([4]), name="bias")
            self.scale = tf.Variable(tf.ones([4]), name="scale")
            self.offset = tf.Variable(tf.zeros([4]), name="offset")
            self.mean = tf.Variable(tf.zeros([4]), name="moving_mean", trainable=False)
            self.variance = tf.Variable(tf.ones([4]), name="moving_variance", trainable=False)
            self.dense = tf.Variable(tf.random.normal([4, 5]), name="dense")

        @tf.function(input_signature=[tf.TensorSpec([None, 16, 16, 3], tf.float32)])
        def __call__(self, images: Any) -> Any:
            x = tf.image.resize(images, [8, 8])
            x = tf.nn.conv2d(x, self.kernel, strides=1, padding="SAME")
            x = tf.nn.bias_add(x, self.bias)
            x, _, _ = tf.compat.v1.nn.fused_batch_norm(
                x, self.scale, self.offset, self.mean, self.variance, is_training=False
            )
            x = tf.nn.relu6(x)
            x = tf.nn.depthwise_conv2d(x, tf.ones([3, 3, 4, 1]), strides=[1, 1, 1, 1], padding="SAME")
            x = tf.reduce_mean(x, axis=[1, 2])
            return tf.nn.softmax(tf.matmul(x, self.dense))

    path = tmp_path / "tiny"
    model = Tiny()
    tf.saved_model.save(model, str(path), signatures=model.__call__.get_concrete_function())
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())

    seen: set[str] = set()
    for meta_graph in proto.meta_graphs:
        library = {function.signature.name for function in meta_graph.graph_def.library.function}
        nodes = list(meta_graph.graph_def.node)
        for function in meta_graph.graph_def.library.function:
            nodes += function.node_def
        seen |= {node.op for node in nodes if node.op not in library}
    assert {"Conv2D", "MatMul", "ReadVariableOp", "VarHandleOp", "SaveV2", "RestoreV2"} <= seen, sorted(seen)

    saver_ops = {op for op in seen if op in CONDITIONAL_OPS and op_verdict(op).family == "checkpoint"}
    assert saver_ops <= {"SaveV2", "RestoreV2", "MergeV2Checkpoints"}, saver_ops
    refused = {op: op_verdict(op).family for op in sorted(seen - saver_ops) if op_verdict(op).status != "allowed"}
    assert not refused, f"ops of a typical TF2 SavedModel that the policy does not allow: {refused}"
