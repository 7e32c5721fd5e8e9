"""Reporters turn finished reports into text. They only read results and know nothing of TensorFlow."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from hubcheck.reporters.json import JsonReporter
from hubcheck.reporters.table import TableReporter
from hubcheck.results import Report


class Reporter(Protocol):
    """Renders one or more reports as a single document."""

    def render(self, reports: Sequence[Report], *, color: bool = False) -> str: ...


REPORTERS: dict[str, type[Reporter]] = {
    "table": TableReporter,
    "json": JsonReporter,
}


def build_reporter(name: str) -> Reporter:
    return REPORTERS[name]()
