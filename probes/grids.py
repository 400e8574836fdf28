"""The hyperparameter grid the C-tuned probes share (scikit-learn references and fast solvers alike)."""
from __future__ import annotations

import numpy as np

# Inverse regularisation strengths tried on the selection splits. On standardized embeddings
# (hundreds of dimensions, thousands of clips) the chosen C sits at 1e-3..1e-1; larger C only fits
# the training speakers harder.
C_GRID = tuple(float(c) for c in np.logspace(-4, 0, 5))
