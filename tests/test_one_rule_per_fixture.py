"""One problem, one failure (issue #13), over the whole fixture catalog: a model fixture that breaks one
rule (``Fixture.breaks``, a check id) fails that rule's check and no other, and that check is the one
root cause its report names (``summary.root_causes``); one that breaks several rules by design
(a tuple, with ``several_because``) fails exactly those.

A check that fails (or errors) because an earlier failure spoiled what it compares is a cascade: the
user sees two problems where there is one. The fixtures still cascading are marked ``xfail(strict=True)``
below, each with the checks it drags along, so that fixing a cascade turns its mark into an error
until the mark goes.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fixtures import FIXTURES
from hubcheck.results import Report, Status

BAD = (Status.FAIL, Status.ERROR)

# fixture -> the checks that still fail along with its one broken rule, and why. None since the probe
# calls what the traces accept and comparisons of two calls allow for the model's own noise.
CASCADES: dict[str, str] = {}

# fixture -> why its root causes are not yet just the broken rule: the checks that cascade (above) do
# not say that they fail as a consequence (details.consequence_of).
ROOT_CAUSE_CASCADES: dict[str, str] = {name: f"no consequence_of yet: {why}" for name, why in CASCADES.items()}


def _cases(pending: dict[str, str]) -> list[object]:
    return [
        pytest.param(name, marks=[pytest.mark.xfail(strict=True, reason=pending[name])] if name in pending else [])
        for name, fixture in FIXTURES.items() if fixture.single_rule
    ]


def _failures(report: Report) -> dict[str, str]:
    return {r.id: f"{r.status.value}: {r.message}" for r in report.checks if r.status in BAD}


def test_the_catalog_declares_what_every_fixture_breaks() -> None:
    for name, fixture in FIXTURES.items():
        assert fixture.breaks is None or fixture.broken_rules, name
        if not fixture.single_rule and fixture.breaks is not None:
            assert len(fixture.broken_rules) > 1 and fixture.several_because, name
    assert set(CASCADES) | set(ROOT_CAUSE_CASCADES) <= {n for n, f in FIXTURES.items() if f.single_rule}


@pytest.mark.parametrize("fixture", _cases(CASCADES))
def test_only_the_broken_rule_fails(checked: Callable[[str], Report], fixture: str) -> None:
    rule = FIXTURES[fixture].single_rule
    assert rule is not None
    report = checked(fixture)
    failures = _failures(report)
    if FIXTURES[fixture].expected[rule] == "warn":  # a rule whose breach is a warning: nothing fails
        assert report.result(rule).status is Status.WARN
        assert not failures, failures
    else:
        assert list(failures) == [rule], failures


@pytest.mark.parametrize("fixture", _cases(ROOT_CAUSE_CASCADES))
def test_the_broken_rule_is_the_only_root_cause(checked: Callable[[str], Report], fixture: str) -> None:
    rule = FIXTURES[fixture].single_rule
    report = checked(fixture)
    expected = [] if FIXTURES[fixture].expected[rule] == "warn" else [rule]
    assert report.root_causes == expected, _failures(report)


@pytest.mark.parametrize("fixture", [n for n, f in FIXTURES.items() if len(f.broken_rules) > 1])
def test_a_fixture_that_breaks_several_rules_fails_exactly_those(checked: Callable[[str], Report],
                                                                 fixture: str) -> None:
    report = checked(fixture)
    rules = set(FIXTURES[fixture].broken_rules)
    assert set(_failures(report)) == rules, _failures(report)
    assert set(report.root_causes) == rules
