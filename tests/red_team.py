"""What the red-team tests share: a secret no report may show, a model with its own drop folder, and
the one judgement of "refused": unsafe-ops fails, nothing loads, nothing is written, nothing leaks."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

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
