"""What an all-layers probe reads: every chosen layer at once, each matrix as the cache gave it."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LayerStack(Sequence):
    """The (n_clips, D) matrices of the layers `indices` (hidden_states indices), in that order: a
    sequence of matrices, so a head over every layer reads it as it reads a list, and no (n, L, D)
    copy of the layers is made."""

    indices: tuple[int, ...]
    matrices: tuple[np.ndarray, ...]

    def __len__(self) -> int:
        return len(self.matrices)

    def __getitem__(self, position):
        return self.matrices[position]
