"""The feature functions equal librosa computed directly with the documented parameters; the streamed
computation of long clips frames them exactly as the whole clip and equals it to rtol 1e-5."""
from __future__ import annotations

import librosa
import numpy as np
import pytest

from layerprobe.baselines import features
from layerprobe.baselines.features import FEATURES, MIN_SAMPLES, logmel_stats, mfcc_stats
from layerprobe.baselines.frames import framed_segments


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


@pytest.mark.parametrize("seconds", [0.02, 0.31, 1.0])
def test_mfcc_and_logmel_equal_librosas_own_calls_bit_for_bit(seconds):
    """The cached filterbank changes no bit of what librosa.feature.mfcc / melspectrogram give."""
    wave = _speechlike(seconds, seed=2)
    mfcc = librosa.feature.mfcc(y=wave, sr=16000, n_mfcc=40, n_mels=40, n_fft=512, win_length=400, hop_length=160)
    width = min(9, mfcc.shape[1] - (mfcc.shape[1] + 1) % 2)
    frames = np.vstack([mfcc, librosa.feature.delta(mfcc, width=width), librosa.feature.delta(mfcc, width=width, order=2)])
    np.testing.assert_array_equal(mfcc_stats(wave), np.concatenate([frames.mean(1), frames.std(1)]).astype(np.float32))
    mel = librosa.feature.melspectrogram(y=wave, sr=16000, n_fft=512, win_length=400, hop_length=160, n_mels=64)
    db = librosa.power_to_db(mel, top_db=None)
    np.testing.assert_array_equal(logmel_stats(wave), np.concatenate([db.mean(1), db.std(1)]).astype(np.float32))


@pytest.mark.parametrize(("n_samples", "block"), [(16000, 1000), (16000 + 159, 77), (4 * 160 * 10, 4096), (500, 64)])
def test_framed_segments_give_each_centred_frame_once_with_its_context(n_samples, block):
    wave = np.random.default_rng(0).standard_normal(n_samples).astype(np.float32)
    whole = librosa.util.frame(np.pad(wave, 256), frame_length=512, hop_length=160)  # librosa's centred frames
    blocks = [wave[start:start + block] for start in range(0, n_samples, block)]
    seen, first = [], 0
    for samples, lead, count in framed_segments(blocks, n_fft=512, hop=160, frames=10, context=3):
        frames = librosa.util.frame(samples, frame_length=512, hop_length=160)
        assert lead == min(first, 3) and frames.shape[1] <= lead + count + 3
        np.testing.assert_array_equal(frames, whole[:, first - lead:first - lead + frames.shape[1]])
        seen.append(frames[:, lead:lead + count])
        first += count
    np.testing.assert_array_equal(np.hstack(seen), whole)


@pytest.mark.parametrize("name", ["mfcc", "logmel"])
def test_a_long_clip_streamed_in_segments_equals_the_whole_clip(name, monkeypatch):
    monkeypatch.setattr(features, "SEGMENT_FRAMES", 300)  # 20 s in 7 segments
    wave = _speechlike(20.0, seed=3)
    wave[:4000] = 0  # silence: the MFCC floor 80 dB under the clip's peak applies
    feature = FEATURES[name]
    streamed, samples = feature.stream(lambda: (wave[start:start + 5000] for start in range(0, len(wave), 5000)))
    assert samples == len(wave) and streamed.dtype == np.float32
    np.testing.assert_allclose(streamed, feature.compute(wave), rtol=1e-5, atol=1e-5)


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
