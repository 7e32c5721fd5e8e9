"""The model against its documentation: the doc-* checks and hparam-arguments, one broken fact at a time."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hubcheck.documentation.facts import DocFacts, DocInputSize
from hubcheck.options import RunOptions, Task
from hubcheck.registry import Check, available_checks
from hubcheck.results import Report, Status
from hubcheck.runner import run_checks

DOC_CHECKS = ("doc-metadata", "doc-task", "doc-fine-tunable", "doc-input-size", "doc-output-size",
              "doc-input-range", "hparam-arguments")

# What the feature_vector fixture is: any size, N=16, fine-tunable, no hyperparameters.
AGREES = DocFacts(
    path="feature_vector.md", kind="tfhub-markdown", task="image-feature-vector", fine_tunable=True,
    format="saved_model_2", input_size=DocInputSize(224, 224, fixed=False), num_outputs=16, value_range=(0.0, 1.0),
    evidence={"task": "<!-- task: image-feature-vector -->"},
)


def _checks(*ids: str) -> list[type[Check]]:
    found = {check.id: check for check in available_checks()}
    missing = [check_id for check_id in ids if check_id not in found]
    if missing:  # the entry points come from `pip install -e .`
        pytest.skip(f"checks {missing} are not registered in this environment")
    return [found[check_id] for check_id in ids]


def _run(path: Path, doc: DocFacts | None, *ids: str, **options: Any) -> Report:
    return run_checks(path, RunOptions(documentation=doc, **options), checks=_checks(*ids))


def _status(report: Report, check_id: str) -> Status:
    return report.result(check_id).status


def test_every_doc_check_skips_without_documentation(model_path: Callable[[str], Path]) -> None:
    report = _run(model_path("feature_vector"), None, *DOC_CHECKS[:-1])
    assert {result.status for result in report.checks} == {Status.SKIP}
    assert all("no documentation given" in result.message for result in report.checks)


def test_a_doc_that_agrees_passes_every_check(model_path: Callable[[str], Path]) -> None:
    report = _run(model_path("feature_vector"), AGREES, *DOC_CHECKS[:-1])
    assert {result.id: result.status for result in report.checks} == {check_id: Status.PASS
                                                                      for check_id in DOC_CHECKS[:-1]}


@pytest.mark.parametrize(
    ("check_id", "change", "words"),
    [
        ("doc-task", {"task": "text-embedding"}, "not one of the image tasks"),
        ("doc-output-size", {"num_outputs": 1001}, "the documentation says 1001"),
        ("doc-input-range", {"value_range": (-1.0, 1.0)}, "[-1, 1]"),
        ("doc-metadata", {"format": "saved_model"}, "finding"),
    ],
)
def test_one_broken_fact_fails_one_check(model_path: Callable[[str], Path], check_id: str, change: dict[str, Any],
                                         words: str) -> None:
    doc = dataclasses.replace(AGREES, **change)
    report = _run(model_path("feature_vector"), doc, *DOC_CHECKS[:-1])
    failing = {result.id for result in report.checks if result.status is Status.FAIL}
    assert failing == {check_id}, [(r.id, r.status, r.message) for r in report.checks]
    assert words in report.result(check_id).message


def test_a_task_option_that_contradicts_the_doc_fails(model_path: Callable[[str], Path]) -> None:
    report = _run(model_path("feature_vector"), AGREES, "doc-task", task=Task.CLASSIFICATION)
    assert _status(report, "doc-task") is Status.FAIL and "contradicts" in report.result("doc-task").message


def test_fine_tunable_doc_for_a_frozen_model_fails(model_path: Callable[[str], Path]) -> None:
    doc = dataclasses.replace(AGREES, num_outputs=10, input_size=DocInputSize(64, 64, fixed=True),
                              task="image-classification")
    report = _run(model_path("classifier"), doc, "doc-fine-tunable", "doc-input-size", "doc-output-size")
    assert _status(report, "doc-fine-tunable") is Status.FAIL
    assert "no trainable variables" in report.result("doc-fine-tunable").message
    assert _status(report, "doc-input-size") is Status.PASS and _status(report, "doc-output-size") is Status.PASS


def test_a_documented_size_the_traces_do_not_fix_fails(model_path: Callable[[str], Path]) -> None:
    """classifier is traced for 64x64 only."""
    doc = dataclasses.replace(AGREES, input_size=DocInputSize(224, 224, fixed=True))
    report = _run(model_path("classifier"), doc, "doc-input-size")
    assert _status(report, "doc-input-size") is Status.FAIL
    assert "the traces fix 64x64" in report.result("doc-input-size").message


def test_a_documented_default_size_with_fixed_traces_fails(model_path: Callable[[str], Path]) -> None:
    doc = dataclasses.replace(AGREES, input_size=DocInputSize(64, 64, fixed=False))
    report = _run(model_path("classifier"), doc, "doc-input-size")
    assert _status(report, "doc-input-size") is Status.FAIL and "other sizes possible" in (
        report.result("doc-input-size").message)


def test_a_doc_range_and_a_graph_range_are_both_named(model_path: Callable[[str], Path]) -> None:
    doc = dataclasses.replace(AGREES, value_range=(0.0, 255.0))
    report = _run(model_path("range_div255"), doc, "input-range", "doc-input-range")
    message = report.result("doc-input-range").message
    assert _status(report, "doc-input-range") is Status.FAIL and "[0, 255]" in message and "The graph agrees" in message


# -- hyperparameter arguments --------------------------------------------------------------------------


def _hparam_model(path: Path, how: str) -> Path:
    """A feature vector with a ``scale`` hyperparameter: traced as a tensor, only as a Python constant,
    or without a default."""
    import tensorflow as tf

    kernel = tf.Variable(tf.random.stateless_normal([3, 3, 3, 4], seed=[1, 2]), name="kernel")

    def features(images: tf.Tensor, scale: Any) -> tf.Tensor:
        pooled = tf.reduce_mean(tf.nn.conv2d(images, kernel, strides=2, padding="SAME"), axis=[1, 2])
        return pooled * tf.cast(scale, tf.float32)

    root = tf.train.Checkpoint()
    root.variables = [kernel]
    root.trainable_variables = [kernel]
    images = tf.TensorSpec([None, None, None, 3], tf.float32)
    if how == "tensor":
        root.__call__ = tf.function(lambda images, scale=1.0: features(images, scale),
                                    input_signature=[images, tf.TensorSpec([], tf.float32)])
    elif how == "constant":
        call = tf.function(lambda images, scale=1.0: features(images, scale))
        call.get_concrete_function(images)  # scale traced only as the Python constant 1.0
        root.__call__ = call
    else:
        root.__call__ = tf.function(lambda images, scale: features(images, scale),
                                    input_signature=[images, tf.TensorSpec([], tf.float32)])
    tf.saved_model.save(root, str(path))
    return path


@pytest.fixture(scope="module")
def hparam_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hparams")
    return {how: _hparam_model(root / how, how) for how in ("tensor", "constant", "no_default")}


def test_a_tensor_hyperparameter_with_a_default_passes(hparam_models: dict[str, Path]) -> None:
    doc = dataclasses.replace(AGREES, arguments={"scale": 0.5})
    report = _run(hparam_models["tensor"], doc, "hparam-arguments")
    result = report.result("hparam-arguments")
    assert result.status is Status.PASS, result.message
    assert "documented values (scale)" in result.message


def test_a_constant_hyperparameter_warns_without_a_doc_and_fails_against_one(hparam_models: dict[str, Path]) -> None:
    alone = _run(hparam_models["constant"], None, "hparam-arguments").result("hparam-arguments")
    assert alone.status is Status.WARN and "Python constant" in alone.message
    doc = dataclasses.replace(AGREES, arguments={"scale": 0.5})
    against = _run(hparam_models["constant"], doc, "hparam-arguments").result("hparam-arguments")
    assert against.status is Status.FAIL and "can never be passed" in against.message


def test_a_hyperparameter_without_a_default_fails(hparam_models: dict[str, Path]) -> None:
    result = _run(hparam_models["no_default"], None, "hparam-arguments").result("hparam-arguments")
    assert result.status is Status.FAIL and "has no default" in result.message


def test_a_documented_argument_that_does_not_exist_fails(model_path: Callable[[str], Path]) -> None:
    doc = dataclasses.replace(AGREES, arguments={"batch_norm_momentum": 0.997})
    result = _run(model_path("feature_vector"), doc, "hparam-arguments").result("hparam-arguments")
    assert result.status is Status.FAIL and "batch_norm_momentum is not an argument" in result.message


def test_no_hyperparameters_and_no_doc_is_not_applicable(model_path: Callable[[str], Path]) -> None:
    result = _run(model_path("feature_vector"), None, "hparam-arguments").result("hparam-arguments")
    assert result.status is Status.SKIP


# -- the command line: --doc, --write-doc and the round trip ----------------------------------------------


@pytest.mark.parametrize("suffix", [".md", ".json"])
def test_a_written_draft_reads_back_and_passes_the_doc_checks(model_path: Callable[[str], Path], tmp_path: Path,
                                                              suffix: str) -> None:
    import json

    from click.testing import CliRunner

    from hubcheck.cli import main
    from hubcheck.documentation import read_documentation

    _checks(*DOC_CHECKS)
    model = str(model_path("feature_vector"))
    draft = tmp_path / f"draft{suffix}"
    written = CliRunner().invoke(main, [model, "--write-doc", str(draft), "--format", "json"])
    assert written.exit_code == 0, written.output
    facts = read_documentation(draft)
    assert (facts.task, facts.fine_tunable, facts.num_outputs) == ("image-feature-vector", True, 16)
    checked = CliRunner().invoke(main, [model, "--doc", str(draft), "--format", "json"])
    assert checked.exit_code == 0, checked.output
    document = json.loads(checked.stdout)
    [report] = document["reports"] if "reports" in document else [document]
    statuses = {check["id"]: check["status"] for check in report["checks"] if check["id"] in DOC_CHECKS}
    assert statuses and "fail" not in statuses.values(), statuses
    assert statuses["doc-output-size"] == "pass" and statuses["doc-fine-tunable"] == "pass"
    assert report["model"]["documentation"]["num_outputs"] == 16


def test_doc_with_several_models_is_a_usage_error(model_path: Callable[[str], Path], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hubcheck.cli import main

    model = str(model_path("feature_vector"))
    result = CliRunner().invoke(main, [model, model, "--doc", str(tmp_path / "x.md")])
    assert result.exit_code == 2 and "one MODEL" in result.output


def test_an_unreadable_doc_is_a_usage_error(model_path: Callable[[str], Path], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hubcheck.cli import main

    result = CliRunner().invoke(main, [str(model_path("feature_vector")), "--doc", str(tmp_path / "missing.md")])
    assert result.exit_code == 2 and "--doc" in result.output


def test_a_catalog_line_and_a_config_table_carry_each_models_doc(model_path: Callable[[str], Path],
                                                                  tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from fixtures.catalog import DOCS
    from hubcheck.cli import main

    _checks(*DOC_CHECKS)
    model = model_path("feature_vector")
    catalog = tmp_path / "models.txt"
    catalog.write_text(f"{model}  doc={DOCS / 'feature_vector_wrong_n.md'}\n")
    result = CliRunner().invoke(main, ["--catalog", str(catalog), "--select", "doc-output-size", "--format", "json"])
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    [report] = document.get("reports", [document])
    assert report["checks"][0]["status"] == "fail" and "1001" in report["checks"][0]["message"]

    config = tmp_path / "pyproject.toml"
    config.write_text(f'[tool.hubcheck.models."{model}"]\ndoc = "{DOCS / "feature_vector.md"}"\n')
    result = CliRunner().invoke(main, [str(model), "--config", str(config), "--select", "doc-output-size",
                                       "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["checks"][0]["status"] == "pass"


def test_the_documented_size_and_task_lead_the_run(model_path: Callable[[str], Path]) -> None:
    doc = dataclasses.replace(AGREES, input_size=DocInputSize(96, 128, fixed=False))
    report = run_checks(model_path("feature_vector"), RunOptions(documentation=doc), checks=_checks("output-shape"))
    assert report.model["input_sizes"][0] == [96, 128]
    assert report.model["input_sizes_source"].startswith("documentation")
    assert report.model["documentation"]["num_outputs"] == 16


def test_no_draft_for_a_model_that_does_not_conform(model_path: Callable[[str], Path], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hubcheck.cli import main

    draft = tmp_path / "draft.md"
    result = CliRunner().invoke(main, [str(model_path("softmax_classifier")), "--write-doc", str(draft)])
    assert result.exit_code == 1 and not draft.exists()  # the verdict's exit code, and no draft vouching for it
    assert "no draft written" in result.output and "fix first: logits" in result.output


def test_an_unwritable_draft_path_is_refused_before_checking(model_path: Callable[[str], Path],
                                                             tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hubcheck.cli import main

    result = CliRunner().invoke(main, [str(model_path("feature_vector")), "--write-doc",
                                       str(tmp_path / "missing" / "draft.md"), "--format", "json"])
    assert result.exit_code == 2 and "does not exist" in result.output and '"checks"' not in result.output


def test_keras_own_mask_argument_is_not_a_hyperparameter(model_path: Callable[[str], Path]) -> None:
    result = _run(model_path("keras_feature_vector"), None, "hparam-arguments").result("hparam-arguments")
    assert result.status is Status.SKIP, result.message
