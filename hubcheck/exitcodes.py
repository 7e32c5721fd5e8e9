"""The one place that decides the process's exit code (see docs/exit-codes.md).

A command ends with the reports it made and, if it was stopped, the error that stopped it;
:func:`exit_code` turns those two into the code, as flake8's ``Application.exit_code`` does. Nothing
else in hubcheck picks a number: errors say what went wrong by their type.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Protocol

from hubcheck.results import Report

__all__ = ["Crash", "ExitCode", "Incomplete", "Outcome", "exit_code", "exit_code_for"]


class ExitCode(enum.IntEnum):
    OK = 0  # every check passed, warned (without --strict) or was skipped
    NONCONFORMANT = 1  # a check failed or errored, or warned under --strict
    USAGE = 2  # bad command line, unknown check id, missing path, bad configuration
    INTERNAL = 3  # hubcheck itself crashed; please report it
    FETCH = 4  # the model could not be downloaded (unreachable host, HTTP error status, timeout)
    INCOMPLETE = 5  # hubcheck merge: shards missing, duplicated or of different catalogs (no --allow-partial)


SIGNAL_BASE = 128
"""A run stopped by signal N exits 128 + N (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP), as a shell
reports a process killed by that signal."""


class Crash(Exception):
    """hubcheck itself failed (not the model): exit 3. ``str(crash)`` is one line for the user;
    ``details`` (a traceback, say) follows it."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


class Incomplete(Exception):
    """What a command was given is not the whole it claims to be part of (``hubcheck merge``: a shard is
    missing, given twice, or the shards were cut from different catalogs): exit 5. One line per problem."""


class Outcome(Protocol):
    """What a command made: a :class:`~hubcheck.results.Report`, or another result that says whether it
    failed (``hubcheck doc``'s :class:`hubcheck.doc_cli.DocReport`: a lint finding)."""

    @property
    def failed(self) -> bool: ...


def exit_code_for(reports: Iterable[Outcome]) -> ExitCode:
    """The worst outcome: a model that could not be fetched, then one that does not conform."""
    reports = list(reports)
    if any(isinstance(report, Report) and report.model.get("fetch_error") for report in reports):
        return ExitCode.FETCH
    return ExitCode.NONCONFORMANT if any(report.failed for report in reports) else ExitCode.OK


def exit_code(reports: Iterable[Outcome] = (), error: BaseException | None = None) -> int:
    """The exit code of a command that made ``reports`` and, unless it ran to its end, was stopped by ``error``.

    - no error: the worst report (:func:`exit_code_for`): 0, 1, or 4 when a model of a catalog could not
      be fetched;
    - stopped by a signal (:class:`hubcheck.isolation.Stopped`): 128 + the signal's number;
    - a model that could not be downloaded (:class:`hubcheck.sources.FetchError`): 4;
    - ``hubcheck merge`` given an incomplete set of shards (:class:`Incomplete`): 5;
    - anything the user can fix on the command line, in the configuration or the cache (a
      ``click.UsageError``, any other :class:`hubcheck.sources.SourceError`): 2;
    - anything else, hubcheck's own failures included (:class:`Crash`, :class:`hubcheck.sources.InternalError`,
      an unexpected exception): 3.
    """
    if error is None:
        return int(exit_code_for(reports))
    import click

    from hubcheck.isolation import Stopped
    from hubcheck.sources.errors import FetchError, InternalError, SourceError

    if isinstance(error, Stopped):
        return SIGNAL_BASE + error.signum
    if isinstance(error, FetchError):
        return int(ExitCode.FETCH)
    if isinstance(error, Incomplete):
        return int(ExitCode.INCOMPLETE)
    if isinstance(error, InternalError):
        return int(ExitCode.INTERNAL)
    if isinstance(error, (SourceError, click.ClickException)):
        return int(ExitCode.USAGE)
    return int(ExitCode.INTERNAL)
