"""Kaggle model instance metadata (``model-instance-metadata.json``, as ``kaggle models instances init``
writes it): ``framework``, ``fineTunable``, ``overview`` and ``usage`` (markdown, read as prose),
``licenseName``, ``trainingData``, ``modelInstanceType``."""

from __future__ import annotations

import json
from typing import Any

from hubcheck.documentation.facts import SAVED_MODEL_2, DocFacts, DocumentationError
from hubcheck.documentation.prose import read_prose

KAGGLE_KEYS = frozenset({"ownerSlug", "modelSlug", "instanceSlug", "framework", "overview", "usage", "licenseName",
                         "fineTunable", "trainingData", "modelInstanceType", "baseModelInstanceId",
                         "externalBaseModelUrl"})
TENSORFLOW2 = "tensorFlow2"


def read_kaggle(text: str, path: str) -> DocFacts:
    """The facts of a ``model-instance-metadata.json``. ``format`` is ``saved_model_2`` when the framework
    is ``tensorFlow2``, else the framework as written; the task comes from the prose (Kaggle has no tag)."""
    try:
        data: Any = json.loads(text)
    except ValueError as exc:
        raise DocumentationError(f"{path}: not JSON: {exc}") from None
    if not isinstance(data, dict) or not KAGGLE_KEYS & set(data):
        raise DocumentationError(f"{path}: not a Kaggle model-instance-metadata.json (none of its keys: "
                                 f"framework, fineTunable, overview, usage, ...)")
    evidence: dict[str, str] = {}
    framework = data.get("framework")
    format_: str | None = None
    if "framework" in data:
        format_ = SAVED_MODEL_2 if framework == TENSORFLOW2 else (None if framework is None else str(framework))
        evidence["format"] = f'"framework": {json.dumps(framework)}'
    fine = data.get("fineTunable")
    fine_tunable = fine if isinstance(fine, bool) else None
    if "fineTunable" in data:
        evidence["fine_tunable"] = f'"fineTunable": {json.dumps(fine)}'
    prose_text = "\n\n".join(str(data[key]) for key in ("overview", "usage") if isinstance(data.get(key), str))
    prose = read_prose(prose_text, with_task=True)
    return DocFacts(
        path=path, kind="kaggle-metadata", task=prose.task, fine_tunable=fine_tunable, format=format_,
        input_size=prose.input_size, num_outputs=prose.num_outputs, value_range=prose.value_range,
        arguments=prose.arguments, evidence={**evidence, **prose.evidence},
    )
