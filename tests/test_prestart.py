"""The checking child started before the command line is parsed: when, how it is adopted, and that an
unused one leaves nothing behind."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hubcheck import prestart
from hubcheck.isolation import Limits, run_isolated
from hubcheck.options import RunOptions
from hubcheck.results import Status

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="hubcheck starts children early on Linux")


@pytest.fixture
def no_early_child(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("HUBCHECK_IN_PROCESS", raising=False)  # the test suite's default
    prestart.discard()
    yield
    prestart.discard()


def _isolated_environment() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name != "HUBCHECK_IN_PROCESS"}


def test_only_one_isolated_model_check_starts_a_child_early(tmp_path: Path) -> None:
    model, other = tmp_path / "model", tmp_path / "other"
    model.mkdir()
    other.mkdir()
    quiet: dict[str, str] = {}
    looks = prestart.looks_like_one_model
    assert looks([str(model)], quiet)
    assert looks(["check", str(model), "--format", "json", "--timeout", "60"], quiet)
    assert looks(["--select", "load", str(model)], quiet)
    readme, archive = tmp_path / "README.md", tmp_path / "model.tar.gz"
    readme.write_text("# doc\n")
    archive.write_bytes(b"")
    assert looks([str(model), "--doc", str(readme), "--output", str(readme)], quiet)  # option values are not models
    assert looks([str(archive)], quiet)
    assert not looks([str(archive), str(model)], quiet)
    for argv in ([], ["--help"], [str(model), "-h"], [str(model), "--in-process"], [str(model), "--jobs=2"],
                 ["--catalog", str(model)], [str(model), "--list-checks"], ["export", str(model), str(other)],
                 ["inspect", str(model)], ["merge", str(model)], ["doc", str(model)], [str(model), str(other)],
                 [str(tmp_path / "missing")], ["https://example.com/model.tar.gz"]):
        assert not looks(argv, quiet), argv
    assert not looks([str(model)], {"HUBCHECK_IN_PROCESS": "1"})
    assert not looks([str(model)], {"HUBCHECK_IN_PROCESS": "on"})
    assert looks([str(model)], {"HUBCHECK_IN_PROCESS": "0"})


def test_archives_are_the_ones_hubcheck_sources_unpack() -> None:
    from hubcheck.sources.resolve import ARCHIVE_SUFFIXES

    assert prestart._ARCHIVE_SUFFIXES == ARCHIVE_SUFFIXES  # prestart must not import hubcheck.sources


def test_the_first_isolated_run_adopts_the_child_started_early(model_path: Callable[[str], Path],
                                                               no_early_child: None,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = model_path("feature_vector")
    prestart.start([str(path)])
    early = prestart._early
    assert early is not None and early.process.poll() is None
    taken: list[prestart.EarlyChild | None] = []
    take = prestart.take

    def recording_take() -> prestart.EarlyChild | None:
        taken.append(take())
        return taken[-1]

    monkeypatch.setattr(prestart, "take", recording_take)
    options = RunOptions(select=frozenset({"unsafe-ops", "load", "callable", "batch-size", "output-shape"}))
    report = run_isolated(path, options, Limits(timeout_s=120, max_memory_bytes=None))
    assert taken == [early]
    assert [result.status for result in report.checks] == [Status.PASS] * 5, report.checks
    assert report.environment["sandbox"]["filesystem"]  # the child entered its sandbox and said so
    assert report.duration_s >= 0
    assert not os.path.exists(early.workdir)
    assert prestart._early is None
    again = run_isolated(path, options, Limits(timeout_s=120))  # no early child left: one started as before
    assert [result.status for result in again.checks] == [Status.PASS] * 5


def test_a_child_no_run_adopts_is_killed_and_its_directory_removed(model_path: Callable[[str], Path],
                                                                  no_early_child: None) -> None:
    prestart.start([str(model_path("feature_vector"))])
    early = prestart._early
    assert early is not None
    prestart.discard()
    assert early.process.returncode is not None
    assert not os.path.exists(early.workdir)
    assert prestart.take() is None


def _leftovers(pid: int) -> list[str]:
    return glob.glob(os.path.join(tempfile.gettempdir(), f"hubcheck-child-{pid}-*"))


def test_the_hubcheck_command_checks_with_its_early_child_and_leaves_nothing(
        model_path: Callable[[str], Path], tmp_path: Path) -> None:
    path = model_path("feature_vector")
    run = subprocess.Popen([sys.executable, "-m", "hubcheck", str(path), "--format", "json", "--select",
                            "unsafe-ops,load,callable,batch-size"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           cwd=tmp_path, env=_isolated_environment())
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err.decode()
    report = json.loads(out)
    assert "filesystem" in report["environment"]["sandbox"]  # checked in a sandboxed child
    assert {check["id"]: check["status"] for check in report["checks"]} == dict.fromkeys(
        ["unsafe-ops", "load", "callable", "batch-size"], "pass")
    assert not _leftovers(run.pid)
    assert not _children_of(run.pid)


@pytest.mark.parametrize("argv", [["--help"], ["--list-checks"], ["--in-process", "--select", "unsafe-ops"]])
def test_a_command_that_needs_no_early_child_leaves_none_behind(argv: list[str],
                                                                model_path: Callable[[str], Path]) -> None:
    run = subprocess.Popen([sys.executable, "-m", "hubcheck", str(model_path("feature_vector")), *argv],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_isolated_environment())
    _, err = run.communicate(timeout=300)
    assert run.returncode == 0, err.decode()
    assert not _leftovers(run.pid)
    assert not _children_of(run.pid)


def _children_of(pid: int) -> list[str]:
    """Checking children (``python -m hubcheck.child FD PARENT_PID``) started by the process ``pid``."""
    found = []
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            words = Path(cmdline).read_bytes().split(b"\0")
        except OSError:
            continue
        if b"hubcheck.child" in words and str(pid).encode() in words:
            found.append(cmdline)
    return found
