"""A checking child killed by a crash signal while TensorFlow's oneDNN kernels are on is checked once more,
from scratch, with them off (TF_ENABLE_ONEDNN_OPTS=0).

The crash is made by check classes of this module (they reach the child by module and name, like any
explicit check class): each kills its own process unless the child's environment turns oneDNN off, so the
tests do not depend on the oneDNN bug itself, which depends on the shape and the CPU. One test does use the
bug, with a real model, where it shows on this machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hubcheck import isolation
from hubcheck.context import CheckContext
from hubcheck.isolation import Limits, run_isolated
from hubcheck.options import RunOptions
from hubcheck.registry import Check
from hubcheck.reporters.markdown import MarkdownReporter
from hubcheck.reporters.table import TableReporter
from hubcheck.results import CheckResult, Finding, Status
from hubcheck.workers import WorkerPool

RETRY = "tensorflow_retry"


def _onednn_off() -> bool:
    return os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0"


class Before(Check):
    """Fails when never: a check that finishes before the crash."""

    id = "before-crash"
    title = "Runs before the crash"
    order = 10

    def run(self, ctx: CheckContext) -> Finding:
        return Finding.passed("ran")


class CrashesWithOneDNN(Check):
    """Fails when never: kills its process with SIGABRT unless oneDNN is off, as TensorFlow's kernels do on some
    shapes; not for a model whose folder name holds "fine"."""

    id = "crashes-with-onednn"
    title = "Crashes while oneDNN is on"
    order = 11

    def run(self, ctx: CheckContext) -> Finding:
        if not _onednn_off() and "fine" not in ctx.model.path.name:
            os.kill(os.getpid(), signal.SIGABRT)
        return Finding.passed("oneDNN " + ("off" if _onednn_off() else "on"))


class CrashesAnyway(Check):
    """Fails when never: SIGABRT with oneDNN on, SIGSEGV with it off (a crash that is not oneDNN's)."""

    id = "crashes-anyway"
    title = "Crashes either way"
    order = 11

    def run(self, ctx: CheckContext) -> Finding:
        os.kill(os.getpid(), signal.SIGSEGV if _onednn_off() else signal.SIGABRT)
        return Finding.passed("not reached")


class HangsWithOneDNN(Check):
    """Fails when never: hangs unless oneDNN is off (stopped by the timeout, which is not retried)."""

    id = "hangs-with-onednn"
    title = "Hangs while oneDNN is on"
    order = 11

    def run(self, ctx: CheckContext) -> Finding:
        while not _onednn_off():
            time.sleep(1)
        return Finding.passed("oneDNN off")


class After(Check):
    """Fails when never: a check that runs after the crash."""

    id = "after-crash"
    title = "Runs after the crash"
    order = 12

    def run(self, ctx: CheckContext) -> Finding:
        return Finding.passed("oneDNN " + ("off" if _onednn_off() else "on"))


@pytest.fixture(autouse=True)
def onednn_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)  # TensorFlow's default: on


def _starts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bool, dict[str, str]]]:
    """Each child started from now on: (forked by a worker?, the environment added to it)."""
    starts: list[tuple[bool, dict[str, str]]] = []
    real = isolation._start_child

    def spy(borrowed: Any, workers: Any, workdir: str, channel_fd: int, private_memory: int,
            environment: dict[str, str] | None = None) -> Any:
        starts.append((workers is not None, dict(environment or {})))
        return real(borrowed, workers, workdir, channel_fd, private_memory, environment)

    monkeypatch.setattr(isolation, "_start_child", spy)
    return starts


@pytest.mark.slow
def test_a_crash_with_onednn_on_is_checked_again_with_it_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              validate_report: Callable[[object], None]) -> None:
    starts = _starts(monkeypatch)
    seen: list[tuple[str, bool]] = []

    def progress(check_id: str, result: CheckResult | None) -> None:
        seen.append((check_id, result is not None))

    report = run_isolated(tmp_path, RunOptions(), Limits(timeout_s=120), progress=progress,
                          checks=[Before, CrashesWithOneDNN, After])
    assert [(r.id, r.status) for r in report.checks] == [
        ("before-crash", Status.PASS), ("crashes-with-onednn", Status.WARN), ("after-crash", Status.PASS)]
    assert report.result("after-crash").message == "oneDNN off"  # the retry's report is the report
    # The model is right, but consumers with TensorFlow's default kernels meet the crash: a warning.
    assert report.result("crashes-with-onednn").message.startswith("oneDNN off. With TensorFlow's default oneDNN")
    assert "killed by SIGABRT here; it passes with TF_ENABLE_ONEDNN_OPTS=0" in report.result("crashes-with-onednn").message
    assert report.environment[RETRY] == (
        "the first run was killed by SIGABRT while running crashes-with-onednn; TensorFlow's oneDNN CPU kernels "
        "have known crashes, so the model was checked again in a new process with TF_ENABLE_ONEDNN_OPTS=0")
    assert not report.failed
    assert starts == [(False, {}), (False, {"TF_ENABLE_ONEDNN_OPTS": "0"})]
    # Each check is announced done once; the one that crashed is announced started in both runs.
    assert [check for check, done in seen if done] == ["before-crash", "crashes-with-onednn", "after-crash"]
    assert seen.count(("crashes-with-onednn", False)) == 2
    validate_report(report.to_json())
    table = TableReporter().render([report])
    markdown = MarkdownReporter().render([report])
    assert "retried" in table and "first run was killed by SIGABRT" in " ".join(table.split())
    assert "first run was killed by SIGABRT while running crashes-with-onednn" in markdown


@pytest.mark.slow
def test_a_crash_in_both_runs_stays_an_error_that_names_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             validate_report: Callable[[object], None]) -> None:
    starts = _starts(monkeypatch)
    report = run_isolated(tmp_path, RunOptions(), Limits(timeout_s=120), checks=[Before, CrashesAnyway, After])
    assert [(r.id, r.status) for r in report.checks] == [
        ("before-crash", Status.PASS), ("crashes-anyway", Status.ERROR), ("after-crash", Status.SKIP)]
    message = report.result("crashes-anyway").message
    assert message == (
        "the checking process was killed by SIGSEGV with TF_ENABLE_ONEDNN_OPTS=0 as well (the first run, with "
        "oneDNN on, was killed by SIGABRT while running crashes-anyway): a crash inside TensorFlow or the model "
        "while running crashes-anyway")
    assert "first run was killed by SIGABRT" in report.environment[RETRY]
    assert report.failed and len(starts) == 2
    validate_report(report.to_json())


@pytest.mark.slow
def test_a_child_stopped_by_the_timeout_is_not_checked_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    starts = _starts(monkeypatch)
    report = run_isolated(tmp_path, RunOptions(), Limits(timeout_s=8), checks=[Before, HangsWithOneDNN, After])
    assert report.result("hangs-with-onednn").message == "timed out after 8s (--timeout) while running hangs-with-onednn"
    assert RETRY not in report.environment
    assert len(starts) == 1


@pytest.mark.slow
@pytest.mark.parametrize("value", ["0", "false"])
def test_no_retry_when_onednn_is_already_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", value)
    starts = _starts(monkeypatch)
    report = run_isolated(tmp_path, RunOptions(), Limits(timeout_s=120), checks=[Before, CrashesAnyway])
    expected = "SIGSEGV" if value == "0" else "SIGABRT"  # the check reads "0" only; TensorFlow reads both
    assert report.result("crashes-anyway").message == (
        f"the checking process was killed by {expected} (a crash inside TensorFlow or the model) "
        "while running crashes-anyway")
    assert RETRY not in report.environment
    assert len(starts) == 1


@pytest.mark.slow
def test_a_catalog_run_retries_the_crashing_model_from_scratch_and_leaves_the_others(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    starts = _starts(monkeypatch)
    names = ["fine-1", "crashes", "fine-2", "fine-3"]
    for name in names:
        (tmp_path / name).mkdir()
    reports: dict[str, Any] = {}
    checks = [Before, CrashesWithOneDNN, After]
    pool = WorkerPool()
    try:
        def check(name: str) -> None:
            reports[name] = run_isolated(tmp_path / name, RunOptions(), Limits(timeout_s=300), checks=checks,
                                         workers=pool)

        for pair in (names[:2], names[2:]):  # --jobs 2
            threads = [threading.Thread(target=check, args=(name,)) for name in pair]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        pool.close()
    for name in names:
        expected = [Status.PASS, Status.WARN if name == "crashes" else Status.PASS, Status.PASS]
        assert [r.status for r in reports[name].checks] == expected, (name, reports[name].checks)
    assert "while running crashes-with-onednn" in reports["crashes"].environment[RETRY]
    assert reports["crashes"].result("after-crash").message == "oneDNN off"
    for name in ("fine-1", "fine-2", "fine-3"):
        assert RETRY not in reports[name].environment
        assert reports[name].result("after-crash").message == "oneDNN on"
    # Four children forked by workers, and one started from scratch with oneDNN off: the retry.
    assert sorted(starts, key=lambda start: (not start[0], len(start[1]))) == [(True, {})] * 4 + [
        (False, {"TF_ENABLE_ONEDNN_OPTS": "0"})]


# -- the real thing ----------------------------------------------------------------------------------------


def _build_strided_pointwise(export_dir: Path) -> None:
    """A fine-tunable feature vector whose gradient goes through a 1x1 convolution with stride 2 from 8 to 16
    channels: images -> 1x1 conv 3->8 -> ReLU -> 1x1 conv 8->16, stride 2 -> global average pool [B,16]."""
    from hubcheck.tfimport import tensorflow

    tf = tensorflow()
    widen = tf.Variable(tf.random.stateless_normal([1, 1, 3, 8], seed=[1, 2]) * 0.5, name="widen")
    shortcut = tf.Variable(tf.random.stateless_normal([1, 1, 8, 16], seed=[3, 4]) * 0.3, name="shortcut")

    @tf.function
    def call(images: Any, training: bool = False) -> Any:
        del training  # no layer behaves differently when training
        hidden = tf.nn.relu(tf.nn.conv2d(images, widen, strides=1, padding="VALID"))
        return tf.reduce_mean(tf.nn.conv2d(hidden, shortcut, strides=2, padding="VALID"), axis=[1, 2])

    spec = tf.TensorSpec([None, None, None, 3], tf.float32)
    for training in (False, True):
        call.get_concrete_function(spec, training=training)
    root = tf.__internal__.tracking.AutoTrackable()  # tf.Module's base, whose attributes can be assigned
    root.__call__ = call
    root.variables = root.trainable_variables = [widen, shortcut]
    root.regularization_losses = [tf.function(lambda: 1e-4 * tf.reduce_sum(tf.square(shortcut)), input_signature=[])]
    tf.saved_model.save(root, str(export_dir))


def _crashes_here(model: Path) -> bool:
    """Whether taking this model's gradient kills a process with oneDNN on, on this machine."""
    script = (
        "import sys, tensorflow as tf\n"
        "m = tf.saved_model.load(sys.argv[1])\n"
        "x = tf.random.stateless_uniform([2, 224, 224, 3], seed=[5, 6])\n"
        "with tf.GradientTape() as tape:\n"
        "    y = tf.reduce_sum(m(x, training=True))\n"
        "tape.gradient(y, m.trainable_variables)\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    done = subprocess.run([sys.executable, "-c", script, str(model)], env=env, capture_output=True, timeout=300)
    return -done.returncode in isolation.CRASH_SIGNALS


@pytest.mark.slow
def test_a_model_that_hits_the_onednn_bug_passes_after_the_retry(tmp_path: Path) -> None:
    model = tmp_path / "strided_pointwise"
    _build_strided_pointwise(model)
    if not _crashes_here(model):
        pytest.skip("TensorFlow's oneDNN kernels do not crash on a strided 1x1 convolution on this machine")
    report = run_isolated(model, RunOptions(), Limits(timeout_s=600))
    assert "the first run was killed by SIG" in report.environment[RETRY], report.environment
    assert "while running training-argument" in report.environment[RETRY]
    assert not any(r.status is Status.ERROR for r in report.checks), [(r.id, r.message) for r in report.checks]
    assert report.result("gradient-flow").status is Status.PASS
    assert report.result("training-argument").status is Status.WARN  # where consumers' TensorFlow crashes
    assert not report.failed
