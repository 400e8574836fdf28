"""StandardScaler's statistics and transform, a block of rows at a time: no fit or prediction ever holds a
float64 copy of all its rows, nor allocates one (fresh pages of hundreds of MB cost the kernel more
than the arithmetic on them).
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

# Rows standardized at a time: float64 blocks of 4096 x 768 are 25 MB, so no fit ever holds a float64
# copy of all its rows (84,000 rows at Speech-Commands size would be 516 MB).
BLOCK_ROWS = 4096


def scaling(X: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """StandardScaler's (mean_, scale_) of X[rows], in float64, in one pass a block of rows at a time;
    a constant feature keeps scale 1.

    The sums are taken about the first block's mean, so the variance (mean square minus squared mean
    about that point) does not cancel when a feature's mean is large beside its spread.
    """
    shift = X[rows[:BLOCK_ROWS]].mean(axis=0, dtype=np.float64)
    total, squares = np.zeros(X.shape[1]), np.zeros(X.shape[1])
    for start in range(0, len(rows), BLOCK_ROWS):
        block = X[rows[start:start + BLOCK_ROWS]] - shift
        total += block.sum(axis=0)
        squares += np.einsum("ij,ij->j", block, block)
    offset = total / len(rows)
    scale = np.sqrt(np.maximum(squares / len(rows) - offset * offset, 0.0))
    scale[scale == 0] = 1.0
    return shift + offset, scale


def standardized_blocks(X: np.ndarray, rows: np.ndarray, mean: np.ndarray, scale: np.ndarray,
                        dtype: type = np.float64) -> Iterator[tuple[slice, np.ndarray]]:
    """(positions in rows, (X[rows[positions]] - mean) / scale), BLOCK_ROWS rows at a time.

    dtype: the blocks' (default float64). float32 (the path solvers' precision) works on the gathered
    rows in place with no float64 temporary: the mean is subtracted as a float32 pair (its rounding
    and the remainder), so the result stays within float32 rounding of float64's even where a
    feature's mean is large beside its spread.
    """
    if dtype == np.float64:
        for start in range(0, len(rows), BLOCK_ROWS):
            part = slice(start, start + BLOCK_ROWS)
            block = X[rows[part]] - mean
            block /= scale
            yield part, block
        return
    high = mean.astype(dtype)
    low, inverse = (mean - high).astype(dtype), (1.0 / scale).astype(dtype)
    for start in range(0, len(rows), BLOCK_ROWS):
        part = slice(start, start + BLOCK_ROWS)
        block = X[rows[part]].astype(dtype, copy=False)
        block -= high
        block -= low
        block *= inverse
        yield part, block
