"""full: every weight of a copy of the encoder trains, but the CNN feature encoder's, frozen by default as the
Hugging Face recipe does (--train-feature-encoder trains it too), and the head."""
from __future__ import annotations

from layerprobe.finetune.whole_encoder import EncoderClassifier, WholeEncoderRung


class Full(WholeEncoderRung):
    name = "full"
    trains = "every encoder weight but the CNN feature encoder's (unless --train-feature-encoder), and the head"

    @property
    def cnn_trains(self) -> bool:
        return self.options.train_feature_encoder

    def classifier(self) -> EncoderClassifier:
        frozen = () if self.options.train_feature_encoder else ("feature_extractor.",)
        return EncoderClassifier(self.encoder, self.n_classes).train_only(lambda name: not name.startswith(frozen))
