"""Results, the JSON round trip and the exit-code decision: no TensorFlow needed."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubcheck.exitcodes import Crash, ExitCode, exit_code, exit_code_for
from hubcheck.options import RunOptions
from hubcheck.results import CheckResult, Finding, Report, Status, partial_report, unavailable_report, with_source

statuses = st.sampled_from(list(Status))
check_ids = st.from_regex(r"[a-z][a-z0-9]{0,8}(-[a-z0-9]{1,6}){0,2}", fullmatch=True)
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
details = st.dictionaries(st.text(min_size=1, max_size=10), json_scalars | st.lists(json_scalars, max_size=3), max_size=4)


@st.composite
def reports(draw: st.DrawFn) -> Report:
    ids = draw(st.lists(check_ids, unique=True, max_size=8))
    # Some failures name another check (or one not in the report) as their cause.
    causes = st.none() | st.sampled_from(ids) | check_ids if ids else st.none()
    checks = tuple(
        CheckResult(id=i, title=draw(st.text(min_size=1, max_size=30)), status=draw(statuses),
                    message=draw(st.text(max_size=80)),
                    details={**draw(details), **({"consequence_of": cause} if (cause := draw(causes)) else {})},
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
def test_root_causes_are_the_failures_not_explained_by_another(report: Report) -> None:
    failing = [r.id for r in report.checks if r.status in (Status.FAIL, Status.ERROR)]
    causes = report.root_causes
    assert causes == [i for i in failing if i in causes]  # failures only, in report order
    assert report.to_json()["summary"]["root_causes"] == causes
    for result in report.checks:
        if result.id in failing and result.id not in causes:
            assert result.details["consequence_of"] in failing
            assert result.details["consequence_of"] != result.id
    # the exit code does not care: a consequence fails the run as before
    warned = report.strict and any(r.status is Status.WARN for r in report.checks)
    assert report.failed == (bool(failing) or warned)


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
    assert report.status is (Status.FAIL if expected else Status.PASS)
    assert report.status == ("fail" if expected else "pass") == report.to_json()["status"]


def test_summary_counts_every_status() -> None:
    checks = tuple(CheckResult(f"c{i}", "t", s, "m") for i, s in enumerate([Status.PASS, Status.PASS, Status.SKIP]))
    report = Report("0", {}, {"path": "p", "format": "tf2-saved-model"}, checks)
    assert report.summary == {"pass": 2, "warn": 0, "skip": 1, "fail": 0, "error": 0}


def test_root_causes_leave_out_the_consequences_of_other_failures() -> None:
    checks = (
        CheckResult("load", "t", Status.PASS, "m"),
        CheckResult("batch-size", "t", Status.FAIL, "m"),
        CheckResult("output-dtype", "t", Status.ERROR, "m"),
        CheckResult("batch-independence", "t", Status.FAIL, "m", {"consequence_of": "batch-size"}),
        # its cause did not fail here (not selected, say): a root cause after all
        CheckResult("keras-layer", "t", Status.FAIL, "m", {"consequence_of": "input-dtype"}),
        CheckResult("logits", "t", Status.WARN, "m"),
        CheckResult("deterministic", "t", Status.SKIP, "m", {"blocked_by": "batch-size"}),
    )
    report = Report("0", {}, {"path": "p", "format": "tf2-saved-model"}, checks, strict=True)
    assert report.root_causes == ["batch-size", "output-dtype", "keras-layer"]
    document = json.loads(json.dumps(report.to_json()))
    assert document["summary"] == {"pass": 1, "warn": 1, "skip": 1, "fail": 3, "error": 1,
                                   "root_causes": ["batch-size", "output-dtype", "keras-layer"]}
    assert Report.from_json(document).root_causes == report.root_causes
    assert Report("0", {}, {"path": "p", "format": "tf2-saved-model"}, checks[:1]).to_json()["summary"][
        "root_causes"] == []


def test_an_old_report_without_root_causes_reads_back_with_them() -> None:
    report = Report("0", {}, {"path": "p", "format": "tf2-saved-model"},
                    (CheckResult("load", "t", Status.FAIL, "m"),))
    document = report.to_json()
    del document["summary"]["root_causes"]
    assert Report.from_json(document).to_json()["summary"]["root_causes"] == ["load"]


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


def test_the_exit_code_of_an_error_is_decided_by_its_type() -> None:
    import click

    from hubcheck.isolation import Stopped
    from hubcheck.sources import CacheError, FetchError, InternalError, NotFoundError, SourceError

    failing = Report("0", {}, {"path": "a"}, (CheckResult("load", "t", Status.FAIL, "m"),))
    assert exit_code([failing]) == 1 and exit_code() == 0
    assert exit_code([failing], click.UsageError("bad option")) == 2
    assert [exit_code((), error) for error in (NotFoundError("x"), CacheError("x"), SourceError("x"))] == [2, 2, 2]
    assert exit_code((), FetchError("HTTP 404")) == 4
    assert exit_code((), InternalError("a bug")) == exit_code((), Crash("a bug")) == exit_code((), KeyError()) == 3
    assert [exit_code((), Stopped(signum)) for signum in (1, 2, 15)] == [129, 130, 143]
    assert FetchError("x").exit_code == 4 and NotFoundError("x").exit_code == 2  # the same decision, as a property


def test_an_unavailable_model_fails_load_and_skips_the_rest() -> None:
    report = unavailable_report("https://example.com/m.tar.gz", RunOptions(select=frozenset({"load", "callable"}),
                                                                             strict=True), "HTTP 404")
    assert [(r.id, r.status) for r in report.checks] == [("load", Status.FAIL), ("callable", Status.SKIP)]
    assert report.model == {"path": "https://example.com/m.tar.gz", "format": "not-a-saved-model",
                            "source": "https://example.com/m.tar.gz", "fetch_error": "HTTP 404"}
    assert report.strict and exit_code_for([report]) is ExitCode.FETCH


def test_a_partial_report_keeps_what_finished_and_blames_the_stop() -> None:
    from hubcheck.registry import get_check

    checks = [get_check(check_id) for check_id in ("load", "callable", "batch-size")]
    done = CheckResult("load", "t", Status.PASS, "loaded")
    report = partial_report("m", "tf2-saved-model", checks, {"load": done}, "callable", "timed out after 5s",
                            duration_s=5.0, strict=False)
    assert [(r.id, r.status) for r in report.checks] == [
        ("load", Status.PASS), ("callable", Status.ERROR), ("batch-size", Status.SKIP)]
    assert report.result("callable").message == "timed out after 5s while running callable"
    assert report.result("batch-size").details == {"blocked_by": "callable", "stopped": "timed out after 5s"}
    between = partial_report("m", "tf2-saved-model", checks, {"load": done}, None, None, duration_s=1.0, strict=False)
    assert between.result("run").message == "the checking process stopped" and between.failed


def test_with_source_names_the_model_as_the_user_did() -> None:
    report = Report("0", {}, {"path": "/abs/m", "format": "tf2-saved-model", "task": "x"}, ())
    named = with_source(report, "m.tar.gz", {"source": "m.tar.gz", "resolved_path": "/abs/m"})
    assert list(named.model) == ["path", "format", "task", "source", "resolved_path"]  # "path" stays first
    assert named.model["path"] == "m.tar.gz" and report.model["path"] == "/abs/m"
