"""Catalog mode: --catalog files, --jobs, --shard and `hubcheck merge`.

Everything runs over the fake runner of tests/fakes.py (no TensorFlow), given to the command line
as its runner factory, except one real --jobs 2 run of fixture models, each in its own isolated
child process.
"""

from __future__ import annotations

import contextvars
import glob
import io
import json
import re
import shlex
import signal
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from fakes import FakeRunner, exited, resolved

import hubcheck.sources
from hubcheck.catalog import CatalogError, Shard, load_reports, parse_catalog, shard_key
from hubcheck.cli import main
from hubcheck.options import RunOptions
from hubcheck.pool import Job, ModelCrash, check_all
from hubcheck.registry import available_checks
from hubcheck.results import CheckResult, Report, Status
from hubcheck.ui import CatalogProgress

DOC = Path(__file__).resolve().parent.parent / "docs" / "catalog.md"


MODELS = ("a", "b", "c", "d", "e", "f", "g")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeRunner]:
    monkeypatch.chdir(tmp_path)
    for name in MODELS:
        (tmp_path / "models" / name).mkdir(parents=True)
    runner = FakeRunner()
    token = _FAKE.set(runner)
    yield runner
    _FAKE.reset(token)


_FAKE: contextvars.ContextVar[FakeRunner | None] = contextvars.ContextVar("fake", default=None)


def run(*args: str, isolate: bool = False) -> Result:
    """The CLI with this test's fake runner; ``isolate`` lifts the test suite's HUBCHECK_IN_PROCESS=1 so that
    models run "in children" (the fake's parallel view)."""
    fake = _FAKE.get()
    return CliRunner().invoke(main, list(args), env={"HUBCHECK_IN_PROCESS": ""} if isolate else None,
                              obj=None if fake is None else fake.factory)


def paths(document: dict[str, Any]) -> list[str]:
    reports = document["reports"] if "reports" in document else [document]
    return [report["model"]["path"] for report in reports]


def write_catalog(path: Path, *lines: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


# -- catalog files --------------------------------------------------------------------------------


def test_catalog_file_comments_blank_lines_and_relative_paths(fake: FakeRunner, tmp_path: Path,
                                                              validate_report: Callable[[object], None]) -> None:
    (tmp_path / "ci" / "models" / "x").mkdir(parents=True)
    write_catalog(tmp_path / "ci" / "catalog.txt",
                  "# the models we publish", "", "models/x        # relative to ci/", "   ",
                  f"{tmp_path / 'models' / 'a'}", "  # indented comment")
    result = run("--catalog", "ci/catalog.txt", "models/b", "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    validate_report(document)
    # command-line models first, then the catalog's, each in its order
    assert paths(document) == ["models/b", "ci/models/x", str(tmp_path / "models" / "a")]
    assert fake.names == ["b", "x", "a"]


def test_parse_catalog_keeps_urls_handles_and_absolute_paths(tmp_path: Path) -> None:
    text = ("https://example.com/m.tar.gz#frag\ntfhub.dev/google/model/1\n/abs/model\n~/model\n"
            "models/a/\n./models/b # note\n")
    entries = parse_catalog(text, tmp_path / "ci", "cat.txt")
    assert [entry.target for entry in entries] == [
        "https://example.com/m.tar.gz#frag", "tfhub.dev/google/model/1", "/abs/model", "~/model",
        str(tmp_path / "ci" / "models" / "a"), str(tmp_path / "ci" / "models" / "b"),
    ]
    assert [entry.spec for entry in entries][-1] == "./models/b"
    assert [entry.origin for entry in entries] == [f"cat.txt:{n}" for n in range(1, 7)]


def test_a_hub_handle_that_is_a_folder_next_to_the_catalog_is_that_folder(tmp_path: Path) -> None:
    (tmp_path / "tfhub.dev" / "google" / "model" / "1").mkdir(parents=True)
    [entry] = parse_catalog("tfhub.dev/google/model/1\n", tmp_path, "cat.txt")
    assert entry.target == str(tmp_path / "tfhub.dev" / "google" / "model" / "1")


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "catalog nope.txt does not exist"),
        ("empty", "no models to check: nope.txt lists none"),
        ("directory", "'nope.txt' is a directory"),
        ("binary", "catalog nope.txt is not UTF-8 text"),
    ],
)
def test_unusable_catalog_files_exit_2_before_anything_runs(fake: FakeRunner, tmp_path: Path, setup: str,
                                                            message: str) -> None:
    target = tmp_path / "nope.txt"
    if setup == "empty":
        write_catalog(target, "# nothing yet", "")
    elif setup == "directory":
        target.mkdir()
    elif setup == "binary":
        target.write_bytes(b"models/a\n\xff\xfe\x00junk\n")
    result = run("--catalog", "nope.txt")
    assert result.exit_code == 2
    assert message in result.output
    assert fake.calls == []


def test_a_missing_model_in_a_catalog_is_a_usage_error_naming_it(fake: FakeRunner, tmp_path: Path) -> None:
    write_catalog(tmp_path / "catalog.txt", "models/a", "models/typo")
    result = run("--catalog", "catalog.txt")
    assert result.exit_code == 2
    assert "no such file or directory: models/typo" in result.output
    assert fake.calls == []  # every model is found before any is checked


# -- parallel runs --------------------------------------------------------------------------------


def test_jobs_2_checks_two_models_at_once_each_isolated_and_reports_in_catalog_order(fake: FakeRunner) -> None:
    fake.rendezvous = 2
    fake.delays = {"a": 0.4}  # the first model finishes last
    result = run("--jobs", "2", "--format", "json", *(f"models/{name}" for name in "abcd"), isolate=True)
    assert result.exit_code == 0, result.output
    assert fake.max_active == 2
    assert fake.isolated_calls == 4
    assert fake.finished[-1] == "a"
    assert paths(json.loads(result.stdout)) == [f"models/{name}" for name in "abcd"]


def test_jobs_never_exceeds_n(fake: FakeRunner) -> None:
    fake.delays = dict.fromkeys(MODELS, 0.05)
    result = run("--jobs", "3", "--format", "json", *(f"models/{name}" for name in MODELS), isolate=True)
    assert result.exit_code == 0, result.output
    assert 1 <= fake.max_active <= 3
    assert sorted(fake.names) == sorted(MODELS)


def test_one_failing_or_dying_model_does_not_stop_the_others(fake: FakeRunner) -> None:
    fake.statuses["b"] = {"output-dtype": Status.FAIL}
    fake.killed = {"c"}
    result = run("--jobs", "2", "--format", "json", "models/a", "models/b", "models/c", "models/d", isolate=True)
    assert result.exit_code == 1
    reports = json.loads(result.stdout)["reports"]
    assert [report["status"] for report in reports] == ["pass", "fail", "fail", "pass"]
    assert any("killed by SIGKILL" in check["message"] for check in reports[2]["checks"])
    assert sorted(fake.names) == ["a", "b", "c", "d"]


@pytest.mark.parametrize(
    ("statuses", "extra", "code"),
    [
        ({}, [], 0),
        ({"b": {"training-argument": Status.WARN}}, [], 0),
        ({"b": {"training-argument": Status.WARN}}, ["--strict"], 1),
        ({"c": {"output-shape": Status.ERROR}}, [], 1),
        ({"a": {"load": Status.FAIL}, "c": {"output-shape": Status.FAIL}}, [], 1),
    ],
)
def test_exit_code_is_the_worst_models(fake: FakeRunner, statuses: dict[str, dict[str, Status]], extra: list[str],
                                       code: int) -> None:
    fake.statuses = statuses
    result = run("--jobs", "2", *extra, "models/a", "models/b", "models/c", isolate=True)
    assert result.exit_code == code, result.output


def test_a_crash_of_hubcheck_in_a_parallel_run_exits_3(fake: FakeRunner) -> None:
    fake.crash_on = "b"
    result = run("--jobs", "2", "--format", "json", "models/a", "models/b", "models/c", isolate=True)
    assert exited(result, 3)
    assert "internal error while checking models/b" in result.stderr
    assert "RuntimeError: a bug in hubcheck" in result.stderr
    assert result.stdout == ""


def test_in_process_checks_one_at_a_time_and_says_jobs_is_ignored(fake: FakeRunner) -> None:
    fake.delays = dict.fromkeys("abc", 0.05)
    result = run("--in-process", "--jobs", "3", "models/a", "models/b", "models/c")
    assert result.exit_code == 0
    assert "--jobs 3 ignored: --in-process checks one model at a time" in result.stderr
    assert fake.max_active == 1 and fake.isolated_calls == 0


def test_jobs_must_be_positive(fake: FakeRunner) -> None:
    result = run("--jobs", "0", "models/a")
    assert result.exit_code == 2 and "--jobs" in result.output
    assert fake.calls == []


def _jobs(*names: str) -> list[Job]:
    return [Job(resolved(name), RunOptions()) for name in names]


def test_check_all_stops_running_children_and_drops_the_rest_on_a_crash() -> None:
    fake = FakeRunner(parallel=True)
    fake.crash_on = "b"
    fake.block = {"a", "c", "d"}  # until the runner is stopped
    with pytest.raises(ModelCrash) as crash:
        check_all(_jobs(*"abcd"), fake, workers=2)
    assert crash.value.label == "b" and "RuntimeError: a bug in hubcheck" in crash.value.details
    assert fake.stops  # "a" (and maybe "c") were running: the runner was told to stop them
    assert "d" not in fake.names  # never started: both workers were busy until the run was abandoned


def test_check_all_on_ctrl_c_stops_children_and_reraises() -> None:
    fake = FakeRunner(parallel=True)
    fake.block = set("abcd")
    main_thread = threading.main_thread().ident
    assert main_thread is not None and threading.current_thread() is threading.main_thread()
    timer = threading.Timer(0.3, signal.pthread_kill, (main_thread, signal.SIGINT))
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        check_all(_jobs(*"abcd"), fake, workers=2)
    timer.join()
    assert time.monotonic() - started < 5  # the workers were released, not waited for (10 s)
    assert fake.stops
    deadline = time.monotonic() + 2
    while [t for t in threading.enumerate() if t.name.startswith("hubcheck-catalog")] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not [t for t in threading.enumerate() if t.name.startswith("hubcheck-catalog")]


def test_a_runner_that_is_not_parallel_checks_one_model_at_a_time() -> None:
    fake = FakeRunner(parallel=False)
    fake.delays = dict.fromkeys("abc", 0.05)
    reports = check_all(_jobs(*"abc"), fake, workers=3)
    assert fake.max_active == 1 and [report.model["path"] for report in reports] == ["a", "b", "c"]


# -- progress -------------------------------------------------------------------------------------


def _report(failed: bool) -> Report:
    status = Status.FAIL if failed else Status.PASS
    return Report("0", {}, {"path": "x"}, (CheckResult("load", "Loads", status, "m"),))


def test_progress_counts_done_failing_and_running() -> None:
    buffer = io.StringIO()
    with CatalogProgress(["models/a", "models/b", "models/c"],
                         console=Console(file=buffer, force_terminal=True, width=200)) as progress:
        progress.started(0)
        progress.started(1)
        progress.check_started(1, "batch-size")
        assert progress.counts == {"done": 0, "failing": 0, "running": 2, "total": 3}
        progress.finished(0, _report(failed=True))
        assert progress.counts == {"done": 1, "failing": 1, "running": 1, "total": 3}
        assert progress.status_text() == "1 failing, 1 running: b (batch-size)"
        progress.finished(1, _report(failed=False))
        progress.started(2)
        progress.finished(2, _report(failed=False))
    assert progress.counts == {"done": 3, "failing": 1, "running": 0, "total": 3}
    assert "3/3" in buffer.getvalue()


def test_a_parallel_run_reports_every_model_to_the_progress_display() -> None:
    events: list[tuple[str, int]] = []
    lock = threading.Lock()

    class Recorder:
        def started(self, index: int) -> None:
            with lock:
                events.append(("started", index))

        def check_started(self, index: int, check_id: str) -> None:
            with lock:
                events.append((check_id, index))

        def finished(self, index: int, report: Report) -> None:
            with lock:
                events.append(("finished", index))

    runner = FakeRunner(parallel=True)
    reports = check_all(_jobs(*"abc"), runner, workers=2, observer=Recorder())
    assert [report.model["path"] for report in reports] == ["a", "b", "c"]
    for index in range(3):
        mine = [kind for kind, i in events if i == index]
        assert mine == ["started", "load", "finished"]


# -- shards ---------------------------------------------------------------------------------------

specs = st.lists(st.text(alphabet="ab/._-~:x", min_size=1, max_size=8).filter(lambda s: s.strip()), max_size=30)


@settings(max_examples=200, deadline=None)
@given(specs, st.integers(min_value=1, max_value=9))
def test_shards_are_disjoint_cover_the_catalog_and_are_balanced(catalog: list[str], count: int) -> None:
    slices = [Shard(index, count).positions(catalog) for index in range(1, count + 1)]
    flat = [position for positions in slices for position in positions]
    assert sorted(flat) == list(range(len(catalog)))  # disjoint and covering
    assert max(map(len, slices)) - min(map(len, slices)) <= 1
    assert all(positions == sorted(positions) for positions in slices)  # in catalog order


@settings(max_examples=200, deadline=None)
@given(specs, st.integers(min_value=1, max_value=9), st.randoms(use_true_random=False))
def test_shards_are_deterministic_and_ignore_catalog_order(catalog: list[str], count: int, rng: Any) -> None:
    shuffled = list(catalog)
    rng.shuffle(shuffled)
    for index in range(1, count + 1):
        shard = Shard(index, count)
        assert shard.positions(catalog) == shard.positions(list(catalog))
        mine = Counter(shard_key(catalog[p]) for p in shard.positions(catalog))
        theirs = Counter(shard_key(shuffled[p]) for p in shard.positions(shuffled))
        assert mine == theirs


@given(st.integers(min_value=-3, max_value=12), st.integers(min_value=-3, max_value=12))
def test_shard_parse_accepts_exactly_1_to_n(index: int, count: int) -> None:
    text = f"{index}/{count}"
    if 1 <= index <= count:
        assert Shard.parse(text) == Shard(index, count) and str(Shard.parse(text)) == text
    else:
        with pytest.raises(CatalogError, match="--shard must be I/N"):
            Shard.parse(text)


def test_spellings_of_one_path_share_a_shard() -> None:
    assert shard_key("./models/a/") == shard_key("models/a") == shard_key(" models//a ")
    assert shard_key("https://example.com/a/") == "https://example.com/a/"


@pytest.mark.parametrize("value", ["0/4", "5/4", "4", "a/b", "1/0", "1/4/2", "", "-1/4"])
def test_bad_shard_values_exit_2(fake: FakeRunner, value: str) -> None:
    result = run("--shard", value, "models/a")
    assert result.exit_code == 2
    assert "--shard must be I/N with 1 <= I <= N" in result.output
    assert fake.calls == []


def test_shard_runs_cover_the_catalog_and_merge_into_the_full_run(fake: FakeRunner, tmp_path: Path,
                                                                   validate_report: Callable[[object], None]) -> None:
    write_catalog(tmp_path / "catalog.txt", *(f"models/{name}" for name in MODELS))
    fake.statuses["e"] = {"output-finite": Status.FAIL}
    full = run("--catalog", "catalog.txt", "--format", "json", "--output", "full.json")
    assert full.exit_code == 1
    seen: list[str] = []
    for index in (1, 2, 3):
        result = run("--catalog", "catalog.txt", "--shard", f"{index}/3", "--format", "json",
                     "--output", f"shard-{index}.json")
        assert result.exit_code in (0, 1)
        mine = paths(json.loads((tmp_path / f"shard-{index}.json").read_text()))
        assert f"hubcheck: shard {index}/3: {len(mine)} of 7 models" in result.stderr
        assert result.exit_code == (1 if "models/e" in mine else 0)
        seen += mine
    assert sorted(seen) == sorted(f"models/{name}" for name in MODELS)  # disjoint and covering

    merged = run("merge", "shard-1.json", "shard-2.json", "shard-3.json", "--format", "json")
    assert merged.exit_code == 1
    document = json.loads(merged.stdout)
    validate_report(document)
    by_path = {report["model"]["path"]: report for report in document["reports"]}
    shards = {path: report["model"].pop("shard") for path, report in by_path.items()}
    assert {(shard["count"], shard["catalog_models"]) for shard in shards.values()} == {(3, 7)}
    full_reports = json.loads((tmp_path / "full.json").read_text())["reports"]
    assert by_path == {report["model"]["path"]: report for report in full_reports}  # the shard record aside


def test_a_shard_resolves_only_its_own_models(fake: FakeRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    resolved: list[str] = []
    real = hubcheck.sources.resolve_model

    def spy(spec: str, **kwargs: Any) -> hubcheck.sources.ResolvedModel:
        resolved.append(spec)
        return real(spec, **kwargs)

    monkeypatch.setattr(hubcheck.sources, "resolve_model", spy)
    catalog = [f"models/{name}" for name in MODELS]
    write_catalog(tmp_path / "catalog.txt", *catalog)
    mine = [catalog[p] for p in Shard(2, 3).positions(catalog)]
    assert run("--catalog", "catalog.txt", "--shard", "2/3").exit_code == 0
    assert resolved == mine and len(fake.calls) == len(mine)


def test_an_empty_shard_writes_an_empty_report_and_exits_0(fake: FakeRunner, tmp_path: Path,
                                                            validate_report: Callable[[object], None]) -> None:
    empty = next(index for index in (1, 2, 3, 4) if not Shard(index, 4).positions(["models/a"]))
    result = run("--shard", f"{empty}/4", "--format", "json", "--report", "markdown=summary.md", "models/a")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"reports": []}
    validate_report(json.loads(result.stdout))
    assert "nothing to check" in result.stderr
    assert (tmp_path / "summary.md").read_text().startswith("## hubcheck: 0 models, 0 nonconformant")
    assert fake.calls == []


# -- merge ----------------------------------------------------------------------------------------


def test_merge_of_one_report_round_trips_byte_for_byte(fake: FakeRunner, tmp_path: Path) -> None:
    fake.statuses["b"] = {"output-dtype": Status.FAIL, "training-argument": Status.WARN}
    assert run("models/a", "models/b", "models/c", "--format", "json", "--output", "three.json").exit_code == 1
    assert run("models/a", "--format", "json", "--output", "one.json").exit_code == 0
    for name in ("three.json", "one.json"):
        result = run("merge", name, "--format", "json")
        assert result.stdout == (tmp_path / name).read_text()
    reports = load_reports(tmp_path / "three.json")
    assert [report.to_json() for report in reports] == json.loads((tmp_path / "three.json").read_text())["reports"]
    assert [report.status for report in reports] == ["pass", "fail", "pass"]


def test_merge_renders_a_catalog_summary_in_markdown_and_junit(fake: FakeRunner, tmp_path: Path) -> None:
    fake.statuses["b"] = {"output-dtype": Status.FAIL, "keras-layer": Status.ERROR}
    for name in "abc":
        run(f"models/{name}", "--format", "json", "--output", f"{name}.json")
    result = run("merge", "a.json", "b.json", "c.json", "--format", "markdown", "--report", "junit=all.xml")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "## hubcheck: 3 models, 1 nonconformant"
    assert lines[2] == "| model | verdict | checks | failing checks |"
    rows = [line for line in lines if line.startswith("| `models/")]
    passed = len(available_checks()) - 2
    assert rows[1] == f"| `models/b` | ❌ FAIL | {passed} pass, 1 fail, 1 error | `output-dtype`, `keras-layer` |"
    assert rows[0].endswith("| ✅ PASS | " + f"{passed + 2} pass | — |")
    root = ET.parse(tmp_path / "all.xml").getroot()
    assert [suite.get("name") for suite in root.iter("testsuite")] == ["models/a", "models/b", "models/c"]
    assert (root.get("failures"), root.get("errors")) == ("1", "1")


def test_merge_exit_code_is_the_worst_models(fake: FakeRunner, tmp_path: Path) -> None:
    fake.statuses["b"] = {"output-shape": Status.FAIL}
    run("models/a", "--format", "json", "--output", "pass.json")
    run("models/b", "--format", "json", "--output", "fail.json")
    assert run("merge", "pass.json").exit_code == 0
    assert run("merge", "pass.json", "fail.json").exit_code == 1
    assert run("merge", "fail.json", "pass.json", "--format", "json", "--output", "all.json").exit_code == 1
    assert paths(json.loads((tmp_path / "all.json").read_text())) == ["models/b", "models/a"]


def test_merge_warns_about_a_model_in_two_reports(fake: FakeRunner) -> None:
    run("models/a", "--format", "json", "--output", "1.json")
    run("models/a", "--format", "json", "--output", "2.json")
    result = run("merge", "1.json", "2.json", "--format", "json")
    assert result.exit_code == 0
    assert "models/a is in 1.json and in 2.json" in result.stderr
    assert len(json.loads(result.stdout)["reports"]) == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json at all", "bad.json: not a JSON report: Expecting value at line 1 column 1"),
        ("[1, 2]", "bad.json: not a hubcheck report: expected one report or {\"reports\": [...]}, got list"),
        ('{"hello": 1}', "bad.json: not a hubcheck report"),
        ('{"reports": 3}', "bad.json: \"reports\" must be a list"),
        ('{"reports": [{"checks": []}]}', "bad.json: reports[0]: not a hubcheck report: missing key 'hubcheck_version'"),
        ('{"reports": ["x"]}', "bad.json: reports[0]: expected a report object, got str"),
        ('{"schema_version": "2.0", "checks": []}', "bad.json: report schema 2.0 is not one this hubcheck reads"),
    ],
)
def test_merge_rejects_what_is_not_a_report_naming_the_file(fake: FakeRunner, tmp_path: Path, content: str,
                                                            message: str) -> None:
    run("models/a", "--format", "json", "--output", "good.json")
    (tmp_path / "bad.json").write_text(content)
    result = run("merge", "good.json", "bad.json", "--format", "json", "--output", "merged.json")
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "merged.json").exists()


def test_merge_needs_existing_report_files(fake: FakeRunner) -> None:
    assert run("merge").exit_code == 2
    result = run("merge", "missing.json")
    assert result.exit_code == 2 and "missing.json" in result.output


# -- one real run: fixture models, --jobs 2, each in its own child process -------------------------


@pytest.mark.slow
def test_real_catalog_with_two_jobs(model_path: Callable[[str], Path], tmp_path: Path,
                                    validate_report: Callable[[object], None]) -> None:
    names = ["feature_vector", "dict_output", "classifier", "nan_on_black"]
    write_catalog(tmp_path / "catalog.txt", "# fixture models", *(str(model_path(name)) for name in names))
    out = tmp_path / "catalog.json"
    result = run("--catalog", str(tmp_path / "catalog.txt"), "--jobs", "2", "--timeout", "300",
                 "--format", "json", "--output", str(out), isolate=True)
    assert result.exit_code == 1, result.output  # dict_output and nan_on_black do not conform
    document = json.loads(out.read_text())
    validate_report(document)
    assert paths(document) == [str(model_path(name)) for name in names]
    verdicts = {Path(report["model"]["path"]).name.rsplit("-", 1)[0]: report for report in document["reports"]}
    assert {name: report["status"] for name, report in verdicts.items()} == {
        "feature_vector": "pass", "dict_output": "fail", "classifier": "pass", "nan_on_black": "fail"}
    failing = {name: [c["id"] for c in report["checks"] if c["status"] == "fail"] for name, report in verdicts.items()}
    assert failing["dict_output"] == ["output-single-tensor"] and failing["nan_on_black"] == ["output-finite"]


# -- docs/catalog.md stays true --------------------------------------------------------------------


def _blocks(language: str) -> list[str]:
    return [body for lang, body in re.findall(r"```(\w+)\n(.*?)```", DOC.read_text(), re.S) if lang == language]


def _doc_commands() -> list[list[str]]:
    """Every ``hubcheck ...`` command line in the doc's examples, with the CI variables filled in."""
    placeholders = {"${{ matrix.shard }}": "1", "$((JOB_COMPLETION_INDEX + 1))": "1", "$JOB_COMPLETION_INDEX": "0",
                    "$i": "1", "/catalog/": "", "/reports/": "reports/"}
    commands = []
    for language in ("console", "yaml", "bash"):
        for block in _blocks(language):
            # YAML folded scalars (">-") are one command spread over lines
            block = re.sub(r">-\n( +)(\S.*(?:\n\1\S.*)*)", lambda m: " ".join(m.group(2).split()), block)
            for match in re.finditer(r"(?:^\s*(?:- |\$ |run: )?|&& |do )hubcheck\s+([^|&;#\n]*)", block, re.M):
                text = match.group(1)
                for name, value in placeholders.items():
                    text = text.replace(name, value)
                commands.append(shlex.split(text))
    return commands


@pytest.fixture
def doc_world(fake: FakeRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The doc's catalog, its models (URLs and handles resolve to local folders) and a reports folder."""
    catalog = next(block for block in _blocks("text") if block.startswith("# catalog.txt"))
    (tmp_path / "catalog.txt").write_text(catalog)
    for doc in re.findall(r"doc=(\S+)", catalog):  # the documentation a catalog line names
        from fixtures.catalog import DOCS

        (tmp_path / doc).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / doc).write_text((DOCS / "feature_vector.md").read_text())
    (tmp_path / "more.txt").write_text("models/a\n")
    (tmp_path / "reports").mkdir()

    def resolve(spec: str, **kwargs: Any) -> hubcheck.sources.ResolvedModel:
        folder = tmp_path / "resolved" / re.sub(r"\W+", "_", spec)
        folder.mkdir(parents=True, exist_ok=True)
        return hubcheck.sources.ResolvedModel(spec, folder, "directory", hubcheck.sources.EMPTY_HASH, False)

    monkeypatch.setattr(hubcheck.sources, "resolve_model", resolve)
    yield tmp_path


def test_every_command_line_in_the_catalog_doc_works(doc_world: Path, fake: FakeRunner) -> None:
    commands = _doc_commands()
    checks = [args for args in commands if args[0] != "merge"]
    merges = [args for args in commands if args[0] == "merge"]
    assert len(checks) >= 6 and len(merges) >= 4  # console, GitHub, Kubernetes and the shell loop
    for args in checks:
        result = CliRunner().invoke(main, args, obj=fake.factory)
        assert exited(result, 0), (args, result.output)
        if "--output" in args:
            assert (doc_world / args[args.index("--output") + 1]).is_file(), args
    shard_reports = {}  # what the four shard jobs upload
    for index in (1, 2, 3, 4):
        result = CliRunner().invoke(main, ["--catalog", "catalog.txt", "--shard", f"{index}/4", "--format", "json",
                                           "--output", f"shard-of-4-{index}.json"], obj=fake.factory)
        assert exited(result, 0), result.output
        shard_reports[index] = (doc_world / f"shard-of-4-{index}.json").read_text()
    for args in merges:
        expanded = []
        for arg in args[1:]:
            if "*" in arg:  # every shard's report, as the artifact download or the shared volume has them
                for stale in glob.glob(arg, root_dir=doc_world):
                    (doc_world / stale).unlink()
                for index, report in shard_reports.items():
                    target = doc_world / arg.replace("*", str(index))
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(report)
                expanded += sorted(glob.glob(arg, root_dir=doc_world))
            else:
                expanded.append(arg)
        result = CliRunner().invoke(main, ["merge", *expanded])
        assert exited(result, 0), (args, result.output)
        for option, value in zip(expanded, expanded[1:]):
            if option == "--output":
                assert (doc_world / value).is_file()
            if option == "--report":
                assert (doc_world / value.partition("=")[2]).is_file()
