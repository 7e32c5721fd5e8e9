"""Numeric comparisons the checks share."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def looks_like_probabilities(values: np.ndarray, tolerance: float) -> bool:
    """Every row is non-negative and sums to 1 (within ``tolerance``)."""
    import numpy as np

    if values.ndim != 2 or values.shape[1] < 2 or not np.all(np.isfinite(values)):
        return False
    return bool(np.all(values >= 0) and np.all(np.abs(values.sum(axis=1) - 1.0) <= tolerance))


def allclose(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> bool:
    """NaN-aware closeness with ``atol`` scaled to the output's magnitude (see Tolerances)."""
    import numpy as np

    if actual.shape != expected.shape:
        return False
    finite = expected[np.isfinite(expected)]
    scale = max(1.0, float(np.max(np.abs(finite)))) if finite.size else 1.0
    return bool(np.allclose(actual, expected, rtol=rtol, atol=atol * scale, equal_nan=True))


def max_abs_difference(a: np.ndarray, b: np.ndarray) -> float:
    import numpy as np

    with np.errstate(invalid="ignore"):
        diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    diff = diff[np.isfinite(diff)]
    return float(diff.max()) if diff.size else 0.0


__all__ = ["allclose", "looks_like_probabilities", "max_abs_difference"]
