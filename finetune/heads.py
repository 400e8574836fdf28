"""The heads every rung trains: a linear layer over mean-pooled frames, or over a learned softmax-weighted sum
of every layer's mean-pooled frames (the SUPERB downstream)."""
from __future__ import annotations

import torch
from torch import nn


def mean_frames(hidden: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """(batch, hidden) means of each clip's first `frames` frames of (batch, time, hidden): padding never counts."""
    valid = (torch.arange(hidden.shape[1], device=hidden.device) < frames.to(hidden.device)[:, None])
    valid = valid.to(hidden.dtype)[..., None]
    return (hidden * valid).sum(dim=1) / frames.to(hidden.device, hidden.dtype)[:, None]


class WeightedSumHead(nn.Module):
    """Softmax weights over the layers (all equal at the start), then a linear layer: (batch, layers, hidden)
    pooled states in, (batch, classes) logits out."""

    def __init__(self, n_layers: int, hidden: int, n_classes: int) -> None:
        super().__init__()
        self.layer_logits = nn.Parameter(torch.zeros(n_layers))
        self.linear = nn.Linear(hidden, n_classes)

    def weights(self) -> torch.Tensor:
        """The layers' softmax weights, summing to 1."""
        return torch.softmax(self.layer_logits, dim=0)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.einsum("l,blh->bh", self.weights(), pooled))
