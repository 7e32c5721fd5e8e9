"""The machine-readable report, described by docs/report.schema.json."""

from __future__ import annotations

import json
from collections.abc import Sequence

from hubcheck.results import Report


class JsonReporter:
    """One JSON object per report; several reports become ``{"reports": [...]}``."""

    def render(self, reports: Sequence[Report], *, color: bool = False) -> str:
        if len(reports) == 1:
            document: object = reports[0].to_json()
        else:
            document = {"reports": [report.to_json() for report in reports]}
        return json.dumps(document, indent=2, allow_nan=False) + "\n"
