"""What a doc gets wrong by itself: missing or invalid metadata, statements against the image API.

Codes (stable; docs/documentation.md): ``format-missing``, ``format-invalid``, ``framework-invalid``
(Kaggle), ``task-missing``, ``task-out-of-scope``, ``fine-tunable-missing``, ``fine-tunable-invalid``,
``value-range``, ``channels-first``, ``contradiction``.
"""

from __future__ import annotations

from hubcheck.documentation.facts import (
    CHANNELS_FIRST,
    CONFLICT_SUFFIX,
    IMAGE_TASKS,
    SAVED_MODEL_2,
    DocFacts,
    DocFinding,
)
from hubcheck.documentation.kaggle import TENSORFLOW2

_FACT_WORDS = {"input_size": "input size", "num_outputs": "output width", "value_range": "input value range"}


def lint_documentation(facts: DocFacts) -> list[DocFinding]:
    """The doc's own problems, in a fixed order; empty when it is clean."""
    kaggle = facts.kind == "kaggle-metadata"
    findings: list[DocFinding] = []
    said = facts.evidence.get
    if kaggle:
        if facts.format != SAVED_MODEL_2:
            findings.append(DocFinding(
                "framework-invalid",
                f"framework must be {TENSORFLOW2!r} for a TF2 SavedModel; "
                + ("it is missing" if facts.format is None else f"it is {facts.format!r}"), said("format")))
    elif facts.format is None:
        findings.append(DocFinding("format-missing", f"no format tag: add <!-- format: {SAVED_MODEL_2} -->",
                                   said("format")))
    elif facts.format != SAVED_MODEL_2:
        old = " (the TF1 Hub format: re-export as a TF2 SavedModel)" if facts.format == "hub" else ""
        findings.append(DocFinding("format-invalid", f"format is {facts.format!r}{old}; the image API needs "
                                   f"{SAVED_MODEL_2!r}", said("format")))
    if facts.task is None:
        where = "say in the overview whether it is an image feature vector or an image classification model" \
            if kaggle else "add <!-- task: image-feature-vector --> or <!-- task: image-classification -->"
        findings.append(DocFinding("task-missing", f"no task: {where}", said("task")))
    elif facts.task not in IMAGE_TASKS:
        findings.append(DocFinding("task-out-of-scope", f"task {facts.task!r} is out of scope: hubcheck checks "
                                   f"the image API ({', '.join(IMAGE_TASKS)})", said("task")))
    if facts.fine_tunable is None:
        if said("fine_tunable") is None:
            where = '"fineTunable": true or false' if kaggle else "<!-- fine-tunable: true --> or false"
            findings.append(DocFinding("fine-tunable-missing", f"not said whether fine-tunable: add {where}"))
        else:
            findings.append(DocFinding("fine-tunable-invalid", "fine-tunable must be true or false",
                                       said("fine_tunable")))
    if facts.value_range is not None and facts.value_range != (0.0, 1.0):
        lo, hi = facts.value_range
        findings.append(DocFinding("value-range", f"the doc gives input values in [{lo:g}, {hi:g}]; the image API "
                                   "takes float32 RGB values in [0, 1]", said("value_range")))
    if said(CHANNELS_FIRST) is not None:
        findings.append(DocFinding("channels-first", "the doc describes channels-first (NCHW) input; the image "
                                   "API takes [batch, height, width, 3]", said(CHANNELS_FIRST)))
    for fact, words in _FACT_WORDS.items():
        other = said(fact + CONFLICT_SUFFIX)
        if other is not None:
            findings.append(DocFinding("contradiction", f"the doc states two different {words}s: "
                                       f"{said(fact)!r} and {other!r}", other))
    return findings
