"""Every kind of bad input gets a clear message, a documented exit code, no traceback, and a report file."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from hubcheck.cli import main


def _copy(model_path, name: str, target: Path) -> Path:
    shutil.copytree(model_path(name), target)
    return target


def _check(path: Path, tmp_path: Path, validate_report, *extra: str) -> tuple[int, dict, str]:
    report_file = tmp_path / "report.json"
    result = CliRunner().invoke(main, ["--format", "json", "--output", str(report_file), *extra, str(path)])
    assert "Traceback" not in result.output
    document = json.loads(report_file.read_text())
    validate_report(document)
    return result.exit_code, {c["id"]: c for c in document["checks"]}, result.output


def test_truncated_variable_data(model_path, tmp_path: Path, validate_report) -> None:
    model = _copy(model_path, "feature_vector", tmp_path / "model")
    data = next((model / "variables").glob("variables.data-*"))
    data.write_bytes(data.read_bytes()[:10])
    code, checks, _ = _check(model, tmp_path, validate_report)
    assert code == 1
    assert checks["load"]["status"] == "fail"
    assert "tf.saved_model.load failed" in checks["load"]["message"]


def test_missing_variables_folder(model_path, tmp_path: Path, validate_report) -> None:
    model = _copy(model_path, "feature_vector", tmp_path / "model")
    shutil.rmtree(model / "variables")
    code, checks, _ = _check(model, tmp_path, validate_report)
    assert code == 1 and "variables/ folder is missing" in checks["load"]["message"]


def test_truncated_saved_model_pb(model_path, tmp_path: Path, validate_report) -> None:
    model = _copy(model_path, "feature_vector", tmp_path / "model")
    proto = model / "saved_model.pb"
    proto.write_bytes(proto.read_bytes()[: proto.stat().st_size // 3])
    code, checks, _ = _check(model, tmp_path, validate_report)
    assert code == 1 and "truncated or corrupt" in checks["load"]["message"]


@pytest.mark.parametrize("content", [b"", os.urandom(2048)], ids=["empty", "random-bytes"])
def test_unreadable_saved_model_pb(tmp_path: Path, validate_report, content: bytes) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "saved_model.pb").write_bytes(content)
    code, checks, _ = _check(model, tmp_path, validate_report)
    assert code == 1 and checks["load"]["status"] == "fail"


def test_garbage_pbtxt(tmp_path: Path, validate_report) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "saved_model.pbtxt").write_text("meta_graphs { this is not text format")
    code, checks, _ = _check(model, tmp_path, validate_report)
    assert code == 1 and "not a valid SavedModel proto" in checks["load"]["message"]


def test_keras_file_where_a_directory_belongs(tmp_path: Path, validate_report) -> None:
    model = tmp_path / "model.keras"
    model.write_bytes(b"PK\x03\x04")
    code, checks, _ = _check(model, tmp_path, validate_report)
    assert code == 1 and "tf.saved_model.save" in checks["load"]["message"]


def test_tf1_hub_module(model_path, tmp_path: Path, validate_report) -> None:
    code, checks, _ = _check(model_path("tf1_hub_module"), tmp_path, validate_report)
    assert code == 1 and "TF1 Hub module" in checks["load"]["message"]


def test_symlink_loop_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    result = CliRunner().invoke(main, [str(tmp_path / "a")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_spaces_and_non_ascii_in_the_path(model_path, tmp_path: Path, validate_report) -> None:
    model = _copy(model_path, "classifier", tmp_path / "my models" / "modèle ü 模型")
    code, checks, _ = _check(model, tmp_path, validate_report, "--task", "image-classification")
    assert code == 0 and checks["logits"]["status"] == "pass"


def test_several_meta_graphs_take_the_tf1_loader_and_prefer_serve(model_path, tmp_path: Path, validate_report) -> None:
    from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

    model = _copy(model_path, "classifier", tmp_path / "model")
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((model / "saved_model.pb").read_bytes())
    serve = meta_graph_pb2.MetaGraphDef()
    serve.CopyFrom(proto.meta_graphs[0])
    del proto.meta_graphs[:]
    train = proto.meta_graphs.add()
    train.CopyFrom(serve)
    del train.meta_info_def.tags[:]
    train.meta_info_def.tags.append("train")
    proto.meta_graphs.add().CopyFrom(serve)
    (model / "saved_model.pb").write_bytes(proto.SerializeToString())
    report_file = tmp_path / "report.json"
    CliRunner().invoke(main, ["--format", "json", "--output", str(report_file), "--select", "load", str(model)])
    document = json.loads(report_file.read_text())
    assert document["model"]["meta_graphs"] == [["train"], ["serve"]]
    assert document["model"]["tags"] == ["serve"]
    # TensorFlow's own rule: more than one MetaGraph means its TF1 loader, which drops the object graph.
    load = document["checks"][0]
    assert load["status"] == "warn" and load["details"]["load_path"] == "tf1"
    assert "TF1 loader" in load["message"] and "2 MetaGraphs" in load["message"]


def test_model_returning_nan(model_path, tmp_path: Path, validate_report) -> None:
    code, checks, _ = _check(model_path("nan_on_black"), tmp_path, validate_report)
    assert code == 1 and checks["output-finite"]["status"] == "fail"
    assert "black" in checks["output-finite"]["message"]


def test_model_whose_call_always_raises(tmp_path: Path, validate_report) -> None:
    from hubcheck.tfimport import tensorflow

    tf = tensorflow()

    class Raises(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
        def __call__(self, images):
            tf.debugging.assert_less(tf.reduce_max(images), -1.0, message="this model always refuses")
            return tf.reduce_mean(images, axis=[1, 2])

    tf.saved_model.save(Raises(), str(tmp_path / "model"))
    code, checks, _ = _check(tmp_path / "model", tmp_path, validate_report)
    assert code == 1
    assert checks["batch-size"]["status"] == "fail"
    assert checks["output-single-tensor"]["status"] == "fail"
    assert "this model always refuses" in checks["output-single-tensor"]["message"]
    assert not [c for c in checks.values() if c["status"] == "error"]
