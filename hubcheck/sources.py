"""Turn MODEL (a directory, a ``.tar.gz`` archive, a URL or a model-hub handle) into a local directory.

:func:`resolve_model` is the only entry point. It never imports TensorFlow (the CLI process stays
light; the checks run in a child process), and it sorts what can go wrong into two kinds:

* problems with *how to get* the model raise :class:`SourceError`, with an exit code: a path that
  does not exist or ``--offline`` without a cached copy (2, usage), a host that cannot be reached,
  answers with an error status or stops answering (4, could not fetch);
* problems with *the model's bytes* (a corrupt archive, an unsafe member, too large, no SavedModel
  at the archive's root) never raise: the :class:`ResolvedModel` carries a one-line ``problem`` and
  an empty, safe ``local_path``, and the ``load`` check fails with that sentence, so a publishing
  pipeline still gets a complete report.

URLs and handles share tensorflow_hub's cache (see docs/sources.md): the entry for handle ``H`` is
``<cache>/<sha1(H)>``, downloaded from ``H?tf-hub-format=compressed``, written under the lock file
``<entry>.lock`` into ``<entry>.<uid>.tmp`` and renamed into place, with ``<entry>.descriptor.txt``
beside it. A model either tool downloaded is found by the other. hubcheck does the download itself
rather than calling ``tensorflow_hub.resolve``, because that call has no timeout (a silent host hangs
it forever), no size bound, no progress callback (it prints to stdout), strips a leading ``/`` from
absolute member names instead of rejecting them, and importing it imports TensorFlow.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import os
import re
import shutil
import socket
import ssl
import stat
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubcheck.exitcodes import ExitCode

__all__ = [
    "EMPTY_HASH",
    "EXIT_FETCH",
    "EXIT_USAGE",
    "ProgressFn",
    "ResolvedModel",
    "SourceError",
    "cache_root",
    "content_hash",
    "download_progress",
    "resolve_model",
]

EXIT_USAGE = ExitCode.USAGE  # nothing to check (no such path, offline and not cached, bad URL)
EXIT_FETCH = ExitCode.FETCH  # the host could not be reached, answered with an error, or timed out

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MAX_BYTES = 4 << 30  # bounds the download and, separately, the total extracted size
DEFAULT_MAX_MEMBERS = 100_000  # a SavedModel has a handful of files; an archive bomb has millions

ProgressFn = Callable[[int, "int | None"], None]
"""Called with (bytes downloaded so far, total bytes or None when the server does not say)."""

# tensorflow_hub's conventions (tensorflow_hub/resolver.py, compressed_module_resolver.py, 0.16).
TFHUB_CACHE_ENV = "TFHUB_CACHE_DIR"
_COMPRESSED_QUERY = ("tf-hub-format", "compressed")
_HUB_TF_GOOGLE_CN = "https://hub.tensorflow.google.cn/"
_GCS_GOOGLE_CN_TEMPLATE = "https://gcs.tensorflow.google.cn/tfhub-modules/%s.tar.gz"
HUB_HOSTS = frozenset({"tfhub.dev", "www.tfhub.dev", "hub.tensorflow.google.cn", "kaggle.com", "www.kaggle.com"})

LOCK_POLL_S = 0.5  # tensorflow_hub polls every 5 s; a CLI waiting on another download can be quicker
LOCK_STALE_S = 600.0  # as tensorflow_hub: a lock whose download made no progress this long is abandoned

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
_CHUNK = 1 << 20
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})
EMPTY_HASH = f"sha256:{hashlib.sha256().hexdigest()}"  # content_hash() of an empty folder
_EXPORT_HINT = "make it with: tar -czf model.tar.gz -C EXPORT_DIR ."


class SourceError(Exception):
    """MODEL could not be turned into a local directory; nothing was checked.

    ``str(error)`` is one line for the user; ``exit_code`` is 2 (usage) or 4 (could not fetch).
    """

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


@dataclass(frozen=True)
class ResolvedModel:
    """Where MODEL's files are on this machine and what they hash to."""

    source: str  # MODEL as the user gave it
    local_path: Path  # absolute; a directory, except for kind "file"
    kind: str  # "directory" | "file" | "archive" | "url" | "handle"
    content_hash: str  # "sha256:<hex>" over local_path's files, see content_hash()
    cached: bool  # True when an earlier run (of hubcheck or tensorflow_hub) had unpacked it
    problem: str | None = None  # why the model cannot load (e.g. a rejected archive: local_path is then empty)
    archive_hash: str | None = None  # "sha256:<hex>" of the archive bytes, when known

    def to_json(self) -> dict[str, Any]:
        """Keys to merge into the report's ``model`` section."""
        return {
            "source": self.source,
            "source_kind": self.kind,
            "resolved_path": str(self.local_path),
            "content_hash": self.content_hash,
            "archive_hash": self.archive_hash,
            "cached": self.cached,
        }


# -- the cache -------------------------------------------------------------------------------------


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``cache_dir``, else ``$TFHUB_CACHE_DIR``, else ``<system temp>/tfhub_modules`` (tensorflow_hub's default)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser().absolute()
    configured = os.environ.get(TFHUB_CACHE_ENV, "")
    if configured:
        return Path(configured).absolute()  # as tensorflow_hub: no ~ expansion, so both find the same folder
    return Path(tempfile.gettempdir()) / "tfhub_modules"


def _hub_entry(root: Path, handle: str) -> Path:
    return root / hashlib.sha1(handle.encode("utf8")).hexdigest()


def _is_complete(entry: Path) -> bool:
    """tensorflow_hub's test: the entry exists and is not empty."""
    try:
        return entry.is_dir() and any(entry.iterdir())
    except OSError:
        return False


def _writable(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SourceError(f"cannot create the cache folder {root}: {exc.strerror or exc}") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise SourceError(f"cannot write to the cache folder {root}; choose another with --cache-dir "
                          f"or {TFHUB_CACHE_ENV}")


def _empty_dir(root: Path, key: str) -> Path:
    """A fresh empty folder for a rejected archive: the loader sees nothing rather than half a model."""
    folder = root / "hubcheck" / "rejected" / key
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: alive, someone else's
        return True
    return True


# -- hashing ---------------------------------------------------------------------------------------


def _tree_files(top: Path) -> list[tuple[bytes, Path]]:
    """(relative POSIX path as bytes, absolute path) of every regular file, following links once."""
    found: list[tuple[bytes, Path]] = []
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(top, followlinks=True):
        info = os.stat(dirpath)
        if (info.st_dev, info.st_ino) in seen:  # a link loop
            dirnames[:] = []
            continue
        seen.add((info.st_dev, info.st_ino))
        for name in filenames:
            path = Path(dirpath, name)
            try:
                if not stat.S_ISREG(path.stat().st_mode):
                    continue  # FIFOs, sockets, dangling links: nothing TensorFlow would read as a file
            except OSError:
                continue
            relative = path.relative_to(top).as_posix()
            found.append((os.fsencode(relative), path))
    found.sort(key=lambda item: item[0])
    return found


def content_hash(path: str | os.PathLike[str]) -> str:
    """``"sha256:<hex>"`` of a model's files, independent of mtimes, permissions and archive packing.

    For each regular file under ``path`` in byte order of its relative POSIX path: the path's length
    (8 bytes, big-endian), the path (UTF-8), the file's size (8 bytes, big-endian), its bytes.
    Directories contribute only through their files. A single file hashes as a tree holding only it,
    under its own name. A directory and a ``.tar.gz`` of it (made with ``-C dir .``) hash the same.
    Raises ``OSError`` when a file cannot be read.
    """
    top = Path(path)
    digest = hashlib.sha256()
    files = [(os.fsencode(top.name), top)] if top.is_file() else _tree_files(top)
    for relative, file in files:
        with open(file, "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            digest.update(len(relative).to_bytes(8, "big"))
            digest.update(relative)
            digest.update(size.to_bytes(8, "big"))
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _resolved(source: str, path: Path, kind: str, *, cached: bool, problem: str | None = None,
              archive_hash: str | None = None) -> ResolvedModel:
    try:
        digest = content_hash(path)
    except OSError as exc:  # TensorFlow could not read it either: the load check says which file
        digest = EMPTY_HASH
        problem = problem or f"cannot read {exc.filename or path}: {exc.strerror or exc}"
    return ResolvedModel(source, path, kind, digest, cached, problem, archive_hash)


# -- safe extraction -------------------------------------------------------------------------------


class _Rejected(Exception):
    """The archive is not acceptable; the message is the ``problem`` sentence."""


def _member_parts(name: str) -> tuple[str, ...]:
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise _Rejected(f"has a member with an absolute path ({name!r})")
    if "\\" in name:
        raise _Rejected(f"has a member with a backslash in its path ({name!r})")
    parts = tuple(part for part in name.split("/") if part not in ("", "."))
    if ".." in parts:
        raise _Rejected(f"has a member whose path leaves the archive's folder ({name!r})")
    return parts


def _kind_of(member: tarfile.TarInfo) -> str:
    if member.issym():
        return f"a symbolic link to {member.linkname!r}"
    if member.islnk():
        return f"a hard link to {member.linkname!r}"
    if member.ischr() or member.isblk():
        return "a device file"
    if member.isfifo():
        return "a FIFO"
    return f"of unsupported tar type {member.type!r}"


def _extract(archive: Path, dest: Path, *, max_bytes: int, max_members: int) -> None:
    """Unpack ``archive`` into the empty folder ``dest``, or raise :class:`_Rejected`.

    Only regular files and directories are created, at paths built from the member's name after
    rejecting absolute paths and ``..``; no link of any kind is created (a SavedModel never needs
    one, and refusing them all is simpler to trust than checking where each points). File modes are
    0644/0755 whatever the archive says. The total size and the member count are bounded.
    """
    total = members = 0
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with open(archive, "rb") as raw, tarfile.open(fileobj=raw, mode="r|*") as tar:
            for member in tar:
                members += 1
                if members > max_members:
                    raise _Rejected(f"has more than {max_members} members")
                parts = _member_parts(member.name)
                if not parts:
                    continue  # the archive's root folder itself ("./")
                target = dest.joinpath(*parts)
                if member.isdir():
                    target.mkdir(mode=0o755, parents=True, exist_ok=True)
                    continue
                if not member.isreg():
                    raise _Rejected(f"has a member {member.name!r} that is {_kind_of(member)}; "
                                    "hubcheck extracts only regular files and folders")
                total += member.size
                if total > max_bytes:
                    raise _Rejected(f"unpacks to more than {_size(max_bytes)} (the size limit)")
                target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
                source = tar.extractfile(member)
                flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
                with os.fdopen(os.open(target, flags, 0o644), "wb") as out:
                    if source is not None:
                        shutil.copyfileobj(source, out, _CHUNK)
    except _Rejected:
        raise
    except OSError as exc:
        if exc.errno in _DISK_ERRNOS:  # our side, not the archive's: the cache folder is full or read-only
            raise SourceError(f"cannot unpack into {dest.parent}: {exc.strerror}") from None
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise _Rejected(f"is not a readable tar archive (corrupt or truncated: {detail})") from None
    except (tarfile.TarError, EOFError, zlib.error, ValueError) as exc:
        # OSError includes gzip.BadGzipFile; lzma/bz2 errors are OSError or ValueError.
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise _Rejected(f"is not a readable tar archive (corrupt or truncated: {detail})") from None


def _layout_problem(folder: Path, what: str) -> str | None:
    """None when ``folder`` holds a SavedModel at its root, else why not and how to fix it."""
    if (folder / "saved_model.pb").is_file() or (folder / "saved_model.pbtxt").is_file():
        return None
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        names = []
    if not names:
        return f"{what} is empty; a SavedModel archive holds saved_model.pb and variables/ ({_EXPORT_HINT})"
    if len(names) == 1 and (folder / names[0] / "saved_model.pb").is_file():
        return (f"{what} holds the SavedModel inside the folder {names[0]}/, but tensorflow_hub loads the "
                f"archive's root, which must hold saved_model.pb; re-create it with: "
                f"tar -czf model.tar.gz -C {names[0]} .")
    shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    return f"{what} holds no saved_model.pb at its root (it contains: {shown}); {_EXPORT_HINT}"


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"  # pragma: no cover


def _unpack_into(archive: Path, final: Path, work: Path, what: str, *, max_bytes: int,
                 max_members: int) -> str | None:
    """Extract into ``work`` (a fresh folder on the same filesystem) and rename it to ``final``.

    Returns the problem when the archive is rejected (``final`` is then untouched).
    """
    try:
        _extract(archive, work, max_bytes=max_bytes, max_members=max_members)
    except _Rejected as exc:
        return f"{what} {exc}"
    problem = _layout_problem(work, what)
    if problem:
        return problem
    try:
        os.rename(work, final)
    except OSError:
        if not _is_complete(final):  # not just another process that won the race
            raise
    return None


# -- local archives --------------------------------------------------------------------------------


def _is_archive_file(path: Path) -> bool:
    if path.name.lower().endswith(ARCHIVE_SUFFIXES):
        return True
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _clean_dead_work_dirs(parent: Path, prefix: str) -> None:
    """Remove ``<prefix><pid>-*`` work folders whose process is gone (a killed earlier run)."""
    with contextlib.suppress(OSError):
        for leftover in parent.glob(f"{prefix}*"):
            pid_text = leftover.name[len(prefix):].split("-", 1)[0]
            if pid_text.isdigit() and not _pid_alive(int(pid_text)):
                shutil.rmtree(leftover, ignore_errors=True)


def _resolve_archive(spec: str, archive: Path, root: Path, *, max_bytes: int, max_members: int) -> ResolvedModel:
    what = f"the archive {archive.name}"
    _writable(root)
    try:
        size = archive.stat().st_size
        if size > max_bytes:
            key = hashlib.sha1(os.fsencode(archive)).hexdigest()
            return _resolved(spec, _empty_dir(root, key), "archive", cached=False,
                             problem=f"{what} is {_size(size)}, more than the {_size(max_bytes)} limit")
        digest = _file_sha256(archive)
    except OSError as exc:
        raise SourceError(f"cannot read {archive}: {exc.strerror or exc}") from None
    store = root / "hubcheck" / "archives"
    final = store / digest
    if _is_complete(final):
        return _resolved(spec, final, "archive", cached=True, archive_hash=f"sha256:{digest}")
    store.mkdir(parents=True, exist_ok=True)
    prefix = f".{digest[:16]}.tmp-"
    _clean_dead_work_dirs(store, prefix)
    work = store / f"{prefix}{os.getpid()}-{uuid.uuid4().hex}"
    work.mkdir()
    try:
        problem = _unpack_into(archive, final, work, what, max_bytes=max_bytes, max_members=max_members)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if problem:
        return _resolved(spec, _empty_dir(root, digest), "archive", cached=False, problem=problem,
                         archive_hash=f"sha256:{digest}")
    return _resolved(spec, final, "archive", cached=False, archive_hash=f"sha256:{digest}")


# -- URLs and handles ------------------------------------------------------------------------------


def _download_url(handle: str) -> str:
    """The URL tensorflow_hub fetches for ``handle``: ``?tf-hub-format=compressed`` appended."""
    if handle.startswith(_HUB_TF_GOOGLE_CN):
        return _GCS_GOOGLE_CN_TEMPLATE % handle[len(_HUB_TF_GOOGLE_CN):]
    parsed = list(urllib.parse.urlparse(handle))
    query = urllib.parse.parse_qsl(parsed[4])
    query.append(_COMPRESSED_QUERY)
    parsed[4] = urllib.parse.urlencode(query)
    return urllib.parse.urlunparse(parsed)


def _user_agent() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"hubcheck/{version('hubcheck')}"
    except PackageNotFoundError:
        return "hubcheck"


class _TooLarge(Exception):
    pass


def _fetch(handle: str, dest: Path, *, timeout_s: float, max_bytes: int,
           progress: ProgressFn | None) -> tuple[str, str]:
    """Stream the archive for ``handle`` into ``dest``; return (sha256 hex, Content-Type).

    ``timeout_s`` bounds the connection and every wait for the next bytes, not the whole transfer
    (a large model on a slow line is fine; a silent host is not). Raises :class:`SourceError`
    (exit 4) for network trouble and :class:`_TooLarge` past ``max_bytes``.
    """
    try:
        out = open(dest, "wb")  # noqa: SIM115  (closed below; opening it is not a network failure)
    except OSError as exc:
        raise SourceError(f"cannot write the download into {dest.parent}: {exc.strerror or exc}") from None
    with out:
        return _stream(handle, out, timeout_s=timeout_s, max_bytes=max_bytes, progress=progress)


def _stream(handle: str, out: Any, *, timeout_s: float, max_bytes: int,
            progress: ProgressFn | None) -> tuple[str, str]:
    request = urllib.request.Request(_download_url(handle), headers={"User-Agent": _user_agent()})
    failure = f"could not fetch {handle}"
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(request, timeout=timeout_s, context=ssl.create_default_context()) as response:
            length_text = response.headers.get("Content-Length")
            total = int(length_text) if length_text and length_text.isdigit() else None
            content_type = response.headers.get("Content-Type", "") or ""
            if total is not None and total > max_bytes:
                raise _TooLarge(f"is {_size(total)}, more than the {_size(max_bytes)} limit")
            done = 0
            if progress:
                progress(0, total)
            while chunk := response.read(_CHUNK):
                done += len(chunk)
                if done > max_bytes:
                    raise _TooLarge(f"is more than the {_size(max_bytes)} limit")
                digest.update(chunk)
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise SourceError(f"cannot write the download into the cache: {exc.strerror or exc}") from None
                if progress:
                    progress(done, total)
            if total is not None and done < total:
                raise SourceError(f"{failure}: the connection closed after {done} of {total} bytes", EXIT_FETCH)
    except urllib.error.HTTPError as exc:
        raise SourceError(f"{failure}: HTTP {exc.code} {exc.reason}", EXIT_FETCH) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise SourceError(f"{failure}: no answer within {timeout_s:g} s", EXIT_FETCH) from None
        reason = getattr(exc.reason, "strerror", None) or str(exc.reason)
        raise SourceError(f"{failure}: {reason}", EXIT_FETCH) from None
    except TimeoutError:
        raise SourceError(f"{failure}: no data for {timeout_s:g} s, gave up", EXIT_FETCH) from None
    except http.client.HTTPException as exc:
        raise SourceError(f"{failure}: {type(exc).__name__} {exc}".rstrip(), EXIT_FETCH) from None
    except ValueError as exc:  # "unknown url type" and friends: the URL is malformed
        raise SourceError(f"cannot fetch {handle}: {exc}") from None
    except OSError as exc:  # connection reset, TLS failure, ...
        raise SourceError(f"{failure}: {exc.strerror or exc}", EXIT_FETCH) from None
    return digest.hexdigest(), content_type


def _read_lock(lock: Path) -> str | None:
    try:
        return lock.read_text()
    except OSError:
        return None


def _tree_size(folder: Path) -> int:
    size = 0
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            with contextlib.suppress(OSError):
                size += os.lstat(os.path.join(dirpath, name)).st_size
    return size


def _acquire(entry: Path, contents: str) -> bool:
    """Take ``<entry>.lock`` as tensorflow_hub does; False when the entry appeared meanwhile.

    While someone else holds it: wait, and steal it when its holder is a dead process on this host
    or its temporary folder made no progress for :data:`LOCK_STALE_S` (tensorflow_hub's rule).
    """
    lock = Path(f"{entry}.lock")
    watched: tuple[str | None, int] | None = None
    watched_since = time.monotonic()
    while True:
        try:
            descriptor = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "w") as stream:
                stream.write(contents)
            return True
        if _is_complete(entry):
            return False
        holder = _read_lock(lock)
        if holder is None:
            if not lock.exists():
                continue  # released between our two looks: try again
            holder = ""  # there but unreadable: judged by the stale rule like any other
        pieces = holder.strip().rsplit(".", 2)  # "<hostname>.<pid>.<uid>"; the hostname may hold dots
        host, pid_text, uid = pieces if len(pieces) == 3 else ("", "", "")
        if not re.fullmatch(r"[0-9A-Za-z_-]+", uid):
            uid = ""  # not a uid tensorflow_hub or hubcheck wrote: never build a path from it
        their_tmp = Path(f"{entry}.{uid}.tmp")
        if host == socket.gethostname() and pid_text.isdigit() and not _pid_alive(int(pid_text)):
            stale = True
        else:
            now = (holder, _tree_size(their_tmp))
            if now != watched:
                watched, watched_since = now, time.monotonic()
            stale = time.monotonic() - watched_since > LOCK_STALE_S
        if stale:
            if (_read_lock(lock) or "") == holder:
                try:
                    lock.unlink()
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    raise SourceError(f"{lock} belongs to a download that stopped, and cannot be removed "
                                      f"({exc.strerror}); remove it by hand") from None
                if uid:
                    shutil.rmtree(their_tmp, ignore_errors=True)
            continue
        time.sleep(LOCK_POLL_S)


def _write_descriptor(entry: Path, handle: str, archive_hash: str) -> None:
    """tensorflow_hub's ``<entry>.descriptor.txt`` (informational only), plus the archive's hash."""
    from datetime import datetime

    text = (f"Module: {handle}\nDownload Time: {datetime.now().astimezone()}\n"
            f"Downloader Hostname: {socket.gethostname()} (PID:{os.getpid()})\n"
            f"Downloaded by: {_user_agent()}\nArchive SHA256: {archive_hash}")
    target = Path(f"{entry}.descriptor.txt")
    temporary = target.with_name(f"{target.name}.{uuid.uuid4().hex}.tmp")
    with contextlib.suppress(OSError):
        temporary.write_text(text)
        os.replace(temporary, target)
    with contextlib.suppress(OSError):
        temporary.unlink()


def _recorded_archive_hash(entry: Path) -> str | None:
    try:
        text = Path(f"{entry}.descriptor.txt").read_text()
    except OSError:
        return None
    found = re.search(r"^Archive SHA256: (\w+)$", text, re.MULTILINE)
    return f"sha256:{found.group(1)}" if found else None


def _resolve_url(spec: str, handle: str, kind: str, root: Path, *, offline: bool, timeout_s: float,
                 max_bytes: int, max_members: int, progress: ProgressFn | None) -> ResolvedModel:
    entry = _hub_entry(root, handle)
    what = f"the archive at {handle}"
    if _is_complete(entry):
        return _resolved(spec, entry, kind, cached=True, problem=_layout_problem(entry, what),
                         archive_hash=_recorded_archive_hash(entry))
    if offline:
        raise SourceError(f"--offline: {handle} is not in the cache {root} (expected {entry.name}/ there); "
                          "run once without --offline to download it")
    _writable(root)
    uid = uuid.uuid4().hex
    contents = f"{socket.gethostname()}.{os.getpid()}.{uid}"
    if not _acquire(entry, contents):
        return _resolved(spec, entry, kind, cached=True, problem=_layout_problem(entry, what),
                         archive_hash=_recorded_archive_hash(entry))
    lock = Path(f"{entry}.lock")
    tmp = Path(f"{entry}.{uid}.tmp")  # tensorflow_hub's name: a waiting tensorflow_hub watches its size
    try:
        if _is_complete(entry):  # finished by another process just before we took the lock
            return _resolved(spec, entry, kind, cached=True, problem=_layout_problem(entry, what),
                             archive_hash=_recorded_archive_hash(entry))
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)  # an empty leftover, as tensorflow_hub does
        elif entry.exists() or entry.is_symlink():
            entry.unlink()
        tmp.mkdir()
        download = tmp / "archive"
        try:
            digest, content_type = _fetch(handle, download, timeout_s=timeout_s, max_bytes=max_bytes,
                                          progress=progress)
        except _TooLarge as exc:
            return _resolved(spec, _empty_dir(root, entry.name), kind, cached=False, problem=f"{what} {exc}")
        problem = _unpack_into(download, entry, tmp / "model", what, max_bytes=max_bytes,
                               max_members=max_members)
        if problem and "html" in content_type.lower():
            problem += f" (the server sent {content_type.split(';')[0]}: a web page, not an archive)"
        if problem:
            return _resolved(spec, _empty_dir(root, entry.name), kind, cached=False, problem=problem,
                             archive_hash=f"sha256:{digest}")
        _write_descriptor(entry, handle, digest)
        return _resolved(spec, entry, kind, cached=False, archive_hash=f"sha256:{digest}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if _read_lock(lock) == contents:
            with contextlib.suppress(OSError):
                lock.unlink()


# -- the entry point -------------------------------------------------------------------------------


def _hub_handle(spec: str) -> str | None:
    """``tfhub.dev/...`` or ``kaggle.com/models/...`` without a scheme: the https URL it names."""
    host = spec.split("/", 1)[0].lower()
    if host in HUB_HOSTS and "/" in spec.strip("/"):
        return f"https://{spec}"
    return None


def _url_kind(url: str) -> str:
    host = (urllib.parse.urlparse(url).hostname or "").lower()
    return "handle" if host in HUB_HOSTS else "url"


def resolve_model(
    spec: str,
    *,
    offline: bool = False,
    cache_dir: Path | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
    progress: ProgressFn | None = None,
) -> ResolvedModel:
    """Find, fetch or unpack MODEL and return where its files are.

    ``spec`` is a SavedModel directory; a ``.tar.gz``/``.tgz``/``.tar`` archive of one (unpacked
    into ``<cache>/hubcheck/archives/<sha256 of the archive>``); an ``http(s)://`` URL of such an
    archive or a model-hub handle (``https://tfhub.dev/...``, ``https://www.kaggle.com/models/...``,
    also without ``https://``), downloaded into tensorflow_hub's cache entry ``<cache>/<sha1(handle)>``;
    any other file is passed through for the loader to diagnose. The cache is ``cache_dir``, else
    ``$TFHUB_CACHE_DIR``, else ``<system temp>/tfhub_modules``. ``offline`` uses cached downloads only.
    ``timeout_s`` bounds connecting and each wait for data; ``max_bytes`` bounds the download and the
    unpacked size; ``max_members`` the number of archive members. ``progress(done, total)`` is called
    while downloading.

    Raises :class:`SourceError` when there is nothing to check; a bad archive is a ``problem`` instead.
    """
    text = spec.strip()
    if not text:  # typically an unset variable in a CI script: never check the working directory
        raise SourceError("MODEL is empty: give a SavedModel directory, a .tar.gz archive, a URL or a hub handle")
    root = cache_root(cache_dir)
    lowered = text.lower()
    if lowered.startswith(("http://", "https://")):
        if not urllib.parse.urlparse(text).hostname:
            raise SourceError(f"{text} is not a valid URL: it names no host")
        return _resolve_url(text, text, _url_kind(text), root, offline=offline, timeout_s=timeout_s,
                            max_bytes=max_bytes, max_members=max_members, progress=progress)
    path = Path(text).expanduser()
    if path.is_dir():
        return _resolved(text, path.resolve(), "directory", cached=False)
    if path.is_file():
        path = path.resolve()
        if _is_archive_file(path):
            return _resolve_archive(text, path, root, max_bytes=max_bytes, max_members=max_members)
        return _resolved(text, path, "file", cached=False)
    if path.exists() or path.is_symlink():
        raise SourceError(f"{text} is neither a folder nor a file (a broken link, a device or a FIFO?)")
    handle = _hub_handle(text)
    if handle is not None:
        return _resolve_url(text, handle, "handle", root, offline=offline, timeout_s=timeout_s,
                            max_bytes=max_bytes, max_members=max_members, progress=progress)
    scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", text)
    if scheme:
        raise SourceError(f"{text}: {scheme.group(1)}:// is not supported; give a local path, an http(s):// "
                          "URL of a .tar.gz archive, or a model-hub handle")
    raise SourceError(f"no such file or directory: {text}")


# -- a progress bar for the command line -----------------------------------------------------------


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
