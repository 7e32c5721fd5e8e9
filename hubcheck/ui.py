"""What the command line shows on a terminal while it works: download bars, the spinner of one model,
the progress bar of a catalog. All of it goes to standard error and disappears when done.

Nothing here decides anything: the displays are told what happens (:class:`hubcheck.pool.CatalogObserver`
for checking, a ``progress(done, total)`` callback for a download). rich is imported only when a display
is actually shown.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from hubcheck.results import Report

if TYPE_CHECKING:
    from rich.console import Console

    from hubcheck.pool import CatalogObserver

__all__ = ["CatalogProgress", "SpinnerProgress", "download_progress", "progress_display"]

DownloadProgress = Callable[[int, "int | None"], None]
"""``progress(done, total)``: bytes downloaded so far and the total, when the server said."""


@contextlib.contextmanager
def download_progress(label: str = "downloading", *, enabled: bool = True) -> Iterator[DownloadProgress | None]:
    """A transient progress bar on stderr; yields the callback for ``resolve_model(progress=...)``.

    The bar appears on the first byte (so a cache hit shows nothing) and disappears when done.
    Yields ``None`` when not ``enabled`` (e.g. stderr is not a terminal).
    """
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                   TimeRemainingColumn(), console=Console(stderr=True), transient=True)
    task: list[Any] = []

    def update(done: int, total: int | None) -> None:
        if not task:
            bar.start()
            task.append(bar.add_task(label, total=total))
        bar.update(task[0], completed=done, total=total)

    try:
        yield update
    finally:
        if task:
            bar.stop()


def _short(label: str) -> str:
    """The last part of a path or URL: what fits in a progress line."""
    return label.rstrip("/").rsplit("/", 1)[-1] or label


class CatalogProgress:
    """A progress bar on stderr: models done, failing and running (with the check each one is at).

    Thread-safe; use as a context manager. ``counts`` is what the bar shows, for programs and tests.
    """

    shown_running = 3

    def __init__(self, labels: Sequence[str], console: Console | None = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
        from rich.table import Column

        self.labels = list(labels)
        self._lock = threading.Lock()
        self._running: dict[int, str] = {}
        self._done = 0
        self._failing = 0
        console = console or Console(stderr=True)
        # The counts keep their width; the list of running models gets what is left of the line, cut short.
        counts = 2 * len(str(len(self.labels))) + 1
        left = max(12, console.width - (1 + 8 + 20 + counts + 7 + 5))  # spinner, "checking", bar, M/N, time, gaps
        self._bar = Progress(SpinnerColumn(), TextColumn("checking"), BarColumn(bar_width=20), MofNCompleteColumn(),
                             TimeElapsedColumn(),
                             TextColumn("{task.fields[status]}",
                                        table_column=Column(no_wrap=True, overflow="ellipsis", max_width=left)),
                             console=console, transient=True)
        self._task = self._bar.add_task("models", total=len(self.labels), status=self.status_text())

    @property
    def counts(self) -> dict[str, int]:
        with self._lock:
            return {"done": self._done, "failing": self._failing, "running": len(self._running),
                    "total": len(self.labels)}

    def status_text(self) -> str:
        running = sorted(self._running.items())
        names = ", ".join(f"{_short(self.labels[i])} ({check})" for i, check in running[: self.shown_running])
        more = f" +{len(running) - self.shown_running}" if len(running) > self.shown_running else ""
        return f"{self._failing} failing, {len(running)} running" + (f": {names}{more}" if names else "")

    def _refresh(self) -> None:
        self._bar.update(self._task, completed=self._done, status=self.status_text())

    def started(self, index: int) -> None:
        with self._lock:
            self._running[index] = "loading"
            self._refresh()

    def check_started(self, index: int, check_id: str) -> None:
        with self._lock:
            if index in self._running:
                self._running[index] = check_id
                self._refresh()

    def finished(self, index: int, report: Report) -> None:
        with self._lock:
            self._running.pop(index, None)
            self._done += 1
            self._failing += int(report.failed)
            self._refresh()

    def __enter__(self) -> CatalogProgress:
        self._bar.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._bar.stop()


class SpinnerProgress:
    """One model: a spinner naming the model and the running check (what a single run always showed)."""

    def __init__(self, label: str, console: Console | None = None) -> None:
        from rich.console import Console

        self.label = label
        self._status = (console or Console(stderr=True)).status(f"{label}: loading the model")

    def started(self, index: int) -> None:
        self._status.update(f"{self.label}: loading the model")

    def check_started(self, index: int, check_id: str) -> None:
        self._status.update(f"{self.label}: checking {check_id}")

    def finished(self, index: int, report: Report) -> None:
        pass

    def __enter__(self) -> SpinnerProgress:
        self._status.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._status.stop()


@contextlib.contextmanager
def progress_display(labels: Sequence[str], enabled: bool) -> Iterator[CatalogObserver | None]:
    """The spinner for one model, the catalog bar for several, nothing when not ``enabled``."""
    if not enabled or not labels:
        yield None
        return
    display: CatalogProgress | SpinnerProgress = (SpinnerProgress(labels[0]) if len(labels) == 1
                                                  else CatalogProgress(labels))
    with display:
        yield display
