"""Catalog mode's files: which models a catalog names, which of them a shard checks, and reading reports back.

* :func:`read_catalog` reads a catalog file (one MODEL per line, ``#`` comments, paths relative to the file);
* :class:`Shard` picks the I-th of N deterministic slices of a catalog, so a CI matrix can spread it over
  machines; every machine computes the same partition from the same catalog, in any order;
* :func:`load_reports` reads JSON reports back (one report or ``{"reports": [...]}``) for ``hubcheck merge``;
* :class:`ShardRecord` is what a shard's reports record of their shard (``model.shard``), and
  :func:`shard_problems` what ``hubcheck merge`` finds missing, duplicated or mixed among them.

Checking the models is :func:`hubcheck.pool.check_all`'s; showing how far it got is :mod:`hubcheck.ui`'s.
Nothing here imports TensorFlow or click: the command line turns :class:`CatalogError` into usage errors.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hubcheck.results import JSONValue, Report

__all__ = [
    "CatalogEntry",
    "CatalogError",
    "Shard",
    "ShardRecord",
    "catalog_sha256",
    "entries_from_args",
    "load_reports",
    "parse_catalog",
    "read_catalog",
    "shard_key",
    "shard_problems",
    "with_shard",
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

    def size(self, catalog_models: int) -> int:
        """How many of a catalog's ``catalog_models`` models fall into this slice (ranks index-1, index-1+count, ...)."""
        return len(range(self.index - 1, catalog_models, self.count))


def catalog_sha256(entries: Sequence[CatalogEntry]) -> str:
    """The SHA-256 of the catalog's canonical entry list: each entry's :func:`shard_key`, sorted, one per line.

    It depends on exactly what the partition depends on (which models, not their order or spelling), so
    two shards with the same hash and N were cut from the same catalog."""
    canonical = "".join(f"{key}\n" for key in sorted(shard_key(entry.spec) for entry in entries))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


SHARD_FIELD = "shard"
"""Where a shard's report records its :class:`ShardRecord`: ``model.shard``."""


@dataclass(frozen=True)
class ShardRecord:
    """What a report checked under ``--shard I/N`` says of it: the slice, and the catalog it was cut from."""

    shard: Shard
    catalog_sha256: str
    catalog_models: int

    def to_json(self) -> dict[str, JSONValue]:
        return {"index": self.shard.index, "count": self.shard.count, "catalog_sha256": self.catalog_sha256,
                "catalog_models": self.catalog_models}

    @classmethod
    def of(cls, report: Report, where: str) -> ShardRecord | None:
        """The record in ``report``; ``None`` for a report made without ``--shard`` (or before hubcheck
        recorded shards). Raises :class:`CatalogError` for a record that is not one."""
        data = report.model.get(SHARD_FIELD)
        if data is None:
            return None
        problem = CatalogError(f"{where}: model.shard is not a shard record: {json.dumps(data)[:200]}")
        if not isinstance(data, Mapping):
            raise problem
        index, count, digest, size = (data.get(key) for key in ("index", "count", "catalog_sha256", "catalog_models"))
        if not (isinstance(index, int) and isinstance(count, int) and isinstance(size, int) and size >= 0
                and isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest)):
            raise problem
        try:
            return cls(Shard(index, count), digest, size)
        except CatalogError:
            raise problem from None

    def __str__(self) -> str:
        return f"{self.shard} of catalog {self.catalog_sha256[:12]}"


def with_shard(report: Report, record: ShardRecord) -> Report:
    """``report`` recording that it was checked as part of ``record``'s shard."""
    return replace(report, model={**report.model, SHARD_FIELD: record.to_json()})


def shard_problems(inputs: Sequence[tuple[str, Sequence[Report]]]) -> list[str]:
    """What keeps the reports of ``inputs`` (a file name and the reports read from it) from being a whole
    sharded catalog: shards missing, short or given twice, or shards of different catalogs or of
    different N; one line each. Reports without a shard record take no part (as before shards were
    recorded); with none at all there is nothing to say."""
    records: dict[ShardRecord | None, list[str]] = {}
    for where, reports in inputs:
        for number, report in enumerate(reports):
            record = ShardRecord.of(report, f"{where}: reports[{number}]")
            records.setdefault(record, []).append(where)
    cuts = sorted({(record.catalog_sha256, record.shard.count, record.catalog_models)
                   for record in records if record is not None})
    if not cuts:
        return []
    if len(cuts) > 1:
        kinds = "; ".join(f"catalog {digest[:12]} ({size} models) in {count} shards, in "
                          + ", ".join(sorted({where for record, wheres in records.items() if record is not None
                                              and (record.catalog_sha256, record.shard.count) == (digest, count)
                                              for where in wheres}))
                          for digest, count, size in cuts)
        return [f"the reports come from different catalogs or shardings: {kinds}"]
    digest, count, size = cuts[0]
    problems = []
    for index in range(1, count + 1):
        shard = Shard(index, count)
        wheres = records.get(ShardRecord(shard, digest, size), [])
        expected, files = shard.size(size), sorted(set(wheres))
        if len(files) > 1:
            problems.append(f"shard {shard} is duplicated: in {', '.join(files)}")
        elif len(wheres) > expected:
            problems.append(f"shard {shard} is duplicated: {len(wheres)} reports in {files[0]}, expected {expected}")
        elif not wheres and expected:
            problems.append(f"shard {shard} is missing ({expected} of the catalog's {size} models)")
        elif len(wheres) < expected:
            problems.append(f"shard {shard} is incomplete: {len(wheres)} of its {expected} models, in {files[0]}")
    return problems


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
