"""frozen-head: the encoder frozen; a learned softmax-weighted sum of every layer's mean-pooled frames and a
linear head train (the SUPERB downstream). The pooled layers are the cache's own computation
(Encoder.summarize), made once per clip, so an epoch costs a head's forward only."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from layerprobe.finetune.heads import WeightedSumHead
from layerprobe.finetune.rung import Rung
from layerprobe.results import ALL_LAYERS, Source

# Clips per frozen forward while the layers are pooled.
POOL_BATCH = 8


class FrozenHead(Rung):
    name = "frozen-head"
    trains = "the layer weights and the linear head; no encoder weight"

    @property
    def source(self) -> int | str:
        return Source(ALL_LAYERS).to_json()

    def prepare(self) -> None:
        pooled = []
        for start in tqdm(range(0, len(self.waves), POOL_BATCH), desc="frozen-head: pooling layers", unit="batch",
                          disable=not self.progress):
            summaries, _ = self.encoder.summarize(self.waves[start:start + POOL_BATCH])
            pooled += summaries["mean"]
        self.pooled = torch.from_numpy(np.concatenate(pooled)).to(self.device)  # (clips, layers, hidden)

    def build(self) -> nn.Module:
        _, n_layers, hidden = self.pooled.shape
        return WeightedSumHead(n_layers, hidden, self.n_classes).to(self.device)

    def logits(self, model: nn.Module, rows: np.ndarray) -> torch.Tensor:
        return model(self.pooled[torch.from_numpy(rows).to(self.device)])
