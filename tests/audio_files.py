"""Write test audio, good and broken, with soundfile; any test may import these."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def sine(n_samples: int, sample_rate: int, frequency: float = 440.0, amplitude: float = 0.5) -> np.ndarray:
    """float64 sine of n_samples, starting at phase 0."""
    return amplitude * np.sin(2 * np.pi * frequency * np.arange(n_samples) / sample_rate)


def write_tone(
    path: str | Path,
    sample_rate: int = 16000,
    duration: float = 0.5,
    channels: int = 1,
    subtype: str | None = None,
    frequency: float = 440.0,
) -> np.ndarray:
    """A sine on every channel; format from the extension, subtype soundfile's default if None.

    Returns the written signal, (frames, channels) float64.
    """
    tone = sine(round(duration * sample_rate), sample_rate, frequency)
    signal = np.repeat(tone[:, None], channels, axis=1)
    sf.write(path, signal, sample_rate, subtype=subtype)
    return signal


def write_signal(path: str | Path, signal: np.ndarray, sample_rate: int, subtype: str | None = None) -> None:
    """Any (frames,) or (frames, channels) signal, e.g. opposite-phase stereo or one holding NaN."""
    sf.write(path, signal, sample_rate, subtype=subtype)


def write_truncated(path: str | Path, keep_fraction: float = 0.5, **tone) -> None:
    """A tone file (write_tone's arguments) whose bytes are cut after keep_fraction of the file."""
    write_tone(path, **tone)
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: int(len(data) * keep_fraction)])


def write_header_only_wav(path: str | Path, sample_rate: int = 16000) -> None:
    """A valid WAV header declaring no audio frames."""
    sf.write(path, np.zeros((0, 1)), sample_rate, format="WAV", subtype="PCM_16")


def write_random_bytes(path: str | Path, n_bytes: int = 4096, seed: int = 0) -> None:
    """Noise bytes with an audio name: not a format libsndfile recognizes."""
    Path(path).write_bytes(np.random.default_rng(seed).bytes(n_bytes))


def write_text(path: str | Path) -> None:
    Path(path).write_text("this is not audio\n")


def write_zero_bytes(path: str | Path) -> None:
    Path(path).write_bytes(b"")
