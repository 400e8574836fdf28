"""Hand-made clip features: pure functions of decoded mono audio -> one float32 vector per clip.

Frames are 25 ms Hann windows every 10 ms (400 / 160 samples at 16 kHz), the framing speech
front ends (Kaldi, HTK) use; the FFT is zero-padded to 512 points. Every summary is the mean and
the standard deviation over frames, so clips of any length give vectors of one size.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import librosa
import numpy as np

SAMPLE_RATE = 16000
N_FFT = 512
WIN_LENGTH = 400  # 25 ms at 16 kHz
HOP_LENGTH = 160  # 10 ms at 16 kHz
WINDOW = "hann"
DELTA_WIDTH = 9  # librosa's default: the regression spans +-4 frames
# Deltas need at least 3 frames; with librosa's centred frames that is 2 hops of audio (20 ms),
# shorter than the 400-sample receptive field of wav2vec2-style encoders, so a clip the encoder
# accepts always has features.
MIN_SAMPLES = 2 * HOP_LENGTH


def mfcc_stats(wave: np.ndarray, sample_rate: int = SAMPLE_RATE, n_mfcc: int = 40, n_mels: int = 40) -> np.ndarray:
    """Mean and std over time of MFCC, delta and delta-delta: float32 (6 * n_mfcc,), 240 by default.

    wave: mono audio, at least MIN_SAMPLES long. sample_rate: its rate (default 16 kHz; the
    frame sizes are in samples, so they are 25/10 ms only at 16 kHz). n_mfcc: cepstral
    coefficients, c0 included (default 40). n_mels: mel bands of the filterbank the DCT is taken
    over (default 40, as in Kaldi's high-resolution MFCC). Frames: N_FFT 512, WIN_LENGTH 400 (Hann),
    HOP_LENGTH 160, centred with librosa's default padding; power spectrum, log with librosa's
    power_to_db (top_db 80), DCT-II orthonormal. Deltas: librosa.feature.delta with width 9, or the
    largest odd width the clip's frame count allows. Layout: [mean(mfcc), mean(delta),
    mean(delta2), std(mfcc), std(delta), std(delta2)].
    """
    mfcc = librosa.feature.mfcc(y=np.asarray(wave, dtype=np.float32), sr=sample_rate, n_mfcc=n_mfcc,
                                n_mels=n_mels, n_fft=N_FFT, win_length=WIN_LENGTH, hop_length=HOP_LENGTH,
                                window=WINDOW)
    width = _delta_width(mfcc.shape[1])
    frames = np.concatenate([mfcc, librosa.feature.delta(mfcc, width=width, order=1),
                             librosa.feature.delta(mfcc, width=width, order=2)])
    return _mean_std(frames)


def logmel_stats(wave: np.ndarray, sample_rate: int = SAMPLE_RATE, n_mels: int = 64) -> np.ndarray:
    """Mean and std over time of log-mel band energies: float32 (2 * n_mels,), 128 by default.

    wave: mono audio, at least MIN_SAMPLES long. sample_rate: its rate (default 16 kHz).
    n_mels: mel bands from 0 Hz to sample_rate / 2 (default 64). Frames as in mfcc_stats (N_FFT
    512, 25 ms Hann window, 10 ms hop, centred); power mel spectrogram, 10 log10(max(power, 1e-10))
    without a top_db floor. Layout: [mean per band, std per band].
    """
    mel = librosa.feature.melspectrogram(y=np.asarray(wave, dtype=np.float32), sr=sample_rate, n_fft=N_FFT,
                                         win_length=WIN_LENGTH, hop_length=HOP_LENGTH, window=WINDOW, n_mels=n_mels)
    return _mean_std(librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None))


def _delta_width(n_frames: int) -> int:
    if n_frames < 3:
        raise ValueError(f"deltas need at least 3 frames ({MIN_SAMPLES} samples), got {n_frames}")
    return min(DELTA_WIDTH, n_frames if n_frames % 2 else n_frames - 1)


def _mean_std(frames: np.ndarray) -> np.ndarray:
    """(features, time) -> float32 [mean over time, std over time]."""
    return np.concatenate([frames.mean(axis=1), frames.std(axis=1)]).astype(np.float32)


@dataclass(frozen=True)
class Feature:
    """A named feature as stored in a cache: features/NAME (N, dim), `params` in the dataset's attrs.

    compute(wave) takes mono float32 audio at params["sample_rate"] and returns (dim,) float32.
    """

    name: str
    compute: Callable[[np.ndarray], np.ndarray]
    dim: int
    params: dict


def _frame_params() -> dict:
    return {"sample_rate": SAMPLE_RATE, "n_fft": N_FFT, "win_length": WIN_LENGTH, "hop_length": HOP_LENGTH,
            "window": WINDOW, "center": True, "summary": "mean,std over frames", "library": "librosa"}


FEATURES = {
    "mfcc": Feature("mfcc", mfcc_stats, 240, {
        **_frame_params(), "n_mfcc": 40, "n_mels": 40, "log": "power_to_db top_db=80", "dct": "ortho",
        "deltas": "mfcc,delta,delta2 (width 9)", "layout": "mean(mfcc,d,dd),std(mfcc,d,dd)"}),
    "logmel": Feature("logmel", logmel_stats, 128, {
        **_frame_params(), "n_mels": 64, "log": "10*log10(max(power,1e-10))", "layout": "mean(bands),std(bands)"}),
}
