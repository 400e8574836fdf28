"""A small synthetic speech-like dataset for the demo: vowels spoken by synthetic speakers.

Each clip is a glottal pulse train at the speaker's pitch through formant resonators at the
vowel's formants, scaled by the speaker's vocal-tract length, with jitter and breath noise. The
label is the vowel; the group is the speaker, so speaker-independent folds are meaningful.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import lfilter

SAMPLE_RATE = 16000
# (F1, F2, F3) in Hz, Peterson & Barney averages for adult male speakers
VOWELS = {"a": (730, 1090, 2440), "i": (270, 2290, 3010), "u": (300, 870, 2240)}
BANDWIDTHS = (90, 110, 170)


def _resonator(signal: np.ndarray, frequency: float, bandwidth: float) -> np.ndarray:
    radius = np.exp(-np.pi * bandwidth / SAMPLE_RATE)
    angle = 2 * np.pi * frequency / SAMPLE_RATE
    return lfilter([1 - radius], [1, -2 * radius * np.cos(angle), radius**2], signal)


def vowel(formants: tuple[float, ...], pitch: float, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """One synthetic vowel: float32 at 16 kHz, peak 0.5."""
    samples = int(seconds * SAMPLE_RATE)
    vibrato = 1 + 0.02 * np.sin(2 * np.pi * rng.uniform(3, 6) * np.arange(samples) / SAMPLE_RATE)
    phase = np.cumsum(pitch * vibrato * (1 + 0.01 * rng.standard_normal(samples)) / SAMPLE_RATE)
    source = (phase % 1.0) - 0.5 + 0.02 * rng.standard_normal(samples)
    voiced = sum(_resonator(source, f, b) for f, b in zip(formants, BANDWIDTHS))
    envelope = np.minimum(1, np.minimum(np.arange(samples), np.arange(samples)[::-1]) / (0.03 * SAMPLE_RATE))
    clip = voiced * envelope
    return (0.5 * clip / np.abs(clip).max()).astype(np.float32)


def write_demo_dataset(folder: str | Path, speakers: int = 6, clips_per_vowel: int = 10, seed: int = 0) -> Path:
    """Write WAVs and manifest.csv (path, label, speaker) under folder; returns the manifest's path."""
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    rows = []
    for speaker in range(speakers):
        pitch = rng.uniform(95, 230)
        tract = rng.uniform(0.85, 1.18)  # shorter vocal tracts raise every formant
        for label, formants in VOWELS.items():
            for take in range(clips_per_vowel):
                shifted = [f * tract * rng.uniform(0.93, 1.07) for f in formants]
                audio = vowel(shifted, pitch * rng.uniform(0.9, 1.1), rng.uniform(0.4, 1.0), rng)
                path = Path(f"speaker{speaker}") / f"{label}_{take}.wav"
                (folder / path).parent.mkdir(parents=True, exist_ok=True)
                sf.write(folder / path, audio, SAMPLE_RATE, subtype="PCM_16")
                rows.append({"path": path.as_posix(), "label": label, "speaker": f"speaker{speaker}"})
    manifest = folder / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "label", "speaker"])
        writer.writeheader()
        writer.writerows(rows)
    return manifest
