"""The content hash: one SHA-256 over a model's files, independent of how they were packed."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

__all__ = ["CHUNK", "EMPTY_HASH", "content_hash"]

CHUNK = 1 << 20
EMPTY_HASH = f"sha256:{hashlib.sha256().hexdigest()}"  # content_hash() of an empty folder


def _tree_files(top: Path) -> list[tuple[bytes, Path]]:
    """(relative POSIX path as bytes, absolute path) of every regular file, following links once.

    Iterative (a deep tree cannot exhaust the stack); unreadable folders are skipped, as os.walk does.
    """
    found: list[tuple[bytes, Path]] = []
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[str, str]] = [(os.fspath(top), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            info = os.stat(folder)
            if (info.st_dev, info.st_ino) in seen:  # a link loop, or a folder linked twice
                continue
            seen.add((info.st_dev, info.st_ino))
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError:
            continue
        for entry in entries:
            relative = prefix + entry.name
            try:
                if entry.is_dir():
                    stack.append((entry.path, relative + "/"))
                elif stat.S_ISREG(entry.stat().st_mode):
                    found.append((os.fsencode(relative), Path(entry.path)))
                # FIFOs, sockets, dangling links: nothing TensorFlow would read as a file
            except OSError:
                continue
    found.sort(key=lambda item: item[0])
    return found


def content_hash(path: str | os.PathLike[str]) -> str:
    """``"sha256:<hex>"`` of a model's files, independent of mtimes, permissions and archive packing.

    For each regular file under ``path`` in byte order of its relative POSIX path: the path's length
    (8 bytes, big-endian), the path (UTF-8), the file's size (8 bytes, big-endian), its bytes.
    Directories contribute only through their files. A single file hashes as a tree holding only it,
    under its own name. A directory and a ``.tar.gz`` of it (made with ``-C dir .``) hash the same.
    Raises ``OSError`` when a file cannot be read.
    """
    top = Path(path)
    digest = hashlib.sha256()
    files = [(os.fsencode(top.name), top)] if top.is_file() else _tree_files(top)
    for relative, file in files:
        with open(file, "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            digest.update(len(relative).to_bytes(8, "big"))
            digest.update(relative)
            digest.update(size.to_bytes(8, "big"))
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"
