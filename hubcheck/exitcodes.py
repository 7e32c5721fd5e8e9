"""The one place that turns results into a process exit code (see docs/exit-codes.md)."""

from __future__ import annotations

import enum
from collections.abc import Iterable

from hubcheck.results import Report


class ExitCode(enum.IntEnum):
    OK = 0  # every check passed, warned (without --strict) or was skipped
    NONCONFORMANT = 1  # a check failed or errored, or warned under --strict
    USAGE = 2  # bad command line, unknown check id, missing path, bad configuration
    INTERNAL = 3  # hubcheck itself crashed; please report it
    FETCH = 4  # the model could not be downloaded (unreachable host, HTTP error status, timeout)


def exit_code_for(reports: Iterable[Report]) -> ExitCode:
    """The worst outcome: a model that could not be fetched, then one that does not conform."""
    reports = list(reports)
    if any(report.model.get("fetch_error") for report in reports):
        return ExitCode.FETCH
    return ExitCode.NONCONFORMANT if any(report.failed for report in reports) else ExitCode.OK
