"""Hand-made clip features: pure functions of decoded mono audio -> one float32 vector per clip.

Frames are 25 ms Hann windows every 10 ms (400 / 160 samples at 16 kHz), the framing speech
front ends (Kaldi, HTK) use; the FFT is zero-padded to 512 points. Every summary is the mean and
the standard deviation over frames, so clips of any length give vectors of one size.

A clip longer than LONG_SECONDS is computed from its audio blocks (Feature.stream) in segments of
SEGMENT_FRAMES frames that overlap by the deltas' reach (baselines/frames.py), so memory holds a
segment rather than the clip's whole spectrogram (0.4 MB per second of audio). The frames are those
of the whole clip; the mean and std are accumulated in float64 over segments instead of taken in
float32 over all frames, and MFCC's top_db floor comes from a first pass over the clip: the stored
vector equals the whole-clip one to rtol 1e-5 (tests/test_baseline_features.py).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import librosa
import numpy as np

from layerprobe.baselines.frames import framed_segments

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
LONG_SECONDS = 60.0  # clips above it are streamed: a minute's spectrogram is ~25 MB
SEGMENT_FRAMES = 6000  # frames per streamed segment: 60 s
# Overlap of streamed segments: the deltas reach +-4 frames, and the last segment keeps at least
# DELTA_WIDTH frames for the edge fit of the deltas' "interp" mode.
CONTEXT = DELTA_WIDTH - 1

BlockSource = Callable[[], Iterable[np.ndarray]]  # each call: a fresh pass over a clip's audio blocks


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
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(_mel_power(wave, sample_rate, n_mels)), n_mfcc=n_mfcc)
    return _mean_std(_with_deltas(mfcc, _delta_width(mfcc.shape[1])))


def mfcc_stats_streamed(blocks: BlockSource, sample_rate: int = SAMPLE_RATE, n_mfcc: int = 40, n_mels: int = 40
                        ) -> tuple[np.ndarray, int]:
    """mfcc_stats of a clip read twice from its blocks, in segments; returns (vector, samples).

    blocks: called once per pass, each time a fresh iterable of the clip's mono float32 blocks
    (at least DELTA_WIDTH frames in all). The first pass finds the loudest mel power, where
    power_to_db's 80 dB floor is set on the whole clip; the second computes the frames.
    """
    first = _Counted(blocks())
    peak = np.zeros(1, dtype=np.float32)
    for segment, _, _ in _segments(first, CONTEXT):
        peak = np.maximum(peak, _mel_power(segment, sample_rate, n_mels, center=False).max())
    floor = librosa.power_to_db(peak, top_db=None) - np.float32(80)
    moments = _Moments()
    for segment, lead, count in _segments(blocks(), CONTEXT):
        db = np.maximum(librosa.power_to_db(_mel_power(segment, sample_rate, n_mels, center=False), top_db=None),
                        floor)
        frames = _with_deltas(librosa.feature.mfcc(S=db, n_mfcc=n_mfcc), DELTA_WIDTH)
        moments.add(frames[:, lead:lead + count])
    return moments.mean_std(), first.samples


def logmel_stats(wave: np.ndarray, sample_rate: int = SAMPLE_RATE, n_mels: int = 64) -> np.ndarray:
    """Mean and std over time of log-mel band energies: float32 (2 * n_mels,), 128 by default.

    wave: mono audio, at least MIN_SAMPLES long. sample_rate: its rate (default 16 kHz).
    n_mels: mel bands from 0 Hz to sample_rate / 2 (default 64). Frames as in mfcc_stats (N_FFT
    512, 25 ms Hann window, 10 ms hop, centred); power mel spectrogram, 10 log10(max(power, 1e-10))
    without a top_db floor. Layout: [mean per band, std per band].
    """
    return _mean_std(librosa.power_to_db(_mel_power(wave, sample_rate, n_mels), ref=1.0, amin=1e-10, top_db=None))


def logmel_stats_streamed(blocks: BlockSource, sample_rate: int = SAMPLE_RATE, n_mels: int = 64
                          ) -> tuple[np.ndarray, int]:
    """logmel_stats of a clip read once from its blocks, in segments; returns (vector, samples).

    blocks: called once, a fresh iterable of the clip's mono float32 blocks.
    """
    counted = _Counted(blocks())
    moments = _Moments()
    for segment, _, _ in _segments(counted, 0):
        mel = _mel_power(segment, sample_rate, n_mels, center=False)
        moments.add(librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None))
    return moments.mean_std(), counted.samples


@lru_cache(maxsize=8)
def _mel_filters(sample_rate: int, n_mels: int) -> np.ndarray:
    """librosa's (Slaney) filterbank, built once per process rather than once per clip."""
    filters = librosa.filters.mel(sr=sample_rate, n_fft=N_FFT, n_mels=n_mels)
    filters.flags.writeable = False
    return filters


def _mel_power(wave: np.ndarray, sample_rate: int, n_mels: int, center: bool = True) -> np.ndarray:
    """librosa.feature.melspectrogram's power mel spectrogram, the same operations on a cached filterbank."""
    power = np.abs(librosa.stft(np.asarray(wave, dtype=np.float32), n_fft=N_FFT, hop_length=HOP_LENGTH,
                                win_length=WIN_LENGTH, window=WINDOW, center=center)) ** 2.0
    return np.einsum("...ft,mf->...mt", power, _mel_filters(sample_rate, n_mels), optimize=True)


def _segments(blocks: Iterable[np.ndarray], context: int):
    return framed_segments(blocks, n_fft=N_FFT, hop=HOP_LENGTH, frames=SEGMENT_FRAMES, context=context)


def _with_deltas(mfcc: np.ndarray, width: int) -> np.ndarray:
    return np.concatenate([mfcc, librosa.feature.delta(mfcc, width=width, order=1),
                           librosa.feature.delta(mfcc, width=width, order=2)])


def _delta_width(n_frames: int) -> int:
    if n_frames < 3:
        raise ValueError(f"deltas need at least 3 frames ({MIN_SAMPLES} samples), got {n_frames}")
    return min(DELTA_WIDTH, n_frames if n_frames % 2 else n_frames - 1)


def _mean_std(frames: np.ndarray) -> np.ndarray:
    """(features, time) -> float32 [mean over time, std over time]."""
    return np.concatenate([frames.mean(axis=1), frames.std(axis=1)]).astype(np.float32)


class _Counted:
    """Blocks passed through, counting their samples."""

    def __init__(self, blocks: Iterable[np.ndarray]) -> None:
        self._blocks = blocks
        self.samples = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        for block in self._blocks:
            self.samples += len(block)
            yield block


class _Moments:
    """Per feature, count, mean and sum of squared deviations of frames added a segment at a time
    (Chan et al.'s pairwise update, float64)."""

    def __init__(self) -> None:
        self.count = 0
        self.mean = self.squares = np.zeros(0)

    def add(self, frames: np.ndarray) -> None:
        """frames: (features, time)."""
        values = frames.astype(np.float64)
        n = values.shape[1]
        mean = values.mean(axis=1)
        squares = np.square(values - mean[:, None]).sum(axis=1)
        if self.count == 0:
            self.count, self.mean, self.squares = n, mean, squares
            return
        total = self.count + n
        delta = mean - self.mean
        self.squares = self.squares + squares + delta * delta * (self.count * n / total)
        self.mean = self.mean + delta * (n / total)
        self.count = total

    def mean_std(self) -> np.ndarray:
        return np.concatenate([self.mean, np.sqrt(self.squares / self.count)]).astype(np.float32)


@dataclass(frozen=True)
class Feature:
    """A named feature as stored in a cache: features/NAME (N, dim), `params` in the dataset's attrs.

    compute(wave) takes mono float32 audio at params["sample_rate"] and returns (dim,) float32.
    stream(blocks), where given, computes the same from a clip's audio blocks (see BlockSource) in
    bounded memory and returns (vector, samples); a feature without one decodes long clips whole.
    """

    name: str
    compute: Callable[[np.ndarray], np.ndarray]
    dim: int
    params: dict
    stream: Callable[[BlockSource], tuple[np.ndarray, int]] | None = None


def _frame_params() -> dict:
    return {"sample_rate": SAMPLE_RATE, "n_fft": N_FFT, "win_length": WIN_LENGTH, "hop_length": HOP_LENGTH,
            "window": WINDOW, "center": True, "summary": "mean,std over frames", "library": "librosa"}


FEATURES = {
    "mfcc": Feature("mfcc", mfcc_stats, 240, {
        **_frame_params(), "n_mfcc": 40, "n_mels": 40, "log": "power_to_db top_db=80", "dct": "ortho",
        "deltas": "mfcc,delta,delta2 (width 9)", "layout": "mean(mfcc,d,dd),std(mfcc,d,dd)"}, mfcc_stats_streamed),
    "logmel": Feature("logmel", logmel_stats, 128, {
        **_frame_params(), "n_mels": 64, "log": "10*log10(max(power,1e-10))", "layout": "mean(bands),std(bands)"},
        logmel_stats_streamed),
}
