"""hubcheck export: each fixture source exports to a model that passes the catalog, fine-tunable where the
source is, computing what the source computes (after its adapters); refusals write nothing (exit 2)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import hubcheck
from fixtures.export_sources import CATALOG_SOURCES, EXPORT_SOURCES, export_source, source_spec
from hubcheck.cli import main
from hubcheck.exporter import ExportError, ExportOptions, ExportResult
from hubcheck.exporter.writer import SIDECAR
from hubcheck.images import make_batch
from hubcheck.results import Status

ALL_SOURCES = [*EXPORT_SOURCES, *CATALOG_SOURCES]
FINE_TUNING_CHECKS = ("trainable-variables", "gradient-flow", "keras-layer")
_exports: dict[str, ExportResult] = {}


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], ExportResult]:
    """Each source exported (with its adapters) and checked in this process, once per session."""
    root = tmp_path_factory.mktemp("exports")

    def export(name: str) -> ExportResult:
        if name not in _exports:
            _exports[name] = hubcheck.export(export_source(name), root / name, **source_spec(name).options)
        return _exports[name]

    return export


def _tf() -> Any:
    from hubcheck.tfimport import tensorflow

    return tensorflow()


# -- every source ---------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL_SOURCES)
def test_export_passes_the_whole_catalog(name: str, exported: Callable[[str], ExportResult],
                                         validate_report: Callable[[object], None]) -> None:
    result = exported(name)
    spec = source_spec(name)
    assert result.report is not None
    failing = {check.id: check.message for check in result.report.checks if check.status.value in ("fail", "error")}
    assert not failing and result.report.status.value == "pass"
    assert result.source_kind == spec.kind
    assert result.fine_tunable is spec.fine_tunable
    document = result.report.to_json()
    validate_report(document)
    assert document["model"]["export"]["source_kind"] == spec.kind
    sidecar = json.loads((result.path / SIDECAR).read_text())
    assert sidecar["adapters"] == list(result.adapters) and sidecar["fine_tunable"] is spec.fine_tunable


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in ALL_SOURCES if source_spec(n).fine_tunable])
def test_fine_tunable_source_stays_fine_tunable(name: str, exported: Callable[[str], ExportResult]) -> None:
    report = exported(name).report
    assert report is not None
    assert {check: report.result(check).status.value for check in FINE_TUNING_CHECKS} == dict.fromkeys(
        FINE_TUNING_CHECKS, "pass")
    assert report.model["num_trainable_variables"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in ALL_SOURCES if not source_spec(n).fine_tunable])
def test_serving_only_source_says_it_is_not_fine_tunable(name: str, exported: Callable[[str], ExportResult]) -> None:
    result = exported(name)
    loaded = _tf().saved_model.load(str(result.path))
    assert not getattr(loaded, "trainable_variables", [])
    assert result.report is not None and result.report.model["export"]["fine_tunable"] is False


def _keras_source_model(name: str) -> Any:
    path = export_source(name)
    if source_spec(name).kind.startswith("keras3"):
        from hubcheck.exporter.sources import keras3

        return keras3().saving.load_model(path, compile=False)
    import tf_keras

    return tf_keras.models.load_model(path, compile=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in EXPORT_SOURCES if source_spec(n).regularization_losses])
def test_regularization_losses_equal_the_sources(name: str, exported: Callable[[str], ExportResult]) -> None:
    loaded = _tf().saved_model.load(str(exported(name).path))
    written = sorted(float(loss()) for loss in loaded.regularization_losses)
    if source_spec(name).kind == "tf2-saved-model":
        module = _tf().saved_model.load(str(export_source(name)))  # kept alive: its losses read its variables
        source = sorted(float(loss()) for loss in module.regularization_losses)
    else:
        source = sorted(float(loss) for loss in _keras_source_model(name).losses)
    assert len(written) == source_spec(name).regularization_losses
    np.testing.assert_allclose(written, source, rtol=1e-6)


def _reference(name: str, images: np.ndarray) -> np.ndarray:
    """The source's output on ``images`` in [0, 1], through the adapters written out by hand in NumPy."""
    options = source_spec(name).options
    x = images
    if "input_range" in options:
        low, high = options["input_range"]
        x = x * (high - low) + low
    if options.get("grayscale"):
        x = (x * np.array([0.299, 0.587, 0.114], np.float32)).sum(axis=-1, keepdims=True)
    if source_spec(name).kind == "tf2-saved-model":
        y = _tf().saved_model.load(str(export_source(name)))(x.astype(np.float32))
    else:
        y = _keras_source_model(name)(x.astype(np.float32), training=False)
    y = y[options["output"]] if "output" in options else y
    y = np.asarray(y, np.float32)
    if options.get("logits") == "softmax":
        y = np.log(np.maximum(y, np.finfo(np.float32).tiny))
    return y


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in EXPORT_SOURCES if source_spec(n).fine_tunable])
def test_output_equals_the_sources_after_the_adapters(name: str, exported: Callable[[str], ExportResult]) -> None:
    images, written = _written_output(exported(name))
    np.testing.assert_allclose(written, _reference(name, images), rtol=1e-4, atol=1e-5)


def _written_output(result: ExportResult) -> tuple[np.ndarray, np.ndarray]:
    """Probe images at the export's size (40x40 where it takes any) and the written model's output on them."""
    height, width = (size or 40 for size in result.input_shape[1:3])
    images = make_batch(4, height, width)
    return images, _tf().saved_model.load(str(result.path))(images).numpy()


@pytest.mark.slow
def test_serving_only_output_equals_the_signatures(exported: Callable[[str], ExportResult]) -> None:
    tf = _tf()
    images = make_batch(4, 32, 32)
    source = tf.saved_model.load(str(export_source("keras3_export")))
    (expected,) = source.signatures["serving_default"](tf.constant(images)).values()
    written = tf.saved_model.load(str(exported("keras3_export").path))(images)
    np.testing.assert_allclose(written.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)


def _saved_model_reference(name: str, images: np.ndarray) -> np.ndarray:
    """A SavedModel source's own output on ``images`` in [0, 1], its adapters written out by hand."""
    tf = _tf()
    options = source_spec(name).options
    source = tf.saved_model.load(str(export_source(name)))
    x = images
    if "input_range" in options:
        low, high = options["input_range"]
        x = x * (high - low) + low
    if name == "uint8_input":
        x = np.clip(np.round(x), 0, 255).astype(np.uint8)
    if source_spec(name).kind in ("tf2-saved-model",):
        y = source(tf.constant(x))
    else:
        function = source.signatures["serving_default"]
        (key,) = function.structured_input_signature[1]
        y = function(**{key: tf.constant(x)})
    if isinstance(y, dict):
        y = y[sorted(y)[int(options.get("output", 0))]]
    return np.asarray(y, np.float32)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CATALOG_SOURCES))
def test_saved_model_sources_compute_what_they_did(name: str, exported: Callable[[str], ExportResult]) -> None:
    images, written = _written_output(exported(name))
    np.testing.assert_allclose(written, _saved_model_reference(name, images), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_dtype_casts_are_recorded(exported: Callable[[str], ExportResult]) -> None:
    assert "output cast from float64 to float32" in exported("float64_output").adapters
    assert exported("uint8_input").adapters == ("input-range 0,255", "input cast to uint8")
    assert not any("cast" in adapter for adapter in exported("feature_vector").adapters)


@pytest.mark.slow
def test_written_model_loads_and_runs_without_keras(exported: Callable[[str], ExportResult]) -> None:
    path = exported("keras3_classifier").path
    script = textwrap.dedent(f"""
        import sys
        sys.modules["keras"] = None  # any import of Keras 3 or tf-keras fails
        sys.modules["tf_keras"] = None
        import numpy as np
        import tensorflow as tf
        model = tf.saved_model.load({str(path)!r})
        out = model(np.zeros((2, 40, 40, 3), np.float32), training=True)
        losses = [float(loss()) for loss in model.regularization_losses]
        print(out.shape, len(model.trainable_variables), len(losses))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[-2] == "(2, 5) 6 2"


# -- the command line ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_export_then_check_in_the_isolated_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUBCHECK_IN_PROCESS", raising=False)
    out = tmp_path / "out"
    report = tmp_path / "report.json"
    result = CliRunner().invoke(main, ["export", str(export_source("keras3_classifier")), str(out),
                                       "--input-range", "0,255", "--logits", "softmax",
                                       "--task", "image-classification", "--report", f"json={report}",
                                       "--write-doc", str(tmp_path / "README.md")])
    assert result.exit_code == 0, result.output
    assert "image-classification" in (tmp_path / "README.md").read_text()  # --write-doc applies
    assert "fine-tunable: yes" in result.output and "input-range 0,255, logits softmax" in result.output
    document = json.loads(report.read_text())
    assert document["status"] == "pass"
    assert document["environment"].get("sandbox"), "checked in the sandboxed child"
    assert document["model"]["export"]["adapters"] == ["input-range 0,255", "logits softmax"]
    assert document["checks"][[c["id"] for c in document["checks"]].index("logits")]["status"] == "pass"
    # a separate run of hubcheck on the folder gives the same verdict
    again = CliRunner().invoke(main, ["--in-process", str(out), "--format", "json"])
    assert again.exit_code == 0 and json.loads(again.output)["status"] == "pass"


def _refused(args: list[str], out: Path) -> str:
    result = CliRunner().invoke(main, ["export", *args, str(out)])
    assert result.exit_code == 2, result.output
    return result.output


@pytest.mark.parametrize("source, extra, message", [
    ("size_dependent_output", [], "output width depends on the input size"),
    ("spatial_output", [], "[batch, N]"),
    ("nchw_input", [], "channels"),
    ("dict_output", ["--output", "nope"], "no such output"),
    ("uint8_input", [], "--input-range"),
    ("tf1_signature_only", ["--signature", "other"], "no such signature"),
    ("tf1_signature_writes", [], "may reach outside the process"),
])
def test_what_no_wrapper_can_fix_is_refused_with_exit_2(source: str, extra: list[str], message: str,
                                                        model_path: Callable[[str], Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    output = _refused([str(model_path(source)), *extra], out)
    assert message in output
    assert not out.exists() and list(tmp_path.iterdir()) == []  # nothing written, no leftovers


def test_one_channel_source_needs_grayscale(tmp_path: Path) -> None:
    assert "--grayscale" in _refused([str(export_source("one_channel"))], tmp_path / "out")


def test_several_outputs_need_output(tmp_path: Path) -> None:
    output = _refused([str(export_source("keras3_two_outputs"))], tmp_path / "out")
    assert "embedding, scores" in output and "--output" in output


def test_an_out_folder_with_files_is_never_touched(tmp_path: Path, model_path: Callable[[str], Path]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    assert "not empty" in _refused([str(model_path("feature_vector"))], out)
    assert [p.name for p in out.iterdir()] == ["mine.txt"] and (out / "mine.txt").read_text() == "keep me"


@pytest.mark.parametrize("args, message", [
    (["--input-range", "255,0"], "LO < HI"),
    (["--input-range", "zero,one"], "LO,HI"),
    (["--input-size", "big"], "HxW"),
    (["--logits", "tanh"], "tanh"),
])
def test_malformed_options_are_usage_errors(args: list[str], message: str, tmp_path: Path,
                                            model_path: Callable[[str], Path]) -> None:
    assert message in _refused([str(model_path("feature_vector")), *args], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unknown_source_kinds_are_refused(tmp_path: Path) -> None:
    text = tmp_path / "model.txt"
    text.write_text("not a model")
    assert "unknown kind of source" in _refused([str(text)], tmp_path / "out")
    assert "no such file" in _refused([str(tmp_path / "missing")], tmp_path / "out")
    folder = tmp_path / "folder"
    folder.mkdir()
    assert "not a SavedModel folder" in _refused([str(folder)], tmp_path / "out")


@pytest.mark.parametrize("inside", ["assets", "variables/exported"])
def test_an_out_inside_the_source_is_refused_and_the_source_kept(tmp_path: Path, inside: str,
                                                                  model_path: Callable[[str], Path]) -> None:
    """An empty ``assets/`` of the source passed as a new folder and was replaced by the export."""
    source = tmp_path / "source"
    shutil.copytree(model_path("feature_vector"), source)
    (source / "assets").mkdir(exist_ok=True)
    before = sorted(str(p.relative_to(source)) for p in source.rglob("*"))
    assert "overlaps the source" in _refused([str(source)], source / inside)
    assert sorted(str(p.relative_to(source)) for p in source.rglob("*")) == before


def test_a_graph_the_gate_cannot_scan_is_not_loaded(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "saved_model.pb").write_bytes(b"\x0a\xff\xff\xff\xff\x0f not a proto")
    assert "Wire format was corrupt" in _refused([str(broken)], tmp_path / "out")  # said before any load
    assert not (tmp_path / "out").exists()


def test_a_bad_checking_option_stops_the_export_before_it_writes(tmp_path: Path,
                                                                 model_path: Callable[[str], Path]) -> None:
    out = tmp_path / "out"
    assert "no-such-check" in _refused([str(model_path("feature_vector")), "--select", "no-such-check"], out)
    assert not out.exists()


# -- the Python API --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_api_takes_a_live_keras3_model(tmp_path: Path) -> None:
    model = _keras_source_model("keras3_classifier")
    result = hubcheck.export(model, tmp_path / "out", input_range=(0, 255), logits="softmax", run_checks=False)
    assert result.source_kind == "keras3-model" and result.fine_tunable and result.report is None
    assert result.output_width == 5 and result.adapters == ("input-range 0,255", "logits softmax")


def test_api_refuses_with_export_error(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="cannot export a dict"):
        hubcheck.export({}, tmp_path / "out")
    with pytest.raises(ValueError, match="logits"):
        ExportOptions.of(logits="relu")
    assert ExportOptions.of(input_range="-1,1", input_size="224x160").applied() == [
        "input-range -1,1", "input-size 224x160"]


# -- start-up: Keras 3 stays out of every other command ---------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("code", [
    "import hubcheck",
    "from hubcheck.cli import main\ntry:\n    main(['--list-checks'])\nexcept SystemExit:\n    pass",
    "from hubcheck.cli import main\ntry:\n    main(['--in-process', MODEL])\nexcept SystemExit:\n    pass",
])
def test_other_commands_never_import_keras3(code: str, model_path: Callable[[str], Path]) -> None:
    script = code.replace("MODEL", repr(str(model_path("feature_vector")))) + (
        "\nimport sys\nprint('KERAS3' if 'keras' in sys.modules else 'NO-KERAS3')")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.stdout.strip().splitlines()[-1] == "NO-KERAS3", done.stderr[-2000:]


def test_an_empty_out_folder_is_used_and_nothing_is_left_beside_it(tmp_path: Path,
                                                                   model_path: Callable[[str], Path]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = hubcheck.export(model_path("feature_vector"), out, run_checks=False)
    assert result.path == out and (out / "saved_model.pb").is_file() and (out / SIDECAR).is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # the staging folder is gone


def test_checking_a_one_channel_source_names_the_export_that_fixes_it() -> None:
    report = hubcheck.check(export_source("one_channel"), select=["input-layout"])
    layout = report.result("input-layout")
    assert layout.status is Status.FAIL
    assert "has 1 channel(s)" in layout.message and "`hubcheck export MODEL OUT --grayscale`" in layout.message
