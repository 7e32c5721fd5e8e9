"""``hubcheck.check()``: arguments, the report it returns, and the docs' runnable example."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import hubcheck
import hubcheck.runner
from hubcheck.cli import main
from hubcheck.options import RunOptions, Task, Tolerances
from hubcheck.registry import check_ids
from hubcheck.results import CheckResult, Report, Status

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_a_folder_without_a_model_gives_a_failing_report(tmp_path: Path,
                                                         validate_report: Callable[[object], None]) -> None:
    report = hubcheck.check(tmp_path)
    assert isinstance(report, Report)
    assert report.status == "fail" and report.failed
    assert [result.id for result in report.checks] == check_ids()
    load = report.result("load")
    assert load.status is Status.FAIL and "No saved_model.pb" in load.message
    assert report.result("output-shape").details["blocked_by"] == "load"
    document = report.to_json()
    validate_report(document)
    assert Report.from_json(document).to_json() == document


def test_options_reach_the_runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[RunOptions] = []
    real = hubcheck.runner.run_checks

    def spy(path: Path, options: RunOptions, **kwargs: Any) -> Report:
        seen.append(options)
        return real(path, options, **kwargs)

    monkeypatch.setattr(hubcheck.runner, "run_checks", spy)
    report = hubcheck.check(str(tmp_path), task="image-classification", input_sizes=["32x48", (64, 64)],
                            select="load, output-dtype", ignore=["output-dtype"], tolerances={"rtol": 0.5},
                            strict=True, allow_unsafe_ops=True)
    assert seen == [RunOptions(task=Task.CLASSIFICATION, input_sizes=((32, 48), (64, 64)),
                               select=frozenset({"load", "output-dtype"}), ignore=frozenset({"output-dtype"}),
                               strict=True, tolerances=Tolerances(rtol=0.5), allow_unsafe_ops=True)]
    assert [result.id for result in report.checks] == ["load"]
    assert report.strict


def test_progress_is_reported_per_check(tmp_path: Path) -> None:
    events: list[tuple[str, CheckResult | None]] = []
    hubcheck.check(tmp_path, select=["load", "callable"], progress=lambda check_id, result: events.append(
        (check_id, result)))
    assert [(check_id, result is None) for check_id, result in events] == [
        ("load", True), ("load", False), ("callable", True), ("callable", False)]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"task": "detection"}, ValueError, "unknown task 'detection'"),
        ({"select": ["output-dtype", "bogus"]}, ValueError, "unknown check id bogus"),
        ({"ignore": "nope"}, ValueError, "unknown check id nope"),
        ({"input_sizes": ["224"]}, ValueError, "HEIGHTxWIDTH"),
        ({"input_sizes": [(0, 10)]}, ValueError, "out of range"),
        ({"tolerances": {"speed": 1.0}}, ValueError, "unknown tolerance speed"),
        ({"tolerances": {"rtol": -1.0}}, ValueError, "non-negative"),
    ],
)
def test_bad_arguments_raise_before_anything_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  kwargs: dict[str, Any], error: type[Exception],
                                                  message: str) -> None:
    calls: list[object] = []
    monkeypatch.setattr(hubcheck.runner, "run_checks", lambda *args, **kw: calls.append(args))
    with pytest.raises(error, match=re.escape(message)):
        hubcheck.check(tmp_path, **kwargs)
    assert calls == []


def test_a_missing_path_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such model path"):
        hubcheck.check(tmp_path / "missing")


def test_the_cli_is_a_thin_layer_over_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, dict[str, Any]]] = []
    real = hubcheck.check

    def spy(path: Any, **kwargs: Any) -> Report:
        calls.append((path, kwargs))
        return real(path, **kwargs)

    monkeypatch.setattr(hubcheck, "check", spy)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model").mkdir()
    result = CliRunner().invoke(main, ["--select", "load", "--task", "image-classification", "model"])
    assert result.exit_code == 1  # load fails on an empty folder
    assert len(calls) == 1
    path, kwargs = calls[0]
    assert path.source == "model" and path.local_path == (tmp_path / "model").resolve()  # resolved once, by the CLI
    assert kwargs["select"] == frozenset({"load"}) and kwargs["task"] is Task.CLASSIFICATION


@pytest.mark.slow
def test_the_runnable_example_in_the_docs_runs(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (DOCS / "api.md").read_text(), re.S)
    example = blocks[0]
    assert "hubcheck.check(" in example
    script = tmp_path / "example.py"  # a real file, so that AutoGraph can read the function's source
    script.write_text(example)
    namespace: dict[str, Any] = {"__name__": "__example__"}
    exec(compile(example, str(script), "exec"), namespace)  # noqa: S102 - our own documentation
    report = namespace["report"]
    assert report.status == "pass"
    assert report.result("output-shape").status is Status.PASS
    assert report.model["input_sizes"] == [[224, 224], [160, 192]]
