"""Every check's verdict on every fixture model: each rule has a model that breaks it, conformant models pass."""

from __future__ import annotations

import pytest

from fixtures import FIXTURES
from fixtures.graph_models import GRAPH_EXPECTED
from hubcheck.registry import available_checks
from hubcheck.results import Status

BUILTIN = [check.id for check in available_checks() if check.__module__.startswith("hubcheck.checks.")]
CASES = [(name, check_id, status) for name, fixture in FIXTURES.items() for check_id, status in fixture.expected.items()]


@pytest.mark.parametrize(("fixture", "check_id", "expected"), CASES, ids=[f"{n}::{c}" for n, c, _ in CASES])
def test_verdict(checked, fixture: str, check_id: str, expected: str) -> None:
    result = checked(fixture).result(check_id)
    assert result.status.value == expected, f"{check_id} on {fixture}: {result.status}: {result.message}"


CONFORMANT = [name for name, fixture in FIXTURES.items() if fixture.breaks is None and fixture.expected.get("load") != "fail"]


@pytest.mark.parametrize("fixture", CONFORMANT)
def test_conformant_models_have_no_failure(checked, fixture: str) -> None:
    report = checked(fixture)
    bad = [(r.id, r.status.value, r.message) for r in report.checks if r.status in (Status.FAIL, Status.ERROR)]
    assert not bad
    assert report.status == "pass"


# The graph checks' own fixtures (unsafe ops, input ranges) are exercised in test_graph.py.
ALL_EXPECTED = {**{name: dict(f.expected) for name, f in FIXTURES.items()}, **GRAPH_EXPECTED}


@pytest.mark.parametrize("check_id", BUILTIN)
def test_every_builtin_check_has_a_fixture_that_breaks_it(check_id: str) -> None:
    breakers = [name for name, expected in ALL_EXPECTED.items() if expected.get(check_id) in ("fail", "warn")]
    assert breakers, f"no fixture model breaks {check_id}"


@pytest.mark.parametrize("check_id", BUILTIN)
def test_every_builtin_check_passes_on_some_fixture(check_id: str) -> None:
    passers = [name for name in CONFORMANT if FIXTURES[name].expected.get(check_id) == "pass"]
    assert passers, f"no conformant fixture passes {check_id}"


@pytest.mark.parametrize("fixture", [n for n, f in FIXTURES.items() if f.breaks])
def test_a_broken_model_fails_the_run(checked, fixture: str) -> None:
    report = checked(fixture)
    expected = FIXTURES[fixture].expected[FIXTURES[fixture].breaks]
    assert report.failed == (expected == "fail")
