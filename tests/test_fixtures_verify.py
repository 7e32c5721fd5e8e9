"""The fixtures package's own tools: ``fixtures/verify.py``, the content-hash cache, ``python -m fixtures``.

verify.py in the suite: plain TensorFlow, not hubcheck, agrees with every model fixture's catalog entry.
test_catalog.py compares the catalog with hubcheck; this compares it with an independent judge, so that a fixture
that is not what its entry says cannot hide behind a hubcheck bug that agrees with the entry.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures import ALL_FIXTURES, FIXTURES, GRAPH_FIXTURES, verify
from fixtures.cache import CACHE_ENV, cache_dir, entry_name, source_fingerprint

REPO = Path(__file__).resolve().parent.parent

# What verify.py may use of hubcheck: the probe images and the quiet TensorFlow import, nothing that judges.
ALLOWED_HUBCHECK_IMPORTS = frozenset({"hubcheck.images", "hubcheck.tfimport"})


@pytest.mark.parametrize("name", list(FIXTURES))
def test_plain_tensorflow_agrees_with_the_catalog(model_path: Callable[[str], Path], name: str) -> None:
    ok, summary = verify.verify(FIXTURES[name], model_path(name))
    assert ok, f"{name}: {summary}"


def test_verify_imports_nothing_of_hubcheck_that_judges() -> None:
    tree = ast.parse(Path(verify.__file__).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    from_hubcheck = {module for module in imported if module == "hubcheck" or module.startswith("hubcheck.")}
    assert from_hubcheck <= ALLOWED_HUBCHECK_IMPORTS, sorted(from_hubcheck - ALLOWED_HUBCHECK_IMPORTS)
    assert "hubcheck.images" in from_hubcheck  # the probe images are shared on purpose (see its docstring)


def test_the_command_line(model_path: Callable[[str], Path], capsys: pytest.CaptureFixture[str]) -> None:
    model_path("nan_on_black")
    assert verify.main(["nan_on_black"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok   nan_on_black: breaks output-finite -> fail"), out
    assert "1 fixtures:" in out and "all hold" in out
    assert verify.main(["no_such_fixture"]) == 2
    assert "unknown fixture(s): no_such_fixture" in capsys.readouterr().err


# -- the cache ---------------------------------------------------------------------------------------------


def test_both_catalogs_share_one_name_space_and_one_cache() -> None:
    assert not set(FIXTURES) & set(GRAPH_FIXTURES)
    assert dict(ALL_FIXTURES) == {**FIXTURES, **GRAPH_FIXTURES}
    entries = {name: entry_name(name) for name in ALL_FIXTURES}
    assert all(entry.startswith(f"{name}-") and len(entry) == len(name) + 13 for name, entry in entries.items())
    assert len(set(entries.values())) == len(entries)


def test_a_graph_fixture_is_cached_by_the_source_of_its_builder_and_what_it_calls() -> None:
    from fixtures import graph_models

    div255 = source_fingerprint(graph_models.build_range_div255)
    assert "x / 255.0" in div255  # the lambda that makes it what it is
    assert "def _transform_model(" in div255 and "class _Features:" in div255 and "def _export(" in div255
    assert "# const:SEED\n99" in div255 and "# const:FILTERS\n4" in div255
    assert div255 != source_fingerprint(graph_models.build_range_none)
    writes = source_fingerprint(graph_models.build_writes_file)
    assert repr(graph_models.WRITTEN_FILE) in writes  # a default argument: the file name it writes
    assert "def build_tf1_signature_only(" in source_fingerprint(graph_models.build_tf1_dead_write)


def test_a_graph_fixture_is_built_into_its_cache_entry(model_path: Callable[[str], Path]) -> None:
    path = model_path("range_none")
    assert path == cache_dir() / entry_name("range_none")
    assert (path / "saved_model.pb").is_file() and (path / "variables").is_dir()
    assert model_path("range_none") == path


@pytest.mark.slow  # a child process that imports TensorFlow
def test_building_a_fixture_prints_only_its_path(tmp_path: Path) -> None:
    """README's first command: from an empty cache, TensorFlow's C++ start-up lines stay off the terminal."""
    env = {**os.environ, CACHE_ENV: str(tmp_path)}
    env.pop("HUBCHECK_TF_LOGS", None)
    done = subprocess.run([sys.executable, "-m", "fixtures", "--path", "feature_vector"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout == f"{tmp_path / entry_name('feature_vector')}\n"
    assert (tmp_path / entry_name("feature_vector") / "saved_model.pb").is_file()
