"""The wav2vec2 family (wav2vec2, HuBERT, WavLM, data2vec-audio): raw waveform in, a conv feature
encoder, transformer blocks; and its padding guard, which keeps padding out of every computation
that mixes time steps, so a padded batch changes nothing.

Attention already ignores padded frames when given a mask, and HF zeroes them before the
positional convolution. Two places remain where padding leaks into real frames:
- wav2vec2-base style encoders (feat_extract_norm="group") normalize the first conv layer's
  output over time; in a padded batch that statistic includes the padding (layer-12 cosine 0.957
  to the unpadded value even with attention_mask passed);
- data2vec-audio stacks several positional conv layers; only the first one's input is zeroed, so
  the later ones read non-zero padding where the unpadded clip has the conv's zero padding.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn
from transformers import Wav2Vec2FeatureExtractor

from layerprobe.extract.encoders.family import Family


class MaskedGroupNorm(nn.Module):
    """Drop-in for an nn.GroupNorm on (batch, channels, time) whose statistics skip padded frames
    (which it outputs as zeros).

    `lengths` (valid frames per clip) is set by PaddingGuard for each batch; None means the
    wrapped GroupNorm unchanged.
    """

    def __init__(self, norm: nn.GroupNorm):
        super().__init__()
        self.norm = norm
        self.lengths: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.lengths is None:
            return self.norm(x)
        # Each clip's real frames through the native kernel (one pass; masking the whole batch by hand cost
        # a tenth of a LoRA step on the CPU). The padded frames are left at zero: the convolutions after this
        # one have no padding, so a real output frame never reads them.
        out = torch.zeros_like(x)
        for row, length in enumerate(self.lengths.tolist()):
            # Statistics in float32 even under autocast: a float16 variance loses quiet clips.
            real = x[row:row + 1, :, :length].float()
            out[row:row + 1, :, :length] = nn.functional.group_norm(
                real, self.norm.num_groups, self.norm.weight, self.norm.bias, self.norm.eps).to(x.dtype)
        return out


class PaddingGuard:
    """Installs the fixes above on a model; `with guard.batch(lengths):` arms them for one forward."""

    def __init__(self, model: nn.Module):
        self.model = model
        self._frames: torch.Tensor | None = None
        first = model.feature_extractor.conv_layers[0]
        self._group_norm = None
        if isinstance(getattr(first, "layer_norm", None), nn.GroupNorm):
            self._group_norm = first.layer_norm = MaskedGroupNorm(first.layer_norm)
        self._first_conv = first.conv
        for layer in getattr(model.encoder.pos_conv_embed, "layers", []):
            layer.register_forward_pre_hook(self._zero_padded_frames)

    @contextlib.contextmanager
    def batch(self, sample_lengths: torch.Tensor) -> Iterator[None]:
        """Arm the guard for a batch with these real lengths in samples."""
        kernel, stride = self._first_conv.kernel_size[0], self._first_conv.stride[0]
        self._frames = self.model._get_feat_extract_output_lengths(sample_lengths)
        if self._group_norm is not None:
            self._group_norm.lengths = (sample_lengths - kernel) // stride + 1
        try:
            yield
        finally:
            self._frames = None
            if self._group_norm is not None:
                self._group_norm.lengths = None

    def _zero_padded_frames(self, module: nn.Module, args: tuple) -> tuple | None:
        if self._frames is None:
            return None
        hidden = args[0]  # (batch, channels, time)
        valid = torch.arange(hidden.shape[-1], device=hidden.device) < self._frames.to(hidden.device)[:, None]
        return (hidden * valid[:, None, :].to(hidden.dtype),) + args[1:]


class Wav2Vec2Family(Family):
    """A conv feature encoder over the raw waveform, then transformer blocks (hidden_states[0] is their input)."""

    name = "wav2vec2"
    # unispeech and unispeech-sat share the wav2vec2 encoder and are exact under its padding guard;
    # wav2vec2-conformer is not (batched rows moved to cosine 0.47 on a tiny config), so it stays out.
    model_types = ("wav2vec2", "hubert", "wavlm", "data2vec-audio", "unispeech", "unispeech-sat")
    feature_extractor_class = Wav2Vec2FeatureExtractor
    default_preprocessing = "16 kHz, zero-mean unit-variance normalization"

    def __init__(self, model: nn.Module, feature_extractor) -> None:
        super().__init__(model, feature_extractor)
        self._guard = PaddingGuard(model)

    @classmethod
    def default_feature_extractor(cls, config) -> Wav2Vec2FeatureExtractor:
        return Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True,
                                        return_attention_mask=getattr(config, "feat_extract_norm", "layer") == "layer")

    @property
    def receptive_field(self) -> int:
        """Samples the conv feature encoder needs for one output frame (400 for wav2vec2)."""
        field, jump = 1, 1
        for kernel, stride in zip(self.model.config.conv_kernel, self.model.config.conv_stride):
            field += (kernel - 1) * jump
            jump *= stride
        return field

    def truncate(self, deepest: int) -> None:
        encoder = self.model.encoder
        if deepest >= len(encoder.layers):
            return
        encoder.layers = encoder.layers[:deepest]
        if getattr(self.model.config, "do_stable_layer_norm", False):
            # Pre-norm encoders apply a final LayerNorm after the last block; after truncation that
            # would land on block `deepest`, whose hidden state the full model reports un-normalized.
            encoder.layer_norm = nn.Identity()

    def frames(self, lengths: torch.Tensor) -> torch.Tensor:
        return self.model._get_feat_extract_output_lengths(lengths)

    def inputs(self, waves: list[np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
        lengths = torch.tensor([len(w) for w in waves])
        batch = torch.zeros(len(waves), int(lengths.max()))
        for row, wave in enumerate(waves):
            batch[row, : len(wave)] = torch.from_numpy(wave)
        sample_mask = (torch.arange(batch.shape[1]) < lengths[:, None]).long()
        return {"input_values": batch.to(device), "attention_mask": sample_mask.to(device)}

    def hidden_states(self, inputs: dict[str, torch.Tensor], lengths: torch.Tensor) -> tuple[torch.Tensor, ...]:
        with self._guard.batch(lengths):
            return self.model(**inputs, output_hidden_states=True).hidden_states
