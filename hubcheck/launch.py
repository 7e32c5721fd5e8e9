"""The ``hubcheck`` command: start a one-model run's checking child, then hand over to the command line.

The order is the point: :func:`hubcheck.prestart.start` runs before :mod:`hubcheck.cli` (click,
rich, the reporters, the check classes) is imported, so that the child's TensorFlow import overlaps
that start-up. Tests drive :data:`hubcheck.cli.main` directly and never start a child early.
"""

from __future__ import annotations

import sys


def main() -> None:
    from hubcheck.prestart import start

    start(sys.argv[1:])
    from hubcheck.cli import main as command_line

    command_line()


if __name__ == "__main__":
    main()
