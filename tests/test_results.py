"""Results, the JSON round trip and the exit-code decision: no TensorFlow needed."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubcheck.exitcodes import ExitCode, exit_code_for
from hubcheck.results import CheckResult, Finding, Report, Status

statuses = st.sampled_from(list(Status))
check_ids = st.from_regex(r"[a-z][a-z0-9]{0,8}(-[a-z0-9]{1,6}){0,2}", fullmatch=True)
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
details = st.dictionaries(st.text(min_size=1, max_size=10), json_scalars | st.lists(json_scalars, max_size=3), max_size=4)


@st.composite
def reports(draw: st.DrawFn) -> Report:
    ids = draw(st.lists(check_ids, unique=True, max_size=8))
    checks = tuple(
        CheckResult(id=i, title=draw(st.text(min_size=1, max_size=30)), status=draw(statuses),
                    message=draw(st.text(max_size=80)), details=draw(details),
                    duration_s=draw(st.floats(0, 100)))
        for i in ids
    )
    return Report(
        hubcheck_version="0.1.0",
        environment={"python": "3.11", "tensorflow": "2.21.0", "tensorflow-hub": "0.16.1"},
        model={"path": draw(st.text(min_size=1, max_size=40)), "format": "tf2-saved-model"},
        checks=checks,
        duration_s=draw(st.floats(0, 1000)),
        strict=draw(st.booleans()),
    )


@given(reports())
def test_json_round_trip_preserves_the_report(report: Report) -> None:
    document = json.loads(json.dumps(report.to_json()))
    again = Report.from_json(document)
    assert again.to_json() == report.to_json()


@given(report=reports())
def test_random_reports_validate_against_the_schema(validate_report, report: Report) -> None:
    validate_report(json.loads(json.dumps(report.to_json())))


@given(st.lists(statuses, max_size=10), st.booleans())
def test_exit_code_follows_the_worst_status(found: list[Status], strict: bool) -> None:
    checks = tuple(CheckResult(f"c{i}", "t", s, "m") for i, s in enumerate(found))
    report = Report("0", {}, {"path": "p", "format": "tf2-saved-model"}, checks, strict=strict)
    bad = {Status.FAIL, Status.ERROR} | ({Status.WARN} if strict else set())
    expected = ExitCode.NONCONFORMANT if any(s in bad for s in found) else ExitCode.OK
    assert exit_code_for([report]) is expected
    assert report.status == ("fail" if expected else "pass")


def test_summary_counts_every_status() -> None:
    checks = tuple(CheckResult(f"c{i}", "t", s, "m") for i, s in enumerate([Status.PASS, Status.PASS, Status.SKIP]))
    report = Report("0", {}, {"path": "p", "format": "tf2-saved-model"}, checks)
    assert report.summary == {"pass": 2, "warn": 0, "skip": 1, "fail": 0, "error": 0}


def test_non_finite_details_become_strict_json() -> None:
    result = CheckResult("c", "t", Status.FAIL, "m", {"loss": float("nan"), "shape": (1, 2)})
    text = json.dumps(result.to_json(), allow_nan=False)
    assert json.loads(text)["details"] == {"loss": "nan", "shape": [1, 2]}


def test_finding_constructors_set_status() -> None:
    assert Finding.passed("ok").status is Status.PASS
    assert Finding.failed("no", x=1).details == {"x": 1}
    assert Finding.warned("hm").status is Status.WARN
    assert Finding.skipped("n/a").status is Status.SKIP


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(reports(), min_size=1, max_size=3))
def test_random_reports_through_every_reporter(validate_report, batch: list[Report]) -> None:
    import xml.etree.ElementTree as ET

    from hubcheck.reporters import REPORTERS, build_reporter

    for name in REPORTERS:
        text = build_reporter(name).render(batch)
        assert isinstance(text, str) and text
        if name == "json":
            document = json.loads(text)
            validate_report(document)
            found = [document] if len(batch) == 1 else document["reports"]
            assert [Report.from_json(d).to_json() for d in found] == [json.loads(json.dumps(r.to_json())) for r in batch]
        elif name == "junit":
            root = ET.fromstring(text)
            cases = root.iter("testcase")
            assert sum(1 for _ in cases) == sum(len(r.checks) for r in batch)


def test_a_model_that_could_not_be_fetched_outranks_a_failing_one() -> None:
    failing = Report("0", {}, {"path": "a", "format": "tf2-saved-model"}, (CheckResult("load", "t", Status.FAIL, "m"),))
    fetched = Report("0", {}, {"path": "b", "format": "not-a-saved-model", "fetch_error": "HTTP 404"},
                     (CheckResult("load", "t", Status.FAIL, "m"),))
    assert exit_code_for([failing]) is ExitCode.NONCONFORMANT
    assert exit_code_for([failing, fetched]) is ExitCode.FETCH
