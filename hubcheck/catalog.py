"""Catalog mode: many models, from the command line or catalog files, sliced into shards and checked in parallel.

* :func:`read_catalog` reads a catalog file (one MODEL per line, ``#`` comments, paths relative to the file);
* :class:`Shard` picks the I-th of N deterministic slices of a catalog, so a CI matrix can spread it over
  machines; every machine computes the same partition from the same catalog, in any order;
* :func:`check_all` checks the models of one machine, ``jobs`` at a time, and returns the reports in
  catalog order; :class:`CatalogProgress` shows how far it got;
* :func:`load_reports` reads JSON reports back (one report or ``{"reports": [...]}``) for ``hubcheck merge``.

Nothing here imports TensorFlow or click: the command line turns :class:`CatalogError` into usage errors.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from hubcheck.results import Report

if TYPE_CHECKING:
    from rich.console import Console

    from hubcheck.runner import ProgressCallback

__all__ = [
    "CatalogEntry",
    "CatalogError",
    "CatalogObserver",
    "CatalogProgress",
    "ModelCrash",
    "Shard",
    "check_all",
    "default_jobs",
    "entries_from_args",
    "load_reports",
    "read_catalog",
    "shard_key",
]

T = TypeVar("T")

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_INLINE_COMMENT = re.compile(r"\s+#.*$")


class CatalogError(ValueError):
    """A catalog file, a ``--shard`` value or a report file that cannot be used; one line for the user."""


# -- catalog files ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogEntry:
    """One model of the catalog.

    ``spec`` is MODEL as written (in the catalog file or on the command line): it decides the shard,
    so every machine agrees wherever the catalog is checked out. ``target`` is what to resolve: ``spec``
    itself, or for a relative path in a catalog file, that path joined to the file's folder.
    """

    spec: str
    target: str
    origin: str  # "command line" or "catalog.txt:12"


def entries_from_args(models: Sequence[str]) -> list[CatalogEntry]:
    return [CatalogEntry(model, model, "command line") for model in models]


def _is_hub_handle(spec: str) -> bool:
    from hubcheck.sources import HUB_HOSTS

    return spec.split("/", 1)[0].lower() in HUB_HOSTS and "/" in spec.strip("/")


def _target(spec: str, folder: Path) -> str:
    """A relative local path is relative to the catalog's folder; URLs, handles and absolute paths stay."""
    if _SCHEME.match(spec) or spec.startswith("~") or Path(spec).is_absolute():
        return spec
    candidate = folder / spec
    if _is_hub_handle(spec) and not (candidate.exists() or candidate.is_symlink()):
        return spec  # tfhub.dev/google/... is a handle unless the catalog's folder holds such a path
    return str(candidate)


def parse_catalog(text: str, folder: Path, name: str) -> list[CatalogEntry]:
    """The entries of a catalog whose text is ``text``, read from ``folder``; ``name`` appears in origins."""
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        spec = _INLINE_COMMENT.sub("", line)  # "models/a   # why" (a '#' right after text is part of it)
        entries.append(CatalogEntry(spec, _target(spec, folder), f"{name}:{number}"))
    return entries


def read_catalog(path: Path) -> list[CatalogEntry]:
    """The models listed in the catalog file ``path``; raises :class:`CatalogError` when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CatalogError(f"catalog {path} does not exist") from None
    except IsADirectoryError:
        raise CatalogError(f"catalog {path} is a directory; give a file with one MODEL per line") from None
    except UnicodeDecodeError as exc:
        raise CatalogError(f"catalog {path} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise CatalogError(f"cannot read catalog {path}: {exc.strerror or exc}") from None
    return parse_catalog(text, path.parent, str(path))


# -- shards -----------------------------------------------------------------------------------------


def shard_key(spec: str) -> str:
    """``spec`` normalized so that spellings of one path share a shard: ``./models/a/`` -> ``models/a``."""
    text = spec.strip()
    if _SCHEME.match(text):
        return text
    return posixpath.normpath(text)


def _rank_key(key: str) -> tuple[bytes, str]:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest(), key


@dataclass(frozen=True)
class Shard:
    """The ``index``-th (1-based) of ``count`` slices of a catalog.

    Models are ordered by the SHA-256 of their :func:`shard_key` and dealt out like cards: the first
    to slice 1, the second to slice 2, ..., the ``count``-th to slice ``count``, the next to slice 1
    again. So the slices are disjoint, together they are the catalog, their sizes differ by at most
    one, and the partition depends only on which models the catalog lists, not on their order.
    """

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise CatalogError(f"shard {self.index}/{self.count}: I must be between 1 and N")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"2/4"`` -> ``Shard(2, 4)``; raises :class:`CatalogError` for anything else."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if match is None or not 1 <= int(match.group(1)) <= int(match.group(2)):
            raise CatalogError(f"--shard must be I/N with 1 <= I <= N, e.g. 1/4 for the first of four slices; "
                               f"got {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def positions(self, specs: Sequence[str]) -> list[int]:
        """Positions (in catalog order) of the models of ``specs`` that fall into this slice."""
        keys = [_rank_key(shard_key(spec)) for spec in specs]
        ranked = sorted(range(len(specs)), key=keys.__getitem__)
        return sorted(position for rank, position in enumerate(ranked) if rank % self.count == self.index - 1)

    def select(self, entries: Sequence[CatalogEntry]) -> list[CatalogEntry]:
        return [entries[position] for position in self.positions([entry.spec for entry in entries])]


# -- checking many models ---------------------------------------------------------------------------


def default_jobs() -> int:
    """The CPUs this process may run on (its affinity mask, which taskset and cpusets narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class CatalogObserver(Protocol):
    """Told what :func:`check_all` is doing; called from worker threads, so it must be thread-safe."""

    def started(self, index: int) -> None: ...

    def check_started(self, index: int, check_id: str) -> None: ...

    def finished(self, index: int, report: Report) -> None: ...


class ModelCrash(Exception):
    """hubcheck itself raised while checking ``label`` (a bug: a model's own failures are reports)."""

    def __init__(self, label: str, details: str) -> None:
        super().__init__(f"internal error while checking {label}")
        self.label = label
        self.details = details


class _Cancelled(Exception):
    """A worker that had not started yet when the run was abandoned."""


def check_all(
    items: Sequence[T],
    check_one: Callable[[T, ProgressCallback | None], Report],
    *,
    labels: Sequence[str],
    jobs: int = 1,
    observer: CatalogObserver | None = None,
    stop_children: Callable[[], object] | None = None,
) -> list[Report]:
    """``check_one(item, progress)`` for every item, ``jobs`` at a time; the reports in the order of ``items``.

    ``jobs <= 1`` (or a single item) runs in the calling thread. Otherwise each worker thread calls
    ``check_one``, which is expected to check in a child process (``hubcheck.check(isolate=True)``), so
    threads only wait. A model that fails, hangs or crashes its child is a report like any other and
    does not stop the rest. If ``check_one`` itself raises (a bug in hubcheck), or on Ctrl-C (or SIGTERM or
    SIGHUP, which the command line turns into :class:`hubcheck.isolation.Stopped`, a ``KeyboardInterrupt``),
    models not yet started are dropped, ``stop_children()`` is called until the running ones have returned,
    and :class:`ModelCrash` (or the ``KeyboardInterrupt``) is raised.
    """
    if len(labels) != len(items):
        raise ValueError("one label per item")

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
        try:
            report = check_one(items[index], progress_for(index))
        except Exception as exc:
            raise ModelCrash(labels[index], "".join(traceback.format_exception(exc))) from exc
        if observer is not None:
            observer.finished(index, report)
        return report

    if jobs <= 1 or len(items) <= 1:
        return [check(index) for index in range(len(items))]

    abandoned = threading.Event()

    def work(index: int) -> Report:
        if abandoned.is_set():
            raise _Cancelled
        return check(index)

    executor = ThreadPoolExecutor(max_workers=min(jobs, len(items)), thread_name_prefix="hubcheck-catalog")
    futures = [executor.submit(work, index) for index in range(len(items))]
    try:
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
    except BaseException:  # KeyboardInterrupt, or hubcheck.isolation.Stopped (SIGTERM, SIGHUP)
        _abandon(executor, futures, abandoned, stop_children)
        raise
    crashed = [future for future in futures if future in done and future.exception() is not None]
    if crashed:
        _abandon(executor, futures, abandoned, stop_children)
        error = crashed[0].exception()
        raise error if isinstance(error, ModelCrash) else ModelCrash(labels[futures.index(crashed[0])], repr(error))
    executor.shutdown()
    return [future.result() for future in futures]


def _abandon(executor: ThreadPoolExecutor, futures: Sequence[Future[Report]], abandoned: threading.Event,
             stop_children: Callable[[], object] | None) -> None:
    """Start nothing new and make the running workers return soon (their children are stopped)."""
    abandoned.set()
    executor.shutdown(wait=False, cancel_futures=True)
    running = [future for future in futures if not future.done()]
    while running:
        if stop_children is not None:
            stop_children()
        wait(running, timeout=0.5)
        running = [future for future in running if not future.done()]


# -- progress ---------------------------------------------------------------------------------------


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


@contextmanager
def progress_display(labels: Sequence[str], enabled: bool) -> Iterator[CatalogObserver | None]:
    """The spinner for one model, the catalog bar for several, nothing when not ``enabled``."""
    if not enabled or not labels:
        yield None
        return
    display: CatalogProgress | SpinnerProgress = (SpinnerProgress(labels[0]) if len(labels) == 1
                                                  else CatalogProgress(labels))
    with display:
        yield display


# -- reading reports back ---------------------------------------------------------------------------


def _report(data: Any, where: str) -> Report:
    if not isinstance(data, dict):
        raise CatalogError(f"{where}: expected a report object, got {type(data).__name__}")
    version = str(data.get("schema_version", "1."))
    if not version.startswith("1."):
        raise CatalogError(f"{where}: report schema {version} is not one this hubcheck reads (1.x)")
    try:
        return Report.from_json(data)
    except KeyError as exc:
        raise CatalogError(f"{where}: not a hubcheck report: missing key {exc}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise CatalogError(f"{where}: not a hubcheck report: {exc}") from None


def load_reports(path: Path) -> list[Report]:
    """The reports in the JSON file ``path``: one report, or ``{"reports": [...]}`` (what ``--format json``
    writes for one or several models). Raises :class:`CatalogError` naming the file when it is not one."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CatalogError(f"{path}: not a JSON report (not UTF-8 text)") from None
    except OSError as exc:
        raise CatalogError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{path}: not a JSON report: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if isinstance(document, dict) and "reports" in document and "checks" not in document:
        reports = document["reports"]
        if not isinstance(reports, list):
            raise CatalogError(f"{path}: \"reports\" must be a list of reports")
        return [_report(item, f"{path}: reports[{number}]") for number, item in enumerate(reports)]
    if isinstance(document, dict) and "checks" in document:
        return [_report(document, str(path))]
    shape = type(document).__name__ if not isinstance(document, dict) else "an object without \"checks\" or \"reports\""
    raise CatalogError(f"{path}: not a hubcheck report: expected one report or {{\"reports\": [...]}}, got {shape}")
