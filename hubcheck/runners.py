"""How a model gets checked: the :class:`Runner` protocol, its two implementations, and :func:`check_model`.

A runner runs the checks on a local folder and returns the :class:`~hubcheck.results.Report`:

- :class:`InProcessRunner` calls :func:`hubcheck.runner.run_checks`, the engine, in this process;
- :class:`IsolatedRunner` runs the same engine in a sandboxed child process bounded by
  :class:`~hubcheck.isolation.Limits` (:func:`hubcheck.isolation.run_isolated`).

The command line, the Python API (:func:`hubcheck.check`), the pytest plugin and the catalog's thread pool
(:func:`hubcheck.pool.check_all`) all take a runner, so that another way of running (catalog workers on
other machines, say) or a test's fake is one object passed in, never a patched module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from hubcheck.isolation import Limits, default_memory_cap, run_isolated, stop_all_children
from hubcheck.options import RunOptions
from hubcheck.results import ProgressCallback, Report, with_source

if TYPE_CHECKING:
    from hubcheck.registry import Check
    from hubcheck.sources import ResolvedModel
    from hubcheck.workers import WorkerPool

__all__ = ["InProcessRunner", "IsolatedRunner", "Runner", "RunnerFactory", "check_model", "default_runner",
           "runner_for", "sharing_start_up"]


class Runner(Protocol):
    """Runs the checks on one model folder; what every caller of the engine is given."""

    @property
    def parallel(self) -> bool:
        """Whether several runs may go on at once, each in a thread of its own (each in its own process)."""
        ...

    def run(
        self,
        path: Path,
        options: RunOptions,
        *,
        checks: Sequence[type[Check]] | None = None,
        progress: ProgressCallback | None = None,
        source_problem: str | None = None,
    ) -> Report:
        """Check the model at ``path`` (which exists) as :func:`hubcheck.runner.run_checks` does: ``checks``
        (default: every registered check) that ``options`` wants, ``progress`` told as each starts and
        ends, ``source_problem`` (what went wrong getting the model) reported by ``load``. Everything
        wrong with the model is in the report; raises only for hubcheck's own failures and bad
        arguments (``ValueError`` for an unknown check id)."""
        ...

    def stop(self) -> None:
        """Make every run in progress end soon, each with the (partial) report it has; from any thread,
        or a signal handler. A runner that cannot interrupt a run does nothing."""
        ...


@dataclass(frozen=True)
class InProcessRunner:
    """The engine in this process: fast, no isolation, one model at a time (TensorFlow is not thread-safe
    enough for two, and a model that hangs or crashes takes hubcheck with it)."""

    parallel: bool = field(default=False, init=False)

    def run(self, path: Path, options: RunOptions, *, checks: Sequence[type[Check]] | None = None,
            progress: ProgressCallback | None = None, source_problem: str | None = None) -> Report:
        from hubcheck.runner import run_checks  # imports the engine (numpy, the checks) only when used

        return run_checks(path, options, checks=checks, progress=progress, source_problem=source_problem)

    def stop(self) -> None:
        pass


@dataclass(frozen=True)
class IsolatedRunner:
    """The engine in a sandboxed child process per model, bounded by ``limits`` (docs/security.md).

    With ``workers`` (see :func:`sharing_start_up`), each child is forked by a catalog worker that has
    imported TensorFlow already, instead of started from scratch."""

    limits: Limits = field(default_factory=Limits)
    parallel: bool = field(default=True, init=False)
    workers: WorkerPool | None = field(default=None, compare=False)

    def run(self, path: Path, options: RunOptions, *, checks: Sequence[type[Check]] | None = None,
            progress: ProgressCallback | None = None, source_problem: str | None = None) -> Report:
        return run_isolated(path, options, self.limits, progress=progress, checks=checks,
                            source_problem=source_problem, workers=self.workers)

    def stop(self) -> None:
        stop_all_children()


RunnerFactory = Callable[[Limits | None], Runner]
"""What the command line is given to make its runner from ``--in-process`` (``None``) or the limits of
``--timeout`` and ``--max-memory``; tests pass a fake."""


def default_runner(limits: Limits | None) -> Runner:
    """In this process when ``limits`` is ``None``, else isolated under ``limits``."""
    return InProcessRunner() if limits is None else IsolatedRunner(limits)


def runner_for(*, isolate: bool = False, timeout_s: float | None = None,
               max_memory_bytes: int | None = None) -> Runner:
    """The runner of :func:`hubcheck.check`'s ``isolate``, ``timeout_s`` and ``max_memory_bytes``
    (``None``: the default cap, 75% of the machine's memory; ``0``: no cap)."""
    if not isolate:
        return InProcessRunner()
    if max_memory_bytes is not None and max_memory_bytes < 0:
        raise ValueError(f"max_memory_bytes must be 0 (no cap) or positive; got {max_memory_bytes}")
    cap = default_memory_cap() if max_memory_bytes is None else max_memory_bytes or None
    return IsolatedRunner(Limits(timeout_s=timeout_s, max_memory_bytes=cap))


@contextmanager
def sharing_start_up(runner: Runner) -> Iterator[Runner]:
    """``runner``, made to check several models in a row: an :class:`IsolatedRunner` gets catalog workers,
    so that TensorFlow is imported once per worker rather than once per model (docs/catalog.md); they
    end when the block does. Any other runner is itself."""
    if not isinstance(runner, IsolatedRunner) or runner.workers is not None:
        yield runner
        return
    from hubcheck.workers import WorkerPool

    workers = WorkerPool()
    try:
        yield replace(runner, workers=workers)
    finally:
        workers.close()


def check_model(runner: Runner, model: ResolvedModel, options: RunOptions, *,
                progress: ProgressCallback | None = None) -> Report:
    """Check a resolved model with ``runner``; the report names the model as the user did and says where it
    came from (its ``model`` section gets :meth:`~hubcheck.sources.ResolvedModel.to_json`)."""
    report = runner.run(model.local_path, options, progress=progress, source_problem=model.problem)
    # "path" is what the user named (a folder, an archive, a URL); "resolved_path" is where it was checked.
    return with_source(report, model.source, model.to_json())
