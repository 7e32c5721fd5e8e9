"""hubcheck's cost against two baselines: using the model at all, and the least work its questions take.

For each model, alternating in one run, several rounds of:

  (a) bare:       a fresh Python that imports TensorFlow, tf.saved_model.load()s the model and
                  calls it once on one 224x224 image;
  (b) least work: benchmarks/least_work.py: import TensorFlow, load once, one call at each inference
                  shape hubcheck probed, one taped training-mode call with gradients, one taped
                  training-mode call through hub.KerasLayer(obj, trainable=True) with gradients;
  (c) hubcheck:   ``hubcheck MODEL`` with default options (checks in a sandboxed child process).

The shapes of (b) are those of a ``hubcheck --format json`` run of the same model made first
(untimed; it also warms the page cache): least_work.py reads them from that report's
``model.calls``. Each command's wall time and the peak resident memory of its whole process tree
(hubcheck's parent and child together) are measured from outside by polling /proc (the command's
own processes only; see TreeMemory), after hubcheck's modules were compiled to bytecode as an
installed wheel has them (see compile_hubcheck). The script
prints the medians and the ratios c/a and c/b and writes them as JSON. Ratios, not seconds, are
what to compare across machines.

    python benchmarks/bench.py                     # both models, 3 rounds
    python benchmarks/bench.py --models mobilenet_v2_035 --rounds 5 --output results.json
    python benchmarks/bench.py --smoke             # tiny model, 1 round: does the script work?
    python benchmarks/bench.py --catalog --models  # catalog throughput only (benchmarks/catalog_throughput.py)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("HUBCHECK_BENCH_CACHE", HERE / ".cache"))

BARE = """
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
model(tf.zeros([1, 224, 224, 3], tf.float32))
"""


def _keras_app(factory: Callable[..., object], export_dir: Path, **kwargs: object) -> None:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    inputs = tf_keras.Input((None, None, 3))
    scaled = tf_keras.layers.Rescaling(2.0, offset=-1.0)(inputs)  # the API's [0, 1] to the [-1, 1] these nets use
    backbone = factory(input_shape=(None, None, 3), include_top=False, pooling="avg", weights=None, **kwargs)
    model = tf_keras.Model(inputs, backbone(scaled))
    tf.saved_model.save(model, str(export_dir))


def build_mobilenet_v2_035(export_dir: Path) -> None:
    import tf_keras

    _keras_app(tf_keras.applications.MobileNetV2, export_dir, alpha=0.35)


def build_resnet50(export_dir: Path) -> None:
    import tf_keras

    _keras_app(tf_keras.applications.ResNet50, export_dir)


def build_tiny(export_dir: Path) -> None:
    import tf_keras

    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf

    tf_keras.utils.set_random_seed(0)
    model = tf_keras.Sequential([
        tf_keras.Input((None, None, 3)),
        tf_keras.layers.Conv2D(8, 3, strides=4, activation="relu"),
        tf_keras.layers.GlobalAveragePooling2D(),
        tf_keras.layers.Dense(8),
    ])
    tf.saved_model.save(model, str(export_dir))


MODELS: dict[str, Callable[[Path], None]] = {
    "mobilenet_v2_035": build_mobilenet_v2_035,
    "resnet50": build_resnet50,
    "tiny": build_tiny,
}


def model_dir(name: str) -> Path:
    """Build the model once (in a subprocess, so this process stays free of TensorFlow)."""
    target = CACHE / name
    if not (target / "saved_model.pb").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        code = f"import sys; sys.path.insert(0, {str(HERE)!r}); import bench; bench.MODELS[{name!r}]({str(target)!r})"
        subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return target


class TreeMemory:
    """Resident bytes of a process and all its descendants, read from /proc.

    Processes that existed before the command started, and new ones found not to descend from it,
    are not read again: a poll then reads the command's own few processes, not the whole machine's
    (1.8 ms per poll against 0.3 ms here, every 20 ms, on the same two cores the command runs on).
    No process outside the tree can become part of it (orphans go to init), so nothing is missed.
    """

    def __init__(self) -> None:
        self.foreign = {int(entry) for entry in os.listdir("/proc") if entry.isdigit()}
        self.page = os.sysconf("SC_PAGE_SIZE")

    def __call__(self, root: int) -> int:
        parents: dict[int, int] = {}
        rss: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in self.foreign:
                continue
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{entry}/statm") as statm:
                    rss[int(entry)] = int(statm.read().split()[1]) * self.page
                parents[int(entry)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
        tree, frontier = {root}, [root]
        while frontier:
            current = frontier.pop()
            children = [pid for pid, parent in parents.items() if parent == current and pid not in tree]
            tree.update(children)
            frontier.extend(children)
        self.foreign.update(pid for pid in parents if pid not in tree)
        return sum(rss.get(pid, 0) for pid in tree)


def measure(command: list[str]) -> dict[str, float]:
    """Wall seconds and peak tree RSS (MiB) of one run of ``command``."""
    tree_rss = TreeMemory()
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_rss(process.pid))
        time.sleep(0.02)
    wall = time.perf_counter() - started
    if process.returncode not in (0, 1):  # 1: the model does not conform, still a complete run
        raise RuntimeError(f"{command} exited {process.returncode}")
    return {"wall_s": wall, "peak_rss_mib": peak / 2**20}


def compile_hubcheck() -> str:
    """Compile hubcheck's modules to bytecode before anything is timed, as installing a wheel does.

    TensorFlow's modules were compiled when pip installed them. An editable install of hubcheck writes
    its bytecode on first import, unless PYTHONDONTWRITEBYTECODE is set (it is in some sandboxes): then
    every run would compile hubcheck's sources again, 0.1 s that no installed hubcheck pays."""
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("hubcheck")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    compiled = all(compileall.compile_dir(folder, quiet=1) for folder in folders)
    return "compiled before timing" if folders and compiled else "not compiled (see the bench's output)"


LABELS = ("bare", "least_work", "hubcheck")
KEYS = ("wall_s", "peak_rss_mib")


def probed_report(path: Path, report: Path) -> None:
    """One untimed ``hubcheck --format json`` run: the shapes least_work.py must call at."""
    command = [sys.executable, "-m", "hubcheck", "--format", "json", "--output", str(report), str(path)]
    finished = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if finished.returncode not in (0, 1) or not report.exists():
        raise RuntimeError(f"{command} exited {finished.returncode}: {finished.stderr[-2000:]}")


def bench(name: str, rounds: int, folder: Path) -> dict[str, object]:
    path = model_dir(name)
    report = folder / f"{name}.json"
    probed_report(path, report)
    commands = {
        "bare": [sys.executable, "-c", BARE, str(path)],
        "least_work": [sys.executable, str(HERE / "least_work.py"), str(path), "--from-report", str(report)],
        "hubcheck": [sys.executable, "-m", "hubcheck", str(path)],
    }
    runs: dict[str, list[dict[str, float]]] = {label: [] for label in LABELS}
    for round_number in range(rounds):
        for label in LABELS:
            runs[label].append(measure(commands[label]))
            print(f"  {name} round {round_number + 1}/{rounds} {label}: "
                  f"{runs[label][-1]['wall_s']:.2f}s {runs[label][-1]['peak_rss_mib']:.0f} MiB", flush=True)
    median = {label: {key: statistics.median(run[key] for run in items) for key in KEYS}
              for label, items in runs.items()}
    hubcheck, bare, least = median["hubcheck"], median["bare"], median["least_work"]
    return {
        "model": name,
        "rounds": rounds,
        "median": median,
        "ratio_wall": hubcheck["wall_s"] / bare["wall_s"],
        "ratio_peak_rss": hubcheck["peak_rss_mib"] / bare["peak_rss_mib"],
        "ratio_wall_least_work": hubcheck["wall_s"] / least["wall_s"],
        "ratio_peak_rss_least_work": hubcheck["peak_rss_mib"] / least["peak_rss_mib"],
        "runs": runs,
    }


def catalog_throughput(jobs: int, rounds: int) -> dict[str, object] | None:
    """benchmarks/catalog_throughput.py's figures, when that script is there (imported lazily)."""
    sys.path.insert(0, str(HERE))
    try:
        import catalog_throughput  # type: ignore[import-not-found]
    except ImportError:
        print("catalog throughput: benchmarks/catalog_throughput.py is not there; skipped", flush=True)
        return None
    models = catalog_throughput.fixture_paths()
    print(f"catalog throughput: {len(models)} models, one at a time vs --jobs {jobs}, {rounds} round(s)", flush=True)
    return dict(catalog_throughput.measure(models, jobs, rounds))


def print_table(models: list[dict[str, object]]) -> None:
    print(f"\n{'model':<18} {'bare s':>7} {'least s':>8} {'hubcheck s':>11} {'x bare':>7} {'x least':>8}"
          f" {'bare MiB':>9} {'least MiB':>10} {'hubcheck MiB':>13} {'x bare':>7} {'x least':>8}")
    for item in models:
        med: dict[str, dict[str, float]] = item["median"]  # type: ignore[assignment]
        print(f"{item['model']:<18} {med['bare']['wall_s']:>7.2f} {med['least_work']['wall_s']:>8.2f} "
              f"{med['hubcheck']['wall_s']:>11.2f} {item['ratio_wall']:>7.2f} {item['ratio_wall_least_work']:>8.2f} "
              f"{med['bare']['peak_rss_mib']:>9.0f} {med['least_work']['peak_rss_mib']:>10.0f} "
              f"{med['hubcheck']['peak_rss_mib']:>13.0f} {item['ratio_peak_rss']:>7.2f} "
              f"{item['ratio_peak_rss_least_work']:>8.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", choices=sorted(MODELS), default=["mobilenet_v2_035", "resnet50"],
                        help="models to run (none: only --catalog)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--smoke", action="store_true", help="tiny model, one round")
    parser.add_argument("--catalog", action="store_true",
                        help="also measure catalog throughput (benchmarks/catalog_throughput.py, if present)")
    parser.add_argument("--catalog-jobs", type=int, default=2)
    parser.add_argument("--catalog-rounds", type=int, default=1)
    args = parser.parse_args()
    if args.smoke:
        args.models, args.rounds = ["tiny"], 1
    results: dict[str, object] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "bytecode": compile_hubcheck(),
    }
    with tempfile.TemporaryDirectory(prefix="hubcheck-bench-") as folder:
        results["models"] = [bench(name, args.rounds, Path(folder)) for name in args.models]
    if results["models"]:
        print_table(results["models"])  # type: ignore[arg-type]
    if args.catalog:
        results["catalog"] = catalog_throughput(args.catalog_jobs, args.catalog_rounds)
        if results["catalog"]:
            print(json.dumps(results["catalog"], indent=2))
    if args.output:
        args.output.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
