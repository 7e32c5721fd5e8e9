"""Reporters turn finished reports into text. They only read results and know nothing of TensorFlow.

``REPORTERS`` is the one registry: it feeds the CLI's ``--format`` choice and ``--report FORMAT=PATH``.
Every reporter renders any number of reports as one document.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from hubcheck.reporters.github import GithubReporter
from hubcheck.reporters.html import HtmlReporter
from hubcheck.reporters.json import JsonReporter
from hubcheck.reporters.junit import JunitReporter
from hubcheck.reporters.markdown import MarkdownReporter
from hubcheck.reporters.table import TableReporter
from hubcheck.results import Report


class Reporter(Protocol):
    """Renders one or more reports as a single document."""

    def render(self, reports: Sequence[Report], *, color: bool = False) -> str: ...


REPORTERS: dict[str, type[Reporter]] = {
    "table": TableReporter,
    "json": JsonReporter,
    "junit": JunitReporter,
    "markdown": MarkdownReporter,
    "github": GithubReporter,
    "html": HtmlReporter,
}


def build_reporter(name: str) -> Reporter:
    try:
        return REPORTERS[name]()
    except KeyError:
        raise ValueError(f"unknown report format {name!r} (known: {', '.join(REPORTERS)})") from None
