"""The GitHub Action (action.yml): its steps (.github/actions/hubcheck-run.sh) run here as GitHub would run
them, with GITHUB_OUTPUT and GITHUB_STEP_SUMMARY pointing at temporary files.

Most tests put a fake ``hubcheck`` first on PATH (it records its arguments and writes the reports it is
asked for); one runs the real hubcheck on fixture models.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hubcheck.catalog import load_reports

REPO = Path(__file__).resolve().parent.parent
ACTION = REPO / "action.yml"
SCRIPT = REPO / ".github" / "actions" / "hubcheck-run.sh"

FAKE_HUBCHECK = f"""#!{sys.executable}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_RECORD"], "w", encoding="utf-8") as stream:
    json.dump(args, stream)
print("::error title=hubcheck output-dtype: Output is float32::output is float64")
if os.environ.get("FAKE_WRITE", "1") == "1":
    for index, arg in enumerate(args):
        if arg == "--report":
            kind, _, path = args[index + 1].partition("=")
            markdown = os.environ.get("FAKE_MARKDOWN_FILE")
            text = {{"markdown": open(markdown, encoding="utf-8").read() if markdown else "## hubcheck fake summary\\n",
                     "json": '{{"reports": []}}', "html": "<!DOCTYPE html>"}}[kind]
            with open(path, "w", encoding="utf-8") as stream:
                stream.write(text)
sys.exit(int(os.environ.get("FAKE_EXIT", "0")))
"""


class Step:
    """One run of the script: its exit code, log, outputs and summary."""

    def __init__(self, done: subprocess.CompletedProcess[str], output: Path, summary: Path, record: Path) -> None:
        self.code = done.returncode
        self.log = done.stdout + done.stderr
        self.summary = summary.read_text(encoding="utf-8") if summary.exists() else ""
        self.outputs = dict(line.split("=", 1) for line in output.read_text(encoding="utf-8").splitlines()) \
            if output.exists() else {}
        self.args: list[str] = json.loads(record.read_text(encoding="utf-8")) if record.exists() else []


@pytest.fixture
def run_step(tmp_path: Path) -> Callable[..., Step]:
    """Run ``hubcheck-run.sh STEP`` in ``tmp_path/workspace`` with the given inputs (HUBCHECK_* variables)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "hubcheck"
    fake.write_text(FAKE_HUBCHECK, encoding="utf-8")
    fake.chmod(0o755)
    workspace = tmp_path / "workspace"
    workspace.mkdir()

    def run(step: str = "check", *, real: bool = False, path_first: Path | None = None, **variables: str) -> Step:
        github = tmp_path / "github"
        github.mkdir(exist_ok=True)
        output, summary, record = github / "output", github / "summary", github / "record.json"
        for stale in (output, summary, record):
            stale.unlink(missing_ok=True)
        path = [str(Path(sys.executable).parent), os.environ.get("PATH", "")]
        if not real:
            path.insert(0, str(bin_dir))
        if path_first is not None:
            path.insert(0, str(path_first))
        env = {**os.environ, "PATH": os.pathsep.join(path), "GITHUB_OUTPUT": str(output),
               "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_WORKSPACE": str(workspace), "FAKE_RECORD": str(record),
               **variables}
        for name in ("HUBCHECK_MODELS", "HUBCHECK_CATALOG", "HUBCHECK_ARGS", "HUBCHECK_REPORT_DIR"):
            env.setdefault(name, "")
        done = subprocess.run(["bash", str(SCRIPT), step], cwd=workspace, env=env, capture_output=True, text=True,
                              timeout=900, check=False)
        return Step(done, output, summary, record)

    return run


def test_the_check_step_runs_hubcheck_with_the_inputs(run_step: Callable[..., Step], tmp_path: Path) -> None:
    step = run_step(HUBCHECK_MODELS="models/a\n'models/with space'  models/b", HUBCHECK_CATALOG="catalog.txt",
                    HUBCHECK_ARGS="--strict --task image-classification --input-size 224x224")
    reports = tmp_path / "workspace" / "hubcheck-report"
    assert step.code == 0, step.log
    assert step.args == [
        "models/a", "models/with space", "models/b", "--catalog", "catalog.txt",
        "--strict", "--task", "image-classification", "--input-size", "224x224",
        "--format", "github", "--report", f"json={reports}/hubcheck.json", "--report", f"html={reports}/hubcheck.html",
        "--report", f"markdown={reports}/hubcheck.md",
    ]
    assert "::error title=hubcheck output-dtype" in step.log  # the annotations reach the log, where GitHub reads them
    assert step.outputs == {"json-report": f"{reports}/hubcheck.json", "html-report": f"{reports}/hubcheck.html",
                            "markdown-report": f"{reports}/hubcheck.md", "exit-code": "0"}
    assert step.summary == "## hubcheck fake summary\n"
    assert (reports / "hubcheck.html").read_text(encoding="utf-8") == "<!DOCTYPE html>"


@pytest.mark.parametrize("code", [1, 3, 4])
def test_the_step_fails_with_hubchecks_exit_code(run_step: Callable[..., Step], code: int) -> None:
    step = run_step(HUBCHECK_MODELS="models/a", HUBCHECK_REPORT_DIR="out/reports", FAKE_EXIT=str(code))
    assert step.code == code
    assert step.outputs["exit-code"] == str(code)
    assert step.outputs["json-report"].endswith("/workspace/out/reports/hubcheck.json")
    assert step.summary == "## hubcheck fake summary\n"


def test_without_a_report_the_summary_says_why_and_no_stale_report_is_left(run_step: Callable[..., Step],
                                                                             tmp_path: Path) -> None:
    reports = tmp_path / "workspace" / "hubcheck-report"
    reports.mkdir()
    (reports / "hubcheck.json").write_text("{}", encoding="utf-8")  # from an earlier run in the same workspace
    step = run_step(HUBCHECK_MODELS="models/a", FAKE_EXIT="2", FAKE_WRITE="0")
    assert step.code == 2
    assert "hubcheck exited with code 2 before writing a report" in step.summary
    assert not (reports / "hubcheck.json").exists()
    assert step.outputs["exit-code"] == "2"


def test_a_summary_too_big_for_github_keeps_the_overview(run_step: Callable[..., Step], tmp_path: Path) -> None:
    overview = "## hubcheck: 3000 models, 1 nonconformant\n\n| model | verdict |\n| --- | --- |\n"
    sections = "".join(f"### hubcheck ✅ PASS: `models/m{n}`\n\n" + "| a | b |\n" * 40 for n in range(3000))
    (tmp_path / "big.md").write_text(overview + sections, encoding="utf-8")
    step = run_step(HUBCHECK_MODELS="models/a", FAKE_MARKDOWN_FILE=str(tmp_path / "big.md"))
    assert step.code == 0
    assert step.summary.startswith(overview) and "### hubcheck" not in step.summary
    assert "do not fit a step summary; see hubcheck.html" in step.summary
    assert len(step.summary.encode("utf-8")) < 1024 * 1024


def test_unbalanced_quotes_in_args_are_a_usage_error(run_step: Callable[..., Step]) -> None:
    step = run_step(HUBCHECK_MODELS="models/a", HUBCHECK_ARGS='--task "image-classification')
    assert step.code == 2
    assert "::error title=hubcheck action::input args: No closing quotation" in step.log
    assert step.args == []  # hubcheck never ran


def test_the_install_step_installs_the_action_checkout(run_step: Callable[..., Step], tmp_path: Path) -> None:
    fakes = tmp_path / "fake-python"
    fakes.mkdir()
    python = fakes / "python"
    python.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$@" > "{tmp_path}/pip-args"\n', encoding="utf-8")
    python.chmod(0o755)
    step = run_step("install", path_first=fakes, HUBCHECK_ACTION_PATH="/actions/hubcheck dir")
    assert step.code == 0, step.log
    assert (tmp_path / "pip-args").read_text().splitlines() == [
        "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "/actions/hubcheck dir"]


# -- action.yml ------------------------------------------------------------------------------------


def _section_keys(text: str, section: str) -> list[str]:
    """The keys one level under a top-level ``section:`` of a YAML file written as action.yml is."""
    match = re.search(rf"^{section}:\n((?:  .*\n|\n)*)", text, re.MULTILINE)
    assert match, section
    return re.findall(r"^  ([a-z][a-z-]*):", match.group(1), re.MULTILINE)


def test_action_inputs_and_outputs_match_the_script() -> None:
    text = ACTION.read_text(encoding="utf-8")
    script = SCRIPT.read_text(encoding="utf-8")
    inputs = _section_keys(text, "inputs")
    outputs = _section_keys(text, "outputs")
    assert inputs == ["models", "catalog", "args", "python-version", "report-dir"]
    assert set(re.findall(r"\$\{\{ inputs\.([a-z-]+) \}\}", text)) == set(inputs)
    assert outputs == ["json-report", "html-report", "markdown-report", "exit-code"]
    assert re.findall(r"value: \$\{\{ steps\.check\.outputs\.([a-z-]+) \}\}", text) == outputs
    assert re.findall(r'echo "([a-z-]+)=', script) == outputs  # what the check step writes to GITHUB_OUTPUT
    passed = set(re.findall(r"^ +(HUBCHECK_[A-Z_]+): ", text, re.MULTILINE))
    read = set(re.findall(r"\$\{?(HUBCHECK_[A-Z_]+)", script)) - {"HUBCHECK_PYTHON"}  # PYTHON: for local runs
    assert read == passed
    assert "using: composite" in text
    commands = re.findall(r"^ +run: (.*)$", text, re.MULTILINE)
    assert len(commands) == 2 and not any("${{" in command for command in commands)  # inputs only through env


def test_action_yml_structure() -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed; the structure check above covers the names")
    action = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    assert [step.get("id") for step in steps].count("check") == 1
    assert all(step.get("shell") == "bash" for step in steps if "run" in step)
    assert all("${{" not in step["run"] for step in steps if "run" in step)  # inputs go through env, never inline


# -- the real thing ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_check_step_with_the_real_hubcheck(run_step: Callable[..., Step], model_path: Callable[[str], Path],
                                               tmp_path: Path) -> None:
    good, bad = model_path("feature_vector"), model_path("float64_output")
    step = run_step(real=True, HUBCHECK_MODELS=f"{good} {bad}", HUBCHECK_ARGS="--jobs 1 --select load,callable,output-dtype")
    assert step.code == 1, step.log  # float64_output does not conform
    assert "::error" in step.log and "output-dtype" in step.log
    assert "## hubcheck: 2 models, 1 nonconformant" in step.summary
    reports = load_reports(Path(step.outputs["json-report"]))
    assert [report.status.value for report in reports] == ["pass", "fail"]
    page = Path(step.outputs["html-report"]).read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and str(bad) in page
    assert step.outputs["exit-code"] == "1"
