"""``[tool.hubcheck]`` in ``pyproject.toml``: defaults for every model, and per-model overrides.

::

    [tool.hubcheck]
    task = "image-feature-vector"
    input-sizes = ["224x224", "160x192"]
    ignore = ["keras-layer"]
    strict = true

    [tool.hubcheck.tolerances]
    rtol = 1e-3

    [tool.hubcheck.models."models/classifier"]   # relative to this file's folder
    task = "image-classification"
    doc = "models/classifier.md"                   # its documentation (also relative to this folder)

Settings stack up, later ones winning: built-in defaults, ``[tool.hubcheck]``, the
model's own table, then the command line (or the pytest options, or the
arguments of :func:`hubcheck.check`). ``select``, ``ignore``, ``task``,
``input-sizes`` and ``strict`` replace what is below them; ``tolerances`` merge
name by name. Unknown keys and bad values raise :class:`ConfigError`, which
names the file and the key; nothing is ever silently ignored.

``allow_unsafe_ops`` is a layer setting too, but never read from a file: the file
usually belongs to the model being checked, which must not switch the safeguard off.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubcheck.options import InputSize, RunOptions, Task, Tolerances, parse_input_size

PYPROJECT = "pyproject.toml"
TABLE = "[tool.hubcheck]"

_SETTING_KEYS = ("select", "ignore", "task", "input-sizes", "tolerances", "strict")
_MODEL_KEYS = (*_SETTING_KEYS, "doc")  # a model's documentation belongs to that model alone
_TOP_LEVEL_KEYS = (*_SETTING_KEYS, "models")
_UNSAFE_IN_FILE = (
    "cannot be set in a configuration file: a model's own repository must not be able to switch the "
    "unsafe-ops safeguard off; pass --allow-unsafe-ops (or allow_unsafe_ops=True) where you run hubcheck"
)


class ConfigError(ValueError):
    """The configuration file cannot be used as written; the message names the file and the key."""


@dataclass(frozen=True)
class Settings:
    """One layer of run options; ``None`` (or no tolerance) means "not set here, keep what is below"."""

    task: Task | None = None
    input_sizes: tuple[InputSize, ...] | None = None
    select: frozenset[str] | None = None
    ignore: frozenset[str] | None = None
    strict: bool | None = None
    tolerances: tuple[tuple[str, float], ...] = ()
    allow_unsafe_ops: bool | None = None  # never from a file: see _UNSAFE_IN_FILE
    doc: Path | None = None  # the model's documentation (TF Hub markdown or Kaggle metadata)

    @classmethod
    def of(
        cls,
        *,
        task: str | Task | None = None,
        input_sizes: Iterable[tuple[int, int] | str] | None = None,
        select: Iterable[str] | None = None,
        ignore: Iterable[str] | None = None,
        tolerances: Tolerances | Mapping[str, float] | None = None,
        strict: bool | None = None,
        allow_unsafe_ops: bool | None = None,
        doc: str | Path | None = None,
    ) -> Settings:
        """A layer from Python values, as :func:`hubcheck.check` takes them; ``None`` leaves a setting unset.

        Raises ``ValueError`` naming the bad value: an unknown task, check id or tolerance,
        or a malformed input size.
        """
        if task is not None:
            try:
                task = Task(task)
            except ValueError:
                raise ValueError(f"unknown task {task!r} (known: {', '.join(t.value for t in Task)})") from None
        sizes = None if input_sizes is None else tuple(_python_size(size) for size in input_sizes)
        chosen = None if select is None else _python_ids(select)
        ignored = None if ignore is None else _python_ids(ignore)
        unknown = sorted((chosen or frozenset()) | (ignored or frozenset()))
        if unknown:
            from hubcheck.registry import check_ids

            RunOptions(select=frozenset(unknown)).validate_ids(check_ids())
        if isinstance(tolerances, Tolerances):
            overrides = dataclasses.asdict(tolerances)
        else:
            overrides = {str(name): float(value) for name, value in (tolerances or {}).items()}
            Tolerances().updated(overrides)
        return cls(task=task, input_sizes=sizes, select=chosen, ignore=ignored,
                   strict=None if strict is None else bool(strict), tolerances=tuple(overrides.items()),
                   allow_unsafe_ops=None if allow_unsafe_ops is None else bool(allow_unsafe_ops),
                   doc=None if doc is None else Path(doc))

    def over(self, below: Settings) -> Settings:
        """This layer on top of ``below``: whatever is set here wins."""
        return Settings(
            task=self.task if self.task is not None else below.task,
            input_sizes=self.input_sizes if self.input_sizes is not None else below.input_sizes,
            select=self.select if self.select is not None else below.select,
            ignore=self.ignore if self.ignore is not None else below.ignore,
            strict=self.strict if self.strict is not None else below.strict,
            tolerances=tuple({**dict(below.tolerances), **dict(self.tolerances)}.items()),
            allow_unsafe_ops=self.allow_unsafe_ops if self.allow_unsafe_ops is not None else below.allow_unsafe_ops,
            doc=self.doc if self.doc is not None else below.doc,
        )

    def run_options(self) -> RunOptions:
        """Fill what no layer set with the built-in defaults; read the documentation if one is named.

        Raises :class:`~hubcheck.documentation.DocumentationError` for a doc that cannot be read."""
        defaults = RunOptions()
        documentation = None
        if self.doc is not None:
            from hubcheck.documentation import read_documentation

            documentation = read_documentation(self.doc)
        return RunOptions(
            task=self.task if self.task is not None else defaults.task,
            input_sizes=self.input_sizes if self.input_sizes is not None else defaults.input_sizes,
            select=self.select if self.select is not None else defaults.select,
            ignore=self.ignore if self.ignore is not None else defaults.ignore,
            strict=self.strict if self.strict is not None else defaults.strict,
            tolerances=Tolerances().updated(dict(self.tolerances)),
            allow_unsafe_ops=bool(self.allow_unsafe_ops),
            documentation=documentation,
        )


@dataclass(frozen=True)
class Config:
    """A loaded ``[tool.hubcheck]`` table (or the empty configuration when there is none)."""

    path: Path | None = None
    settings: Settings = Settings()
    models: Mapping[Path, Settings] = field(default_factory=dict)  # keys are resolved paths

    def settings_for(self, model: str | Path) -> Settings:
        """The file's settings for ``model``: its own table over the global one."""
        own = self.models.get(Path(model).resolve())
        return own.over(self.settings) if own is not None else self.settings

    def run_options(self, model: str | Path, overrides: Settings = Settings()) -> RunOptions:
        """What to run on ``model``: ``overrides`` (the command line) over the file over the defaults."""
        return overrides.over(self.settings_for(model)).run_options()


def as_check_kwargs(options: RunOptions) -> dict[str, Any]:
    """The keyword arguments of :func:`hubcheck.check` that reproduce ``options``."""
    return {
        "task": options.task,
        "input_sizes": options.input_sizes,
        "select": options.select,
        "ignore": options.ignore,
        "tolerances": options.tolerances,
        "strict": options.strict,
        "allow_unsafe_ops": options.allow_unsafe_ops,
        "debug": options.debug,
        "doc": options.documentation,
    }


def _python_size(size: tuple[int, int] | str) -> InputSize:
    if isinstance(size, str):
        return parse_input_size(size)
    height, width = size
    return parse_input_size(f"{int(height)}x{int(width)}")


def _python_ids(ids: Iterable[str]) -> frozenset[str]:
    if isinstance(ids, str):  # select="a,b" would otherwise select single letters
        ids = ids.split(",")
    return frozenset(part.strip() for part in ids if part.strip())


# -- finding and reading the file ------------------------------------------------------------


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as stream:
            return tomllib.load(stream)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror or exc}") from None


def find_config(start: Path | None = None) -> Path | None:
    """The nearest ``pyproject.toml`` with a ``[tool.hubcheck]`` table, from ``start`` (the current
    directory) upward; ``None`` when there is none. A ``pyproject.toml`` on the way that is not
    valid TOML is an error: it might have held the table.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / PYPROJECT
        if candidate.is_file() and "hubcheck" in _read_toml(candidate).get("tool", {}):
            return candidate
    return None


def load_config(path: str | Path | None = None, *, start: Path | None = None) -> Config:
    """Read ``path`` (any TOML file with a ``[tool.hubcheck]`` table), or the one :func:`find_config`
    finds from ``start``; no file at all gives the empty :class:`Config`."""
    if path is None:
        found = find_config(start)
        if found is None:
            return Config()
        file = found
    else:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"{file}: no such configuration file")
    document = _read_toml(file)
    tool = document.get("tool", {})
    if not isinstance(tool, dict) or "hubcheck" not in tool:
        raise ConfigError(f"{file}: has no {TABLE} table")
    return parse_config(tool["hubcheck"], file)


def parse_config(table: Any, file: Path) -> Config:
    """Validate the contents of ``[tool.hubcheck]`` read from ``file``."""
    _expect_table(table, file, TABLE)
    _reject_unknown(table, _TOP_LEVEL_KEYS, file, TABLE)
    settings = _parse_settings(table, file, TABLE)
    models: dict[Path, Settings] = {}
    raw_models = table.get("models", {})
    _expect_table(raw_models, file, f"{TABLE} models")
    for name, overrides in raw_models.items():
        where = f'[tool.hubcheck.models."{name}"]'
        _expect_table(overrides, file, where)
        _reject_unknown(overrides, _MODEL_KEYS, file, where)
        key = (file.parent / Path(name).expanduser()).resolve()
        if key in models:
            raise ConfigError(f"{file}: {where} names the same model as an earlier table")
        models[key] = _parse_settings(overrides, file, where)
        if "doc" in overrides:
            doc = overrides["doc"]
            if not isinstance(doc, str) or not doc:
                raise ConfigError(f"{file}: {where} doc: must be the path of the model's documentation; "
                                  f"got {_describe(doc)}")
            models[key] = dataclasses.replace(models[key], doc=(file.parent / Path(doc).expanduser()).resolve())
    return Config(path=file, settings=settings, models=models)


# -- validation ------------------------------------------------------------------------------


def _expect_table(value: Any, file: Path, where: str) -> None:
    if not isinstance(value, dict):
        raise ConfigError(f"{file}: {where} must be a table, got {_describe(value)}")


def _reject_unknown(table: Mapping[str, Any], known: Iterable[str], file: Path, where: str) -> None:
    known = list(known)
    for key in table:
        if key.replace("_", "-") == "allow-unsafe-ops":
            raise ConfigError(f"{file}: {where}: {key} {_UNSAFE_IN_FILE}")
        if key not in known:
            guess = difflib.get_close_matches(key.replace("_", "-"), known, n=1)
            hint = f"did you mean {guess[0]!r}? " if guess else ""
            raise ConfigError(f"{file}: {where}: unknown key {key!r} ({hint}known keys: {', '.join(known)})")


def _describe(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "an array", dict: "a table"}
    return f"{names.get(type(value), type(value).__name__)} ({value!r})"


def _parse_settings(table: Mapping[str, Any], file: Path, where: str) -> Settings:
    def fail(key: str, problem: str) -> ConfigError:
        return ConfigError(f"{file}: {where} {key}: {problem}")

    task = None
    if "task" in table:
        value = table["task"]
        known = [t.value for t in Task]
        if value not in known:
            raise fail("task", f"must be one of {', '.join(known)}; got {_describe(value)}")
        task = Task(value)

    select = _parse_ids(table, "select", fail)
    ignore = _parse_ids(table, "ignore", fail)

    sizes = None
    if "input-sizes" in table:
        value = table["input-sizes"]
        if not isinstance(value, list):
            raise fail("input-sizes", f'must be an array like ["224x224", "160x192"]; got {_describe(value)}')
        sizes = tuple(_parse_size(item, lambda problem: fail("input-sizes", problem)) for item in value)

    strict = None
    if "strict" in table:
        if not isinstance(table["strict"], bool):
            raise fail("strict", f"must be true or false; got {_describe(table['strict'])}")
        strict = table["strict"]

    tolerances: dict[str, float] = {}
    if "tolerances" in table:
        value = table["tolerances"]
        if not isinstance(value, dict):
            raise fail("tolerances", f"must be a table like {{ rtol = 1e-3 }}; got {_describe(value)}")
        for name, number in value.items():
            if isinstance(number, bool) or not isinstance(number, (int, float)):
                raise fail(f"tolerances.{name}", f"must be a number; got {_describe(number)}")
            tolerances[name] = float(number)
        try:
            Tolerances().updated(tolerances)
        except ValueError as exc:
            raise fail("tolerances", str(exc)) from None

    return Settings(task=task, input_sizes=sizes, select=select, ignore=ignore, strict=strict,
                    tolerances=tuple(tolerances.items()))


def _parse_ids(table: Mapping[str, Any], key: str, fail: Callable[[str, str], ConfigError]) -> frozenset[str] | None:
    if key not in table:
        return None
    value = table[key]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise fail(key, f'must be an array of check ids like ["output-dtype"]; got {_describe(value)}')
    from hubcheck.registry import check_ids

    known = check_ids()
    for item in value:
        if item not in known:
            guess = difflib.get_close_matches(item, known, n=1)
            hint = f"; did you mean {guess[0]!r}?" if guess else "; see hubcheck --list-checks"
            raise fail(key, f"unknown check id {item!r}{hint}")
    return frozenset(value)


def _parse_size(item: Any, fail: Callable[[str], ConfigError]) -> InputSize:
    if isinstance(item, str):
        try:
            return parse_input_size(item)
        except ValueError as exc:
            raise fail(str(exc)) from None
    if (isinstance(item, list) and len(item) == 2
            and all(isinstance(n, int) and not isinstance(n, bool) for n in item)):
        try:
            return parse_input_size(f"{item[0]}x{item[1]}")
        except ValueError as exc:
            raise fail(str(exc)) from None
    raise fail(f'each size must be "HEIGHTxWIDTH" or [HEIGHT, WIDTH]; got {_describe(item)}')
