"""Catalog throughput: the same models checked one ``hubcheck MODEL`` process at a time, and as one
``hubcheck --catalog FILE --jobs N``; models per minute both ways and the speed-up.

    python benchmarks/catalog_throughput.py --jobs 2 --rounds 3 [--output results.json] [MODEL ...]

Without MODEL it uses :data:`DEFAULT_FIXTURES` (built on first use by ``python -m fixtures --path NAME``).
The two ways alternate within each round and the figures are medians over rounds, so a machine that
slows down halfway hurts both alike. Whole processes, wall time, as a user would run them. Imports
neither TensorFlow nor hubcheck (``benchmarks/bench.py`` imports :func:`measure`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

DEFAULT_FIXTURES = (
    "feature_vector", "classifier", "keras_feature_vector", "nan_on_black", "no_gradient", "output_dropout",
    "fixed_batch", "float64_output", "range_div255", "range_none", "batch_dependent", "softmax_classifier",
    "training_default_true", "noisy_inference_small",
)
"""Fourteen small fixture models: the cost of checking them is mostly start-up, which catalogs share."""

_HUBCHECK_OUTCOMES = (0, 1)  # conforms, does not conform: both are complete runs


def _run(command: list[str]) -> float:
    # The default way of checking (a bounded child per model), whatever the caller's environment says.
    env = {name: value for name, value in os.environ.items() if name != "HUBCHECK_IN_PROCESS"}
    started = time.perf_counter()
    finished = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO, env=env,
                              check=False)
    elapsed = time.perf_counter() - started
    if finished.returncode not in _HUBCHECK_OUTCOMES:
        tail = finished.stderr.decode(errors="replace")[-2000:]
        raise RuntimeError(f"{' '.join(command)} exited {finished.returncode}:\n{tail}")
    return elapsed


def _one_at_a_time(models: list[Path]) -> float:
    return sum(_run([sys.executable, "-m", "hubcheck", str(model)]) for model in models)


def _as_catalog(jobs: int, catalog: Path) -> float:
    return _run([sys.executable, "-m", "hubcheck", "--catalog", str(catalog), "--jobs", str(jobs)])


def _per_minute(count: int, seconds: float) -> float:
    return round(count * 60.0 / seconds, 2) if seconds > 0 else float("inf")


def measure(models: list[Path], jobs: int, rounds: int) -> dict[str, object]:
    """Check ``models`` ``rounds`` times each way, alternating; medians of whole-run wall times.

    Returns the models, jobs and rounds, each way's median seconds and models per minute, the
    speed-up (one-at-a-time time / catalog time) and every sample."""
    if not models:
        raise ValueError("measure() needs at least one model")
    if jobs < 1 or rounds < 1:
        raise ValueError("jobs and rounds must be at least 1")
    absolute = [Path(model).resolve() for model in models]
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    single: list[float] = []
    catalog_runs: list[float] = []
    with tempfile.TemporaryDirectory(prefix="hubcheck-bench-") as folder:
        catalog = Path(folder) / "catalog.txt"
        catalog.write_text("".join(f"{model}\n" for model in absolute), encoding="utf-8")
        for round_number in range(rounds):
            # Alternate which way goes first, so neither always runs on a warmer page cache.
            if round_number % 2 == 0:
                single.append(_one_at_a_time(absolute))
                catalog_runs.append(_as_catalog(jobs, catalog))
            else:
                catalog_runs.append(_as_catalog(jobs, catalog))
                single.append(_one_at_a_time(absolute))
    single_s, catalog_s = statistics.median(single), statistics.median(catalog_runs)
    return {
        "models": len(absolute),
        "jobs": jobs,
        "rounds": rounds,
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "one_at_a_time_s": round(single_s, 2),
        "catalog_s": round(catalog_s, 2),
        "one_at_a_time_models_per_minute": _per_minute(len(absolute), single_s),
        "catalog_models_per_minute": _per_minute(len(absolute), catalog_s),
        "speedup": round(single_s / catalog_s, 2) if catalog_s > 0 else float("inf"),
        # what else the machine was doing: both ways share it, but a busy machine widens the gap
        "load_average_1min": {"before": load_before,
                              "after": os.getloadavg()[0] if hasattr(os, "getloadavg") else None},
        "samples": {"one_at_a_time_s": [round(s, 2) for s in single],
                    "catalog_s": [round(s, 2) for s in catalog_runs]},
    }


def fixture_paths(names: tuple[str, ...] = DEFAULT_FIXTURES) -> list[Path]:
    """The fixtures' folders, built if needed (by a subprocess: building imports TensorFlow)."""
    paths = []
    for name in names:
        found = subprocess.run([sys.executable, "-m", "fixtures", "--path", name], capture_output=True, text=True,
                               cwd=REPO, check=True)
        paths.append(Path(found.stdout.strip().splitlines()[-1]))
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", type=Path, help="model folders (default: 14 small fixtures)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--output", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    result = measure(args.models or fixture_paths(), args.jobs, args.rounds)
    text = json.dumps(result, indent=2)
    print(text)
    if args.output is not None:
        args.output.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
