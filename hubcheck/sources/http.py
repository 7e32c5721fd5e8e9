"""Download one archive over HTTP(S), bounded in time and size, following only safe redirects.

* **Time.** ``timeout_s`` (``--fetch-timeout``) bounds connecting and every wait for data. On top
  of that the body must keep arriving at :data:`MIN_RATE` bytes per second, measured over each
  ``timeout_s`` window (a host that trickles a byte a second is cut off after one window), and the
  whole download, redirects and headers included, has one deadline, ``total_s``: a watchdog thread
  shuts the connection's socket down when it passes, whatever the transfer is waiting for.
* **Size.** More than ``max_bytes`` (announced or received) makes the archive too large: an
  :class:`~hubcheck.sources.errors.ArchiveError`, reported like any other unacceptable archive.
* **Redirects.** At most :data:`MAX_REDIRECTS`, each to the same scheme or from http to https;
  a redirect to any other scheme (``file:``, ``ftp:``, https to http) is refused before anything
  is fetched from it. The body of a redirect response is never read. Where the bytes finally
  came from is returned, for the report.
* Only ``http`` and ``https`` handlers exist in the opener: no ``file:``, ``ftp:`` or ``data:``.

Everything that goes wrong on the way raises :class:`~hubcheck.sources.errors.FetchError` (exit 4)
with one bounded line; server-chosen text (reasons, locations, types) is quoted and cut.
"""

from __future__ import annotations

import hashlib
import http.client
import socket
import ssl
import string
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, BinaryIO

from hubcheck.sources.errors import ArchiveError, CacheError, FetchError, SourceError, clip, human_size, quote

__all__ = ["MAX_REDIRECTS", "MIN_RATE", "Download", "ProgressFn", "fetch"]

MAX_REDIRECTS = 5
MIN_RATE = 16 * 1024  # bytes per second, over each --fetch-timeout window
_CHUNK = 1 << 20

ProgressFn = Callable[[int, "int | None"], None]
"""Called with (bytes downloaded so far, total bytes or None when the server does not say)."""


@dataclass(frozen=True)
class Download:
    """What was downloaded: the SHA-256 (hex) of the bytes written, their Content-Type, the URL they
    came from after redirects and each redirect's target, in order."""

    sha256: str
    content_type: str
    url: str
    redirects: tuple[str, ...] = ()


class _Refused(Exception):
    pass


class _Watchdog:
    """Shuts down every socket it watches when the deadline passes, from its own thread."""

    def __init__(self, deadline: float) -> None:
        self.fired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        self._timer.join()  # no thread outlives the download
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()

    def watch(self, sock: socket.socket) -> None:
        copy = sock.dup()  # the same connection, still valid once TLS wraps (and detaches) the original
        with self._lock:
            self._sockets.append(copy)
            if self.fired:
                self._shutdown(copy)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._sockets:
                self._shutdown(sock)

    @staticmethod
    def _shutdown(sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _watched(base: type[http.client.HTTPConnection], watchdog: _Watchdog) -> type[http.client.HTTPConnection]:
    class Watched(base):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)

            def create(address: tuple[str, int], timeout: Any = socket.getdefaulttimeout(),
                       source_address: Any = None) -> socket.socket:
                sock = socket.create_connection(address, timeout, source_address)
                watchdog.watch(sock)
                return sock

            setattr(self, "_create_connection", create)  # noqa: B010  (http.client's own hook)

    return Watched


class _HTTP(urllib.request.HTTPHandler):
    def __init__(self, connection: type[http.client.HTTPConnection]) -> None:
        super().__init__()
        self._connection = connection

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, req)


class _HTTPS(urllib.request.HTTPSHandler):
    def __init__(self, connection: type[http.client.HTTPConnection], context: ssl.SSLContext) -> None:
        super().__init__(context=context)
        self._connection = connection
        self._ssl = context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, req, context=self._ssl)


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to the same scheme or up to https, at most ``limit`` times, unread."""

    def __init__(self, user_agent: str, limit: int) -> None:
        super().__init__()
        self.hops: list[str] = []
        self._user_agent = user_agent
        self._limit = limit

    def http_error_302(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                       headers: Any) -> Any:
        location = headers.get("Location") or headers.get("URI")
        fp.close()  # never read a redirect's body: it could be endless
        if location is None:
            raise _Refused(f"HTTP {code} redirect without a Location")
        target = urllib.parse.urljoin(req.full_url, location.strip())
        target = urllib.parse.quote(target, encoding="iso-8859-1", safe=string.punctuation)
        old = urllib.parse.urlsplit(req.full_url).scheme.lower()
        parts = urllib.parse.urlsplit(target)
        new = parts.scheme.lower()
        if not (new == old or (old, new) == ("http", "https")) or new not in ("http", "https"):
            raise _Refused(f"the server redirected to {quote(target)}; hubcheck follows a redirect only to the "
                           "same scheme or from http to https")
        if not parts.hostname:
            raise _Refused(f"the server redirected to {quote(target)}, which names no host")
        if len(self.hops) >= self._limit:
            raise _Refused(f"more than {self._limit} redirects (the last to {quote(target)})")
        self.hops.append(target)
        follow = urllib.request.Request(target, headers={"User-Agent": self._user_agent})
        return self.parent.open(follow, timeout=req.timeout)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def _opener(watchdog: _Watchdog, redirects: _Redirects) -> urllib.request.OpenerDirector:
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),  # $https_proxy, $no_proxy, ... as urllib honours them
        urllib.request.UnknownHandler(),
        _HTTP(_watched(http.client.HTTPConnection, watchdog)),
        _HTTPS(_watched(http.client.HTTPSConnection, watchdog), ssl.create_default_context()),
        redirects,
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


def user_agent() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"hubcheck/{version('hubcheck')}"
    except PackageNotFoundError:
        return "hubcheck"


def fetch(url: str, out: BinaryIO, *, label: str, timeout_s: float, total_s: float, max_bytes: int,
          min_rate: float = MIN_RATE, max_redirects: int = MAX_REDIRECTS, progress: ProgressFn | None = None,
          deadline: float | None = None) -> Download:
    """Stream ``url`` into ``out``; ``label`` (the handle the user gave) names it in messages.

    The download ends at ``deadline`` (a :func:`time.monotonic` value; default ``total_s`` from now,
    and ``total_s`` is what a message calls the time limit).

    Raises :class:`FetchError` (network trouble, error status, refused redirect, too slow),
    :class:`ArchiveError` (more than ``max_bytes``) and :class:`CacheError` (``out`` cannot be written).
    """
    failure = f"could not fetch {clip(label, 300)}"
    watchdog = _Watchdog(time.monotonic() + total_s if deadline is None else deadline)
    agent = user_agent()
    redirects = _Redirects(agent, max_redirects)
    request = urllib.request.Request(url, headers={"User-Agent": agent})
    digest = hashlib.sha256()
    too_slow = f"{failure}: the download took longer than {total_s:g} s (its time limit), gave up"
    try:
        with watchdog, _opener(watchdog, redirects).open(request, timeout=timeout_s) as response:
            length_text = response.headers.get("Content-Length") or ""
            total = int(length_text) if length_text.isdigit() and len(length_text) < 20 else None
            content_type = clip(response.headers.get("Content-Type", "") or "", 100)
            if total is not None and total > max_bytes:
                raise ArchiveError(f"is {human_size(total)}, more than the {human_size(max_bytes)} limit")
            done = window_bytes = 0
            window_start = time.monotonic()
            if progress:
                progress(0, total)
            while chunk := response.read1(_CHUNK):
                done += len(chunk)
                if done > max_bytes:
                    raise ArchiveError(f"is more than the {human_size(max_bytes)} limit")
                digest.update(chunk)
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise CacheError(f"cannot write the download into the cache: {exc.strerror or exc}") from None
                if progress:
                    progress(done, total)
                window_bytes += len(chunk)
                elapsed = time.monotonic() - window_start
                if elapsed >= timeout_s:
                    if window_bytes < min_rate * elapsed:
                        raise FetchError(f"{failure}: the host sent {window_bytes} bytes in {elapsed:.0f} s, slower "
                                         f"than {human_size(int(min_rate))}/s (the least hubcheck waits for); gave up")
                    window_start, window_bytes = time.monotonic(), 0
            if watchdog.fired:
                raise FetchError(too_slow)
            if total is not None and done < total:
                raise FetchError(f"{failure}: the connection closed after {done} of {total} bytes")
            final = response.geturl()
    except (ArchiveError, CacheError):
        raise
    except FetchError:
        if watchdog.fired:
            raise FetchError(too_slow) from None
        raise
    except _Refused as exc:
        raise FetchError(f"{failure}: {exc}") from None
    except urllib.error.HTTPError as exc:
        exc.close()
        if watchdog.fired:
            raise FetchError(too_slow) from None
        raise FetchError(f"{failure}: HTTP {exc.code} {clip(str(exc.reason), 100)}") from None
    except urllib.error.URLError as exc:
        if watchdog.fired:
            raise FetchError(too_slow) from None
        if isinstance(exc.reason, TimeoutError):
            raise FetchError(f"{failure}: no answer within {timeout_s:g} s") from None
        if isinstance(exc.reason, _Refused):
            raise FetchError(f"{failure}: {exc.reason}") from None
        reason = getattr(exc.reason, "strerror", None) or str(exc.reason)
        raise FetchError(f"{failure}: {clip(reason, 200)}") from None
    except TimeoutError:
        if watchdog.fired:
            raise FetchError(too_slow) from None
        raise FetchError(f"{failure}: no data for {timeout_s:g} s, gave up") from None
    except (http.client.HTTPException, OSError, ValueError) as exc:
        if watchdog.fired:
            raise FetchError(too_slow) from None
        if isinstance(exc, ValueError):  # "unknown url type" and friends: the URL is malformed
            raise SourceError(f"cannot fetch {clip(label, 300)}: {clip(str(exc), 200)}") from None
        detail = getattr(exc, "strerror", None) or f"{type(exc).__name__} {exc}".strip()
        raise FetchError(f"{failure}: {clip(detail, 200)}") from None
    return Download(digest.hexdigest(), content_type, final, tuple(redirects.hops))

