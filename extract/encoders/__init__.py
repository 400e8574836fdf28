"""Encoder families, registered by config.model_type: one file each (family.py says what one holds)."""
from __future__ import annotations

from layerprobe.errors import UserError
from layerprobe.extract.encoders.family import Family
from layerprobe.extract.encoders.wav2vec2 import Wav2Vec2Family
from layerprobe.extract.encoders.whisper import WhisperFamily

FAMILIES: tuple[type[Family], ...] = (Wav2Vec2Family, WhisperFamily)
_BY_MODEL_TYPE = {model_type: family for family in FAMILIES for model_type in family.model_types}


def family_for(model_type: str, model_id: str) -> type[Family]:
    """The family registered for `model_type`, or a UserError naming the families there are."""
    if model_type in _BY_MODEL_TYPE:
        return _BY_MODEL_TYPE[model_type]
    known = "; ".join(f"{family.name} ({', '.join(family.model_types)})" for family in FAMILIES)
    raise UserError(f"{model_id} is a {model_type} model; layerprobe reads the encoder families {known}")
