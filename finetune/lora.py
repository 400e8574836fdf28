"""lora: low-rank adapters (peft's LoraConfig: --lora-rank, --lora-alpha, --lora-targets, the attention's
q_proj and v_proj by default) inside a copy of the encoder; the adapters and the head train, no pretrained
weight does."""
from __future__ import annotations

from peft import LoraConfig, inject_adapter_in_model
from peft.tuners.tuners_utils import check_target_module_exists

from layerprobe.errors import UserError
from layerprobe.finetune.whole_encoder import EncoderClassifier, WholeEncoderRung


class Lora(WholeEncoderRung):
    name = "lora"
    trains = "the LoRA adapters of the --lora-targets modules and the linear head"

    def _config(self) -> LoraConfig:
        return LoraConfig(r=self.options.lora_rank, lora_alpha=self.options.lora_alpha,
                          target_modules=list(self.options.lora_targets), lora_dropout=0.0)

    @property
    def cnn_trains(self) -> bool:
        # peft's own rule for which modules --lora-targets names, applied to the CNN's.
        config = self._config()
        return any(check_target_module_exists(config, f"feature_extractor.{name}")
                   for name, _ in self.encoder.family.model.feature_extractor.named_modules() if name)

    def classifier(self) -> EncoderClassifier:
        model = EncoderClassifier(self.encoder, self.n_classes)
        try:
            inject_adapter_in_model(self._config(), model.encoder)
        except ValueError as error:
            raise UserError(f"--lora-targets {','.join(self.options.lora_targets)}: {str(error).splitlines()[0]}") \
                from None
        return model.train_only(lambda name: "lora_" in name)
