"""A Markdown summary for GitHub step summaries and merge-request comments (GitHub and GitLab flavours)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from hubcheck.results import CONSEQUENCE_OF, Report, Status

ICONS = {
    Status.PASS: "✅",
    Status.WARN: "⚠️",
    Status.SKIP: "⏭️",
    Status.FAIL: "❌",
    Status.ERROR: "💥",
}

# What can start emphasis, code, links, strikethrough, math or a new cell inside a table cell
# ("(" only matters after "]", which is escaped; "#", "+" and "!" only at the start of a line).
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]~|$])")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def cell(text: str) -> str:
    """``text`` as literal content of one table cell: HTML and Markdown syntax escaped, one line."""
    text = _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MARKDOWN_PUNCTUATION.sub(r"\\\1", text)
    return "<br>".join(text.splitlines())


def code(text: str) -> str:
    """``text`` as inline code, whatever backticks and pipes it holds."""
    text = text.replace("\n", " ").replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    padding = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{padding}{text}{padding}{fence}"


def _verdict(report: Report) -> str:
    return "❌ FAIL" if report.failed else "✅ PASS"


def _counts(report: Report) -> str:
    return ", ".join(f"{n} {status}" for status, n in report.summary.items() if n) or "no checks"


def _problems(report: Report) -> str:
    """The checks that make the report fail, as code spans, each consequence of another failure saying
    which (see :attr:`Report.root_causes`); an em dash when none fails."""
    bad = {Status.FAIL, Status.ERROR} | ({Status.WARN} if report.strict else set())
    causes = set(report.root_causes)
    names = []
    for result in report.checks:
        if result.status not in bad:
            continue
        cause = result.details.get(CONSEQUENCE_OF)
        if result.status is not Status.WARN and result.id not in causes and isinstance(cause, str):
            names.append(f"{code(result.id)} (follows from {code(cause)})")
        else:
            names.append(code(result.id))
    return ", ".join(names) or "—"


class MarkdownReporter:
    """One section per model; several models (a catalog, none at all) get an overview table first."""

    def render(self, reports: Sequence[Report], *, color: bool = False) -> str:
        lines: list[str] = []
        if len(reports) != 1:
            failed = sum(report.failed for report in reports)
            lines += [f"## hubcheck: {len(reports)} models, {failed} nonconformant", "",
                      "| model | verdict | checks | failing checks |", "| --- | --- | --- | --- |"]
            for report in reports:
                lines.append(f"| {code(str(report.model.get('path', '?')))} | {_verdict(report)} | {_counts(report)} "
                             f"| {_problems(report)} |")
            lines.append("")
        level = "###" if len(reports) > 1 else "##"
        for report in reports:
            lines += self._section(report, level)
        return "\n".join(lines).rstrip("\n") + "\n"

    def _section(self, report: Report, level: str) -> list[str]:
        model = report.model
        lines = [f"{level} hubcheck {_verdict(report)}: {code(str(model.get('path', '?')))}", ""]
        facts = [f"**{_counts(report)}** in {report.duration_s:.1f} s"]
        if report.root_causes:
            facts.append("fix first: " + ", ".join(code(check_id) for check_id in report.root_causes))
        if model.get("task"):
            facts.append(f"task: {code(str(model['task']))}")
        if model.get("input_sizes"):
            facts.append("sizes: " + ", ".join(f"{h}x{w}" for h, w in model["input_sizes"]))
        if report.strict:
            facts.append("strict: warnings fail")
        facts.append(f"hubcheck {cell(report.hubcheck_version)}")
        if report.environment.get("tensorflow"):
            facts.append(f"TensorFlow {cell(str(report.environment['tensorflow']))}")
        lines += [" · ".join(facts), ""]
        if report.environment.get("tensorflow_retry"):
            lines += [f"Retried: {cell(str(report.environment['tensorflow_retry']))}", ""]
        lines += ["| check | status | message |", "| --- | --- | --- |"]
        for result in report.checks:
            status = f"{ICONS[result.status]} {result.status.value}"
            lines.append(f"| {code(result.id)} | {status} | {cell(result.message)} |")
        lines.append("")
        return lines
