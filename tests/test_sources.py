"""Opening MODEL where publishers keep it: directories, archives, URLs, handles, with a cache.

A real HTTP server on 127.0.0.1 (started per test, no outside network) serves fixture archives.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cache_support import leftovers, sha1

from hubcheck import sources
from hubcheck.sources import (
    EMPTY_HASH,
    ResolvedModel,
    SourceError,
    content_hash,
    resolve_model,
)

HASH = re.compile(r"^sha256:[0-9a-f]{64}$")
EVIL = f"hubcheck-evil-{uuid.uuid4().hex}"  # unique, so "it does not exist" means we did not write it
ABSOLUTE_EVIL = Path("/tmp") / f"{EVIL}-absolute"


# -- fixtures: a tiny SavedModel and archives of it ----------------------------------------------


@pytest.fixture(scope="session")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hubcheck.tfimport import tensorflow

    tf = tensorflow()

    class Tiny(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = tf.Variable(2.0)

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
        def __call__(self, images):
            return tf.reduce_mean(images, axis=[1, 2]) * self.scale

    path = tmp_path_factory.mktemp("tiny") / "model"
    tf.saved_model.save(Tiny(), str(path))
    return path


def _tar(model: Path | None, extra: Callable[[tarfile.TarFile], None] | None = None, arcname: str = ".") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        if model is not None:
            tar.add(model, arcname=arcname)
        if extra is not None:
            extra(tar)
    return buffer.getvalue()


def _add_file(name: str, data: bytes = b"evil") -> Callable[[tarfile.TarFile], None]:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))

    return add


def _add_special(name: str, kind: bytes, linkname: str = "") -> Callable[[tarfile.TarFile], None]:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = linkname
        tar.addfile(info)

    return add


@pytest.fixture(scope="session")
def archives(saved_model: Path) -> dict[str, bytes]:
    good = _tar(saved_model)
    return {
        "good.tar.gz": good,
        "wrapped.tar.gz": _tar(saved_model, arcname="model"),
        "corrupt.tar.gz": random.Random(0).randbytes(4096),
        "truncated.tar.gz": good[: len(good) // 2],
        "traversal.tar.gz": _tar(saved_model, _add_file(f"../{EVIL}")),
        "deep-traversal.tar.gz": _tar(saved_model, _add_file(f"variables/../../../{EVIL}")),
        "absolute.tar.gz": _tar(saved_model, _add_file(str(ABSOLUTE_EVIL))),
        "symlink.tar.gz": _tar(saved_model, _add_special("variables/passwd", tarfile.SYMTYPE, "/etc/passwd")),
        "hardlink.tar.gz": _tar(saved_model, _add_special("passwd", tarfile.LNKTYPE, "/etc/passwd")),
        "device.tar.gz": _tar(saved_model, _add_special("null", tarfile.CHRTYPE)),
        "no-model.tar.gz": _tar(None, _add_file("README.md", b"hello")),
    }


@pytest.fixture
def archive_file(tmp_path: Path, archives: dict[str, bytes]) -> Callable[[str], Path]:
    def write(name: str) -> Path:
        path = tmp_path / "downloads" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(archives[name])
        return path

    return write


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No proxy between the tests and 127.0.0.1; no test touches the user's real hub cache."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "env-cache"))
    monkeypatch.delenv("TFHUB_MODEL_LOAD_FORMAT", raising=False)


# -- fixtures: the HTTP server ---------------------------------------------------------------------


@dataclass
class Server:
    files: dict[str, bytes]
    port: int = 0
    requests: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def hits(self, name: str) -> int:
        return sum(1 for request in self.requests if urlsplit(request).path == f"/{name}")


@pytest.fixture
def server(archives: dict[str, bytes]) -> Iterator[Server]:
    state = Server(dict(archives))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            name = urlsplit(self.path).path.lstrip("/")
            if name == "hang.tar.gz":
                state.release.wait(10)  # longer than any client timeout; set at teardown
                return
            if name == "page.html":
                self._send(200, b"<html><body>Sign in</body></html>", "text/html; charset=utf-8")
                return
            if name == "huge.tar.gz":
                self._send(200, b"x" * 10, "application/gzip", length=1 << 40)
                return
            if name == "short.tar.gz":
                body = state.files["good.tar.gz"]
                self._send(200, body[:100], "application/gzip", length=len(body))
                return
            body = state.files.get(name)
            if body is None:
                self.send_error(404, "Not Found")
                return
            self._send(200, body, "application/gzip")

        def _send(self, status: int, body: bytes, content_type: str, length: int | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            try:
                self.wfile.write(body)
            except OSError:
                pass
            self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
        assert not thread.is_alive()


def _nothing_escaped(tmp_path: Path) -> None:
    assert not list(tmp_path.rglob(f"{EVIL}*"))
    assert not list(tmp_path.parent.glob(f"{EVIL}*"))
    assert not ABSOLUTE_EVIL.exists()


# -- local directories and files -------------------------------------------------------------------


def test_directory_is_used_in_place(saved_model: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    resolved = resolve_model(str(saved_model), cache_dir=cache)
    assert (resolved.kind, resolved.local_path, resolved.cached, resolved.problem) == (
        "directory", saved_model.resolve(), False, None)
    assert HASH.match(resolved.content_hash) and resolved.content_hash != EMPTY_HASH
    assert not cache.exists()  # a directory needs no cache


def test_content_hash_ignores_mtimes_but_not_bytes_or_names(saved_model: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(saved_model, tmp_path / "copy")
    for file in copy.rglob("*"):
        os.utime(file, (1_000_000, 1_000_000))
    assert content_hash(copy) == content_hash(saved_model)
    data = copy / "saved_model.pb"
    original = data.read_bytes()
    data.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    assert content_hash(copy) != content_hash(saved_model)
    data.write_bytes(original)
    (copy / "fingerprint.pb").rename(copy / "fingerprint2.pb")
    assert content_hash(copy) != content_hash(saved_model)


def test_keras_file_is_passed_to_the_loader(tmp_path: Path) -> None:
    model = tmp_path / "model.h5"
    model.write_bytes(b"\x89HDF\r\n\x1a\n")
    resolved = resolve_model(str(model), cache_dir=tmp_path / "cache")
    assert (resolved.kind, resolved.local_path, resolved.problem) == ("file", model, None)


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as caught:
        resolve_model(str(tmp_path / "nope"), cache_dir=tmp_path / "cache")
    assert caught.value.exit_code == 2
    assert str(tmp_path / "nope") in str(caught.value)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("gs://bucket/model.tar.gz", "gs:// is not supported"), ("https:///model.tar.gz", "names no host")],
)
def test_unusable_url_is_a_usage_error(spec: str, expected: str, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=expected) as caught:
        resolve_model(spec, cache_dir=tmp_path / "cache")
    assert caught.value.exit_code == 2


# -- local archives --------------------------------------------------------------------------------


def test_local_archive_is_unpacked_once_into_the_cache(archive_file: Callable[[str], Path], saved_model: Path,
                                                      tmp_path: Path) -> None:
    archive = archive_file("good.tar.gz")
    cache = tmp_path / "cache"
    first = resolve_model(str(archive), cache_dir=cache)
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert (first.kind, first.cached, first.problem) == ("archive", False, None)
    assert first.local_path == cache / "hubcheck" / "archives" / sha
    assert (first.local_path / "saved_model.pb").is_file()
    assert first.archive_hash == f"sha256:{sha}"
    assert first.content_hash == content_hash(saved_model)  # the same bytes as the directory it came from
    inode = (first.local_path / "saved_model.pb").stat().st_ino  # the same file proves it was not unpacked again
    second = resolve_model(str(archive), cache_dir=cache)
    assert second.cached and second.local_path == first.local_path
    assert (second.local_path / "saved_model.pb").stat().st_ino == inode
    assert second.content_hash == first.content_hash and second.archive_hash == first.archive_hash
    assert leftovers(cache) == []


def test_unpacked_files_get_safe_modes(saved_model: Path, tmp_path: Path) -> None:
    def setuid_file(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo("variables/suid")
        info.mode = 0o4777
        tar.addfile(info, io.BytesIO(b""))

    archive = tmp_path / "suid.tar.gz"
    archive.write_bytes(_tar(saved_model, setuid_file))
    resolved = resolve_model(str(archive), cache_dir=tmp_path / "cache")
    assert resolved.problem is None
    assert (resolved.local_path / "variables" / "suid").stat().st_mode & 0o7777 == 0o644


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("corrupt.tar.gz", "not a readable tar archive"),
        ("truncated.tar.gz", "not a readable tar archive"),
        ("traversal.tar.gz", "leaves the archive's folder"),
        ("deep-traversal.tar.gz", "leaves the archive's folder"),
        ("absolute.tar.gz", "absolute path"),
        ("symlink.tar.gz", "symbolic link to '/etc/passwd'"),
        ("hardlink.tar.gz", "hard link to '/etc/passwd'"),
        ("device.tar.gz", "a device file"),
        ("no-model.tar.gz", "no saved_model.pb at its root (it contains: README.md)"),
        ("wrapped.tar.gz", "tar -czf model.tar.gz -C model ."),
    ],
)
def test_bad_local_archive_is_a_problem_not_an_exception(name: str, expected: str,
                                                         archive_file: Callable[[str], Path],
                                                         tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    resolved = resolve_model(str(archive_file(name)), cache_dir=cache)
    assert resolved.kind == "archive"
    assert expected in (resolved.problem or ""), resolved.problem
    assert resolved.problem.startswith(f"the archive {name} ")
    assert resolved.local_path.is_dir() and not any(resolved.local_path.iterdir())
    assert resolved.content_hash == EMPTY_HASH and HASH.match(resolved.archive_hash or "")
    assert not any((cache / "hubcheck" / "archives").iterdir())  # nothing cached: the next run re-checks
    assert leftovers(cache) == []
    _nothing_escaped(tmp_path)


def test_archive_limits(archive_file: Callable[[str], Path], tmp_path: Path) -> None:
    archive = archive_file("good.tar.gz")
    too_big = resolve_model(str(archive), cache_dir=tmp_path / "cache", max_bytes=archive.stat().st_size + 10)
    assert "unpacks to more than" in (too_big.problem or "")
    too_big_file = resolve_model(str(archive), cache_dir=tmp_path / "cache", max_bytes=100)
    assert "more than the 100 B limit" in (too_big_file.problem or "")
    too_many = resolve_model(str(archive), cache_dir=tmp_path / "cache", max_members=2)
    assert "more than 2 members" in (too_many.problem or "")
    assert resolve_model(str(archive), cache_dir=tmp_path / "cache").problem is None


@pytest.mark.slow  # a child process
def test_resolving_an_archive_does_not_import_tensorflow(archive_file: Callable[[str], Path], tmp_path: Path,
                                                         saved_model: Path) -> None:
    script = (
        "import sys; from hubcheck.sources import resolve_model; "
        f"r = resolve_model({str(archive_file('good.tar.gz'))!r}, cache_dir={str(tmp_path / 'cache')!r}); "
        "print(r.content_hash, 'tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == [content_hash(saved_model), "False"]


# -- URLs ------------------------------------------------------------------------------------------


def test_url_downloads_into_tensorflow_hubs_cache_entry(server: Server, saved_model: Path, tmp_path: Path) -> None:
    from hubcheck.tfimport import tensorflow

    cache = tmp_path / "cache"
    url = server.url("good.tar.gz")
    resolved = resolve_model(url, cache_dir=cache)
    assert (resolved.kind, resolved.cached, resolved.problem) == ("url", False, None)
    assert resolved.local_path == cache / sha1(url)
    assert resolved.content_hash == content_hash(saved_model)
    assert resolved.archive_hash == f"sha256:{hashlib.sha256(server.files['good.tar.gz']).hexdigest()}"
    assert server.requests == ["/good.tar.gz?tf-hub-format=compressed"]
    assert (cache / f"{sha1(url)}.descriptor.txt").read_text().startswith(f"Module: {url}\n")
    assert leftovers(cache) == []
    tf = tensorflow()
    output = tf.saved_model.load(str(resolved.local_path))(tf.ones([1, 4, 4, 3]))
    assert output.shape == (1, 3) and float(output[0, 0]) == pytest.approx(2.0)


def test_second_resolve_reuses_the_cache(server: Server, tmp_path: Path) -> None:
    url = server.url("good.tar.gz")
    first = resolve_model(url, cache_dir=tmp_path / "cache")
    second = resolve_model(url, cache_dir=tmp_path / "cache")
    assert server.hits("good.tar.gz") == 1
    assert (first.cached, second.cached) == (False, True)
    assert second.local_path == first.local_path
    assert (second.content_hash, second.archive_hash) == (first.content_hash, first.archive_hash)


def test_offline_uses_only_the_cache(server: Server, tmp_path: Path) -> None:
    url, cache = server.url("good.tar.gz"), tmp_path / "cache"
    with pytest.raises(SourceError) as caught:
        resolve_model(url, cache_dir=cache, offline=True)
    assert caught.value.exit_code == 2
    assert str(cache) in str(caught.value) and url in str(caught.value)
    assert server.requests == []
    resolve_model(url, cache_dir=cache)
    offline = resolve_model(url, cache_dir=cache, offline=True)
    assert offline.cached and offline.problem is None
    assert server.hits("good.tar.gz") == 1


def test_tfhub_cache_dir_is_honoured(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = server.url("good.tar.gz")
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "from-env"))
    from_env = resolve_model(url)
    assert from_env.local_path == tmp_path / "from-env" / sha1(url)
    explicit = resolve_model(url, cache_dir=tmp_path / "explicit")  # --cache-dir wins over the variable
    assert explicit.local_path == tmp_path / "explicit" / sha1(url) and not explicit.cached


def test_tensorflow_hub_finds_what_hubcheck_downloaded(server: Server, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import tensorflow_hub as hub

    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "shared"))
    url = server.url("good.tar.gz")
    ours = resolve_model(url)
    assert Path(hub.resolve(url)) == ours.local_path
    assert server.hits("good.tar.gz") == 1  # tensorflow_hub did not download again


def test_hubcheck_finds_what_tensorflow_hub_downloaded(server: Server, saved_model: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import tensorflow_hub as hub

    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "shared"))
    url = server.url("good.tar.gz")
    theirs = Path(hub.resolve(url))
    ours = resolve_model(url, offline=True)
    assert (ours.local_path, ours.cached, ours.problem) == (theirs, True, None)
    assert ours.content_hash == content_hash(saved_model)
    assert server.hits("good.tar.gz") == 1


def test_hub_handle_without_scheme_uses_the_https_cache_entry(saved_model: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    handle = "https://tfhub.dev/google/tiny/1"
    shutil.copytree(saved_model, cache / sha1(handle))
    resolved = resolve_model("tfhub.dev/google/tiny/1", cache_dir=cache, offline=True)
    assert (resolved.kind, resolved.cached, resolved.local_path) == ("handle", True, cache / sha1(handle))
    with pytest.raises(SourceError, match=re.escape("https://tfhub.dev/google/other/1")) as caught:
        resolve_model("tfhub.dev/google/other/1", cache_dir=cache, offline=True)
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("corrupt.tar.gz", "not a readable tar archive"),
        ("traversal.tar.gz", "leaves the archive's folder"),
        ("absolute.tar.gz", "absolute path"),
        ("symlink.tar.gz", "symbolic link"),
        ("page.html", "a web page, not an archive"),
    ],
)
def test_bad_download_is_a_problem_and_is_not_cached(name: str, expected: str, server: Server,
                                                     tmp_path: Path) -> None:
    cache, url = tmp_path / "cache", server.url(name)
    first = resolve_model(url, cache_dir=cache)
    assert expected in (first.problem or ""), first.problem
    assert first.problem.startswith(f"the archive at {url} ")
    assert first.local_path.is_dir() and not any(first.local_path.iterdir())
    assert not (cache / sha1(url)).exists()
    second = resolve_model(url, cache_dir=cache)
    assert second.problem == first.problem and server.hits(name) == 2
    assert leftovers(cache) == []
    _nothing_escaped(tmp_path)


def test_announced_size_over_the_limit_is_a_problem(server: Server, tmp_path: Path) -> None:
    resolved = resolve_model(server.url("huge.tar.gz"), cache_dir=tmp_path / "cache")
    assert "1024.0 GiB, more than the 4.0 GiB limit" in (resolved.problem or "")


def test_http_error_status_is_a_fetch_error(server: Server, tmp_path: Path) -> None:
    url = server.url("missing.tar.gz")
    with pytest.raises(SourceError) as caught:
        resolve_model(url, cache_dir=tmp_path / "cache")
    assert caught.value.exit_code == 4
    assert str(caught.value) == f"could not fetch {url}: HTTP 404 Not Found"
    assert leftovers(tmp_path / "cache") == []


def test_short_body_is_a_fetch_error(server: Server, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"connection closed after 100 of \d+ bytes") as caught:
        resolve_model(server.url("short.tar.gz"), cache_dir=tmp_path / "cache")
    assert caught.value.exit_code == 4


def test_silent_server_is_bounded_by_the_timeout(server: Server, tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(SourceError) as caught:
        resolve_model(server.url("hang.tar.gz"), cache_dir=tmp_path / "cache", timeout_s=1)
    assert time.monotonic() - started < 5
    assert caught.value.exit_code == 4
    assert re.search(r"no (answer within|data for) 1 s", str(caught.value)), str(caught.value)
    assert leftovers(tmp_path / "cache") == []


def test_unreachable_host_is_a_fetch_error(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port that nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SourceError, match=r"Connection refused") as caught:
        resolve_model(f"http://127.0.0.1:{port}/model.tar.gz", cache_dir=tmp_path / "cache", timeout_s=2)
    assert caught.value.exit_code == 4


def test_progress_reports_every_byte(server: Server, tmp_path: Path) -> None:
    calls: list[tuple[int, int | None]] = []
    resolve_model(server.url("good.tar.gz"), cache_dir=tmp_path / "cache", progress=lambda d, t: calls.append((d, t)))
    size = len(server.files["good.tar.gz"])
    assert calls[0] == (0, size) and calls[-1] == (size, size)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    calls.clear()
    resolve_model(server.url("good.tar.gz"), cache_dir=tmp_path / "cache", progress=lambda d, t: calls.append((d, t)))
    assert calls == []  # a cache hit downloads nothing


def test_download_progress_bar(capsys: pytest.CaptureFixture[str]) -> None:
    with sources.download_progress(enabled=False) as none:
        assert none is None
    with sources.download_progress("model.tar.gz") as update:
        assert update is not None
        update(0, 10)
        update(10, 10)


# -- sharing the cache with other processes --------------------------------------------------------


def test_waits_for_another_downloader_then_uses_its_result(server: Server, saved_model: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources.lock, "LOCK_POLL_S", 0.05)
    cache, url = tmp_path / "cache", server.url("good.tar.gz")
    entry = cache / sha1(url)
    cache.mkdir()
    lock = Path(f"{entry}.lock")
    lock.write_text(f"{socket.gethostname()}.{os.getpid()}.other")  # alive: this very process

    def other_downloader_finishes() -> None:
        time.sleep(0.3)
        shutil.copytree(saved_model, entry)
        lock.unlink()

    thread = threading.Thread(target=other_downloader_finishes)
    thread.start()
    resolved = resolve_model(url, cache_dir=cache)
    thread.join()
    assert (resolved.cached, resolved.local_path) == (True, entry)
    assert server.requests == []


@pytest.mark.slow  # a child process
def test_steals_the_lock_of_a_dead_downloader(server: Server, tmp_path: Path) -> None:
    cache, url = tmp_path / "cache", server.url("good.tar.gz")
    entry = cache / sha1(url)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    cache.mkdir()
    uid = f"hubcheck-{uuid.uuid4().hex}"  # a killed hubcheck's lock and temporary folder
    Path(f"{entry}.lock").write_text(f"{socket.gethostname()}.{dead.pid}.{uid}")
    Path(f"{entry}.{uid}.tmp").mkdir()
    Path(f"{entry}.0123abcd.tmp").mkdir()  # a tensorflow_hub's: left alone, as tensorflow_hub leaves it
    started = time.monotonic()
    resolved = resolve_model(url, cache_dir=cache, timeout_s=1)  # a lock nobody holds waits one fetch timeout
    assert time.monotonic() - started < 5
    assert resolved.problem is None and server.hits("good.tar.gz") == 1
    assert leftovers(cache) == [f"{entry.name}.0123abcd.tmp"]


def test_report_fields() -> None:
    resolved = ResolvedModel("m.tar.gz", Path("/c/x"), "archive", EMPTY_HASH, True, None, "sha256:" + "1" * 64)
    assert resolved.to_json() == {
        "source": "m.tar.gz", "source_kind": "archive", "resolved_path": "/c/x", "content_hash": EMPTY_HASH,
        "archive_hash": "sha256:" + "1" * 64, "cached": True, "redirected_to": None,
    }


# -- through the command line, as a new user would run it ------------------------------------------


def _cli_json(args: list[str], tmp_path: Path) -> tuple[int, dict | None, str]:
    import json

    from click.testing import CliRunner

    from hubcheck.cli import main

    target = tmp_path / "report.json"
    result = CliRunner().invoke(main, ["--format", "json", "--output", str(target), *args])
    assert "Traceback" not in result.output
    document = json.loads(target.read_text()) if target.exists() else None
    return result.exit_code, document, result.output


def test_cli_checks_a_url_and_records_where_it_came_from(server: Server, tmp_path: Path, validate_report) -> None:
    url = server.url("good.tar.gz")
    code, document, _ = _cli_json(["--cache-dir", str(tmp_path / "cache"), url], tmp_path)
    assert document is not None
    validate_report(document)
    model = document["model"]
    assert model["path"] == url and model["source_kind"] == "url" and not model["cached"]
    assert model["content_hash"].startswith("sha256:")
    assert {c["id"]: c["status"] for c in document["checks"]}["load"] == "pass"
    again_code, again, _ = _cli_json(["--offline", "--cache-dir", str(tmp_path / "cache"), url], tmp_path)
    assert again is not None and again["model"]["cached"] and again_code == code
    assert again["model"]["content_hash"] == model["content_hash"]
    assert server.hits("good.tar.gz") == 1


def test_cli_fails_load_for_an_unsafe_archive(archive_file: Callable[[str], Path], tmp_path: Path,
                                             validate_report) -> None:
    code, document, _ = _cli_json(["--cache-dir", str(tmp_path / "cache"), str(archive_file("traversal.tar.gz"))],
                                  tmp_path)
    assert code == 1 and document is not None
    validate_report(document)
    load = {c["id"]: c for c in document["checks"]}["load"]
    assert load["status"] == "fail" and ".." in load["message"]
    _nothing_escaped(tmp_path)


def test_cli_exit_4_when_the_host_answers_404(server: Server, tmp_path: Path) -> None:
    code, document, output = _cli_json(["--cache-dir", str(tmp_path / "cache"), server.url("missing.tar.gz")],
                                       tmp_path)
    assert code == 4 and document is None
    assert "404" in output


def test_cli_exit_2_offline_without_a_cached_copy(server: Server, tmp_path: Path) -> None:
    code, _, output = _cli_json(["--offline", "--cache-dir", str(tmp_path / "cache"), server.url("good.tar.gz")],
                                tmp_path)
    assert code == 2 and server.hits("good.tar.gz") == 0
    assert "cache" in output


def test_in_a_catalog_a_failed_download_is_a_report_and_the_rest_is_checked(server: Server, tmp_path: Path,
                                                                           validate_report) -> None:
    code, document, output = _cli_json(["--cache-dir", str(tmp_path / "cache"), "--select", "load,callable",
                                        server.url("missing.tar.gz"), server.url("good.tar.gz")], tmp_path)
    assert code == 4, output
    assert document is not None
    validate_report(document)
    missing, good = document["reports"]
    assert "404" in missing["model"]["fetch_error"]
    assert [(c["id"], c["status"]) for c in missing["checks"]] == [("load", "fail"), ("callable", "skip")]
    assert {c["id"]: c["status"] for c in good["checks"]}["load"] == "pass"
