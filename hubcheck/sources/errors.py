"""What can go wrong while getting a model, as types, and how to quote untrusted text in a message.

Two families, kept apart on purpose (see docs/sources.md):

* :class:`SourceError` and its subclasses: nothing could be checked. The type says why:
  :class:`NotFoundError` (MODEL names nothing on this machine), :class:`FetchError` (the model could
  not be downloaded), :class:`CacheError` (an unusable or unsafe cache), :class:`InternalError` (a bug
  in hubcheck), plain :class:`SourceError` for the rest (``--offline`` without a cached copy, a URL
  hubcheck cannot use). The command line prints the message; :func:`hubcheck.exitcodes.exit_code`
  turns the type into the process's exit code (2, 4 or 3).
* :class:`ArchiveError`: the model's bytes are not acceptable (a corrupt, unsafe or oversized
  archive). It never leaves :mod:`hubcheck.sources`: it becomes the ``problem`` of the resolved
  model, which the ``load`` check reports.

Every message that quotes text the model or its server chose (member names, link targets, HTTP
reasons, redirect targets, content types) goes through :func:`quote` or :func:`clip`, so a hostile
archive or server cannot make a message, and with it the report, arbitrarily large.
"""

from __future__ import annotations

from hubcheck.exitcodes import ExitCode

__all__ = [
    "EXIT_FETCH",
    "EXIT_USAGE",
    "ArchiveError",
    "CacheError",
    "FetchError",
    "InternalError",
    "NotFoundError",
    "SourceError",
    "clip",
    "human_size",
    "quote",
]

EXIT_USAGE = ExitCode.USAGE  # nothing to check (no such path, offline and not cached, bad URL, unsafe cache)
EXIT_FETCH = ExitCode.FETCH  # the host could not be reached, answered with an error, or timed out

MAX_QUOTED = 120  # characters of an untrusted name shown in a message
MAX_MESSAGE = 1000  # characters of any message built here


class SourceError(Exception):
    """MODEL could not be turned into a local directory; nothing was checked (exit 2 unless a subclass
    says otherwise). ``str(error)`` is one line for the user."""

    def __init__(self, message: str) -> None:
        message = clip(message, MAX_MESSAGE)
        super().__init__(message)
        self.message = message

    @property
    def exit_code(self) -> int:
        """The exit code of a command stopped by this error, as :func:`hubcheck.exitcodes.exit_code` decides it."""
        from hubcheck.exitcodes import exit_code

        return exit_code((), self)


class NotFoundError(SourceError):
    """MODEL is a path that does not exist (or a dangling symbolic link, or a loop of them) (exit 2)."""


class FetchError(SourceError):
    """The model could not be downloaded: unreachable host, error status, refused redirect, too slow (exit 4)."""


class CacheError(SourceError):
    """The cache folder, or an entry in it, cannot be used safely or at all (exit 2)."""


class InternalError(SourceError):
    """A bug in hubcheck while getting the model: one line saying so instead of a traceback (exit 3)."""


class ArchiveError(Exception):
    """The archive is not acceptable. ``str(error)`` completes the sentence "the archive X ..."."""

    def __init__(self, message: str) -> None:
        super().__init__(clip(message, MAX_MESSAGE))


def clip(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` on one line (whitespace runs become one space), at most ``limit`` characters."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[: max(0, limit - 25)] + f"... ({len(flat)} characters)"


def quote(value: str | bytes, limit: int = MAX_QUOTED, *, ascii_only: bool = False) -> str:
    """An untrusted name in quotes, escaped and cut to about ``limit`` characters: ``'aaaa...' (5000 bytes)``.

    Control characters, newlines and lone surrogates are escaped as ``repr`` escapes them, so the
    result is one printable line; a long name keeps its start and says how long it really was.
    ``ascii_only`` escapes every non-ASCII character too (to show how two similar names differ).
    """
    if isinstance(value, bytes):
        size, complete = len(value), len(value) <= limit * 4
        text = value[: limit * 4].decode("utf-8", "backslashreplace")
    else:
        size, complete = len(value.encode("utf-8", "surrogatepass")), len(value) <= limit * 4
        text = value[: limit * 4]
    body = (ascii(text) if ascii_only else repr(text))[1:-1]
    if complete and len(body) <= limit:
        return f"'{body}'"
    return f"'{body[:limit]}...' ({size} bytes)"


def human_size(count: int) -> str:
    """``4.0 GiB``, ``100 B``."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"  # pragma: no cover
