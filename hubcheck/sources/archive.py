"""Unpack a tar archive that a stranger made: one pass, bounded in every dimension, files and folders only.

This module can be read on its own; it knows nothing about caches, URLs or SavedModels.
:func:`unpack` reads a binary stream once from where it stands to its end, and in that one pass

* hashes every byte it reads (the archive's SHA-256 is the hash of exactly the bytes unpacked, so
  a file swapped or rewritten while hubcheck reads it cannot be cached under another file's hash);
* decompresses gzip (also multi-member), bzip2 or xz on demand, never more than one chunk ahead
  (a compression bomb costs the size cap, not memory);
* parses tar headers itself, iteratively: ustar, GNU (long names ``L``, long link names ``K``)
  and pax (``x``, ``g``) headers. Every header block counts against the member cap, every byte of
  the tar stream (headers, extension data, file data, padding) against the size cap, a name is at
  most :data:`MAX_NAME_BYTES` and :data:`MAX_DEPTH` folders deep, a pax header at most
  :data:`MAX_PAX_BYTES`, and at most :data:`MAX_EXTENSION_HEADERS` extension headers may precede
  one member;
* creates only regular files and folders, under names checked before anything is written: no
  absolute path, no ``..``, no backslash, valid UTF-8 without control characters, each component at
  most 255 bytes, no member twice, no two names that differ only in case or Unicode normalization
  (they would collide on macOS and Windows), no name both a file and a folder. Links of every kind,
  devices, FIFOs, sparse files and unknown member types are refused, so nothing can be written
  outside the target folder;
* stops at a deadline.

Anything unacceptable raises :class:`~hubcheck.sources.errors.ArchiveError`, whose message
completes the sentence "the archive X ..." and quotes archive-controlled text only in bounded form.

Why not :mod:`tarfile`: it follows chained GNU long-name and pax headers by recursion (a few
thousand of them in a small gzip raise ``RecursionError``), reads a long name of any size into
memory before anything can check it, and does not count header data against any limit. Checking
its members after the fact cannot fix that, so hubcheck reads the (simple) tar format itself.
"""

from __future__ import annotations

import bz2
import errno
import hashlib
import lzma
import os
import re
import time
import unicodedata
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from hubcheck.sources.errors import ArchiveError, CacheError, clip, human_size, quote

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_MEMBERS",
    "MAX_EXTENSION_HEADERS",
    "MAX_NAME_BYTES",
    "MAX_PAX_BYTES",
    "Limits",
    "looks_like_tar",
    "sha256_of",
    "unpack",
]

BLOCK = 512
DEFAULT_MAX_BYTES = 4 << 30  # bounds the archive file and, separately, the tar stream it decompresses to
DEFAULT_MAX_MEMBERS = 10_000  # header blocks; a SavedModel has a handful of files, an archive bomb millions
MAX_NAME_BYTES = 4096  # PATH_MAX on Linux; a GNU long name or pax path beyond it is refused unread
MAX_COMPONENT_BYTES = 255  # NAME_MAX on every common file system
MAX_DEPTH = 64  # folders in a member's path; a SavedModel needs 2 or 3, tools that recurse need a bound
MAX_PAX_BYTES = 1 << 20  # one pax header's records (paths, times, extended attributes)
MAX_EXTENSION_HEADERS = 8  # GNU L/K and pax x/g headers in a row before a member; tools write at most 3
SNIFF_BYTES = 1 << 20  # raw bytes looks_like_tar() may read

_READ = 1 << 20  # raw bytes read at a time
_OUT = 1 << 20  # decompressed bytes produced at a time
_FEED = 64 << 10  # compressed bytes given to the decoder at a time
_XZ_MEMORY = 256 << 20  # xz -9e needs 65 MiB
_ZERO_BLOCK = bytes(BLOCK)
_HIGH_BYTES = bytes(range(128, 256))
_REGULAR = frozenset({b"0", b"\0", b"7"})
_DIRECTORY = b"5"
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_OCTAL = re.compile(rb"[0-7]+")
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class Limits:
    """What one archive may cost. ``deadline`` is a :func:`time.monotonic` value, ``timeout_s`` the
    number of seconds it came from (for the message)."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_members: int = DEFAULT_MAX_MEMBERS
    deadline: float | None = None
    timeout_s: float | None = None

    @classmethod
    def starting_now(cls, *, max_bytes: int = DEFAULT_MAX_BYTES, max_members: int = DEFAULT_MAX_MEMBERS,
                     timeout_s: float | None = None) -> Limits:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        return cls(max_bytes, max_members, deadline, timeout_s)

    def check_time(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise ArchiveError(f"took longer than {self.timeout_s:g} s to unpack (the time limit), "
                               "so it was not unpacked")


def _corrupt(detail: str) -> ArchiveError:
    return ArchiveError(f"is not a readable tar archive (corrupt or truncated: {clip(detail, 200)})")


# -- the archive's bytes: hashed, counted, bounded ---------------------------------------------------


class _Raw:
    def __init__(self, stream: BinaryIO, limits: Limits) -> None:
        self._stream = stream
        self._limits = limits
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self) -> bytes:
        self._limits.check_time()
        data = self._stream.read(_READ)
        if data:
            self.size += len(data)
            if self.size > self._limits.max_bytes:
                raise ArchiveError(f"is larger than {human_size(self._limits.max_bytes)} (the size limit)")
            self.digest.update(data)
        return data

    def drain(self) -> None:
        while self.read():
            pass


# -- decompression on demand -------------------------------------------------------------------------


class _Codec(Protocol):
    @property
    def eof(self) -> bool: ...

    @property
    def needs_input(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes | memoryview, max_length: int) -> bytes: ...


class _Gzip:
    """zlib's gzip decoder with the ``needs_input`` interface of bz2 and lzma."""

    def __init__(self) -> None:
        self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._tail = b""

    @property
    def eof(self) -> bool:
        return self._zlib.eof

    @property
    def needs_input(self) -> bool:
        return not self._tail

    @property
    def unused_data(self) -> bytes:
        return self._zlib.unused_data

    def decompress(self, data: bytes | memoryview, max_length: int) -> bytes:
        out = self._zlib.decompress(self._tail if not data else data, max_length)
        self._tail = self._zlib.unconsumed_tail
        return out


def _xz() -> _Codec:
    return lzma.LZMADecompressor(memlimit=_XZ_MEMORY)  # a forged header cannot ask for gigabytes


_CODECS: tuple[tuple[bytes, Callable[[], _Codec]], ...] = (
    (b"\x1f\x8b", _Gzip),
    (b"BZh", bz2.BZ2Decompressor),
    (b"\xfd7zXZ\x00", _xz),
)


class _Decoded:
    """The tar stream: the archive's bytes, decompressed when they are asked for, counted."""

    def __init__(self, raw: _Raw, limits: Limits) -> None:
        self._raw = raw
        self._limits = limits
        first = raw.read()
        self.empty = not first
        self._input = memoryview(first)  # compressed bytes not yet given to the decoder
        self._magic, make = next(((magic, make) for magic, make in _CODECS if first.startswith(magic)), (b"", None))
        self._make = make
        self._codec = make() if make is not None else None
        self.streams = 1  # compressed streams (members of a concatenated gzip, bzip2 or xz file)
        self._chunk = b""
        self._offset = 0
        self._ended = False
        self.consumed = 0

    def read(self, size: int) -> bytes:
        """Exactly ``size`` bytes, fewer only at the end of the stream."""
        parts: list[bytes] = []
        need = size
        while need:
            if self._offset >= len(self._chunk):
                if self._ended:
                    break
                self._chunk, self._offset = self._next_chunk(), 0
                continue
            piece = self._chunk[self._offset:self._offset + need]
            self._offset += len(piece)
            need -= len(piece)
            parts.append(piece)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        self.consumed += len(data)
        if self.consumed > self._limits.max_bytes:
            raise ArchiveError(f"unpacks to more than {human_size(self._limits.max_bytes)} (the size limit)")
        return data

    def _take(self, limit: int) -> memoryview:
        """Up to ``limit`` bytes of raw input, reading more when none is left (empty at the end)."""
        if not self._input:
            self._input = memoryview(self._raw.read())
        taken, self._input = self._input[:limit], self._input[limit:]
        return taken

    def _next_chunk(self) -> bytes:
        idle = 0
        while True:
            if self._codec is None:
                plain = bytes(self._take(_READ))
                self._ended = not plain
                return plain
            codec = self._codec
            if codec.eof:
                rest = codec.unused_data + self._input
                while len(rest) < len(self._magic) and (more := self._raw.read()):
                    rest += more
                self._input = memoryview(rest)
                if not rest.startswith(self._magic):
                    self._ended = True  # what follows the compressed data is hashed, not unpacked
                    return b""
                self.streams += 1  # the next member of a concatenated stream: each costs a member
                if self.streams > self._limits.max_members:
                    raise ArchiveError(f"has more than {self._limits.max_members} concatenated compressed streams")
                assert self._make is not None
                self._codec = self._make()
                continue
            data: memoryview
            if codec.needs_input:
                data = self._take(_FEED)  # small pieces: what a stream leaves over is copied, so keep it short
                if not data:
                    raise _corrupt("the compressed data ends early")
            else:
                data = memoryview(b"")
            try:
                out = codec.decompress(data, _OUT)
            except (zlib.error, OSError, lzma.LZMAError, EOFError, ValueError, MemoryError) as exc:
                raise _corrupt(f"bad compressed data: {exc}") from None
            if out:
                return out
            idle += 1
            if idle % 64 == 0:
                self._limits.check_time()
            if idle > 1_000_000:  # input consumed without output or end: a decoder that makes no progress
                raise _corrupt("the compressed data makes no progress")


# -- tar headers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Header:
    name: bytes
    linkname: bytes
    type: bytes
    size: int


def _nts(field: bytes) -> bytes:
    return field.split(b"\0", 1)[0]


def _number(field: bytes) -> int:
    """A numeric header field: octal text, or GNU's base-256 with the high bit set."""
    if field[:1] == b"\x80":
        return int.from_bytes(field[1:], "big")
    if field[:1] == b"\xff":
        raise _corrupt("a negative number in a header")
    text = _nts(field).strip(b" ")
    if not text:
        return 0
    if not _OCTAL.fullmatch(text):
        raise _corrupt("a header field that is not a number")
    return int(text, 8)


def _parse_header(block: bytes, index: int) -> _Header:
    unsigned = sum(block) - sum(block[148:156]) + 8 * 32
    try:
        stored = _number(block[148:156])
    except ArchiveError:
        stored = -1
    if stored != unsigned:
        high = (148 - len(block[:148].translate(None, _HIGH_BYTES))
                + BLOCK - 156 - len(block[156:].translate(None, _HIGH_BYTES)))
        if stored != unsigned - 256 * high:  # some old tars summed signed bytes
            if index == 0:
                raise ArchiveError("is not a readable tar archive (it does not start with a tar header)")
            raise _corrupt(f"header {index + 1} has a bad checksum")
    name = _nts(block[0:100])
    if block[257:263] == b"ustar\0":  # POSIX ustar: a name longer than 100 bytes is split at a "/"
        prefix = _nts(block[345:500])
        if prefix:
            name = prefix + b"/" + name
    return _Header(name, _nts(block[157:257]), block[156:157], _number(block[124:136]))


def _parse_pax(data: bytes) -> dict[str, bytes | int | bool]:
    """The records of a pax header (``"<length> <key>=<value>\\n"``), read in one loop; only the keys
    that decide what is written are kept."""
    found: dict[str, bytes | int | bool] = {}
    position, end = 0, len(data)
    while position < end:
        if data[position] == 0:  # NUL padding ends the records; anything after it is not padding
            if data[position:].strip(b"\0"):
                raise _corrupt("a malformed pax header")
            break
        space = data.find(b" ", position, min(end, position + 21))
        digits = data[position:space] if space > position else b""
        if not digits.isdigit():
            raise _corrupt("a malformed pax header")
        stop = position + int(digits)
        if stop <= space + 2 or stop > end or data[stop - 1:stop] != b"\n":
            raise _corrupt("a malformed pax header")
        key, equals, value = data[space + 1:stop - 1].partition(b"=")
        if not equals or not key:
            raise _corrupt("a malformed pax header")
        if key == b"path":
            found["path"] = value
        elif key == b"linkpath":
            found["linkname"] = value
        elif key == b"size":
            if not value.isdigit() or len(value) > 20:
                raise _corrupt("a pax header with a bad size")
            found["size"] = int(value)
        elif key.startswith(b"GNU.sparse."):
            found["sparse"] = True
        position = stop
    return {key: value for key, value in found.items() if value != b""}  # "path=" restores the header's own


def _padding(size: int) -> int:
    return -size % BLOCK


def _fold(part: str) -> str:
    """What a case-insensitive, normalization-insensitive file system (macOS, Windows) sees."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", part).casefold())


def _kind_of(kind: bytes, linkname: bytes) -> str:
    if kind == b"2":
        return f"a symbolic link to {quote(linkname)}"
    if kind == b"1":
        return f"a hard link to {quote(linkname)}"
    if kind in (b"3", b"4"):
        return "a device file"
    if kind == b"6":
        return "a FIFO"
    if kind == b"S":
        return "a sparse file"
    return f"of unsupported tar type {quote(kind)}"


def _parts(raw: bytes) -> tuple[str, tuple[str, ...]]:
    """The member name, checked, and its path components."""
    if len(raw) > MAX_NAME_BYTES:
        raise ArchiveError(f"has a member name of {len(raw)} bytes, more than the {MAX_NAME_BYTES}-byte limit "
                           f"({quote(raw, 60)})")
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ArchiveError(f"has a member name that is not UTF-8 ({quote(raw)})") from None
    if _CONTROL.search(name):
        raise ArchiveError(f"has a member name with a control character ({quote(name)})")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise ArchiveError(f"has a member with an absolute path ({quote(name)})")
    if "\\" in name:
        raise ArchiveError(f"has a member with a backslash in its path ({quote(name)})")
    parts = tuple(part for part in name.split("/") if part not in ("", "."))
    if ".." in parts:
        raise ArchiveError(f"has a member whose path leaves the archive's folder ({quote(name)})")
    if len(parts) > MAX_DEPTH:
        raise ArchiveError(f"has a member nested {len(parts)} folders deep, more than the limit of {MAX_DEPTH} "
                           f"({quote(name, 60)})")
    if any(len(part.encode("utf-8")) > MAX_COMPONENT_BYTES for part in parts):
        raise ArchiveError(f"has a member name with a component longer than {MAX_COMPONENT_BYTES} bytes "
                           f"({quote(name)})")
    return name, parts


# -- unpacking ---------------------------------------------------------------------------------------


class _Unpacker:
    def __init__(self, stream: _Decoded, dest: Path, limits: Limits) -> None:
        self._stream = stream
        self._root = os.fspath(dest)
        self._limits = limits
        self._seen: dict[tuple[str, ...], tuple[str, tuple[str, ...]]] = {}  # folded path -> (kind, real parts)
        self.headers = 0

    def run(self) -> None:
        pending: dict[str, bytes | int | bool] = {}
        extensions = 0
        while True:
            self._limits.check_time()
            block = self._stream.read(BLOCK)
            if not block:
                if pending:
                    raise _corrupt("the archive ends after an extension header")
                return  # no end-of-archive blocks: tolerated, as tar tolerates it
            if len(block) < BLOCK:
                raise _corrupt("the archive ends inside a header")
            if block == _ZERO_BLOCK:  # the end-of-archive marker (an archive of nothing is only that)
                if pending:
                    raise _corrupt("an extension header without a member")
                return
            self.headers += 1
            if self.headers > self._limits.max_members:
                raise ArchiveError(f"has more than {self._limits.max_members} members (the limit; every header "
                                   "counts, long-name and pax headers too)")
            header = _parse_header(block, self.headers - 1)
            if header.type in (b"L", b"K", b"x", b"g"):
                extensions += 1
                if extensions > MAX_EXTENSION_HEADERS:
                    raise ArchiveError(f"has more than {MAX_EXTENSION_HEADERS} extension headers (GNU long names "
                                       "or pax headers) in a row; an archive needs at most 3 before a member")
                self._extension(header, pending)
                continue
            extensions = 0
            self._member(header, pending)
            pending = {}

    def _extension_data(self, header: _Header, limit: int, what: str) -> bytes:
        if header.size > limit:
            raise ArchiveError(f"has {what} of {header.size} bytes, more than the {limit}-byte limit")
        data = self._stream.read(header.size + _padding(header.size))
        if len(data) < header.size:
            raise _corrupt(f"the archive ends inside {what}")
        return data[:header.size]

    def _extension(self, header: _Header, pending: dict[str, bytes | int | bool]) -> None:
        if header.type in (b"L", b"K"):
            data = self._extension_data(header, MAX_NAME_BYTES, "a GNU long name")
            pending["name" if header.type == b"L" else "gnu-linkname"] = _nts(data)
        else:
            records = _parse_pax(self._extension_data(header, MAX_PAX_BYTES, "a pax header"))
            if header.type == b"x":  # a global header ("g", e.g. git archive's commit id) changes nothing here
                pending.update(records)

    def _member(self, header: _Header, pending: dict[str, bytes | int | bool]) -> None:
        raw_name = pending.get("path", pending.get("name", header.name))
        size = pending.get("size", header.size)
        assert isinstance(raw_name, bytes) and isinstance(size, int)
        name, parts = _parts(raw_name)
        kind = header.type
        if kind == b"\0" and name.endswith("/"):
            kind = _DIRECTORY  # the old V7 spelling of a folder
        if pending.get("sparse"):
            kind = b"S"
        if kind == _DIRECTORY:
            self._directory(name, parts)
        elif kind in _REGULAR:
            self._file(name, parts, size)
        else:
            linkname = pending.get("linkname", pending.get("gnu-linkname", header.linkname))
            assert isinstance(linkname, bytes)
            raise ArchiveError(f"has a member {quote(name)} that is {_kind_of(kind, linkname)}; "
                               "hubcheck extracts only regular files and folders")

    def _claim(self, name: str, parts: tuple[str, ...], kind: str) -> bool:
        """Record ``parts`` as ``kind``; False when it is a folder seen before under this very name."""
        key = tuple(_fold(part) for part in parts)
        seen = self._seen.get(key)
        if seen is None:
            self._seen[key] = (kind, parts)
            return True
        seen_kind, seen_parts = seen
        if seen_parts != parts:
            raise ArchiveError(f"has two members whose names differ only in case or Unicode form "
                               f"({quote('/'.join(seen_parts), ascii_only=True)} and {quote(name, ascii_only=True)}); "
                               "they would be one file on macOS and Windows")
        if kind == seen_kind == "dir":
            return False
        if kind != seen_kind:
            raise ArchiveError(f"has {quote(name)} both as a file and as a folder")
        raise ArchiveError(f"has the member {quote(name)} twice")

    def _directories(self, name: str, parts: tuple[str, ...]) -> None:
        for end in range(1, len(parts) + 1):
            if self._claim(name if end == len(parts) else "/".join(parts[:end]), parts[:end], "dir"):
                self._os(os.mkdir, os.path.join(self._root, *parts[:end]), 0o755)

    def _directory(self, name: str, parts: tuple[str, ...]) -> None:
        if parts:  # not the archive's root folder itself ("./")
            self._directories(name, parts)

    def _file(self, name: str, parts: tuple[str, ...], size: int) -> None:
        if not parts:
            raise ArchiveError(f"has a file member without a name ({quote(name)})")
        if self._stream.consumed + size > self._limits.max_bytes:
            raise ArchiveError(f"unpacks to more than {human_size(self._limits.max_bytes)} (the size limit)")
        self._directories("/".join(parts[:-1]), parts[:-1])
        self._claim(name, parts, "file")
        path = os.path.join(self._root, *parts)
        descriptor = self._os(os.open, path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o644)
        with os.fdopen(descriptor, "wb") as out:
            remaining = size
            while remaining:
                chunk = self._stream.read(min(remaining, _OUT))
                if not chunk:
                    raise _corrupt(f"the archive ends inside {quote(name)}")
                self._os(out.write, chunk)
                remaining -= len(chunk)
        self._stream.read(_padding(size))  # missing padding at the very end is tolerated, as tar does

    def _os(self, call: Callable[..., int | None], *args: object) -> int:
        try:
            return call(*args) or 0
        except OSError as exc:
            if exc.errno in _DISK_ERRNOS:  # our side, not the archive's: the cache is full or read-only
                raise CacheError(f"cannot unpack into {os.path.dirname(self._root)}: "
                                 f"{exc.strerror or exc}") from None
            if exc.errno == errno.ENAMETOOLONG:
                raise ArchiveError("has a member path too long for this file system") from None
            raise ArchiveError(f"could not be unpacked ({exc.strerror or type(exc).__name__})") from None


def unpack(stream: BinaryIO, dest: str | os.PathLike[str], limits: Limits | None = None) -> str:
    """Unpack the tar archive read from ``stream`` into the existing, empty folder ``dest``.

    Returns the SHA-256 (hex) of every byte read from ``stream``, which is read once, to its end.
    Raises :class:`ArchiveError` when the archive is not acceptable (``dest`` then holds part of it:
    the caller unpacks into a temporary folder and removes it), and :class:`CacheError` when
    ``dest``'s file system is full or read-only.
    """
    limits = limits or Limits()
    raw = _Raw(stream, limits)
    decoded = _Decoded(raw, limits)
    if decoded.empty:
        raise ArchiveError("is not a readable tar archive (it is empty)")
    _Unpacker(decoded, Path(dest), limits).run()
    raw.drain()
    return raw.digest.hexdigest()


def sha256_of(stream: BinaryIO, limits: Limits | None = None) -> str:
    """The SHA-256 (hex) of ``stream`` from where it stands to its end, within ``limits``' size and time."""
    raw = _Raw(stream, limits or Limits())
    raw.drain()
    return raw.digest.hexdigest()


def looks_like_tar(stream: BinaryIO) -> bool:
    """Whether ``stream`` starts with a tar header, plain or gzip/bzip2/xz-compressed.

    Reads at most :data:`SNIFF_BYTES`, decompresses at most a chunk, never raises (anything that
    goes wrong means "no"), and puts the stream back at its start.
    """
    try:
        limits = Limits(max_bytes=SNIFF_BYTES, deadline=time.monotonic() + 10, timeout_s=10)
        block = _Decoded(_Raw(stream, limits), limits).read(BLOCK)
        if len(block) < BLOCK or block == _ZERO_BLOCK:
            return False
        _parse_header(block, 0)
        return True
    except Exception:  # noqa: BLE001  (hostile bytes may raise anything; the answer is then "not a tar")
        return False
    finally:
        try:
            stream.seek(0)
        except (OSError, ValueError):
            pass
