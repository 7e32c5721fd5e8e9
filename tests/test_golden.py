"""Golden reports: every fixture model's JSON report, timings and run-specific names aside, is pinned.

A refactoring must not change what hubcheck says. After an intended change of behaviour, regenerate
with ``HUBCHECK_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures import FIXTURES
from hubcheck.results import JSONValue, Report

GOLDEN = Path(__file__).parent / "golden" / "reports.json"

# TensorFlow numbers traced functions by a process-wide counter (__inference_call_57), which depends
# on what else the process traced; timings and the environment differ per run.
_COUNTER = re.compile(r"(?<=[A-Za-z])_\d+(?=\b|_|')")
_BYTES = re.compile(r"\b\d+ bytes\b")  # a proto's size moves with the length of those names
_VOLATILE_KEYS = frozenset({"duration_s", "seconds", "load_seconds", "duration", "environment", "hubcheck_version",
                            "calls", "started", "python", "tensorflow"})


def normalize(value: JSONValue, model: str) -> JSONValue:
    if isinstance(value, dict):
        return {key: normalize(item, model) for key, item in value.items() if key not in _VOLATILE_KEYS}
    if isinstance(value, list):
        return [normalize(item, model) for item in value]
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, str):
        return _BYTES.sub("N bytes", _COUNTER.sub("_N", value.replace(model, "<model>")))
    return value


def golden_document(report: Report, model: str) -> JSONValue:
    document = report.to_json()
    assert isinstance(document, dict)
    return normalize({"model": document.get("model"), "checks": document.get("checks"),
                      "status": document.get("status"), "root_causes": document["summary"]["root_causes"]}, model)


@pytest.fixture(scope="module")
def current(checked: Callable[[str], Report], model_path: Callable[[str], Path]) -> dict[str, JSONValue]:
    return {name: golden_document(checked(name), str(model_path(name))) for name in sorted(FIXTURES)}


def test_golden_reports_are_unchanged(current: dict[str, JSONValue]) -> None:
    if os.environ.get("HUBCHECK_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert sorted(current) == sorted(expected), "fixture models were added or removed: regenerate the golden file"
    for name in sorted(expected):
        assert json.loads(json.dumps(current[name], sort_keys=True)) == expected[name], (
            f"the report of fixture {name!r} changed; if intended, regenerate with HUBCHECK_UPDATE_GOLDEN=1"
        )
