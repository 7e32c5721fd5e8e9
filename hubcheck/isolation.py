"""Run the checks in a child process, bounded in time and memory, sandboxed as far as the platform allows.

The parent never imports TensorFlow. The child (:mod:`hubcheck.child`) streams each finished
:class:`CheckResult` back as soon as it has it, so when the model hangs, crashes the
interpreter or grows past the memory cap, the parent still holds every result finished so
far, turns the running check into an ``error`` that names the cause, and writes a complete
report. The child dies with its parent (a parent-death signal, and its own process group that
the parent kills with SIGKILL); its confinement is :mod:`hubcheck.sandbox`, its bounds
:mod:`hubcheck.limits`. In a catalog run the child is forked by a worker that imported TensorFlow
once (:mod:`hubcheck.workers`) instead of started from scratch; it is watched the same way.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Protocol

from hubcheck.limits import (
    DEFAULT_TIMEOUT_S,
    MEMORY_SHARE,
    Limits,
    data_limit,
    default_memory_cap,
    describe_memory_cap,
    machine_memory_bytes,
    parse_memory_cap,
    parse_size,
)
from hubcheck.loader import ModelFormat, classify_files
from hubcheck.options import RunOptions
from hubcheck.registry import Check, available_checks
from hubcheck.sandbox import (
    child_environment,
    enter_sandbox,
    kill_group,
    private_directory,
    remove_directory,
    signal_group,
)
from hubcheck.results import (
    CheckResult,
    Finding,
    JSONValue,
    ProgressCallback,
    Report,
    Status,
    one_line,
    partial_report,
    with_source,
)

if TYPE_CHECKING:
    from hubcheck.workers import WorkerPool

POLL_S = 0.1
MAX_MESSAGE_BYTES = 64 << 20
"""A line on the channel longer than this is not hubcheck's (strings in results are bounded)."""



# -- the child ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckSpec:
    """A check class as the child receives it: where to import it from (``module:qualname``), and what
    the parent knows of it, to stand in for a class the child cannot import."""

    ref: str
    id: str
    title: str
    requires: tuple[str, ...]
    order: int

    @classmethod
    def of(cls, check: type[Check]) -> CheckSpec:
        return cls(f"{check.__module__}:{check.__qualname__}", check.id, check.title, tuple(check.requires),
                   check.order)

    def load(self) -> type[Check]:
        """The class named by :attr:`ref`, or, when it cannot be imported here (it was defined inside a
        function, in a script, or in a module this process cannot see), a stand-in whose result is an
        ``error`` that says so: a problem of the check, not of the model."""
        import importlib

        module_name, _, qualname = self.ref.partition(":")
        try:
            found: Any = importlib.import_module(module_name)
            for part in qualname.split("."):
                found = getattr(found, part)
        except Exception as exc:  # noqa: BLE001 - any failure to import is the same finding
            return self._stand_in(f"the check class {self.ref} cannot be imported in the checking process "
                                  f"({one_line(exc)}); define it at the top level of an importable module")
        if not (isinstance(found, type) and issubclass(found, Check)) or getattr(found, "id", None) != self.id:
            return self._stand_in(f"{self.ref} in the checking process is not the check {self.id!r} it names "
                                  "in hubcheck's process")
        return found

    def _stand_in(self, problem: str) -> type[Check]:
        def run(check: Check, ctx: object) -> Finding:
            return Finding(Status.ERROR, problem, {"check_class": self.ref})

        attributes = {"id": self.id, "title": self.title, "requires": self.requires, "order": self.order,
                      "run": run, "__doc__": problem}
        return type(f"Unimportable_{self.id.replace('-', '_')}", (Check,), attributes)


def child_main(channel_fd: int, sandbox: Mapping[str, str], requests: BinaryIO | None = None) -> None:
    """The child after its first steps: options arrive pickled on ``requests`` (default: stdin), results
    leave on ``channel_fd``.

    The checks are the registered ones, or (when the caller named its own) the classes it named, imported
    here by module and name from the parent's import path."""
    import pickle

    request = (sys.stdin.buffer if requests is None else requests).read()
    path, options, specs, source_problem, parent_path, data_limit = pickle.loads(request)
    if data_limit and "data_limit" not in sandbox:  # a child forked by a worker has it already
        from hubcheck.sandbox import limit_data

        sandbox = {**sandbox, **limit_data(data_limit)}
    from hubcheck.runner import run_checks
    from hubcheck.tfimport import native_logs_silenced

    sys.path.extend(entry for entry in parent_path if entry not in sys.path)
    checks = None if specs is None else [spec.load() for spec in specs]
    with os.fdopen(channel_fd, "w", encoding="utf-8", buffering=1) as channel:

        def send(kind: str, payload: JSONValue) -> None:
            channel.write(json.dumps([kind, payload]) + "\n")

        def progress(check_id: str, result: CheckResult | None) -> None:
            send("start", check_id) if result is None else send("done", result.to_json())

        send("sandbox", dict(sandbox))
        with native_logs_silenced():
            report = run_checks(Path(path), options, checks=checks, progress=progress, source_problem=source_problem)
        send("report", report.to_json())


# -- the parent --------------------------------------------------------------------------------------


def _rss_bytes(pid: int) -> int:
    """Resident memory of the process group led by ``pid`` (Linux /proc; 0 where unknown)."""
    total = 0
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return 0
    for candidate in pids:
        try:
            if os.getpgid(candidate) != pid:
                continue
            with open(f"/proc/{candidate}/statm", encoding="ascii") as statm:
                total += int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    return total


class ChildProcess(Protocol):
    """A checking child as the parent watches it: a :class:`subprocess.Popen`, or a
    :class:`hubcheck.workers.ForkedChild` (forked by a catalog worker). Either leads its own process group."""

    pid: int

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


_live_children: set[ChildProcess] = set()
_live_lock = threading.RLock()  # re-entered by a signal handler in the main thread
_stops = 0
"""How many times :func:`stop_all_children` was called: a run it stopped is not checked again."""


def stop_all_children() -> int:
    """Kill every checking child this process started and has not reaped yet; returns how many.

    For callers that run several :func:`run_isolated` in worker threads (catalog mode): on Ctrl-C
    the main thread calls this, and each worker's run then ends at once with a partial report.
    Safe to call from a signal handler in the main thread.
    """
    global _stops
    with _live_lock:
        _stops += 1
        children = list(_live_children)
    alive = [child for child in children if child.returncode is None]
    for child in alive:
        signal_group(child)
    return len(alive)


class Stopped(KeyboardInterrupt):
    """hubcheck was asked to stop by signal ``signum``; every checking child has been killed. The command
    then exits 128 + ``signum`` (:func:`hubcheck.exitcodes.exit_code`)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        try:
            self.name = signal.Signals(signum).name
        except ValueError:
            self.name = f"signal {signum}"
        super().__init__(f"stopped by {self.name}")


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextmanager
def children_die_with_us(signals: Sequence[int] = STOP_SIGNALS) -> Iterator[None]:
    """While inside, SIGINT, SIGTERM or SIGHUP kill every checking child at once and raise :class:`Stopped`
    in the main thread. A signal that was ignored when we started (``nohup``) stays ignored. Does
    nothing outside the main thread, where Python cannot handle signals."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop_all_children()
        raise Stopped(signum)

    previous = {}
    for signum in signals:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, signal.SIG_DFL if old is None else old)  # None: a handler not set from Python


class _Lines:
    """Newline-delimited JSON messages from a pipe, read without blocking past a deadline."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""
        self.closed = False
        self.problem: str | None = None

    def read(self, timeout: float) -> list[tuple[str, Any]]:
        if self.closed:
            return []
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                self.closed = True
            self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        messages = []
        for line in lines:
            if not line.strip():
                continue
            try:
                kind, payload = json.loads(line)
            except (ValueError, TypeError):
                self._give_up("the checking process sent something that is not a hubcheck message")
                break
            messages.append((str(kind), payload))
        if len(self.buffer) > MAX_MESSAGE_BYTES:
            self._give_up(f"the checking process sent a message longer than {MAX_MESSAGE_BYTES >> 20} MiB")
        return messages

    def _give_up(self, problem: str) -> None:
        self.problem, self.closed, self.buffer = problem, True, b""


CRASH_SIGNALS = frozenset({signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGILL, signal.SIGFPE})
"""Signals by which a process dies of its own fault (not hubcheck's SIGKILL after a timeout, above the
memory cap or on Ctrl-C, nor the kernel's OOM killer): a crash inside TensorFlow or the model."""

ONEDNN_SWITCH = "TF_ENABLE_ONEDNN_OPTS"
"""TensorFlow's switch for its oneDNN CPU kernels: on unless it says 0 or false."""


def onednn_enabled(environment: Mapping[str, str]) -> bool:
    """Whether a TensorFlow started with ``environment`` uses its oneDNN CPU kernels (its default)."""
    return environment.get(ONEDNN_SWITCH, "").strip().lower() not in ("0", "false")


@dataclass
class _Attempt:
    """How one checking child ended: its ``report`` when it sent one, else what it finished, what it was
    running, why it stopped and, when it died by a signal of :data:`CRASH_SIGNALS`, that signal's name."""

    sandbox: dict[str, str]
    started: float  # time.perf_counter() when its child was started (earlier than the run for a child started early)
    report: Report | None = None
    finished: dict[str, CheckResult] = field(default_factory=dict)
    running: str | None = None
    stop_reason: str | None = None
    crash: str | None = None

    def where(self) -> str:
        """Where the run was when it stopped, in words."""
        if self.running is not None:
            return f"while running {self.running}"
        if self.finished:
            return f"after {list(self.finished)[-1]}"
        return "at start-up"


def run_isolated(
    path: Path,
    options: RunOptions,
    limits: Limits | None = None,
    progress: ProgressCallback | None = None,
    checks: Sequence[type[Check]] | None = None,
    source_problem: str | None = None,
    workers: WorkerPool | None = None,
) -> Report:
    """Like :func:`hubcheck.runner.run_checks`, in a sandboxed child process under ``limits``
    (default: :class:`Limits`, i.e. the default timeout and memory cap).

    The child is started from scratch (``python -m hubcheck.child``), or, given ``workers``, forked by
    one of them, which has imported TensorFlow already (:mod:`hubcheck.workers`); it is confined,
    bounded and watched the same way either way. Explicit ``checks`` reach the child by module and
    name (:class:`CheckSpec`), imported there with this process's import path; one the child cannot
    import is an ``error`` result of its own.

    A child that crashes (:data:`CRASH_SIGNALS`) while TensorFlow's oneDNN CPU kernels are on, which
    corrupt memory on some shapes, is followed by one more child started from scratch with them off
    (``TF_ENABLE_ONEDNN_OPTS=0``), within what is left of the time limit: its report is the report, and
    ``environment.tensorflow_retry`` says why."""
    limits = Limits() if limits is None else limits
    started = time.perf_counter()
    known = available_checks() if checks is None else tuple(checks)
    # Ids name registered checks even when the caller runs a subset, as in run_checks.
    options.validate_ids({c.id for c in known} | {c.id for c in available_checks()})
    catalog = [c for c in known if options.wants(c.id)]
    specs = None if checks is None else [CheckSpec.of(c) for c in catalog]
    request = (os.path.abspath(path), options, specs, source_problem,
               [] if specs is None else [p for p in sys.path if p])
    stops_before = _stops
    first = _attempt(request, limits, started, progress, workers)
    if (first.crash is None or not onednn_enabled(os.environ) or _stops != stops_before
            or (limits.timeout_s is not None and time.perf_counter() - started >= limits.timeout_s)):
        return _report_of(first, path, catalog, options, started)
    record = (f"the first run was killed by {first.crash} {first.where()}; TensorFlow's oneDNN CPU kernels "
              f"have known crashes, so the model was checked again in a new process with {ONEDNN_SWITCH}=0")
    reported = set(first.finished)

    def progress_once(check_id: str, result: CheckResult | None) -> None:
        if progress is not None and check_id not in reported:  # the first run announced these already
            progress(check_id, result)

    retry = _attempt(request, limits, started, progress_once, None, {ONEDNN_SWITCH: "0"})
    if retry.crash is not None:
        retry.stop_reason = (f"the checking process was killed by {retry.crash} with {ONEDNN_SWITCH}=0 as well "
                             f"(the first run, with oneDNN on, was killed by {first.crash} {first.where()}): "
                             "a crash inside TensorFlow or the model")
    report = _report_of(retry, path, catalog, options, started)
    if retry.crash is None and first.running is not None:
        report = replace(report, checks=[_crashed_with_onednn(result, first.crash) if result.id == first.running
                                         else result for result in report.checks])
    return replace(report, environment={**report.environment, "tensorflow_retry": record},
                   duration_s=time.perf_counter() - min(started, first.started))


def _crashed_with_onednn(result: CheckResult, crash: str) -> CheckResult:
    """A check that passed only with oneDNN off warns: the model is right, but its consumers' TensorFlow,
    with its default CPU kernels, crashes where the first run did."""
    if result.status is not Status.PASS:
        return result
    return replace(result, status=Status.WARN, message=(
        f"{result.message}. With TensorFlow's default oneDNN CPU kernels the checking process was killed by "
        f"{crash} here; it passes with {ONEDNN_SWITCH}=0. Consumers on CPU meet the same crash (a TensorFlow "
        f"bug) unless they set {ONEDNN_SWITCH}=0"))


def _report_of(attempt: _Attempt, path: Path, catalog: Sequence[type[Check]], options: RunOptions,
               started: float) -> Report:
    """The child's report, or the partial report of what it finished before it stopped; either lasted from
    when the child was started."""
    started = min(started, attempt.started)
    if attempt.report is not None:
        report = replace(attempt.report, duration_s=time.perf_counter() - started)
        return _with_sandbox(report, path, attempt.sandbox)
    # The parent never imports TensorFlow, so it tells the format from the file names only.
    source = classify_files(path)
    model_format = source.format.value if source is not None else ModelFormat.TF2_SAVED_MODEL.value
    report = partial_report(str(path), model_format, catalog, attempt.finished, attempt.running,
                            attempt.stop_reason, duration_s=time.perf_counter() - started, strict=options.strict)
    return _with_sandbox(report, path, attempt.sandbox)


def _attempt(request: tuple[object, ...], limits: Limits, started: float, progress: ProgressCallback | None,
             workers: WorkerPool | None, environment: Mapping[str, str] | None = None) -> _Attempt:
    """One checking child, given ``request`` (pickled), watched until it reports or stops; ``limits``
    count from ``started``. ``environment`` is set in a child started from scratch."""
    import pickle

    from hubcheck import prestart

    private_memory = data_limit(limits.max_memory_bytes) or 0
    # A child the hubcheck command started before its command line was parsed is this one, unless this
    # is a retry (another environment) or a worker forks the child.
    early = prestart.take() if workers is None and environment is None else None
    attempt = _Attempt(sandbox={
        "working_directory": "private temporary directory, also HOME and TMPDIR, removed afterwards",
        "environment": "allowlist (locale, PATH, Python, TensorFlow and thread settings)",
        "memory_cap": describe_memory_cap(limits.max_memory_bytes),
    }, started=min(started, early.started) if early is not None else started)
    process: ChildProcess | None = None
    if early is not None:
        workdir, read_fd, write_fd = early.workdir, early.channel, -1
    else:
        workdir = private_directory()
        read_fd, write_fd = os.pipe()
    try:
        with ExitStack() as borrowed:  # a worker is lent until its child has been reaped
            try:
                if early is not None:
                    process, request_pipe = early.process, early.process.stdin
                    assert request_pipe is not None
                else:
                    process, request_pipe = _start_child(borrowed, workers, workdir, write_fd, private_memory,
                                                         environment)
                    os.close(write_fd)
                    write_fd = -1
                with _live_lock:
                    _live_children.add(process)
                _send_request(request_pipe, pickle.dumps((*request, private_memory)))
                messages = _Lines(read_fd)
                while attempt.stop_reason is None:
                    for kind, payload in messages.read(POLL_S):
                        if kind == "report":
                            attempt.report = Report.from_json(payload)
                            if isinstance(process, subprocess.Popen):
                                _release(process)
                                process = None  # nothing left to kill or reap below
                            else:
                                try:  # its worker takes the next model once it is reaped
                                    process.wait(30)
                                except subprocess.TimeoutExpired:
                                    pass  # finished but will not exit: killed below, the report stands
                            return attempt
                        if kind == "sandbox":
                            attempt.sandbox.update({str(k): str(v) for k, v in dict(payload).items()})
                        elif kind == "start":
                            attempt.running = payload
                            if progress:
                                progress(payload, None)
                        elif kind == "done":
                            result = CheckResult.from_json(payload)
                            attempt.finished[result.id], attempt.running = result, None
                            if progress:
                                progress(result.id, result)
                    attempt.stop_reason = _limit_reached(process, limits, started)
                    if attempt.stop_reason is None and messages.closed:
                        if messages.problem is not None:
                            attempt.stop_reason = messages.problem
                        else:
                            attempt.stop_reason, attempt.crash = _exit_reason(process)
            finally:
                if process is not None:
                    if process.poll() is None:
                        kill_group(process)
                    with _live_lock:
                        _live_children.discard(process)
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)
        remove_directory(workdir)
    return attempt


def _send_request(pipe: IO[bytes], request: bytes) -> None:
    """Write the pickled request and close the pipe, from a thread of its own: the child reads it only
    after importing TensorFlow, and a request longer than the pipe's buffer must not keep the parent
    from watching the child's time and memory meanwhile."""

    def write() -> None:
        try:
            with pipe:
                pipe.write(request)
        except (BrokenPipeError, ValueError):  # it died (its parent check failed, or it was killed)
            pass

    if len(request) < 4096:  # fits in any pipe's buffer: the write cannot block
        write()
    else:
        threading.Thread(target=write, name="hubcheck-request", daemon=True).start()


def _release(process: subprocess.Popen[bytes]) -> None:
    """Let go of a child started from scratch once its report has arrived: kill its group (the child
    only exits now, and whatever the model started goes with it) and reap it in the background. Its
    exit unmaps the model's memory (0.1 s on ResNet50), which the report need not wait for."""
    signal_group(process)
    with _live_lock:
        _live_children.discard(process)
    threading.Thread(target=process.wait, name=f"hubcheck-reap-{process.pid}", daemon=True).start()


def _start_child(borrowed: ExitStack, workers: WorkerPool | None, workdir: str, channel_fd: int,
                 private_memory: int, environment: Mapping[str, str] | None = None) -> tuple[ChildProcess, IO[bytes]]:
    """A checking child writing to ``channel_fd``, and where to write its request. Forked by a worker of
    ``workers`` (borrowed until ``borrowed`` closes) when there is one that works, else started from scratch,
    with ``environment`` added to the allowlisted one."""
    if workers is not None:
        from hubcheck.workers import WorkerDied

        read_request, write_request = os.pipe()
        try:
            worker = borrowed.enter_context(workers.worker())
            child = worker.fork(read_request, channel_fd, workdir, private_memory or None)
        except WorkerDied:
            os.close(write_request)  # the worker is replaced next time; this model starts from scratch
        else:
            return child, os.fdopen(write_request, "wb")
        finally:
            os.close(read_request)
    from hubcheck.child import spawn

    process = spawn(channel_fd, workdir, environment)
    assert process.stdin is not None
    return process, process.stdin


def _with_sandbox(report: Report, path: Path, sandbox: Mapping[str, str]) -> Report:
    """The child's report as the caller named the model, with what confined the child."""
    named = with_source(report, str(path), {})
    return replace(named, environment={**named.environment, "sandbox": dict(sandbox)})


def _limit_reached(process: ChildProcess, limits: Limits, started: float) -> str | None:
    if limits.timeout_s is not None and time.perf_counter() - started > limits.timeout_s:
        return f"timed out after {limits.timeout_s:g}s (--timeout)"
    if limits.max_memory_bytes is not None:
        rss = _rss_bytes(process.pid)
        if rss > limits.max_memory_bytes:
            return (
                f"exceeded the memory cap: {rss / 2**20:.0f} MiB resident > "
                f"{limits.max_memory_bytes / 2**20:.0f} MiB (--max-memory)"
            )
    return None


def _exit_reason(process: ChildProcess) -> tuple[str, str | None]:
    """Why the child ended, and the name of the signal when it died of a crash (:data:`CRASH_SIGNALS`)."""
    try:
        code = process.wait(5)
    except subprocess.TimeoutExpired:
        return "the checking process closed its channel but did not exit", None
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        crash = name if -code in CRASH_SIGNALS else None
        return f"the checking process was killed by {name} (a crash inside TensorFlow or the model)", crash
    return f"the checking process exited unexpectedly with code {code}", None


__all__ = [
    "CRASH_SIGNALS", "DEFAULT_TIMEOUT_S", "MEMORY_SHARE", "ONEDNN_SWITCH", "CheckSpec", "Limits", "Stopped",
    "child_environment", "child_main", "children_die_with_us", "default_memory_cap", "enter_sandbox",
    "machine_memory_bytes", "onednn_enabled", "parse_memory_cap", "parse_size", "run_isolated", "stop_all_children",
]
