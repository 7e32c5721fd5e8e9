"""``hubcheck inspect MODEL`` through click's CliRunner: read-only, text and JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from hubcheck.cli import main


@pytest.fixture(scope="session")
def graph_model(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    from fixtures.graph_models import build_into

    root = tmp_path_factory.mktemp("inspect-fixtures")
    return lambda name: build_into(name, root)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _json(runner: CliRunner, path: Path) -> dict:
    result = runner.invoke(main, ["inspect", "--format", "json", str(path)])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_inspect_text_describes_a_tf2_model(runner: CliRunner, graph_model: Callable[[str], Path]) -> None:
    path = graph_model("keras_rescaling_255")
    result = runner.invoke(main, ["inspect", str(path)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "TF2 SavedModel [tf2-saved-model]" in out
    assert "MetaGraphs:  [serve]" in out
    assert "__call__(inputs, training, mask): 2 traced concrete function(s)" in out
    assert "float32[?,32,32,3], training=True, mask=None" in out
    assert "float32[?,32,32,3], training=False, mask=None" in out
    assert "serving_default(" in out
    assert "variables: 2 (2 trainable)" in out
    assert "ops:" in out and "Conv2D" in out
    assert "unsafe ops: none" in out
    assert "expects [0, 255]" in out and "Mul" in out


def test_inspect_json_lists_the_traced_concrete_functions(runner: CliRunner,
                                                          graph_model: Callable[[str], Path]) -> None:
    info = _json(runner, graph_model("range_two_x_minus_one"))
    assert info["format"] == "tf2-saved-model"
    assert info["tags"] == ["serve"]
    traces = info["call"]["traces"]
    assert info["call"]["argument_names"] == ["images", "training"]
    assert sorted(t["training"] for t in traces) == [False, True]
    assert all(t["function"].startswith("__inference_") for t in traces)
    assert all(t["input"] == {"dtype": "float32", "shape": [None, None, None, 3]} for t in traces)
    assert info["variables"]["count"] == 2 and info["variables"]["bytes"] == (3 * 3 * 3 * 4 + 4) * 4
    assert info["ops"]["histogram"]["Conv2D"] >= 1
    assert "SaveV2" not in info["ops"]["histogram"]  # the variable save/restore is not the model's program
    assert info["unsafe"]["unsafe_ops"] == []
    [analysis] = info["input_range"]["call"]
    assert analysis["expects"] == "0-1" and analysis["transform"] == "2 * x + -1"


def test_inspect_reports_unsafe_ops_without_running_them(runner: CliRunner, tmp_path: Path,
                                                         graph_model: Callable[[str], Path],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from fixtures.graph_models import WRITTEN_FILE

    path = graph_model("writes_file")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(main, ["inspect", str(path)])
    assert result.exit_code == 0, result.output
    assert "unsafe ops: 2 (file-write" in result.output
    assert "WriteFile [file-write]" in result.output and "reached from __call__(training=True)" in result.output
    info = _json(runner, path)
    assert {item["op"] for item in info["unsafe"]["unsafe_ops"]} == {"WriteFile"}
    assert not (tmp_path / WRITTEN_FILE).exists()


def test_inspect_tf1_signature_only(runner: CliRunner, graph_model: Callable[[str], Path]) -> None:
    path = graph_model("tf1_signature_only")
    result = runner.invoke(main, ["inspect", str(path)])
    assert result.exit_code == 0, result.output
    assert "TF1 signature-only SavedModel" in result.output
    assert "__call__: none" in result.output
    assert "serving_default(images: float32[?,8,8,3]) -> {features: float32[?,2]}" in result.output
    info = _json(runner, path)
    assert info["call"] is None
    [analysis] = info["input_range"]["signatures"]
    assert analysis["expects"] == "0-255"


def test_inspect_tf1_hub_module(runner: CliRunner, graph_model: Callable[[str], Path]) -> None:
    info = _json(runner, graph_model("tf1_hub_module_like"))
    assert info["format"] == "tf1-hub-module"
    assert "TF1 Hub module" in info["problem"]
    assert info["signatures"]["serving_default"]["outputs"]["features"]["shape"] == [None, 2]


def test_inspect_keras_file(runner: CliRunner, tmp_path: Path) -> None:
    model = tmp_path / "model.keras"
    model.write_bytes(b"not really a zip")
    result = runner.invoke(main, ["inspect", str(model)])
    assert result.exit_code == 0, result.output
    assert "Keras file [keras-file]" in result.output
    assert "no SavedModel graph to read" in result.output
    info = _json(runner, model)
    assert info["format"] == "keras-file" and "unsafe" not in info


def test_inspect_missing_path_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["inspect", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_a_crash_of_inspect_exits_3(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hubcheck.graph.describe

    def broken(path: Path) -> dict:
        raise RuntimeError("a bug in hubcheck")

    monkeypatch.setattr(hubcheck.graph.describe, "describe_model", broken)
    result = runner.invoke(main, ["inspect", str(tmp_path)])
    assert result.exit_code == 3 and isinstance(result.exception, SystemExit)
    assert "hubcheck inspect: internal error: RuntimeError: a bug in hubcheck" in result.stderr


def test_inspect_is_listed_in_the_help(runner: CliRunner) -> None:
    result = runner.invoke(main, ["inspect", "--help"])
    assert result.exit_code == 0
    assert "without loading or running it" in result.output
