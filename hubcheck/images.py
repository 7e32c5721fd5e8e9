"""Deterministic probe images in [0, 1], the range the image API prescribes.

Example ``i`` of every batch depends only on ``(i, height, width)``, so row 0 of
a batch of 5 is the same image as the single row of a batch of 1. Checks rely
on that to compare calls (batch independence) without extra forward passes.
The kinds cycle so that a batch of 4 or more holds one of each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


KINDS = ("natural", "random", "black", "white")


def kind_of(index: int) -> str:
    return KINDS[index % len(KINDS)]


def _natural(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A smooth, photo-like picture: a sky-to-ground gradient, soft blobs and mild noise."""
    import numpy as np

    ys = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    xs = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    top, bottom = rng.uniform(0.2, 0.9, 3), rng.uniform(0.1, 0.6, 3)
    image = (1 - ys)[..., None] * top + ys[..., None] * bottom + 0 * xs[..., None]
    for _ in range(3):
        cy, cx = rng.uniform(0.2, 0.8, 2)
        radius = rng.uniform(0.08, 0.3)
        colour = rng.uniform(0.0, 1.0, 3)
        weight = np.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * radius**2))[..., None]
        image = image * (1 - weight) + colour * weight
    image = image + rng.normal(0.0, 0.02, image.shape)
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def make_image(index: int, height: int, width: int) -> np.ndarray:
    import numpy as np

    kind = kind_of(index)
    if kind == "black":
        return np.zeros((height, width, 3), np.float32)
    if kind == "white":
        return np.ones((height, width, 3), np.float32)
    rng = np.random.default_rng([index, height, width])
    if kind == "random":
        return rng.uniform(0.0, 1.0, (height, width, 3)).astype(np.float32)
    return _natural(rng, height, width)


def make_batch(batch: int, height: int, width: int, offset: int = 0) -> np.ndarray:
    """A float32 ``[batch, height, width, 3]`` array of probe images ``offset`` .. ``offset + batch - 1``.

    An offset continues the sequence in another batch of the same shape: with a batch size the
    model fixes below 4, batches at offsets 0, batch, 2 * batch, ... hold every kind between them,
    and image ``i`` sits at another position, among other companions, in the batch at offset 1.
    """
    import numpy as np

    return np.stack([make_image(offset + i, height, width) for i in range(batch)])
