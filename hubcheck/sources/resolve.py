"""Turn MODEL (a directory, an archive, a URL or a hub handle) into a local directory: :func:`resolve_model`."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import socket
import stat
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from hubcheck.sources.archive import DEFAULT_MAX_BYTES, DEFAULT_MAX_MEMBERS, Limits, looks_like_tar, sha256_of, unpack
from hubcheck.sources.cache import (
    cache_root,
    check_entry,
    open_root,
    read_small,
    remove,
    subfolder,
    verify_tree,
    write_atomically,
)
from hubcheck.sources.errors import (
    ArchiveError,
    CacheError,
    InternalError,
    NotFoundError,
    SourceError,
    clip,
    human_size,
    quote,
)
from hubcheck.sources.hashing import EMPTY_HASH, content_hash
from hubcheck.sources.http import MIN_RATE, Download, ProgressFn, fetch, user_agent
from hubcheck.sources.lock import acquire

__all__ = [
    "ARCHIVE_SUFFIXES",
    "DOWNLOAD_TIME_FACTOR",
    "FETCH_TIMEOUT_S",
    "HUB_HOSTS",
    "UNPACK_TIMEOUT_S",
    "ResolvedModel",
    "hub_handle",
    "resolve_model",
]

FETCH_TIMEOUT_S = 60.0  # --fetch-timeout: connecting, each wait for data, a lock nobody holds
DOWNLOAD_TIME_FACTOR = 30  # a whole download (and a wait for another hubcheck's) may take this many fetch timeouts
UNPACK_TIMEOUT_S = 900.0  # hashing and unpacking one archive; the command line passes --timeout

# tensorflow_hub's conventions (tensorflow_hub/resolver.py, compressed_module_resolver.py, 0.16).
_COMPRESSED_QUERY = ("tf-hub-format", "compressed")
_HUB_TF_GOOGLE_CN = "https://hub.tensorflow.google.cn/"
_GCS_GOOGLE_CN_TEMPLATE = "https://gcs.tensorflow.google.cn/tfhub-modules/%s.tar.gz"
HUB_HOSTS = frozenset({"tfhub.dev", "www.tfhub.dev", "hub.tensorflow.google.cn", "kaggle.com", "www.kaggle.com"})

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
_EXPORT_HINT = "make it with: tar -czf model.tar.gz -C EXPORT_DIR ."
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_MAX_PROBLEM = 1000


@dataclass(frozen=True)
class ResolvedModel:
    """Where MODEL's files are on this machine and what they hash to."""

    source: str  # MODEL as the user gave it
    local_path: Path  # absolute; a directory, except for kind "file"
    kind: str  # "directory" | "file" | "archive" | "url" | "handle"
    content_hash: str  # "sha256:<hex>" over local_path's files, see content_hash()
    cached: bool  # True when an earlier run (of hubcheck or tensorflow_hub) had unpacked it
    problem: str | None = None  # why the model cannot load (e.g. a rejected archive: local_path is then empty)
    archive_hash: str | None = None  # "sha256:<hex>" of the archive bytes, when known and verified
    redirected_to: str | None = None  # where a download finally came from, when the server redirected

    def to_json(self) -> dict[str, Any]:
        """Keys to merge into the report's ``model`` section."""
        return {
            "source": self.source,
            "source_kind": self.kind,
            "resolved_path": str(self.local_path),
            "content_hash": self.content_hash,
            "archive_hash": self.archive_hash,
            "cached": self.cached,
            "redirected_to": self.redirected_to,
        }


@dataclass(frozen=True)
class _Options:
    offline: bool
    timeout_s: float
    total_s: float
    unpack_timeout_s: float | None
    max_bytes: int
    max_members: int
    min_rate: float
    progress: ProgressFn | None

    def limits(self) -> Limits:
        return Limits.starting_now(max_bytes=self.max_bytes, max_members=self.max_members,
                                   timeout_s=self.unpack_timeout_s)


def _resolved(source: str, path: Path, kind: str, *, cached: bool, problem: str | None = None,
              archive_hash: str | None = None, digest: str | None = None,
              redirected_to: str | None = None) -> ResolvedModel:
    if digest is None:
        try:
            digest = content_hash(path)
        except OSError as exc:  # TensorFlow could not read it either: the load check says which file
            digest = EMPTY_HASH
            problem = problem or f"cannot read {exc.filename or path}: {exc.strerror or exc}"
    if problem is not None:
        problem = clip(problem, _MAX_PROBLEM)
    return ResolvedModel(source, path, kind, digest, cached, problem, archive_hash, redirected_to)


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
        inner = names[0] if re.fullmatch(r"[\w.+@-]{1,60}", names[0]) else "EXPORT_DIR"
        return (f"{what} holds the SavedModel inside the folder {quote(names[0], 60)}, but tensorflow_hub loads "
                f"the archive's root, which must hold saved_model.pb; re-create it with: "
                f"tar -czf model.tar.gz -C {inner} .")
    shown = ", ".join(name if re.fullmatch(r"[\w.+@-]{1,60}", name) else quote(name, 40) for name in names[:8])
    shown += f", ... ({len(names)} in all)" if len(names) > 8 else ""
    return f"{what} holds no saved_model.pb at its root (it contains: {shown}); {_EXPORT_HINT}"


def _rejected_folder(root: Path, key: str) -> Path:
    """A fresh empty folder for a rejected archive: the loader sees nothing rather than half a model."""
    folder = subfolder(root, "hubcheck", "rejected") / key
    if check_entry(folder) is not None:
        remove(folder)
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:  # another process rejecting the same archive at the same moment
        pass
    except OSError as exc:
        raise CacheError(f"cannot create {folder}: {exc.strerror or exc}") from None
    return folder


def _install(work: Path, final: Path, aside: Path, verified: Callable[[], bool] | None) -> None:
    """Rename the finished folder ``work`` to ``final``; an entry already there is kept when
    ``verified()`` (another process made the same), else moved to ``aside`` and replaced."""
    try:
        os.rename(work, final)
        return
    except OSError as exc:
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
            raise CacheError(f"cannot move the unpacked model to {final}: {exc.strerror or exc}") from None
    if verified is not None and verified():
        return
    check_entry(final)  # never move a link or another user's entry: refuse it instead
    try:
        os.rename(final, aside)
        os.rename(work, final)
    except OSError as exc:
        raise CacheError(f"cannot replace the cache entry {final}: {exc.strerror or exc}") from None
    remove(aside)


def _field(text: str | None, name: str, pattern: str = r"[0-9a-f]{64}") -> str | None:
    if text is None:
        return None
    found = re.search(rf"^{re.escape(name)}: ({pattern})$", text, re.MULTILINE)
    return found.group(1) if found else None


def _complete_folder(path: Path) -> bool:
    """tensorflow_hub's test (an existing, non-empty folder), without following a link."""
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            return False
        with os.scandir(path) as listing:
            return any(True for _ in listing)
    except OSError:
        return False


# -- local archives ----------------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: alive, someone else's
        return True
    return True


def _clean_dead_work_dirs(store: Path) -> None:
    """Remove ``.<digest>.tmp-<pid>-*`` folders (hubcheck's own names) whose process is gone."""
    try:
        names = os.listdir(store)
    except OSError:
        return
    for name in names:
        found = re.fullmatch(r"\.[0-9a-f]{16}\.tmp-(\d{1,10})-.*", name)
        if found and not _pid_alive(int(found.group(1))):
            remove(store / name)


def _verified_archive(final: Path, record: Path) -> str | None:
    """The content hash of the unpacked archive ``final`` when it is complete and still holds what
    was recorded when it was unpacked; None when it must be unpacked (again)."""
    if check_entry(final) is None or not _complete_folder(final):
        return None
    verify_tree(final)
    recorded = _field(read_small(record), "Content SHA256")
    if recorded is None:
        return None
    actual = content_hash(final)
    return actual if actual == f"sha256:{recorded}" else None


def _resolve_archive(spec: str, path: Path, stream: BinaryIO, root: Path, options: _Options) -> ResolvedModel:
    what = f"the archive {clip(path.name, 200) if path.name.isprintable() else quote(path.name)}"
    open_root(root, create=True)
    size = os.fstat(stream.fileno()).st_size
    limits = options.limits()
    try:
        if size > options.max_bytes:
            raise ArchiveError(f"is {human_size(size)}, more than the {human_size(options.max_bytes)} limit")
        digest = sha256_of(stream, limits)
    except ArchiveError as exc:
        key = hashlib.sha1(os.fsencode(path)).hexdigest()
        return _resolved(spec, _rejected_folder(root, key), "archive", cached=False, problem=f"{what} {exc}")
    store = subfolder(root, "hubcheck", "archives")
    final, record = store / digest, store / f"{digest}.descriptor.txt"
    hit = _verified_archive(final, record)
    if hit is not None:
        return _resolved(spec, final, "archive", cached=True, archive_hash=f"sha256:{digest}", digest=hit)
    _clean_dead_work_dirs(store)
    prefix = f".{digest[:16]}.tmp-{os.getpid()}-"
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=store))
    try:
        stream.seek(0)
        try:
            again = unpack(stream, work, limits)  # the same open file: what is unpacked is what was hashed
            problem = (_layout_problem(work, what) if again == digest else
                       f"{what} changed while hubcheck read it (its SHA-256 differs between two readings); "
                       "nothing was cached, check it again once it is complete")
        except ArchiveError as exc:
            problem = f"{what} {exc}"
        if problem:
            return _resolved(spec, _rejected_folder(root, digest), "archive", cached=False, problem=problem,
                             archive_hash=f"sha256:{digest}")
        contents = content_hash(work)
        write_atomically(record, f"Archive SHA256: {digest}\nContent SHA256: {contents.removeprefix('sha256:')}\n")
        _install(work, final, store / f"{prefix}{uuid.uuid4().hex}",
                 lambda: _verified_archive(final, record) is not None)
    finally:
        remove(work)
    return _resolved(spec, final, "archive", cached=False, archive_hash=f"sha256:{digest}", digest=contents)


def _open_regular(path: Path, spec: str) -> BinaryIO:
    try:
        descriptor = os.open(path, os.O_RDONLY | _NONBLOCK | _CLOEXEC)
    except OSError as exc:
        raise SourceError(f"cannot read {clip(spec, 300)}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise SourceError(f"{clip(spec, 300)} is neither a folder nor a regular file")
    return os.fdopen(descriptor, "rb")


def _resolve_file(spec: str, path: Path, root: Path, options: _Options) -> ResolvedModel:
    with _open_regular(path, spec) as stream:
        if path.name.lower().endswith(ARCHIVE_SUFFIXES) or looks_like_tar(stream):
            return _resolve_archive(spec, path, stream, root, options)
    return _resolved(spec, path, "file", cached=False)


# -- URLs and handles ----------------------------------------------------------------------------------


def _hub_entry(root: Path, handle: str) -> Path:
    return root / hashlib.sha1(handle.encode("utf8")).hexdigest()


def _download_url(handle: str) -> str:
    """The URL tensorflow_hub fetches for ``handle``: ``?tf-hub-format=compressed`` appended."""
    if handle.startswith(_HUB_TF_GOOGLE_CN):
        return _GCS_GOOGLE_CN_TEMPLATE % handle[len(_HUB_TF_GOOGLE_CN):]
    parsed = list(urllib.parse.urlparse(handle))
    query = urllib.parse.parse_qsl(parsed[4])
    query.append(_COMPRESSED_QUERY)
    parsed[4] = urllib.parse.urlencode(query)
    return urllib.parse.urlunparse(parsed)


@dataclass(frozen=True)
class _Cached:
    content: str
    archive_hash: str | None
    fetched_from: str | None


_STALE = "stale"  # hubcheck downloaded the entry, and its files have changed since


def _hub_state(entry: Path) -> _Cached | str | None:
    """What the cache holds for ``entry``: a usable copy, :data:`_STALE`, or None (nothing complete).

    The descriptor hubcheck writes records the archive's and the files' hashes; the archive hash is
    reported only while the files still hash as recorded. A copy tensorflow_hub downloaded has no
    such record: it is used, with no archive hash.
    """
    info = check_entry(entry)
    if info is None or not _complete_folder(entry):
        return None
    verify_tree(entry)
    actual = content_hash(entry)
    text = read_small(Path(f"{entry}.descriptor.txt"))
    recorded = _field(text, "Content SHA256")
    if recorded is None:
        return _Cached(actual, None, None)
    if f"sha256:{recorded}" != actual:
        return _STALE
    archive = _field(text, "Archive SHA256")
    return _Cached(actual, f"sha256:{archive}" if archive else None, _field(text, "Fetched from", r"https?://\S{1,2000}"))


def _write_descriptor(entry: Path, handle: str, download: Download, contents: str) -> None:
    """tensorflow_hub's ``<entry>.descriptor.txt``, plus what hubcheck verifies on later runs."""
    from datetime import datetime

    text = (f"Module: {clip(handle, 2000)}\nDownload Time: {datetime.now().astimezone()}\n"
            f"Downloader Hostname: {socket.gethostname()} (PID:{os.getpid()})\n"
            f"Downloaded by: {user_agent()}\n"
            + (f"Fetched from: {clip(download.url, 2000)}\n" if download.redirects else "")
            + f"Archive SHA256: {download.sha256}\nContent SHA256: {contents.removeprefix('sha256:')}")
    try:
        write_atomically(Path(f"{entry}.descriptor.txt"), text)
    except CacheError:
        pass  # informational for tensorflow_hub; without it a later run reports no archive hash


def _from_cache(spec: str, entry: Path, kind: str, state: _Cached, what: str) -> ResolvedModel:
    return _resolved(spec, entry, kind, cached=True, problem=_layout_problem(entry, what),
                     archive_hash=state.archive_hash, digest=state.content, redirected_to=state.fetched_from)


def _clean_leftovers(entry: Path) -> None:
    """Temporary folders ``<entry>.hubcheck-*.tmp`` of hubcheck runs that were killed: found by listing,
    never by a name read from a lock, and only hubcheck's own (whoever holds the lock has no other;
    tensorflow_hub's ``<entry>.<hex>.tmp`` are left alone, as tensorflow_hub leaves them)."""
    try:
        names = os.listdir(entry.parent)
    except OSError:
        return
    for name in names:
        if re.fullmatch(rf"{entry.name}\.hubcheck-[0-9a-f]{{32}}\.tmp", name):
            remove(entry.parent / name)


def _resolve_url(spec: str, handle: str, kind: str, root: Path, options: _Options) -> ResolvedModel:
    entry = _hub_entry(root, handle)
    what = f"the archive at {clip(handle, 300)}"
    state = _hub_state(entry) if open_root(root, create=not options.offline) else None
    if isinstance(state, _Cached):
        return _from_cache(spec, entry, kind, state, what)
    if options.offline:
        if state == _STALE:
            raise SourceError(f"--offline: the copy of {clip(handle, 300)} in the cache ({entry}) has changed since "
                              "hubcheck downloaded it (its files no longer hash as recorded); run once without "
                              "--offline to download it again")
        raise SourceError(f"--offline: {clip(handle, 300)} is not in the cache {root} (expected {entry.name}/ "
                          "there); run once without --offline to download it")
    deadline = time.monotonic() + options.total_s
    uid = f"hubcheck-{uuid.uuid4().hex}"  # tensorflow_hub reads what follows the last "." as the uid
    contents = f"{socket.gethostname()}.{os.getpid()}.{uid}"
    lock_path = Path(f"{entry}.lock")
    lock = acquire(lock_path, contents, grace_s=options.timeout_s, deadline=deadline, label=clip(handle, 300),
                   done=lambda: state != _STALE and _complete_folder(entry))
    if lock is None:  # another process finished it while we waited
        state = _hub_state(entry)
        if isinstance(state, _Cached):
            return _from_cache(spec, entry, kind, state, what)
        lock = acquire(lock_path, contents, grace_s=options.timeout_s, deadline=deadline, label=clip(handle, 300),
                       done=lambda: False)
        assert lock is not None
    tmp = Path(f"{entry}.{uid}.tmp")  # tensorflow_hub's name: a waiting tensorflow_hub watches its size
    try:
        _clean_leftovers(entry)
        state = _hub_state(entry)
        if isinstance(state, _Cached):  # finished by another process just before we took the lock
            return _from_cache(spec, entry, kind, state, what)
        return _download(spec, handle, kind, root, entry, tmp, what, deadline, options)
    finally:
        remove(tmp)
        lock.release()


def _download(spec: str, handle: str, kind: str, root: Path, entry: Path, tmp: Path, what: str, deadline: float,
              options: _Options) -> ResolvedModel:
    try:
        os.mkdir(tmp, 0o700)
        descriptor = os.open(tmp / "archive", os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600)
    except OSError as exc:
        raise CacheError(f"cannot write the download into {root}: {exc.strerror or exc}") from None
    model = tmp / "model"
    with os.fdopen(descriptor, "w+b") as archive:
        try:
            download = fetch(_download_url(handle), archive, label=handle, timeout_s=options.timeout_s,
                             total_s=options.total_s, deadline=deadline, max_bytes=options.max_bytes,
                             min_rate=options.min_rate, progress=options.progress)
        except ArchiveError as exc:  # too large: the archive's fault, not the network's
            return _resolved(spec, _rejected_folder(root, entry.name), kind, cached=False, problem=f"{what} {exc}")
        redirected = download.url if download.redirects else None
        archive.flush()
        archive.seek(0)
        os.mkdir(model, 0o700)
        try:
            again = unpack(archive, model, options.limits())  # the file just written, through the same descriptor
            problem = (_layout_problem(model, what) if again == download.sha256 else
                       f"{what} changed on disk while hubcheck unpacked it; nothing was cached")
        except ArchiveError as exc:
            problem = f"{what} {exc}"
    if problem:
        if "html" in download.content_type.lower():
            problem += f" (the server sent {quote(download.content_type.split(';')[0], 40)}: a web page, not an archive)"
        return _resolved(spec, _rejected_folder(root, entry.name), kind, cached=False, problem=problem,
                         archive_hash=f"sha256:{download.sha256}", redirected_to=redirected)
    contents = content_hash(model)
    _write_descriptor(entry, handle, download, contents)
    _install(model, entry, tmp / "replaced", None)
    return _resolved(spec, entry, kind, cached=False, archive_hash=f"sha256:{download.sha256}", digest=contents,
                     redirected_to=redirected)


# -- the entry point -----------------------------------------------------------------------------------


def hub_handle(spec: str) -> str | None:
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
    timeout_s: float = FETCH_TIMEOUT_S,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
    progress: ProgressFn | None = None,
    unpack_timeout_s: float | None = UNPACK_TIMEOUT_S,
    download_timeout_s: float | None = None,
    min_rate: float = MIN_RATE,
) -> ResolvedModel:
    """Find, fetch or unpack MODEL and return where its files are.

    ``spec`` is a SavedModel directory; a ``.tar.gz``/``.tgz``/``.tar`` archive of one (unpacked
    into ``<cache>/hubcheck/archives/<sha256 of the archive>``); an ``http(s)://`` URL of such an
    archive or a model-hub handle (``https://tfhub.dev/...``, ``https://www.kaggle.com/models/...``,
    also without ``https://``), downloaded into tensorflow_hub's cache entry ``<cache>/<sha1(handle)>``;
    any other file is passed through for the loader to diagnose (unless its bytes are a tar archive).
    The cache is ``cache_dir``, else ``$TFHUB_CACHE_DIR``, else ``~/.cache/hubcheck``; it must be
    the user's alone. ``offline`` uses cached downloads only.

    Bounds: ``timeout_s`` (``--fetch-timeout``) bounds connecting, each wait for data, each window
    in which the body must arrive at ``min_rate`` bytes per second, and the wait for a lock nobody
    holds; ``download_timeout_s`` (default :data:`DOWNLOAD_TIME_FACTOR` x ``timeout_s``) the whole
    download including waiting for another hubcheck's; ``unpack_timeout_s`` hashing and unpacking an
    archive; ``max_bytes`` the archive and, separately, what it unpacks to; ``max_members`` the tar
    headers. ``progress(done, total)`` is called while downloading.

    Raises :class:`SourceError` when there is nothing to check: :class:`NotFoundError` for a path that
    does not exist, :class:`FetchError` when the download failed, :class:`CacheError` for an unusable
    cache, :class:`InternalError` for a bug in hubcheck; a bad archive is a ``problem`` instead.
    """
    text = spec.strip()
    if not text:  # typically an unset variable in a CI script: never check the working directory
        raise SourceError("MODEL is empty: give a SavedModel directory, a .tar.gz archive, a URL or a hub handle")
    total = download_timeout_s if download_timeout_s is not None else DOWNLOAD_TIME_FACTOR * timeout_s
    options = _Options(offline, timeout_s, total, unpack_timeout_s, max_bytes, max_members, min_rate, progress)
    try:
        return _resolve(text, cache_dir, options)
    except SourceError:
        raise
    except OSError as exc:  # the cache's file system, most likely: one line, exit 2
        where = f" ({exc.filename})" if exc.filename else ""
        raise CacheError(f"cannot get {clip(text, 300)}: {exc.strerror or exc}{where}") from None
    except Exception as exc:  # a bug in hubcheck: still one line and a documented exit code, never a traceback
        raise InternalError(f"internal error while getting {clip(text, 300)}: {type(exc).__name__}: "
                            f"{clip(str(exc), 300)}; please report it") from exc


def _resolve(text: str, cache_dir: Path | None, options: _Options) -> ResolvedModel:
    lowered = text.lower()
    if lowered.startswith(("http://", "https://")):
        if not urllib.parse.urlparse(text).hostname:
            raise SourceError(f"{clip(text, 300)} is not a valid URL: it names no host")
        return _resolve_url(text, text, _url_kind(text), cache_root(cache_dir), options)
    path = Path(text).expanduser()
    if path.is_dir():
        return _resolved(text, path.resolve(), "directory", cached=False)
    if path.is_file():
        return _resolve_file(text, path.resolve(), cache_root(cache_dir), options)
    if path.exists() or path.is_symlink():
        error = SourceError if path.exists() else NotFoundError  # a device or FIFO, or a dangling link
        raise error(f"{clip(text, 300)} is neither a folder nor a file (a broken link, a device or a FIFO?)")
    handle = hub_handle(text)
    if handle is not None:
        return _resolve_url(text, handle, "handle", cache_root(cache_dir), options)
    scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", text)
    if scheme:
        raise SourceError(f"{clip(text, 300)}: {scheme.group(1)}:// is not supported; give a local path, an "
                          "http(s):// URL of a .tar.gz archive, or a model-hub handle")
    raise NotFoundError(f"no such file or directory: {clip(text, 300)}")
