"""Plain, immutable run options shared by the CLI, the Python API and the pytest plugin."""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hubcheck.documentation import DocFacts


class Task(str, enum.Enum):
    AUTO = "auto"
    FEATURE_VECTOR = "image-feature-vector"
    CLASSIFICATION = "image-classification"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Tolerances:
    """Numeric tolerances; two arrays match when ``|a - b| <= atol + rtol * |b|`` elementwise.

    ``atol`` is scaled by the largest magnitude in the reference output (at least 1),
    so that a model whose features are in the thousands is held to the same
    relative standard as one whose features are near 1.
    """

    rtol: float = 1e-4
    atol: float = 1e-5
    probability_sum: float = 1e-3  # how close to 1 a row must sum to look like softmax output
    keras_rtol: float = 1e-4  # hub.KerasLayer output against the direct call
    keras_atol: float = 1e-5

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def updated(self, overrides: Mapping[str, float]) -> Tolerances:
        unknown = sorted(set(overrides) - set(self.names()))
        if unknown:
            raise ValueError(f"unknown tolerance {', '.join(unknown)} (known: {', '.join(self.names())})")
        for name, value in overrides.items():
            if not value >= 0:
                raise ValueError(f"tolerance {name} must be a non-negative number, got {value}")
        return dataclasses.replace(self, **overrides)


InputSize = tuple[int, int]

_SIZE = re.compile(r"^\s*(\d+)\s*[xX,]\s*(\d+)\s*$")


def parse_input_size(text: str) -> InputSize:
    """``"224x224"`` -> ``(224, 224)`` (height first)."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"input size must look like HEIGHTxWIDTH, e.g. 224x224; got {text!r}")
    height, width = int(match.group(1)), int(match.group(2))
    if not (1 <= height <= 8192 and 1 <= width <= 8192):
        raise ValueError(f"input size {height}x{width} is out of range (1..8192 each)")
    return height, width


def parse_tolerance(text: str) -> tuple[str, float]:
    """``"rtol=1e-3"`` -> ``("rtol", 0.001)``."""
    name, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"tolerance must look like NAME=VALUE, e.g. rtol=1e-3; got {text!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"tolerance {name.strip()} needs a number, got {value!r}") from None
    return name.strip(), number


@dataclass(frozen=True)
class RunOptions:
    """What to check and how; the defaults are what ``hubcheck MODEL`` does."""

    task: Task = Task.AUTO
    input_sizes: tuple[InputSize, ...] = ()
    select: frozenset[str] = frozenset()  # empty: every check
    ignore: frozenset[str] = frozenset()
    strict: bool = False
    tolerances: Tolerances = Tolerances()
    allow_unsafe_ops: bool = False  # load and call a model even when the unsafe-ops check fails
    debug: bool = False  # a check that raises keeps its traceback in details["traceback"]
    documentation: DocFacts | None = None  # the model's documentation (--doc), which the doc-* checks compare

    def wants(self, check_id: str) -> bool:
        if self.select and check_id not in self.select:
            return False
        return check_id not in self.ignore

    def validate_ids(self, known: Iterable[str]) -> None:
        known_set = set(known)
        unknown = sorted((self.select | self.ignore) - known_set)
        if unknown:
            raise ValueError(
                f"unknown check id {', '.join(unknown)}; see hubcheck --list-checks"
            )


DEFAULT_INPUT_SIZES: tuple[InputSize, ...] = ((224, 224), (160, 192))
"""Used when neither the traces nor ``--input-size`` fix the size: the common
224x224 of image models, and a smaller, non-square size so that
``output-size-constant`` compares two genuinely different inputs."""
