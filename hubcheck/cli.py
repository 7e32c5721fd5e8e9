"""Command line: parse options into a plain object, build what it names, run, report, exit.

``hubcheck MODEL`` runs the ``check`` command; other commands (``inspect``) are
subcommands of the same group.
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from hubcheck.exitcodes import ExitCode, exit_code_for
from hubcheck.options import RunOptions, Task, Tolerances, parse_input_size, parse_tolerance
from hubcheck.reporters import REPORTERS, build_reporter
from hubcheck.results import CheckResult


@dataclass(frozen=True)
class CliOptions:
    """The command line, parsed but not yet interpreted."""

    model: Path | None
    task: str
    input_sizes: tuple[str, ...]
    select: tuple[str, ...]
    ignore: tuple[str, ...]
    strict: bool
    format: str
    output: Path | None
    tolerances: tuple[str, ...]
    list_checks: bool
    explain: str | None


def _split_ids(values: tuple[str, ...]) -> frozenset[str]:
    return frozenset(part.strip() for value in values for part in value.split(",") if part.strip())


def build_run_options(cli: CliOptions) -> RunOptions:
    """Interpret the command line; raises click.UsageError (exit 2) on bad values."""
    try:
        sizes = tuple(parse_input_size(text) for text in cli.input_sizes)
        tolerances = Tolerances().updated(dict(parse_tolerance(text) for text in cli.tolerances))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    options = RunOptions(
        task=Task(cli.task),
        input_sizes=sizes,
        select=_split_ids(cli.select),
        ignore=_split_ids(cli.ignore),
        strict=cli.strict,
        tolerances=tolerances,
    )
    from hubcheck.registry import check_ids

    try:
        options.validate_ids(check_ids())
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    return options


def _validate_output(output: Path | None) -> None:
    if output is None:
        return
    if output.is_dir():
        raise click.UsageError(f"--output {output} is a directory; give a file path")
    if not output.parent.is_dir():
        raise click.UsageError(f"--output {output}: folder {output.parent} does not exist")


def write_atomically(path: Path, text: str) -> None:
    """Write the whole report or nothing: a reader never sees half a file."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _list_checks() -> str:
    from hubcheck.registry import available_checks

    width = max(len(check.id) for check in available_checks())
    return "\n".join(f"{check.id:<{width}}  {check.title}" for check in available_checks()) + "\n"


def _explain(check_id: str) -> str:
    from hubcheck.registry import get_check

    try:
        check = get_check(check_id)
    except KeyError:
        raise click.UsageError(f"unknown check id {check_id!r}; see hubcheck --list-checks") from None
    requires = f"\n\nRuns after: {', '.join(check.requires)}" if check.requires else ""
    return f"{check.id}: {check.title}\n\n{check.explanation()}{requires}\n"


def _progress(enabled: bool) -> tuple[AbstractContextManager[Any], Any]:
    """A spinner on stderr naming the running check, when stderr is a terminal."""
    if not enabled:
        return nullcontext(), None
    from rich.console import Console

    status = Console(stderr=True).status("loading the model")

    def update(check_id: str, result: CheckResult | None) -> None:
        if result is None:
            status.update(f"checking {check_id}")

    return status, update


class DefaultGroup(click.Group):
    """``hubcheck MODEL`` means ``hubcheck check MODEL``; ``hubcheck inspect MODEL`` is a subcommand."""

    default_command = "check"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or args[0] not in self.commands:
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage("hubcheck", "[OPTIONS] MODEL | inspect MODEL")


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Conformance checks for TF2 image models published as Reusable SavedModels."""


@main.command(
    "check",
    epilog="Exit codes: 0 conforms, 1 a check failed or errored (or warned with --strict), "
    "2 usage error, 3 internal error. See also: hubcheck inspect MODEL.",
)
@click.argument("model", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--task", type=click.Choice([t.value for t in Task]), default=Task.AUTO.value, show_default=True,
              help="What the model is; 'auto' guesses from its output and says why.")
@click.option("--input-size", "input_sizes", multiple=True, metavar="HxW",
              help="Height x width to probe when the traces do not fix it (repeatable).")
@click.option("--select", multiple=True, metavar="IDS", help="Run only these checks (comma-separated, repeatable).")
@click.option("--ignore", multiple=True, metavar="IDS", help="Skip these checks (comma-separated, repeatable).")
@click.option("--strict", is_flag=True, help="Warnings fail the run too.")
@click.option("--format", "format_", type=click.Choice(sorted(REPORTERS)), default="table", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report to this file instead of stdout.")
@click.option("--tolerance", "tolerances", multiple=True, metavar="NAME=VALUE",
              help=f"Change a numeric tolerance ({', '.join(Tolerances.names())}).")
@click.option("--list-checks", is_flag=True, help="List the checks and exit.")
@click.option("--explain", metavar="ID", help="Explain one check (when it fails, how to fix it) and exit.")
@click.version_option(package_name="hubcheck", prog_name="hubcheck")
def check_command(model: Path | None, task: str, input_sizes: tuple[str, ...], select: tuple[str, ...],
                  ignore: tuple[str, ...], strict: bool, format_: str, output: Path | None,
                  tolerances: tuple[str, ...], list_checks: bool, explain: str | None) -> None:
    """Check the SavedModel directory MODEL against the image API."""
    cli = CliOptions(model, task, input_sizes, select, ignore, strict, format_, output, tolerances,
                     list_checks, explain)
    if cli.list_checks:
        click.echo(_list_checks(), nl=False)
        return
    if cli.explain:
        click.echo(_explain(cli.explain), nl=False)
        return
    if cli.model is None:
        raise click.UsageError("missing MODEL: give the path of a SavedModel directory")
    options = build_run_options(cli)
    _validate_output(cli.output)
    reporter = build_reporter(cli.format)

    from hubcheck.runner import run_checks
    from hubcheck.tfimport import native_logs_silenced

    with native_logs_silenced():
        spinner, progress = _progress(sys.stderr.isatty())
        with spinner:
            report = run_checks(cli.model, options, progress=progress)
    if cli.output is not None:
        write_atomically(cli.output, reporter.render([report]))
        from hubcheck.reporters.table import summary_line

        click.echo(f"{summary_line(report)}; report written to {cli.output}", err=True)
    else:
        click.echo(reporter.render([report], color=sys.stdout.isatty() and cli.format == "table"), nl=False)
    sys.exit(int(exit_code_for([report])))


if __name__ == "__main__":  # pragma: no cover
    main()
