"""``hubcheck export SOURCE OUT``: write a conformant Reusable SavedModel from SOURCE, then check it.

The shape of the other commands: click fills :class:`ExportArgs` by name; the export's own options become
:class:`~hubcheck.exporter.ExportOptions` and the checking options a :class:`~hubcheck.cli.CheckArgs` for
OUT, both validated before anything is loaded or written; the export runs; then OUT is checked exactly
as ``hubcheck OUT`` would check it (:func:`hubcheck.cli.execute`, the same runners, reporters and exit
codes), with the export's facts added to each report's ``model.export`` section. A source that no wrapper
can make conformant, or an OUT that holds files, is refused with exit 2 (docs/export.md).

The checking options are ``hubcheck check``'s own click parameters, shared rather than declared twice,
less those that name other models (``--catalog``, ``--jobs``, ``--shard``) and the two whose names the
export takes for itself: ``--input-size`` fixes the traced size of the written model (the check then
probes that size), and ``--output`` picks the source's output (the report goes to stdout, or to files
with ``--report FORMAT=PATH``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hubcheck.cli import (
    CheckArgs,
    build_config,
    build_limits,
    build_outputs,
    build_settings,
    check_command,
    execute,
    runners_from,
)
from hubcheck.exporter import LOGITS_CHOICES
from hubcheck.runners import Runner, RunnerFactory

if TYPE_CHECKING:
    from hubcheck.exporter import ExportOptions, ExportResult
    from hubcheck.isolation import Limits
    from hubcheck.options import RunOptions
    from hubcheck.registry import Check
    from hubcheck.results import JSONValue, ProgressCallback, Report

# hubcheck check's parameters that export does not share (see the module's docstring).
NOT_SHARED = frozenset({"models", "input_sizes", "output", "catalogs", "jobs", "shard", "list_checks", "explain",
                        "version"})


@dataclass(frozen=True, kw_only=True)
class ExportArgs:
    """``hubcheck export``'s own options, parsed but not yet interpreted; click fills it by name."""

    source: str
    out: Path
    input_range: str | None = None
    grayscale: bool = False
    output: str | None = None
    logits: str | None = None
    signature: str | None = None
    input_size: str | None = None


def build_export_options(args: ExportArgs, allow_unsafe_ops: bool = False) -> ExportOptions:
    """The adapters the command line asks for; click.UsageError (exit 2) naming a malformed one."""
    from hubcheck.exporter import ExportOptions

    try:
        return ExportOptions.of(input_range=args.input_range, grayscale=args.grayscale, output=args.output,
                                logits=args.logits, signature=args.signature, input_size=args.input_size,
                                allow_unsafe_ops=allow_unsafe_ops)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def build_check_args(args: ExportArgs, params: Mapping[str, Any]) -> CheckArgs:
    """The check of OUT, validated now so that a bad checking option stops the export before it writes."""
    check = CheckArgs(models=(str(args.out),), **params)
    build_config(check)
    build_settings(check)
    build_outputs(check)
    build_limits(check)
    return check


@dataclass(frozen=True)
class ExportFactsRunner:
    """Another runner's reports with the export's facts as their ``model.export`` section."""

    inner: Runner
    facts: Mapping[str, JSONValue]

    @property
    def parallel(self) -> bool:
        return self.inner.parallel

    def run(self, path: Path, options: RunOptions, *, checks: Sequence[type[Check]] | None = None,
            progress: ProgressCallback | None = None, source_problem: str | None = None) -> Report:
        from hubcheck.exporter import with_export_facts

        report = self.inner.run(path, options, checks=checks, progress=progress, source_problem=source_problem)
        return with_export_facts(report, self.facts)

    def stop(self) -> None:
        self.inner.stop()


def facts_runners(runners: RunnerFactory, facts: Mapping[str, JSONValue]) -> RunnerFactory:
    def make(limits: Limits | None) -> Runner:
        return ExportFactsRunner(runners(limits), facts)

    return make


def run_export(args: ExportArgs, options: ExportOptions) -> ExportResult:
    """Export, telling the user on standard error what was made; click.ClickException (exit 2) when refused."""
    from hubcheck.exporter import ExportError, export_model

    try:
        result = export_model(args.source, args.out, options)
    except ExportError as exc:
        raise click.ClickException(f"cannot export {args.source}: {exc}") from None
    click.echo(export_summary(result), err=True)
    return result


def export_summary(result: ExportResult) -> str:
    shape = "[" + ", ".join("None" if d is None else str(d) for d in result.input_shape) + "]"
    lines = [
        f"hubcheck export: wrote {result.path} from {result.source} ({result.source_kind})",
        f"  call: images float32 {shape} -> float32 [batch, {result.output_width}]",
        f"  adapters: {', '.join(result.adapters) or 'none'}",
        f"  fine-tunable: {'yes' if result.fine_tunable else 'no'}",
        *(f"  note: {note}" for note in result.notes),
    ]
    return "\n".join(lines)


def _export_params() -> list[click.Parameter]:
    own: list[click.Parameter] = [
        click.Argument(["source"], metavar="SOURCE"),
        click.Argument(["out"], type=click.Path(path_type=Path), metavar="OUT"),
        click.Option(["--input-range"], metavar="LO,HI",
                     help="The source expects values in [LO, HI] (e.g. 0,255 or -1,1): map [0, 1] onto them in front."),
        click.Option(["--grayscale"], is_flag=True,
                     help="The source takes one channel: convert RGB to BT.601 luminance in front."),
        click.Option(["--output"], metavar="NAME|INDEX", help="Pick one output of a dict, list or tuple."),
        click.Option(["--logits"], type=click.Choice(LOGITS_CHOICES),
                     help="The source returns probabilities of this activation: return logits instead."),
        click.Option(["--signature"], metavar="NAME",
                     help="The signature of a serving-only SavedModel to call.  [default: serving_default]"),
        click.Option(["--input-size"], metavar="HxW",
                     help="Trace the written model for this height and width (when the source leaves them open)."),
    ]
    return own + [param for param in check_command.params if param.name not in NOT_SHARED]


@click.pass_context
def _export(ctx: click.Context, /, *, source: str, out: Path, input_range: str | None, grayscale: bool,
            output: str | None, logits: str | None, signature: str | None, input_size: str | None,
            **params: Any) -> list[Report]:
    args = ExportArgs(source=source, out=out, input_range=input_range, grayscale=grayscale, output=output,
                      logits=logits, signature=signature, input_size=input_size)
    options = build_export_options(args, bool(params.get("allow_unsafe_ops")))
    check = build_check_args(args, params)
    result = run_export(args, options)
    return execute(check, facts_runners(runners_from(ctx), result.to_json()))


export_command = click.Command(
    "export",
    callback=_export,
    params=_export_params(),
    help="Write SOURCE (a Keras 3 or tf-keras file, or a SavedModel folder) as a Reusable SavedModel at OUT "
         "(a new or empty folder), with the adapters asked for, then check OUT with every check.",
    epilog="Exit codes: those of hubcheck OUT once written; 2 when the export is refused (nothing written). "
           "Every checking option of hubcheck applies except --input-size and --output, which are the "
           "export's here (the report: stdout, or --report FORMAT=PATH). See docs/export.md.",
)
