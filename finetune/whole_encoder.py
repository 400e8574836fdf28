"""The rungs that train inside the encoder (lora, full): a copy of the whole encoder, padding guard included (a
padded batch computes what each clip alone would), its last hidden state mean-pooled over each clip's real
frames, and a linear head.

A frozen CNN feature encoder gives a clip the same frames every epoch (it has no dropout; SpecAugment, dropout
and layer drop all act above it), so they are computed once per clip and stored on disk (a FrameStore, as top-k's
bottom, within --bottom-gb), and every step starts from them: the same model and forward as the peer's, less the
CNN's fifth of a CPU step. Past --bottom-gb the CNN runs every step instead.
"""
from __future__ import annotations

import copy
import sys
from abc import abstractmethod

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from layerprobe.extract.encoder import Encoder
from layerprobe.extract.encoders.wav2vec2 import Wav2Vec2Family
from layerprobe.finetune.frame_store import GB, FrameStore
from layerprobe.finetune.frozen_frames import batches_entering
from layerprobe.finetune.heads import mean_frames
from layerprobe.finetune.rung import Rung

class StoredCNN(nn.Module):
    """In place of a frozen CNN feature encoder: the stored frames of the batch's clips (`rows`, set for each
    forward), each clip's real frames, then zeros. What the CNN gives a padded frame is read by nothing: the
    encoder zeroes padded frames before its positional convolution, and attention and the pooling skip them."""

    def __init__(self, store: FrameStore) -> None:
        super().__init__()
        self.store = store
        self.rows: np.ndarray | None = None

    def forward(self, input_values: torch.Tensor) -> torch.Tensor:
        frames = torch.from_numpy(self.store.padded(self.rows)).to(input_values.device)
        return frames.transpose(1, 2)  # (batch, channels, time), as the CNN gives it


class EncoderClassifier(nn.Module):
    """A copy of `encoder`'s family (its model a submodule, so its weights are this module's) and a head."""

    def __init__(self, encoder: Encoder, n_classes: int) -> None:
        super().__init__()
        # One deepcopy of the family copies the model and the guard's hooks on it together.
        self.family = copy.deepcopy(encoder.family)
        self.encoder = self.family.model
        self.head = nn.Linear(encoder.info.hidden_size, n_classes)

    def forward(self, waves: list[np.ndarray], device: torch.device, rows: np.ndarray | None = None) -> torch.Tensor:
        """Logits of the clips `waves`; `rows`, their rows in the stored CNN frames, where they are stored."""
        if isinstance(self.encoder.feature_extractor, StoredCNN):
            self.encoder.feature_extractor.rows = rows
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

    def read_cnn_from(self, store: FrameStore) -> EncoderClassifier:
        """The frozen CNN's frames read from `store` instead of computed."""
        self.encoder.feature_extractor = StoredCNN(store)
        return self


class WholeEncoderRung(Rung):
    """A rung that trains a copy of the whole encoder; its subclass says which of its parameters train."""

    model_types = Wav2Vec2Family.model_types
    cnn_store: FrameStore | None = None

    @property
    @abstractmethod
    def cnn_trains(self) -> bool:
        """Whether any CNN feature encoder weight trains (then its frames cannot be stored)."""

    @abstractmethod
    def classifier(self) -> EncoderClassifier:
        """A fresh EncoderClassifier on the CPU, only the rung's parameters requiring gradients."""

    def prepare(self) -> None:
        if self.cnn_trains:
            return
        cnn_width = self.encoder.family.model.config.conv_dim[-1]
        frames = self.encoder.family.frames(torch.tensor([len(wave) for wave in self.waves])).numpy()
        size = FrameStore.size(frames, cnn_width)
        if size > self.options.bottom_gb * GB:
            if self.progress:
                tqdm.write(f"{self.name}: the frozen CNN's frames would take {size / GB:.3g} GB on disk, more than "
                           f"--bottom-gb {self.options.bottom_gb:g}: the CNN runs every step instead", file=sys.stderr)
            return
        path = self.work / f"{self.name}-cnn-{self.encoder.info.fingerprint[:16]}.npy"
        projection = self.encoder.family.model.feature_projection  # what receives the CNN's frames
        self.cnn_store = FrameStore.ensure(path, frames, cnn_width,
                                           lambda: batches_entering(self.encoder, projection, self.waves,
                                                                    desc=f"{self.name}: frozen CNN",
                                                                    progress=self.progress),
                                           self.options.bottom_gb)

    def build(self) -> nn.Module:
        model = self.classifier()
        if self.cnn_store is not None:
            model.read_cnn_from(self.cnn_store)
        return model.to(self.device)

    def logits(self, model: nn.Module, rows: np.ndarray) -> torch.Tensor:
        return model([self.waves[row] for row in rows], self.device, rows)
