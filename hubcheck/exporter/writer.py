"""Write the traced root as a SavedModel at OUT without ever touching what is already there, then verify it.

The model is saved into a temporary folder next to OUT and renamed into place, so OUT is either absent,
or the complete export: an interrupted export leaves no half-written model, and an OUT that holds files
is refused before anything is written.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hubcheck.exitcodes import Crash
from hubcheck.exporter.errors import ExportError, first_line
from hubcheck.tfimport import tensorflow

SIDECAR = "hubcheck-export.json"
"""The file next to ``saved_model.pb`` that records how the model was made (docs/export.md)."""


def check_target(out: Path) -> None:
    """Refuse an OUT that exists and is not an empty folder, or whose folder is missing."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise ExportError(f"{out} exists and is not a folder; give a new folder for the export")
    if out.is_dir() and any(out.iterdir()):
        raise ExportError(f"{out} is not empty; give a new or empty folder (export never overwrites files)")
    parent = out.absolute().parent
    if not parent.is_dir():
        reason = "is not a folder" if parent.exists() or parent.is_symlink() else "does not exist"
        raise ExportError(f"{out}: {parent} {reason}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(f"{out}: folder {parent} is not writable")


def check_apart(source: Path, out: Path) -> None:
    """Refuse an OUT that is the source, lies inside it (an empty ``assets/`` would pass as a new folder and
    be replaced) or holds it: the export must never write into the model it reads."""
    source_path, out_path = source.resolve(), out.resolve()
    if source_path == out_path or source_path in out_path.parents or out_path in source_path.parents:
        raise ExportError(f"{out} overlaps the source {source}; give a folder outside the source model")


def write_model(root: Any, out: Path, record: Mapping[str, Any], probe_size: tuple[int, int]) -> None:
    """Save ``root`` and the ``record`` sidecar at ``out`` (checked with :func:`check_target`), atomically,
    once the saved copy loads back and computes what ``root`` does (:func:`verify_written`)."""
    tf = tensorflow()
    check_target(out)
    parent = out.absolute().parent
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-", dir=parent))
    try:
        staged = scratch / "model"
        tf.saved_model.save(root, str(staged))
        (staged / SIDECAR).write_text(json.dumps(dict(record), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        verify_written(root, staged, probe_size)
        if out.is_dir():
            out.rmdir()  # empty (checked above); rmdir refuses if a file appeared since
        os.rename(staged, out)
    except OSError as exc:
        raise ExportError(f"{out}: cannot write the export: {exc}") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def verify_written(root: Any, saved: Path, size: tuple[int, int]) -> None:
    """Load the saved copy back and compare its inference output with the traced root's on one image batch.

    A copy that does not load or call is a source whose state TensorFlow cannot write again
    (:class:`ExportError`); one that computes something else is hubcheck's own failure
    (:class:`~hubcheck.exitcodes.Crash`, exit 3)."""
    tf = tensorflow()
    images = tf.constant(np.random.default_rng(0).random((2, *size, 3), dtype=np.float32))
    try:
        written = tf.saved_model.load(str(saved))(images).numpy()
    except Exception as exc:
        raise ExportError("the written model does not load and run back, so it was not kept: "
                          f"{first_line(exc)} (state of the source that "
                          "tf.saved_model.save cannot write, such as TF1 reference variables)") from None
    expected = root.__call__(images).numpy()
    if not np.allclose(written, expected, rtol=1e-5, atol=1e-5, equal_nan=True):
        raise Crash("hubcheck export: the written model's output differs from the wrapper's; nothing was kept")
