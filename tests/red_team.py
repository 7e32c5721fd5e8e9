"""What the red-team tests share: a secret no report may show, a model with its own drop folder, and
the one judgement of "refused": unsafe-ops fails, nothing loads, nothing is written, nothing leaks."""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubcheck.results import Report, Status


@dataclass(frozen=True)
class Secret:
    text: str
    file: Path


@dataclass(frozen=True)
class Built:
    path: Path  # the SavedModel directory
    drop: Path  # a directory only this model's payload writes into

    @property
    def marker(self) -> Path:
        return self.drop / "marker"

    def fired(self) -> list[str]:
        return sorted(item.name for item in self.drop.iterdir())

    def clear(self) -> None:
        for item in self.drop.iterdir():
            shutil.rmtree(item) if item.is_dir() and not item.is_symlink() else item.unlink()


def make_secret(workspace: Path) -> Secret:
    """A file outside every model, alone in its folder, whose only line no report may ever show."""
    text = f"HUBCHECK-SECRET-{secrets.token_hex(8)}"
    file = workspace / "outside" / "secret.txt"
    file.parent.mkdir()
    file.write_text(text + "\n")
    return Secret(text, file)


def model_builder(workspace: Path, secret: Secret, catalog: Mapping[str, Any]) -> Callable[[str], Built]:
    """A hostile model of ``catalog`` by name, built on first use, with an empty drop directory.

    ``catalog[name].build(model, marker, secret_file)`` writes the model."""
    built: dict[str, Built] = {}

    def get(name: str) -> Built:
        if name not in built:
            model = workspace / "models" / name
            drop = workspace / "drops" / name
            model.mkdir(parents=True)
            drop.mkdir(parents=True)
            result = Built(model, drop)
            catalog[name].build(model, result.marker, secret.file)
            result.clear()  # a resource filled eagerly at construction fires once while building
            built[name] = result
        return built[name]

    return get


def document(report: Report) -> str:
    return json.dumps(report.to_json())


def refusal_problems(report: Report, built: Built, secret: Secret) -> list[str]:
    """Why ``report`` is not a refusal of a hostile model ([] when it is)."""
    problems: list[str] = []
    unsafe = report.result("unsafe-ops")
    if unsafe.status is not Status.FAIL:
        problems.append(f"unsafe-ops is {unsafe.status}: {unsafe.message}")
    load = report.result("load")
    if load.status is not Status.SKIP or load.details.get("blocked_by") != "unsafe-ops":
        problems.append(f"load is {load.status}, not skipped behind unsafe-ops: {load.message}")
    if "load_seconds" in report.model:
        problems.append("the model was loaded")
    if built.fired():
        problems.append(f"the payload wrote {built.fired()} into its drop directory")
    if secret.text in document(report):
        problems.append("the secret file's line is in the report")
    return problems


@contextmanager
def emptied(built: Built) -> Iterator[Built]:
    """``built`` with an empty drop directory, emptied again afterwards: what a payload wrote in one test
    must not count in the next."""
    built.clear()
    try:
        yield built
    finally:
        built.clear()


def assert_payload_fired(report: Report, built: Built, secret: Secret, *, by_marker: bool, name: str) -> None:
    """The payload of ``built`` fired in the run that gave ``report``: it wrote into its drop directory
    (``by_marker``) or put the secret file's line into the report."""
    statuses = {result.id: f"{result.status}: {result.message[:200]}" for result in report.checks}
    if by_marker:
        assert built.fired(), f"{name}: nothing written into {built.drop}; {statuses}"
    else:
        assert secret.text in document(report), f"{name}: the secret is not in the report; {statuses}"
