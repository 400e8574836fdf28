"""A tiny fine-tuning setting any test may build: tones of two pitch bands per speaker (a planted separable
task), a random-init 4-block wav2vec2 saved by path, its cache, and a probe run folder on that cache."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from audio_files import sine
from conftest import TINY, run_extract

SAMPLE_RATE = 16000


def write_tone_dataset(root: Path, speakers: int = 4, takes: int = 3, seconds: float = 0.25, seed: int = 0) -> Path:
    """WAVs of a low (c0) or high (c1) tone with a little noise, per speaker, and manifest.csv; returns the manifest."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows = ["path,label,speaker"]
    for speaker in range(speakers):
        for label, frequency in enumerate((300.0, 1200.0)):
            for take in range(takes):
                n = int(SAMPLE_RATE * seconds * rng.uniform(0.8, 1.2))
                wave = sine(n, SAMPLE_RATE, frequency * rng.uniform(0.95, 1.05)) + 0.05 * rng.normal(size=n)
                name = f"s{speaker}_c{label}_{take}.wav"
                sf.write(root / name, wave, SAMPLE_RATE)
                rows.append(f"{name},c{label},spk{speaker}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root / "manifest.csv"


def save_trainable_model(folder: Path) -> str:
    """conftest's tiny group-norm wav2vec2 without SpecAugment's time masks and layer drop: masks of 10 frames
    would cover most of a test clip's 12, and layer drop most of 4 blocks' signal."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(0)
    Wav2Vec2Model(Wav2Vec2Config(**TINY, apply_spec_augment=False, layerdrop=0.0)).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(return_attention_mask=False).save_pretrained(folder)
    return str(folder)


def probe_run(root: Path, folds: int = 4) -> tuple[Path, Path, str]:
    """(run folder holding probe_results.json, cache, model folder) for write_tone_dataset's clips."""
    from layerprobe import probe

    model = save_trainable_model(root / "model")
    cache = root / "cache.h5"
    run_extract(write_tone_dataset(root / "audio"), cache, model=model, device="cpu", progress=False)
    probe(cache, layers="0,4", classifiers="logreg", folds=folds, out=root / "run", n_jobs=1, progress=False)
    return root / "run", cache, model
