"""The benchmark script works end to end (a tiny model, one round); its figures are not asserted."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_benchmark_smoke_run_writes_ratios(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    env = {**os.environ, "HUBCHECK_BENCH_CACHE": str(tmp_path / "cache"), "HUBCHECK_IN_PROCESS": ""}
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench.py"), "--smoke", "--output", str(output)],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    document = json.loads(output.read_text())
    (tiny,) = document["models"]
    assert tiny["model"] == "tiny" and tiny["rounds"] == 1
    for key in ("ratio_wall", "ratio_peak_rss", "ratio_wall_least_work", "ratio_peak_rss_least_work"):
        assert tiny[key] > 0
    assert set(tiny["median"]) == {"bare", "least_work", "hubcheck"}
    assert "x least" in result.stdout and "tiny" in result.stdout.splitlines()[-1]
    assert "catalog" not in document  # only with --catalog


def _least_work() -> ModuleType:
    spec = importlib.util.spec_from_file_location("least_work", REPO / "benchmarks" / "least_work.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_least_work_reads_the_probed_shapes_from_a_report() -> None:
    """Distinct inference shapes in the report's order; the first training-mode shape; repeats dropped."""
    report = {"model": {"call_argument_names": ["inputs", "training"], "calls": [
        {"input": "[2,160,192,3]"}, {"input": "[2,160,192,3], training=True"},
        {"input": "[2,160,192,3], training=True, run 2"}, {"input": "[1,224,224,3]"},
        {"input": "[5,224,224,3]"}, {"input": "[5,224,224,3], run 2"}, {"input": "[5,224,224,3], training=False"},
    ]}}
    calls, train, takes_training = _least_work().shapes_from_report(report)
    assert calls == [(2, 160, 192), (1, 224, 224), (5, 224, 224)]
    assert train == (2, 160, 192) and takes_training


def test_least_work_without_training_argument_or_training_call() -> None:
    report = {"model": {"call_argument_names": ["images"], "calls": [{"input": "[4,96,96,3]"}]}}
    assert _least_work().shapes_from_report(report) == ([(4, 96, 96)], None, False)


@pytest.mark.slow
def test_least_work_script_runs_on_a_fixture(model_path: Callable[[str], Path]) -> None:
    """The script does its work on a fine-tunable model (training call, gradients, hub.KerasLayer)."""
    script = REPO / "benchmarks" / "least_work.py"
    result = subprocess.run([sys.executable, str(script), str(model_path("feature_vector")), "--call", "2x32x32",
                             "--train", "2x32x32", "--timings"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    stages = json.loads(result.stdout)
    assert "hub.KerasLayer taped training call + gradients" in stages and "call 2x32x32" in stages
