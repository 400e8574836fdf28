"""Whisper's encoder: a log-mel spectrogram of a fixed window (30 s), two convolutions (the second
of stride 2), positions, transformer blocks.

It takes no attention mask: every clip is padded with silence to the whole window, and its real
frames attend to the padding's frames too. So a clip's frames depend on the window, not on the
batch: encoding it alone or in any batch gives the same frames, and a mean over "real frames only"
pools the frames that cover the clip (ceil(samples / hop) spectrogram frames, halved by the stride),
never the padding's. A clip longer than the window is encoded in segments (extract/batching.py).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from transformers import WhisperFeatureExtractor

from layerprobe.extract.encoders.family import Family


class WhisperFamily(Family):
    """The encoder of a transformers WhisperModel (its decoder is not kept)."""

    name = "whisper"
    model_types = ("whisper",)
    feature_extractor_class = WhisperFeatureExtractor
    default_preprocessing = "16 kHz, 30 s window, no normalization"

    def __init__(self, model: nn.Module, feature_extractor) -> None:
        super().__init__(model.get_encoder(), feature_extractor)
        self._convs = (self.model.conv1, self.model.conv2)
        spectrogram_frames = self.model.config.max_source_positions
        for conv in self._convs:
            spectrogram_frames *= conv.stride[0]
        self.window_samples = spectrogram_frames * feature_extractor.hop_length

    @classmethod
    def default_feature_extractor(cls, config) -> WhisperFeatureExtractor:
        return WhisperFeatureExtractor(feature_size=config.num_mel_bins)

    @property
    def receptive_field(self) -> int:
        """One spectrogram frame's samples (n_fft, 400: 25 ms)."""
        return int(self.feature_extractor.n_fft)

    def truncate(self, deepest: int) -> None:
        encoder = self.model
        if deepest >= len(encoder.layers):
            return
        encoder.layers = encoder.layers[:deepest]
        # The final LayerNorm belongs to the last block's hidden state; the whole model reports
        # block `deepest`'s un-normalized.
        encoder.layer_norm = nn.Identity()

    def frames(self, lengths: torch.Tensor) -> torch.Tensor:
        frames = -(-lengths // self.feature_extractor.hop_length)  # spectrogram frames that cover the clip
        for conv in self._convs:
            frames = (frames + 2 * conv.padding[0] - conv.kernel_size[0]) // conv.stride[0] + 1
        return frames

    def inputs(self, waves: list[np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
        # The shell normalized each whole clip already (do_normalize), so the extractor must not
        # normalize its segments again.
        features = self.feature_extractor(waves, sampling_rate=self.sample_rate, return_tensors="pt",
                                          padding="max_length", max_length=self.window_samples,
                                          do_normalize=False, device=str(device))
        return {"input_features": features["input_features"].to(device)}

    def hidden_states(self, inputs: dict[str, torch.Tensor], lengths: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.model(**inputs, output_hidden_states=True).hidden_states
