"""Run the checks in a child process, bounded in time and memory.

The parent never imports TensorFlow. The child streams each finished
:class:`CheckResult` back as soon as it has it, so when the model hangs,
crashes the interpreter or grows past the memory cap, the parent still holds
every result finished so far, turns the running check into an ``error`` that
names the cause, and writes a complete report.
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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubcheck.loader import ModelFormat, classify_files
from hubcheck.options import RunOptions
from hubcheck.registry import Check, available_checks
from hubcheck.results import CheckResult, JSONValue, Report, Status
from hubcheck.runner import ProgressCallback, environment, hubcheck_version

DEFAULT_TIMEOUT_S = 900.0
"""Whole-run bound: generous for a large model on a 2-core CI runner, short enough to catch a hang."""

POLL_S = 0.1


@dataclass(frozen=True)
class Limits:
    timeout_s: float | None = DEFAULT_TIMEOUT_S
    max_memory_bytes: int | None = None


def parse_size(text: str) -> int:
    """``"4G"`` -> 4 GiB in bytes; accepts K, M, G, T (binary) with optional ``iB``/``B``."""
    cleaned = text.strip().upper().removesuffix("IB").removesuffix("B")
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    factor = units.get(cleaned[-1:], 1)
    number = cleaned[:-1] if cleaned[-1:] in units else cleaned
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"memory size must look like 512M or 4G; got {text!r}") from None
    if value <= 0:
        raise ValueError(f"memory size must be positive; got {text!r}")
    return int(value * factor)


def child_main(channel_fd: int) -> None:
    """Entry point of the child (``python -m hubcheck.isolation FD``): options arrive pickled on stdin."""
    import pickle

    path, options, check_ids, source_problem = pickle.loads(sys.stdin.buffer.read())
    from hubcheck.registry import get_check
    from hubcheck.runner import run_checks
    from hubcheck.tfimport import native_logs_silenced

    checks = [get_check(check_id) for check_id in check_ids]
    with os.fdopen(channel_fd, "w", encoding="utf-8", buffering=1) as channel:

        def send(kind: str, payload: JSONValue) -> None:
            channel.write(json.dumps([kind, payload]) + "\n")

        def progress(check_id: str, result: CheckResult | None) -> None:
            send("start", check_id) if result is None else send("done", result.to_json())

        with native_logs_silenced():
            report = run_checks(Path(path), options, checks=checks, progress=progress, source_problem=source_problem)
        send("report", report.to_json())


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


_live_children: set[subprocess.Popen[bytes]] = set()
_live_lock = threading.Lock()


def stop_all_children() -> int:
    """Kill every checking child this process started and has not reaped yet; returns how many.

    For callers that run several :func:`run_isolated` in worker threads (catalog mode): on Ctrl-C
    the main thread calls this, and each worker's run then ends at once with a partial report.
    """
    with _live_lock:
        children = [child for child in _live_children if child.poll() is None]
    for child in children:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return len(children)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait(10)


class _Lines:
    """Newline-delimited JSON messages from a pipe, read without blocking past a deadline."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""
        self.closed = False

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
        return [tuple(json.loads(line)) for line in lines if line.strip()]


def run_isolated(
    path: Path,
    options: RunOptions,
    limits: Limits = Limits(),
    progress: ProgressCallback | None = None,
    checks: Sequence[type[Check]] | None = None,
    source_problem: str | None = None,
) -> Report:
    """Like :func:`hubcheck.runner.run_checks`, in a child process under ``limits``."""
    import pickle

    started = time.perf_counter()
    known = available_checks() if checks is None else tuple(checks)
    options.validate_ids(c.id for c in known)
    catalog = [c for c in known if options.wants(c.id)]
    read_fd, write_fd = os.pipe()
    debug_logs = bool(os.environ.get("HUBCHECK_TF_LOGS"))
    process = subprocess.Popen(
        [sys.executable, "-m", "hubcheck.isolation", str(write_fd)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=None if debug_logs else subprocess.DEVNULL,
        pass_fds=(write_fd,),
        start_new_session=True,  # so the parent can kill the child and anything the model spawned
    )
    os.close(write_fd)
    with _live_lock:
        _live_children.add(process)
    assert process.stdin is not None
    process.stdin.write(pickle.dumps((str(path), options, [c.id for c in catalog], source_problem)))
    process.stdin.close()
    messages = _Lines(read_fd)
    finished: dict[str, CheckResult] = {}
    running: str | None = None
    stop_reason: str | None = None
    try:
        while stop_reason is None:
            for kind, payload in messages.read(POLL_S):
                if kind == "report":
                    process.wait(30)
                    return Report.from_json(payload)
                if kind == "start":
                    running = payload
                    if progress:
                        progress(payload, None)
                else:
                    result = CheckResult.from_json(payload)
                    finished[result.id], running = result, None
                    if progress:
                        progress(result.id, result)
            stop_reason = _limit_reached(process, limits, started)
            if stop_reason is None and messages.closed:
                stop_reason = _exit_reason(process)
    finally:
        if process.poll() is None:
            _kill_group(process)
        with _live_lock:
            _live_children.discard(process)
        os.close(read_fd)
    return _partial_report(path, options, catalog, finished, running, stop_reason, started)


def _limit_reached(process: subprocess.Popen[bytes], limits: Limits, started: float) -> str | None:
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


def _exit_reason(process: subprocess.Popen[bytes]) -> str:
    try:
        code = process.wait(5)
    except subprocess.TimeoutExpired:
        return "the checking process closed its channel but did not exit"
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the checking process was killed by {name} (a crash inside TensorFlow or the model)"
    return f"the checking process exited unexpectedly with code {code}"


def _partial_report(
    path: Path,
    options: RunOptions,
    catalog: Sequence[type[Check]],
    finished: dict[str, CheckResult],
    running: str | None,
    reason: str,
    started: float,
) -> Report:
    results: list[CheckResult] = []
    for check in catalog:
        if check.id in finished:
            results.append(finished[check.id])
        elif check.id == running:
            results.append(CheckResult(check.id, check.title, Status.ERROR, f"{reason} while running {check.id}",
                                       {"stopped": reason}))
        else:
            results.append(CheckResult(check.id, check.title, Status.SKIP,
                                       f"not run: the run stopped at {running or 'start-up'} ({reason})",
                                       {"blocked_by": running or "load", "stopped": reason}))
    if running is None and not any(r.status is Status.ERROR for r in results):
        # Died between checks: still make the report say so.
        results.append(CheckResult("run", "The run completed", Status.ERROR, reason, {"stopped": reason}))
    # The parent never imports TensorFlow, so it tells the format from the file names only.
    source = classify_files(path)
    model_format = source.format.value if source is not None else ModelFormat.TF2_SAVED_MODEL.value
    model: dict[str, JSONValue] = {"path": str(path), "format": model_format}
    return Report(hubcheck_version(), environment(), model, tuple(results),
                  time.perf_counter() - started, options.strict)


if __name__ == "__main__":
    child_main(int(sys.argv[1]))
