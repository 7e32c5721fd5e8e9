"""Checks are plugins: another package registers its own under the same entry-point group."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubcheck.registry import (
    ENTRY_POINT_GROUP,
    RegistryError,
    available_checks,
    check_ids,
)
from hubcheck.results import Status

PLUGIN = '''
from hubcheck.registry import Check
from hubcheck.results import Finding


class LicenceCheck(Check):
    """Fails when the model folder has no LICENSE file. Fix: add one."""

    id = "hub-licence"
    title = "Ships a LICENSE"

    def run(self, ctx):
        if (ctx.model.path / "LICENSE").exists():
            return Finding.passed("LICENSE present")
        return Finding.failed("no LICENSE file next to saved_model.pb")


class Misnamed(Check):
    """Fails never."""

    id = "something-else"
    title = "Misnamed"

    def run(self, ctx):
        return Finding.passed("ok")
'''


def _install(tmp_path: Path, entry_points: str) -> None:
    (tmp_path / "my_hub_checks.py").write_text(PLUGIN)
    dist = tmp_path / "my_hub_checks-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-hub-checks\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entry_points}\n")


@pytest.fixture
def plugin_path(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    available_checks.cache_clear()
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("my_hub_checks", None)
        available_checks.cache_clear()


def test_a_third_party_check_joins_the_catalog_and_runs(plugin_path: Path) -> None:
    _install(plugin_path, "hub-licence = my_hub_checks:LicenceCheck")
    assert check_ids()[-1] == "hub-licence"  # plugins come after the built-ins
    from hubcheck.options import RunOptions
    from hubcheck.runner import run_checks

    model = plugin_path / "model"
    model.mkdir()
    report = run_checks(model, RunOptions(select=frozenset({"hub-licence"})))
    assert [(r.id, r.status) for r in report.checks] == [("hub-licence", Status.FAIL)]


def test_an_entry_point_whose_name_differs_from_the_check_id_is_refused(plugin_path: Path) -> None:
    _install(plugin_path, "hub-licence = my_hub_checks:Misnamed")
    with pytest.raises(RegistryError, match="whose id is 'something-else'"):
        available_checks()


def test_the_builtin_catalog_order_is_stable() -> None:
    ids = check_ids()
    assert ids[:3] == ["unsafe-ops", "load", "callable"]
    assert ids.index("output-single-tensor") < ids.index("output-shape") < ids.index("logits")
    # the model's own contract first, then what it must agree with in its documentation
    assert ids.index("keras-layer") < ids.index("doc-metadata") and ids[-1] == "hparam-arguments"
