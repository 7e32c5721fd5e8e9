"""Facts from free text: input size, output width, value range, hyperparameter arguments, task.

The reader works the way a careful person reads a model page. The text is cut into *units*:
sentences of prose and lines of code (fenced blocks, indented blocks and inline code spans that hold
a call). Each fact has candidate statements of different strength, and the strongest kind wins; the
first statement of that kind is kept, and a statement of the same kind that says otherwise is kept
as ``evidence["<fact>_conflict"]`` for the linter.

Strength, strongest first:

- input size: a prose sentence about the input images ("fixed to 224 x 224 pixels", "resized to
  224x224 resolution") > an input shape ``[batch, 224, 224, 3]`` / ``shape=(224, 224, 3)`` in prose
  or code > a size in a preprocessing call (``tf.image.resize(x, (224, 224))``, ``target_size``);
  ``fixed`` comes from the sentence ("fixed", "must", "only" vs "by default", "other sizes");
  a size from code alone is never ``fixed``; a size the model resizes to by itself ("internally")
  is not the input size;
- output width: ``num_features`` / ``num_classes`` = N > a ``[batch_size, N]`` shape of the output
  ("# Logits with shape [batch_size, 1001]", "an array of size [-1, 1000]") > "1280-dimensional
  feature vector" > "1001 classes" (often a training head's);
- value range: a sentence about the input with a range > a range sentence that names neither input
  nor output > preprocessing code (``/ 255``, ``/ 127.5 - 1``); ranges about outputs (output images,
  probabilities, scores, masks) and negated ones ("not [0, 255]") are not the input range;
- arguments: ``arguments=dict(name=value)`` / ``arguments={"name": value}`` with literal values;
- task: "this model is an image feature vector / classification model" > a model handle or URL
  naming ``feature_vector`` / ``classification`` > any other mention.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field
from typing import cast

from hubcheck.documentation.facts import CHANNELS_FIRST, CONFLICT_SUFFIX, DocInputSize, JSONValue

EVIDENCE_CHARS = 300


@dataclass(frozen=True)
class Unit:
    """A sentence of prose or a line of code, as written (``text``) and as matched (``plain``)."""

    text: str
    code: bool

    @property
    def plain(self) -> str:
        return re.sub(r"`|\*\*?", "", self.text).replace("×", "x")

    @property
    def evidence(self) -> str:
        text = " ".join(self.text.split())
        return text if len(text) <= EVIDENCE_CHARS else text[: EVIDENCE_CHARS - 3] + "..."


@dataclass
class ProseFacts:
    """What the prose says; ``evidence`` as in :class:`~hubcheck.documentation.facts.DocFacts`."""

    task: str | None = None
    input_size: DocInputSize | None = None
    num_outputs: int | None = None
    value_range: tuple[float, float] | None = None
    arguments: dict[str, JSONValue] = field(default_factory=dict)
    evidence: dict[str, str] = field(default_factory=dict)


# -- cutting text into units ---------------------------------------------------------------------------------

_FENCE = re.compile(r"^\s*(```|~~~)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`*\[(\"'])")


def units(text: str) -> list[Unit]:
    """Prose sentences and code lines, in document order."""
    out: list[Unit] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            joined = " ".join(line.strip() for line in paragraph)
            out.extend(Unit(s.strip(), False) for s in _SENTENCE_END.split(joined) if s.strip())
            paragraph.clear()

    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            flush()
            fenced = not fenced
            continue
        if fenced or (line.startswith("    ") and not paragraph and line.strip()):
            out.append(Unit(line.strip(), True))
            continue
        stripped = line.strip()
        if not stripped:
            flush()
        elif re.match(r"^([-*+]|\d{1,9}(?!\d)[.)]|#{1,6})\s", stripped) or stripped.startswith("|"):
            flush()
            paragraph.append(stripped)
            flush()
        else:
            paragraph.append(stripped)
    flush()
    return out


# -- candidates ----------------------------------------------------------------------------------------------

_NUM = r"(-?\d{1,9}(?!\d)(?:\.\d{1,9}(?!\d))?)"
_OUTPUT_WORDS = re.compile(
    r"\b(outputs?|returns?|returned|produces?|generated|generates|predictions?|probabilit\w*|logits?|scores?|"
    r"masks?|depth|heatmaps?|embeddings?|features?|stylized|super-resolved|upscaled)\b", re.I)
_INPUT_WORDS = re.compile(r"\b(inputs?|feed|fed|pass(?:ed)?|preprocess\w*|expects?|expected)\b", re.I)
_IMAGE_WORDS = re.compile(r"\b(images?|pictures?|pixels?|photos?|frames?)\b", re.I)


def _about_output(plain: str) -> bool:
    """A sentence about what the model gives back (and not about what it takes)."""
    return bool(_OUTPUT_WORDS.search(plain)) and not _INPUT_WORDS.search(plain)


@dataclass(frozen=True)
class Candidate:
    strength: int
    value: object
    unit: Unit


def _pick(candidates: list[Candidate], fact: str, evidence: dict[str, str]) -> object | None:
    """The first of the strongest candidates; a later one of that strength that differs is the conflict."""
    if not candidates:
        return None
    best = max(c.strength for c in candidates)
    top = [c for c in candidates if c.strength == best]
    evidence[fact] = top[0].unit.evidence
    for other in top[1:]:
        if other.value != top[0].value:
            evidence[fact + CONFLICT_SUFFIX] = other.unit.evidence
            break
    return top[0].value


# input size

_SIZE = re.compile(r"(?<![\d.])(\d{2,4})\s*(?:x|\*|by)\s*(\d{2,4})(?![\d.])", re.I)
_SHAPE_HW3 = re.compile(r"[\[(]\s*(?:[\w-]+\s*,\s*)?(\d{2,4})\s*,\s*(\d{2,4})\s*,\s*3\s*,?\s*[\])]")
_SHAPE_3HW = re.compile(r"[\[(]\s*(?:[\w-]+\s*,\s*)?3\s*,\s*(\d{2,4})\s*,\s*(\d{2,4})\s*[\])]")
_RESIZE = re.compile(r"(?:resiz\w*|target_size|image_size|img_size|input_size|crop\w*)\b[^\n]*?"
                     r"[\[(]\s*(\d{2,4})\s*,\s*(\d{2,4})\s*[\])]", re.I)
_NOT_INPUT_SIZE = re.compile(r"(patch\w*|kernel|filter|stride|grid|feature maps?|window|anchors?|tiles?)\W+"
                             r"(?:\w+\W+){0,3}$", re.I)
_NOT_INPUT_SIZE_AFTER = re.compile(r"^\W*(?:pixels?\W+)?(?:\w+\W+)?(grids?|patch\w*|kernels?|filters?|windows?|tokens?|"
                                   r"feature maps?|tiles?|anchors?|blocks?|cells?)\b", re.I)
_MODEL_RESIZES = re.compile(r"inside the model|within the model|internally|by the model|automatically|"
                            r"will be resized|gets? resized", re.I)
"""The model resizes whatever it is given: its size is not the input size."""
_FLEXIBLE = re.compile(r"by default|other (?:input )?(?:sizes|resolutions)|any (?:input )?(?:size|resolution)|"
                       r"arbitrary|variable|flexible|dynamic|not fixed|different (?:sizes|resolutions)", re.I)
_SIZE_CONTEXT = re.compile(r"\b(size|sizes|sized|resolution|resized?|resizing|height|width|pixels?|dimensions?|shape)\b",
                           re.I)
_CHANNELS_FIRST_TEXT = re.compile(r"channels[_ -]first|\bNCHW\b", re.I)
_NOT_CHANNELS_FIRST = re.compile(r"rewrit\w*|optimi[sz]\w*|internally|instead of|rather than|\bnot\b", re.I)


def _input_sizes(units_: list[Unit], evidence: dict[str, str]) -> DocInputSize | None:
    candidates: list[Candidate] = []
    fixed_statements: list[Candidate] = []
    for unit in units_:
        plain = unit.plain
        for match in _SHAPE_3HW.finditer(plain):
            if not _about_output(plain) or unit.code:
                evidence.setdefault(CHANNELS_FIRST, unit.evidence)
                candidates.append(Candidate(2, (int(match[1]), int(match[2]), False), unit))
        if not unit.code and _CHANNELS_FIRST_TEXT.search(plain) and not _NOT_CHANNELS_FIRST.search(plain):
            evidence.setdefault(CHANNELS_FIRST, unit.evidence)
        if _about_output(plain):
            continue
        for match in _SHAPE_HW3.finditer(plain):
            candidates.append(Candidate(2, (int(match[1]), int(match[2]), False), unit))
        if unit.code:
            for match in _RESIZE.finditer(plain):
                candidates.append(Candidate(1, (int(match[1]), int(match[2]), False), unit))
            continue
        if not (_IMAGE_WORDS.search(plain) or _INPUT_WORDS.search(plain)) or not _SIZE_CONTEXT.search(plain) \
                or _MODEL_RESIZES.search(plain):
            continue
        for match in _SIZE.finditer(plain):
            if _NOT_INPUT_SIZE.search(plain[: match.start()]) or _NOT_INPUT_SIZE_AFTER.search(plain[match.end():]):
                continue
            fixed = not _FLEXIBLE.search(plain)
            candidate = Candidate(3, (int(match[1]), int(match[2]), fixed), unit)
            candidates.append(candidate)
            if fixed:
                fixed_statements.append(candidate)
            break
    if not candidates:
        return None
    best = max(c.strength for c in candidates)
    top = [c for c in candidates if c.strength == best]
    height, width, fixed = cast(tuple[int, int, bool], top[0].value)
    evidence["input_size"] = top[0].unit.evidence
    # Two sizes both said to be the only one contradict each other; a default and a fixed size need not.
    rivals = fixed_statements if best == 3 else top
    for other in rivals:
        if cast(tuple[int, int, bool], other.value)[:2] != (height, width):
            evidence["input_size" + CONFLICT_SUFFIX] = other.unit.evidence
            break
    return DocInputSize(height=height, width=width, fixed=fixed)


# output width

_NUM_NAMED = re.compile(r"\b(?:num_features|num_classes|num_logits|feature_dim\w*|output_dim\w*|"
                        r"number of (?:features|classes|logits|outputs))\b\s*(?:=|:|is|equals|of)\s*(\d{1,9}(?!\d))\b", re.I)
_NUM_SHAPE = re.compile(r"[\[(]\s*(?:batch_size|batch|-1|None|n|b|\?)\s*,\s*(\d{1,9}(?!\d))\s*[\])]", re.I)
_NUM_WORDS = re.compile(r"\b(\d{1,9}(?!\d))[- ]dim(?:ensional)?\b|\b(?:feature vectors?|embeddings?|outputs?) of "
                        r"(?:size|dimension|dimensionality|length|width) (\d{1,9}(?!\d))\b", re.I)
_NUM_CLASSES = re.compile(r"(?<![\d,])(\d{1,3}(?:,\d{3})+|\d{1,9}(?!\d)) (?:classes|logits|labels)\b", re.I)
_SHAPE_CONTEXT = re.compile(r"\b(logits?|features?|outputs?|returns?|shape|array|vectors?|embeddings?|predictions?)\b",
                            re.I)


def _num_outputs(units_: list[Unit], evidence: dict[str, str]) -> int | None:
    candidates: list[Candidate] = []
    for unit in units_:
        plain = unit.plain
        for match in _NUM_NAMED.finditer(plain):
            candidates.append(Candidate(4, int(match[1]), unit))
        if _SHAPE_CONTEXT.search(plain) and not (_INPUT_WORDS.search(plain) and not _OUTPUT_WORDS.search(plain)):
            for match in _NUM_SHAPE.finditer(plain):
                if int(match[1]) < 2 or re.search(r"range\W+(?:\w+\W+){0,2}$", plain[: match.start()], re.I):
                    continue  # [-1, 1] is a range, not [batch, N]
                candidates.append(Candidate(3, int(match[1]), unit))
        if not unit.code:
            for match in _NUM_WORDS.finditer(plain):
                number = next(group for group in match.groups() if group)
                candidates.append(Candidate(2, int(number), unit))
            for match in _NUM_CLASSES.finditer(plain):  # often the classes of a training head, not the output
                candidates.append(Candidate(1, int(match[1].replace(",", "")), unit))
    value = _pick([c for c in candidates if isinstance(c.value, int) and c.value > 0], "num_outputs", evidence)
    return value if isinstance(value, int) else None


# value range

_RANGE = re.compile(rf"[\[(]\s*{_NUM}\s*,\s*{_NUM}\s*[\])]|\bbetween\s+{_NUM}\s+and\s+{_NUM}\b|"
                    rf"\bfrom\s+{_NUM}\s+to\s+{_NUM}\b|\b{_NUM}\s*(?:-|\.\.|to)\s*{_NUM}\s+range\b")
_RANGE_CONTEXT = re.compile(r"\b(range|ranges|values?|scaled|normali[sz]ed|normali[sz]ation|rescaled|intensit\w*)\b",
                            re.I)
_NEGATED = re.compile(r"(\bnot|\bnever|instead of|rather than|than|unlike|n't)\W+(?:\w+\W+){0,4}$", re.I)
_CODE_RANGES = ((re.compile(r"/\s*127\.5\s*\)?\s*-\s*1(?:\.0)?\b"), (-1.0, 1.0)),
                (re.compile(r"/\s*255(?:\.0*)?\b"), (0.0, 1.0)),
                (re.compile(r"convert_image_dtype\([^)]*float32"), (0.0, 1.0)))


def _value_range(units_: list[Unit], evidence: dict[str, str]) -> tuple[float, float] | None:
    candidates: list[Candidate] = []
    for unit in units_:
        plain = unit.plain
        if unit.code:
            for pattern, value in _CODE_RANGES:
                if pattern.search(plain):
                    candidates.append(Candidate(1, value, unit))
                    break
            continue
        if not _RANGE_CONTEXT.search(plain) or _about_output(plain):
            continue
        about_input = bool(_INPUT_WORDS.search(plain) or _IMAGE_WORDS.search(plain))
        for match in _RANGE.finditer(plain):
            lo, hi = (float(g) for g in match.groups() if g is not None)
            if lo >= hi or _NEGATED.search(plain[: match.start()]) or re.match(r"\s*%", plain[match.end():]):
                continue
            if re.search(r"\b(batch_size|batch|None)\s*$", plain[max(0, match.start() - 12): match.start() + 1]):
                continue
            candidates.append(Candidate(3 if about_input else 2, (lo, hi), unit))
            break
    picked = _pick(candidates, "value_range", evidence)
    return cast(tuple[float, float], picked) if isinstance(picked, tuple) else None


# arguments

_ARGUMENTS = re.compile(r"\barguments\s*=\s*(dict\s*\(|\{)")


def _balanced(text: str, start: int) -> str | None:
    """The text from ``start`` (an opening bracket) to its closing bracket."""
    depth = 0
    for index in range(start, len(text)):
        if text[index] in "([{":
            depth += 1
        elif text[index] in ")]}":
            depth -= 1
            if depth == 0:
                return text[start: index + 1]
    return None


def _literal(node: ast.expr) -> tuple[bool, JSONValue]:
    try:
        value = ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False, None
    if isinstance(value, tuple):
        value = list(value)
    return _json_safe(value), value


def _json_safe(value: object, depth: int = 0) -> bool:
    """A value JSON can carry as it is: finite numbers, strings, booleans, None, lists, string-keyed dicts."""
    if depth > 20:
        return False
    if value is None or isinstance(value, (str, bool)):
        return True
    if isinstance(value, int):
        return abs(value) < 10**18
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_json_safe(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _json_safe(item, depth + 1) for key, item in value.items())
    return False


def _parse_expression(source: str) -> ast.expr | None:
    """``source`` as written (string values keep their spaces); failing that, with its whitespace runs
    collapsed, for an expression that prose wrapped oddly across lines."""
    for attempt in (source, re.sub(r"\s+", " ", source)):
        try:
            return ast.parse(attempt.strip(), mode="eval").body
        except SyntaxError:
            continue
    return None


def _arguments(text: str, evidence: dict[str, str]) -> dict[str, JSONValue]:
    found: dict[str, JSONValue] = {}
    for match in _ARGUMENTS.finditer(text):
        opening = match.end() - 1
        body = _balanced(text, opening)
        if body is None:
            continue
        source = ("dict" + body) if match[1].startswith("dict") else body
        tree = _parse_expression(source)
        if tree is None:
            continue
        pairs: list[tuple[str, ast.expr]] = []
        if isinstance(tree, ast.Call):
            pairs = [(kw.arg, kw.value) for kw in tree.keywords if kw.arg is not None]
        elif isinstance(tree, ast.Dict):
            pairs = [(k.value, v) for k, v in zip(tree.keys, tree.values)
                     if isinstance(k, ast.Constant) and isinstance(k.value, str)]
        for name, node in pairs:
            ok, value = _literal(node)
            if ok and name not in found:
                found[name] = value
                evidence.setdefault("arguments", " ".join(("arguments=" + source).split())[:EVIDENCE_CHARS])
    return found


# task

_TASK_NAMES = ((re.compile(r"image[-_ ]feature[-_ ]vectors?|feature[-_ ]vectors?|feature extract\w*", re.I),
                "image-feature-vector"),
               (re.compile(r"image[-_ ]classification|image[-_ ]classifiers?|\bclassification\b|\bclassifiers?\b",
                           re.I), "image-classification"))
_TASK_STATEMENT = re.compile(r"\b(this|the)\s+(model|module|savedmodel|saved model|checkpoint|variation|instance)\s+"
                             r"(is|implements|follows|computes|provides|returns)\b", re.I)
_HANDLE = re.compile(r"(?:https?://\S+|hub\.(?:KerasLayer|load)\(\s*[\"'][^\"']+[\"'])")


def _task(units_: list[Unit], evidence: dict[str, str]) -> str | None:
    candidates: list[Candidate] = []
    for unit in units_:
        plain = unit.text
        strength = 0
        if not unit.code and _TASK_STATEMENT.search(plain):
            strength = 3
        elif _HANDLE.search(plain):
            plain = " ".join(_HANDLE.findall(plain))
            strength = 2
        elif not unit.code:
            strength = 1
        if not strength:
            continue
        hits = sorted((m.start(), task) for pattern, task in _TASK_NAMES for m in [pattern.search(plain)] if m)
        if hits:
            candidates.append(Candidate(strength, hits[0][1], unit))
    value = _pick(candidates, "task", evidence)
    evidence.pop("task" + CONFLICT_SUFFIX, None)  # a feature extractor "for building classifiers" is no conflict
    return value if isinstance(value, str) else None


def read_prose(text: str, *, with_task: bool = False) -> ProseFacts:
    """The facts of a markdown text (TF Hub prose, or Kaggle ``overview`` + ``usage``)."""
    units_ = units(text)
    facts = ProseFacts()
    facts.input_size = _input_sizes(units_, facts.evidence)
    facts.num_outputs = _num_outputs(units_, facts.evidence)
    facts.value_range = _value_range(units_, facts.evidence)
    facts.arguments = _arguments(text, facts.evidence)
    if with_task:
        facts.task = _task(units_, facts.evidence)
    return facts
