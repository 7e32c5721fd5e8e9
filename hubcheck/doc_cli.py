"""``hubcheck doc PATH``: read a model's documentation, print the facts it states and lint it.

The shape of the other commands: click fills :class:`DocArgs` by name, :func:`document` reads and
lints and returns one :class:`DocReport`, the renderers below only read it, and the command group
(:meth:`hubcheck.cli.HubcheckGroup.invoke`) leaves the exit code to :func:`hubcheck.exitcodes.exit_code`:
0 clean, 1 a lint finding (:attr:`DocReport.failed`), 2 a file that is missing, unreadable or not a
doc (:class:`~hubcheck.documentation.DocumentationError` becomes a ``click.UsageError``).
See docs/documentation.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from hubcheck.documentation import (
    DocFacts,
    DocFinding,
    DocumentationError,
    lint_documentation,
    read_documentation,
)


@dataclass(frozen=True, kw_only=True)
class DocArgs:
    """``hubcheck doc``'s command line; click fills it by name."""

    path: Path
    format: str = "table"


@dataclass(frozen=True)
class DocReport:
    """One doc's facts and its lint findings."""

    facts: DocFacts
    findings: tuple[DocFinding, ...]

    @property
    def failed(self) -> bool:
        return bool(self.findings)

    def to_json(self) -> dict[str, Any]:
        return {"documentation": self.facts.to_json(), "findings": [f.to_json() for f in self.findings]}


# -- renderers: they only read the report -------------------------------------------------------------------


def _value(value: Any) -> str:
    if value is None:
        return "-"
    return json.dumps(value) if not isinstance(value, str) else value


def render_table(report: DocReport) -> str:
    facts = report.facts
    size = facts.input_size
    rows = [
        ("task", _value(facts.task), "task"),
        ("fine-tunable", _value(facts.fine_tunable), "fine_tunable"),
        ("format", _value(facts.format), "format"),
        ("input size", "-" if size is None else f"{size.height}x{size.width} ({'fixed' if size.fixed else 'default'})",
         "input_size"),
        ("output width", _value(facts.num_outputs), "num_outputs"),
        ("value range", "-" if facts.value_range is None else f"[{facts.value_range[0]:g}, {facts.value_range[1]:g}]",
         "value_range"),
        ("arguments", ", ".join(f"{k}={json.dumps(v)}" for k, v in facts.arguments.items()) or "-", "arguments"),
    ]
    width = max(len(name) for name, _, _ in rows)
    out = [f"doc    {facts.path} ({facts.kind})", ""]
    for name, value, key in rows:
        out.append(f"{name:<{width}}  {value}")
        if key in facts.evidence:
            out.append(f"{'':<{width}}    from: {facts.evidence[key]}")
    out.append("")
    for finding in report.findings:
        out.append(f"lint  {finding.code}: {finding.message}")
        if finding.evidence:
            out.append(f"      in: {finding.evidence}")
    count = len(report.findings)
    out.append(f"FAIL: {facts.path}: {count} lint finding(s)" if count else f"OK: {facts.path}: no lint findings")
    return "\n".join(out) + "\n"


def render_json(report: DocReport) -> str:
    return json.dumps(report.to_json(), indent=2) + "\n"


DOC_RENDERERS: dict[str, Callable[[DocReport], str]] = {"table": render_table, "json": render_json}


# -- the command ---------------------------------------------------------------------------------------------


def document(args: DocArgs) -> DocReport:
    """Read and lint ``args.path``; click.UsageError (exit 2) when it is not a readable doc."""
    try:
        facts = read_documentation(args.path)
    except DocumentationError as exc:
        raise click.UsageError(str(exc)) from None
    return DocReport(facts=facts, findings=tuple(lint_documentation(facts)))


@click.command(
    "doc",
    epilog="Exit codes: 0 no lint finding, 1 a lint finding, 2 the file is missing, unreadable or not a doc. "
    "See docs/documentation.md.",
)
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH")
@click.option("--format", "format", type=click.Choice(list(DOC_RENDERERS)), default="table", show_default=True,
              help='Output format; json gives {"documentation": {...}, "findings": [...]}.')
def doc_command(**params: Any) -> list[DocReport]:
    """Read a model's documentation (TF Hub markdown .md or Kaggle model-instance-metadata.json), print the
    facts it states with the sentence each came from, and lint it."""
    args = DocArgs(**params)
    report = document(args)
    click.echo(DOC_RENDERERS[args.format](report), nl=False)
    return [report]
