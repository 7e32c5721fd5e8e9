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


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_model_that_grows_past_the_cap_is_stopped(pathological_models) -> None:
    report = run_isolated(pathological_models["grows"], RunOptions(), Limits(timeout_s=60, max_memory_bytes=parse_size("1.5G")))
    errored = [r for r in report.checks if r.status is Status.ERROR]
    assert len(errored) == 1 and "exceeded the memory cap" in errored[0].message
    assert report.result("load").status is Status.PASS


@pytest.mark.slow
def test_isolated_run_matches_the_in_process_run(model_path) -> None:
    path = model_path("classifier")
    isolated = run_isolated(path, RunOptions(), Limits(timeout_s=120))
    direct = run_checks(path, RunOptions())
    assert [(r.id, r.status) for r in isolated.checks] == [(r.id, r.status) for r in direct.checks]
    assert isolated.result("logits").message == direct.result("logits").message


@pytest.mark.slow
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


@pytest.mark.slow
def test_explicit_check_classes_reach_the_child(tmp_path: Path) -> None:
    """Unregistered check classes run in the child as they run in process; one the child cannot import
    (defined in this function) is an error of that check, not a crash blamed on the model."""

    class DefinedHere(Check):
        """Fails when never: the child cannot import a class defined inside a function."""

        id = "defined-here"
        title = "Defined inside a test"
        order = 16

        def run(self, ctx: CheckContext) -> Finding:
            return Finding.passed("ran")

    report = run_isolated(tmp_path, RunOptions(), Limits(timeout_s=120),
                          checks=[LoadCheck, ExplodingCheck, DefinedHere, CallableCheck])
    assert [(r.id, r.status) for r in report.checks] == [
        ("load", Status.FAIL), ("explodes", Status.ERROR), ("defined-here", Status.ERROR), ("callable", Status.SKIP)]
    assert report.result("explodes").message == "the check raised RuntimeError: boom second line"  # it ran there
    here = report.result("defined-here")
    assert "cannot be imported in the checking process" in here.message
    assert here.details["check_class"].endswith(":test_explicit_check_classes_reach_the_child.<locals>.DefinedHere")
    assert not any("exited unexpectedly" in r.message or "stopped" in r.details for r in report.checks)
    assert report.result("load").message == run_checks(tmp_path, RunOptions(), checks=[LoadCheck]).result(
        "load").message


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


@pytest.mark.slow
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


@pytest.mark.slow
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


# -- the default memory cap ---------------------------------------------------------------------------


def _meminfo_total() -> int:
    with open("/proc/meminfo") as meminfo:
        return next(int(line.split()[1]) * 1024 for line in meminfo if line.startswith("MemTotal:"))


def test_the_default_memory_cap_is_three_quarters_of_the_machine() -> None:
    from hubcheck.isolation import default_memory_cap, machine_memory_bytes

    memory = machine_memory_bytes()
    assert memory is not None and 0 < memory <= _meminfo_total()
    assert Limits().max_memory_bytes == default_memory_cap() == int(memory * 0.75)


def test_a_cgroup_limit_below_physical_memory_lowers_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    import hubcheck.isolation
    import hubcheck.limits

    monkeypatch.setattr(hubcheck.limits, "_cgroup_memory_limit", lambda: 2 << 30)
    assert hubcheck.isolation.default_memory_cap() == int((2 << 30) * 0.75)
    monkeypatch.setattr(hubcheck.limits, "_cgroup_memory_limit", lambda: 1 << 62)
    assert hubcheck.isolation.machine_memory_bytes() == _meminfo_total()


@pytest.mark.parametrize(("text", "expected"), [(None, "default"), ("none", None), ("OFF", None), ("0", None),
                                                ("2G", 2 << 30)])
def test_max_memory_option_values(text: str | None, expected: object) -> None:
    from hubcheck.isolation import default_memory_cap, parse_memory_cap

    assert parse_memory_cap(text) == (default_memory_cap() if expected == "default" else expected)


@pytest.mark.parametrize(("argv", "expected"), [([], "default"), (["--max-memory", "none"], None),
                                                (["--max-memory", "3G"], 3 << 30)])
def test_every_cli_run_is_capped_unless_told_otherwise(tmp_path: Path, argv: list[str], expected: object) -> None:
    from click.testing import CliRunner
    from fakes import FakeRunner

    from hubcheck.cli import main
    from hubcheck.isolation import default_memory_cap

    fake = FakeRunner()
    result = CliRunner().invoke(main, [*argv, str(tmp_path)], env={"HUBCHECK_IN_PROCESS": ""}, obj=fake.factory)
    assert result.exit_code == 0, result.output
    (limits,) = fake.limits
    assert limits is not None and fake.isolated_calls == 1
    assert limits.max_memory_bytes == (default_memory_cap() if expected == "default" else expected)


def test_the_api_caps_isolated_runs_by_default(tmp_path: Path) -> None:
    import hubcheck
    from hubcheck.isolation import default_memory_cap
    from hubcheck.runners import IsolatedRunner, runner_for

    runners = [runner_for(isolate=True), runner_for(isolate=True, max_memory_bytes=0),
               runner_for(isolate=True, max_memory_bytes=1 << 30)]
    assert all(isinstance(runner, IsolatedRunner) for runner in runners)
    assert [runner.limits.max_memory_bytes for runner in runners if isinstance(runner, IsolatedRunner)] == [
        default_memory_cap(), None, 1 << 30]
    with pytest.raises(ValueError, match="max_memory_bytes"):
        hubcheck.check(tmp_path, isolate=True, max_memory_bytes=-1)


# -- children die with hubcheck ---------------------------------------------------------------------


def _alive(pid: int) -> bool:
    """Running or sleeping: a zombie (dead, waiting for whoever adopted it to reap it) is not alive."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _group_alive(pgid: int) -> list[int]:
    members = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.getpgid(int(pid)) == pgid and _alive(int(pid)):
                members.append(int(pid))
        except (ProcessLookupError, PermissionError):
            continue
    return members


def _checking_children(parent: int, count: int = 1, deadline_s: float = 90) -> list[int]:
    """The pids of ``parent``'s ``count`` checking children once each is busy in the model (TensorFlow
    loaded, the endless loop spinning: more than 6 s of CPU time)."""
    import time

    deadline = time.monotonic() + deadline_s
    busy: list[int] = []
    while time.monotonic() < deadline:
        busy = []
        table: dict[int, tuple[int, bytes, float]] = {}  # pid -> parent, command line, CPU seconds
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                    command = cmdline.read()
            except OSError:
                continue
            table[int(pid)] = (int(fields[1]), command, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
        workers = {pid for pid, (ppid, command, _) in table.items() if ppid == parent and b"hubcheck.zygote" in command}
        for pid, (ppid, command, cpu_s) in table.items():
            # started from scratch by hubcheck, or (a catalog) forked by one of its workers
            started = ppid == parent and b"hubcheck.child" in command
            if (started or ppid in workers) and cpu_s > 6:
                busy.append(pid)
        if len(busy) >= count:
            return busy
        time.sleep(0.2)
    raise AssertionError(f"not {count} busy checking children under {parent} (busy: {busy})")


def _checking_child(parent: int) -> int:
    return _checking_children(parent, 1)[0]


def _start_cli(models: Path | list[Path], tmp_path: Path, *options: str) -> "subprocess.Popen[bytes]":
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "HUBCHECK_IN_PROCESS"}
    paths = [str(models)] if isinstance(models, Path) else [str(model) for model in models]
    return subprocess.Popen([sys.executable, "-m", "hubcheck", "--timeout", "300", "--format", "json", "--output",
                             str(tmp_path / "report.json"), *options, *paths], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _wait_until(condition, timeout_s: float) -> bool:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(15, 143), (2, 130)], ids=["SIGTERM", "SIGINT"])
def test_stopping_hubcheck_kills_a_child_stuck_in_the_model(pathological_models, tmp_path: Path, signum: int,
                                                           code: int) -> None:
    cli = _start_cli(pathological_models["hangs"], tmp_path)
    try:
        child = _checking_child(cli.pid)
        os.kill(cli.pid, signum)
        assert cli.wait(15) == code
        assert _wait_until(lambda: not _group_alive(child), 5), f"left behind: {_group_alive(child)}"
        assert cli.stderr is not None and b"no report written" in cli.stderr.read()
        assert not (tmp_path / "report.json").exists()
    finally:
        cli.kill()
        cli.wait()


@pytest.mark.slow
def test_stopping_a_catalog_run_kills_every_child(pathological_models, tmp_path: Path) -> None:
    import shutil

    copy = shutil.copytree(pathological_models["hangs"], tmp_path / "hangs-too")
    cli = _start_cli([pathological_models["hangs"], copy], tmp_path, "--jobs", "2")
    try:
        children = _checking_children(cli.pid, 2)
        os.kill(cli.pid, 15)
        assert cli.wait(15) == 143
        assert _wait_until(lambda: not any(_group_alive(child) for child in children), 5)
    finally:
        cli.kill()
        cli.wait()


@pytest.mark.slow
def test_a_child_dies_when_hubcheck_is_killed_outright(pathological_models, tmp_path: Path) -> None:
    import shutil

    cli = _start_cli(pathological_models["hangs"], tmp_path)
    child = None
    try:
        child = _checking_child(cli.pid)
        workdir = os.readlink(f"/proc/{child}/cwd")
        os.kill(cli.pid, 9)  # no handler runs: only the parent-death signal can stop the child
        cli.wait(15)
        assert _wait_until(lambda: not _alive(child), 5)
        assert _wait_until(lambda: not _group_alive(child), 5)
    finally:
        cli.kill()
        cli.wait()
        if child is not None and _group_alive(child):  # the test failed: leave no orphan behind
            os.killpg(child, 9)
    # Nothing removes the directory of a child whose hubcheck was killed outright; its name says whose.
    assert Path(workdir).name.startswith(f"hubcheck-child-{cli.pid}-")
    shutil.rmtree(workdir)


@pytest.mark.slow
def test_a_child_whose_parent_is_already_gone_exits_at_once() -> None:
    import subprocess
    import sys

    read_fd, write_fd = os.pipe()
    try:
        not_my_parent = 1
        done = subprocess.run([sys.executable, "-m", "hubcheck.child", str(write_fd), str(not_my_parent), "0"],
                              pass_fds=(write_fd,), input=b"", timeout=30, capture_output=True)
    finally:
        os.close(read_fd)
        os.close(write_fd)
    assert done.returncode == 70


def _sleeper() -> "subprocess.Popen[bytes]":
    import subprocess

    from hubcheck.isolation import _live_children, _live_lock

    process = subprocess.Popen(["sleep", "60"], start_new_session=True)
    with _live_lock:
        _live_children.add(process)
    return process


def test_sighup_kills_the_children_and_stops_the_run() -> None:
    import signal

    from hubcheck.exitcodes import exit_code
    from hubcheck.isolation import Stopped, _live_children, children_die_with_us

    sleeper = _sleeper()
    try:
        with pytest.raises(Stopped) as stopped, children_die_with_us():
            os.kill(os.getpid(), signal.SIGHUP)
            for _ in range(100):  # the handler runs at the next bytecode boundary
                pass
        assert exit_code((), stopped.value) == 129 and stopped.value.name == "SIGHUP"
        assert sleeper.wait(5) == -signal.SIGKILL
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL  # restored
    finally:
        _live_children.discard(sleeper)
        sleeper.kill()
        sleeper.wait()


def test_a_signal_ignored_before_hubcheck_started_stays_ignored() -> None:
    import signal

    from hubcheck.isolation import _live_children, children_die_with_us

    sleeper = _sleeper()
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    try:
        with children_die_with_us():
            os.kill(os.getpid(), signal.SIGHUP)
        assert sleeper.poll() is None
    finally:
        signal.signal(signal.SIGHUP, previous)
        _live_children.discard(sleeper)
        sleeper.kill()
        sleeper.wait()
