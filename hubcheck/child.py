"""The checking child's entry point: ``python -m hubcheck.child CHANNEL_FD PARENT_PID DATA_LIMIT``.

Its first steps use the standard library only (:mod:`hubcheck.sandbox`): die with the parent,
enter the sandbox. Only then does it import the rest of hubcheck (and, through the checks,
numpy and TensorFlow) and run the checks it is sent.
"""

from __future__ import annotations

import os
import sys

from hubcheck.sandbox import die_with_parent, enter_sandbox


def main(argv: list[str]) -> None:
    die_with_parent(int(argv[1]))
    applied = enter_sandbox(os.getcwd(), int(argv[2]) or None)
    from hubcheck.isolation import child_main

    child_main(int(argv[0]), applied)
    # The report has left and the channel is closed. The interpreter's shutdown (TensorFlow's objects,
    # the model's graphs) would answer nothing and the parent would wait for it: 0.4 s on MobileNetV2.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
