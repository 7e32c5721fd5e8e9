"""The generated docs match the code; every check documents when it fails and how to fix it."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubcheck.docgen import render_checks_markdown
from hubcheck.registry import available_checks

REPO = Path(__file__).resolve().parent.parent


def test_checks_md_is_generated_from_the_current_checks() -> None:
    assert (REPO / "docs" / "checks.md").read_text() == render_checks_markdown(), (
        "docs/checks.md is stale: run python -m hubcheck.docgen > docs/checks.md"
    )


@pytest.mark.parametrize("check", available_checks(), ids=lambda c: c.id)
def test_every_check_says_when_it_fails_and_how_to_fix_it(check) -> None:
    text = check.explanation()
    assert "Fails when" in text or "Fails for" in text, check.id
    assert "Fix:" in text, check.id
