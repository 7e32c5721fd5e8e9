"""How much one checking child may take: the whole-run timeout and the memory cap, and their defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

DEFAULT_TIMEOUT_S = 900.0
"""Whole-run bound: generous for a large model on a 2-core CI runner, short enough to catch a hang."""

MEMORY_SHARE = 0.75
"""The default memory cap, as a share of the machine's memory (see :func:`default_memory_cap`)."""



def fraction_gib(size: int) -> str:
    return f"{size / 2**30:.1f} GiB"


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
        return f"{fraction_gib(cap)} resident (default: {MEMORY_SHARE:.0%} of {fraction_gib(memory)})"
    return f"{fraction_gib(cap)} resident"


def data_limit(cap: int | None) -> int | None:
    """The child's hard RLIMIT_DATA: the machine's memory (or the cap, if higher). It never stops a model
    that the cap lets through; it makes the kernel refuse private memory the machine does not have,
    however fast a model asks for it between two polls of the cap."""
    memory = machine_memory_bytes()
    if cap is None or memory is None:
        return None
    return max(cap, memory)


