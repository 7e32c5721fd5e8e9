"""pytest plugin: every (model, check) pair is a test item named ``PATH::CHECK-ID``.

Registered through the ``pytest11`` entry point and inert unless asked::

    pytest --hubcheck models/my-model            # repeatable
    # or, in pyproject.toml:  [tool.pytest.ini_options]  hubcheck_models = ["models/my-model"]

``fail`` fails the item with the finding's message (no traceback), ``skip`` skips it
with the reason, ``warn`` passes with a :class:`HubcheckWarning` (fails under
``strict``), ``error`` is a pytest error. Each model is checked by one
:func:`hubcheck.check` call per session, made when its first item runs and
limited to the checks still selected after ``-k``/``--deselect``/``-m``.
Collection never imports TensorFlow.

For hand-written tests, the ``hubcheck_report`` fixture returns a function
``hubcheck_report(path, **options) -> Report`` sharing the same cache.

Models are checked in the pytest process (:class:`hubcheck.runners.InProcessRunner`) unless a plugin
or ``conftest.py`` implements the hook ``pytest_hubcheck_runner(config)`` and returns another
:class:`hubcheck.runners.Runner` (an :class:`~hubcheck.runners.IsolatedRunner`, or a test's fake).
"""

from __future__ import annotations

import dataclasses
import json
import traceback
import warnings
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from _pytest.outcomes import Failed  # pytest.fail.Exception, importable as a base class

from hubcheck.config import Config, ConfigError, Settings, as_check_kwargs, load_config
from hubcheck.options import RunOptions, Task, parse_input_size
from hubcheck.results import CheckResult, Report, Status

if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr

    from hubcheck.runners import Runner

MARKER = "hubcheck"


class HubcheckWarning(UserWarning):
    """A check that warned. The item passes; ``-W error::hubcheck.plugin.HubcheckWarning`` fails it."""


class HubcheckFailure(Exception):
    """A check that failed: :meth:`HubcheckItem.repr_failure` shows its message instead of a traceback."""


class HubcheckError(Failed):
    """A check that errored (or a run that crashed), raised in setup so that pytest reports an error.

    A ``pytest.fail`` without traceback: pytest does not format a traceback nobody will read.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, pytrace=False)


@dataclass(frozen=True)
class ModelSpec:
    """One model to check: where it is, how its items are named, and with which options."""

    path: Path  # resolved
    name: str  # the node id: relative to the rootdir when inside it, else absolute
    options: RunOptions


class _Crash:
    """hubcheck itself raised while checking a model; every item of that model reports it."""

    def __init__(self, model: Path) -> None:
        self.message = f"hubcheck itself crashed while checking {model}; please report it:\n{traceback.format_exc()}"


class HubcheckHookSpecs:
    """The hook the plugin adds to pytest."""

    @pytest.hookspec(firstresult=True)
    def pytest_hubcheck_runner(self, config: pytest.Config) -> Runner | None:
        """The :class:`hubcheck.runners.Runner` that checks the session's models; ``None`` for the
        default, in the pytest process."""


class HubcheckSession:
    """The plugin's state for one pytest session: the models, and one report per (model, options)."""

    def __init__(self, config: pytest.Config, runner: Runner | None = None) -> None:
        from hubcheck.runners import InProcessRunner

        self.pytest_config = config
        self.runner: Runner = InProcessRunner() if runner is None else runner
        self.models: list[ModelSpec] = []
        self.item_options: dict[Path, RunOptions] = {}  # per model: narrowed to the items left after deselection
        self._reports: dict[tuple[Path, RunOptions], Report | _Crash] = {}
        self._file_config: Config | None = None

    # -- configuration ---------------------------------------------------------------------

    def file_config(self) -> Config:
        """``--hubcheck-config``, else ``[tool.hubcheck]`` found from the invocation directory upward."""
        if self._file_config is None:
            explicit = self.pytest_config.getoption("hubcheck_config")
            start = self.pytest_config.invocation_params.dir
            path = None if explicit is None else start / explicit
            self._file_config = load_config(path, start=start)
        return self._file_config

    def command_line(self) -> Settings:
        """The ``--hubcheck-*`` options: they override the configuration file."""
        task = self.pytest_config.getoption("hubcheck_task")
        sizes = self.pytest_config.getoption("hubcheck_input_sizes") or []
        return Settings(task=None if task is None else Task(task),
                        input_sizes=tuple(parse_input_size(size) for size in sizes) or None,
                        allow_unsafe_ops=True if self.pytest_config.getoption("hubcheck_allow_unsafe_ops") else None)

    def options_for(self, model: Path, overrides: Settings = Settings()) -> RunOptions:
        return self.file_config().run_options(model, overrides.over(self.command_line()))

    def add_models(self, paths: Iterable[Path]) -> None:
        """Validate the requested models up front: a missing path or a bad configuration is a usage error."""
        rootpath = self.pytest_config.rootpath
        seen = {spec.path for spec in self.models}
        for path in paths:
            model = path.resolve()
            if model in seen:
                continue
            if not model.exists():
                raise pytest.UsageError(f"hubcheck: no such model path: {path}")
            seen.add(model)
            try:
                options = self.options_for(model)
            except (ConfigError, ValueError) as exc:
                raise pytest.UsageError(f"hubcheck: {exc}") from None
            self.models.append(ModelSpec(model, _node_name(model, rootpath), options))

    # -- running ---------------------------------------------------------------------------

    def narrow(self, spec: ModelSpec, selected: set[str]) -> None:
        """Check only the ``selected`` ids (and the checks they run after) when some items were deselected."""
        from hubcheck.registry import available_checks, get_check

        wanted = {check.id for check in available_checks() if spec.options.wants(check.id)}
        if selected >= wanted:
            self.item_options[spec.path] = spec.options
            return
        needed: set[str] = set()
        pending = list(selected)
        while pending:
            check_id = pending.pop()
            if check_id not in needed:
                needed.add(check_id)
                try:
                    pending.extend(get_check(check_id).requires)
                except KeyError:  # a plugin check naming a check that is not installed: the runner ignores it too
                    pass
        self.item_options[spec.path] = dataclasses.replace(spec.options, select=frozenset(needed))

    def report(self, model: Path, options: RunOptions) -> Report | _Crash:
        """The report of ``model`` under ``options``, computed on first request only."""
        key = (model, options)
        if key not in self._reports:
            import hubcheck
            from hubcheck.tfimport import native_logs_silenced

            try:
                with native_logs_silenced():
                    self._reports[key] = hubcheck.check(model, runner=self.runner, **as_check_kwargs(options))
            except Exception:
                self._reports[key] = _Crash(model)
        return self._reports[key]


_STATE = pytest.StashKey[HubcheckSession]()


def _node_name(model: Path, rootpath: Path) -> str:
    try:
        return model.relative_to(rootpath).as_posix() or "."
    except ValueError:
        return model.as_posix()


def hubcheck_session(config: pytest.Config) -> HubcheckSession:
    """The plugin's state for this session (models, reports, the calls made so far)."""
    return config.stash[_STATE]


# -- collection ------------------------------------------------------------------------------


class HubcheckModel(pytest.Collector):
    """The items of one model: one per check its options want."""

    def __init__(self, *, spec: ModelSpec, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec

    def collect(self) -> Iterator[HubcheckItem]:
        from hubcheck.registry import available_checks  # imports the checks, never TensorFlow

        for check in available_checks():
            if self.spec.options.wants(check.id):
                yield HubcheckItem.from_parent(self, name=check.id, title=check.title)


class HubcheckItem(pytest.Item):
    """One check of one model."""

    def __init__(self, *, title: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check_id = self.name
        self.title = title
        self.result: CheckResult | None = None
        self.strict = False
        self.add_marker(MARKER)

    @property
    def spec(self) -> ModelSpec:
        parent = self.parent
        assert isinstance(parent, HubcheckModel)
        return parent.spec

    def setup(self) -> None:
        state = hubcheck_session(self.config)
        options = state.item_options.get(self.spec.path, self.spec.options)
        report = state.report(self.spec.path, options)
        if isinstance(report, _Crash):
            raise HubcheckError(report.message)
        try:
            self.result = report.result(self.check_id)
        except KeyError:
            raise HubcheckError(f"hubcheck reported no result for {self.check_id}") from None
        if self.result.status is Status.ERROR:
            raise HubcheckError(self.result.message)
        self.strict = report.strict

    def runtest(self) -> None:
        result = self.result
        assert result is not None, "setup() did not run"
        if result.status is Status.FAIL:
            raise HubcheckFailure(_failure_text(result))
        if result.status is Status.WARN:
            if self.strict:
                raise HubcheckFailure(_failure_text(result, "warning (strict: warnings fail): "))
            warnings.warn_explicit(HubcheckWarning(f"{self.check_id}: {result.message}"), HubcheckWarning,
                                   filename=self.spec.name, lineno=0)
        elif result.status is Status.SKIP:
            pytest.skip(result.message)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str | TerminalRepr:
        if isinstance(excinfo.value, HubcheckFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.spec.path, None, f"{self.spec.name}::{self.check_id}"


def _failure_text(result: CheckResult, prefix: str = "") -> str:
    text = prefix + result.message
    details = result.to_json()["details"]
    if details:
        text += "\ndetails: " + json.dumps(details, sort_keys=True)
    return text + f"\nhow to fix it: hubcheck --explain {result.id}"


# -- hooks -----------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hubcheck", "hubcheck: conformance checks of TF2 image SavedModels")
    group.addoption("--hubcheck", action="append", dest="hubcheck_paths", default=[], metavar="PATH",
                    help="Check the SavedModel at PATH: one test per check (repeatable).")
    group.addoption("--hubcheck-task", dest="hubcheck_task", choices=[t.value for t in Task], default=None,
                    help="What the models are (default: the configuration's task, else auto).")
    group.addoption("--hubcheck-input-size", dest="hubcheck_input_sizes", action="append", default=[],
                    metavar="HxW", help="Height x width to probe when the traces do not fix it (repeatable).")
    group.addoption("--hubcheck-config", dest="hubcheck_config", default=None, metavar="PATH",
                    help="Read [tool.hubcheck] from this TOML file instead of the nearest pyproject.toml.")
    group.addoption("--hubcheck-allow-unsafe-ops", dest="hubcheck_allow_unsafe_ops", action="store_true",
                    help="Load and call the models even when unsafe-ops fails (read its finding first).")
    parser.addini("hubcheck_models", type="paths", default=[],
                  help="SavedModel directories to check, like --hubcheck (relative to the ini file).")


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(HubcheckHookSpecs)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}: a hubcheck conformance check of a model (hubcheck plugin)")
    state = HubcheckSession(config, config.hook.pytest_hubcheck_runner(config=config))
    config.stash[_STATE] = state
    start = config.invocation_params.dir
    paths = [start / path for path in config.getoption("hubcheck_paths")]
    paths += list(config.getini("hubcheck_models"))
    if not paths:
        return  # inert
    try:
        state.command_line()
    except ValueError as exc:
        raise pytest.UsageError(f"--hubcheck-input-size: {exc}") from None
    state.add_models(paths)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """Add one collector per model to what the session collects, so that pytest's own machinery
    (collection counts, ``-k``, ``--deselect``, ``-m``, ``--lf``, ``--co``) handles their items."""
    report = yield
    if isinstance(collector, pytest.Session) and report.passed:
        state = collector.config.stash.get(_STATE, None)
        for spec in state.models if state is not None else ():
            assert isinstance(report.result, list)
            report.result.append(HubcheckModel.from_parent(collector, name=spec.name, nodeid=spec.name,
                                                           path=spec.path, spec=spec))
    return report


def pytest_collection_finish(session: pytest.Session) -> None:
    """Now that deselection is over, decide which checks each model's one run computes."""
    state = session.config.stash.get(_STATE, None)
    if state is None or not state.models:
        return
    selected: dict[Path, set[str]] = {spec.path: set() for spec in state.models}
    for item in _hubcheck_items(session.items):
        selected[item.spec.path].add(item.check_id)
    for spec in state.models:
        state.narrow(spec, selected[spec.path])


def _hubcheck_items(items: Sequence[pytest.Item]) -> Iterator[HubcheckItem]:
    return (item for item in items if isinstance(item, HubcheckItem))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Report checks by their messages: an error without a traceback, a skip at its model rather than
    at the line of this plugin that skipped it."""
    report = yield
    if not isinstance(item, HubcheckItem):
        return report
    if report.failed and call.excinfo is not None and isinstance(call.excinfo.value, HubcheckError):
        report.longrepr = str(call.excinfo.value)
    elif report.skipped and isinstance(report.longrepr, tuple) and item.result is not None:
        # No line number: the terminal summary then prints "SKIPPED [n] PATH: reason" (typed as int upstream).
        report.longrepr = (str(item.spec.path), None, item.result.message)  # type: ignore[assignment]
    return report


# -- fixture ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def hubcheck_report(pytestconfig: pytest.Config) -> Callable[..., Report]:
    """``hubcheck_report(path, **options) -> Report``: check a model from your own tests.

    ``path`` is relative to the rootdir; ``options`` are those of :func:`hubcheck.check`
    (``task``, ``input_sizes``, ``select``, ``ignore``, ``tolerances``, ``strict``,
    ``allow_unsafe_ops``) and
    override ``[tool.hubcheck]`` and ``--hubcheck-*``. Reports are cached for the session,
    shared with the ``--hubcheck`` items: the same model and options are checked once.
    """
    state = hubcheck_session(pytestconfig)

    def report(path: str | Path, **options: Any) -> Report:
        model = (pytestconfig.rootpath / path).resolve()
        if not model.exists():
            raise FileNotFoundError(f"no such model path: {model}")
        result = state.report(model, state.options_for(model, Settings.of(**options)))
        if isinstance(result, _Crash):
            raise RuntimeError(result.message)
        return result

    return report
