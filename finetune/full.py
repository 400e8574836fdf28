"""full: every weight of a copy of the encoder trains, but the CNN feature encoder's, frozen by default as the
Hugging Face recipe does (--train-feature-encoder trains it too), and the head."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from layerprobe.finetune.rung import Rung
from layerprobe.finetune.whole_encoder import EncoderClassifier


class Full(Rung):
    name = "full"
    trains = "every encoder weight but the CNN feature encoder's (unless --train-feature-encoder), and the head"
    model_types = ("wav2vec2", "hubert", "wavlm", "data2vec-audio", "unispeech", "unispeech-sat")

    def build(self) -> nn.Module:
        frozen = () if self.options.train_feature_encoder else ("feature_extractor.",)
        model = EncoderClassifier(self.encoder, self.n_classes)
        return model.train_only(lambda name: not name.startswith(frozen)).to(self.device)

    def logits(self, model: nn.Module, rows: np.ndarray) -> torch.Tensor:
        return model([self.waves[row] for row in rows], self.device)
