"""The forward of the rungs that train inside the encoder (lora, full): a copy of the whole encoder, padding
guard included (a padded batch computes what each clip alone would), its last hidden state mean-pooled over
each clip's real frames, and a linear head."""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from layerprobe.extract.encoder import Encoder
from layerprobe.finetune.heads import mean_frames


class EncoderClassifier(nn.Module):
    """A copy of `encoder`'s family (its model a submodule, so its weights are this module's) and a head."""

    def __init__(self, encoder: Encoder, n_classes: int) -> None:
        super().__init__()
        # One deepcopy of the family copies the model and the guard's hooks on it together.
        self.family = copy.deepcopy(encoder.family)
        self.encoder = self.family.model
        self.head = nn.Linear(encoder.info.hidden_size, n_classes)

    def forward(self, waves: list[np.ndarray], device: torch.device) -> torch.Tensor:
        lengths = torch.tensor([len(wave) for wave in waves])
        hidden = self.family.hidden_states(self.family.inputs(waves, device), lengths)[-1]
        if getattr(self.encoder.config, "do_stable_layer_norm", False):
            # transformers records a pre-norm encoder's last hidden state before its final layer norm; the
            # classification head of transformers' own models reads last_hidden_state, after it.
            hidden = self.encoder.encoder.layer_norm(hidden)
        return self.head(mean_frames(hidden.float(), self.family.frames(lengths)))

    def train_only(self, trains) -> EncoderClassifier:
        """Only the encoder parameters whose name `trains(name)` accepts require gradients (the head's always)."""
        for name, parameter in self.encoder.named_parameters():
            parameter.requires_grad_(bool(trains(name)))
        cnn = self.encoder.feature_extractor
        if not any(parameter.requires_grad for parameter in cnn.parameters()):
            # Frozen weights alone are not enough: in training mode transformers' feature encoder marks its input
            # as requiring gradients unless told it is frozen, and autograd then runs back through the whole CNN
            # (half of a CPU step). This is what the models' own freeze_feature_encoder() does.
            cnn._freeze_parameters()
        return self
