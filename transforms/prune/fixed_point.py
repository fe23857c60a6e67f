"""Order-independent sums of float vectors, free of Beam. Floating-point addition depends on its
order, and Beam's partial sums come in whatever order the bundling gives; values added as
integers of 2^-32 give the same bits in any order. Values must be within [-1, 1] (unit vectors,
probabilities), so up to 2^31 of them sum without overflow."""

import numpy as np

SCALE = 2.0 ** 32


def to_fixed(values: np.ndarray) -> np.ndarray:
    """Floats in [-1, 1] as int64 multiples of 2^-32 (rounded to the nearest)."""
    return np.rint(np.asarray(values, dtype=np.float64) * SCALE).astype(np.int64)


def from_fixed(total: np.ndarray) -> np.ndarray:
    return total.astype(np.float64) / SCALE
