"""TF Hub model markdown (the tfhub.dev format): ``# Module owner/name/version``, ``<!-- key: value -->``
metadata comments, then prose (read by :mod:`hubcheck.documentation.prose`)."""

from __future__ import annotations

import re

from hubcheck.documentation.facts import DocFacts
from hubcheck.documentation.prose import read_prose

_TAG = re.compile(r"<!--\s*([A-Za-z][\w-]*)\s*:\s*(.*?)\s*-->")
TASK_TAGS = ("task", "module-type")  # module-type: the older tfhub.dev name of the task tag


def metadata(text: str) -> list[tuple[str, str, str]]:
    """Every ``<!-- key: value -->`` comment: (key in lower case, value, the comment as written)."""
    return [(m[1].lower(), m[2], m[0]) for m in _TAG.finditer(text)]


def read_markdown(text: str, path: str) -> DocFacts:
    """The facts of a TF Hub model markdown: task, fine-tunable and format from the metadata tags,
    the rest from the prose (and code) around them."""
    tags = metadata(text)
    evidence: dict[str, str] = {}
    task: str | None = None
    fine_tunable: bool | None = None
    format_: str | None = None
    for key, value, written in tags:
        if key in TASK_TAGS and "task" not in evidence:
            task, evidence["task"] = value or None, written
        elif key == "fine-tunable" and "fine_tunable" not in evidence:
            lowered = value.lower()
            fine_tunable = True if lowered == "true" else False if lowered == "false" else None
            evidence["fine_tunable"] = written
        elif key == "format" and "format" not in evidence:
            format_, evidence["format"] = value or None, written
    prose = read_prose(_TAG.sub("", text))
    return DocFacts(
        path=path, kind="tfhub-markdown", task=task, fine_tunable=fine_tunable, format=format_,
        input_size=prose.input_size, num_outputs=prose.num_outputs, value_range=prose.value_range,
        arguments=prose.arguments, evidence={**evidence, **prose.evidence},
    )
