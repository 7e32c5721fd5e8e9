"""The child process: bounded time and memory, partial results kept, no orphans."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hubcheck.checks.loading import CallableCheck, LoadCheck
from hubcheck.context import CheckContext
from hubcheck.isolation import Limits, parse_size, run_isolated
from hubcheck.options import RunOptions
from hubcheck.registry import Check
from hubcheck.results import Finding, Status
from hubcheck.runner import run_checks


def _save(module_factory, path: Path) -> Path:
    from hubcheck.tfimport import tensorflow

    tensorflow().saved_model.save(module_factory(), str(path))
    return path


@pytest.fixture(scope="session")
def pathological_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from hubcheck.tfimport import tensorflow

    tf = tensorflow()
    spec = [tf.TensorSpec([None, None, None, 3], tf.float32)]

    class Hangs(tf.Module):
        @tf.function(input_signature=spec)
        def __call__(self, images):
            forever = tf.while_loop(lambda i: i >= 0, lambda i: i + 1, [tf.constant(0)])
            return tf.reduce_mean(images, axis=[1, 2]) + tf.cast(forever, tf.float32)

    class Grows(tf.Module):
        @tf.function(input_signature=spec)
        def __call__(self, images):
            huge = tf.ones([tf.shape(images)[0] * (1 << 30)])  # 4 GiB per image
            return tf.reduce_mean(images, axis=[1, 2]) + tf.reduce_sum(huge)

    root = tmp_path_factory.mktemp("pathological")
    return {"hangs": _save(Hangs, root / "hangs"), "grows": _save(Grows, root / "grows")}


def _own_children() -> set[int]:
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if int(stat.read().rsplit(")", 1)[1].split()[1]) == os.getpid():
                    found.add(int(pid))
        except (OSError, IndexError, ValueError):
            continue
    return found


def test_a_model_that_never_returns_is_stopped_by_the_timeout(pathological_models) -> None:
    before = _own_children()
    report = run_isolated(pathological_models["hangs"], RunOptions(), Limits(timeout_s=12))
    statuses = {r.id: r.status for r in report.checks}
    assert statuses["load"] is Status.PASS and statuses["callable"] is Status.PASS  # kept
    errored = [r for r in report.checks if r.status is Status.ERROR]
    assert len(errored) == 1 and "timed out after 12s" in errored[0].message
    assert errored[0].message.endswith(f"while running {errored[0].id}")
    assert report.failed
    assert _own_children() <= before  # no orphan left behind


def test_a_model_that_grows_past_the_cap_is_stopped(pathological_models) -> None:
    report = run_isolated(pathological_models["grows"], RunOptions(), Limits(timeout_s=60, max_memory_bytes=parse_size("1.5G")))
    errored = [r for r in report.checks if r.status is Status.ERROR]
    assert len(errored) == 1 and "exceeded the memory cap" in errored[0].message
    assert report.result("load").status is Status.PASS


def test_isolated_run_matches_the_in_process_run(model_path) -> None:
    path = model_path("classifier")
    isolated = run_isolated(path, RunOptions(), Limits(timeout_s=120))
    direct = run_checks(path, RunOptions())
    assert [(r.id, r.status) for r in isolated.checks] == [(r.id, r.status) for r in direct.checks]
    assert isolated.result("logits").message == direct.result("logits").message


def test_ignored_checks_are_not_run_in_the_child(model_path) -> None:
    options = RunOptions(ignore=frozenset({"keras-layer", "gradient-flow"}))
    report = run_isolated(model_path("classifier"), options, Limits(timeout_s=120))
    ids = [r.id for r in report.checks]
    assert "keras-layer" not in ids and "gradient-flow" not in ids
    assert report.result("load").status is Status.PASS


@pytest.mark.parametrize(("text", "expected"), [("512M", 512 << 20), ("4G", 4 << 30), ("1.5GiB", 3 << 29), ("1000", 1000)])
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "-1G", "0"])
def test_parse_size_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


class ExplodingCheck(Check):
    """Fails when never; raises to prove isolation."""

    id = "explodes"
    title = "Explodes"
    order = 15

    def run(self, ctx: CheckContext) -> Finding:
        raise RuntimeError("boom\nsecond line")


def test_a_crashing_check_leaves_the_others_intact(tmp_path: Path) -> None:
    report = run_checks(tmp_path, RunOptions(), checks=[LoadCheck, ExplodingCheck, CallableCheck])
    assert [r.status for r in report.checks] == [Status.FAIL, Status.ERROR, Status.SKIP]
    assert report.result("explodes").message == "the check raised RuntimeError: boom second line"
    assert report.result("callable").details["blocked_by"] == "load"


def test_debug_keeps_the_traceback_of_a_crashing_check(tmp_path: Path) -> None:
    quiet = run_checks(tmp_path, RunOptions(), checks=[ExplodingCheck])
    loud = run_checks(tmp_path, RunOptions(debug=True), checks=[ExplodingCheck])
    assert "traceback" not in quiet.result("explodes").details
    trace = loud.result("explodes").details["traceback"]
    assert "Traceback (most recent call last)" in trace and "RuntimeError: boom" in trace


TIMINGS = {"duration_s", "load_seconds", "seconds"}


def _without_timings(value):
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


@pytest.mark.parametrize("fixture", ["feature_vector", "output_dropout", "random_inference"])
def test_the_same_model_checked_twice_gives_the_same_report(model_path, fixture: str) -> None:
    first = run_checks(model_path(fixture), RunOptions()).to_json()
    second = run_checks(model_path(fixture), RunOptions()).to_json()
    assert _without_timings(first) == _without_timings(second)


def test_stop_all_children_ends_runs_in_worker_threads(pathological_models) -> None:
    import threading
    import time

    from hubcheck.isolation import stop_all_children

    reports = []
    worker = threading.Thread(
        target=lambda: reports.append(run_isolated(pathological_models["hangs"], RunOptions(), Limits(timeout_s=300)))
    )
    worker.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and stop_all_children() == 0:
        time.sleep(0.2)
    worker.join(30)
    assert not worker.is_alive()
    (report,) = reports
    assert report.failed
    assert any("killed" in r.message or "exited" in r.message for r in report.checks if r.status is Status.ERROR)


def test_cli_writes_a_valid_report_for_a_model_that_never_returns(pathological_models, tmp_path: Path,
                                                                   validate_report) -> None:
    import json

    from click.testing import CliRunner

    from hubcheck.cli import main

    target = tmp_path / "report.json"
    result = CliRunner().invoke(main, ["--timeout", "12", "--format", "json", "--output", str(target),
                                       str(pathological_models["hangs"])], env={"HUBCHECK_IN_PROCESS": ""})
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    document = json.loads(target.read_text())
    validate_report(document)
    errors = [c for c in document["checks"] if c["status"] == "error"]
    assert len(errors) == 1 and "timed out after 12s" in errors[0]["message"]
    assert {c["id"]: c["status"] for c in document["checks"]}["load"] == "pass"
