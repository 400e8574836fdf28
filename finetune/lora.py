"""lora: low-rank adapters (peft's LoraConfig: --lora-rank, --lora-alpha, --lora-targets, the attention's
q_proj and v_proj by default) inside a copy of the encoder; the adapters and the head train, no pretrained
weight does."""
from __future__ import annotations

import numpy as np
import torch
from peft import LoraConfig, inject_adapter_in_model
from torch import nn

from layerprobe.errors import UserError
from layerprobe.finetune.rung import Rung
from layerprobe.finetune.whole_encoder import EncoderClassifier


class Lora(Rung):
    name = "lora"
    trains = "the LoRA adapters of the --lora-targets modules and the linear head"
    model_types = ("wav2vec2", "hubert", "wavlm", "data2vec-audio", "unispeech", "unispeech-sat")

    def build(self) -> nn.Module:
        model = EncoderClassifier(self.encoder, self.n_classes)
        config = LoraConfig(r=self.options.lora_rank, lora_alpha=self.options.lora_alpha,
                            target_modules=list(self.options.lora_targets), lora_dropout=0.0)
        try:
            inject_adapter_in_model(config, model.encoder)
        except ValueError as error:
            raise UserError(f"--lora-targets {','.join(self.options.lora_targets)}: {str(error).splitlines()[0]}") \
                from None
        return model.train_only(lambda name: "lora_" in name).to(self.device)

    def logits(self, model: nn.Module, rows: np.ndarray) -> torch.Tensor:
        return model([self.waves[row] for row in rows], self.device)
