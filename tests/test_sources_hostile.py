"""Hostile archives, servers and cache states (issue #17): each costs a report or a documented exit code.

Every case checks what a user of hubcheck relies on: no traceback (only SourceError, with an exit
code, may escape resolve_model), a bounded message, nothing written outside the cache, no lock or
temporary folder left behind, no wait past the bounds it was given, and an honest run afterwards
gets the honest model. The archives are crafted byte by byte (tarfile cannot write most of them);
servers listen on 127.0.0.1 only, and every wait is bounded by small timeouts given as parameters.
The six routes of the issue each have a section; "held" cases guard what already worked.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import socket
import ssl
import stat
import subprocess
import threading
import time
import tracemalloc
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cache_support import leftovers, sha1

from hubcheck.sources import (
    EMPTY_HASH,
    CacheError,
    FetchError,
    ResolvedModel,
    SourceError,
    content_hash,
    resolve_model,
)
from hubcheck.sources import archive as archive_module
from hubcheck.sources import lock as lock_module
from hubcheck.sources import resolve as resolve_module
from hubcheck.sources.archive import Limits, looks_like_tar, unpack
from hubcheck.sources.errors import ArchiveError

MAX_MESSAGE = 1000  # every problem and error message is at most this long

# -- crafting tar archives byte by byte ----------------------------------------------------------------


def header(name: bytes, size: int = 0, kind: bytes = b"0", *, linkname: bytes = b"", prefix: bytes = b"",
           magic: bytes = b"ustar\x0000", mode: int = 0o644) -> bytes:
    block = bytearray(512)
    block[0:min(len(name), 100)] = name[:100]
    block[100:108] = b"%07o\0" % mode
    block[108:124] = b"0000000\0" * 2
    block[124:136] = b"%011o\0" % size
    block[136:148] = b"%011o\0" % 0
    block[148:156] = b" " * 8
    block[156:157] = kind
    block[157:157 + min(len(linkname), 100)] = linkname[:100]
    block[257:265] = magic
    block[345:345 + len(prefix)] = prefix
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def pad(size: int) -> bytes:
    return bytes(-size % 512)


def member(name: bytes | str, data: bytes = b"", kind: bytes = b"0", **kwargs: Any) -> bytes:
    raw = name.encode() if isinstance(name, str) else name
    return header(raw, len(data), kind, **kwargs) + data + pad(len(data))


def longname(name: bytes, kind: bytes = b"L") -> bytes:
    data = name + b"\0"
    return header(b"././@LongLink", len(data), kind) + data + pad(len(data))


def pax(records: dict[bytes, bytes], kind: bytes = b"x") -> bytes:
    body = b""
    for key, value in records.items():
        record = b" " + key + b"=" + value + b"\n"
        length = len(record) + 1
        while len(str(length)) + len(record) != length:
            length = len(str(length)) + len(record)
        body += str(length).encode() + record
    return header(b"./PaxHeaders/x", len(body), kind) + body + pad(len(body))


END = bytes(1024)
MODEL = (member("saved_model.pb", b"honest graph") + member("variables/", kind=b"5")
         + member("variables/variables.index", b"honest index"))
EVIL_MODEL = (member("saved_model.pb", b"EVIL graph") + member("variables/", kind=b"5")
              + member("variables/variables.index", b"EVIL index"))


def tgz(*parts: bytes) -> bytes:
    return gzip.compress(b"".join(parts) + END, mtime=0)


def honest_folder(root: Path) -> Path:
    (root / "variables").mkdir(parents=True)
    (root / "saved_model.pb").write_bytes(b"honest graph")
    (root / "variables" / "variables.index").write_bytes(b"honest index")
    return root


HONEST = tgz(MODEL)
EVIL = tgz(EVIL_MODEL)


# -- the environment -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No proxy between the tests and 127.0.0.1; no test touches the user's real cache."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "env-cache"))
    monkeypatch.setattr(lock_module, "LOCK_POLL_S", 0.02)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def outside_snapshot(tmp_path: Path, cache: Path) -> set[str]:
    """Every path under tmp_path (and beside it) that is not in the cache."""
    found = {str(p) for p in tmp_path.parent.glob("*") if not str(p).startswith(str(tmp_path))}
    for path in tmp_path.rglob("*"):
        if cache not in path.parents and path != cache:
            found.add(str(path))
    return found


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def bounded(message: str | None) -> str:
    assert message is not None
    assert len(message) <= MAX_MESSAGE and "\n" not in message, message[:300]
    return message


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / "uploads" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return path


def rejected(tmp_path: Path, cache: Path, name: str, data: bytes, **kwargs: Any) -> ResolvedModel:
    """Resolve a hostile local archive: a bounded problem, an empty folder, nothing cached or escaped."""
    before = outside_snapshot(tmp_path, cache)
    path = write(tmp_path, name, data)
    resolved = resolve_model(str(path), cache_dir=cache, **kwargs)
    assert resolved.kind == "archive"
    bounded(resolved.problem)
    assert resolved.local_path.is_dir() and not any(resolved.local_path.iterdir())
    assert resolved.content_hash == EMPTY_HASH
    archives = cache / "hubcheck" / "archives"
    assert not archives.exists() or not [p for p in archives.iterdir() if p.is_dir()]
    assert leftovers(cache) == []
    assert outside_snapshot(tmp_path, cache) == before | {str(path), str(path.parent)}
    honest = resolve_model(str(write(tmp_path, "honest.tar.gz", HONEST)), cache_dir=cache)
    assert honest.problem is None and (honest.local_path / "saved_model.pb").read_bytes() == b"honest graph"
    return resolved


# -- route 1: chained extension headers must not recurse -----------------------------------------------


@pytest.mark.parametrize("extension", [
    pytest.param(lambda i: longname(b"a" * 60), id="gnu-longname"),
    pytest.param(lambda i: longname(b"b" * 60, b"K"), id="gnu-longlink"),
    pytest.param(lambda i: pax({b"path": b"p" * 60}), id="pax"),
    pytest.param(lambda i: pax({b"comment": b"c"}, b"g"), id="pax-global"),
    pytest.param(lambda i: longname(b"a" * 60) if i % 2 else pax({b"path": b"x"}), id="alternating"),
])
def test_3000_chained_extension_headers_are_a_problem(extension: Callable[[int], bytes], tmp_path: Path,
                                                     cache: Path) -> None:
    data = tgz(*(extension(i) for i in range(3000)), MODEL)
    assert len(data) < 100_000
    started = time.monotonic()
    resolved = rejected(tmp_path, cache, "chain.tar.gz", data)
    assert "extension headers" in (resolved.problem or "")
    assert time.monotonic() - started < 5


def test_the_same_bytes_named_model_h5_are_sniffed_without_recursion(tmp_path: Path, cache: Path) -> None:
    data = tgz(*(longname(b"a" * 60) for _ in range(3000)), MODEL)
    assert looks_like_tar(io.BytesIO(data))
    resolved = rejected(tmp_path, cache, "model.h5", data)
    assert "extension headers" in (resolved.problem or "")


@pytest.mark.parametrize("data", [
    b"", b"\x1f", b"\x1f\x8b", gzip.compress(b"x" * 10)[:12], b"BZh9" + b"\0" * 100, b"\xfd7zXZ\x00garbage",
    b"\x89HDF\r\n\x1a\n" + bytes(600), bytes(512), os.urandom(4096), gzip.compress(bytes(1 << 22)),
], ids=["empty", "gzip-1", "gzip-2", "gzip-cut", "bzip2-junk", "xz-junk", "hdf5", "zeros", "random", "gzip-zeros"])
def test_sniffing_never_raises_and_rewinds(data: bytes) -> None:
    stream = io.BytesIO(data)
    assert looks_like_tar(stream) is False
    assert stream.tell() == 0


def test_a_keras_file_is_still_a_file(tmp_path: Path, cache: Path) -> None:
    model = write(tmp_path, "model.h5", b"\x89HDF\r\n\x1a\n" + bytes(2048))
    resolved = resolve_model(str(model), cache_dir=cache)
    assert (resolved.kind, resolved.problem) == ("file", None)


# -- route 2: names and headers are counted and capped ---------------------------------------------------


def _gzip_stream(*pieces: bytes | tuple[bytes, int]) -> bytes:
    """gzip of pieces, where (byte, count) is that byte repeated, compressed without building it."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = []
    for piece in pieces:
        if isinstance(piece, tuple):
            value, count = piece
            chunk = value * (1 << 20)
            for _ in range(count >> 20):
                out.append(compressor.compress(chunk))
            out.append(compressor.compress(value * (count & ((1 << 20) - 1))))
        else:
            out.append(compressor.compress(piece))
    out.append(compressor.flush())
    return b"".join(out)


def test_a_32_mib_long_name_costs_neither_memory_nor_report_space(tmp_path: Path, cache: Path) -> None:
    size = 32 << 20
    data = _gzip_stream(header(b"././@LongLink", size, b"L"), (b"a", size), pad(size), MODEL, END)
    assert len(data) < 64_000
    tracemalloc.start()
    try:
        resolved = rejected(tmp_path, cache, "longname.tar.gz", data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "GNU long name of 33554432 bytes" in (resolved.problem or "")
    assert peak < 16 << 20


def test_a_long_name_announced_but_never_sent_is_refused_unread(tmp_path: Path, cache: Path) -> None:
    resolved = rejected(tmp_path, cache, "huge-longname.tar.gz", tgz(header(b"././@LongLink", 1 << 40, b"L")))
    assert "more than the 4096-byte limit" in (resolved.problem or "")


@pytest.mark.parametrize(("parts", "expected"), [
    ((pax({b"path": b"n" * 10_000}), member("x", b"1")), "member name of 10000 bytes"),
    ((pax({b"comment": b"c" * (2 << 20)}),), "pax header of"),
    ((pax({b"linkpath": b"L" * 500_000}), member("l", kind=b"2")), "symbolic link to 'LLLL"),
    ((longname(b"d/" * 100 + b"f"), member("x", b"1")), "nested 101 folders deep"),
    ((member("a\nb", b"1"),), "control character"),
    ((longname(b"a\n" * 2000), member("x", b"1")), "control character"),
    ((longname(b"c" * 256), member("x", b"1")), "component longer than 255 bytes"),
    ((longname("é".encode("latin-1")), member("x", b"1")), "not UTF-8"),
    ((pax({b"path": b"a\0b"}), member("x", b"1")), "control character"),
    ((pax({b"GNU.sparse.major": b"1"}), member("x", b"1")), "sparse file"),
    ((header(b"x", 0, b"0")[:100] + b"garbage" + bytes(405),), "bad checksum"),
])
def test_hostile_names_and_headers_are_bounded_problems(parts: tuple[bytes, ...], expected: str, tmp_path: Path,
                                                        cache: Path) -> None:
    resolved = rejected(tmp_path, cache, "names.tar.gz", tgz(MODEL, *parts))
    assert expected in (resolved.problem or ""), resolved.problem


def test_every_header_counts_against_the_member_cap(tmp_path: Path, cache: Path) -> None:
    six_files_with_pax = [pax({b"path": f"f{i}".encode()}) + member(f"f{i}", b"1") for i in range(6)]
    resolved = rejected(tmp_path, cache, "headers.tar.gz", tgz(MODEL, *six_files_with_pax), max_members=10)
    assert "more than 10 members" in (resolved.problem or "")


def test_header_bytes_count_against_the_size_cap(tmp_path: Path, cache: Path) -> None:
    resolved = rejected(tmp_path, cache, "pax-bytes.tar.gz", tgz(MODEL, pax({b"comment": b"c" * 200_000})),
                        max_bytes=100_000)
    assert "unpacks to more than" in (resolved.problem or "")


def test_a_compression_bomb_stops_at_the_cap(tmp_path: Path, cache: Path) -> None:
    size = 64 << 20
    data = _gzip_stream(MODEL, header(b"bomb", size), (b"\0", size), END)
    started = time.monotonic()
    resolved = rejected(tmp_path, cache, "bomb.tar.gz", data, max_bytes=4 << 20)
    assert "unpacks to more than 4.0 MiB" in (resolved.problem or "")
    assert time.monotonic() - started < 5


def test_a_gzip_of_200k_empty_members_stops_at_the_member_cap(tmp_path: Path, cache: Path) -> None:
    data = gzip.compress(MODEL[:512]) + gzip.compress(b"") * 200_000 + gzip.compress(MODEL[512:] + END)
    started = time.monotonic()
    resolved = rejected(tmp_path, cache, "members.tar.gz", data)
    assert "concatenated compressed streams" in (resolved.problem or "")
    assert time.monotonic() - started < 5


def test_an_xz_archive_cannot_ask_for_gigabytes_of_dictionary(tmp_path: Path, cache: Path) -> None:
    import lzma
    import struct

    data = lzma.compress(MODEL + END, format=lzma.FORMAT_XZ, filters=[{"id": lzma.FILTER_LZMA2, "dict_size": 1 << 20}])
    size = (data[12] + 1) * 4  # the block header: make its LZMA2 properties claim a 1 GiB dictionary
    block = bytearray(data[12:12 + size])
    block[block.index(b"\x21\x01") + 2] = 36
    block[-4:] = struct.pack("<I", zlib.crc32(bytes(block[:-4])))
    data = data[:12] + bytes(block) + data[12 + size:]
    assert len(lzma.LZMADecompressor().decompress(data)) == len(MODEL + END)  # valid, just greedy
    resolved = rejected(tmp_path, cache, "dict.tar.xz", data)
    assert "not a readable tar archive" in (resolved.problem or "")


def test_an_unprintable_archive_file_name_is_escaped(tmp_path: Path, cache: Path) -> None:
    name = os.fsdecode(b"bad-\xff\x1b[31m.tar.gz")
    resolved = rejected(tmp_path, cache, name, tgz(member("../x", b"1")))
    assert "\x1b" not in (resolved.problem or "") and "\udcff" not in (resolved.problem or "")
    (resolved.problem or "").encode("utf-8")  # the message can be written as UTF-8, whatever the name
    json.dumps(resolved.to_json())


def test_a_listing_of_long_names_at_the_root_is_bounded(tmp_path: Path, cache: Path) -> None:
    names = [longname(f"{i}".encode() + b"n" * 250) + member(b"placeholder", b"1") for i in range(40)]
    resolved = rejected(tmp_path, cache, "listing.tar.gz", tgz(*names))
    assert "holds no saved_model.pb" in (resolved.problem or "")


# -- route 3: the archive that is unpacked is the archive that was hashed ----------------------------------


def test_an_archive_swapped_between_hashing_and_unpacking_cannot_poison_the_cache(
        tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "model.tar.gz", HONEST)
    real = resolve_module.sha256_of

    def hash_then_swap(stream: Any, limits: Limits) -> str:
        digest = real(stream, limits)
        swap = path.with_name("swap")
        swap.write_bytes(EVIL)
        os.replace(swap, path)  # the attacker's file now has the honest archive's name
        return digest

    monkeypatch.setattr(resolve_module, "sha256_of", hash_then_swap)
    first = resolve_model(str(path), cache_dir=cache)
    monkeypatch.setattr(resolve_module, "sha256_of", real)
    # what was hashed (the honest bytes, still open) is what was unpacked
    assert first.archive_hash == sha256(HONEST)
    assert (first.local_path / "saved_model.pb").read_bytes() == b"honest graph"
    honest = resolve_model(str(write(tmp_path, "again.tar.gz", HONEST)), cache_dir=cache)
    assert honest.cached and (honest.local_path / "saved_model.pb").read_bytes() == b"honest graph"
    evil = resolve_model(str(path), cache_dir=cache)
    assert evil.archive_hash == sha256(EVIL) and evil.local_path != honest.local_path


def test_an_archive_rewritten_in_place_while_read_is_a_problem_and_not_cached(
        tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "model.tar.gz", HONEST + bytes(len(EVIL)))  # room for the evil bytes
    real = resolve_module.sha256_of

    def hash_then_rewrite(stream: Any, limits: Limits) -> str:
        digest = real(stream, limits)
        with open(path, "r+b") as same_file:
            same_file.write(EVIL)
        return digest

    monkeypatch.setattr(resolve_module, "sha256_of", hash_then_rewrite)
    resolved = resolve_model(str(path), cache_dir=cache)
    monkeypatch.setattr(resolve_module, "sha256_of", real)
    assert "changed while hubcheck read it" in bounded(resolved.problem)
    assert not [p for p in (cache / "hubcheck" / "archives").iterdir() if p.is_dir()]
    honest = resolve_model(str(write(tmp_path, "honest.tar.gz", HONEST)), cache_dir=cache)
    assert (honest.local_path / "saved_model.pb").read_bytes() == b"honest graph"


def test_a_tampered_unpacked_archive_is_unpacked_again(tmp_path: Path, cache: Path) -> None:
    path = write(tmp_path, "model.tar.gz", HONEST)
    first = resolve_model(str(path), cache_dir=cache)
    (first.local_path / "saved_model.pb").write_bytes(b"EVIL graph")
    again = resolve_model(str(path), cache_dir=cache)
    assert not again.cached and (again.local_path / "saved_model.pb").read_bytes() == b"honest graph"
    assert again.content_hash == first.content_hash
    assert leftovers(cache) == []


def test_unpack_hashes_exactly_the_bytes_it_read(tmp_path: Path) -> None:
    stream = io.BytesIO(HONEST + b"trailing bytes after the gzip stream")
    assert unpack(stream, tmp_path, Limits()) == hashlib.sha256(stream.getvalue()).hexdigest()


# -- what already held, kept from regressing ----------------------------------------------------------------

HELD = {
    "dotdot": (member("../evil", b"x"), "leaves the archive's folder"),
    "deep-dotdot": (member("variables/../../evil", b"x"), "leaves the archive's folder"),
    "absolute": (member("/tmp/hubcheck-hostile-evil", b"x"), "absolute path"),
    "windows-absolute": (member("C:/evil", b"x"), "absolute path"),
    "backslash": (member("..\\evil", b"x"), "backslash"),
    "pax-path-dotdot": (pax({b"path": b"../evil"}) + member("innocent", b"x"), "leaves the archive's folder"),
    "pax-path-absolute": (pax({b"path": b"/tmp/hubcheck-hostile-evil"}) + member("innocent", b"x"), "absolute path"),
    "gnu-longname-dotdot": (longname(b"../" * 40 + b"evil") + member("innocent", b"x"), "leaves the archive"),
    "ustar-prefix-dotdot": (member("evil", b"x", prefix=b".."), "leaves the archive's folder"),
    "symlink": (member("variables/link", kind=b"2", linkname=b"/etc/passwd"), "symbolic link to '/etc/passwd'"),
    "symlink-then-write": (member("v", kind=b"2", linkname=b"/tmp") + member("v/evil", b"x"), "symbolic link"),
    "hardlink": (member("passwd", kind=b"1", linkname=b"/etc/passwd"), "hard link to '/etc/passwd'"),
    "char-device": (member("null", kind=b"3"), "a device file"),
    "block-device": (member("sda", kind=b"4"), "a device file"),
    "fifo": (member("fifo", kind=b"6"), "a FIFO"),
    "unknown-type": (member("odd", kind=b"Z"), "unsupported tar type 'Z'"),
    "gnu-sparse": (member("sparse", kind=b"S"), "sparse file"),
    "duplicate": (member("saved_model.pb", b"second"), "twice"),
    "case-twin": (member("Saved_Model.pb", b"x"), "differ only in case"),
    "unicode-twin": (member("caf\u00e9", b"x") + member("cafe\u0301", b"y"), "Unicode form"),
    "file-then-folder": (member("variables/variables.index/x", b"x"), "both as a file and as a folder"),
}


@pytest.mark.parametrize("name", sorted(HELD))
def test_held_unsafe_members(name: str, tmp_path: Path, cache: Path) -> None:
    parts, expected = HELD[name]
    resolved = rejected(tmp_path, cache, f"{name}.tar.gz", tgz(MODEL, parts))
    assert expected in (resolved.problem or ""), resolved.problem
    assert not Path("/tmp/hubcheck-hostile-evil").exists()


@pytest.mark.parametrize(("data", "expected"), [
    (HONEST[: len(HONEST) // 2], "not a readable tar archive"),
    (b"<html>Sign in</html>", "not a readable tar archive"),
    (gzip.compress(MODEL + member("big", b"x" * 4096) + END)[:-2000], "not a readable tar archive"),
    (b"", "not a readable tar archive"),
], ids=["truncated", "html", "truncated-inside-member", "empty-file"])
def test_held_corrupt_archives(data: bytes, expected: str, tmp_path: Path, cache: Path) -> None:
    resolved = rejected(tmp_path, cache, "corrupt.tar.gz", data)
    assert expected in (resolved.problem or "")


@pytest.mark.parametrize("compress", [gzip.compress, lambda d: __import__("bz2").compress(d),
                                      lambda d: __import__("lzma").compress(d), lambda d: d,
                                      lambda d: gzip.compress(d[:3000]) + gzip.compress(d[3000:])],
                         ids=["gzip", "bzip2", "xz", "plain", "multi-member-gzip"])
def test_honest_archives_in_every_packing(compress: Callable[[bytes], bytes], tmp_path: Path, cache: Path) -> None:
    resolved = resolve_model(str(write(tmp_path, "model.tar", compress(MODEL + END))), cache_dir=cache)
    assert resolved.problem is None
    assert resolved.content_hash == content_hash(honest_folder(tmp_path / "expected"))


def test_honest_archives_from_tarfile_with_long_names(tmp_path: Path, cache: Path) -> None:
    import tarfile

    folder = honest_folder(tmp_path / "export")
    deep = folder / "assets" / ("d" * 120) / ("e" * 120)
    deep.mkdir(parents=True)
    (deep / ("f" * 200)).write_bytes(b"asset")
    for tar_format in (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT):
        buffer = io.BytesIO()
        try:
            with tarfile.open(fileobj=buffer, mode="w:gz", format=tar_format) as tar:
                tar.add(folder, arcname=".")
        except ValueError:  # ustar cannot hold these names: nothing to compare
            continue
        resolved = resolve_model(str(write(tmp_path, f"f{tar_format}.tar.gz", buffer.getvalue())), cache_dir=cache)
        assert resolved.problem is None, resolved.problem
        assert resolved.content_hash == content_hash(folder)


# -- an HTTP server that misbehaves on request ----------------------------------------------------------


Route = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Hostile:
    routes: dict[str, Route] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    stop: threading.Event = field(default_factory=threading.Event)
    port: int = 0
    scheme: str = "http"

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/{path}"


def _serve(state: Hostile, context: ssl.SSLContext | None = None) -> Iterator[Hostile]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = urlsplit(self.path).path.lstrip("/")
            state.hits[path] += 1
            route = state.routes.get(path)
            try:
                if route is None:
                    self.send_error(404, "Not Found")
                else:
                    route(self)
            except OSError:
                pass
            self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    if context is not None:
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        state.scheme = "https"
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stop.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
        assert not thread.is_alive()


@pytest.fixture
def server() -> Iterator[Hostile]:
    yield from _serve(Hostile())


def send(body: bytes, content_type: str = "application/gzip", length: int | None = None,
         headers: dict[str, str] | None = None) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body) if length is None else length))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(body)

    return route


def redirect(location: str, code: int = 302, endless_body: bool = False) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(code)
        handler.send_header("Location", location)
        handler.end_headers()
        if endless_body:  # a client that reads a redirect's body never gets anywhere
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                handler.wfile.write(b"x" * 65536)

    return route


def trickle(state: Hostile, interval: float, chunk: bytes = b"\x1f", announce: int = 1 << 20) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(announce))
        handler.end_headers()
        deadline = time.monotonic() + 10
        while not state.stop.is_set() and time.monotonic() < deadline:
            handler.wfile.write(chunk)
            handler.wfile.flush()
            time.sleep(interval)

    return route


def dribble_headers(state: Hostile, interval: float) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.wfile.write(b"HTTP/1.0 200 OK\r\nX-Slow: ")
        deadline = time.monotonic() + 10
        while not state.stop.is_set() and time.monotonic() < deadline:
            handler.wfile.write(b"a")
            handler.wfile.flush()
            time.sleep(interval)

    return route


def fetch_error(url: str, cache: Path, **kwargs: Any) -> SourceError:
    with pytest.raises(SourceError) as caught:
        resolve_model(url, cache_dir=cache, **kwargs)
    assert not isinstance(caught.value, ArchiveError)
    bounded(str(caught.value))
    assert leftovers(cache) == []
    return caught.value


# -- route 4: redirects ----------------------------------------------------------------------------------


@pytest.mark.parametrize("location", [
    "ftp://127.0.0.1/model.tar.gz", "file:///etc/passwd", "file://other-host/etc/passwd", "data:,evil",
    "gopher://127.0.0.1/x", "hxxp://127.0.0.1/x",
])
def test_redirect_to_another_scheme_is_refused(location: str, server: Hostile, cache: Path) -> None:
    server.routes["model"] = redirect(location)
    error = fetch_error(server.url("model"), cache)
    assert error.exit_code == 4 and "redirected to" in str(error)
    assert not (cache / sha1(server.url("model"))).exists()


def test_a_redirect_body_is_never_read_and_a_redirect_chain_is_bounded(server: Hostile, cache: Path) -> None:
    server.routes["good"] = send(HONEST)
    server.routes["hop"] = redirect("/good", endless_body=True)
    started = time.monotonic()
    resolved = resolve_model(server.url("hop"), cache_dir=cache, timeout_s=2)
    assert time.monotonic() - started < 3
    assert resolved.problem is None and resolved.redirected_to is not None
    assert resolved.redirected_to.startswith(server.url("good"))
    for i in range(8):
        server.routes[f"loop{i}"] = redirect(f"/loop{i + 1}")
    error = fetch_error(server.url("loop0"), cache)
    assert error.exit_code == 4 and "more than 5 redirects" in str(error)


def test_a_redirect_is_reported_and_remembered(server: Hostile, cache: Path) -> None:
    server.routes["good"] = send(HONEST)
    server.routes["model"] = redirect(server.url("good"), code=307)
    first = resolve_model(server.url("model"), cache_dir=cache)
    assert first.redirected_to is not None and first.redirected_to.startswith(server.url("good"))
    assert first.to_json()["redirected_to"] == first.redirected_to
    again = resolve_model(server.url("model"), cache_dir=cache, offline=True)
    assert again.cached and again.redirected_to == first.redirected_to
    assert again.archive_hash == first.archive_hash == sha256(HONEST)


def test_a_huge_location_is_a_bounded_fetch_error(server: Hostile, cache: Path) -> None:
    server.routes["model"] = redirect("ftp://" + "a" * 60_000)
    assert fetch_error(server.url("model"), cache).exit_code == 4


def test_a_body_longer_than_its_content_length_is_cut_and_fails_as_truncated(server: Hostile,
                                                                              cache: Path) -> None:
    server.routes["model"] = send(HONEST + bytes(1 << 20), length=len(HONEST) // 2)
    resolved = resolve_model(server.url("model"), cache_dir=cache)
    assert "not a readable tar archive" in bounded(resolved.problem)
    assert not (cache / sha1(server.url("model"))).exists() and leftovers(cache) == []


@pytest.mark.parametrize("route", ["too-many-headers", "long-header", "chunked-forever", "empty-200", "bad-status"])
def test_malformed_responses_are_bounded(route: str, server: Hostile, cache: Path) -> None:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        if route == "too-many-headers":
            handler.wfile.write(b"HTTP/1.0 200 OK\r\n" + b"X-A: b\r\n" * 500 + b"\r\n")
        elif route == "long-header":
            handler.wfile.write(b"HTTP/1.0 200 OK\r\nX-A: " + b"b" * 200_000 + b"\r\n\r\n")
        elif route == "chunked-forever":
            handler.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
            deadline = time.monotonic() + 10
            while not server.stop.is_set() and time.monotonic() < deadline:
                handler.wfile.write(b"10000\r\n" + b"\x1f" * 0x10000 + b"\r\n")
        elif route == "empty-200":
            handler.wfile.write(b"HTTP/1.0 200 OK\r\n\r\n")
        else:
            handler.wfile.write(b"HTTP/1.0 abc " + b"x" * 5000 + b"\r\n\r\n")

    server.routes["model"] = respond
    started = time.monotonic()
    try:
        resolved = resolve_model(server.url("model"), cache_dir=cache, timeout_s=1, max_bytes=8 << 20)
    except SourceError as exc:
        assert exc.exit_code == 4
        bounded(str(exc))
    else:
        bounded(resolved.problem)
    assert time.monotonic() - started < 4
    assert leftovers(cache) == []


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        pytest.skip("openssl cannot make a test certificate here")
    return key, cert


@pytest.fixture
def tls_server(certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[Hostile]:
    key, cert = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts the test certificate, nothing else changes
    yield from _serve(Hostile(), context)


def test_https_to_http_downgrade_is_refused(tls_server: Hostile, server: Hostile, cache: Path) -> None:
    server.routes["good"] = send(HONEST)
    tls_server.routes["model"] = redirect(server.url("good"))
    error = fetch_error(tls_server.url("model"), cache)
    assert error.exit_code == 4 and "from http to https" in str(error)
    assert server.hits["good"] == 0


def test_http_to_https_upgrade_is_followed(tls_server: Hostile, server: Hostile, cache: Path) -> None:
    tls_server.routes["good"] = send(HONEST)
    server.routes["model"] = redirect(tls_server.url("good"), code=301)
    resolved = resolve_model(server.url("model"), cache_dir=cache)
    assert resolved.problem is None and (resolved.redirected_to or "").startswith("https://127.0.0.1")


# -- route 5: every wait ends ---------------------------------------------------------------------------------


def test_a_trickling_server_is_cut_off_by_the_rate_floor(server: Hostile, cache: Path) -> None:
    server.routes["model"] = trickle(server, 0.05)
    started = time.monotonic()
    error = fetch_error(server.url("model"), cache, timeout_s=0.5)
    assert time.monotonic() - started < 2.5
    assert error.exit_code == 4 and "slower than" in str(error)


def test_a_fast_endless_server_is_cut_off_by_the_download_deadline(server: Hostile, cache: Path) -> None:
    server.routes["model"] = trickle(server, 0.01, chunk=b"\x1f" * 4096, announce=1 << 40)
    started = time.monotonic()
    error = fetch_error(server.url("model"), cache, timeout_s=1, download_timeout_s=1.5, max_bytes=1 << 50)
    assert time.monotonic() - started < 3.5
    assert error.exit_code == 4 and "took longer than 1.5 s" in str(error)


def test_dribbled_headers_are_cut_off_by_the_download_deadline(server: Hostile, cache: Path) -> None:
    server.routes["model"] = dribble_headers(server, 0.05)
    started = time.monotonic()
    error = fetch_error(server.url("model"), cache, timeout_s=1, download_timeout_s=1)
    assert time.monotonic() - started < 3
    assert error.exit_code == 4 and "took longer than 1 s" in str(error)


def test_a_silent_server_is_cut_off_by_the_fetch_timeout(server: Hostile, cache: Path) -> None:
    server.routes["model"] = lambda handler: server.stop.wait(10)
    started = time.monotonic()
    error = fetch_error(server.url("model"), cache, timeout_s=0.5)
    assert time.monotonic() - started < 2.5 and error.exit_code == 4


def _entry(cache: Path, url: str) -> Path:
    cache.mkdir(exist_ok=True)
    return cache / sha1(url)


@pytest.mark.parametrize("contents", [
    "attacker.1.uid", f"{socket.gethostname()}.{os.getpid()}.alive-pid", "host.1.../../../victim", "", "x" * 100_000,
])
def test_a_hostile_lock_costs_one_fetch_timeout(contents: str, server: Hostile, tmp_path: Path, cache: Path) -> None:
    server.routes["model"] = send(HONEST)
    url = server.url("model")
    entry = _entry(cache, url)
    Path(f"{entry}.lock").write_text(contents)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("must survive")
    named = Path(f"{entry}.{contents.rsplit('.', 1)[-1][:50]}.tmp")
    stop = threading.Event()

    def keep_touching() -> None:  # the rule tensorflow_hub uses ("progress in the folder the lock names") loses
        while not stop.is_set():
            with contextlib.suppress(OSError):
                named.mkdir(exist_ok=True)
                (named / f"f{time.monotonic_ns()}").write_bytes(b"progress")
            time.sleep(0.02)

    toucher = threading.Thread(target=keep_touching)
    toucher.start()
    started = time.monotonic()
    try:
        resolved = resolve_model(url, cache_dir=cache, timeout_s=0.5)
    finally:
        stop.set()
        toucher.join()
    assert time.monotonic() - started < 2.5
    assert resolved.problem is None and (resolved.local_path / "saved_model.pb").read_bytes() == b"honest graph"
    assert (victim / "keep").read_text() == "must survive"
    assert not Path(f"{entry}.lock").exists()


def test_a_lock_held_by_a_live_hubcheck_is_waited_for_until_the_deadline(server: Hostile, cache: Path) -> None:
    import fcntl

    server.routes["model"] = send(HONEST)
    url = server.url("model")
    entry = _entry(cache, url)
    holder = os.open(f"{entry}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another open file description: exactly what another hubcheck holds
    try:
        started = time.monotonic()
        with pytest.raises(FetchError, match="another process") as caught:
            resolve_model(url, cache_dir=cache, timeout_s=0.2, download_timeout_s=1)
        assert 0.9 < time.monotonic() - started < 3
        assert caught.value.exit_code == 4
    finally:
        os.close(holder)
        os.unlink(f"{entry}.lock")
    assert server.hits["model"] == 0
    assert resolve_model(url, cache_dir=cache, timeout_s=0.2).problem is None  # released: the next run downloads


def test_a_symlinked_lock_is_refused_at_once(server: Hostile, tmp_path: Path, cache: Path) -> None:
    server.routes["model"] = send(HONEST)
    url = server.url("model")
    entry = _entry(cache, url)
    target = tmp_path / "target"
    target.write_text("untouched")
    os.symlink(target, f"{entry}.lock")
    started = time.monotonic()
    with pytest.raises(CacheError, match="is a symbolic link") as caught:
        resolve_model(url, cache_dir=cache, timeout_s=5)
    assert time.monotonic() - started < 1 and caught.value.exit_code == 2
    assert target.read_text() == "untouched"


def test_unpacking_is_bounded_in_time(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    many = tgz(MODEL, *(member(f"assets/f{i}", b"") for i in range(2000)))
    clock = iter(range(10**6))
    monkeypatch.setattr(archive_module.time, "monotonic", lambda: float(next(clock)))  # every look costs 1 s
    resolved = rejected(tmp_path, cache, "slow.tar.gz", many, unpack_timeout_s=50)
    monkeypatch.undo()
    assert "took longer than 50 s to unpack" in (resolved.problem or "")


def test_the_command_line_bounds_unpacking_by_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hubcheck.sources

    seen: dict[str, Any] = {}

    def spy(spec: str, **kwargs: Any) -> ResolvedModel:
        seen.update(kwargs)
        raise SourceError("stop here")

    monkeypatch.setattr(hubcheck.sources, "resolve_model", spy)
    code, _, _ = cli(["--timeout", "123", "--fetch-timeout", "7", "--in-process", str(tmp_path / "x.tar.gz")],
                     tmp_path)
    assert code == 2 and seen["unpack_timeout_s"] == 123 and seen["timeout_s"] == 7


@pytest.mark.slow
def test_a_120k_member_archive_stops_at_the_default_member_cap(tmp_path: Path, cache: Path) -> None:
    data = gzip.compress(b"".join(header(f"f{i}".encode()) for i in range(120_000)) + END, compresslevel=1)
    started = time.monotonic()
    resolved = rejected(tmp_path, cache, "members.tar.gz", data)
    assert "more than 10000 members" in (resolved.problem or "")
    assert time.monotonic() - started < 20


# -- route 6: a cache only the user could have written ------------------------------------------------------


def test_the_default_cache_is_private_and_not_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TFHUB_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    resolved = resolve_model(str(write(tmp_path, "m.tar.gz", HONEST)))
    root = tmp_path / "xdg" / "hubcheck"
    assert root in resolved.local_path.parents
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    from hubcheck.sources import cache_root

    assert cache_root() == tmp_path / "home" / ".cache" / "hubcheck"


@pytest.mark.parametrize("mode", [0o777, 0o757])
def test_a_cache_others_can_write_is_refused(mode: int, tmp_path: Path, cache: Path) -> None:
    cache.mkdir(mode=0o700)
    cache.chmod(mode)
    with pytest.raises(CacheError, match="can be written by every user") as caught:
        resolve_model(str(write(tmp_path, "m.tar.gz", HONEST)), cache_dir=cache)
    assert caught.value.exit_code == 2 and f"chmod go-w {cache}" in str(caught.value)
    assert not (cache / "hubcheck").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a folder to another user or group")
def test_a_cache_of_another_user_or_group_is_refused(tmp_path: Path, cache: Path) -> None:
    cache.mkdir(mode=0o700)
    os.chown(cache, 12345, -1)
    with pytest.raises(CacheError, match="belongs to another user"):
        resolve_model(str(write(tmp_path, "m.tar.gz", HONEST)), cache_dir=cache)
    os.chown(cache, 0, 12345)
    cache.chmod(0o770)
    with pytest.raises(CacheError, match="written by its group"):
        resolve_model(str(write(tmp_path, "m.tar.gz", HONEST)), cache_dir=cache)


def test_a_cache_inside_a_world_writable_folder_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # no sticky bit: anyone could rename the cache away and put a link there
    with pytest.raises(CacheError, match="every user can write to"):
        resolve_model(str(write(tmp_path, "m.tar.gz", HONEST)), cache_dir=shared / "cache")
    shared.chmod(0o1777)  # like /tmp: fine
    assert resolve_model(str(write(tmp_path, "m.tar.gz", HONEST)), cache_dir=shared / "cache").problem is None


def test_a_symlinked_cache_folder_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    os.symlink(real, tmp_path / "link")
    with pytest.raises(CacheError, match="is a symbolic link"):
        resolve_model(str(write(tmp_path, "m.tar.gz", HONEST)), cache_dir=tmp_path / "link")
    assert not any(real.iterdir())


@pytest.mark.parametrize("link", ["hubcheck", "hubcheck/archives", "hubcheck/rejected"])
def test_a_symlinked_hubcheck_folder_is_refused_and_nothing_is_written_or_removed_outside(
        link: str, tmp_path: Path, cache: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "precious").mkdir(parents=True)
    (outside / "precious" / "file").write_text("keep")
    cache.mkdir(mode=0o700)
    (cache / link).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(outside, cache / link)
    for data in (HONEST, tgz(member("../evil", b"x"))) if link != "hubcheck/rejected" else (tgz(member("../e", b"x")),):
        with pytest.raises(CacheError, match="is a symbolic link") as caught:
            resolve_model(str(write(tmp_path, "m.tar.gz", data)), cache_dir=cache)
        assert caught.value.exit_code == 2
    assert sorted(p.name for p in outside.rglob("*")) == ["file", "precious"]


def test_a_planted_symlinked_entry_is_refused_and_its_target_is_not_listed(server: Hostile, tmp_path: Path,
                                                                           cache: Path) -> None:
    server.routes["model"] = send(HONEST)
    url = server.url("model")
    target = tmp_path / "secret-folder"
    target.mkdir()
    (target / "secret-file-name").write_text("x")
    entry = _entry(cache, url)
    os.symlink(target, entry)
    Path(f"{entry}.descriptor.txt").write_text(f"Archive SHA256: {'a' * 64}\n")
    for offline in (True, False):
        with pytest.raises(CacheError) as caught:
            resolve_model(url, cache_dir=cache, offline=offline)
        assert "secret-file-name" not in str(caught.value) and caught.value.exit_code == 2
    assert server.hits["model"] == 0 and (target / "secret-file-name").exists()


def test_a_planted_entry_gets_no_unverified_archive_hash(server: Hostile, tmp_path: Path, cache: Path) -> None:
    server.routes["model"] = send(HONEST)
    url = server.url("model")
    entry = _entry(cache, url)
    honest_folder(entry)
    Path(f"{entry}.descriptor.txt").write_text(f"Module: {url}\nArchive SHA256: {'a' * 64}\n")
    resolved = resolve_model(url, cache_dir=cache, offline=True)
    assert resolved.cached and resolved.archive_hash is None  # tensorflow_hub's kind of entry: nothing to verify


def test_a_changed_hubcheck_entry_is_downloaded_again(server: Hostile, cache: Path) -> None:
    server.routes["model"] = send(HONEST)
    url = server.url("model")
    first = resolve_model(url, cache_dir=cache)
    (first.local_path / "saved_model.pb").write_bytes(b"EVIL graph")
    with pytest.raises(SourceError, match="has changed since hubcheck downloaded it") as caught:
        resolve_model(url, cache_dir=cache, offline=True)
    assert caught.value.exit_code == 2
    again = resolve_model(url, cache_dir=cache)
    assert not again.cached and (again.local_path / "saved_model.pb").read_bytes() == b"honest graph"
    assert again.archive_hash == first.archive_hash and server.hits["model"] == 2
    assert leftovers(cache) == []


@pytest.mark.parametrize("plant", ["symlink-inside", "fifo-inside", "writable"])
def test_an_entry_with_links_or_loose_modes_is_refused(plant: str, server: Hostile, tmp_path: Path,
                                                      cache: Path) -> None:
    server.routes["model"] = send(HONEST)
    url = server.url("model")
    entry = honest_folder(_entry(cache, url))
    if plant == "symlink-inside":
        os.symlink("/etc/passwd", entry / "variables" / "variables.data-00000-of-00001")
    elif plant == "fifo-inside":
        os.mkfifo(entry / "fifo")
    else:
        entry.chmod(0o777)
    with pytest.raises(CacheError) as caught:
        resolve_model(url, cache_dir=cache)
    assert caught.value.exit_code == 2 and str(entry) in str(caught.value)


def test_a_symlinked_descriptor_is_not_followed(server: Hostile, tmp_path: Path, cache: Path) -> None:
    server.routes["model"] = send(HONEST)
    url = server.url("model")
    entry = honest_folder(_entry(cache, url))
    forged = tmp_path / "forged"
    forged.write_text(f"Archive SHA256: {'b' * 64}\nContent SHA256: {content_hash(entry)[7:]}\n")
    os.symlink(forged, f"{entry}.descriptor.txt")
    assert resolve_model(url, cache_dir=cache, offline=True).archive_hash is None


@pytest.mark.parametrize("plant", ["file-entry", "file-archive-entry", "fifo-descriptor", "dir-lock", "fifo-lock"])
def test_odd_things_where_entries_belong(plant: str, server: Hostile, tmp_path: Path, cache: Path) -> None:
    server.routes["model"] = send(HONEST)
    url = server.url("model")
    entry = _entry(cache, url)
    local = write(tmp_path, "m.tar.gz", HONEST)
    if plant == "file-entry":
        entry.write_bytes(b"not a folder")
    elif plant == "file-archive-entry":
        (cache / "hubcheck" / "archives").mkdir(parents=True)
        (cache / "hubcheck" / "archives" / sha256(HONEST)[7:]).write_bytes(b"not a folder")
    elif plant == "fifo-descriptor":
        os.mkfifo(f"{entry}.descriptor.txt")
    elif plant == "dir-lock":
        os.mkdir(f"{entry}.lock")
    else:
        os.mkfifo(f"{entry}.lock")
    started = time.monotonic()
    for spec in (url, str(local)):
        try:
            resolved = resolve_model(spec, cache_dir=cache, timeout_s=0.5)
        except CacheError as exc:
            assert plant.endswith("lock") and "not a regular file" in str(exc)
        else:
            assert resolved.problem is None
            assert (resolved.local_path / "saved_model.pb").read_bytes() == b"honest graph"
    assert time.monotonic() - started < 3


def test_concurrent_runs_on_one_cache_download_once(server: Hostile, tmp_path: Path, cache: Path) -> None:
    def slow_good(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(0.3)
        send(HONEST)(handler)

    server.routes["model"] = slow_good
    url = server.url("model")
    archive = write(tmp_path, "m.tar.gz", HONEST)
    results: list[ResolvedModel | BaseException] = []

    def run(spec: str) -> None:
        try:
            results.append(resolve_model(spec, cache_dir=cache, timeout_s=2))
        except BaseException as exc:  # noqa: BLE001  (collected and asserted on below)
            results.append(exc)

    threads = [threading.Thread(target=run, args=(spec,)) for spec in [url] * 4 + [str(archive)] * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len(results) == 8 and all(isinstance(r, ResolvedModel) and r.problem is None for r in results), results
    assert len({r.content_hash for r in results if isinstance(r, ResolvedModel)}) == 1
    assert server.hits["model"] == 1
    assert leftovers(cache) == []


@pytest.mark.slow  # a child process
def test_concurrent_processes_on_one_cache(server: Hostile, tmp_path: Path, cache: Path) -> None:
    import sys

    def slow_good(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(0.5)
        send(HONEST)(handler)

    server.routes["model"] = slow_good
    archive = write(tmp_path, "m.tar.gz", HONEST)
    script = ("import sys; from hubcheck.sources import resolve_model; "
              "r = resolve_model(sys.argv[1], cache_dir=sys.argv[2], timeout_s=5); print(r.problem, r.content_hash)")
    runs = [subprocess.Popen([sys.executable, "-c", script, spec, str(cache)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
            for spec in [server.url("model")] * 3 + [str(archive)] * 3]
    outputs = [run.communicate(timeout=60) for run in runs]
    assert all(run.returncode == 0 for run in runs), outputs
    assert len({out for out, _ in outputs}) == 1 and outputs[0][0].startswith("None sha256:")
    assert server.hits["model"] == 1 and leftovers(cache) == []


# -- no leak: descriptors and threads --------------------------------------------------------------------------


def test_hostile_runs_leak_no_descriptor_or_thread(server: Hostile, tmp_path: Path, cache: Path) -> None:
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc")
    server.routes["good"] = send(HONEST)
    server.routes["ftp"] = redirect("ftp://127.0.0.1/x")
    server.routes["slow"] = trickle(server, 0.05)
    server.routes["html"] = send(b"<html>login</html>", "text/html")
    resolve_model(server.url("good"), cache_dir=cache)  # warm up lazily created module state
    threads, descriptors = threading.active_count(), len(os.listdir("/proc/self/fd"))
    for name in ("ftp", "slow", "html", "missing"):
        with pytest.raises(SourceError) if name != "html" else contextlib.nullcontext():
            resolve_model(server.url(name), cache_dir=cache, timeout_s=0.3)
    rejected(tmp_path, cache, "chain.tar.gz", tgz(*(longname(b"a") for _ in range(50))))
    time.sleep(0.1)
    assert len(os.listdir("/proc/self/fd")) == descriptors
    assert threading.active_count() <= threads


# -- through the command line: a report or a documented exit code, never a traceback ------------------------


def cli(args: list[str], tmp_path: Path) -> tuple[int, dict[str, Any] | None, str]:
    from click.testing import CliRunner

    from hubcheck.cli import main

    target = tmp_path / "report.json"
    target.unlink(missing_ok=True)
    result = CliRunner().invoke(main, ["--format", "json", "--output", str(target), "--select", "load", *args])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    document = json.loads(target.read_text()) if target.exists() else None
    return result.exit_code, document, result.output


def test_cli_a_hostile_archive_is_a_load_failure_with_a_bounded_message(tmp_path: Path, cache: Path) -> None:
    size = 32 << 20
    data = _gzip_stream(header(b"././@LongLink", size, b"L"), (b"a", size), pad(size), MODEL, END)
    for name, payload in (("chain.tar.gz", tgz(*(longname(b"a" * 60) for _ in range(3000)), MODEL)),
                          ("model.h5", tgz(*(pax({b"path": b"x"}) for _ in range(3000)), MODEL)),
                          ("longname.tar.gz", data)):
        code, document, output = cli(["--in-process", "--cache-dir", str(cache),
                                      str(write(tmp_path, name, payload))], tmp_path)
        assert code == 1 and document is not None, output
        load = {c["id"]: c for c in document["checks"]}["load"]
        assert load["status"] == "fail" and len(load["message"]) <= MAX_MESSAGE + 200
        assert len(json.dumps(document)) < 20_000


def test_cli_exit_codes_for_hostile_servers_and_caches(server: Hostile, tmp_path: Path, cache: Path) -> None:
    server.routes["ftp"] = redirect("ftp://127.0.0.1/x")
    server.routes["slow"] = trickle(server, 0.05)
    assert cli(["--cache-dir", str(cache), server.url("ftp")], tmp_path)[0] == 4
    started = time.monotonic()
    assert cli(["--fetch-timeout", "0.5", "--cache-dir", str(cache), server.url("slow")], tmp_path)[0] == 4
    assert time.monotonic() - started < 3
    linked = tmp_path / "linked-cache"
    os.symlink(cache, linked)
    code, _, output = cli(["--cache-dir", str(linked), server.url("ftp")], tmp_path)
    assert code == 2 and "symbolic link" in output
    code, document, _ = cli(["--cache-dir", str(cache), server.url("ftp"), str(write(tmp_path, "m.tar.gz", HONEST))],
                            tmp_path)
    assert code == 4 and document is not None  # in a run of several, a refused redirect is that model's report
    assert "redirected to" in document["reports"][0]["model"]["fetch_error"]


def test_unexpected_bugs_are_a_documented_exit_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> bool:
        raise RuntimeError("x" * 5000)

    monkeypatch.setattr(resolve_module, "looks_like_tar", broken)
    path = write(tmp_path, "model.bin", b"anything")
    with pytest.raises(SourceError) as caught:
        resolve_model(str(path), cache_dir=tmp_path / "cache")
    assert caught.value.exit_code == 3 and "please report it" in bounded(str(caught.value))


def test_a_fetch_error_is_typed() -> None:
    assert issubclass(FetchError, SourceError) and FetchError("x").exit_code == 4
    assert issubclass(CacheError, SourceError) and CacheError("x").exit_code == 2
