"""The model top-k trains: the top blocks of a wav2vec2-family encoder and a head, fed the frozen bottom's stored
frames. One class per way the family's blocks are called: most take (hidden, attention_mask=...) alone; WavLM's
also hand a relative position bias from block to block."""
from __future__ import annotations

import copy

import torch
from torch import nn
from transformers.masking_utils import create_bidirectional_mask

from layerprobe.finetune.heads import mean_frames


class TopBlocks(nn.Module):
    """The trained top blocks (with layer drop while training), the final layer norm of a pre-norm (stable layer
    norm) encoder, the mean over each clip's frames, a linear layer."""

    def __init__(self, blocks: nn.ModuleList, final_norm: nn.Module | None, config, n_classes: int) -> None:
        super().__init__()
        self.blocks, self.final_norm, self.config = blocks, final_norm, config
        self.head = nn.Linear(config.hidden_size, n_classes)

    def forward(self, hidden: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        valid = torch.arange(hidden.shape[1], device=hidden.device) < frames.to(hidden.device)[:, None]
        hidden = self.run_blocks(hidden, valid)
        if self.final_norm is not None:
            hidden = self.final_norm(hidden)
        return self.head(mean_frames(hidden, frames))

    def run_blocks(self, hidden: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """The blocks over (batch, time, hidden) frames, `valid` (batch, time) marking each clip's real ones."""
        mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden, attention_mask=valid)
        for block in self.blocks:
            if self.training and self.config.layerdrop > 0 and torch.rand([]) < self.config.layerdrop:
                continue
            hidden = block(hidden, attention_mask=mask)
        return hidden


class WavLMTopBlocks(TopBlocks):
    """WavLM's first block computes a relative position bias from the sequence's length alone and every later
    block reuses it (each gating it by its own input); here the frozen first block's attention computes it for the
    trained ones, which transformers' WavLM encoder never drops (layer drop spares block 0)."""

    def __init__(self, blocks: nn.ModuleList, final_norm: nn.Module | None, config, n_classes: int, *,
                 first: int, first_attention: nn.Module) -> None:
        super().__init__(blocks, final_norm, config, n_classes)
        self.first = first
        # Only its rel_attn_embed is read; a frozen copy, so that the model is whole in itself.
        self.bias_from = copy.deepcopy(first_attention).requires_grad_(False) if first else None

    def run_blocks(self, hidden: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        bias = None
        if self.bias_from is not None:
            batch, time = valid.shape
            # As WavLMAttention makes it when handed none: (batch x heads, time, time).
            bias = self.bias_from.compute_bias(time, time).unsqueeze(0).repeat(batch, 1, 1, 1).view(-1, time, time)
        for index, block in enumerate(self.blocks, start=self.first):
            if self.training and index > 0 and self.config.layerdrop > 0 and torch.rand([]) < self.config.layerdrop:
                continue
            hidden, bias = block(hidden, attention_mask=valid, position_bias=bias)
        return hidden


def top_blocks(encoder: nn.Module, first: int, config, n_classes: int) -> TopBlocks:
    """Copies of `encoder`'s blocks from `first` up (and a pre-norm encoder's final layer norm) and a new head."""
    final_norm = copy.deepcopy(encoder.layer_norm) if getattr(config, "do_stable_layer_norm", False) else None
    blocks = copy.deepcopy(encoder.layers[first:])
    if config.model_type == "wavlm":
        return WavLMTopBlocks(blocks, final_norm, config, n_classes, first=first,
                              first_attention=encoder.layers[0].attention)
    return TopBlocks(blocks, final_norm, config, n_classes)
