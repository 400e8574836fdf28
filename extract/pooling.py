"""Poolings: how a clip's frames of one layer become one vector (docs/design.md: "a pooling").

Each pooling has two halves. On the device, `summarize` reduces the real (unpadded) frames of every
segment in a batch to a few vectors. On the CPU, an accumulator takes those summaries segment by
segment (`update`) and, once the clip's last segment is in, gives its pooled value (`finalize`). A
clip that fits one segment is pooled exactly as the one-clip reference; a chunked clip's summaries
combine exactly (up to rounding) into what the whole clip's frames would give.

std is the population standard deviation. Each segment gives its mean and centred sum of squares
(two passes over its frames, on the device, in float32), and segments are merged with Chan et al.'s
pairwise update in float64. Why not (count, sum, sum of squares): E[x^2] - E[x]^2 cancels where a
dimension's mean dwarfs its spread, which encoder hidden states have (a few outlier dimensions).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from layerprobe.errors import UserError

if TYPE_CHECKING:  # the summaries are torch code, but naming the poolings must not load torch
    import torch

POOLINGS = ("mean", "std", "max")


class MeanPooling:
    """Mean over real frames; segments merged weighted by their frame counts."""

    name = "mean"

    @staticmethod
    def summarize(states: torch.Tensor, valid: torch.Tensor, frames: torch.Tensor) -> list[torch.Tensor]:
        """states (batch, time, hidden) float32, valid (batch, time, 1) 0/1 float, frames (batch,)."""
        return [(states * valid).sum(1) / frames[:, None]]

    def __init__(self) -> None:
        self.count = 0
        self.mean: np.ndarray | None = None

    def update(self, count: int, summary: list[np.ndarray]) -> None:
        (mean,) = summary
        if self.mean is None:
            self.mean, self.count = mean.astype(np.float64), count
            return
        total = self.count + count
        self.mean += (mean - self.mean) * (count / total)
        self.count = total

    def finalize(self) -> np.ndarray:
        return self.mean.astype(np.float32)


class StdPooling:
    """Population standard deviation over real frames (see the module docstring for the merge)."""

    name = "std"

    @staticmethod
    def summarize(states: torch.Tensor, valid: torch.Tensor, frames: torch.Tensor) -> list[torch.Tensor]:
        mean = (states * valid).sum(1) / frames[:, None]
        centred = (states - mean[:, None]) * valid
        return [mean, (centred * centred).sum(1)]

    def __init__(self) -> None:
        self.count = 0
        self.mean: np.ndarray | None = None
        self.squares: np.ndarray | None = None

    def update(self, count: int, summary: list[np.ndarray]) -> None:
        mean, squares = (value.astype(np.float64) for value in summary)
        if self.mean is None:
            self.count, self.mean, self.squares = count, mean, squares
            return
        total = self.count + count
        delta = mean - self.mean
        self.squares += squares + delta * delta * (self.count * count / total)
        self.mean += delta * (count / total)
        self.count = total

    def finalize(self) -> np.ndarray:
        return np.sqrt(self.squares / self.count).astype(np.float32)


class MaxPooling:
    """Elementwise maximum over real frames; segments merged by a running maximum."""

    name = "max"

    @staticmethod
    def summarize(states: torch.Tensor, valid: torch.Tensor, frames: torch.Tensor) -> list[torch.Tensor]:
        return [states.masked_fill(valid == 0, float("-inf")).amax(1)]

    def __init__(self) -> None:
        self.peak: np.ndarray | None = None

    def update(self, count: int, summary: list[np.ndarray]) -> None:
        (peak,) = summary
        self.peak = peak.copy() if self.peak is None else np.maximum(self.peak, peak)

    def finalize(self) -> np.ndarray:
        return self.peak.astype(np.float32)


_BY_NAME = {pooling.name: pooling for pooling in (MeanPooling, StdPooling, MaxPooling)}


def pooling(name: str) -> type[MeanPooling | StdPooling | MaxPooling]:
    """The pooling class called `name` (one of POOLINGS)."""
    return _BY_NAME[name]


def parse_poolings(text: str | Sequence[str]) -> tuple[str, ...]:
    """"std,max" or ["std", "max"] -> ("mean", "std", "max"): known names in POOLINGS order; mean
    is always among them, since layers/NN (the mean) is what every reader of a cache expects."""
    names = [n.strip() for n in text.split(",")] if isinstance(text, str) else list(text)
    unknown = [n for n in names if n not in POOLINGS]
    if unknown or not names:
        raise UserError(f"--pooling {','.join(names)}: choose from {', '.join(POOLINGS)} (comma-separated)")
    return tuple(n for n in POOLINGS if n in names or n == "mean")
