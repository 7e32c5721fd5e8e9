"""hubcheck: conformance checks for TF2 image models published as Reusable SavedModels.

    >>> import hubcheck
    >>> report = hubcheck.check("path/to/model")        # doctest: +SKIP
    >>> report.status, report.result("output-shape").message   # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from hubcheck.options import RunOptions, Task, Tolerances
from hubcheck.results import CheckResult, Finding, Report, Status

__all__ = ["check", "CheckResult", "Finding", "Report", "RunOptions", "Status", "Task", "Tolerances", "__version__"]

try:
    from importlib.metadata import version as _version

    __version__ = _version("hubcheck")
except Exception:  # running from a source tree that is not installed
    __version__ = "0+unknown"


def check(
    path: str | os.PathLike[str],
    *,
    task: str | Task = Task.AUTO,
    input_sizes: Iterable[tuple[int, int]] = (),
    select: Iterable[str] = (),
    ignore: Iterable[str] = (),
    tolerances: Tolerances | Mapping[str, float] | None = None,
    strict: bool = False,
) -> Report:
    """Check the SavedModel directory at ``path`` and return its :class:`Report`.

    Raises ``FileNotFoundError`` when ``path`` does not exist and ``ValueError``
    for an unknown task, check id or tolerance; everything wrong with the model
    itself is a finding in the report, never an exception.
    """
    model = Path(path)
    if not model.exists():
        raise FileNotFoundError(f"no such model path: {model}")
    if not isinstance(tolerances, Tolerances):
        tolerances = Tolerances().updated(dict(tolerances or {}))
    options = RunOptions(
        task=Task(task),
        input_sizes=tuple((int(h), int(w)) for h, w in input_sizes),
        select=frozenset(select),
        ignore=frozenset(ignore),
        strict=strict,
        tolerances=tolerances,
    )
    from hubcheck.runner import run_checks

    return run_checks(model, options)
