"""The terminal report: a rich table per model and a summary line."""

from __future__ import annotations

import io
import shutil
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from hubcheck.results import Report, Status

STYLES = {
    Status.PASS: "green",
    Status.WARN: "yellow",
    Status.SKIP: "dim",
    Status.FAIL: "bold red",
    Status.ERROR: "bold magenta",
}


def summary_line(report: Report) -> str:
    """One line: the verdict, the counts, the problems to fix first (the root causes), the time."""
    counts = ", ".join(f"{n} {status}" for status, n in report.summary.items() if n)
    verdict = "FAIL" if report.failed else "PASS"
    causes = report.root_causes
    first = f" (fix first: {', '.join(causes)})" if causes else ""
    strict = " (strict: warnings fail)" if report.strict else ""
    return f"{verdict}: {report.model.get('path', '?')}: {counts}{first} in {report.duration_s:.1f}s{strict}"


class TableReporter:
    """Human-readable; ``color`` adds ANSI styles for a terminal."""

    width = 120

    def render(self, reports: Sequence[Report], *, color: bool = False) -> str:
        buffer = io.StringIO()
        # On a terminal, fit it; in a file or pipe, a fixed width keeps the output reproducible.
        width = shutil.get_terminal_size((self.width, 24)).columns if color else self.width
        console = Console(file=buffer, width=width, force_terminal=color, no_color=not color,
                          highlight=False, soft_wrap=False)
        for report in reports:
            self._render_one(console, report)
        return buffer.getvalue()

    def _render_one(self, console: Console, report: Report) -> None:
        model = report.model
        facts = Table.grid(padding=(0, 2))
        facts.add_column(style="bold")
        facts.add_column(overflow="fold")
        facts.add_row("model", Text(f"{model.get('path', '?')} ({model.get('format', '?')})"))
        if model.get("task"):
            facts.add_row("task", Text(f"{model['task']}: {model.get('task_reason', '')}"))
        if model.get("input_sizes"):
            sizes = ", ".join(f"{h}x{w}" for h, w in model["input_sizes"])
            facts.add_row("sizes", Text(f"{sizes}: {model.get('input_sizes_source', '')}"))
        if report.environment.get("tensorflow_retry"):
            facts.add_row("retried", Text(str(report.environment["tensorflow_retry"])))
        console.print(facts)
        table = Table(expand=True)
        table.add_column("check", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("message", ratio=1, overflow="fold")
        for result in report.checks:
            table.add_row(result.id, Text(result.status.value, style=STYLES[result.status]), Text(result.message))
        console.print(table)
        verdict_style = "bold red" if report.failed else "bold green"
        console.print(Text(summary_line(report), style=verdict_style), soft_wrap=True)  # one line, to grep
