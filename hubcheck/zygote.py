"""A catalog worker: ``python -m hubcheck.zygote CONTROL_FD PARENT_PID``.

It imports TensorFlow, tensorflow_hub and hubcheck's checks once, touches no model, and then, for each
model the parent asks for, forks a fresh checking child. The child takes the same first steps as a
child started from scratch (:mod:`hubcheck.child`): its own process group, death with its parent, the
model's private directory as working directory, ``HOME`` and ``TMPDIR``, then :func:`~hubcheck.sandbox.enter_sandbox`.
A forked child has a single thread (only the forking thread is copied), so it can still enter a new user
namespace and a Landlock domain although the worker itself has TensorFlow's threads. The worker waits
for the child and tells the parent how it ended; one child at a time. The worker is not dumpable,
so that a model in one child cannot ptrace it or read its memory, and thereby reach the next child.

The control socket (``SOCK_SEQPACKET``, one message per datagram) carries, parent to worker, a request
``{"workdir": ..., "data_limit": ...}`` with two file descriptors (the child's request pipe, read end,
and its result channel, write end); worker to parent, ``ready``, ``started PID`` and ``exited PID STATUS``
(STATUS as :func:`os.waitpid` gives it). The protocol's other end is :mod:`hubcheck.workers`.
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import sys
import traceback

from hubcheck.sandbox import die_with_parent, set_dumpable

_CHILD_FAILED = 70


def preload() -> None:
    """Import what every model's checks import, without creating TensorFlow's eager context or thread
    pools: the children inherit the imports, and each creates its own runtime state after the fork."""
    from hubcheck.tfimport import tensorflow

    tensorflow()
    for optional in ("tensorflow_hub", "tf_keras"):  # keras-layer's; costly, and a check reports them missing
        try:
            importlib.import_module(optional)
        except ImportError:
            pass
    import hubcheck.isolation  # noqa: F401 - the child's main loop
    import hubcheck.runner  # noqa: F401 - the engine
    from hubcheck.registry import available_checks

    available_checks()  # imports every registered check module


def _child(control: socket.socket, request_fd: int, channel_fd: int, workdir: str, data_limit: int | None,
           worker_pid: int) -> None:
    """The forked child: first steps, the checks, and exit without running the worker's exit handlers."""
    code = _CHILD_FAILED
    try:
        os.setsid()  # a process group of its own, which the parent kills with whatever the model started
        control.close()
        die_with_parent(worker_pid)
        set_dumpable(True)  # as a child started from scratch is (its worker is not)
        os.chdir(workdir)
        os.environ.update(HOME=workdir, TMPDIR=workdir, TEMP=workdir, TMP=workdir)
        import tempfile

        tempfile.tempdir = None  # computed again from TMPDIR on first use
        from hubcheck.sandbox import enter_sandbox

        applied = enter_sandbox(workdir, data_limit)
        from hubcheck.isolation import child_main

        with os.fdopen(request_fd, "rb") as request:
            child_main(channel_fd, applied, request)
        code = 0
    except BaseException:  # noqa: BLE001 - as an uncaught exception ends a child started from scratch
        code = 1
        try:
            traceback.print_exc()
        except BaseException:  # noqa: BLE001
            pass
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve(control: socket.socket) -> None:
    """Fork a child per request until the parent closes the control socket."""
    worker_pid = os.getpid()
    control.send(b"ready")
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 1 << 16, 2)
        except OSError:
            return
        if not message:
            return  # the parent closed its end: hubcheck is done with this worker
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            return
        request_fd, channel_fd = fds
        request = json.loads(message)
        pid = os.fork()
        if pid == 0:
            _child(control, request_fd, channel_fd, str(request["workdir"]), request.get("data_limit"), worker_pid)
        os.close(request_fd)
        os.close(channel_fd)
        try:
            control.send(f"started {pid}".encode())
        except OSError:
            return  # the parent is gone; the child dies with us
        _, status = os.waitpid(pid, 0)
        try:
            control.send(f"exited {pid} {status}".encode())
        except OSError:
            return


def main(argv: list[str]) -> None:
    die_with_parent(int(argv[1]))
    set_dumpable(False)  # no model in a child may reach into the worker (and so into the next model)
    control = socket.socket(fileno=int(argv[0]))
    preload()
    serve(control)


if __name__ == "__main__":
    main(sys.argv[1:])
