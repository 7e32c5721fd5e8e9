"""A fake :class:`hubcheck.runners.Runner` for tests that need a report but not TensorFlow or a model.

Pass it where the code takes a runner, never by patching a module:

- the command line: ``CliRunner().invoke(main, args, obj=fake.factory)`` (``factory(limits)`` is the
  :data:`hubcheck.runners.RunnerFactory`; ``limits`` is ``None`` with ``--in-process``);
- the Python API: ``hubcheck.check(path, runner=fake)``;
- the pytest plugin: ``pytester.runpytest(..., plugins=[fake.plugin()])``;
- the catalog's pool: ``hubcheck.pool.check_all(jobs, fake, ...)``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import Result

from hubcheck.isolation import Limits
from hubcheck.options import RunOptions
from hubcheck.registry import Check, available_checks
from hubcheck.results import CheckResult, JSONValue, ProgressCallback, Report, Status
from hubcheck.sources import EMPTY_HASH, ResolvedModel

ENVIRONMENT = {"python": "3.11", "tensorflow": None, "tensorflow-hub": None}


class FakeRunner:
    """Checks nothing: records each call and returns a hand-built report in which every check passes,
    unless :attr:`statuses` says otherwise for that model (by folder name) and check.

    It can also be slow (:attr:`delays`), make a run wait until several run at once (:attr:`rendezvous`),
    block until :meth:`stop` (:attr:`block`), raise like a bug in hubcheck (:attr:`crash_on`), or report
    the running check as killed, as the isolated runner does when its child dies (:attr:`killed`).
    """

    def __init__(self, *, parallel: bool = False, fail_details: Mapping[str, JSONValue] | None = None) -> None:
        self.parallel = parallel
        self.fail_details = dict(fail_details or {})  # the details of every failed check
        self.lock = threading.Lock()
        self.calls: list[tuple[Path, RunOptions]] = []  # in call order
        self.finished: list[str] = []  # model folder names, in finish order
        self.statuses: dict[str, dict[str, Status]] = {}  # model folder name -> check id -> status
        self.delays: dict[str, float] = {}
        self.crash_on: str | None = None
        self.killed: set[str] = set()
        self.block: set[str] = set()  # these models' runs wait until stop() (or 10 s)
        self.released = threading.Event()
        self.stops = 0
        self.active = 0
        self.max_active = 0
        self.rendezvous = 1  # wait (up to 5 s) until this many runs go at once, to prove parallelism
        self.limits: list[Limits | None] = []  # what factory() was given, one per command
        self.isolated_calls = 0  # runs through a runner made for limits (a child each, in real life)

    @property
    def names(self) -> list[str]:
        """The model folder names of the calls, in call order."""
        return [path.name for path, _ in self.calls]

    def run(self, path: Path, options: RunOptions, *, checks: Sequence[type[Check]] | None = None,
            progress: ProgressCallback | None = None, source_problem: str | None = None) -> Report:
        name = Path(path).name
        with self.lock:
            self.calls.append((Path(path), options))
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            deadline = time.monotonic() + 5
            while self.max_active < self.rendezvous and time.monotonic() < deadline:
                time.sleep(0.01)
            if progress is not None:
                progress("load", None)
            time.sleep(self.delays.get(name, 0.0))
            if name in self.block:
                self.released.wait(10)
            if name == self.crash_on:
                raise RuntimeError("a bug in hubcheck")
            wanted = [check for check in (available_checks() if checks is None else checks) if options.wants(check.id)]
            statuses = self.statuses.get(name, {})
            results = []
            for check in wanted:
                status = statuses.get(check.id, Status.PASS)
                message = f"{status.value}: {check.id} of {name}"
                if name in self.killed and check.id == wanted[1].id:
                    status, message = Status.ERROR, f"the checking process was killed by SIGKILL while running {check.id}"
                details = self.fail_details if status is Status.FAIL else {}
                results.append(CheckResult(check.id, check.title, status, message, details))
            return Report("0.0.0", ENVIRONMENT, {"path": str(path), "format": "tf2-saved-model"}, tuple(results),
                          duration_s=0.5, strict=options.strict)
        finally:
            with self.lock:
                self.active -= 1
                self.finished.append(name)

    def stop(self) -> None:
        with self.lock:
            self.stops += 1
        self.released.set()

    def factory(self, limits: Limits | None) -> FakeRunner | _Isolated:
        """The command line's :data:`~hubcheck.runners.RunnerFactory`: this runner for ``--in-process``
        (``limits`` is ``None``), else a parallel view of it that counts its runs as isolated."""
        self.limits.append(limits)
        return self if limits is None else _Isolated(self)

    def plugin(self) -> _Plugin:
        """A pytest plugin object that hands this runner to hubcheck's pytest plugin."""
        return _Plugin(self)


@dataclass(frozen=True)
class _Isolated:
    """What :meth:`FakeRunner.factory` makes for limits: the same fake, parallel, counted."""

    fake: FakeRunner
    parallel: bool = True

    def run(self, path: Path, options: RunOptions, **kwargs: Any) -> Report:
        with self.fake.lock:
            self.fake.isolated_calls += 1
        return self.fake.run(path, options, **kwargs)

    def stop(self) -> None:
        self.fake.stop()


@dataclass(frozen=True)
class _Plugin:
    fake: FakeRunner

    def pytest_hubcheck_runner(self, config: Any) -> FakeRunner:
        return self.fake


def resolved(folder: str | Path, source: str | None = None) -> ResolvedModel:
    """A model as :func:`hubcheck.sources.resolve_model` would return it for a local folder."""
    return ResolvedModel(str(folder) if source is None else source, Path(folder), "directory", EMPTY_HASH, False)


def exited(result: Result, code: int) -> bool:
    """The command exited with ``code`` and raised nothing on the way: click's test runner also turns an
    exception (a bug) into exit code 1, which a test of exit code 1 must tell apart."""
    unexpected = result.exception is not None and not isinstance(result.exception, SystemExit)
    return result.exit_code == code and not unexpected
