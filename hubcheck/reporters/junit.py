"""JUnit XML for CI systems: one ``<testsuite>`` per model, one ``<testcase>`` per check.

Mapping: ``fail`` -> ``<failure>``, ``error`` -> ``<error>``, ``skip`` -> ``<skipped>``,
``warn`` -> a passing test case whose ``<system-out>`` carries the warning (a
``<failure type="warn">`` when the report is strict), ``pass`` -> an empty test case.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from hubcheck.results import CheckResult, Report, Status

# Characters XML 1.0 cannot carry at all, even escaped (control characters other than tab and newlines,
# lone surrogates, U+FFFE/U+FFFF). They are replaced by a visible \\xNN / \\uNNNN.
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """``text`` with characters that XML cannot represent replaced; ElementTree escapes the rest."""
    return _ILLEGAL_XML.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


def _failure_kind(result: CheckResult, strict: bool) -> str | None:
    if result.status is Status.FAIL or (result.status is Status.WARN and strict):
        return "failure"
    if result.status is Status.ERROR:
        return "error"
    if result.status is Status.SKIP:
        return "skipped"
    return None


def _body(result: CheckResult) -> str:
    text = result.message
    if result.details:
        text += "\n\ndetails: " + json.dumps(result.to_json()["details"], indent=2, sort_keys=True)
    return xml_text(text)


class JunitReporter:
    """All models in one ``<testsuites>`` document."""

    def render(self, reports: Sequence[Report], *, color: bool = False) -> str:
        root = ET.Element("testsuites", name="hubcheck")
        totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
        for report in reports:
            suite = self._suite(report)
            root.append(suite)
            for key in totals:
                totals[key] += int(suite.get(key, "0"))
        for key, value in totals.items():
            root.set(key, str(value))
        root.set("time", f"{sum(report.duration_s for report in reports):.3f}")
        ET.indent(root)
        return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"

    def _suite(self, report: Report) -> ET.Element:
        path = xml_text(str(report.model.get("path", "?")))
        suite = ET.Element("testsuite", name=path)
        counts = {"failure": 0, "error": 0, "skipped": 0}
        properties = ET.SubElement(suite, "properties")
        facts = {
            "hubcheck_version": report.hubcheck_version,
            "status": report.status,
            "strict": str(report.strict).lower(),
            "tensorflow": report.environment.get("tensorflow"),
            "format": report.model.get("format"),
            "task": report.model.get("task"),
            "root_causes": ",".join(report.root_causes) or None,
        }
        for name, value in facts.items():
            if value is not None:
                ET.SubElement(properties, "property", name=name, value=xml_text(str(value)))
        for result in report.checks:
            case = ET.SubElement(suite, "testcase", classname=path, name=result.id, time=f"{result.duration_s:.3f}")
            kind = _failure_kind(result, report.strict)
            if kind == "skipped":
                ET.SubElement(case, "skipped", message=xml_text(result.message))
            elif kind is not None:
                element = ET.SubElement(case, kind, type=result.status.value, message=xml_text(result.message))
                element.text = _body(result)
            elif result.status is Status.WARN:
                ET.SubElement(case, "system-out").text = xml_text(f"warning: {result.message}")
            if kind is not None:
                counts[kind] += 1
        suite.set("tests", str(len(report.checks)))
        suite.set("failures", str(counts["failure"]))
        suite.set("errors", str(counts["error"]))
        suite.set("skipped", str(counts["skipped"]))
        suite.set("time", f"{report.duration_s:.3f}")
        return suite
