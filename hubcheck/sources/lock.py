"""The lock on a hub cache entry, shared with tensorflow_hub, with waits that end.

tensorflow_hub marks a download in progress with ``<entry>.lock`` (created when absent, holding
``<host>.<pid>.<uid>``) and judges a lock stale by reading that text: the pid, and the size of the
temporary folder ``<entry>.<uid>.tmp`` the uid names. Whoever can write the lock file steers
that judgement, and a lock whose temporary folder keeps changing is waited for forever.

hubcheck writes the same file, so tensorflow_hub waits for it as before, but never believes what a
lock file says. A hubcheck holder keeps an exclusive ``flock`` on its lock file for as long as it
downloads; the kernel drops it when the process ends, however it ends. So, for a waiting hubcheck:

* a lock that is ``flock``-ed belongs to a live hubcheck: wait for it, until the caller's deadline
  (the download time limit), then give up with a :class:`~hubcheck.sources.errors.FetchError`;
* a lock that is not ``flock``-ed is a dead hubcheck's, a tensorflow_hub's (alive or not) or a
  planted one: wait at most ``grace_s`` (the fetch timeout) for it to go away, then take it over in
  place (``flock`` it and write our own text), which no other hubcheck can do at the same time;
* a lock file that is a symbolic link, or not the user's, is refused (:class:`CacheError`).

The times come from this process's clock, never from the lock file or what it names.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

from hubcheck.sources.cache import check_entry
from hubcheck.sources.errors import CacheError, FetchError

try:
    import fcntl
except ImportError:  # pragma: no cover (Windows: every lock looks unheld and is taken over after grace_s)
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_POLL_S", "HubLock", "acquire"]

LOCK_POLL_S = 0.25  # how often a waiting process looks again (tensorflow_hub: every 5 s)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _try_flock(descriptor: int) -> bool:
    if fcntl is None:  # pragma: no cover
        return True
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # a file system without flock: behave as if nobody held it
        return True
    return True


def _same_file(descriptor: int, path: Path) -> bool:
    try:
        mine, there = os.fstat(descriptor), os.lstat(path)
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)


class HubLock:
    """A held ``<entry>.lock``: an open, ``flock``-ed descriptor of the file at that path."""

    def __init__(self, path: Path, descriptor: int, contents: str, took_over: bool) -> None:
        self.path = path
        self.took_over = took_over  # True when it was a stale lock (its holder's leftovers may remain)
        self._descriptor = descriptor
        try:
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, contents.encode("utf-8"), 0)
        except OSError as exc:
            self.release()
            raise CacheError(f"cannot write the lock file {path}: {exc.strerror or exc}") from None

    def release(self) -> None:
        """Remove the lock file if it is still ours (not stolen meanwhile), then drop the ``flock``."""
        try:
            if _same_file(self._descriptor, self.path):
                with contextlib.suppress(OSError):
                    os.unlink(self.path)
        finally:
            os.close(self._descriptor)


def _open_existing(path: Path) -> int | None:
    info = check_entry(path, "lock file")  # a link, or another user's, is refused
    if info is None:
        return None
    if not stat.S_ISREG(info.st_mode):
        raise CacheError(f"refusing the lock file {path}: it is not a regular file; remove it")
    try:
        return os.open(path, os.O_RDWR | _NOFOLLOW | _CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CacheError(f"cannot open the lock file {path}: {exc.strerror or exc}") from None


def acquire(path: Path, contents: str, *, grace_s: float, deadline: float, done: Callable[[], bool],
            label: str) -> HubLock | None:
    """Hold the lock file ``path``, or return None as soon as ``done()`` (the entry is complete).

    ``grace_s`` is how long a lock that nobody ``flock``-s is waited for before it is taken over;
    ``deadline`` (a :func:`time.monotonic` value) ends any wait with a :class:`FetchError` naming
    ``label``. Raises :class:`CacheError` for a lock file that is a link or not the user's.
    """
    first_seen: dict[tuple[int, int], float] = {}  # lock file (dev, inode) -> when we first found it unheld
    while True:
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600)
        except FileExistsError:
            descriptor = None
        except OSError as exc:
            raise CacheError(f"cannot create the lock file {path}: {exc.strerror or exc}") from None
        if descriptor is not None:
            if _try_flock(descriptor):
                return HubLock(path, descriptor, contents, took_over=False)
            os.close(descriptor)  # another process flock-ed our new file in between: look again
        elif done():
            return None
        else:
            existing = _open_existing(path)
            if existing is not None:
                if not _try_flock(existing):
                    os.close(existing)  # a live hubcheck downloads: wait for it
                elif not _same_file(existing, path):
                    os.close(existing)  # released and replaced while we looked: look again
                    continue
                else:
                    info = os.fstat(existing)
                    since = first_seen.setdefault((info.st_dev, info.st_ino), time.monotonic())
                    if time.monotonic() - since >= grace_s:
                        return HubLock(path, existing, contents, took_over=True)
                    os.close(existing)  # drops our probing flock
        if time.monotonic() >= deadline:
            raise FetchError(f"could not fetch {label}: another process has been downloading it into the "
                             f"same cache entry ({path.name[:-5]}) for too long; gave up waiting")
        time.sleep(LOCK_POLL_S)
