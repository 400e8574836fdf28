"""top-k: the top --unfreeze transformer blocks and the head train; the CNN feature encoder and every block
below stay frozen. What the frozen bottom gives the first trained block does not change, so it is computed
once per clip (frame-level, in a FrameStore on disk) and every epoch runs the top blocks only.

The one difference from the loop a user writes around the whole model, with the bottom's parameters frozen:
the frozen bottom runs once, in eval mode, so no dropout (nor layer drop, nor SpecAugment's time masking, which
the wav2vec2 model applies below the blocks) acts in the frozen layers. The trained blocks drop out as the
peer's do, layer drop included.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from layerprobe.errors import UserError
from layerprobe.extract.encoders.wav2vec2 import Wav2Vec2Family
from layerprobe.finetune.frame_store import FrameStore
from layerprobe.finetune.frozen_frames import batches_entering
from layerprobe.finetune.rung import Rung
from layerprobe.finetune.top_blocks import top_blocks

class TopK(Rung):
    name = "top-k"
    trains = "the top --unfreeze transformer blocks (and a pre-norm encoder's final layer norm) and the linear head"
    model_types = Wav2Vec2Family.model_types

    def prepare(self) -> None:
        model = self.encoder.family.model
        blocks = model.encoder.layers
        if self.options.unfreeze > len(blocks):
            raise UserError(f"--unfreeze {self.options.unfreeze}: {self.encoder.info.model} has {len(blocks)} blocks")
        self.first = len(blocks) - self.options.unfreeze
        lengths = torch.tensor([len(wave) for wave in self.waves])
        self.frames = self.encoder.family.frames(lengths).numpy()
        path = self.work / f"bottom-{self.encoder.info.fingerprint[:16]}-block{self.first:02d}.npy"
        block = model.encoder.layers[self.first]  # what receives the frozen bottom's frames
        self.store = FrameStore.ensure(path, self.frames, self.encoder.info.hidden_size,
                                       lambda: batches_entering(self.encoder, block, self.waves,
                                                                desc="top-k: frozen bottom", progress=self.progress),
                                       self.options.bottom_gb)

    def build(self) -> nn.Module:
        model = self.encoder.family.model
        return top_blocks(model.encoder, self.first, model.config, self.n_classes).to(self.device)

    def logits(self, model: nn.Module, rows: np.ndarray) -> torch.Tensor:
        hidden = torch.from_numpy(self.store.padded(rows)).to(self.device)
        return model(hidden, torch.from_numpy(self.frames[rows]))
