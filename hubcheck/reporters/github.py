"""GitHub Actions workflow commands, so that findings show as annotations on the run and the pull request.

``fail`` and ``error`` become ``::error``, ``warn`` becomes ``::warning`` (``::error``
when the report is strict); passes and skips are not annotated. Each model ends
with a plain summary line. Escaping follows the runner's rules (``@actions/core``):
in the message ``%``, CR and LF; in properties also ``:`` and ``,``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from hubcheck.results import CONSEQUENCE_OF, Report, Status


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, **properties: str | None) -> str:
    """One workflow command line, e.g. ``::error file=a,title=b::message``."""
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items() if value is not None)
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


class GithubReporter:
    """``workspace`` is the repository checkout (``$GITHUB_WORKSPACE``, else the current directory):
    an annotation names the model path as ``file=`` only when the model lies inside it."""

    def __init__(self, workspace: Path | None = None) -> None:
        self.workspace = workspace

    def render(self, reports: Sequence[Report], *, color: bool = False) -> str:
        from hubcheck.reporters.table import summary_line

        lines: list[str] = []
        for report in reports:
            file = self.annotation_file(str(report.model.get("path", "")))
            causes = report.root_causes
            for result in report.checks:
                if result.status in (Status.FAIL, Status.ERROR) or (result.status is Status.WARN and report.strict):
                    level = "error"
                elif result.status is Status.WARN:
                    level = "warning"
                else:
                    continue
                title = f"hubcheck {result.id}: {result.title}"
                cause = result.details.get(CONSEQUENCE_OF)
                if result.id not in causes and isinstance(cause, str):
                    title += f" (a consequence of {cause})"
                lines.append(command(level, result.message, file=file, title=title))
            # A plain log line; it cannot start a command because it starts with "hubcheck".
            lines.append(" ".join(f"hubcheck {summary_line(report)}".splitlines()))
        return "\n".join(lines) + "\n"

    def annotation_file(self, model_path: str) -> str | None:
        """The model path relative to the workspace, in ``/`` form; ``None`` outside it."""
        if not model_path:
            return None
        workspace = self.workspace or Path(os.environ.get("GITHUB_WORKSPACE") or Path.cwd())
        path = Path(model_path)
        if not path.is_absolute():
            path = Path.cwd() / path
        try:
            relative = Path(os.path.normpath(path)).relative_to(os.path.normpath(workspace))
        except ValueError:
            return None
        posix = PurePosixPath(*relative.parts)
        return str(posix) if posix.parts else None
