"""The checking child's sandbox (docs/security.md, "The checking process") and bounded model strings.

Each measure is tested where this machine offers it and skipped, with the reason, where it does not.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hubcheck.isolation import Limits, child_environment, run_isolated, stop_all_children
from hubcheck.options import RunOptions
from hubcheck.results import (
    MAX_DETAIL_CHARS,
    MAX_MESSAGE_CHARS,
    CheckResult,
    Report,
    Status,
    bounded,
    one_line,
)

TEN_MB = 10 * 1024 * 1024
ENV = {"python": "3.11", "tensorflow": None, "tensorflow-hub": None}


# -- model-controlled strings are bounded -------------------------------------------------------------


def test_a_10_mb_message_is_cut_to_the_bound_saying_how_much_is_missing() -> None:
    result = CheckResult("load", "Loads", Status.FAIL, "x" * TEN_MB)
    kept = MAX_MESSAGE_CHARS - 40  # room for the marker
    assert result.message == "x" * kept + f"… ({TEN_MB - kept} more characters)"
    assert len(result.message) <= MAX_MESSAGE_CHARS
    assert len(json.dumps(result.to_json())) < 2 * MAX_MESSAGE_CHARS


def test_strings_in_details_and_model_facts_are_bounded_keys_included() -> None:
    huge = "y" * TEN_MB
    result = CheckResult("load", "Loads", Status.FAIL, "short", {"error": huge, "nested": [{huge: [huge]}]})
    document = json.dumps(result.to_json())
    assert len(document) < 5 * MAX_DETAIL_CHARS
    assert len(result.details["error"]) <= MAX_DETAIL_CHARS and result.details["error"].startswith("yyy")
    (key,) = result.details["nested"][0]
    assert len(key) <= MAX_DETAIL_CHARS and len(result.details["nested"][0][key][0]) <= MAX_DETAIL_CHARS
    report = Report("0", ENV, {"path": "m", "format": "tf2-saved-model", "signatures": {huge: huge}}, (result,))
    assert len(json.dumps(report.to_json())) < 10 * MAX_DETAIL_CHARS


def test_short_strings_and_other_values_are_untouched_and_bounding_survives_a_round_trip() -> None:
    result = CheckResult("load", "Loads", Status.FAIL, "z" * TEN_MB, {"n": 3, "ok": True, "v": [1.5, None], "s": "s"})
    again = CheckResult.from_json(json.loads(json.dumps(result.to_json())))
    assert again == result
    assert result.details == {"n": 3, "ok": True, "v": [1.5, None], "s": "s"}
    assert bounded("abc", 3) == "abc"


def test_one_line_bounds_a_huge_exception() -> None:
    line = one_line(ValueError("w " * TEN_MB))
    assert line.startswith("ValueError: w w w") and len(line) <= len("ValueError: ") + 300
    assert line.endswith("more characters)")


# -- models built for these tests ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from hubcheck.tfimport import tensorflow

    tf = tensorflow()
    spec = [tf.TensorSpec([None, None, None, 3], tf.float32)]
    root = tmp_path_factory.mktemp("sandbox-models")
    outside = root / "written-by-the-model.txt"

    class Hangs(tf.Module):
        @tf.function(input_signature=spec)
        def __call__(self, images):
            forever = tf.while_loop(lambda i: i >= 0, lambda i: i + 1, [tf.constant(0)])
            return tf.reduce_mean(images, axis=[1, 2]) + tf.cast(forever, tf.float32)

    class WritesOutside(tf.Module):
        @tf.function(input_signature=spec)
        def __call__(self, images):
            tf.io.write_file(str(outside), "written by the model")
            return tf.reduce_mean(images, axis=[1, 2])

    class HugeError(tf.Module):
        @tf.function(input_signature=spec)
        def __call__(self, images):
            huge = tf.strings.reduce_join(tf.fill([TEN_MB // 10], "0123456789"))
            check = tf.debugging.Assert(tf.reduce_all(images < -1.0), [huge], summarize=1)
            with tf.control_dependencies([check]):
                return tf.reduce_mean(images, axis=[1, 2])

    paths = {"outside": outside}
    for name, module in {"hangs": Hangs, "writes_outside": WritesOutside, "huge_error": HugeError}.items():
        tf.saved_model.save(module(), str(root / name))
        paths[name] = root / name
    return paths


def test_a_model_whose_error_message_is_10_mb_gets_a_bounded_report(models: dict[str, Path]) -> None:
    from hubcheck.runner import run_checks

    report = run_checks(models["huge_error"], RunOptions(select=frozenset({"load", "callable", "batch-size"})))
    assert report.result("load").status is Status.PASS
    cut = [r for r in report.checks if "more characters)" in r.message]
    assert cut, [r.message[:200] for r in report.checks]
    assert all(len(r.message) <= MAX_MESSAGE_CHARS for r in report.checks)
    assert len(json.dumps(report.to_json())) < 100_000


# -- the sandbox, applied by enter_sandbox in a process of its own -------------------------------------

PROBE = r"""
import json, os, socket, sys
from hubcheck.isolation import enter_sandbox

workdir, outside, port, drop_to = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if drop_to:
    os.setgroups([]); os.setresgid(drop_to, drop_to, drop_to); os.setresuid(drop_to, drop_to, drop_to)
seen = {"applied": enter_sandbox(workdir, 1 << 40), "uid": os.getuid()}

def attempt(name, action):
    try:
        action()
        seen[name] = "ok"
    except OSError as exc:
        seen[name] = exc.errno

attempt("write_inside", lambda: open(os.path.join(workdir, "inside.txt"), "w").write("x"))
attempt("mkdir_inside", lambda: os.mkdir(os.path.join(workdir, "folder")))
attempt("write_outside", lambda: open(os.path.join(outside, "new.txt"), "w").write("x"))
attempt("append_outside", lambda: open(os.path.join(outside, "existing.txt"), "a").write("x"))
attempt("remove_outside", lambda: os.unlink(os.path.join(outside, "existing.txt")))
attempt("mkdir_outside", lambda: os.mkdir(os.path.join(outside, "folder")))
attempt("read_outside", lambda: open(os.path.join(outside, "existing.txt")).read())
attempt("dev_null", lambda: open("/dev/null", "w").write("x"))
attempt("connect", lambda: socket.socket().connect(("127.0.0.1", port)))
seen["interfaces"] = [name for _, name in socket.if_nameindex()]
print(json.dumps(seen))
"""


def _probe(tmp_path: Path, drop_to: int = 0) -> dict[str, Any]:
    workdir, outside = tmp_path / "work", tmp_path / "outside"
    workdir.mkdir(mode=0o700)
    outside.mkdir()
    (outside / "existing.txt").write_text("kept")
    if drop_to:  # the unprivileged user must reach both folders, and own them as the real child owns its own
        for folder in (tmp_path, *tmp_path.parents):
            if folder.stat().st_uid == 0 and folder.stat().st_mode & 0o001 == 0:
                pytest.skip(f"{folder} is closed to other users; cannot test as an unprivileged user")
        for path in (workdir, outside, outside / "existing.txt"):
            os.chown(path, drop_to, drop_to)
    with socket.socket() as listener:  # a TCP service in our own network namespace, that the probe must not reach
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        # numpy (imported with hubcheck) starts no threads with one BLAS thread: a process with threads
        # cannot enter a user namespace. The real child enters its sandbox before importing numpy.
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
        done = subprocess.run([sys.executable, "-c", PROBE, str(workdir), str(outside), str(port), str(drop_to)],
                              capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    seen: dict[str, Any] = json.loads(done.stdout)
    assert (outside / "existing.txt").read_text() == "kept"
    return seen


def _landlock_abi() -> int:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return int(libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1)))


@pytest.fixture(scope="module")
def probed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _probe(tmp_path_factory.mktemp("probe"))


@pytest.mark.slow
def test_landlock_confines_writes_to_the_working_directory(probed: dict[str, Any]) -> None:
    if _landlock_abi() < 1:
        assert probed["applied"]["filesystem"].startswith("not confined")
        pytest.skip(f"Landlock is not available here: {probed['applied']['filesystem']}")
    assert "Landlock ABI" in probed["applied"]["filesystem"]
    assert probed["write_inside"] == probed["mkdir_inside"] == probed["dev_null"] == "ok"
    for action in ("write_outside", "append_outside", "remove_outside", "mkdir_outside"):
        assert probed[action] == errno.EACCES, action
    assert probed["read_outside"] == "ok"  # reading stays open: TensorFlow reads its libraries and the model


@pytest.mark.slow
def test_the_sandbox_has_no_network(probed: dict[str, Any]) -> None:
    if probed["applied"]["network"].startswith("not isolated") and _landlock_abi() < 4:
        pytest.skip(f"neither a network namespace nor Landlock TCP rules here: {probed['applied']['network']}")
    assert probed["connect"] != "ok"  # the listener on 127.0.0.1 is unreachable
    if not probed["applied"]["network"].startswith("not isolated"):
        assert probed["interfaces"] == ["lo"]


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="as root, the probe can drop to an unprivileged user to test that path")
def test_an_unprivileged_user_gets_user_and_network_namespaces() -> None:
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="hubcheck-probe-"))  # in /tmp, which every user may traverse
    try:
        os.chmod(base, 0o755)
        seen = _probe(base, drop_to=65534)
    finally:
        shutil.rmtree(base)
    if seen["applied"]["network"].startswith("not isolated"):
        pytest.skip(f"no unprivileged user namespaces here: {seen['applied']['network']}")
    assert seen["applied"]["network"] == "none (user and network namespaces)"
    assert seen["uid"] == 65534  # the id maps keep our own uid inside the namespace
    assert seen["interfaces"] == ["lo"] and seen["connect"] != "ok"
    assert seen["write_inside"] == "ok"


def test_the_environment_is_an_allowlist() -> None:
    parent = {"PATH": "/usr/bin", "LANG": "C.UTF-8", "LC_ALL": "C", "TF_CPP_MIN_LOG_LEVEL": "3",
              "OMP_NUM_THREADS": "2", "HUBCHECK_TF_LOGS": "1", "HUBCHECK_TEST_SECRET": "s3cret",
              "AWS_SECRET_ACCESS_KEY": "s3cret", "GITHUB_TOKEN": "s3cret", "HTTPS_PROXY": "http://proxy",
              "HOME": "/home/me", "TMPDIR": "/var/tmp", "SSH_AUTH_SOCK": "/run/agent", "TFHUB_CACHE_DIR": "/c"}
    env = child_environment("/private", parent)
    assert "s3cret" not in env.values()
    assert not {"HUBCHECK_TEST_SECRET", "AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "HTTPS_PROXY", "SSH_AUTH_SOCK",
                "TFHUB_CACHE_DIR"} & set(env)
    assert env["HOME"] == env["TMPDIR"] == "/private"
    for name in ("PATH", "LANG", "LC_ALL", "TF_CPP_MIN_LOG_LEVEL", "OMP_NUM_THREADS", "HUBCHECK_TF_LOGS"):
        assert env[name] == parent[name]


# -- the real child, observed from outside while it is stuck in a model -------------------------------


def _proc(pid: int, name: str) -> str:
    with open(f"/proc/{pid}/{name}", encoding="utf-8", errors="replace") as entry:
        return entry.read()


@pytest.fixture(scope="module")
def observed(models: dict[str, Path]) -> Iterator[dict[str, Any]]:
    """Check the hanging model in a child; look at the child while it runs; stop it; keep the report."""
    from hubcheck.isolation import _live_children

    os.environ["HUBCHECK_TEST_SECRET"] = "s3cret"
    try:
        reports: list[Report] = []
        loaded = threading.Event()

        def progress(check_id: str, result: CheckResult | None) -> None:
            if result is not None and check_id == "load":
                loaded.set()  # the next checks call the model, which never returns

        worker = threading.Thread(target=lambda: reports.append(
            run_isolated(models["hangs"], RunOptions(), Limits(timeout_s=120), progress=progress)))
        worker.start()
        assert loaded.wait(60), "the model never loaded"
        seen: dict[str, Any] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "status" not in seen:
            for child in list(_live_children):
                try:
                    status = _proc(child.pid, "status")
                    seen.update(pid=child.pid, status=status, environ=_proc(child.pid, "environ"),
                                cwd=os.readlink(f"/proc/{child.pid}/cwd"), limits=_proc(child.pid, "limits"),
                                net=os.readlink(f"/proc/{child.pid}/ns/net"),
                                oom_score_adj=_proc(child.pid, "oom_score_adj").strip())
                except OSError:
                    continue
            time.sleep(0.1)
        if "cwd" in seen:
            seen["cwd_mode"] = stat.S_IMODE(os.stat(seen["cwd"]).st_mode)
        stop_all_children()
        worker.join(60)
        seen["report"] = reports[0] if reports else None
        yield seen
    finally:
        del os.environ["HUBCHECK_TEST_SECRET"]
        stop_all_children()


@pytest.mark.slow
def test_the_child_gets_no_secrets_from_hubcheck(observed: dict[str, Any]) -> None:
    assert "environ" in observed, "the child never got through its first steps"
    environ = dict(item.split("=", 1) for item in observed["environ"].split("\0") if "=" in item)
    assert "HUBCHECK_TEST_SECRET" not in environ and "s3cret" not in observed["environ"]
    assert "PATH" in environ


@pytest.mark.slow
def test_the_child_works_in_a_private_directory_removed_afterwards(observed: dict[str, Any]) -> None:
    environ = dict(item.split("=", 1) for item in observed["environ"].split("\0") if "=" in item)
    cwd = observed["cwd"]
    assert environ["HOME"] == environ["TMPDIR"] == cwd != os.getcwd()
    assert Path(cwd).name.startswith(f"hubcheck-child-{os.getpid()}-") and observed["cwd_mode"] == 0o700
    assert not os.path.exists(cwd)


@pytest.mark.slow
def test_the_child_has_no_core_dumps_no_new_privileges_and_is_first_for_the_oom_killer(
        observed: dict[str, Any]) -> None:
    core = next(line for line in observed["limits"].splitlines() if line.startswith("Max core file size"))
    assert core.split()[4:6] == ["0", "0"]
    data = next(line for line in observed["limits"].splitlines() if line.startswith("Max data size"))
    assert data.split()[3] != "unlimited"  # the default cap brings a hard data limit
    assert "NoNewPrivs:\t1" in observed["status"]
    assert observed["oom_score_adj"] == "1000"


@pytest.mark.slow
def test_the_child_has_a_network_namespace_of_its_own(observed: dict[str, Any]) -> None:
    sandbox = observed["report"].environment["sandbox"]
    if sandbox["network"].startswith("not isolated"):
        pytest.skip(f"no network namespace here: {sandbox['network']}")
    assert observed["net"] != os.readlink("/proc/self/ns/net")


@pytest.mark.slow
def test_the_report_says_what_confined_the_child(observed: dict[str, Any], validate_report) -> None:
    report: Report = observed["report"]
    assert report.failed  # stopped while stuck in the model
    sandbox = report.environment["sandbox"]
    assert {"working_directory", "environment", "memory_cap", "network", "filesystem", "privileges"} <= set(sandbox)
    assert "default: 75% of" in sandbox["memory_cap"]
    assert ("Landlock ABI" in sandbox["filesystem"]) == (_landlock_abi() >= 1)
    validate_report(report.to_json())


@pytest.mark.slow
def test_a_model_cannot_write_outside_its_directory(models: dict[str, Path]) -> None:
    from hubcheck.tfimport import tensorflow

    tf = tensorflow()
    outside: Path = models["outside"]
    tf.saved_model.load(str(models["writes_outside"]))(tf.zeros([1, 8, 8, 3]))  # unconfined, it does write
    assert outside.read_text() == "written by the model"
    outside.unlink()
    options = RunOptions(allow_unsafe_ops=True, select=frozenset({"unsafe-ops", "load", "callable", "batch-size"}))
    report = run_isolated(models["writes_outside"], options, Limits(timeout_s=120))
    if not report.environment["sandbox"]["filesystem"].startswith("writes only"):
        pytest.skip(f"Landlock is not available here: {report.environment['sandbox']['filesystem']}")
    assert report.result("load").status is Status.PASS
    assert not outside.exists()
    assert any("Permission denied" in r.message for r in report.checks), [r.message for r in report.checks]
