"""A draft doc from what a run measured: TF Hub markdown (``.md``) or Kaggle metadata (``.json``).

The draft uses the standard tfhub.dev sentences, so that :func:`read_documentation` reads it back to
the same facts: the task, fine-tunable, ``num_features`` / ``num_classes`` = N, the input size (fixed,
or a default with other sizes possible), the value range [0, 1] and the hyperparameter arguments with
their defaults. Sections a run cannot know (what the model is, training data, license) are TODOs.
"""

from __future__ import annotations

import json
from pathlib import Path

from hubcheck.documentation.facts import SAVED_MODEL_2, DocumentationError, JSONValue, MeasuredModel
from hubcheck.documentation.kaggle import TENSORFLOW2

_TASK_WORDS = {"image-feature-vector": "an image feature vector", "image-classification": "an image classification"}


def _task_sentence(measured: MeasuredModel) -> str:
    words = _TASK_WORDS.get(measured.task, f"a {measured.task}")
    return (f"This model is {words} model: it implements the common TF2 SavedModel API for "
            f"{measured.task} (a Reusable SavedModel called as `obj(images)`).")


def _input_sentences(measured: MeasuredModel) -> list[str]:
    lines = ["The input images are expected to have color values in the range [0,1], following the common "
             "image input conventions."]
    size = measured.input_size
    if size is None:
        lines.append("The model accepts input images of any height and width.")
    elif size.fixed:
        lines.append(f"For this model, the size of the input images is fixed to `height` x `width` = "
                     f"{size.height} x {size.width} pixels.")
    else:
        lines.append(f"The expected size of the input images is `height` x `width` = {size.height} x "
                     f"{size.width} pixels by default, but other input sizes are possible.")
    return lines


def _output_sentence(measured: MeasuredModel) -> str:
    classifier = measured.task == "image-classification"
    if measured.num_outputs is None:
        return ("The output is a batch of logits (not probabilities), one row per image." if classifier
                else "The output is a batch of feature vectors, one per image.")
    if classifier:
        return (f"The output is a batch of logits (not probabilities): for each input image, `num_classes` = "
                f"{measured.num_outputs} logits.")
    return f"The output is a batch of feature vectors: for each input image, `num_features` = {measured.num_outputs}."


def _literal(value: JSONValue) -> str:
    """``value`` as a Python literal that :func:`ast.literal_eval` reads back to it."""
    return repr(value)


def _usage_code(measured: MeasuredModel) -> list[str]:
    trainable = "True" if measured.fine_tunable else "False"
    lines = ["```python", "import tensorflow_hub as hub", "",
             f'layer = hub.KerasLayer("{measured.handle}", trainable={trainable},']
    if measured.arguments:
        pairs = ", ".join(f"{name}={_literal(value)}" for name, value in measured.arguments.items())
        lines.append(f"                       arguments=dict({pairs}))")
    else:
        lines[-1] = lines[-1].rstrip(",") + ")"
    lines.append("outputs = layer(images)  # images: float32 [batch_size, height, width, 3] in [0, 1]")
    lines.append("```")
    return lines


def _body(measured: MeasuredModel) -> list[str]:
    lines = ["## Usage", "", _task_sentence(measured), "", *_input_sentences(measured), "",
             _output_sentence(measured), ""]
    if measured.fine_tunable:
        lines += ["The model is fine-tunable: call it with `training=True` and train its variables.", ""]
    else:
        lines += ["The model is not meant for fine-tuning.", ""]
    if measured.arguments:
        names = ", ".join(f"`{name}`" for name in measured.arguments)
        lines += [f"Optional hyperparameter arguments ({names}) are shown below with their defaults.", ""]
    return lines + _usage_code(measured) + [""]


def tfhub_markdown(measured: MeasuredModel) -> str:
    """The draft as TF Hub model markdown."""
    return "\n".join([
        f"# Module {measured.handle}", "",
        "TODO: one line on what the model is.", "",
        f"<!-- task: {measured.task} -->",
        f"<!-- fine-tunable: {'true' if measured.fine_tunable else 'false'} -->",
        f"<!-- format: {SAVED_MODEL_2} -->",
        "<!-- license: TODO -->", "",
        "## Overview", "", "TODO: the architecture, the training data, the paper to cite.", "",
        *_body(measured),
    ])


def kaggle_metadata(measured: MeasuredModel) -> dict[str, JSONValue]:
    """The draft as a Kaggle ``model-instance-metadata.json`` object."""
    parts = [part for part in measured.handle.split("/") if part]
    overview = "\n".join([_task_sentence(measured), "",
                          "TODO: the architecture, the training data, the paper to cite."])
    return {
        "ownerSlug": parts[0] if parts else "TODO",
        "modelSlug": parts[1] if len(parts) > 1 else "TODO",
        "instanceSlug": "-".join(parts[2:]) or "default",
        "framework": TENSORFLOW2,
        "overview": overview,
        "usage": "\n".join(_body(measured)[4:]),
        "licenseName": "TODO",
        "fineTunable": measured.fine_tunable,
        "trainingData": [],
        "modelInstanceType": "Unspecified",
        "baseModelInstanceId": 0,
        "externalBaseModelUrl": "",
    }


def write_documentation(path: Path, measured: MeasuredModel) -> None:
    """Write the draft: TF Hub markdown when ``path`` ends in ``.md``, Kaggle metadata when in ``.json``.
    Raises :class:`DocumentationError` for any other suffix or a file that cannot be written."""
    suffix = path.suffix.lower()
    if suffix == ".md":
        text = tfhub_markdown(measured)
    elif suffix == ".json":
        text = json.dumps(kaggle_metadata(measured), indent=2) + "\n"
    else:
        raise DocumentationError(f"{path}: a doc is written as .md (TF Hub markdown) or .json "
                                 "(Kaggle model-instance-metadata.json)")
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DocumentationError(f"{path}: cannot write: {exc.strerror or exc}") from None
