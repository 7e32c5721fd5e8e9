"""Catalog workers, the parent's side: processes that import TensorFlow once and fork a checking child per model.

A checking child started from scratch spends about two seconds importing TensorFlow before it looks at
the model; for a catalog of small models that is most of the run. A :class:`Worker` is a process
(:mod:`hubcheck.zygote`) that has paid that import and forks a fresh child for each model it is given;
the child is confined, bounded and watched exactly as one started from scratch
(:func:`hubcheck.isolation.run_isolated` drives both). A :class:`WorkerPool` lends one worker to each
thread of a catalog run. Like the rest of the parent, nothing here imports TensorFlow.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from hubcheck.sandbox import child_environment, private_directory, remove_directory

__all__ = ["ForkedChild", "Worker", "WorkerDied", "WorkerPool"]

READY_TIMEOUT_S = 300.0
"""How long a worker may take to import TensorFlow before it counts as dead (a cold disk, a busy machine)."""


class WorkerDied(RuntimeError):
    """The worker process ended or stopped answering; the model goes to a child started from scratch."""


class _Control:
    """The parent's end of a worker's control socket: one short text message per datagram."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def receive(self, timeout: float | None) -> str | None:
        """The next message; ``None`` when none came within ``timeout``. Raises :class:`WorkerDied` at EOF."""
        try:
            ready, _, _ = select.select([self.sock], [], [], timeout)
        except (OSError, ValueError):  # closed: the pool was closed under a run that Ctrl-C abandoned
            raise WorkerDied("the catalog worker was closed") from None
        if not ready:
            return None
        try:
            data = self.sock.recv(256)
        except OSError as exc:
            raise WorkerDied(f"the catalog worker's channel failed: {exc}") from None
        if not data:
            raise WorkerDied("the catalog worker exited")
        return data.decode("ascii", "replace")


class ForkedChild:
    """A checking child forked by a worker, seen as :class:`subprocess.Popen` shows a child: ``pid``,
    ``returncode`` (negative: killed by that signal), :meth:`poll` and :meth:`wait`. The worker, not this
    process, is its parent: it reports the exit status on the control socket."""

    def __init__(self, control: _Control, pid: int) -> None:
        self._control = control
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self._read(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(f"checking child {self.pid}", timeout or 0)
            self._read(left)
        return self.returncode

    def _read(self, timeout: float | None) -> None:
        try:
            message = self._control.receive(timeout)
        except WorkerDied:
            # The worker is gone, and its children die with it (parent-death signal).
            self.returncode = -signal.SIGKILL
            return
        if message is not None and message.startswith(f"exited {self.pid} "):
            self.returncode = os.waitstatus_to_exitcode(int(message.split()[2]))


class Worker:
    """One worker process and the control socket to it; used by one thread at a time."""

    command: tuple[str, ...] = ("-m", "hubcheck.zygote")
    """The worker's Python command line, before its two arguments (tests start one that fails)."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.workdir = private_directory()
        debug_logs = bool(os.environ.get("HUBCHECK_TF_LOGS"))
        try:
            self.process = subprocess.Popen(
                [sys.executable, *self.command, str(theirs.fileno()), str(os.getpid())],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=None if debug_logs else subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                cwd=self.workdir,
                env=child_environment(self.workdir),
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            remove_directory(self.workdir)
            raise
        finally:
            theirs.close()
        self._control = _Control(ours)
        self.ready = False

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def fork(self, request_fd: int, channel_fd: int, workdir: str, data_limit: int | None) -> ForkedChild:
        """A new checking child that reads its request from ``request_fd`` and writes results to ``channel_fd``
        (both stay open here; the caller closes them). Raises :class:`WorkerDied`, and then the worker is ended."""
        try:
            return self._fork(request_fd, channel_fd, workdir, data_limit)
        except WorkerDied:
            self.close()
            raise

    def _fork(self, request_fd: int, channel_fd: int, workdir: str, data_limit: int | None) -> ForkedChild:
        try:
            if not self.ready:
                self._expect("ready", READY_TIMEOUT_S)
                self.ready = True
            request = json.dumps({"workdir": workdir, "data_limit": data_limit}).encode()
            socket.send_fds(self._control.sock, [request], [request_fd, channel_fd])
        except OSError as exc:
            raise WorkerDied(f"cannot reach the catalog worker: {exc}") from None
        started = self._expect("started ", 60.0)
        return ForkedChild(self._control, int(started.split()[1]))

    def _expect(self, prefix: str, timeout: float) -> str:
        message = "exited"
        while message.startswith("exited"):  # a child's end that its run stopped waiting for
            found = self._control.receive(timeout)
            if found is None:
                raise WorkerDied(f"the catalog worker did not answer within {timeout:g}s")
            message = found
        if not message.startswith(prefix):
            raise WorkerDied(f"the catalog worker said {message!r}, expected {prefix.strip()!r}")
        return message

    def close(self) -> None:
        """Let the worker exit (it sees its control socket close), killing it if it does not at once."""
        self._control.sock.close()
        try:
            self.process.wait(2)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                pass
        remove_directory(self.workdir)


class WorkerPool:
    """Workers lent to threads: each thread of a catalog run gets one of its own (a new one the first
    time), so at most as many workers as threads exist. :meth:`close` ends them all."""

    FAILED_STARTS_TOLERATED = 2
    """Workers that may die before they are ready before the pool stops starting them (a broken install:
    then every model goes to a child started from scratch, which reports what is wrong)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[Worker] = []
        self._all: list[Worker] = []
        self._closed = False
        self._failed_starts = 0

    @contextmanager
    def worker(self) -> Iterator[Worker]:
        """A live worker for the caller's thread; a worker that died meanwhile is replaced."""
        with self._lock:
            if self._closed:
                raise WorkerDied("the catalog's workers were closed")
            if self._failed_starts >= self.FAILED_STARTS_TOLERATED:
                raise WorkerDied("catalog workers do not start here")
            worker = self._idle.pop() if self._idle else None
        if worker is None or not worker.alive:
            if worker is not None:
                self._forget(worker)
            worker = Worker()
            with self._lock:
                self._all.append(worker)
        try:
            yield worker
        finally:
            with self._lock:
                if not worker.ready and not worker.alive:
                    self._failed_starts += 1
                keep = not self._closed
                if keep:
                    self._idle.append(worker)
            if not keep:
                self._forget(worker)

    def _forget(self, worker: Worker) -> None:
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)
        worker.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers, self._all, self._idle = list(self._all), [], []
        for worker in workers:
            worker.close()
