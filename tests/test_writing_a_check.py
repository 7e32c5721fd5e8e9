"""The plugin API example in docs/api.md ("Writing a check") runs as documented."""

from __future__ import annotations

import re
import types
from collections.abc import Callable
from pathlib import Path

import pytest

from hubcheck.options import RunOptions
from hubcheck.results import Status
from hubcheck.runner import run_checks

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"


@pytest.fixture(scope="module")
def example() -> types.ModuleType:
    section = DOC.read_text(encoding="utf-8").split("## Writing a check", 1)[1]
    code = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)[0]
    module = types.ModuleType("my_hub_checks_example")
    exec(compile(code, str(DOC), "exec"), module.__dict__)  # noqa: S102 - our own documentation
    return module


def test_the_documented_checks_run_through_the_facade(example: types.ModuleType,
                                                       model_path: Callable[[str], Path]) -> None:
    checks = [example.LicenceCheck, example.WidthCheck]
    report = run_checks(model_path("feature_vector"), RunOptions(), checks=checks)
    results = {result.id: result for result in report.checks}
    assert results["my-hub-licence"].status is Status.FAIL  # fixture folders ship no LICENSE
    assert results["my-hub-width"].status is Status.PASS and results["my-hub-width"].message.startswith("N=")


def test_the_documented_checks_explain_how_to_fix(example: types.ModuleType) -> None:
    for check in (example.LicenceCheck, example.WidthCheck):
        assert "Fails when" in check.explanation() and "Fix:" in check.explanation()


def test_reading_a_result_without_declaring_it_is_refused(model_path: Callable[[str], Path]) -> None:
    from hubcheck.context import CheckContext
    from hubcheck.registry import Check
    from hubcheck.results import Finding

    class Nosy(Check):
        """Reads a result it does not declare.

        Fails never. Fix: nothing."""

        id = "nosy"
        title = "Nosy"

        def run(self, ctx: CheckContext) -> Finding:
            ctx.result("load")
            return Finding.passed("read it")

    report = run_checks(model_path("feature_vector"), RunOptions(), checks=[Nosy])
    [result] = report.checks
    assert result.status is Status.ERROR and "without naming it in requires or uses" in result.message
