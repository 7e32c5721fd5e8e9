"""The files of a SavedModel folder, read or judged without trusting them.

A model folder comes from a stranger: ``saved_model.pb`` may be a FIFO that blocks
whoever opens it, a symlink to ``/dev/zero`` that never ends, or a 40 GB file.
:func:`read_regular_file` is the only way hubcheck reads a model file itself: it
opens without blocking, insists on a regular file and reads at most a cap.

:func:`loader_files` lists what ``tf.saved_model.load`` will open on its own
(the proto, the fingerprint, the debug info, the checkpoint, the assets) so that
hubcheck can refuse a folder where one of them is not a regular file before
TensorFlow blocks on it, and report the ones that resolve outside the folder.

Nothing here imports TensorFlow.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from hubcheck.results import JSONValue

MAX_PROTO_BYTES = (1 << 31) - 1
"""protobuf cannot parse a message of 2 GiB or more, so no real ``saved_model.pb`` is larger."""

MAX_SMALL_FILE_BYTES = 64 << 20
"""Cap for the side files TensorFlow parses whole (fingerprint, debug info)."""

PROTO_NAMES = ("saved_model.pb", "saved_model.pbtxt")
SIDE_FILES = ("fingerprint.pb", "debug/saved_model_debug_info.pb")


class ModelFileError(Exception):
    """A model file hubcheck will not read; the message is one sentence for the user."""


def file_kind(mode: int) -> str:
    """What a stat mode is, in words (``"a FIFO"``, ``"a character device"``...)."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_regular_file(path: Path, limit: int, label: str | None = None) -> bytes:
    """The bytes of ``path``, which must be a regular file (symlinks followed) of at most ``limit`` bytes.

    Opens with ``O_NONBLOCK`` so that a FIFO cannot block the open, then judges the
    opened file itself (``fstat``), so a swap between the check and the read changes
    nothing. Raises :class:`ModelFileError`.
    """
    name = label or path.name
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ModelFileError(f"cannot open {name}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ModelFileError(f"{name} is {file_kind(info.st_mode)}, not a regular file; hubcheck does not read it")
        if info.st_size > limit:
            raise ModelFileError(f"{name} is {info.st_size} bytes, over the {limit}-byte limit for this file")
        chunks: list[bytes] = []
        remaining = limit + 1  # one byte more than allowed tells a file that grew while being read
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:
            raise ModelFileError(f"{name} grew past the {limit}-byte limit while being read")
        return data
    except OSError as exc:
        raise ModelFileError(f"cannot read {name}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


@dataclass(frozen=True)
class LoaderFile:
    """One file that ``tf.saved_model.load`` opens, and where it really is."""

    name: str  # relative to the model folder
    kind: str  # file_kind() of the target ("a regular file", "a FIFO (named pipe)", ...)
    resolved: str  # the real path after following symlinks
    outside: bool  # resolves outside the model folder

    def to_json(self) -> dict[str, JSONValue]:
        return {"name": self.name, "kind": self.kind, "resolved": self.resolved, "outside": self.outside}


MAX_LISTED_FILES = 10_000
"""More files than this under variables/ and assets/ are not listed one by one (the scan stays bounded)."""


def loader_files(folder: Path, asset_names: tuple[str, ...] = ()) -> list[LoaderFile]:
    """Every file ``tf.saved_model.load`` may open in ``folder`` that exists, judged without opening it.

    The proto, ``fingerprint.pb``, the debug info, everything under ``variables/``
    and ``assets/``, and the asset names the proto declares (which may point
    elsewhere; see :func:`asset_problem`).
    """
    root = Path(os.path.realpath(folder))
    names: list[str] = [*PROTO_NAMES, *SIDE_FILES]
    for sub in ("variables", "assets"):
        base = folder / sub
        if base.is_dir():
            for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
                rel = Path(dirpath).relative_to(folder)
                names += [str(rel / entry) for entry in sorted(filenames + dirnames)
                          if not (Path(dirpath) / entry).is_dir() or (Path(dirpath) / entry).is_symlink()]
                if len(names) > MAX_LISTED_FILES:
                    break
    names += [f"assets/{name}" for name in asset_names if is_plain_relative(name)]
    found: list[LoaderFile] = []
    seen: set[str] = set()
    for name in names[:MAX_LISTED_FILES]:
        if name in seen:
            continue
        seen.add(name)
        path = folder / name
        if not os.path.lexists(path):
            continue
        resolved = os.path.realpath(path)
        try:
            kind = file_kind(os.stat(path).st_mode)
        except OSError as exc:
            kind = f"unreadable ({exc.strerror})"
        found.append(LoaderFile(name, kind, resolved, not _inside(Path(resolved), root)))
    return found


def is_plain_relative(name: str) -> bool:
    """A relative path with no ``..``, no empty or absolute parts and no NUL: what an asset name must be."""
    if not name or "\x00" in name or name.startswith(("/", "\\")) or os.path.isabs(name):
        return False
    parts = name.replace("\\", "/").split("/")
    return all(part not in ("", ".", "..") for part in parts)


def asset_problem(folder: Path, name: str) -> str | None:
    """Why the asset file ``name`` (from ``asset_file_def``) is not a regular file inside ``folder/assets``, or None.

    TensorFlow joins ``folder/assets`` with ``name``; an absolute ``name`` drops the
    folder, ``..`` climbs out of it and a symlink may point anywhere.
    """
    if not is_plain_relative(name):
        return f"the asset file name {name[:200]!r} is not a plain relative path inside assets/"
    # Inside the model folder's own assets/: a symlinked assets/ folder points elsewhere as a whole.
    assets = Path(os.path.realpath(folder)) / "assets"
    target = folder / "assets" / name
    resolved = Path(os.path.realpath(target))
    if not _inside(resolved, assets):
        return f"assets/{name[:200]} resolves to {str(resolved)[:200]}, outside the model's assets/ folder"
    try:
        mode = os.stat(target).st_mode
    except OSError as exc:
        return f"assets/{name[:200]} cannot be read ({exc.strerror})"
    if not stat.S_ISREG(mode):
        return f"assets/{name[:200]} is {file_kind(mode)}, not a regular file"
    return None


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


__all__ = [
    "LoaderFile", "MAX_PROTO_BYTES", "MAX_SMALL_FILE_BYTES", "ModelFileError", "SIDE_FILES", "asset_problem", "file_kind",
    "is_plain_relative", "loader_files", "read_regular_file",
]
