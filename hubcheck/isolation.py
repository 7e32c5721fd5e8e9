"""Run the checks in a child process, bounded in time and memory, sandboxed as far as the platform allows.

The parent never imports TensorFlow. The child streams each finished
:class:`CheckResult` back as soon as it has it, so when the model hangs,
crashes the interpreter or grows past the memory cap, the parent still holds
every result finished so far, turns the running check into an ``error`` that
names the cause, and writes a complete report.

The child dies with its parent (a parent-death signal, and its own process group that the
parent kills with SIGKILL), runs in a private temporary directory (its cwd, ``HOME`` and
``TMPDIR``) with an allowlisted environment, and, before anything heavy is imported, enters
what the kernel offers without extra dependencies: no new privileges, a network namespace,
Landlock (writes only into its private directory), a hard limit on private memory, no core
dumps. Each measure is best-effort and the report says which ones applied
(``environment.sandbox``); docs/security.md describes them.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import sys

# -- the child's first steps ---------------------------------------------------------------------
# Everything up to the ``__main__`` block below uses the standard library only: the child runs it
# before importing numpy (which starts threads, and a process with threads cannot enter a new user
# namespace, and Landlock confines only the calling thread and the threads it starts afterwards).

_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_SYS_LANDLOCK_CREATE_RULESET = 444  # the same number on every architecture
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1
_FS_WRITE_FILE = 1 << 1
_FS_TRUNCATE = 1 << 14  # ABI 3
_FS_WRITES = sum(1 << bit for bit in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12))  # write, remove, make dir/file/node
_FS_REFER = 1 << 13  # ABI 2: rename or link across directories
_NET_BIND_CONNECT_TCP = 0b11  # ABI 4
_SCOPE_ABSTRACT_UNIX_AND_SIGNAL = 0b11  # ABI 6
_WRITABLE_DEVICES = ("/dev/null", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/kfd")
"""Device files the child may open for writing besides its directory: the bit bucket and GPUs."""


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def _errno_text(prefix: str) -> str:
    code = ctypes.get_errno()
    return f"{prefix}: {errno.errorcode.get(code, str(code))} ({os.strerror(code)})"


def die_with_parent(parent_pid: int) -> None:
    """Ask the kernel for SIGKILL when the parent dies; exit now if it already has (the race before)."""
    try:
        _libc().prctl(_PR_SET_PDEATHSIG, 9, 0, 0, 0)  # SIGKILL: nothing the model does can ignore it
    except (OSError, AttributeError):  # not Linux: the process group and the parent's handlers remain
        pass
    if os.getppid() != parent_pid:
        os._exit(70)


def _fraction_gib(size: int) -> str:
    return f"{size / 2**30:.1f} GiB"


def _limit_resources(data_limit: int | None) -> dict[str, str]:
    applied: dict[str, str] = {}
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        applied["core_dumps"] = "off"
    except (OSError, ValueError) as exc:
        applied["core_dumps"] = f"not limited: {exc}"
    if data_limit:
        try:
            _, hard = resource.getrlimit(resource.RLIMIT_DATA)
            limit = data_limit if hard == resource.RLIM_INFINITY else min(hard, data_limit)
            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
            applied["data_limit"] = f"{_fraction_gib(limit)} of private memory (RLIMIT_DATA)"
        except (OSError, ValueError) as exc:
            applied["data_limit"] = f"not set: {exc}"
    try:
        with open("/proc/self/oom_score_adj", "w", encoding="ascii") as adj:
            adj.write("1000")
        applied["oom_killer"] = "targets the checking process first (oom_score_adj 1000)"
    except OSError as exc:
        applied["oom_killer"] = f"not adjusted: {exc.strerror or exc}"
    return applied


def _write_id_maps(uid: int, gid: int) -> None:
    """Keep our own uid and gid inside the new user namespace (otherwise they read as 65534)."""
    for name, text in (("uid_map", f"{uid} {uid} 1\n"), ("setgroups", "deny\n"), ("gid_map", f"{gid} {gid} 1\n")):
        try:
            with open(f"/proc/self/{name}", "w", encoding="ascii") as target:
                target.write(text)
        except OSError:
            return


def _isolate_network(libc: ctypes.CDLL) -> str:
    """A network namespace of our own: only a loopback interface, which is down. Root can make one
    directly; others need a user namespace as well."""
    attempts = ([_CLONE_NEWNET] if os.geteuid() == 0 else []) + [_CLONE_NEWUSER | _CLONE_NEWNET]
    failures = []
    for flags in attempts:
        uid, gid = os.geteuid(), os.getegid()
        if libc.unshare(flags) == 0:
            if flags & _CLONE_NEWUSER:
                _write_id_maps(uid, gid)
                return "none (user and network namespaces)"
            return "none (network namespace)"
        failures.append(_errno_text("unshare(" + ("CLONE_NEWUSER|" if flags & _CLONE_NEWUSER else "")
                                    + "CLONE_NEWNET)"))
    return "not isolated: " + "; ".join(failures)


def _landlock(libc: ctypes.CDLL, workdir: str) -> str:
    """Writes only beneath ``workdir`` (and to the devices in ``_WRITABLE_DEVICES``); reads stay open."""
    abi = libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0),
                       ctypes.c_uint32(_LANDLOCK_CREATE_RULESET_VERSION))
    if abi < 0:
        return "not confined: " + _errno_text("Landlock unavailable")
    fs = _FS_WRITES | (_FS_REFER if abi >= 2 else 0) | (_FS_TRUNCATE if abi >= 3 else 0)
    attr = _RulesetAttr(fs, _NET_BIND_CONNECT_TCP if abi >= 4 else 0,
                        _SCOPE_ABSTRACT_UNIX_AND_SIGNAL if abi >= 6 else 0)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return "not confined: " + _errno_text("landlock_create_ruleset")
    try:
        file_rights = _FS_WRITE_FILE | (_FS_TRUNCATE if abi >= 3 else 0)
        for path, rights in [(workdir, fs), *((device, file_rights) for device in _WRITABLE_DEVICES)]:
            try:
                parent = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                if path == workdir:
                    return f"not confined: cannot open {workdir}"
                continue
            try:
                rule = _PathBeneathAttr(rights, parent)
                if libc.syscall(_SYS_LANDLOCK_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_LANDLOCK_RULE_PATH_BENEATH),
                                ctypes.byref(rule), ctypes.c_uint32(0)) < 0 and path == workdir:
                    return "not confined: " + _errno_text("landlock_add_rule")
            finally:
                os.close(parent)
        if libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) < 0:
            return "not confined: " + _errno_text("landlock_restrict_self")
    finally:
        os.close(ruleset)
    extra = (", no TCP" if abi >= 4 else "") + (", no signals or abstract sockets outside" if abi >= 6 else "")
    return f"writes only in the working directory{extra} (Landlock ABI {abi})"


def enter_sandbox(workdir: str, data_limit: int | None = None) -> dict[str, str]:
    """Confine the calling process for good, as far as this kernel allows; returns what applied.

    Call it single-threaded, before importing anything that starts threads. Order matters: the
    namespace's id maps are written to /proc before Landlock forbids writing there.
    """
    applied = _limit_resources(data_limit)
    if not sys.platform.startswith("linux"):
        unavailable = f"not available on {sys.platform}"
        return {**applied, "privileges": unavailable, "network": unavailable, "filesystem": unavailable}
    try:
        libc = _libc()
    except OSError as exc:
        return {**applied, "network": f"not isolated: {exc}", "filesystem": f"not confined: {exc}"}
    no_new_privs = libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
    applied["privileges"] = "no new privileges" if no_new_privs else _errno_text("not dropped: prctl")
    applied["network"] = _isolate_network(libc)
    applied["filesystem"] = _landlock(libc, workdir) if no_new_privs else "not confined: needs no_new_privs"
    return applied


def _start_child(argv: list[str]) -> dict[str, str]:
    """``python -m hubcheck.isolation CHANNEL_FD PARENT_PID DATA_LIMIT``: the child's first steps."""
    die_with_parent(int(argv[1]))
    return enter_sandbox(os.getcwd(), int(argv[2]) or None)


if __name__ == "__main__":
    _SANDBOX = _start_child(sys.argv[1:])

# -- the rest of the child, and the parent -------------------------------------------------------

import json  # noqa: E402
import select  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import site  # noqa: E402
import stat  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator, Mapping, Sequence  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass, field, replace  # noqa: E402
from pathlib import Path  # noqa: E402
from types import FrameType  # noqa: E402
from typing import Any  # noqa: E402

from hubcheck.loader import ModelFormat, classify_files  # noqa: E402
from hubcheck.options import RunOptions  # noqa: E402
from hubcheck.registry import Check, available_checks  # noqa: E402
from hubcheck.results import (  # noqa: E402
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

DEFAULT_TIMEOUT_S = 900.0
"""Whole-run bound: generous for a large model on a 2-core CI runner, short enough to catch a hang."""

MEMORY_SHARE = 0.75
"""The default memory cap, as a share of the machine's memory (see :func:`default_memory_cap`)."""

POLL_S = 0.1
MAX_MESSAGE_BYTES = 64 << 20
"""A line on the channel longer than this is not hubcheck's (strings in results are bounded)."""


def machine_memory_bytes() -> int | None:
    """Physical memory, or the memory limit of our cgroup when that is lower (a container); None if unknown."""
    total: int | None = None
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    total = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if total is None:
        try:
            total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    limit = _cgroup_memory_limit()
    return min(total, limit) if limit else total


def _cgroup_memory_limit() -> int | None:
    """The lowest memory limit on our cgroup and its ancestors (cgroup v2 ``memory.max`` or v1
    ``memory.limit_in_bytes``); None when there is none or it cannot be read."""
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as membership:
            lines = membership.read().splitlines()
    except OSError:
        return None
    limits = []
    for line in lines:
        if line.count(":") < 2:
            continue
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            roots, name = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"], "memory.max"
        elif "memory" in controllers.split(","):
            roots, name = ["/sys/fs/cgroup/memory"], "memory.limit_in_bytes"
        else:
            continue
        parts = [part for part in path.split("/") if part]
        for root in roots:
            for depth in range(len(parts), -1, -1):
                try:
                    with open(os.path.join(root, *parts[:depth], name), encoding="ascii") as limit_file:
                        text = limit_file.read().strip()
                except OSError:
                    continue
                if text.isdigit() and int(text) < 1 << 60:  # "max" or v1's 2**63-ish mean no limit
                    limits.append(int(text))
    return min(limits) if limits else None


def default_memory_cap() -> int | None:
    """:data:`MEMORY_SHARE` of :func:`machine_memory_bytes`: what a model may hold unless told otherwise."""
    memory = machine_memory_bytes()
    return int(memory * MEMORY_SHARE) if memory else None


@dataclass(frozen=True)
class Limits:
    """Bounds of one isolated run. ``max_memory_bytes=None`` means no memory cap; the default is
    :func:`default_memory_cap`."""

    timeout_s: float | None = DEFAULT_TIMEOUT_S
    max_memory_bytes: int | None = field(default_factory=default_memory_cap)


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


NO_MEMORY_CAP = ("none", "off", "0")


def parse_memory_cap(text: str | None) -> int | None:
    """``--max-memory``: a size, ``none``/``off``/``0`` for no cap, or not given (``None``) for the default."""
    if text is None:
        return default_memory_cap()
    if text.strip().lower() in NO_MEMORY_CAP:
        return None
    return parse_size(text)


def describe_memory_cap(cap: int | None) -> str:
    if cap is None:
        return "none"
    default = default_memory_cap()
    memory = machine_memory_bytes()
    if cap == default and memory:
        return f"{_fraction_gib(cap)} resident (default: {MEMORY_SHARE:.0%} of {_fraction_gib(memory)})"
    return f"{_fraction_gib(cap)} resident"


def _data_limit(cap: int | None) -> int | None:
    """The child's hard RLIMIT_DATA: the machine's memory (or the cap, if higher). It never stops a model
    that the cap lets through; it makes the kernel refuse private memory the machine does not have,
    however fast a model asks for it between two polls of the cap."""
    memory = machine_memory_bytes()
    if cap is None or memory is None:
        return None
    return max(cap, memory)


# -- the child's environment -----------------------------------------------------------------------

_ENV_NAMES = frozenset({
    "PATH", "LANG", "LANGUAGE", "TZ", "LD_LIBRARY_PATH", "VIRTUAL_ENV",
    "PYTHONPATH", "PYTHONHOME", "PYTHONHASHSEED", "PYTHONUTF8", "PYTHONIOENCODING", "PYTHONDONTWRITEBYTECODE",
    "PYTHONWARNINGS", "PYTHONNOUSERSITE", "PYTHONUSERBASE",
    "OPENBLAS_NUM_THREADS", "XLA_FLAGS", "HUBCHECK_TF_LOGS",
})
_ENV_PREFIXES = ("LC_", "TF_", "OMP_", "MKL_", "KMP_", "CUDA_")
"""What the child inherits from hubcheck's environment: locale, TensorFlow and thread settings, and
where Python and its packages are. Everything else (tokens, credentials, proxies) stays behind."""


def child_environment(workdir: str, parent: Mapping[str, str] | None = None) -> dict[str, str]:
    """The allowlisted part of ``parent`` (default: ``os.environ``), with ``HOME`` and ``TMPDIR`` in
    ``workdir`` and hubcheck itself importable from any working directory."""
    source = os.environ if parent is None else parent
    env = {name: value for name, value in source.items() if name in _ENV_NAMES or name.startswith(_ENV_PREFIXES)}
    env.update(HOME=workdir, TMPDIR=workdir, TEMP=workdir, TMP=workdir)
    if site.ENABLE_USER_SITE and "PYTHONUSERBASE" not in env:
        env["PYTHONUSERBASE"] = site.getuserbase()  # packages installed with --user, found without $HOME
    root = str(Path(__file__).resolve().parent.parent)
    site_dirs = {str(Path(p).resolve()) for p in [*site.getsitepackages(), site.getusersitepackages()]}
    if root not in site_dirs:  # a source checkout: the child's cwd is no longer the checkout
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH", "")]))
    return env


def _private_directory() -> str:
    """A new directory of our own (mode 0700), named after this process: were it to be killed with
    SIGKILL, nothing would remove the directory, and its name says whose it was."""
    return tempfile.mkdtemp(prefix=f"hubcheck-child-{os.getpid()}-")


def _remove_directory(path: str) -> None:
    """Remove the child's directory, whatever modes it left on what it wrote there."""
    shutil.rmtree(path, ignore_errors=True)
    if os.path.lexists(path):
        for folder, _, _ in os.walk(path):
            try:
                os.chmod(folder, stat.S_IRWXU)
            except OSError:
                pass
        shutil.rmtree(path, ignore_errors=True)


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


def child_main(channel_fd: int, sandbox: Mapping[str, str]) -> None:
    """The child after its first steps: options arrive pickled on stdin, results leave on ``channel_fd``.

    The checks are the registered ones, or (when the caller named its own) the classes it named, imported
    here by module and name from the parent's import path."""
    import pickle

    path, options, specs, source_problem, parent_path = pickle.loads(sys.stdin.buffer.read())
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


_live_children: set[subprocess.Popen[bytes]] = set()
_live_lock = threading.RLock()  # re-entered by a signal handler in the main thread


def stop_all_children() -> int:
    """Kill every checking child this process started and has not reaped yet; returns how many.

    For callers that run several :func:`run_isolated` in worker threads (catalog mode): on Ctrl-C
    the main thread calls this, and each worker's run then ends at once with a partial report.
    Safe to call from a signal handler in the main thread.
    """
    with _live_lock:
        children = list(_live_children)
    alive = [child for child in children if child.returncode is None]
    for child in alive:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
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


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:  # stuck in the kernel (uninterruptible I/O): the report goes on
        pass


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


def run_isolated(
    path: Path,
    options: RunOptions,
    limits: Limits | None = None,
    progress: ProgressCallback | None = None,
    checks: Sequence[type[Check]] | None = None,
    source_problem: str | None = None,
) -> Report:
    """Like :func:`hubcheck.runner.run_checks`, in a sandboxed child process under ``limits``
    (default: :class:`Limits`, i.e. the default timeout and memory cap).

    Explicit ``checks`` reach the child by module and name (:class:`CheckSpec`), imported there with
    this process's import path; one the child cannot import is an ``error`` result of its own."""
    import pickle

    limits = Limits() if limits is None else limits
    started = time.perf_counter()
    known = available_checks() if checks is None else tuple(checks)
    # Ids name registered checks even when the caller runs a subset, as in run_checks.
    options.validate_ids({c.id for c in known} | {c.id for c in available_checks()})
    catalog = [c for c in known if options.wants(c.id)]
    specs = None if checks is None else [CheckSpec.of(c) for c in catalog]
    debug_logs = bool(os.environ.get("HUBCHECK_TF_LOGS"))
    workdir = _private_directory()
    sandbox: dict[str, str] = {
        "working_directory": "private temporary directory, also HOME and TMPDIR, removed afterwards",
        "environment": "allowlist (locale, PATH, Python, TensorFlow and thread settings)",
        "memory_cap": describe_memory_cap(limits.max_memory_bytes),
    }
    finished: dict[str, CheckResult] = {}
    running: str | None = None
    stop_reason: str | None = None
    process: subprocess.Popen[bytes] | None = None
    read_fd, write_fd = os.pipe()
    try:
        data_limit = _data_limit(limits.max_memory_bytes) or 0
        process = subprocess.Popen(
            [sys.executable, "-m", "hubcheck.isolation", str(write_fd), str(os.getpid()), str(data_limit)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=None if debug_logs else subprocess.DEVNULL,
            pass_fds=(write_fd,),
            cwd=workdir,
            env=child_environment(workdir),
            start_new_session=True,  # so the parent can kill the child and anything the model spawned
        )
        with _live_lock:
            _live_children.add(process)
        os.close(write_fd)
        write_fd = -1
        assert process.stdin is not None
        try:
            process.stdin.write(pickle.dumps((os.path.abspath(path), options, specs, source_problem,
                                              [] if specs is None else [p for p in sys.path if p])))
            process.stdin.close()
        except BrokenPipeError:  # it died at once (its parent check failed, or it was killed)
            pass
        messages = _Lines(read_fd)
        while stop_reason is None:
            for kind, payload in messages.read(POLL_S):
                if kind == "report":
                    try:
                        process.wait(30)
                    except subprocess.TimeoutExpired:
                        pass  # finished but will not exit: killed below, the report stands
                    return _with_sandbox(Report.from_json(payload), path, sandbox)
                if kind == "sandbox":
                    sandbox.update({str(k): str(v) for k, v in dict(payload).items()})
                elif kind == "start":
                    running = payload
                    if progress:
                        progress(payload, None)
                elif kind == "done":
                    result = CheckResult.from_json(payload)
                    finished[result.id], running = result, None
                    if progress:
                        progress(result.id, result)
            stop_reason = _limit_reached(process, limits, started)
            if stop_reason is None and messages.closed:
                stop_reason = messages.problem or _exit_reason(process)
    finally:
        if process is not None:
            if process.poll() is None:
                _kill_group(process)
            with _live_lock:
                _live_children.discard(process)
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)
        _remove_directory(workdir)
    # The parent never imports TensorFlow, so it tells the format from the file names only.
    source = classify_files(path)
    model_format = source.format.value if source is not None else ModelFormat.TF2_SAVED_MODEL.value
    report = partial_report(str(path), model_format, catalog, finished, running, stop_reason,
                            duration_s=time.perf_counter() - started, strict=options.strict)
    return _with_sandbox(report, path, sandbox)


def _with_sandbox(report: Report, path: Path, sandbox: Mapping[str, str]) -> Report:
    """The child's report as the caller named the model, with what confined the child."""
    named = with_source(report, str(path), {})
    return replace(named, environment={**named.environment, "sandbox": dict(sandbox)})


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


if __name__ == "__main__":
    child_main(int(sys.argv[1]), _SANDBOX)
