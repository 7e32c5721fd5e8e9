"""A transient download progress bar for the command line."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from hubcheck.sources.http import ProgressFn

__all__ = ["download_progress"]


@contextlib.contextmanager
def download_progress(label: str = "downloading", *, enabled: bool = True) -> Iterator[ProgressFn | None]:
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
