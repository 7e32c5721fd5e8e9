"""Catalog mode's files: which models a catalog names, which of them a shard checks, and reading reports back.

* :func:`read_catalog` reads a catalog file (one MODEL per line, ``#`` comments, paths relative to the file);
* :class:`Shard` picks the I-th of N deterministic slices of a catalog, so a CI matrix can spread it over
  machines; every machine computes the same partition from the same catalog, in any order;
* :func:`load_reports` reads JSON reports back (one report or ``{"reports": [...]}``) for ``hubcheck merge``.

Checking the models is :func:`hubcheck.pool.check_all`'s; showing how far it got is :mod:`hubcheck.ui`'s.
Nothing here imports TensorFlow or click: the command line turns :class:`CatalogError` into usage errors.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubcheck.results import Report

__all__ = [
    "CatalogEntry",
    "CatalogError",
    "Shard",
    "entries_from_args",
    "load_reports",
    "parse_catalog",
    "read_catalog",
    "shard_key",
]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_INLINE_COMMENT = re.compile(r"\s+#.*$")


class CatalogError(ValueError):
    """A catalog file, a ``--shard`` value or a report file that cannot be used; one line for the user."""


# -- catalog files ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogEntry:
    """One model of the catalog.

    ``spec`` is MODEL as written (in the catalog file or on the command line): it decides the shard,
    so every machine agrees wherever the catalog is checked out. ``target`` is what to resolve: ``spec``
    itself, or for a relative path in a catalog file, that path joined to the file's folder.
    """

    spec: str
    target: str
    origin: str  # "command line" or "catalog.txt:12"
    doc: str | None = None  # the model's documentation ("MODEL doc=PATH" in a catalog file)


_DOC = re.compile(r"^(.*\S)\s+doc=(\S.*)$")


def entries_from_args(models: Sequence[str]) -> list[CatalogEntry]:
    return [CatalogEntry(model, model, "command line") for model in models]


def _target(spec: str, folder: Path) -> str:
    """A relative local path is relative to the catalog's folder; URLs, handles and absolute paths stay."""
    from hubcheck.sources import hub_handle

    if _SCHEME.match(spec) or spec.startswith("~") or Path(spec).is_absolute():
        return spec
    candidate = folder / spec
    if hub_handle(spec) is not None and not (candidate.exists() or candidate.is_symlink()):
        return spec  # tfhub.dev/google/... is a handle unless the catalog's folder holds such a path
    return str(candidate)


def parse_catalog(text: str, folder: Path, name: str) -> list[CatalogEntry]:
    """The entries of a catalog whose text is ``text``, read from ``folder``; ``name`` appears in origins."""
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        spec = _INLINE_COMMENT.sub("", line)  # "models/a   # why" (a '#' right after text is part of it)
        doc = None
        documented = _DOC.match(spec)  # "models/a  doc=models/a.md": the model's documentation
        if documented:
            spec, doc = documented.group(1), _target(documented.group(2), folder)
        entries.append(CatalogEntry(spec, _target(spec, folder), f"{name}:{number}", doc))
    return entries


def read_catalog(path: Path) -> list[CatalogEntry]:
    """The models listed in the catalog file ``path``; raises :class:`CatalogError` when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CatalogError(f"catalog {path} does not exist") from None
    except IsADirectoryError:
        raise CatalogError(f"catalog {path} is a directory; give a file with one MODEL per line") from None
    except UnicodeDecodeError as exc:
        raise CatalogError(f"catalog {path} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise CatalogError(f"cannot read catalog {path}: {exc.strerror or exc}") from None
    return parse_catalog(text, path.parent, str(path))


# -- shards -----------------------------------------------------------------------------------------


def shard_key(spec: str) -> str:
    """``spec`` normalized so that spellings of one path share a shard: ``./models/a/`` -> ``models/a``."""
    text = spec.strip()
    if _SCHEME.match(text):
        return text
    return posixpath.normpath(text)


def _rank_key(key: str) -> tuple[bytes, str]:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest(), key


@dataclass(frozen=True)
class Shard:
    """The ``index``-th (1-based) of ``count`` slices of a catalog.

    Models are ordered by the SHA-256 of their :func:`shard_key` and dealt out like cards: the first
    to slice 1, the second to slice 2, ..., the ``count``-th to slice ``count``, the next to slice 1
    again. So the slices are disjoint, together they are the catalog, their sizes differ by at most
    one, and the partition depends only on which models the catalog lists, not on their order.
    """

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise CatalogError(f"shard {self.index}/{self.count}: I must be between 1 and N")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"2/4"`` -> ``Shard(2, 4)``; raises :class:`CatalogError` for anything else."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if match is None or not 1 <= int(match.group(1)) <= int(match.group(2)):
            raise CatalogError(f"--shard must be I/N with 1 <= I <= N, e.g. 1/4 for the first of four slices; "
                               f"got {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def positions(self, specs: Sequence[str]) -> list[int]:
        """Positions (in catalog order) of the models of ``specs`` that fall into this slice."""
        keys = [_rank_key(shard_key(spec)) for spec in specs]
        ranked = sorted(range(len(specs)), key=keys.__getitem__)
        return sorted(position for rank, position in enumerate(ranked) if rank % self.count == self.index - 1)

    def select(self, entries: Sequence[CatalogEntry]) -> list[CatalogEntry]:
        return [entries[position] for position in self.positions([entry.spec for entry in entries])]


# -- reading reports back ---------------------------------------------------------------------------


def _report(data: Any, where: str) -> Report:
    if not isinstance(data, dict):
        raise CatalogError(f"{where}: expected a report object, got {type(data).__name__}")
    version = str(data.get("schema_version", "1."))
    if not version.startswith("1."):
        raise CatalogError(f"{where}: report schema {version} is not one this hubcheck reads (1.x)")
    try:
        return Report.from_json(data)
    except KeyError as exc:
        raise CatalogError(f"{where}: not a hubcheck report: missing key {exc}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise CatalogError(f"{where}: not a hubcheck report: {exc}") from None


def load_reports(path: Path) -> list[Report]:
    """The reports in the JSON file ``path``: one report, or ``{"reports": [...]}`` (what ``--format json``
    writes for one or several models). Raises :class:`CatalogError` naming the file when it is not one."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CatalogError(f"{path}: not a JSON report (not UTF-8 text)") from None
    except OSError as exc:
        raise CatalogError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{path}: not a JSON report: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if isinstance(document, dict) and "reports" in document and "checks" not in document:
        reports = document["reports"]
        if not isinstance(reports, list):
            raise CatalogError(f"{path}: \"reports\" must be a list of reports")
        return [_report(item, f"{path}: reports[{number}]") for number, item in enumerate(reports)]
    if isinstance(document, dict) and "checks" in document:
        return [_report(document, str(path))]
    shape = type(document).__name__ if not isinstance(document, dict) else "an object without \"checks\" or \"reports\""
    raise CatalogError(f"{path}: not a hubcheck report: expected one report or {{\"reports\": [...]}}, got {shape}")
