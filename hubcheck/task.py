"""Which task a model is checked for: given with ``--task``, or told from its output and signatures."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from hubcheck.loader import SignatureInfo
from hubcheck.numeric import looks_like_probabilities
from hubcheck.options import RunOptions, Task
from hubcheck.probe import ProbeCall

# Output names that exporters give classification heads: Keras applications call theirs
# "predictions", TF Hub classifiers "logits", others "probabilities" or "classes".
CLASSIFIER_OUTPUT_NAME = re.compile(r"logit|predict|probab|class", re.IGNORECASE)


def detect_task(options: RunOptions, output: Callable[[], ProbeCall | None],
                signatures: Sequence[SignatureInfo]) -> tuple[Task, str]:
    """The task and why. ``output`` makes (or reuses) the full-batch inference call; None if impossible."""
    if options.task is not Task.AUTO:
        return options.task, "given with --task"
    doc = options.documentation
    if doc is not None and doc.task in (Task.FEATURE_VECTOR.value, Task.CLASSIFICATION.value):
        return Task(doc.task), f"documented: {doc.evidence.get('task', doc.task)[:200]}"
    call = output()
    if call is None:
        return Task.FEATURE_VECTOR, "assumed: the model could not be called to look at its output"
    if not call.is_tensor or call.value is None or call.value.ndim != 2:
        return Task.FEATURE_VECTOR, "assumed: the output is not a [batch, N] tensor"
    width = call.value.shape[1]
    if width in (1000, 1001):
        return Task.CLASSIFICATION, f"auto: N={width} is the size of the ImageNet label set"
    if looks_like_probabilities(call.value, options.tolerances.probability_sum):
        return Task.CLASSIFICATION, "auto: every output row is non-negative and sums to 1, like class probabilities"
    named = [
        f"{sig.name}/{key}" for sig in signatures for key, info in sorted(sig.outputs.items())
        if CLASSIFIER_OUTPUT_NAME.search(key) and info.shape is not None and len(info.shape) == 2
    ]
    if named:
        return Task.CLASSIFICATION, f"auto: the signature output {named[0]} is named like a classifier's"
    return Task.FEATURE_VECTOR, (
        f"auto: N={width} and the outputs are not probabilities; "
        "pass --task image-classification if this is a classifier"
    )


__all__ = ["CLASSIFIER_OUTPUT_NAME", "detect_task"]
