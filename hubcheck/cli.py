"""Command line: parse options into a plain object, build what it names, run, report, exit.

``hubcheck MODEL`` runs the ``check`` command; other commands (``inspect``, ``merge``) are
subcommands of the same group. Catalog mode (``--catalog``, ``--jobs``, ``--shard``, ``merge``)
is described in docs/catalog.md.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hubcheck.catalog import CatalogEntry, CatalogError, Shard, default_jobs, entries_from_args, read_catalog
from hubcheck.config import Config, ConfigError, Settings, as_check_kwargs, load_config
from hubcheck.exitcodes import ExitCode, exit_code_for
from hubcheck.isolation import DEFAULT_TIMEOUT_S, MEMORY_SHARE, Limits, children_die_with_us, parse_memory_cap
from hubcheck.options import RunOptions, Task, Tolerances, parse_input_size, parse_tolerance
from hubcheck.reporters import REPORTERS, build_reporter
from hubcheck.results import Report

if TYPE_CHECKING:
    from hubcheck.runner import ProgressCallback
    from hubcheck.sources import ResolvedModel

Plan = tuple["ResolvedModel", RunOptions]


@dataclass(frozen=True)
class CliOptions:
    """The command line, parsed but not yet interpreted. ``None`` means "not given": the
    configuration file (or the built-in default) decides."""

    models: tuple[str, ...]
    task: str | None
    input_sizes: tuple[str, ...]
    select: tuple[str, ...]
    ignore: tuple[str, ...]
    strict: bool | None
    format: str
    output: Path | None
    reports: tuple[str, ...]
    tolerances: tuple[str, ...]
    config: Path | None
    no_config: bool
    allow_unsafe_ops: bool
    list_checks: bool
    explain: str | None
    in_process: bool = False
    timeout: float | None = None
    max_memory: str | None = None
    offline: bool = False
    cache_dir: Path | None = None
    fetch_timeout: float = 60.0
    catalogs: tuple[Path, ...] = ()
    jobs: int | None = None
    shard: str | None = None
    debug: bool = False


@dataclass(frozen=True)
class MergeOptions:
    """``hubcheck merge``'s command line: JSON reports in, one catalog report out."""

    inputs: tuple[Path, ...]
    format: str
    output: Path | None
    reports: tuple[str, ...]


def _split_ids(values: tuple[str, ...]) -> frozenset[str]:
    return frozenset(part.strip() for value in values for part in value.split(",") if part.strip())


def build_config(cli: CliOptions) -> Config:
    """``--config PATH``, else the nearest ``pyproject.toml`` with ``[tool.hubcheck]``, else nothing."""
    if cli.no_config:
        if cli.config is not None:
            raise click.UsageError("--config and --no-config contradict each other")
        return Config()
    try:
        return load_config(cli.config)
    except ConfigError as exc:
        raise click.UsageError(f"bad configuration: {exc}") from None


def build_settings(cli: CliOptions) -> Settings:
    """The command line as the top layer of settings; raises click.UsageError (exit 2) on bad values."""
    try:
        sizes = tuple(parse_input_size(text) for text in cli.input_sizes)
        tolerances = dict(parse_tolerance(text) for text in cli.tolerances)
        Tolerances().updated(tolerances)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    settings = Settings(
        task=Task(cli.task) if cli.task is not None else None,
        input_sizes=sizes or None,
        select=_split_ids(cli.select) if cli.select else None,
        ignore=_split_ids(cli.ignore) if cli.ignore else None,
        strict=cli.strict,
        tolerances=tuple(tolerances.items()),
        allow_unsafe_ops=True if cli.allow_unsafe_ops else None,
    )
    _validate_ids((settings.select or frozenset()) | (settings.ignore or frozenset()))
    return settings


def _validate_ids(ids: frozenset[str]) -> None:
    from hubcheck.registry import check_ids

    try:
        RunOptions(select=ids).validate_ids(check_ids())
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def build_run_options(cli: CliOptions, config: Config | None = None, model: Path | None = None) -> RunOptions:
    """What to run on ``model``: the command line over its configuration over the defaults."""
    settings = build_settings(cli)
    config = config or Config()
    return config.run_options(model, settings) if model is not None else settings.over(config.settings).run_options()


def build_outputs(cli: CliOptions | MergeOptions) -> list[tuple[str, Path | None]]:
    """``(format, file)`` pairs: ``--format``/``--output`` first (``None``: stdout), then each ``--report``."""
    outputs: list[tuple[str, Path | None]] = [(cli.format, cli.output)]
    for text in cli.reports:
        name, sep, target = text.partition("=")
        if not sep or not target:
            raise click.UsageError(f"--report must look like FORMAT=PATH, e.g. junit=hubcheck.xml; got {text!r}")
        if name not in REPORTERS:
            raise click.UsageError(f"--report {text}: unknown format {name!r} (known: {', '.join(REPORTERS)})")
        outputs.append((name, Path(target)))
    for option, (_, path) in zip(["--output", *(["--report"] * len(cli.reports))], outputs):
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


def build_entries(cli: CliOptions) -> list[CatalogEntry]:
    """Every model named: the MODEL arguments, then each ``--catalog`` file's lines; exit 2 when none."""
    entries = entries_from_args(cli.models)
    try:
        for catalog in cli.catalogs:
            entries += read_catalog(catalog)
    except CatalogError as exc:
        raise click.UsageError(str(exc)) from None
    if not entries:
        raise click.UsageError(f"no models to check: {', '.join(map(str, cli.catalogs))} lists none")
    return entries


def build_shard(cli: CliOptions) -> Shard | None:
    """``--shard I/N`` (1-based); exit 2 for 0/4, 5/4 or anything that is not I/N."""
    if cli.shard is None:
        return None
    try:
        return Shard.parse(cli.shard)
    except CatalogError as exc:
        raise click.UsageError(str(exc)) from None


def build_jobs(cli: CliOptions, limits: Limits | None) -> int:
    """How many models to check at once: ``--jobs``, else the CPU count; 1 with ``--in-process``."""
    if limits is None:
        if cli.jobs is not None and cli.jobs > 1:
            click.echo(f"hubcheck: --jobs {cli.jobs} ignored: --in-process checks one model at a time "
                       "(in parallel, each model gets its own bounded process)", err=True)
        return 1
    return cli.jobs if cli.jobs is not None else default_jobs()


def report_options(format_help: str, what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--format``/``--output``/``--report``, shared by the commands that write reports."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed([
            click.option("--format", "format_", type=click.Choice(list(REPORTERS)), default="table",
                         show_default=True, help=format_help),
            click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
                         help=f"Write {what} to this file instead of stdout."),
            click.option("--report", "reports", multiple=True, metavar="FORMAT=PATH",
                         help=f"Also write {what} in FORMAT ({', '.join(REPORTERS)}) to PATH (repeatable)."),
        ]):
            command = option(command)
        return command

    return decorate


def _stops_on_signals(command: Callable[..., None]) -> Callable[..., None]:
    """SIGINT, SIGTERM or SIGHUP kill every checking child at once; hubcheck then exits 128 + the signal
    number (130, 143, 129) without writing a report (docs/exit-codes.md)."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        from hubcheck.isolation import Stopped

        try:
            with children_die_with_us():
                command(*args, **kwargs)
        except Stopped as stopped:
            click.echo(f"hubcheck: stopped by {stopped.name}; checking processes killed, no report written",
                       err=True)
            sys.exit(stopped.exit_code)

    return run


class DefaultGroup(click.Group):
    """``hubcheck MODEL`` means ``hubcheck check MODEL``; ``hubcheck inspect MODEL`` is a subcommand."""

    default_command = "check"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or args[0] not in self.commands:
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage("hubcheck", "[OPTIONS] MODEL... | --catalog FILE | inspect MODEL | merge REPORT...")


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Conformance checks for TF2 image models published as Reusable SavedModels."""


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
@click.option("--list-checks", is_flag=True, help="List the checks and exit.")
@click.option("--explain", metavar="ID", help="Explain one check (when it fails, how to fix it) and exit.")
@click.version_option(package_name="hubcheck", prog_name="hubcheck")
@_stops_on_signals
def check_command(models: tuple[str, ...], task: str | None, input_sizes: tuple[str, ...], select: tuple[str, ...],
                  ignore: tuple[str, ...], strict: bool | None, format_: str, output: Path | None,
                  reports: tuple[str, ...], tolerances: tuple[str, ...], config: Path | None, no_config: bool,
                  allow_unsafe_ops: bool, timeout: float, max_memory: str | None, in_process: bool, offline: bool,
                  cache_dir: Path | None, fetch_timeout: float, catalogs: tuple[Path, ...], jobs: int | None,
                  shard: str | None, debug: bool, list_checks: bool, explain: str | None) -> None:
    """Check each MODEL (a SavedModel directory, a .tar.gz of one, a URL or a hub handle) against the image API."""
    cli = CliOptions(models, task, input_sizes, select, ignore, strict, format_, output, reports, tolerances,
                     config, no_config, allow_unsafe_ops, list_checks, explain, in_process, timeout, max_memory,
                     offline, cache_dir, fetch_timeout, catalogs, jobs, shard, debug)
    if cli.list_checks:
        click.echo(_list_checks(), nl=False)
        return
    if cli.explain:
        click.echo(_explain(cli.explain), nl=False)
        return
    if not cli.models and not cli.catalogs:
        raise click.UsageError("missing MODEL: give the path of a SavedModel directory (or --catalog FILE)")
    configuration = build_config(cli)
    limits = build_limits(cli)
    outputs = build_outputs(cli)
    part = build_shard(cli)
    entries = build_entries(cli)
    workers = build_jobs(cli, limits)
    if part is not None:
        mine = part.select(entries)
        click.echo(f"hubcheck: shard {part}: {len(mine)} of {len(entries)} models"
                   + ("; nothing to check" if not mine else ""), err=True)
        entries = mine
    # Every download before any check. With several models, one that cannot be fetched becomes a
    # report of its own (and exit 4) instead of stopping the rest of the catalog.
    many = len(entries) > 1 or bool(cli.catalogs)
    resolved = [_resolve(cli, entry.target, keep_going=many) for entry in entries]
    plans = [(model, dataclasses.replace(build_run_options(cli, configuration, _config_key(model)), debug=cli.debug))
             for model in resolved if not isinstance(model, str)]

    from hubcheck.runner import unavailable_report

    checked = iter(_run(plans, limits, workers))
    results = [
        unavailable_report(entry.target, build_run_options(cli, configuration), model)
        if isinstance(model, str) else next(checked)
        for entry, model in zip(entries, resolved)
    ]
    _write_outputs(results, outputs)
    sys.exit(int(exit_code_for(results)))


def _write_outputs(results: Sequence[Report], outputs: list[tuple[str, Path | None]]) -> None:
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


def build_limits(cli: CliOptions) -> Limits | None:
    """How the child process is bounded; ``None`` with ``--in-process``."""
    if cli.in_process:
        return None
    try:
        memory = parse_memory_cap(cli.max_memory)
    except ValueError as exc:
        raise click.UsageError(f"--max-memory: {exc}") from None
    return Limits(timeout_s=cli.timeout, max_memory_bytes=memory)


def _resolve(cli: CliOptions, spec: str, keep_going: bool = False) -> ResolvedModel | str:
    """MODEL as a local directory: unpack archives, download URLs.

    When it cannot be had: exit 2 (usage) or 4 (fetch); with ``keep_going``, a failed fetch is
    returned as its one-line reason instead, for the caller to report.
    """
    from hubcheck.sources import SourceError, download_progress, resolve_model

    try:
        with download_progress(f"downloading {spec}", enabled=sys.stderr.isatty()) as bar:
            return resolve_model(spec, offline=cli.offline, cache_dir=cli.cache_dir,
                                 timeout_s=cli.fetch_timeout, progress=bar, unpack_timeout_s=cli.timeout)
    except SourceError as exc:
        click.echo(f"Error: {exc}", err=True)
        if keep_going and exc.exit_code == ExitCode.FETCH:
            return str(exc)
        sys.exit(exc.exit_code)


def _config_key(model: ResolvedModel) -> Path:
    """Per-model configuration is keyed by the path the user wrote (or the cache folder of a URL)."""
    return Path(model.source) if model.kind in ("directory", "archive", "file") else model.local_path


def _run(plans: list[Plan], limits: Limits | None, jobs: int = 1) -> list[Report]:
    """Check each model through the Python API, ``jobs`` at a time, each in its own bounded process (unless
    ``limits`` is ``None``: in this process, one by one). Reports come in the order of ``plans``, a model
    that fails or dies is a report like the others, and a crash of hubcheck itself exits 3."""
    import hubcheck
    from hubcheck.catalog import ModelCrash, check_all, progress_display
    from hubcheck.isolation import stop_all_children
    from hubcheck.tfimport import native_logs_silenced

    isolation = {"isolate": False} if limits is None else {
        "isolate": True, "timeout_s": limits.timeout_s, "max_memory_bytes": limits.max_memory_bytes or 0}  # 0: no cap

    def check_one(plan: Plan, progress: ProgressCallback | None) -> Report:
        model, options = plan
        return hubcheck.check(model, progress=progress, **isolation, **as_check_kwargs(options))

    labels = [model.source for model, _ in plans]
    try:
        with native_logs_silenced(), progress_display(labels, sys.stderr.isatty()) as observer:
            return check_all(plans, check_one, labels=labels, jobs=jobs, observer=observer,
                             stop_children=stop_all_children)
    except ModelCrash as crash:
        click.echo(f"hubcheck: internal error while checking {crash.label}; please report it with the command "
                   f"line and the output of `hubcheck --version`.\n{crash.details}", err=True, nl=False)
        sys.exit(int(ExitCode.INTERNAL))


@main.command(
    "merge",
    epilog="Exit codes: 0 every model conforms, 1 at least one does not, 2 a file is not a hubcheck JSON report. "
    "See docs/catalog.md.",
)
@click.argument("inputs", nargs=-1, required=True, metavar="REPORT...",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@report_options('Format of the combined report (json gives {"reports": [...]}).', "the combined report")
def merge_command(inputs: tuple[Path, ...], format_: str, output: Path | None, reports: tuple[str, ...]) -> None:
    """Combine JSON reports (per model or per shard, from hubcheck --format json) into one catalog report."""
    options = MergeOptions(inputs, format_, output, reports)
    outputs = build_outputs(options)
    results = build_merged(options)
    _write_outputs(results, outputs)
    sys.exit(int(exit_code_for(results)))


def build_merged(options: MergeOptions) -> list[Report]:
    """The reports of every input, in the order given; exit 2 naming the first file that is not a report."""
    from hubcheck.catalog import load_reports

    merged: list[tuple[Report, Path]] = []
    try:
        for path in options.inputs:
            merged += [(report, path) for report in load_reports(path)]
    except CatalogError as exc:
        raise click.UsageError(str(exc)) from None
    seen: dict[str, Path] = {}
    for report, path in merged:
        name = str(report.model.get("path", "?"))
        if name in seen:
            click.echo(f"hubcheck: warning: {name} is in {seen[name]} and in {path}; both are kept", err=True)
        seen.setdefault(name, path)
    return [report for report, _ in merged]


from hubcheck.inspect_cli import inspect_command  # noqa: E402

main.add_command(inspect_command)

if __name__ == "__main__":  # pragma: no cover
    main()
