"""The checking child's entry point: ``python -m hubcheck.child CHANNEL_FD PARENT_PID``.

Its first steps use the standard library only (:mod:`hubcheck.sandbox`): die with the parent,
enter the sandbox. Then it imports TensorFlow, before its request arrives: a child started early
(:mod:`hubcheck.prestart`) imports it while hubcheck's own start-up goes on. The request brings the
options and the memory limit; the rest of hubcheck (and, through the checks, numpy) comes with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping

from hubcheck.sandbox import child_environment, die_with_parent, enter_sandbox


def spawn(channel_fd: int, workdir: str, environment: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a checking child from scratch (the parent's side): it writes its results to ``channel_fd``,
    reads its request on stdin, works in ``workdir`` with the allowlisted environment plus ``environment``,
    and leads its own process group, so that the parent can kill it and anything the model started.
    Set ``HUBCHECK_TF_LOGS`` to see TensorFlow's logs."""
    return subprocess.Popen(
        [sys.executable, "-m", "hubcheck.child", str(channel_fd), str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=None if os.environ.get("HUBCHECK_TF_LOGS") else subprocess.DEVNULL,
        pass_fds=(channel_fd,),
        cwd=workdir,
        env={**child_environment(workdir), **(environment or {})},
        start_new_session=True,
    )


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
