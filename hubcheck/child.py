"""The checking child's entry point: ``python -m hubcheck.child CHANNEL_FD PARENT_PID``.

Its first steps use the standard library only (:mod:`hubcheck.sandbox`): die with the parent,
enter the sandbox. Then it imports TensorFlow, before its request arrives: a child started early
(:mod:`hubcheck.prestart`) imports it while hubcheck's own start-up goes on. The request brings the
options and the memory limit; the rest of hubcheck (and, through the checks, numpy) comes with it.
"""

from __future__ import annotations

import os
import sys

from hubcheck.sandbox import die_with_parent, enter_sandbox


def main(argv: list[str]) -> None:
    die_with_parent(int(argv[1]))
    applied = enter_sandbox(os.getcwd())  # the memory limit comes with the request
    try:
        from hubcheck.tfimport import tensorflow

        tensorflow()  # what every run imports first; its import-time logs go to this child's stderr
    except Exception:  # noqa: BLE001 - a broken installation: the run imports it again and reports why
        pass
    from hubcheck.isolation import child_main

    child_main(int(argv[0]), applied)
    # The report has left and the channel is closed. The interpreter's shutdown (TensorFlow's objects,
    # the model's graphs) would answer nothing and the parent would wait for it: 0.4 s on MobileNetV2.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
