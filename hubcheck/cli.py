"""Command line: parse options into a plain object by name, build what it names, run, report; one exit.

``hubcheck MODEL`` runs the ``check`` command; other commands (``inspect``, ``merge``) are
subcommands of the same group. Catalog mode (``--catalog``, ``--jobs``, ``--shard``, ``merge``)
is described in docs/catalog.md.

The shape (as check-jsonschema's): click fills :class:`CheckArgs` (or :class:`MergeArgs`) by name;
``--list-checks``, ``--explain`` and ``--version`` are eager callbacks that answer and exit before
anything is built; :func:`execute` builds the configuration, the runner and the reporters, checks,
writes the reports and returns them, and raises a typed error when it cannot. Every command ends in
:meth:`HubcheckGroup.invoke`, which tells the user about that error and leaves the exit code to
:func:`hubcheck.exitcodes.exit_code`, the one place that decides it.

Tests substitute the runner through click's context object: ``CliRunner().invoke(main, args,
obj=factory)`` with a :data:`~hubcheck.runners.RunnerFactory`.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hubcheck.catalog import (
    CatalogEntry,
    CatalogError,
    Shard,
    ShardRecord,
    catalog_sha256,
    entries_from_args,
    read_catalog,
    shard_problems,
    with_shard,
)
from hubcheck.config import Config, ConfigError, Settings, load_config
from hubcheck.exitcodes import Crash, Incomplete, Outcome, exit_code
from hubcheck.isolation import DEFAULT_TIMEOUT_S, MEMORY_SHARE, Limits, Stopped, children_die_with_us, parse_memory_cap
from hubcheck.options import RunOptions, Task, Tolerances, parse_tolerance
from hubcheck.pool import Job, ModelCrash, check_all, default_jobs
from hubcheck.reporters import REPORTERS, build_reporter
from hubcheck.results import Report, one_line, unavailable_report
from hubcheck.runners import Runner, RunnerFactory, default_runner

if TYPE_CHECKING:
    from hubcheck.sources import ResolvedModel


@dataclass(frozen=True, kw_only=True)
class CheckArgs:
    """``hubcheck [check]``'s command line, parsed but not yet interpreted; click fills it by name.
    ``None`` means "not given": the configuration file (or the built-in default) decides."""

    models: tuple[str, ...] = ()
    task: str | None = None
    input_sizes: tuple[str, ...] = ()
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    strict: bool | None = None
    format: str = "table"
    output: Path | None = None
    reports: tuple[str, ...] = ()
    tolerances: tuple[str, ...] = ()
    config: Path | None = None
    no_config: bool = False
    allow_unsafe_ops: bool = False
    in_process: bool = False
    timeout: float | None = DEFAULT_TIMEOUT_S
    max_memory: str | None = None
    offline: bool = False
    cache_dir: Path | None = None
    fetch_timeout: float = 60.0
    catalogs: tuple[Path, ...] = ()
    jobs: int | None = None
    shard: str | None = None
    debug: bool = False
    doc: Path | None = None
    write_doc: Path | None = None


@dataclass(frozen=True, kw_only=True)
class MergeArgs:
    """``hubcheck merge``'s command line: JSON reports in, one catalog report out."""

    inputs: tuple[Path, ...]
    format: str = "table"
    output: Path | None = None
    reports: tuple[str, ...] = ()
    allow_partial: bool = False


# -- building what the command line names ----------------------------------------------------------------


def _split_ids(values: tuple[str, ...]) -> frozenset[str]:
    return frozenset(part.strip() for value in values for part in value.split(",") if part.strip())


def build_config(args: CheckArgs) -> Config:
    """``--config PATH``, else the nearest ``pyproject.toml`` with ``[tool.hubcheck]``, else nothing."""
    if args.no_config:
        if args.config is not None:
            raise click.UsageError("--config and --no-config contradict each other")
        return Config()
    try:
        return load_config(args.config)
    except ConfigError as exc:
        raise click.UsageError(f"bad configuration: {exc}") from None


def build_settings(args: CheckArgs) -> Settings:
    """The command line as the top layer of settings, validated as :func:`hubcheck.check` validates its
    arguments (:meth:`Settings.of`); raises click.UsageError (exit 2) on bad values."""
    try:
        tolerances = dict(parse_tolerance(text) for text in args.tolerances)
        return Settings.of(
            task=args.task,
            input_sizes=args.input_sizes or None,
            select=_split_ids(args.select) if args.select else None,
            ignore=_split_ids(args.ignore) if args.ignore else None,
            strict=args.strict,
            tolerances=tolerances,
            allow_unsafe_ops=True if args.allow_unsafe_ops else None,
            doc=args.doc,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def build_run_options(settings: Settings, config: Config, model: Path | None = None) -> RunOptions:
    """What to run on ``model``: the command line over its configuration over the defaults; a
    documentation file that cannot be read is a usage error."""
    from hubcheck.documentation import DocumentationError

    try:
        if model is not None:
            return config.run_options(model, settings)
        return settings.over(config.settings).run_options()
    except DocumentationError as exc:
        raise click.UsageError(f"--doc: {exc}") from None


def build_outputs(args: CheckArgs | MergeArgs) -> list[tuple[str, Path | None]]:
    """``(format, file)`` pairs: ``--format``/``--output`` first (``None``: stdout), then each ``--report``."""
    outputs: list[tuple[str, Path | None]] = [(args.format, args.output)]
    for text in args.reports:
        name, sep, target = text.partition("=")
        if not sep or not target:
            raise click.UsageError(f"--report must look like FORMAT=PATH, e.g. junit=hubcheck.xml; got {text!r}")
        if name not in REPORTERS:
            raise click.UsageError(f"--report {text}: unknown format {name!r} (known: {', '.join(REPORTERS)})")
        outputs.append((name, Path(target)))
    for option, (_, path) in zip(["--output", *(["--report"] * len(args.reports))], outputs):
        _validate_output(path, option)
    return outputs


def _validate_output(output: Path | None, option: str = "--output") -> None:
    """Refuse, before any model runs, a report path that could not be written."""
    if output is None:
        return
    target = output.resolve()
    if target.is_dir():
        raise click.UsageError(f"{option} {output} is a directory; give a file path")
    if target.exists() and not target.is_file():
        return  # a device or pipe (/dev/stdout, a FIFO): written in place
    if not target.parent.is_dir():
        raise click.UsageError(f"{option} {output}: folder {output.parent} does not exist")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise click.UsageError(f"{option} {output}: folder {output.parent} is not writable")


def build_limits(args: CheckArgs) -> Limits | None:
    """How the child process is bounded; ``None`` with ``--in-process``."""
    if args.in_process:
        return None
    try:
        memory = parse_memory_cap(args.max_memory)
    except ValueError as exc:
        raise click.UsageError(f"--max-memory: {exc}") from None
    return Limits(timeout_s=args.timeout, max_memory_bytes=memory)


def build_entries(args: CheckArgs) -> list[CatalogEntry]:
    """Every model named: the MODEL arguments, then each ``--catalog`` file's lines; exit 2 when none."""
    entries = entries_from_args(args.models)
    try:
        for catalog in args.catalogs:
            entries += read_catalog(catalog)
    except CatalogError as exc:
        raise click.UsageError(str(exc)) from None
    if not entries:
        raise click.UsageError(f"no models to check: {', '.join(map(str, args.catalogs))} lists none")
    return entries


def build_shard(args: CheckArgs) -> Shard | None:
    """``--shard I/N`` (1-based); exit 2 for 0/4, 5/4 or anything that is not I/N."""
    if args.shard is None:
        return None
    try:
        return Shard.parse(args.shard)
    except CatalogError as exc:
        raise click.UsageError(str(exc)) from None


def build_workers(args: CheckArgs, runner: Runner) -> int:
    """How many models to check at once: ``--jobs``, else the CPU count; 1 when the runner runs in this process."""
    if not runner.parallel:
        if args.jobs is not None and args.jobs > 1:
            click.echo(f"hubcheck: --jobs {args.jobs} ignored: --in-process checks one model at a time "
                       "(in parallel, each model gets its own bounded process)", err=True)
        return 1
    return args.jobs if args.jobs is not None else default_jobs()


# -- eager options: answer and exit before anything is built ----------------------------------------------


def _list_checks(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from hubcheck.registry import available_checks

    width = max(len(check.id) for check in available_checks())
    click.echo("\n".join(f"{check.id:<{width}}  {check.title}" for check in available_checks()))
    ctx.exit()


def _explain(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is None or ctx.resilient_parsing:
        return
    from hubcheck.registry import explain, get_check

    try:
        check = get_check(value)
    except KeyError:
        raise click.UsageError(f"unknown check id {value!r}; see hubcheck --list-checks", ctx) from None
    click.echo(explain(check))
    ctx.exit()


def report_options(format_help: str, what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--format``/``--output``/``--report``, shared by the commands that write reports."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed([
            click.option("--format", "format", type=click.Choice(list(REPORTERS)), default="table",
                         show_default=True, help=format_help),
            click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
                         help=f"Write {what} to this file instead of stdout."),
            click.option("--report", "reports", multiple=True, metavar="FORMAT=PATH",
                         help=f"Also write {what} in FORMAT ({', '.join(REPORTERS)}) to PATH (repeatable)."),
        ]):
            command = option(command)
        return command

    return decorate


# -- one way out --------------------------------------------------------------------------------------------


def report_error(error: BaseException) -> None:
    """Tell the user, on standard error, what stopped the command (the exit code says which kind it was)."""
    from hubcheck.sources import SourceError

    if isinstance(error, click.ClickException):
        error.show()
    elif isinstance(error, Stopped):
        click.echo(f"hubcheck: stopped by {error.name}; checking processes killed, no report written", err=True)
    elif isinstance(error, SourceError):
        click.echo(f"Error: {error}", err=True)
    elif isinstance(error, Incomplete):
        click.echo(f"hubcheck merge: {error}", err=True)
    elif isinstance(error, ModelCrash):
        click.echo(f"hubcheck: internal error while checking {error.label}; please report it with the command "
                   f"line and the output of `hubcheck --version`.\n{error.details}", err=True, nl=False)
    elif isinstance(error, Crash):
        click.echo(f"{error}\n{error.details}" if error.details else str(error), err=True)
    else:
        click.echo(f"hubcheck: internal error: {one_line(error)}; please report it with the command line and the "
                   f"output of `hubcheck --version`.\n{''.join(traceback.format_exception(error))}",
                   err=True, nl=False)


class HubcheckGroup(click.Group):
    """``hubcheck MODEL`` means ``hubcheck check MODEL``; ``hubcheck inspect MODEL`` is a subcommand.

    Every command's parsing and running happens inside :meth:`invoke`, which is where the process's
    exit code is decided, once, from the reports the command returned and the error that stopped it."""

    default_command = "check"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or args[0] not in self.commands:
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage("hubcheck", "[OPTIONS] MODEL... | --catalog FILE | inspect MODEL | merge REPORT... | doc PATH | "
                                       "export SOURCE OUT")

    def invoke(self, ctx: click.Context) -> Any:
        reports: Sequence[Outcome] = ()
        error: BaseException | None = None
        try:
            # SIGINT, SIGTERM or SIGHUP kill every checking child at once and raise Stopped.
            with children_die_with_us():
                reports = super().invoke(ctx) or ()
        except click.exceptions.Exit:  # --help, --version, --list-checks, --explain: answered, nothing to decide
            raise
        except (Exception, Stopped) as caught:
            error = caught
            report_error(caught)
        ctx.exit(exit_code(reports, error))


@click.group(cls=HubcheckGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Conformance checks for TF2 image models published as Reusable SavedModels."""


def runners_from(ctx: click.Context) -> RunnerFactory:
    """The runner factory a caller put in click's context object (a test's fake), else the real one."""
    factory = ctx.find_root().obj
    return factory if callable(factory) else default_runner


# -- hubcheck [check] MODEL... ----------------------------------------------------------------------------


@main.command(
    "check",
    epilog="Settings come from [tool.hubcheck] in the nearest pyproject.toml (or --config); the command line "
    "overrides them. Exit codes: 0 conforms, 1 a check failed or errored (or warned with --strict), "
    "2 usage or configuration error, 3 internal error, 4 the model could not be downloaded, "
    "129/130/143 stopped by SIGHUP/SIGINT/SIGTERM (no report). "
    "Catalog mode (--catalog, --jobs, --shard, hubcheck merge): docs/catalog.md. See also: hubcheck inspect MODEL.",
)
@click.argument("models", nargs=-1, metavar="MODEL...")
@click.option("--task", type=click.Choice([t.value for t in Task]), default=None,
              help="What the model is; 'auto' guesses from its output and says why.  [default: auto]")
@click.option("--input-size", "input_sizes", multiple=True, metavar="HxW",
              help="Height x width to probe when the traces do not fix it (repeatable).")
@click.option("--select", multiple=True, metavar="IDS", help="Run only these checks (comma-separated, repeatable).")
@click.option("--ignore", multiple=True, metavar="IDS", help="Skip these checks (comma-separated, repeatable).")
@click.option("--strict/--no-strict", default=None,
              help="Warnings fail the run too (--no-strict overrides strict = true in the configuration).")
@report_options("Report format; several models give one combined document.", "the report")
@click.option("--tolerance", "tolerances", multiple=True, metavar="NAME=VALUE",
              help=f"Change a numeric tolerance ({', '.join(Tolerances.names())}).")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path),
              help="Read [tool.hubcheck] from this TOML file instead of the nearest pyproject.toml.")
@click.option("--no-config", is_flag=True, help="Ignore every configuration file.")
@click.option("--allow-unsafe-ops", is_flag=True,
              help="Load and call the model even when unsafe-ops fails (read its finding first).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_TIMEOUT_S, show_default=True,
              metavar="SECONDS", help="Stop checking a model after this long; the running check becomes an error.")
@click.option("--max-memory", metavar="SIZE",
              help=f"Stop when the checking process holds more than SIZE (e.g. 4G; 'none' for no cap).  "
                   f"[default: {MEMORY_SHARE:.0%} of the machine's memory]")
@click.option("--in-process", is_flag=True, envvar="HUBCHECK_IN_PROCESS", show_envvar=True,
              help="Run the model in the hubcheck process itself (no isolation, no --timeout/--max-memory).")
@click.option("--offline", is_flag=True, help="Use only models already in the cache; never download.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Cache for downloads and unpacked archives; it must be yours alone (docs/sources.md).  "
                   "[default: $TFHUB_CACHE_DIR, else ~/.cache/hubcheck]")
@click.option("--fetch-timeout", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
              metavar="SECONDS", help="Give up a download when the host sends nothing, or under 16 KiB/s, for this "
                                      "long, or when the whole download takes 30 times this long.")
@click.option("--catalog", "catalogs", multiple=True, type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Also check the models listed in FILE, one MODEL per line; '#' starts a comment, relative "
                   "paths are relative to FILE's folder (repeatable).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, metavar="N",
              help="Check N models at once, each in its own bounded process.  [default: the number of CPUs]")
@click.option("--shard", metavar="I/N",
              help="Check only the I-th (1-based) of N deterministic slices of the models, e.g. one job of a "
                   "CI matrix; combine the slices' JSON reports with hubcheck merge.")
@click.option("--debug", is_flag=True, help="Keep the traceback of a check that raised in its details.")
@click.option("--doc", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
              help="The model's documentation (TF Hub markdown or Kaggle model-instance-metadata.json): the doc-* "
                   "checks compare it with the model (one MODEL; per model: doc = \"...\" in [tool.hubcheck]).")
@click.option("--write-doc", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
              help="Write a draft documentation of what the run measured: TF Hub markdown for .md, Kaggle "
                   "metadata for .json (one MODEL).")
@click.option("--list-checks", is_flag=True, is_eager=True, expose_value=False, callback=_list_checks,
              help="List the checks and exit.")
@click.option("--explain", metavar="ID", is_eager=True, expose_value=False, callback=_explain,
              help="Explain one check (when it fails, how to fix it) and exit.")
@click.version_option(package_name="hubcheck", prog_name="hubcheck")
@click.pass_context
def check_command(ctx: click.Context, /, **params: Any) -> list[Report]:
    """Check each MODEL (a SavedModel directory, a .tar.gz of one, a URL or a hub handle) against the image API."""
    return execute(CheckArgs(**params), runners_from(ctx))


def execute(args: CheckArgs, runners: RunnerFactory = default_runner) -> list[Report]:
    """Check every model ``args`` names with the runner ``runners`` makes, write the reports, return them.

    Raises click.UsageError (and :class:`hubcheck.sources.SourceError`) before any model is checked when
    the command line, the configuration or a model's path is not usable, :class:`hubcheck.sources.FetchError`
    when the one model named cannot be downloaded, :class:`hubcheck.pool.ModelCrash` when hubcheck itself
    fails on a model.
    """
    if not args.models and not args.catalogs:
        raise click.UsageError("missing MODEL: give the path of a SavedModel directory (or --catalog FILE)")
    if (args.doc or args.write_doc) and (len(args.models) != 1 or args.catalogs):
        raise click.UsageError("--doc and --write-doc go with one MODEL; for several, give each model's doc in "
                               "[tool.hubcheck.models.\"PATH\"] doc = \"...\"")
    if args.write_doc is not None:
        if args.write_doc.suffix.lower() not in (".md", ".json"):
            raise click.UsageError(f"--write-doc {args.write_doc}: the name must end in .md (TF Hub markdown) or "
                                   ".json (Kaggle model-instance-metadata.json)")
        _validate_output(args.write_doc, "--write-doc")
    configuration = build_config(args)
    settings = build_settings(args)
    limits = build_limits(args)
    outputs = build_outputs(args)
    part = build_shard(args)
    entries = build_entries(args)
    runner = runners(limits)
    workers = build_workers(args, runner)
    record = None if part is None else ShardRecord(part, catalog_sha256(entries), len(entries))
    if part is not None:
        mine = part.select(entries)
        click.echo(f"hubcheck: shard {part}: {len(mine)} of {len(entries)} models"
                   + ("; nothing to check" if not mine else ""), err=True)
        entries = mine
    # Every download before any check. With several models, one that cannot be fetched becomes a
    # report of its own (and exit 4) instead of stopping the rest of the catalog.
    many = len(entries) > 1 or bool(args.catalogs)
    resolved = [_resolve(args, entry.target, keep_going=many) for entry in entries]
    jobs = [Job(model, dataclasses.replace(build_run_options(settings, configuration, _config_key(model)),
                                           debug=args.debug, **_entry_doc(entry)))
            for entry, model in zip(entries, resolved) if not isinstance(model, str)]
    if limits is None or len(jobs) != 1:
        from hubcheck import prestart

        prestart.discard()  # a child started early for one isolated model: not this run's
    checked = iter(_check(jobs, runner, workers))
    results = [
        unavailable_report(entry.target, build_run_options(settings, configuration), model)
        if isinstance(model, str) else next(checked)
        for entry, model in zip(entries, resolved)
    ]
    if record is not None:  # so that hubcheck merge can tell a missing or duplicated shard
        results = [with_shard(report, record) for report in results]
    write_outputs(results, outputs)
    if args.write_doc is not None and results:
        problem = draft_problem(results[0])
        if problem:
            click.echo(f"hubcheck: no draft written to {args.write_doc}: {problem}", err=True)
        else:
            write_draft_doc(results[0], args.write_doc)
    return results


def draft_problem(report: Report) -> str | None:
    """Why a run cannot vouch for a draft documentation (a draft states what the run measured)."""
    if report.root_causes:
        return f"the model does not conform (fix first: {', '.join(report.root_causes)})"
    results = {result.id: result for result in report.checks}
    for needed in ("output-shape", "input-range", "gradient-flow"):
        if needed not in results:
            return f"the run did not judge {needed}; run every check to write a draft"
    if "task" not in report.model or "output_width" not in report.model:
        return "the run did not measure the task and the output width; run every check to write a draft"
    return None


def _entry_doc(entry: CatalogEntry) -> dict[str, Any]:
    """A catalog line's own documentation (``MODEL doc=PATH``), read now: a bad one is a usage error."""
    if entry.doc is None:
        return {}
    from hubcheck.documentation import DocumentationError, read_documentation

    try:
        return {"documentation": read_documentation(Path(entry.doc).expanduser())}
    except DocumentationError as exc:
        raise click.UsageError(f"{entry.origin}: doc={entry.doc}: {exc}") from None


def write_draft_doc(report: Report, path: Path) -> None:
    """A draft of the model's documentation from what ``report`` measured (``--write-doc``)."""
    from hubcheck.documentation import DocInputSize, DocumentationError, MeasuredModel, write_documentation

    model = report.model
    sizes = model.get("input_sizes") or []
    source = str(model.get("input_sizes_source") or "")
    size = None
    if isinstance(sizes, list) and sizes and isinstance(sizes[0], list):
        size = DocInputSize(int(sizes[0][0]), int(sizes[0][1]), fixed=source.startswith("traced"))
    arguments: dict[str, Any] = {}
    hparams = next((result for result in report.checks if result.id == "hparam-arguments"), None)
    if hparams is not None and isinstance(hparams.details.get("defaults"), dict):
        arguments = {name: value for name, value in hparams.details["defaults"].items() if name != "training"}
    gradients = next((result for result in report.checks if result.id == "gradient-flow"), None)
    fine_tunable = bool(model.get("num_trainable_variables")) and (gradients is None or gradients.status.value == "pass")
    width = model.get("output_width")
    measured = MeasuredModel(
        task=str(model.get("task") or "image-feature-vector"),
        fine_tunable=fine_tunable,
        num_outputs=int(width) if isinstance(width, int) else None,
        input_size=size,
        arguments=arguments,
    )
    try:
        write_documentation(path, measured)
    except (DocumentationError, OSError) as exc:
        raise click.UsageError(f"--write-doc {path}: {exc}") from None
    click.echo(f"hubcheck: wrote a draft documentation to {path}", err=True)


def _resolve(args: CheckArgs, spec: str, keep_going: bool = False) -> ResolvedModel | str:
    """MODEL as a local directory: unpack archives, download URLs.

    Raises :class:`hubcheck.sources.SourceError` when it cannot be had; with ``keep_going``, a failed
    download is said on standard error and returned as its one-line reason, for the caller to report.
    """
    from hubcheck.sources import FetchError, resolve_model
    from hubcheck.ui import download_progress

    try:
        with download_progress(f"downloading {spec}", enabled=sys.stderr.isatty()) as bar:
            return resolve_model(spec, offline=args.offline, cache_dir=args.cache_dir,
                                 timeout_s=args.fetch_timeout, progress=bar, unpack_timeout_s=args.timeout)
    except FetchError as exc:
        if not keep_going:
            raise
        click.echo(f"Error: {exc}", err=True)
        return str(exc)


def _config_key(model: ResolvedModel) -> Path:
    """Per-model configuration is keyed by the path the user wrote (or the cache folder of a URL)."""
    return Path(model.source) if model.kind in ("directory", "archive", "file") else model.local_path


def _check(jobs: list[Job], runner: Runner, workers: int = 1) -> list[Report]:
    """Check each model with ``runner``, ``workers`` at a time, showing progress on a terminal; the
    reports in the order of ``jobs``."""
    from hubcheck.tfimport import native_logs_silenced
    from hubcheck.ui import progress_display

    labels = [job.label for job in jobs]
    with native_logs_silenced(), progress_display(labels, sys.stderr.isatty()) as observer:
        return check_all(jobs, runner, workers=workers, observer=observer)


def write_outputs(results: Sequence[Report], outputs: list[tuple[str, Path | None]]) -> None:
    """Render ``results`` once per output: stdout (colored for a terminal table) or a file, written whole."""
    for index, (name, path) in enumerate(outputs):
        if path is None:
            color = sys.stdout.isatty() and name == "table"
            click.echo(build_reporter(name).render(results, color=color), nl=False)
            continue
        write_atomically(path, build_reporter(name).render(results))
        if index == 0:
            from hubcheck.reporters.table import summary_line

            for report in results:
                click.echo(f"{summary_line(report)}; report written to {path}", err=True)


def write_atomically(path: Path, text: str) -> None:
    """Write the whole report or nothing: a reader never sees half a file.

    Symbolic links are followed (the link's target gets the report, the link stays), devices and
    pipes are written in place, and a new file gets the usual permissions (0666 less the umask).
    """
    target = path.resolve()
    if target.exists() and not target.is_file():
        with open(target, "w", encoding="utf-8") as stream:
            stream.write(text)
        return
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# -- hubcheck merge REPORT... -------------------------------------------------------------------------------


@main.command(
    "merge",
    epilog="Exit codes: 0 every model conforms, 1 at least one does not, 2 a file is not a hubcheck JSON report, "
    "5 shards missing, duplicated or of different catalogs (without --allow-partial). See docs/catalog.md.",
)
@click.argument("inputs", nargs=-1, required=True, metavar="REPORT...",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--allow-partial", is_flag=True,
              help="Merge shard reports even when shards are missing, duplicated or of different catalogs "
                   "(each problem is still a warning).")
@report_options('Format of the combined report (json gives {"reports": [...]}).', "the combined report")
def merge_command(**params: Any) -> list[Report]:
    """Combine JSON reports (per model or per shard, from hubcheck --format json) into one catalog report."""
    return merge(MergeArgs(**params))


def merge(args: MergeArgs) -> list[Report]:
    """Read every input's reports, write them as one report, return them; click.UsageError naming the first
    file that is not a report (nothing is written then)."""
    outputs = build_outputs(args)
    results = build_merged(args)
    write_outputs(results, outputs)
    return results


def build_merged(args: MergeArgs) -> list[Report]:
    """The reports of every input, in the order given; exit 2 naming the first file that is not a report,
    exit 5 (unless ``--allow-partial``) when the shard reports among them do not make one whole catalog."""
    from hubcheck.catalog import load_reports

    merged: list[tuple[Report, Path]] = []
    try:
        for path in args.inputs:
            merged += [(report, path) for report in load_reports(path)]
        problems = shard_problems([(str(path), [report for report, source in merged if source == path])
                                   for path in dict.fromkeys(args.inputs)])
    except CatalogError as exc:
        raise click.UsageError(str(exc)) from None
    if problems and not args.allow_partial:
        raise Incomplete("; ".join(problems) + " (nothing written; --allow-partial merges what is there)")
    for problem in problems:
        click.echo(f"hubcheck: warning: {problem}", err=True)
    seen: dict[str, Path] = {}
    for report, path in merged:
        name = str(report.model.get("path", "?"))
        if name in seen:
            click.echo(f"hubcheck: warning: {name} is in {seen[name]} and in {path}; both are kept", err=True)
        seen.setdefault(name, path)
    return [report for report, _ in merged]


from hubcheck.doc_cli import doc_command  # noqa: E402
from hubcheck.export_cli import export_command  # noqa: E402
from hubcheck.inspect_cli import inspect_command  # noqa: E402

main.add_command(inspect_command)
main.add_command(doc_command)
main.add_command(export_command)

if __name__ == "__main__":  # pragma: no cover
    main()
