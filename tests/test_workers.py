"""Catalog workers (hubcheck.workers, hubcheck.zygote): a catalog imports TensorFlow once per worker, and each
model still gets a fresh process of its own, bounded and confined, with the report a single run gives it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fakes import resolved
from test_isolation import _group_alive, _save, _start_cli, _wait_until, pathological_models  # noqa: F401

from hubcheck.isolation import Limits, parse_size, run_isolated
from hubcheck.options import RunOptions
from hubcheck.pool import Job, check_all
from hubcheck.results import Report, Status
from hubcheck.runners import IsolatedRunner, check_model, sharing_start_up
from hubcheck.workers import WorkerPool

_TIMINGS = frozenset({"duration_s", "seconds", "load_seconds", "duration", "started"})


def _without_timings(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_timings(item) for key, item in value.items() if key not in _TIMINGS}
    if isinstance(value, list):
        return [_without_timings(item) for item in value]
    return value


def _document(report: Report) -> Any:
    """The report's JSON with only the timings taken out: the environment and its sandbox record stay."""
    return _without_timings(report.to_json())


@pytest.fixture(scope="module")
def aborts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model whose call aborts the process (checked with allow_unsafe_ops, so that it runs)."""
    from hubcheck.tfimport import tensorflow

    tf = tensorflow()

    class Aborts(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
        def __call__(self, images):
            with tf.control_dependencies([tf.raw_ops.Abort(error_msg="a model that aborts")]):
                return tf.reduce_mean(images, axis=[1, 2])

    return _save(Aborts, tmp_path_factory.mktemp("aborts") / "aborts")


def _errors(report: Report) -> list[str]:
    return [result.message for result in report.checks if result.status is Status.ERROR]


@pytest.mark.slow
def test_a_catalog_run_gives_each_model_its_single_run_report_and_survives_crash_hang_and_growth(
        model_path, pathological_models, aborts: Path) -> None:  # noqa: F811
    well_behaved = {name: model_path(name) for name in ("feature_vector", "nan_on_black", "classifier")}
    unsafe = RunOptions(allow_unsafe_ops=True)
    models = [(well_behaved["feature_vector"], RunOptions()), (pathological_models["hangs"], RunOptions()),
              (well_behaved["nan_on_black"], RunOptions()), (aborts, unsafe),
              (pathological_models["grows"], RunOptions()), (well_behaved["classifier"], RunOptions())]
    limits = Limits(timeout_s=20, max_memory_bytes=parse_size("1.5G"))
    reports = check_all([Job(resolved(path), options) for path, options in models], IsolatedRunner(limits), workers=2)

    hangs, aborted, grows = reports[1], reports[3], reports[4]
    assert any("timed out after 20s" in message for message in _errors(hangs)), _errors(hangs)
    assert any("killed by SIGABRT" in message for message in _errors(aborted)), _errors(aborted)
    assert any("exceeded the memory cap" in message for message in _errors(grows)), _errors(grows)
    for report in (hangs, aborted, grows):
        assert report.result("load").status is Status.PASS  # finished checks keep their results
    # The others: what a child started from scratch reports, timings aside (environment and sandbox included).
    for index in (0, 2, 5):
        path, options = models[index]
        single = check_model(IsolatedRunner(limits), resolved(path), options)
        assert _document(reports[index]) == _document(single)
        assert reports[index].environment["sandbox"] == single.environment["sandbox"]


@pytest.mark.slow
def test_a_worker_that_dies_is_replaced_and_its_model_still_checked(model_path) -> None:
    path = model_path("feature_vector")
    pool = WorkerPool()
    try:
        first = run_isolated(path, RunOptions(), Limits(timeout_s=120), workers=pool)
        with pool.worker() as worker:
            os.killpg(worker.process.pid, signal.SIGKILL)
            worker.process.wait(10)
        second = run_isolated(path, RunOptions(), Limits(timeout_s=120), workers=pool)
    finally:
        pool.close()
    assert [(r.id, r.status) for r in first.checks] == [(r.id, r.status) for r in second.checks]
    assert not first.failed and not second.failed


@pytest.mark.slow
def test_when_workers_cannot_start_each_model_gets_a_child_started_from_scratch(
        model_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hubcheck.workers import Worker

    monkeypatch.setattr(Worker, "command", ("-c", "raise SystemExit(3)"))  # dies before it is ready
    options = RunOptions(select=frozenset({"load", "callable"}))
    pool = WorkerPool()
    try:
        reports = [run_isolated(model_path("feature_vector"), options, Limits(timeout_s=120), workers=pool)
                   for _ in range(3)]
    finally:
        pool.close()
    assert all(not report.failed and report.result("load").status is Status.PASS for report in reports)
    assert pool._failed_starts == WorkerPool.FAILED_STARTS_TOLERATED  # the third model did not try a worker


@pytest.mark.slow
def test_the_worker_imports_tensorflow_without_starting_its_runtime() -> None:
    """Forking is safe only if the worker holds no eager context or thread pool the child would inherit broken."""
    script = ("from hubcheck.zygote import preload; preload()\n"
              "from tensorflow.python.eager import context\n"
              "print(context._context is None)\n")
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert finished.stdout.strip().splitlines()[-1] == "True", finished.stderr[-2000:]


def _workers_of(parent: int) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                command = cmdline.read()
        except OSError:
            continue
        if ppid == parent and b"hubcheck.zygote" in command:
            found.append(int(pid))
    return found


def _forked_children(worker: int) -> list[int]:
    children = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if int(stat.read().rsplit(")", 1)[1].split()[1]) == worker:
                    children.append(int(pid))
        except OSError:
            continue
    return children


@pytest.mark.slow
def test_workers_and_their_children_die_when_hubcheck_is_killed_outright(pathological_models,  # noqa: F811
                                                                          tmp_path: Path) -> None:
    import shutil

    copy = shutil.copytree(pathological_models["hangs"], tmp_path / "hangs-too")
    cli = _start_cli([pathological_models["hangs"], copy], tmp_path, "--jobs", "2")
    children: list[int] = []
    workers: list[int] = []
    try:
        assert _wait_until(lambda: len(_workers_of(cli.pid)) == 2 and all(_forked_children(w) for w in _workers_of(cli.pid)),
                           120)
        workers = _workers_of(cli.pid)
        children = [child for worker in workers for child in _forked_children(worker)]
        os.kill(cli.pid, signal.SIGKILL)  # no handler runs: only parent-death signals stop the rest
        cli.wait(15)
        assert _wait_until(lambda: not any(_group_alive(pid) for pid in workers + children), 10)
    finally:
        cli.kill()
        cli.wait()
        for pid in workers + children:
            if _group_alive(pid):  # the test failed: leave no orphan behind
                os.killpg(pid, signal.SIGKILL)
        # Killed outright, hubcheck could not remove its children's directories; their names say whose
        # they were (docs/security.md), which is how this test finds and removes them.
        import glob
        import tempfile

        for leftover in glob.glob(os.path.join(tempfile.gettempdir(), f"hubcheck-child-{cli.pid}-*")):
            shutil.rmtree(leftover, ignore_errors=True)


def test_only_an_isolated_runner_gets_workers_and_they_end_with_the_block() -> None:
    from hubcheck.runners import InProcessRunner

    in_process = InProcessRunner()
    with sharing_start_up(in_process) as shared:
        assert shared is in_process
    isolated = IsolatedRunner(Limits(timeout_s=5))
    with sharing_start_up(isolated) as shared:
        assert isinstance(shared, IsolatedRunner) and isinstance(shared.workers, WorkerPool)
        pool = shared.workers
        assert shared.limits == isolated.limits
    assert pool._closed  # nothing started, nothing left running


def test_the_catalog_benchmark_imports_without_tensorflow() -> None:
    """benchmarks/bench.py imports measure(); importing it must not pay for TensorFlow."""
    script = ("import sys; sys.path.insert(0, 'benchmarks'); import catalog_throughput\n"
              "print('tensorflow' in sys.modules, callable(catalog_throughput.measure))\n")
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                              cwd=Path(__file__).resolve().parent.parent)
    assert finished.stdout.split() == ["False", "True"], finished.stderr[-2000:]


@pytest.mark.slow
def test_the_catalog_benchmark_measures_both_ways(model_path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    try:
        import catalog_throughput
    finally:
        sys.path.pop(0)
    with pytest.raises(ValueError):
        catalog_throughput.measure([], 2, 1)
    result = catalog_throughput.measure([model_path("feature_vector"), model_path("classifier")], jobs=2, rounds=1)
    assert result["models"] == 2 and result["jobs"] == 2 and result["rounds"] == 1
    assert result["one_at_a_time_s"] > 0 and result["catalog_s"] > 0 and result["speedup"] > 0
    assert len(result["samples"]["catalog_s"]) == 1
