"""``hubcheck.check()``: arguments, the report it returns, and the docs' runnable example."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fakes import FakeRunner, exited

import hubcheck
from hubcheck.cli import main
from hubcheck.options import RunOptions, Task, Tolerances
from hubcheck.registry import check_ids
from hubcheck.results import CheckResult, Report, Status
from hubcheck.runners import InProcessRunner, IsolatedRunner, runner_for

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


def test_options_reach_the_runner(tmp_path: Path) -> None:
    fake = FakeRunner()
    report = hubcheck.check(str(tmp_path), task="image-classification", input_sizes=["32x48", (64, 64)],
                            select="load, output-dtype", ignore=["output-dtype"], tolerances={"rtol": 0.5},
                            strict=True, allow_unsafe_ops=True, runner=fake)
    assert fake.calls == [(tmp_path.resolve(), RunOptions(
        task=Task.CLASSIFICATION, input_sizes=((32, 48), (64, 64)), select=frozenset({"load", "output-dtype"}),
        ignore=frozenset({"output-dtype"}), strict=True, tolerances=Tolerances(rtol=0.5), allow_unsafe_ops=True))]
    assert [result.id for result in report.checks] == ["load"]
    assert report.strict
    # the model section names the model as the caller did and says where it was checked
    assert report.model["path"] == str(tmp_path) and report.model["resolved_path"] == str(tmp_path.resolve())
    assert report.model["source_kind"] == "directory"


def test_the_runner_follows_isolate() -> None:
    assert isinstance(runner_for(), InProcessRunner) and not runner_for().parallel
    isolated = runner_for(isolate=True, timeout_s=30, max_memory_bytes=1 << 30)
    assert isinstance(isolated, IsolatedRunner) and isolated.parallel
    assert (isolated.limits.timeout_s, isolated.limits.max_memory_bytes) == (30, 1 << 30)


def test_a_runner_excludes_the_isolation_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="runner= decides how the model runs"):
        hubcheck.check(tmp_path, isolate=True, runner=FakeRunner())


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
def test_bad_arguments_raise_before_anything_runs(tmp_path: Path, kwargs: dict[str, Any], error: type[Exception],
                                                  message: str) -> None:
    fake = FakeRunner()
    with pytest.raises(error, match=re.escape(message)):
        hubcheck.check(tmp_path, runner=fake, **kwargs)
    assert fake.calls == []


def test_a_missing_path_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such model path"):
        hubcheck.check(tmp_path / "missing")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no such model path"):
        hubcheck.check(tmp_path / "dangling")


def test_a_source_that_is_not_a_path_is_not_file_not_found(tmp_path: Path) -> None:
    from hubcheck.sources import SourceError

    with pytest.raises(SourceError, match="ftp:// is not supported") as caught:
        hubcheck.check("ftp://example.com/model.tar.gz")
    assert not isinstance(caught.value, FileNotFoundError)


def test_the_cli_resolves_once_and_gives_the_runner_the_folder(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRunner()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model").mkdir()
    result = CliRunner().invoke(main, ["--select", "load", "--task", "image-classification", "--format", "json",
                                       "model"], obj=fake.factory)
    assert exited(result, 0), result.output
    [(path, options)] = fake.calls
    assert path == (tmp_path / "model").resolve()  # resolved once, by the CLI
    assert options.select == frozenset({"load"}) and options.task is Task.CLASSIFICATION
    assert fake.limits == [None]  # the test suite runs the CLI --in-process (HUBCHECK_IN_PROCESS=1)
    document = json.loads(result.stdout)
    assert document["model"]["path"] == "model" and document["model"]["source_kind"] == "directory"


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
