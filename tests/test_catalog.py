"""Every check's verdict on every fixture: each rule has a model that breaks it, conformant models pass.

Model fixtures (``FIXTURES``) are compared with a full default run (conftest's ``checked``); the graph
checks' fixtures (``GRAPH_FIXTURES``) with a run that selects exactly the checks their ``expected`` names.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures import ALL_FIXTURES, FIXTURES, GRAPH_FIXTURES
from hubcheck.options import RunOptions
from hubcheck.registry import available_checks
from hubcheck.results import Report, Status

BUILTIN = [check.id for check in available_checks() if check.__module__.startswith("hubcheck.checks.")]
CASES = [(name, check_id, status) for name, fixture in FIXTURES.items() for check_id, status in fixture.expected.items()]


@pytest.mark.parametrize(("fixture", "check_id", "expected"), CASES, ids=[f"{n}::{c}" for n, c, _ in CASES])
def test_verdict(checked: Callable[[str], Report], fixture: str, check_id: str, expected: str) -> None:
    result = checked(fixture).result(check_id)
    assert result.status.value == expected, f"{check_id} on {fixture}: {result.status}: {result.message}"


CONFORMANT = [name for name, fixture in FIXTURES.items() if fixture.breaks is None and fixture.expected.get("load") != "fail"]


@pytest.mark.parametrize("fixture", CONFORMANT)
def test_conformant_models_have_no_failure(checked: Callable[[str], Report], fixture: str) -> None:
    report = checked(fixture)
    bad = [(r.id, r.status.value, r.message) for r in report.checks if r.status in (Status.FAIL, Status.ERROR)]
    assert not bad
    assert report.status == "pass"


# -- the graph checks' fixtures ---------------------------------------------------------------------------

_graph_reports: dict[str, Report] = {}


@pytest.fixture(scope="session")
def graph_checked(model_path: Callable[[str], Path]) -> Callable[[str], Report]:
    """The report of a graph fixture with exactly its expected checks selected, computed once per session."""
    from hubcheck.runner import run_checks

    def report_for(name: str) -> Report:
        if name not in _graph_reports:
            options = RunOptions(select=frozenset(GRAPH_FIXTURES[name].expected))
            _graph_reports[name] = run_checks(model_path(name), options)
        return _graph_reports[name]

    return report_for


GRAPH_CASES = [
    pytest.param(name, check_id, status, id=f"{name}::{check_id}", marks=[pytest.mark.slow] if fixture.slow else [])
    for name, fixture in GRAPH_FIXTURES.items() for check_id, status in fixture.expected.items()
]


@pytest.mark.parametrize(("fixture", "check_id", "expected"), GRAPH_CASES)
def test_graph_fixture_verdict(graph_checked: Callable[[str], Report], fixture: str, check_id: str,
                               expected: str) -> None:
    result = graph_checked(fixture).result(check_id)
    assert result.status.value == expected, f"{check_id} on {fixture}: {result.status}: {result.message}"


@pytest.mark.parametrize(
    "fixture",
    [pytest.param(name, marks=[pytest.mark.slow] if f.slow else []) for name, f in GRAPH_FIXTURES.items()],
)
def test_a_graph_fixture_breaks_what_it_declares_and_nothing_else(graph_checked: Callable[[str], Report],
                                                                  fixture: str) -> None:
    report = graph_checked(fixture)
    assert {r.id for r in report.checks} == set(GRAPH_FIXTURES[fixture].expected)
    broken = {r.id for r in report.checks if r.status in (Status.FAIL, Status.WARN, Status.ERROR)}
    declared = set(GRAPH_FIXTURES[fixture].broken_rules)
    assert broken == declared, [(r.id, r.status.value, r.message) for r in report.checks]


# -- coverage of the checks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("check_id", BUILTIN)
def test_every_builtin_check_has_a_fixture_that_breaks_it(check_id: str) -> None:
    """Every expectation is compared with a run above, so a fixture declared to break a check does break it."""
    breakers = [name for name, f in ALL_FIXTURES.items() if f.expected.get(check_id) in ("fail", "warn")]
    assert breakers, f"no fixture model breaks {check_id}"


@pytest.mark.parametrize("check_id", BUILTIN)
def test_every_builtin_check_passes_on_some_fixture(check_id: str) -> None:
    passers = [name for name in CONFORMANT if FIXTURES[name].expected.get(check_id) == "pass"]
    assert passers, f"no conformant fixture passes {check_id}"


@pytest.mark.parametrize("fixture", [n for n, f in FIXTURES.items() if f.breaks])
def test_a_broken_model_fails_the_run(checked: Callable[[str], Report], fixture: str) -> None:
    report = checked(fixture)
    rules = FIXTURES[fixture].broken_rules
    assert rules
    assert report.failed == any(FIXTURES[fixture].expected[rule] == "fail" for rule in rules)
