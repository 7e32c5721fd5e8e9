"""The command line's formats, outputs, several models and configuration, over a fake runner (no TensorFlow)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from fakes import FakeRunner, exited

from hubcheck.cli import main
from hubcheck.config import load_config
from hubcheck.options import Task
from hubcheck.registry import available_checks, get_check
from hubcheck.results import Status


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeRunner:
    monkeypatch.chdir(tmp_path)  # configuration discovery starts here
    for name in ("a", "b"):
        (tmp_path / "models" / name).mkdir(parents=True)
    return FakeRunner()


@pytest.fixture
def hubcheck_cli(fake: FakeRunner) -> Callable[..., Result]:
    """The command line, checking with the fake runner."""

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, list(args), obj=fake.factory)

    return invoke


def test_junit_for_two_models_is_one_document(fake: FakeRunner, hubcheck_cli: Callable[..., Result]) -> None:
    fake.statuses["b"] = {"output-dtype": Status.FAIL}
    result = hubcheck_cli("--format", "junit", "models/a", "models/b")
    assert result.exit_code == 1
    root = ET.fromstring(result.stdout)
    assert [suite.get("name") for suite in root.iter("testsuite")] == ["models/a", "models/b"]
    assert root.get("failures") == "1"
    failed = [case.get("name") for case in root.iter("testcase") if case.find("failure") is not None]
    assert failed == ["output-dtype"]
    assert [path.name for path, _ in fake.calls] == ["a", "b"]


def test_json_for_two_models_validates_against_the_schema(fake: FakeRunner, hubcheck_cli: Callable[..., Result],
                                                          validate_report: Callable[[object], None]) -> None:
    result = hubcheck_cli("--format", "json", "models/a", "models/b")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    validate_report(document)
    assert [report["model"]["path"] for report in document["reports"]] == ["models/a", "models/b"]


def test_markdown_to_an_output_file(fake: FakeRunner, hubcheck_cli: Callable[..., Result], tmp_path: Path) -> None:
    result = hubcheck_cli("--format", "markdown", "--output", "summary.md", "models/a")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "report written to summary.md" in result.stderr
    text = (tmp_path / "summary.md").read_text()
    assert text.startswith("## hubcheck ✅ PASS: `models/a`")
    assert text.count("| `") == len(available_checks())


def test_github_annotations_name_the_model_file(fake: FakeRunner, hubcheck_cli: Callable[..., Result],
                                                monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    fake.statuses["a"] = {"output-dtype": Status.FAIL, "training-argument": Status.WARN}
    result = hubcheck_cli("--format", "github", "models/a")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    title = get_check("output-dtype").title.replace(":", "%3A").replace(",", "%2C")
    assert lines[0] == f"::error file=models/a,title=hubcheck output-dtype%3A {title}::fail: output-dtype of a"
    assert lines[1].startswith("::warning file=models/a,")
    assert lines[2].startswith("hubcheck FAIL: models/a")


def test_one_run_writes_every_requested_report(fake: FakeRunner, hubcheck_cli: Callable[..., Result],
                                               tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    result = hubcheck_cli("--format", "github", "--report", "junit=out/hubcheck.xml",
                          "--report", "markdown=out/summary.md", "--report", "json=out/report.json",
                          "models/a", "models/b")
    assert result.exit_code == 0, result.output
    assert len(fake.calls) == 2  # each model checked once for all four outputs
    assert len(ET.parse(tmp_path / "out" / "hubcheck.xml").getroot().findall("testsuite")) == 2
    assert "## hubcheck: 2 models, 0 nonconformant" in (tmp_path / "out" / "summary.md").read_text()
    assert len(json.loads((tmp_path / "out" / "report.json").read_text())["reports"]) == 2
    assert result.stdout.splitlines()[-1].startswith("hubcheck PASS: models/b")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--report", "junit"], "--report must look like FORMAT=PATH"),
        (["--report", "yaml=x.yaml"], "unknown format 'yaml'"),
        (["--report", "junit=missing/x.xml"], "--report missing/x.xml: folder missing does not exist"),
        (["--config", "nope.toml"], "nope.toml: no such configuration file"),
        (["--config", "nope.toml", "--no-config"], "contradict"),
    ],
)
def test_usage_errors_exit_2_before_any_model_is_checked(fake: FakeRunner, hubcheck_cli: Callable[..., Result],
                                                         args: list[str], message: str) -> None:
    result = hubcheck_cli(*args, "models/a")
    assert result.exit_code == 2
    assert message in result.output
    assert fake.calls == []


def test_configuration_is_found_and_applied_per_model(fake: FakeRunner, hubcheck_cli: Callable[..., Result],
                                                      tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.hubcheck]\ntask = "image-feature-vector"\nstrict = true\ninput-sizes = ["32x32"]\n'
        'ignore = ["keras-layer"]\n[tool.hubcheck.models."models/b"]\ntask = "image-classification"\n'
    )
    assert hubcheck_cli("models/a", "models/b").exit_code == 0
    options = {path.name: opts for path, opts in fake.calls}
    assert options["a"].task is Task.FEATURE_VECTOR and options["b"].task is Task.CLASSIFICATION
    assert options["a"].strict and options["b"].strict
    assert options["a"].input_sizes == ((32, 32),)
    assert "keras-layer" in options["b"].ignore


def test_command_line_overrides_the_configuration(fake: FakeRunner, hubcheck_cli: Callable[..., Result],
                                                  tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.hubcheck]\ntask = "image-feature-vector"\nstrict = true\n'
                                             'tolerances = { rtol = 0.5 }\n')
    assert hubcheck_cli("--task", "auto", "--no-strict", "--tolerance", "atol=0.25", "models/a").exit_code == 0
    options = fake.calls[-1][1]
    assert (options.task, options.strict) == (Task.AUTO, False)
    assert (options.tolerances.rtol, options.tolerances.atol) == (0.5, 0.25)


def test_allow_unsafe_ops_comes_from_the_command_line(fake: FakeRunner, hubcheck_cli: Callable[..., Result]) -> None:
    assert hubcheck_cli("models/a").exit_code == 0
    assert hubcheck_cli("--allow-unsafe-ops", "models/a").exit_code == 0
    assert [options.allow_unsafe_ops for _, options in fake.calls] == [False, True]


def test_configuration_errors_exit_2_naming_file_and_key(fake: FakeRunner, hubcheck_cli: Callable[..., Result],
                                                         tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.hubcheck]\nstrictness = true\n')
    result = hubcheck_cli("models/a")
    assert result.exit_code == 2
    assert f"{tmp_path / 'pyproject.toml'}: [tool.hubcheck]: unknown key 'strictness'" in result.output
    assert fake.calls == []
    assert hubcheck_cli("--no-config", "models/a").exit_code == 0  # the way around a broken file


def test_explicit_config_file(fake: FakeRunner, hubcheck_cli: Callable[..., Result], tmp_path: Path) -> None:
    (tmp_path / "ci.toml").write_text('[tool.hubcheck]\nselect = ["load", "output-dtype"]\n')
    assert hubcheck_cli("--config", "ci.toml", "models/a").exit_code == 0
    assert fake.calls[-1][1].select == frozenset({"load", "output-dtype"})


def test_a_crash_of_hubcheck_itself_exits_3(fake: FakeRunner, hubcheck_cli: Callable[..., Result]) -> None:
    fake.crash_on = "a"
    result = hubcheck_cli("--format", "json", "models/a", "models/b")
    assert exited(result, 3)
    assert "internal error while checking models/a" in result.stderr
    assert "RuntimeError: a bug in hubcheck" in result.stderr
    assert result.stdout == ""


# -- docs/ci.md stays true ----------------------------------------------------------------------

CI_DOC = Path(__file__).resolve().parent.parent / "docs" / "ci.md"


def _blocks(language: str) -> list[str]:
    return [body for lang, body in re.findall(r"```(\w+)\n(.*?)```", CI_DOC.read_text(), re.S) if lang == language]


def _doc_commands() -> list[list[str]]:
    commands = []
    for language in ("console", "yaml", "bash"):
        for block in _blocks(language):
            for line in block.splitlines():
                match = re.match(r"^\s*(?:\$ |- |run: )?(hubcheck\s.*)$", line)
                if match:
                    text = re.sub(r"\s+#.*$", "", match.group(1)).replace('"$MODEL_DIR"', "models/my-model")
                    commands.append(shlex.split(text)[1:])
    return commands


def test_every_command_line_in_the_ci_doc_works(fake: FakeRunner, tmp_path: Path) -> None:
    (tmp_path / "models" / "my-model").mkdir()
    commands = _doc_commands()
    assert len(commands) >= 6  # the console examples, GitHub, GitLab and the publishing script
    for args in commands:
        result = CliRunner().invoke(main, args, obj=fake.factory)
        assert exited(result, 0), (args, result.output)
        for option, value in zip(args, args[1:]):
            if option == "--output":
                assert (tmp_path / value).is_file(), args
            if option == "--report":
                assert (tmp_path / value.partition("=")[2]).is_file(), args


def test_the_configuration_example_in_the_ci_doc_is_valid(tmp_path: Path) -> None:
    example = next(block for block in _blocks("toml") if "[tool.hubcheck]" in block)
    (tmp_path / "pyproject.toml").write_text(example)
    config = load_config(tmp_path / "pyproject.toml")
    classifier = config.run_options(tmp_path / "models" / "classifier")
    assert classifier.task is Task.CLASSIFICATION and classifier.ignore == frozenset()
    assert config.run_options(tmp_path / "models" / "my-model").task is Task.FEATURE_VECTOR


@pytest.mark.slow  # runs a child process
def test_the_gate_script_in_the_ci_doc_gates(fake: FakeRunner, tmp_path: Path) -> None:
    gate = next(block for block in _blocks("python") if block.startswith('"""gate.py'))
    (tmp_path / "gate.py").write_text(gate)

    def run_gate(*models: str) -> subprocess.CompletedProcess[str]:
        result = CliRunner().invoke(main, ["--format", "json", "--output", "report.json", *models],
                                    obj=fake.factory)
        assert result.exit_code in (0, 1)
        return subprocess.run([sys.executable, "gate.py", "report.json"], capture_output=True, text=True,
                              cwd=tmp_path, check=False)

    assert run_gate("models/a").returncode == 0
    fake.statuses["b"] = {"output-finite": Status.FAIL, "keras-layer": Status.SKIP}
    refused = run_gate("models/a", "models/b")
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == ["models/b: output-finite fail: fail: output-finite of b",
                                           "models/b: keras-layer must pass here, got skip"]
