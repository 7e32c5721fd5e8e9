"""Checking many models on one machine: :func:`check_all` runs a :class:`~hubcheck.runners.Runner` on each,
``workers`` at a time, and returns the reports in the order it was given the models.

Nothing here imports TensorFlow or click, or knows where the models came from (see :mod:`hubcheck.catalog`)
or how progress is shown (see :mod:`hubcheck.ui`).
"""

from __future__ import annotations

import os
import threading
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from hubcheck.exitcodes import Crash
from hubcheck.options import RunOptions
from hubcheck.results import ProgressCallback, Report
from hubcheck.runners import Runner, check_model, sharing_start_up

if TYPE_CHECKING:
    from hubcheck.sources import ResolvedModel

__all__ = ["CatalogObserver", "Job", "ModelCrash", "check_all", "default_jobs"]


def default_jobs() -> int:
    """The CPUs this process may run on (its affinity mask, which taskset and cpusets narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Job:
    """One model to check, with the options it is checked with."""

    model: ResolvedModel
    options: RunOptions

    @property
    def label(self) -> str:
        """The model as the user named it: what progress displays and crash messages show."""
        return self.model.source


class CatalogObserver(Protocol):
    """Told what :func:`check_all` is doing; called from worker threads, so it must be thread-safe."""

    def started(self, index: int) -> None: ...

    def check_started(self, index: int, check_id: str) -> None: ...

    def finished(self, index: int, report: Report) -> None: ...


class ModelCrash(Crash):
    """hubcheck itself raised while checking ``label`` (a bug: a model's own failures are reports)."""

    def __init__(self, label: str, details: str) -> None:
        super().__init__(f"internal error while checking {label}", details)
        self.label = label


class _Cancelled(Exception):
    """A worker that had not started yet when the run was abandoned."""


def check_all(jobs: Sequence[Job], runner: Runner, *, workers: int = 1,
              observer: CatalogObserver | None = None) -> list[Report]:
    """Check every job's model with ``runner``, ``workers`` at a time; the reports in the order of ``jobs``.

    ``workers <= 1`` (or a single job) runs in the calling thread; so does a runner that is not
    ``parallel``. Otherwise each worker thread calls ``runner``, which checks in a child process, so
    threads only wait. A model that fails, hangs or crashes its child is a report like any other and
    does not stop the rest. If the runner itself raises (a bug in hubcheck), or on Ctrl-C (or SIGTERM or
    SIGHUP, which the command line turns into :class:`hubcheck.isolation.Stopped`, a ``KeyboardInterrupt``),
    models not yet started are dropped, ``runner.stop()`` is called until the running ones have returned,
    and :class:`ModelCrash` (or the ``KeyboardInterrupt``) is raised.

    Several models share start-up costs (:func:`hubcheck.runners.sharing_start_up`: an isolated runner
    imports TensorFlow once per worker, not once per model).
    """
    if len(jobs) <= 1:
        return _check_all(jobs, runner, workers, observer)
    with sharing_start_up(runner) as shared:
        return _check_all(jobs, shared, workers, observer)


def _check_all(jobs: Sequence[Job], runner: Runner, workers: int, observer: CatalogObserver | None) -> list[Report]:
    def progress_for(index: int) -> ProgressCallback | None:
        if observer is None:
            return None

        def update(check_id: str, result: object) -> None:
            if result is None:
                observer.check_started(index, check_id)

        return update

    def check(index: int) -> Report:
        if observer is not None:
            observer.started(index)
        job = jobs[index]
        try:
            report = check_model(runner, job.model, job.options, progress=progress_for(index))
        except Exception as exc:
            raise ModelCrash(job.label, "".join(traceback.format_exception(exc))) from exc
        if observer is not None:
            observer.finished(index, report)
        return report

    if workers <= 1 or len(jobs) <= 1 or not runner.parallel:
        return [check(index) for index in range(len(jobs))]

    abandoned = threading.Event()

    def work(index: int) -> Report:
        if abandoned.is_set():
            raise _Cancelled
        return check(index)

    executor = ThreadPoolExecutor(max_workers=min(workers, len(jobs)), thread_name_prefix="hubcheck-catalog")
    futures = [executor.submit(work, index) for index in range(len(jobs))]
    try:
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
    except BaseException:  # KeyboardInterrupt, or hubcheck.isolation.Stopped (SIGTERM, SIGHUP)
        _abandon(executor, futures, abandoned, runner.stop)
        raise
    crashed = [future for future in futures if future in done and future.exception() is not None]
    if crashed:
        _abandon(executor, futures, abandoned, runner.stop)
        error = crashed[0].exception()
        raise error if isinstance(error, ModelCrash) else ModelCrash(jobs[futures.index(crashed[0])].label,
                                                                     repr(error))
    executor.shutdown()
    return [future.result() for future in futures]


def _abandon(executor: ThreadPoolExecutor, futures: Sequence[Future[Report]], abandoned: threading.Event,
             stop: Callable[[], object]) -> None:
    """Start nothing new and make the running workers return soon (the runner stops their runs)."""
    abandoned.set()
    executor.shutdown(wait=False, cancel_futures=True)
    running = [future for future in futures if not future.done()]
    while running:
        stop()
        wait(running, timeout=0.5)
        running = [future for future in running if not future.done()]
