"""The gate's own reading of a model folder: bounded, non-blocking, and TensorFlow's rules, not ours."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hubcheck.modelfiles import ModelFileError, asset_problem, is_plain_relative, loader_files, read_regular_file


def _finishes(target: Callable[[], Any], seconds: float = 10.0) -> Any:
    """Run ``target`` in a thread; fail (instead of hanging the suite) if it does not return in time."""
    box: list[Any] = []
    thread = threading.Thread(target=lambda: box.append(target()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"did not finish within {seconds}s"
    return box[0]


# -- read_regular_file --------------------------------------------------------------------------------


def test_reads_a_regular_file_under_the_cap(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"abc")
    assert read_regular_file(tmp_path / "f", 3) == b"abc"


def test_refuses_a_file_over_the_cap(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"abcd")
    with pytest.raises(ModelFileError, match="over the 3-byte limit"):
        read_regular_file(tmp_path / "f", 3)


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "saved_model.pb")

    def attempt() -> str:
        try:
            read_regular_file(tmp_path / "saved_model.pb", 100)
        except ModelFileError as exc:
            return str(exc)
        return "read"

    assert "FIFO" in _finishes(attempt)


def test_a_symlink_to_dev_zero_is_refused(tmp_path: Path) -> None:
    (tmp_path / "saved_model.pb").symlink_to("/dev/zero")
    with pytest.raises(ModelFileError, match="character device"):
        read_regular_file(tmp_path / "saved_model.pb", 1 << 30)


# -- asset names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["/etc/hostname", "../x", "a/../../x", "", "a//b", "./a", "a\x00b"])
def test_asset_names_that_are_not_plain_relative(name: str) -> None:
    assert not is_plain_relative(name)


def test_asset_inside_assets_is_fine_and_a_symlink_out_is_not(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "vocab.txt").write_text("a\n")
    secret = tmp_path.parent / f"{tmp_path.name}-secret.txt"
    secret.write_text("s\n")
    (tmp_path / "assets" / "link.txt").symlink_to(secret)
    assert asset_problem(tmp_path, "vocab.txt") is None
    problem = asset_problem(tmp_path, "link.txt")
    assert problem is not None and "outside the model's assets/" in problem
    assert "not a plain relative path" in (asset_problem(tmp_path, str(secret)) or "")


def test_loader_files_flags_what_resolves_outside(tmp_path: Path) -> None:
    outside = tmp_path / "cache"
    outside.mkdir()
    (outside / "blob").write_bytes(b"x")
    model = tmp_path / "model"
    (model / "variables").mkdir(parents=True)
    (model / "saved_model.pb").write_bytes(b"")
    (model / "variables" / "variables.index").symlink_to(outside / "blob")
    found = {item.name: item for item in loader_files(model)}
    assert found["variables/variables.index"].outside
    assert not found["saved_model.pb"].outside


# -- the loader: special files are a load failure, not a hang --------------------------------------------


def _copy(model_path: Callable[[str], Path], tmp_path: Path, name: str = "feature_vector") -> Path:
    target = tmp_path / "model"
    shutil.copytree(model_path(name), target)
    return target


def test_saved_model_pb_as_fifo_is_unreadable_at_once(model_path: Callable[[str], Path], tmp_path: Path) -> None:
    from hubcheck.loader import ModelFormat, inspect_path

    model = _copy(model_path, tmp_path)
    (model / "saved_model.pb").unlink()
    os.mkfifo(model / "saved_model.pb")
    source = _finishes(lambda: inspect_path(model))
    assert source.format is ModelFormat.UNREADABLE and "FIFO" in (source.problem or "")


def test_debug_info_as_fifo_is_a_load_problem(model_path: Callable[[str], Path], tmp_path: Path) -> None:
    from hubcheck.loader import inspect_path

    model = _copy(model_path, tmp_path)
    (model / "debug").mkdir(exist_ok=True)
    os.mkfifo(model / "debug" / "saved_model_debug_info.pb")
    source = _finishes(lambda: inspect_path(model))
    assert not source.loadable and "debug/saved_model_debug_info.pb is a FIFO" in (source.problem or "")


# -- TensorFlow's load-path rule ---------------------------------------------------------------------------


def test_load_path_follows_tensorflows_rule(model_path: Callable[[str], Path]) -> None:
    from tensorflow.core.protobuf import saved_model_pb2

    from hubcheck.graph.program import load_path, parse_saved_model

    proto = parse_saved_model(model_path("feature_vector"))
    assert proto is not None and load_path(proto)[0] == "tf2"
    doubled = saved_model_pb2.SavedModel()
    doubled.CopyFrom(proto)
    doubled.meta_graphs.add().CopyFrom(proto.meta_graphs[0])
    kind, reason = load_path(doubled)
    assert kind == "tf1" and "2 MetaGraphs" in reason
    doubled.meta_graphs.pop()
    doubled.meta_graphs[0].ClearField("object_graph_def")
    assert load_path(doubled)[0] == "tf1"


# -- bounded analyses ---------------------------------------------------------------------------------------


def test_const_value_refuses_a_huge_declared_shape() -> None:
    from tensorflow.core.framework import node_def_pb2, types_pb2

    from hubcheck.graph.program import const_value

    node = node_def_pb2.NodeDef(name="c", op="Const")
    tensor = node.attr["value"].tensor
    tensor.dtype = types_pb2.DT_FLOAT
    tensor.tensor_shape.dim.add().size = 1_600_000_000
    tensor.float_val.append(1.0)
    assert const_value(node) is None  # declared 6.4 GB, never materialised


def _chain_proto(length: int, last_op: str = "NoOp") -> Any:
    """A MetaGraph whose main graph calls f0, which calls f1, ... f{length-1}, which holds ``last_op``."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    meta_graph = proto.meta_graphs.add()
    meta_graph.meta_info_def.tags.append("serve")
    library = meta_graph.graph_def.library
    for index in range(length):
        function = library.function.add()
        function.signature.name = f"f{index}"
        node = function.node_def.add()
        if index + 1 < length:
            node.name, node.op = "call", "PartitionedCall"
            node.attr["f"].func.name = f"f{index + 1}"
        else:
            node.name, node.op = "leaf", last_op
    entry = meta_graph.graph_def.node.add()
    entry.name, entry.op = "entry", "PartitionedCall"
    entry.attr["f"].func.name = "f0"
    meta_graph.signature_def["serving_default"].outputs["out"].name = "entry:0"
    return proto


def test_the_scan_is_linear_on_a_deep_call_chain() -> None:
    from hubcheck.graph.unsafe import scan_proto

    proto = _chain_proto(40_000, "WriteFile")
    scan = _finishes(lambda: scan_proto(proto), 120)  # quadratic work here took minutes and gigabytes
    [finding] = scan.findings
    assert finding.op == "WriteFile" and finding.function == "f39999" and finding.entry == "signature"
    assert len(finding.path) <= 14 and any("more calls" in step for step in finding.path)


def test_a_function_nothing_calls_is_still_judged() -> None:
    from hubcheck.graph.unsafe import scan_proto

    proto = _chain_proto(2)
    orphan = proto.meta_graphs[0].graph_def.library.function.add()
    orphan.signature.name = "orphan"
    node = orphan.node_def.add()
    node.name, node.op = "write", "WriteFile"
    scan = scan_proto(proto)
    [finding] = scan.findings
    assert finding.function == "orphan" and finding.entry == "unreached" and not finding.reached


def test_api_implements_siblings_are_reached_together() -> None:
    from hubcheck.graph.unsafe import scan_proto

    proto = _chain_proto(1)
    library = proto.meta_graphs[0].graph_def.library
    library.function[0].attr["api_implements"].s = b"lstm_like"
    twin = library.function.add()
    twin.signature.name = "twin"
    twin.attr["api_implements"].s = b"lstm_like"
    twin.attr["api_preferred_device"].s = b"CPU"
    node = twin.node_def.add()
    node.name, node.op = "write", "WriteFile"
    [finding] = scan_proto(proto).findings
    assert finding.function == "twin" and finding.reached
    assert any("api_implements=lstm_like" in step for step in finding.path)


def test_an_unreviewed_registered_op_fails_as_unreviewed(monkeypatch: pytest.MonkeyPatch) -> None:
    from hubcheck.graph import oppolicy, unsafe

    proto = _chain_proto(1, "Relu")
    real = oppolicy.op_verdict

    def pretend_unreviewed(op: str, registered: Any = None) -> oppolicy.OpVerdict:
        if op == "Relu":
            return oppolicy.OpVerdict(op, "unreviewed", oppolicy.UNREVIEWED_FAMILY, "not reviewed")
        return real(op)

    monkeypatch.setattr(oppolicy, "op_verdict", pretend_unreviewed)
    [finding] = unsafe.scan_proto(proto).findings
    assert finding.family == "unreviewed-op"


def test_an_attribute_naming_a_file_fails() -> None:
    from hubcheck.graph.unsafe import scan_proto

    proto = _chain_proto(1, "Skipgram")
    proto.meta_graphs[0].graph_def.library.function[0].node_def[0].attr["filename"].s = b"/etc/passwd"
    [finding] = scan_proto(proto).findings
    assert finding.op == "Skipgram" and "filename=/etc/passwd" in (finding.detail or "")


def test_conformant_fixture_allows_only_the_savers_checkpoint_ops(model_path: Callable[[str], Path]) -> None:
    from hubcheck.graph.unsafe import scan_path

    scan = scan_path(model_path("feature_vector"))
    assert scan is not None and not scan.unsafe, scan.summary()
    assert {finding.op for finding in scan.allowed} <= {"SaveV2", "RestoreV2", "MergeV2Checkpoints"}
    assert scan.allowed and all(finding.condition for finding in scan.allowed)


def test_a_checkpoint_op_with_a_constant_path_in_call_fails(tmp_path: Path) -> None:
    import tensorflow as tf

    from hubcheck.graph.unsafe import scan_path

    class Model(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4, 4, 3], tf.float32)])
        def __call__(self, images: tf.Tensor) -> tf.Tensor:
            tf.raw_ops.SaveV2(prefix=str(tmp_path / "never"), tensor_names=["x"], shape_and_slices=[""],
                              tensors=[tf.constant(1.0)])
            return tf.reduce_mean(images, [1, 2])

    tf.saved_model.save(Model(), str(tmp_path / "model"))
    scan = scan_path(tmp_path / "model")
    assert scan is not None
    [finding] = [f for f in scan.findings if f.op == "SaveV2"]
    assert finding.entry == "call" and "not under the saver's filename" in (finding.detail or "")
    assert not (tmp_path / "never.index").exists()


def test_a_constant_that_expands_in_memory_fails_and_a_small_splat_passes() -> None:
    from hubcheck.graph.unsafe import scan_proto

    proto = _chain_proto(1, "Const")
    node = proto.meta_graphs[0].graph_def.library.function[0].node_def[0]
    tensor = node.attr["value"].tensor
    tensor.dtype = 1  # float32
    tensor.tensor_shape.dim.add().size = 1000
    tensor.float_val.append(0.0)  # tf.zeros([1000]) is stored like this: fine
    assert not scan_proto(proto).findings
    tensor.tensor_shape.dim[0].size = 1_600_000_000
    [finding] = scan_proto(proto).findings
    assert finding.family == "expanding-constant" and "6400000000 bytes" in (finding.detail or "")


def _tf1_saver_proto(filename_op: str = "Const") -> Any:
    """The saver subgraph a TF 1.x export writes (as in a real TF 1.12 model), with no other nodes."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    meta_graph = proto.meta_graphs.add()
    meta_graph.meta_info_def.tags.append("train")
    graph = meta_graph.graph_def

    def node(name: str, op: str, *inputs: str, text: list[str] | None = None) -> Any:
        added = graph.node.add(name=name, op=op)
        added.input.extend(inputs)
        if text is not None:
            added.attr["value"].tensor.dtype = 7
            added.attr["value"].tensor.string_val.extend(value.encode() for value in text)
        return added

    node("save/Const", filename_op, text=["model"])
    node("save/StringJoin/inputs_1", "Const", text=["_temp_0123/part"])
    node("save/StringJoin", "StringJoin", "save/Const", "save/StringJoin/inputs_1")
    node("save/num_shards", "Const")
    node("save/ShardedFilename/shard", "Const")
    node("save/ShardedFilename", "ShardedFilename", "save/StringJoin", "save/ShardedFilename/shard", "save/num_shards")
    node("save/SaveV2", "SaveV2", "save/ShardedFilename", "names", "slices")
    node("save/control_dependency", "Identity", "save/ShardedFilename", "^save/SaveV2")
    node("save/MergeV2Checkpoints/checkpoint_prefixes", "Pack", "save/ShardedFilename", "^save/control_dependency")
    node("save/MergeV2Checkpoints", "MergeV2Checkpoints", "save/MergeV2Checkpoints/checkpoint_prefixes", "save/Const")
    node("save/Identity", "Identity", "save/Const", "^save/MergeV2Checkpoints")
    node("save/RestoreV2", "RestoreV2", "save/Const", "names", "slices")
    node("save/restore_all", "NoOp", "^save/RestoreV2")
    for name in ("names", "slices"):
        node(name, "Const", text=[""])
    meta_graph.saver_def.filename_tensor_name = "save/Const:0"
    meta_graph.saver_def.save_tensor_name = "save/Identity:0"
    meta_graph.saver_def.restore_op_name = "save/restore_all"
    return proto


def test_a_tf1_saver_with_a_constant_filename_tensor_passes() -> None:
    from hubcheck.graph.unsafe import scan_proto

    scan = scan_proto(_tf1_saver_proto())
    assert not scan.findings, scan.summary()
    assert sorted(finding.op for finding in scan.allowed) == ["MergeV2Checkpoints", "RestoreV2", "SaveV2"]


def test_a_saver_op_that_also_runs_under_the_init_op_fails() -> None:
    """The TF1 loader runs the init op without feeding the saver's filename: its default would be used."""
    from hubcheck.graph.unsafe import scan_proto

    proto = _tf1_saver_proto("PlaceholderWithDefault")
    meta_graph = proto.meta_graphs[0]
    init = meta_graph.graph_def.node.add(name="init", op="NoOp")
    init.input.append("^save/SaveV2")
    meta_graph.signature_def["__saved_model_init_op"].outputs["__saved_model_init_op"].name = "init"
    [finding] = scan_proto(proto).findings
    assert finding.op == "SaveV2" and "also runs outside the saver" in (finding.detail or "")


def test_a_constant_standing_alone_as_a_checkpoint_path_fails() -> None:
    from hubcheck.graph.unsafe import scan_proto

    proto = _tf1_saver_proto()
    restore = next(node for node in proto.meta_graphs[0].graph_def.node if node.name == "save/RestoreV2")
    restore.input[0] = "save/StringJoin/inputs_1"
    [finding] = scan_proto(proto).findings
    assert finding.op == "RestoreV2" and "not under the saver's filename" in (finding.detail or "")
