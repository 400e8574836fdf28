"""Linear CKA (Kornblith et al. 2019, "Similarity of Neural Network Representations Revisited", ICML):
how alike two layers' representations of the same clips are, 0 (unrelated) to 1 (the same up to a
rotation and a scale).

With column-centred features X (n x p) and Y (n x q), linear CKA is
||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F), equal to HSIC with linear kernels normalized (the
centring-matrix form tests check it against). The feature-space form never builds an n x n kernel:
its products are p x q, so memory grows with the clips only through the layers themselves.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# CKA is computed on at most this many of the compared clips (a seeded draw): each pair of layers costs
# n * p * q, and every layer of every encoder is held at once (4,096 clips x 768 dims: 12.6 MB per layer
# as float32). At that size the estimate's sampling error is far below the differences a map shows.
CKA_CLIPS = 4096


def centered(X: np.ndarray) -> np.ndarray:
    """X with each column's mean removed (taken in float64), kept as float32: half the memory of every
    layer held at once; the products' float32 rounding moves CKA by about 1e-6."""
    X = np.asarray(X, dtype=np.float64)
    return (X - X.mean(axis=0)).astype(np.float32)


def linear_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Linear CKA of two representations of the same rows (n x p and n x q); 0 where either is constant."""
    return float(cka_matrix([centered(X), centered(Y)])[0, 1])


def cka_matrix(layers: Sequence[np.ndarray]) -> np.ndarray:
    """Linear CKA between every pair of centred representations of the same rows (see `centered`):
    a symmetric (L, L) matrix, 1 on the diagonal (0 for a constant layer, which resembles nothing)."""
    norms = np.array([_frobenius(X.T @ X) for X in layers])
    out = np.zeros((len(layers), len(layers)))
    for i, X in enumerate(layers):
        for j in range(i, len(layers)):
            denominator = norms[i] * norms[j]
            cross = _frobenius(layers[j].T @ X) ** 2
            out[i, j] = out[j, i] = cross / denominator if denominator > 0 else 0.0
    return out


def _frobenius(product: np.ndarray) -> float:
    return float(np.linalg.norm(product.astype(np.float64)))


def cka_rows(n_clips: int, seed: int, limit: int = CKA_CLIPS) -> np.ndarray:
    """The rows CKA is computed on: every row up to `limit`, else a seeded draw of `limit` rows, sorted."""
    if n_clips <= limit:
        return np.arange(n_clips)
    return np.sort(np.random.default_rng(seed).choice(n_clips, size=limit, replace=False))
