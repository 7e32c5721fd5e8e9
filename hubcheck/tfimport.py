"""One place that imports TensorFlow, quietly and only when needed.

``hubcheck --help`` and ``--list-checks`` must not pay for importing TensorFlow,
so every module that needs it calls :func:`tensorflow` at run time.
"""

from __future__ import annotations

import gc
import io
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType


def _quiet_environment() -> None:
    # C++ log lines (oneDNN, CUDA stubs) go to stderr before Python logging exists.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # tensorflow-hub must use the tf-keras (Keras 2) that hub.KerasLayer is built on.
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def tensorflow() -> ModuleType:
    _quiet_environment()
    with warnings.catch_warnings(), long_lived_objects(enabled="tensorflow" not in sys.modules):
        warnings.simplefilter("ignore")
        import tensorflow as tf

    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    return tf


@contextmanager
def long_lived_objects(enabled: bool = True) -> Iterator[None]:
    """Create objects that live until the process ends (TensorFlow's modules, the loaded model)
    without Python's cyclic garbage collector, then freeze them out of its reach.

    Importing TensorFlow and loading a ResNet50 create millions of objects; each full collection
    traverses all of them again (0.1-0.5 s apiece, several per run) and frees next to nothing,
    since they stay in use. ``gc.freeze`` moves them to the permanent generation, so later
    collections only look at what the checks create. Measured on ResNet50: Python's collector
    took 2.8 s of CPU per run without this, 0.3 s with it; peak memory grows by about 10 MB (the
    load's own garbage cycles, frozen with the rest, where a collection would have freed them).
    """
    if not enabled:
        yield
        return
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


@contextmanager
def graph_optimizer_off(enabled: bool = True) -> Iterator[None]:
    """Instantiate the functions called inside without TensorFlow's graph optimizer (Grappler).

    An inference call at a new input shape instantiates the model's function afresh, and on a
    MobileNet or ResNet Grappler spends about half of that instantiation's 0.4-0.8 s, more than the
    call computes. hubcheck calls each shape a few times at most, so the optimized graph never pays
    back. Training-mode calls keep the optimizer: without it the backward pass's graph holds more
    memory (about 45 MB more at the peak on MobileNetV2) for no time saved. The option is part of
    each instantiation's key, so calls inside this context share instantiations with each other only,
    and a ``False`` restored afterwards serializes like the unset default (those outside share theirs).
    Not for a model whose graph names ``api_implements`` interfaces (``enabled=False``): the
    optimizer's implementation selector decides which of its functions run.
    """
    if not enabled:
        yield
        return
    tf = tensorflow()
    before = bool(tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False))
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": before})


@contextmanager
def native_logs_silenced() -> Iterator[None]:
    """Send what TensorFlow's C++ runtime writes to file descriptor 2 to /dev/null.

    Its INFO lines (CUDA stubs, oneDNN notices) bypass Python logging and
    ``TF_CPP_MIN_LOG_LEVEL`` in recent releases. Python's ``sys.stderr`` keeps
    writing to the real terminal, so hubcheck's own progress and errors still
    show. Set ``HUBCHECK_TF_LOGS=1`` to see TensorFlow's logs.
    """
    if os.environ.get("HUBCHECK_TF_LOGS"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    python_stderr = sys.stderr
    uses_fd2 = _fileno(python_stderr) == 2
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    if uses_fd2:
        sys.stderr = io.TextIOWrapper(os.fdopen(os.dup(saved), "wb"), encoding=python_stderr.encoding,
                                      errors="backslashreplace", line_buffering=True)
    try:
        yield
    finally:
        if uses_fd2:
            sys.stderr.flush()
            sys.stderr.close()
            sys.stderr = python_stderr
        os.dup2(saved, 2)
        os.close(saved)


def _fileno(stream: object) -> int | None:
    try:
        return stream.fileno()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return None
