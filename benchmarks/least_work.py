"""The least any program can spend to answer the questions ``hubcheck MODEL`` answers by running the model.

It imports TensorFlow, loads the model once, calls it once at each inference shape hubcheck probes,
makes one training-mode call under a gradient tape and takes the gradients of its output for every
trainable variable, and makes one taped training-mode call through ``hub.KerasLayer(obj,
trainable=True)`` and takes its gradients. It judges nothing: no comparisons, no repeats, no graph
scan, no report. It keeps the two pieces of Python housekeeping that answer nothing and that
hubcheck avoids too: TensorFlow's modules and the loaded model are created with the cyclic garbage
collector paused and then frozen out of its reach (otherwise each full collection traverses
millions of live objects again), and when done it exits at once (``os._exit``), skipping an
interpreter shutdown that garbage-collects TensorFlow's graphs for seconds. ``--plain`` runs it
without either. Whatever ``hubcheck MODEL`` spends beyond this script is overhead hubcheck owns
(``benchmarks/bench.py`` measures the ratio).

The shapes come from a hubcheck JSON report of the same model (``--from-report``: the distinct
shapes of ``model.calls``, so the script probes exactly what that hubcheck run probed), or are given
by hand (``--call BxHxW`` for each inference shape, ``--train BxHxW`` for the training call).
Without either, hubcheck's default plan for a model that takes any size is used: 1x224x224,
5x224x224 and 2x160x192 for inference, 2x160x192 for training. This script imports nothing of
hubcheck, so its cost is TensorFlow's and the model's alone.

    python benchmarks/least_work.py MODEL --from-report report.json
    python benchmarks/least_work.py MODEL --call 1x224x224 --call 5x224x224 --train 2x224x224 --timings
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DEFAULT_CALLS = ((1, 224, 224), (5, 224, 224), (2, 160, 192))
DEFAULT_TRAIN = (2, 160, 192)

Shape = tuple[int, int, int]  # batch, height, width

_CALL = re.compile(r"^\[(\d+),(\d+),(\d+),3\](.*)$")


def parse_shape(text: str) -> Shape:
    """``"5x224x224"`` -> ``(5, 224, 224)``."""
    parts = text.lower().split("x")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        raise argparse.ArgumentTypeError(f"expected BATCHxHEIGHTxWIDTH, got {text!r}")
    return int(parts[0]), int(parts[1]), int(parts[2])


def shapes_from_report(report: dict) -> tuple[list[Shape], Shape | None, bool]:
    """The distinct inference shapes, the training shape (None: no training-mode call) and whether
    the model takes ``training=``, read from a hubcheck JSON report's ``model.calls``."""
    model = report["model"] if "model" in report else report["reports"][0]["model"]
    inference: list[Shape] = []
    train: Shape | None = None
    for call in model.get("calls", []):
        match = _CALL.match(call["input"].replace(" ", ""))
        if not match:
            continue
        shape = (int(match[1]), int(match[2]), int(match[3]))
        if "training=True" in match[4]:
            train = train or shape
        elif shape not in inference:
            inference.append(shape)
    takes_training = "training" in model.get("call_argument_names", ["training"])
    return inference, train, takes_training


def images(shape: Shape, seed: int):  # -> np.ndarray
    import numpy as np

    batch, height, width = shape
    return np.random.default_rng(seed).uniform(0.0, 1.0, size=(batch, height, width, 3)).astype(np.float32)


def _resident_mib() -> float:
    try:
        with open("/proc/self/statm") as statm:
            return round(int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    except OSError:
        return 0.0


@contextmanager
def long_lived_objects(enabled: bool) -> Iterator[None]:
    """Create what lives until the end without Python's cyclic collector, then freeze it out of its
    reach (the same as hubcheck.tfimport.long_lived_objects, restated: this script imports nothing of hubcheck)."""
    if not enabled:
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def run(path: str, calls: list[Shape], train: Shape | None, takes_training: bool,
        housekeeping: bool = True) -> dict[str, float]:
    """Do the work; return the seconds of each stage and the resident memory after it."""
    timings: dict[str, float] = {}
    started = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal started
        now = time.perf_counter()
        timings[name] = round(now - started, 3)
        timings[f"{name}: resident MiB"] = _resident_mib()
        started = now

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    with long_lived_objects(housekeeping):
        import tensorflow as tf
    lap("import tensorflow")
    with long_lived_objects(housekeeping):
        obj = tf.saved_model.load(path)
    lap("load")
    for number, shape in enumerate(calls):
        obj(tf.constant(images(shape, number)))
        lap(f"call {'x'.join(map(str, shape))}")
    if train is None:
        return timings
    variables = list(obj.trainable_variables)
    kwargs = {"training": True} if takes_training else {}
    batch = tf.constant(images(train, 99))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(obj(batch, **kwargs))
    tape.gradient(loss, variables)
    lap("taped training call + gradients")

    import tensorflow_hub as hub

    layer = hub.KerasLayer(obj, trainable=True)
    lap("import tensorflow_hub")
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(batch, training=True))
    tape.gradient(loss, layer.trainable_weights)
    lap("hub.KerasLayer taped training call + gradients")
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--from-report", type=Path, help="a hubcheck JSON report of MODEL to take the shapes from")
    parser.add_argument("--call", type=parse_shape, action="append", default=[], help="an inference shape BxHxW")
    parser.add_argument("--train", type=parse_shape, help="the training-mode shape BxHxW")
    parser.add_argument("--no-training-argument", action="store_true", help="call in training mode without training=True")
    parser.add_argument("--timings", action="store_true", help="print each stage's seconds and resident MiB as JSON on stdout")
    parser.add_argument("--plain", action="store_true",
                        help="no housekeeping: Python's collector as usual and its normal shutdown (the script "
                             "as issue 12 first stated it)")
    args = parser.parse_args(argv)
    takes_training = not args.no_training_argument
    if args.from_report:
        calls, train, takes_training = shapes_from_report(json.loads(args.from_report.read_text()))
    else:
        calls = args.call or list(DEFAULT_CALLS)
        train = args.train or (None if args.call else DEFAULT_TRAIN)
    timings = run(args.model, calls, train, takes_training, housekeeping=not args.plain)
    if args.timings:
        print(json.dumps(timings, indent=1))
    if not args.plain:
        # Interpreter shutdown garbage-collects TensorFlow's graphs and functions: seconds on a
        # ResNet50, none of it needed to answer anything. The least a program must do ends here.
        sys.stdout.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
