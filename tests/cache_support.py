"""What the source tests share about the cache."""

from __future__ import annotations

import hashlib
from pathlib import Path


def leftovers(cache: Path) -> list[str]:
    """Locks and temporary folders: a finished resolve, good or bad, leaves none."""
    if not cache.exists():
        return []
    return sorted(p.name for p in cache.rglob("*") if p.name.endswith((".lock", ".tmp")) or ".tmp-" in p.name)


def sha1(text: str) -> str:
    """tensorflow_hub's cache key of a handle."""
    return hashlib.sha1(text.encode()).hexdigest()
