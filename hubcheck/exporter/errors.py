"""What ``hubcheck export`` refuses: a source that no thin wrapper can make conformant, or one it cannot read."""

from __future__ import annotations


class ExportError(Exception):
    """The export was refused before anything was written; the message says why and, when there is one,
    which option fixes it. The command line turns it into exit 2 (docs/exit-codes.md)."""


def first_line(error: BaseException) -> str:
    """``error`` as its type and the first line of its text: TensorFlow's and Keras' errors go on for
    pages (graph dumps, tracebacks of the traced code), and their first line says what went wrong."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
