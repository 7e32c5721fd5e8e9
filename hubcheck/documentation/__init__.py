"""A model's documentation: read it (TF Hub markdown, Kaggle metadata), lint it, write a draft.

TensorFlow-free. See docs/documentation.md for the formats, the facts and where each is read from,
the lint rules and the limits of reading prose.
"""

from hubcheck.documentation.facts import (
    FACT_KEYS,
    IMAGE_TASKS,
    DocFacts,
    DocFinding,
    DocInputSize,
    DocumentationError,
    MeasuredModel,
)
from hubcheck.documentation.lint import lint_documentation
from hubcheck.documentation.read import read_documentation
from hubcheck.documentation.write import write_documentation

__all__ = [
    "FACT_KEYS",
    "IMAGE_TASKS",
    "DocFacts",
    "DocFinding",
    "DocInputSize",
    "DocumentationError",
    "MeasuredModel",
    "lint_documentation",
    "read_documentation",
    "write_documentation",
]
