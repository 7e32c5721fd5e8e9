"""The checking child of a one-model run, started before hubcheck's command line is even imported.

``hubcheck MODEL`` spends about 0.2 s importing its command line (click, rich, the reporters, the
check classes) and building its options before it starts the checking child, which then spends
1.5 s importing TensorFlow. Neither needs the other for that: the ``hubcheck`` command
(:mod:`hubcheck.launch`) calls :func:`start` first, which starts the child at once when the command
line looks like one model's check, and the first isolated run adopts it (:func:`take`) instead of
starting its own. On two cores the child's TensorFlow import then overlaps the parent's start-up.

The adopted child is the child :mod:`hubcheck.isolation` would start (both start it with
:func:`hubcheck.child.spawn`): ``python -m hubcheck.child`` with the allowlisted environment, in a private directory, dying with its parent, in its own process
group, confined before it imports anything; only the memory limit arrives later, with its request.
A child that no run adopts (the command turned out to be ``--help``, ``export``, an in-process run,
several models) is killed and its directory removed as soon as that is known (:func:`discard`), and
at the latest when hubcheck exits. This module imports the standard library, :mod:`hubcheck.child`
and :mod:`hubcheck.sandbox` only.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field

from hubcheck.child import spawn
from hubcheck.sandbox import kill_group, private_directory, remove_directory

# Words and options after which the command is not one isolated model check.
_SUBCOMMANDS = frozenset({"inspect", "merge", "doc", "export"})
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")  # hubcheck.sources' own
_OTHER_RUNS = frozenset({
    "-h", "--help", "--version", "--list-checks", "--explain", "--in-process", "--catalog", "--jobs", "--shard",
})


@dataclass
class EarlyChild:
    """A started checking child: its process (stdin takes the request), its private directory, the read
    end of its result channel, and when it was started (``time.perf_counter``: the run's time counts from there)."""

    process: subprocess.Popen[bytes]
    workdir: str
    channel: int
    started: float = field(default_factory=time.perf_counter)


_early: EarlyChild | None = None


def looks_like_one_model(argv: list[str], environment: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """Whether ``argv`` (without the program name) is plausibly ``hubcheck [check] MODEL [options]``
    run isolated: one existing model folder or archive, none of the options or commands that run
    otherwise. A wrong guess costs a child that is killed unused, never a different run."""
    if environment.get("HUBCHECK_IN_PROCESS", "").strip().lower() in ("1", "true", "t", "yes", "y", "on"):
        return False  # what click reads as --in-process
    words = argv[1:] if argv[:1] == ["check"] else argv
    if not words or words[0] in _SUBCOMMANDS:
        return False
    if any(word.split("=", 1)[0] in _OTHER_RUNS for word in words):
        return False
    # A model is a directory or an archive; the values of options such as --doc or --output are files.
    models = [word for word in words if not word.startswith("-")
              and (os.path.isdir(word) or (word.lower().endswith(_ARCHIVE_SUFFIXES) and os.path.isfile(word)))]
    return len(models) == 1


def start(argv: list[str]) -> None:
    """Start the child for the command line ``argv`` if it looks like one model's isolated check."""
    global _early
    if _early is not None or not sys.platform.startswith("linux") or not looks_like_one_model(argv):
        return
    workdir = private_directory()
    read_fd, write_fd = os.pipe()
    try:
        process = spawn(write_fd, workdir)
    except OSError:
        os.close(read_fd)
        remove_directory(workdir)
        return
    finally:
        os.close(write_fd)
    _early = EarlyChild(process, workdir, read_fd)
    atexit.register(discard)


def take() -> EarlyChild | None:
    """The started child, now the caller's to watch, reap and clean up after; None if there is none."""
    global _early
    early, _early = _early, None
    if early is not None and early.process.poll() is not None:  # it died already: start another
        _clean_up(early)
        return None
    return early


def discard() -> None:
    """Kill the started child, if no run adopted it, and remove its directory."""
    early = take()
    if early is not None:
        _clean_up(early)


def _clean_up(early: EarlyChild) -> None:
    if early.process.returncode is None:  # a reaped child's pid may be someone else's by now
        kill_group(early.process)
    if early.process.stdin is not None:
        early.process.stdin.close()
    os.close(early.channel)
    remove_directory(early.workdir)


__all__ = ["EarlyChild", "discard", "looks_like_one_model", "start", "take"]
