"""Every reporter on hand-built reports: no TensorFlow, no model."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import click
import pytest

from hubcheck.cli import check_command
from hubcheck.reporters import REPORTERS, build_reporter
from hubcheck.reporters.github import GithubReporter, escape_data, escape_property
from hubcheck.reporters.junit import JunitReporter
from hubcheck.reporters.markdown import MarkdownReporter
from hubcheck.reporters.table import TableReporter
from hubcheck.results import CheckResult, Report, Status

NASTY = 'got <float16> & "int8" | 100% wrong: a, b\nsecond line `code` \x1b[31m'


def make_report(path: str = "models/net", strict: bool = False, **statuses: Status) -> Report:
    """A report with one check per status unless ``statuses`` (id -> status) says otherwise."""
    if not statuses:
        statuses = {"load": Status.PASS, "input-layout": Status.WARN, "logits": Status.SKIP,
                    "output-dtype": Status.FAIL, "deterministic": Status.ERROR}
    checks = tuple(
        CheckResult(id=check_id, title=f"Title of {check_id}", status=status,
                    message=f"{status.value} message of {check_id}",
                    details={"dtype": "float16"} if status is Status.FAIL else {}, duration_s=0.25)
        for check_id, status in statuses.items()
    )
    return Report(hubcheck_version="9.9.9", environment={"python": "3.11", "tensorflow": "2.21.0"},
                  model={"path": path, "format": "tf2-saved-model", "task": "image-feature-vector",
                         "input_sizes": [[224, 224]]},
                  checks=checks, duration_s=1.5, strict=strict)


def with_message(report: Report, check_id: str, message: str) -> Report:
    checks = tuple(
        CheckResult(c.id, c.title, c.status, message if c.id == check_id else c.message, c.details, c.duration_s)
        for c in report.checks
    )
    return Report(report.hubcheck_version, report.environment, report.model, checks, report.duration_s, report.strict)


def test_registry_feeds_the_cli_format_choice() -> None:
    format_option = next(p for p in check_command.params if p.name == "format")
    assert isinstance(format_option.type, click.Choice)
    assert list(format_option.type.choices) == list(REPORTERS)
    assert {"table", "json", "junit", "markdown", "github"} <= set(REPORTERS)
    with pytest.raises(ValueError, match="unknown report format 'yaml'"):
        build_reporter("yaml")


@pytest.mark.parametrize("name", sorted(REPORTERS))
def test_every_reporter_renders_one_and_several_reports(name: str) -> None:
    reporter = build_reporter(name)
    one = reporter.render([make_report("models/a")])
    both = reporter.render([make_report("models/a"), make_report("models/b", load=Status.PASS)])
    assert one.endswith("\n") and both.endswith("\n")
    assert "models/a" in one and "models/b" not in one
    assert "models/a" in both and "models/b" in both


# -- junit ---------------------------------------------------------------------------------------


def child(element: ET.Element, tag: str) -> ET.Element:
    """The first ``tag`` child, which must exist."""
    found = element.find(tag)
    assert found is not None, f"no <{tag}> in <{element.tag}>"
    return found


def _junit(*reports: Report) -> ET.Element:
    return ET.fromstring(JunitReporter().render(list(reports)))


def test_junit_has_one_suite_per_model_and_one_case_per_check() -> None:
    root = _junit(make_report("models/a"), make_report("models/b", load=Status.PASS, logits=Status.SKIP))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["models/a", "models/b"]
    assert [c.get("name") for c in suites[0].findall("testcase")] == [
        "load", "input-layout", "logits", "output-dtype", "deterministic"]
    assert {c.get("classname") for c in suites[0].findall("testcase")} == {"models/a"}
    assert (suites[0].get("tests"), suites[0].get("failures"), suites[0].get("errors"), suites[0].get("skipped")) == (
        "5", "1", "1", "1")
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == ("7", "1", "1", "2")
    assert child(suites[0], "testcase").get("time") == "0.250"


def test_junit_maps_each_status() -> None:
    cases = {c.get("name"): c for c in _junit(make_report()).iter("testcase")}
    assert list(cases["load"]) == []
    failure = child(cases["output-dtype"], "failure")
    assert failure.get("message") == "fail message of output-dtype"
    assert failure.get("type") == "fail" and '"dtype": "float16"' in (failure.text or "")
    assert child(cases["deterministic"], "error").get("message") == "error message of deterministic"
    assert child(cases["logits"], "skipped").get("message") == "skip message of logits"
    assert cases["input-layout"].find("failure") is None
    assert child(cases["input-layout"], "system-out").text == "warning: warn message of input-layout"


def test_junit_strict_report_turns_warnings_into_failures() -> None:
    root = _junit(make_report(strict=True))
    case = next(c for c in root.iter("testcase") if c.get("name") == "input-layout")
    assert child(case, "failure").get("type") == "warn"
    assert root.get("failures") == "2"


def test_junit_escapes_markup_and_drops_characters_xml_cannot_hold() -> None:
    report = with_message(make_report(path='models/<a&b>"'), "output-dtype", NASTY)
    text = JunitReporter().render([report])
    root = ET.fromstring(text)  # well-formed despite <, &, " and an ESC character
    assert "\x1b" not in text
    assert child(root, "testsuite").get("name") == 'models/<a&b>"'
    failure = child(next(c for c in root.iter("testcase") if c.get("name") == "output-dtype"), "failure")
    assert failure.get("message") == NASTY.replace("\x1b", "\\x1b")
    assert (failure.text or "").startswith(NASTY.replace("\x1b", "\\x1b"))


# -- markdown -----------------------------------------------------------------------------------


def _cells(row: str) -> list[str]:
    """Split a table row on the pipes that are not escaped."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


def test_markdown_has_a_row_per_check_with_the_verdict() -> None:
    text = MarkdownReporter().render([make_report()])
    assert text.startswith("## hubcheck ❌ FAIL: `models/net`")
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    expected = ["`load`", "`input-layout`", "`logits`", "`output-dtype`", "`deterministic`"]
    assert [_cells(row)[0] for row in rows] == expected
    assert _cells(rows[3])[1] == "❌ fail"
    assert "1 pass, 1 warn, 1 skip, 1 fail, 1 error" in text


def test_markdown_cells_keep_the_table_intact() -> None:
    report = with_message(make_report(load=Status.FAIL), "load", NASTY)
    row = next(line for line in MarkdownReporter().render([report]).splitlines() if line.startswith("| `load`"))
    cells = _cells(row)
    assert len(cells) == 3  # the pipe in the message is escaped
    message = cells[2]
    assert "<float16>" not in message and "&lt;float16&gt;" in message  # no raw HTML
    assert "&amp;" in message and "<br>second line" in message
    assert "\\`code\\`" in message and "\\|" in message


def test_markdown_several_models_start_with_an_overview() -> None:
    text = MarkdownReporter().render([make_report("models/a"), make_report("models/b", load=Status.PASS)])
    assert text.startswith("## hubcheck: 2 models, 1 nonconformant")
    overview = [line for line in text.splitlines() if line.startswith("| `models/")]
    assert [_cells(row)[1] for row in overview] == ["❌ FAIL", "✅ PASS"]
    assert text.count("### hubcheck") == 2


# -- github -------------------------------------------------------------------------------------


def _unescape(text: str) -> str:
    for code, char in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        text = text.replace(code, char)
    return text


def _commands(text: str) -> list[tuple[str, dict[str, str], str]]:
    parsed = []
    for line in text.splitlines():
        match = re.fullmatch(r"::(\w+)(?: ([^:]*))?::(.*)", line)
        if match:
            props = dict(item.split("=", 1) for item in (match.group(2) or "").split(",") if item)
            parsed.append((match.group(1), {k: _unescape(v) for k, v in props.items()}, _unescape(match.group(3))))
    return parsed


def test_github_annotates_failures_errors_and_warnings_only(tmp_path: Path) -> None:
    text = GithubReporter(workspace=tmp_path).render([make_report(str(tmp_path / "models" / "net"))])
    commands = _commands(text)
    assert [(level, props["title"]) for level, props, _ in commands] == [
        ("warning", "hubcheck input-layout: Title of input-layout"),
        ("error", "hubcheck output-dtype: Title of output-dtype"),
        ("error", "hubcheck deterministic: Title of deterministic"),
    ]
    assert {props["file"] for _, props, _ in commands} == {"models/net"}
    assert commands[1][2] == "fail message of output-dtype"
    assert text.splitlines()[-1].startswith("hubcheck FAIL: ")


def test_github_strict_warnings_are_errors() -> None:
    commands = _commands(GithubReporter().render([make_report(strict=True)]))
    assert [level for level, _, _ in commands] == ["error", "error", "error"]


def test_github_escapes_data_and_properties() -> None:
    assert escape_data("100%\r\nok: a, b") == "100%25%0D%0Aok: a, b"
    assert escape_property("a: b, 100%\n") == "a%3A b%2C 100%25%0A"
    report = with_message(make_report(), "output-dtype", NASTY)
    text = GithubReporter().render([report])
    line = next(line for line in text.splitlines() if "output-dtype" in line)
    assert "\n" not in line.rstrip("\n") and "%0A" in line and "100%25" in line
    assert _commands(text)[1][2] == NASTY  # nothing lost


@pytest.mark.parametrize(
    ("model_path", "expected"),
    [("models/net", "models/net"), ("{ws}/models/net", "models/net"), ("/elsewhere/net", None),
     ("../outside", None), (".", None)],
)
def test_github_file_is_the_model_path_inside_the_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_path: str, expected: str | None
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    assert GithubReporter().annotation_file(model_path.format(ws=tmp_path)) == expected


# -- json ---------------------------------------------------------------------------------------


def consequence_report() -> Report:
    """batch-size fails; batch-independence and keras-layer fail only because of it."""
    report = make_report(**{"load": Status.PASS, "batch-size": Status.FAIL, "batch-independence": Status.FAIL,
                            "keras-layer": Status.ERROR, "logits": Status.SKIP})
    checks = tuple(
        CheckResult(c.id, c.title, c.status, c.message,
                    {**c.details, "consequence_of": "batch-size"} if c.id in ("batch-independence", "keras-layer")
                    else c.details, c.duration_s)
        for c in report.checks
    )
    return Report(report.hubcheck_version, report.environment, report.model, checks, report.duration_s)


def test_the_summary_line_names_the_root_causes_to_fix_first() -> None:
    from hubcheck.reporters.table import summary_line

    report = consequence_report()
    assert report.root_causes == ["batch-size"]
    assert summary_line(report) == "FAIL: models/net: 1 pass, 1 skip, 2 fail, 1 error (fix first: batch-size) in 1.5s"
    assert summary_line(make_report()) == (
        "FAIL: models/net: 1 pass, 1 warn, 1 skip, 1 fail, 1 error (fix first: output-dtype, deterministic) in 1.5s")
    passing = make_report(load=Status.PASS, logits=Status.WARN)
    assert summary_line(passing) == "PASS: models/net: 1 pass, 1 warn in 1.5s"
    table = TableReporter().render([report])
    assert table.splitlines()[-1] == summary_line(report)  # one line, however long


def test_every_format_names_the_root_causes() -> None:
    report = consequence_report()
    document = json.loads(build_reporter("json").render([report]))
    assert document["summary"]["root_causes"] == ["batch-size"]
    assert document["status"] == "fail"  # the verdict (and the exit code) do not change
    markdown = MarkdownReporter().render([report])
    assert "fix first: `batch-size`" in markdown
    overview = MarkdownReporter().render([report, make_report("models/b")])
    assert ("| `batch-size`, `batch-independence` (follows from `batch-size`), "
            "`keras-layer` (follows from `batch-size`) |") in overview
    assert "fix first:" not in MarkdownReporter().render([make_report(load=Status.PASS)])
    suite = ET.fromstring(JunitReporter().render([report])).find("testsuite")
    assert suite is not None
    assert {p.get("name"): p.get("value") for p in suite.iter("property")}["root_causes"] == "batch-size"
    assert suite.get("failures") == "2" and suite.get("errors") == "1"
    github = GithubReporter(workspace=Path("/nowhere")).render([report]).splitlines()
    assert [line.split("::")[1] for line in github if line.startswith("::")] == [
        "error title=hubcheck batch-size%3A Title of batch-size",
        "error title=hubcheck batch-independence%3A Title of batch-independence (a consequence of batch-size)",
        "error title=hubcheck keras-layer%3A Title of keras-layer (a consequence of batch-size)",
    ]
    assert "(fix first: batch-size)" in github[-1]


def test_json_round_trips_and_combines_several_models() -> None:
    reports = [make_report("models/a"), make_report("models/b", load=Status.PASS)]
    one = json.loads(build_reporter("json").render(reports[:1]))
    assert Report.from_json(one) == reports[0]
    both = json.loads(build_reporter("json").render(reports))
    assert [Report.from_json(item) for item in both["reports"]] == reports
    assert [item["status"] for item in both["reports"]] == ["fail", "pass"]
