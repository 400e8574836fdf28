"""eGeMAPS v02 functionals (88 per clip) through openSMILE: the optional `egemaps` extra.

Eyben et al. (2016), "The Geneva Minimalistic Acoustic Parameter Set (GeMAPS) for Voice Research
and Affective Computing"; the extended set's functionals as the `opensmile` package computes them.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from layerprobe.baselines.features import SAMPLE_RATE, Feature
from layerprobe.errors import UserError

DIM = 88


@lru_cache(maxsize=1)
def _smile():
    try:
        import opensmile
    except ImportError:
        raise UserError("the egemaps feature needs openSMILE: pip install 'layerprobe[egemaps]'") from None
    return opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                           feature_level=opensmile.FeatureLevel.Functionals)


def egemaps(wave: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The 88 eGeMAPSv02 functionals of mono audio (openSMILE's default configuration) as float32.

    wave: mono audio. sample_rate: its rate (default 16 kHz).
    """
    return _smile().process_signal(np.asarray(wave, dtype=np.float32), sample_rate).to_numpy()[0].astype(np.float32)


def egemaps_feature() -> Feature:
    """The stored feature "egemaps"; refuses early with the install command when opensmile is absent."""
    _smile()
    params = {"sample_rate": SAMPLE_RATE, "feature_set": "eGeMAPSv02", "feature_level": "Functionals",
              "library": "opensmile"}
    return Feature("egemaps", egemaps, DIM, params)
