"""The cache folder: where it is, and refusing one that anybody but its user could have written.

What hubcheck takes from the cache ends up in a report as "the model that was checked", so a
cache folder, and every entry hubcheck reads from it, must be one that only the user running
hubcheck could have written (POSIX; on other systems the checks are skipped):

* the cache folder is not a symbolic link, belongs to the user, and neither its group (unless it
  is the user's private group) nor other users may write to it; a missing one is created ``0700``;
* no folder above it may be written to by every user unless it is sticky (``/tmp`` is fine,
  a world-writable folder without the sticky bit is not), and a symbolic link on the way there
  must belong to the user or to root (``/tmp -> /private/tmp`` on macOS is fine, a link another
  user planted in ``/tmp`` is not);
* an entry (a downloaded model, an unpacked archive, a lock file, hubcheck's own folders) obeys
  the same rules as the cache folder, and a model folder holds only regular files and folders.

Anything else raises :class:`~hubcheck.sources.errors.CacheError` (exit 2) with the path and the fix.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import uuid
from pathlib import Path

from hubcheck.sources.errors import CacheError

__all__ = [
    "TFHUB_CACHE_ENV",
    "cache_root",
    "check_entry",
    "default_cache_root",
    "open_root",
    "read_small",
    "remove",
    "subfolder",
    "verify_tree",
    "write_atomically",
]

TFHUB_CACHE_ENV = "TFHUB_CACHE_DIR"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_POSIX = hasattr(os, "geteuid")


def default_cache_root() -> Path:
    """``$XDG_CACHE_HOME/hubcheck``, else ``~/.cache/hubcheck``: private to the user, unlike ``/tmp``."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if base and os.path.isabs(base):
        return Path(base) / "hubcheck"
    try:
        home = Path.home()
    except (RuntimeError, KeyError):
        raise CacheError("cannot find the home folder for the default cache; choose a cache with --cache-dir "
                         f"or {TFHUB_CACHE_ENV}") from None
    return home / ".cache" / "hubcheck"


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``cache_dir``, else ``$TFHUB_CACHE_DIR``, else :func:`default_cache_root`; absolute, not checked."""
    if cache_dir is not None:
        return Path(os.path.abspath(Path(cache_dir).expanduser()))
    configured = os.environ.get(TFHUB_CACHE_ENV, "")
    if configured:
        return Path(os.path.abspath(configured))  # as tensorflow_hub: no ~ expansion, so both find one folder
    return Path(os.path.abspath(default_cache_root()))


# -- who may write what ------------------------------------------------------------------------------


def _private_group(gid: int) -> bool:
    """Whether ``gid`` is the user's own group (a "user private group", as on Debian and Ubuntu)."""
    try:
        import grp
        import pwd

        user = pwd.getpwuid(os.geteuid())
        group = grp.getgrgid(gid)
    except (ImportError, KeyError, OSError):
        return False
    return gid == user.pw_gid and group.gr_name == user.pw_name and set(group.gr_mem) <= {user.pw_name}


def _unsafe(info: os.stat_result) -> str | None:
    """Why an entry with this ``lstat`` is not the user's alone, or None."""
    if not _POSIX:
        return None
    if stat.S_ISLNK(info.st_mode):
        return "is a symbolic link"
    if info.st_uid != os.geteuid():
        return f"belongs to another user (uid {info.st_uid})"
    if info.st_mode & stat.S_IWOTH:
        return f"can be written by every user (mode {stat.S_IMODE(info.st_mode):o})"
    if info.st_mode & stat.S_IWGRP and not _private_group(info.st_gid):
        return f"can be written by its group (mode {stat.S_IMODE(info.st_mode):o})"
    return None


def _refuse(path: Path, why: str, what: str) -> CacheError:
    if "writable" in why or "written" in why:
        fix = f"run chmod go-w {path}"
    elif what == "cache folder" and "symbolic link" in why:
        fix = "give the real folder with --cache-dir"
    elif what == "cache folder":
        fix = f"choose your own cache folder with --cache-dir or {TFHUB_CACHE_ENV}"
    else:
        fix = "remove it"
    return CacheError(f"refusing the {what} {path}: it {why}, so someone else could have changed what hubcheck "
                      f"would check; {fix}")


def check_entry(path: Path, what: str = "cache entry") -> os.stat_result | None:
    """``lstat(path)``, or None when it does not exist; :class:`CacheError` when it is not the user's alone."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CacheError(f"cannot use the {what} {path}: {exc.strerror or exc}") from None
    why = _unsafe(info)
    if why:
        raise _refuse(path, why, what)
    return info


def _check_ancestors(path: Path, root: Path) -> None:
    """Folders above ``path`` (the real ones, and links on the way) that others could use to swap it."""
    if not _POSIX:
        return
    literal = Path(os.path.abspath(path))
    for folder in [literal, *literal.parents]:
        with contextlib.suppress(OSError):
            info = os.lstat(folder)
            if stat.S_ISLNK(info.st_mode) and info.st_uid not in (0, os.geteuid()):
                raise CacheError(f"refusing the cache folder {root}: the path to it goes through {folder}, a "
                                 f"symbolic link that belongs to another user (uid {info.st_uid}); choose another "
                                 f"cache with --cache-dir or {TFHUB_CACHE_ENV}")
    real = Path(os.path.realpath(path))
    for folder in [real, *real.parents]:
        try:
            info = os.stat(folder)
        except OSError:
            continue
        if info.st_mode & stat.S_IWOTH and not info.st_mode & stat.S_ISVTX:
            raise CacheError(f"refusing the cache folder {root}: it is inside {folder}, which every user can "
                             f"write to (and which is not sticky), so anyone could replace it; choose another "
                             f"cache with --cache-dir or {TFHUB_CACHE_ENV}")


def _lstat(path: Path, root: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CacheError(f"cannot use the cache folder {root}: {exc.strerror or exc}") from None


def open_root(root: Path, *, create: bool) -> bool:
    """Check the cache folder ``root``; with ``create``, make what is missing (``0700``).

    Returns whether it exists. Raises :class:`CacheError` when it, or the way to it, is not safe,
    or when it cannot be created.
    """
    missing: list[Path] = []
    existing = root
    while _lstat(existing, root) is None:
        missing.append(existing)
        if existing.parent == existing:  # pragma: no cover (not even "/" exists)
            raise CacheError(f"cannot use the cache folder {root}")
        existing = existing.parent
    _check_ancestors(existing if missing else root.parent, root)
    if missing:
        if not create:
            return False
        for folder in reversed(missing):
            try:
                os.mkdir(folder, 0o700)
            except FileExistsError:
                pass
            except OSError as exc:
                raise CacheError(f"cannot create the cache folder {root}: {exc.strerror or exc}; choose another "
                                 f"with --cache-dir or {TFHUB_CACHE_ENV}") from None
    info = check_entry(root, "cache folder")
    if info is None or not stat.S_ISDIR(info.st_mode):
        raise CacheError(f"the cache folder {root} is not a folder; choose another with --cache-dir")
    return True


def subfolder(parent: Path, *names: str) -> Path:
    """``parent/names...``, each created ``0700`` when missing and checked when present."""
    folder = parent
    for name in names:
        folder = folder / name
        info = check_entry(folder, "cache folder")
        if info is None:
            try:
                os.mkdir(folder, 0o700)
            except FileExistsError:
                info = check_entry(folder, "cache folder")
            except OSError as exc:
                raise CacheError(f"cannot create {folder}: {exc.strerror or exc}") from None
        if info is not None and not stat.S_ISDIR(info.st_mode):
            raise CacheError(f"refusing the cache folder {folder}: it is not a folder; remove it")
    return folder


def verify_tree(folder: Path, what: str = "cache entry") -> None:
    """Everything under ``folder`` is a regular file or folder of the user's, and no folder is writable
    by others; :class:`CacheError` otherwise (a link in a cached model could point anywhere)."""
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as listing:
                names = [entry.name for entry in listing]
        except OSError as exc:
            raise CacheError(f"cannot read the {what} {current}: {exc.strerror or exc}") from None
        for name in names:
            path = current / name
            info = check_entry(path, what)
            if info is None:
                continue
            if stat.S_ISDIR(info.st_mode):
                stack.append(path)
            elif not stat.S_ISREG(info.st_mode):
                raise CacheError(f"refusing the {what} {folder}: {path} is neither a file nor a folder; remove "
                                 f"{folder}")


def read_small(path: Path, limit: int = 64 << 10) -> str | None:
    """The text of a small file of the user's, not followed through a link; None when missing, unsafe or large."""
    try:
        info = os.lstat(path)
        if _unsafe(info) or not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        descriptor = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _NONBLOCK)
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as stream:
        try:
            return stream.read(limit).decode("utf-8", "replace")
        except OSError:
            return None


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a private temporary file renamed over it (never through a link)."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise CacheError(f"cannot write {path}: {exc.strerror or exc}") from None


def remove(path: Path) -> None:
    """Remove a file, link or folder tree (a link itself, never what it points to); quietly."""
    try:
        info = os.lstat(path)
    except OSError:
        return
    if stat.S_ISDIR(info.st_mode):
        try:
            shutil.rmtree(path, ignore_errors=True)  # fd-based on Linux: it does not follow links inside
        except RecursionError:  # pragma: no cover (hubcheck never makes trees that deep)
            pass
    else:
        with contextlib.suppress(OSError):
            os.unlink(path)
