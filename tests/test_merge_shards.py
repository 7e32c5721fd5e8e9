"""``hubcheck merge``'s shard accounting: shard reports record their shard and catalog (model.shard), and merge
names shards that are missing, incomplete, duplicated or cut from another catalog, exiting 5 unless
--allow-partial. The models are checked by a fake runner (tests/fakes.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from fakes import FakeRunner, exited

from hubcheck.catalog import CatalogEntry, Shard, catalog_sha256, parse_catalog
from hubcheck.cli import main
from hubcheck.exitcodes import ExitCode

MODELS = ("a", "b", "c", "d", "e")


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeRunner:
    """Five model folders, a catalog of them, and the fake runner; the current directory is ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    for name in MODELS:
        (tmp_path / "models" / name).mkdir(parents=True)
    (tmp_path / "catalog.txt").write_text("".join(f"models/{name}\n" for name in MODELS))
    return FakeRunner()


def run(fake: FakeRunner, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), obj=fake.factory)


def shard(fake: FakeRunner, index: int, count: int, output: str, catalog: str = "catalog.txt") -> dict:
    result = run(fake, "--catalog", catalog, "--shard", f"{index}/{count}", "--format", "json", "--output", output)
    assert exited(result, 0), result.output
    return json.loads(Path(output).read_text())


def reports(document: dict) -> list[dict]:
    """The reports of a JSON document: one report alone, or {"reports": [...]}."""
    return document["reports"] if "reports" in document else [document]


def test_each_shard_report_records_its_shard_and_the_catalogs_hash(world: FakeRunner,
                                                                    validate_report: Callable[[object], None]) -> None:
    document = shard(world, 2, 3, "shard-2.json")
    validate_report(document)
    entries = parse_catalog(Path("catalog.txt").read_text(), Path("."), "catalog.txt")
    expected = {"index": 2, "count": 3, "catalog_sha256": catalog_sha256(entries), "catalog_models": 5}
    assert reports(document) and all(report["model"]["shard"] == expected for report in reports(document))
    assert len(reports(document)) == Shard(2, 3).size(5)


def test_a_run_without_shard_records_none(world: FakeRunner) -> None:
    result = run(world, "--catalog", "catalog.txt", "--format", "json")
    assert all("shard" not in report["model"] for report in json.loads(result.stdout)["reports"])


def test_the_catalog_hash_ignores_order_and_spelling_but_not_the_models() -> None:
    def digest(*specs: str) -> str:
        return catalog_sha256([CatalogEntry(spec, spec, "test") for spec in specs])

    assert digest("models/a", "models/b") == digest("./models/b/", "models/a")
    assert digest("models/a", "models/b") != digest("models/a", "models/c")
    assert len(digest("models/a")) == 64


def test_every_shard_merges_with_exit_0(world: FakeRunner) -> None:
    for index in (1, 2, 3):
        shard(world, index, 3, f"shard-{index}.json")
    result = run(world, "merge", "shard-3.json", "shard-1.json", "shard-2.json", "--format", "json")
    assert exited(result, 0), result.output
    assert sorted(report["model"]["path"] for report in json.loads(result.stdout)["reports"]) == \
        [f"models/{name}" for name in MODELS]


def test_a_missing_shard_is_named_exits_5_and_nothing_is_written(world: FakeRunner) -> None:
    shard(world, 1, 3, "shard-1.json")
    shard(world, 3, 3, "shard-3.json")
    result = run(world, "merge", "shard-1.json", "shard-3.json", "--output", "catalog.json", "--format", "json")
    assert exited(result, ExitCode.INCOMPLETE) and ExitCode.INCOMPLETE == 5
    assert "shard 2/3 is missing" in result.stderr and "--allow-partial" in result.stderr
    assert "1/3" not in result.stderr.replace("shard 2/3", "")  # only the missing one is named
    assert not Path("catalog.json").exists()


def test_allow_partial_merges_what_is_there_and_still_warns(world: FakeRunner) -> None:
    shard(world, 1, 3, "shard-1.json")
    result = run(world, "merge", "shard-1.json", "--allow-partial", "--format", "json")
    assert exited(result, 0), result.output  # shard 1/3 conforms; the exit code is the models'
    assert "warning: shard 2/3 is missing" in result.stderr and "warning: shard 3/3 is missing" in result.stderr
    assert len(reports(json.loads(result.stdout))) == Shard(1, 3).size(5)


@pytest.mark.parametrize("inputs", [["shard-1.json", "shard-2.json", "shard-2.json"],
                                    ["shard-1.json", "shard-2.json", "again-2.json"]])
def test_a_shard_given_twice_is_duplicated(world: FakeRunner, inputs: list[str]) -> None:
    for index in (1, 2):
        shard(world, index, 2, f"shard-{index}.json")
    Path("again-2.json").write_text(Path("shard-2.json").read_text())
    result = run(world, "merge", *inputs)
    assert exited(result, 5), result.output
    assert "shard 2/2 is duplicated" in result.stderr and "1/2" not in result.stderr


def test_shards_of_different_catalogs_or_shard_counts_are_mixed(world: FakeRunner) -> None:
    Path("other.txt").write_text("models/a\nmodels/b\n")
    shard(world, 1, 2, "ours-1.json")
    shard(world, 2, 2, "ours-2.json")
    shard(world, 1, 1, "other.json", catalog="other.txt")
    result = run(world, "merge", "ours-1.json", "ours-2.json", "other.json")
    assert exited(result, 5), result.output
    assert "different catalogs" in result.stderr and "other.json" in result.stderr
    shard(world, 1, 3, "three-1.json")
    result = run(world, "merge", "ours-1.json", "ours-2.json", "three-1.json")
    assert exited(result, 5) and "different catalogs or shardings" in result.stderr


def test_an_incomplete_shard_is_named(world: FakeRunner) -> None:
    for index in (1, 2):
        shard(world, index, 2, f"shard-{index}.json")
    document = json.loads(Path("shard-1.json").read_text())
    assert len(document["reports"]) >= 2
    document["reports"] = document["reports"][1:]
    Path("shard-1.json").write_text(json.dumps(document))
    result = run(world, "merge", "shard-1.json", "shard-2.json")
    assert exited(result, 5) and "shard 1/2 is incomplete" in result.stderr


def test_an_empty_shard_is_not_missing(world: FakeRunner) -> None:
    Path("two.txt").write_text("models/a\nmodels/b\n")
    documents = {index: shard(world, index, 3, f"shard-{index}.json", catalog="two.txt") for index in (1, 2, 3)}
    assert [len(reports(documents[index])) for index in (1, 2, 3)] == [1, 1, 0]
    result = run(world, "merge", "shard-1.json", "shard-2.json")
    assert exited(result, 0), result.output


def test_reports_without_shard_records_merge_as_before(world: FakeRunner) -> None:
    for name in ("a", "b"):
        assert exited(run(world, f"models/{name}", "--format", "json", "--output", f"{name}.json"), 0)
    result = run(world, "merge", "a.json", "b.json")
    assert exited(result, 0) and "warning" not in result.stderr


def test_a_broken_shard_record_is_a_usage_error_naming_the_file(world: FakeRunner) -> None:
    document = shard(world, 1, 2, "shard-1.json")
    document["reports"][0]["model"]["shard"] = {"index": 3, "count": 2}
    Path("shard-1.json").write_text(json.dumps(document))
    result = run(world, "merge", "shard-1.json")
    assert exited(result, 2) and "shard-1.json" in result.stderr and "model.shard" in result.stderr
