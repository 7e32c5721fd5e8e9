"""The command line through click's CliRunner: exit codes, formats, usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakes import FakeRunner, exited

from hubcheck.cli import main
from hubcheck.registry import check_ids


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_list_checks_names_every_registered_check(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--list-checks"])
    assert exited(result, 0)
    listed = [line.split()[0] for line in result.output.splitlines()]
    assert listed == check_ids()


def test_explain_prints_when_it_fails_and_the_fix(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--explain", "output-shape"])
    assert exited(result, 0)
    assert "Fails when" in result.output and "Fix:" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--explain", "no-such-check"], "unknown check id"),
        ([], "missing MODEL"),
        (["does/not/exist"], "no such file or directory: does/not/exist"),
    ],
)
def test_usage_errors_exit_2(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(main, args)
    assert exited(result, 2)
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--select", "output-shape,bogus"], "unknown check id bogus"),
        (["--input-size", "224"], "HEIGHTxWIDTH"),
        (["--tolerance", "rtol=abc"], "needs a number"),
        (["--tolerance", "speed=1"], "unknown tolerance speed"),
        (["--task", "detection"], "Invalid value for '--task'"),
    ],
)
def test_bad_option_values_exit_2(runner: CliRunner, tmp_path: Path, option: list[str], message: str) -> None:
    result = runner.invoke(main, [*option, str(tmp_path)])
    assert result.exit_code == 2
    assert message in result.output


def test_output_into_a_missing_folder_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["--output", str(tmp_path / "nope" / "r.json"), str(tmp_path)])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_empty_directory_fails_load_with_exit_1(runner: CliRunner, tmp_path: Path, validate_report) -> None:
    result = runner.invoke(main, ["--format", "json", str(tmp_path)])
    assert result.exit_code == 1
    assert exited(result, 1), result.exception  # a report that fails, not a crash that click also calls 1
    document = json.loads(result.output)
    validate_report(document)
    by_id = {c["id"]: c for c in document["checks"]}
    assert by_id["load"]["status"] == "fail"
    assert "No saved_model.pb" in by_id["load"]["message"]
    assert all(c["status"] == "skip" for c in document["checks"] if c["id"] not in ("load", "unsafe-ops"))


def test_conformant_model_exits_0_with_a_valid_json_report(runner: CliRunner, model_path, validate_report) -> None:
    result = runner.invoke(main, ["--format", "json", str(model_path("feature_vector"))])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    validate_report(document)
    assert document["status"] == "pass"
    assert [c["id"] for c in document["checks"]] == check_ids()
    assert document["model"]["task"] == "image-feature-vector"
    assert document["model"]["input_sizes_source"].startswith("defaults")


def test_table_output_has_a_row_per_check_and_a_verdict(runner: CliRunner, model_path) -> None:
    result = runner.invoke(main, [str(model_path("dict_output"))])
    assert exited(result, 1), result.exception
    assert "output-single-tensor" in result.output
    assert "FAIL:" in result.output.splitlines()[-1]


def test_output_file_replaces_stdout(runner: CliRunner, model_path, tmp_path: Path, validate_report) -> None:
    target = tmp_path / "report.json"
    result = runner.invoke(main, ["--format", "json", "--output", str(target), str(model_path("classifier"))])
    assert result.exit_code == 0
    assert not result.stdout.strip()
    document = json.loads(target.read_text())
    validate_report(document)
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left behind


def test_select_runs_only_the_named_checks(runner: CliRunner, model_path) -> None:
    result = runner.invoke(main, ["--format", "json", "--select", "load,output-dtype", str(model_path("classifier"))])
    assert result.exit_code == 0
    assert [c["id"] for c in json.loads(result.output)["checks"]] == ["load", "output-dtype"]


def test_strict_turns_warnings_into_failure(runner: CliRunner, model_path) -> None:
    path = str(model_path("finetunable_no_training_arg"))
    assert runner.invoke(main, ["--select", "training-argument", path]).exit_code == 0
    assert exited(runner.invoke(main, ["--strict", "--select", "training-argument", path]), 1)


def test_input_size_option_is_used_when_traces_do_not_fix_it(runner: CliRunner, model_path) -> None:
    result = runner.invoke(main, ["--format", "json", "--input-size", "32x48", "--input-size", "40x40",
                                  "--select", "output-size-constant", str(model_path("feature_vector"))])
    document = json.loads(result.output)
    assert document["model"]["input_sizes"] == [[32, 48], [40, 40]]
    assert document["model"]["input_sizes_source"] == "--input-size"
    assert document["checks"][0]["details"]["widths"] == {"32x48": 16, "40x40": 16}


@pytest.mark.slow
def test_the_cli_isolates_the_model_and_bounds_its_time(runner: CliRunner, model_path, tmp_path: Path,
                                                        validate_report) -> None:
    target = tmp_path / "report.json"
    result = runner.invoke(main, ["--format", "json", "--output", str(target), "--timeout", "300",
                                  "--max-memory", "8G", str(model_path("classifier"))],
                           env={"HUBCHECK_IN_PROCESS": ""})
    assert result.exit_code == 0, result.output
    document = json.loads(target.read_text())
    validate_report(document)
    assert document["model"]["content_hash"].startswith("sha256:")
    assert document["model"]["source_kind"] == "directory"


def test_bad_memory_size_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["--max-memory", "lots", str(tmp_path)], env={"HUBCHECK_IN_PROCESS": ""})
    assert result.exit_code == 2 and "--max-memory" in result.output


def test_debug_reaches_the_runner(runner: CliRunner, tmp_path: Path) -> None:
    fake = FakeRunner()
    runner.invoke(main, ["--select", "load", "--debug", str(tmp_path)], obj=fake.factory)
    runner.invoke(main, ["--select", "load", str(tmp_path)], obj=fake.factory)
    assert [options.debug for _, options in fake.calls] == [True, False]


def test_a_bug_in_hubcheck_exits_3_with_the_traceback(runner: CliRunner, tmp_path: Path) -> None:
    fake = FakeRunner()
    fake.crash_on = tmp_path.name
    result = runner.invoke(main, ["--format", "json", str(tmp_path)], obj=fake.factory)
    assert exited(result, 3)
    assert f"internal error while checking {tmp_path}" in result.stderr
    assert "RuntimeError: a bug in hubcheck" in result.stderr and result.stdout == ""


def test_output_through_a_symlink_writes_the_target_with_normal_permissions(runner: CliRunner, tmp_path: Path) -> None:
    import os
    import stat

    target = tmp_path / "reports" / "real.json"
    target.parent.mkdir()
    link = tmp_path / "link.json"
    link.symlink_to(target)
    model = tmp_path / "model"
    model.mkdir()
    result = runner.invoke(main, ["--format", "json", "--select", "load", "--output", str(link), str(model)])
    assert exited(result, 1), result.exception
    assert link.is_symlink() and json.loads(target.read_text())["checks"][0]["id"] == "load"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_output_to_a_device_is_written_in_place(runner: CliRunner, tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    result = runner.invoke(main, ["--select", "load", "--output", "/dev/null", str(model)])
    assert exited(result, 1), result.exception
    assert Path("/dev/null").is_char_device()


def test_empty_model_argument_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(main, [""])
    assert result.exit_code == 2
    assert "empty" in result.output
