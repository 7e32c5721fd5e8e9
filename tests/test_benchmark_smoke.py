"""The benchmark script works end to end (a tiny model, one round); its figures are not asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
    for key in ("ratio_wall", "ratio_peak_rss"):
        assert tiny[key] > 0
    assert set(tiny["median"]) == {"bare", "hubcheck"}
    assert "wall x" in result.stdout and "tiny" in result.stdout.splitlines()[-1]
