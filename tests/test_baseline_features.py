"""The feature functions equal librosa computed directly with the documented parameters."""
from __future__ import annotations

import librosa
import numpy as np
import pytest

from layerprobe.baselines.features import FEATURES, MIN_SAMPLES, logmel_stats, mfcc_stats


def _speechlike(seconds: float = 0.7, rate: int = 16000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 180 * t * (1 + t)) + 0.05 * rng.normal(size=t.size)).astype(np.float32)


def test_mfcc_stats_is_mean_and_std_of_mfcc_delta_delta2_with_25ms_10ms_frames():
    wave = _speechlike()
    mfcc = librosa.feature.mfcc(y=wave, sr=16000, n_mfcc=40, n_mels=40, n_fft=512, win_length=400, hop_length=160)
    frames = np.vstack([mfcc, librosa.feature.delta(mfcc), librosa.feature.delta(mfcc, order=2)])
    expected = np.concatenate([frames.mean(axis=1), frames.std(axis=1)])
    got = mfcc_stats(wave)
    assert got.dtype == np.float32 and got.shape == (240,) == (FEATURES["mfcc"].dim,)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


def test_logmel_stats_is_mean_and_std_of_log_mel_bands():
    wave = _speechlike(seed=1)
    mel = librosa.feature.melspectrogram(y=wave, sr=16000, n_fft=512, win_length=400, hop_length=160, n_mels=64)
    db = 10 * np.log10(np.maximum(mel, 1e-10))
    got = logmel_stats(wave)
    assert got.shape == (128,) == (FEATURES["logmel"].dim,)
    np.testing.assert_allclose(got, np.concatenate([db.mean(axis=1), db.std(axis=1)]), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("n_samples", [MIN_SAMPLES, 400, 1000])
def test_clips_the_encoder_accepts_are_never_too_short_for_deltas(n_samples):
    values = mfcc_stats(_speechlike()[:n_samples])
    assert values.shape == (240,) and np.isfinite(values).all()


def test_features_differ_between_different_sounds():
    assert not np.allclose(mfcc_stats(_speechlike(seed=0)), mfcc_stats(_speechlike(seed=0) * 0.1))


def test_egemaps_gives_88_functionals_when_opensmile_is_installed():
    pytest.importorskip("opensmile")
    from layerprobe.baselines.egemaps import egemaps_feature

    feature = egemaps_feature()
    values = feature.compute(_speechlike(seconds=1.0))
    assert values.shape == (feature.dim,) == (88,) and np.isfinite(values).all()
