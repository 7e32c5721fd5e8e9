"""Shared test fixtures: fixture models are built once (cached on disk) and each is checked once per session."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from hubcheck.options import RunOptions
from hubcheck.results import Report

# The CLI runs models in a child process by default; tests drive it in-process so that they can
# substitute the runner and stay fast. test_isolation.py and the isolated CLI tests opt back in.
os.environ["HUBCHECK_IN_PROCESS"] = "1"

REPO = Path(__file__).resolve().parent.parent
SCHEMA_PATH = REPO / "docs" / "report.schema.json"

_reports: dict[str, Report] = {}


@pytest.fixture(scope="session")
def model_path() -> Callable[[str], Path]:
    """Path of a fixture model by name, built on first use and cached across sessions."""
    from fixtures import fixture_path

    return fixture_path


def fixture_options(name: str) -> RunOptions:
    """How a fixture model is checked: its task, and its documentation (read from fixtures/docs/)."""
    import dataclasses

    from fixtures import FIXTURES
    from fixtures.catalog import DOCS
    from hubcheck.documentation import read_documentation
    from hubcheck.options import Task

    fixture = FIXTURES[name]
    documentation = None
    if fixture.doc is not None:  # the path as the repository spells it, wherever it is checked out
        documentation = dataclasses.replace(read_documentation(DOCS / fixture.doc), path=f"fixtures/docs/{fixture.doc}")
    return RunOptions(task=Task(fixture.task) if fixture.task else Task.AUTO, documentation=documentation)


@pytest.fixture(scope="session")
def checked(model_path: Callable[[str], Path]) -> Callable[[str], Report]:
    """The report of a fixture model (its task and documentation, otherwise default options), computed once
    per session."""
    from hubcheck.runner import run_checks

    def report_for(name: str) -> Report:
        if name not in _reports:
            _reports[name] = run_checks(model_path(name), fixture_options(name))
        return _reports[name]

    return report_for


@pytest.fixture(scope="session")
def report_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


@pytest.fixture(scope="session")
def validate_report(report_schema: dict) -> Callable[[object], None]:
    import jsonschema

    validator = jsonschema.Draft202012Validator(report_schema)

    def validate(document: object) -> None:
        validator.validate(document)

    return validate
