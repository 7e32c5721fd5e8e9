"""The checking child's confinement: its first steps, and the environment and directory it gets.

Standard library only, on purpose: the child runs :func:`die_with_parent` and
:func:`enter_sandbox` before it imports numpy (which starts threads: a process with
threads cannot enter a new user namespace, and Landlock confines only the calling
thread and the threads it starts afterwards). Each measure is best-effort; the
report says which applied (``environment.sandbox``); docs/security.md describes them.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import shutil
import signal
import site
import stat
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from hubcheck.limits import fraction_gib

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


_PR_SET_DUMPABLE = 4


def set_dumpable(dumpable: bool) -> None:
    """Whether processes of our user may ptrace this one or read its memory through /proc (best-effort).

    A catalog worker turns it off, so that a model running in one of its children cannot reach
    into the worker and thereby into the next model; each child turns it back on before its
    sandbox steps (a process that is not dumpable cannot write its own /proc files as a non-root user)."""
    try:
        _libc().prctl(_PR_SET_DUMPABLE, int(dumpable), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _limit_resources(data_limit: int | None) -> dict[str, str]:
    applied: dict[str, str] = {}
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        applied["core_dumps"] = "off"
    except (OSError, ValueError) as exc:
        applied["core_dumps"] = f"not limited: {exc}"
    if data_limit:
        applied.update(limit_data(data_limit))
    try:
        with open("/proc/self/oom_score_adj", "w", encoding="ascii") as adj:
            adj.write("1000")
        applied["oom_killer"] = "targets the checking process first (oom_score_adj 1000)"
    except OSError as exc:
        applied["oom_killer"] = f"not adjusted: {exc.strerror or exc}"
    return applied


def limit_data(data_limit: int) -> dict[str, str]:
    """Cap the process's private memory (RLIMIT_DATA) at ``data_limit`` bytes, or the hard limit if lower;
    returns what applied. Works at any time, from any thread (a child started before its options were
    known gets it with its request)."""
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_DATA)
        limit = data_limit if hard == resource.RLIM_INFINITY else min(hard, data_limit)
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
        return {"data_limit": f"{fraction_gib(limit)} of private memory (RLIMIT_DATA)"}
    except (OSError, ValueError) as exc:
        return {"data_limit": f"not set: {exc}"}


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


class GroupLeader(Protocol):
    """A child process that leads its own process group (a :class:`subprocess.Popen` started with a new
    session, or a :class:`hubcheck.workers.ForkedChild`)."""

    pid: int

    def wait(self, timeout: float | None = None) -> int: ...


def signal_group(child: GroupLeader) -> None:
    """SIGKILL to the child's process group, or to the child alone while a forked child has not made
    its group yet."""
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        try:
            os.kill(child.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    except PermissionError:
        pass


def kill_group(child: GroupLeader) -> None:
    """:func:`signal_group`, then reap the child, waiting at most 10 s."""
    signal_group(child)
    try:
        child.wait(10)
    except subprocess.TimeoutExpired:  # stuck in the kernel (uninterruptible I/O): the caller goes on
        pass


def private_directory() -> str:
    """A new directory of our own (mode 0700), named after this process: were it to be killed with
    SIGKILL, nothing would remove the directory, and its name says whose it was."""
    return tempfile.mkdtemp(prefix=f"hubcheck-child-{os.getpid()}-")


def remove_directory(path: str) -> None:
    """Remove the child's directory, whatever modes it left on what it wrote there."""
    shutil.rmtree(path, ignore_errors=True)
    if os.path.lexists(path):
        for folder, _, _ in os.walk(path):
            try:
                os.chmod(folder, stat.S_IRWXU)
            except OSError:
                pass
        shutil.rmtree(path, ignore_errors=True)


