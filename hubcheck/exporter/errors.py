"""What ``hubcheck export`` refuses: a source that no thin wrapper can make conformant, or one it cannot read."""

from __future__ import annotations


class ExportError(Exception):
    """The export was refused before anything was written; the message says why and, when there is one,
    which option fixes it. The command line turns it into exit 2 (docs/exit-codes.md)."""
