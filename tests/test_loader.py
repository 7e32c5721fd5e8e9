"""Recognising what a path holds, before anything is loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubcheck.loader import ModelFormat, inspect_path


def test_keras_h5_file(tmp_path: Path) -> None:
    model = tmp_path / "model.h5"
    model.write_bytes(b"\x89HDF\r\n")
    source = inspect_path(model)
    assert source.format is ModelFormat.KERAS_FILE
    assert "tf.saved_model.save" in (source.problem or "")


def test_directory_holding_a_keras_file(tmp_path: Path) -> None:
    (tmp_path / "model.keras").write_bytes(b"PK")
    source = inspect_path(tmp_path)
    assert source.format is ModelFormat.KERAS_FILE
    assert "model.keras" in (source.problem or "")


def test_empty_directory(tmp_path: Path) -> None:
    source = inspect_path(tmp_path)
    assert source.format is ModelFormat.NOT_A_SAVED_MODEL
    assert "it is empty" in (source.problem or "")


def test_directory_listing_names_what_is_there(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"x")
    assert "weights.bin" in (inspect_path(tmp_path).problem or "")


def test_plain_file(tmp_path: Path) -> None:
    model = tmp_path / "model.tflite"
    model.write_bytes(b"TFL3")
    source = inspect_path(model)
    assert source.format is ModelFormat.NOT_A_SAVED_MODEL and "is a file" in (source.problem or "")


def test_tf1_hub_module(tmp_path: Path) -> None:
    (tmp_path / "tfhub_module.pb").write_bytes(b"\x08\x03")
    (tmp_path / "saved_model.pb").write_bytes(b"")
    source = inspect_path(tmp_path)
    assert source.format is ModelFormat.TF1_HUB_MODULE
    assert "deprecated" in (source.problem or "")


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("saved_model.pb", b"", "is empty"),
        ("saved_model.pb", bytes(range(256)) * 4, "not a valid SavedModel proto"),
        ("saved_model.pbtxt", b"this is { not a proto", "not a valid SavedModel proto"),
        ("saved_model.pbtxt", b"", "is empty"),
    ],
)
def test_unreadable_protos(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    (tmp_path / name).write_bytes(content)
    source = inspect_path(tmp_path)
    assert source.format is ModelFormat.UNREADABLE
    assert expected in (source.problem or "")
