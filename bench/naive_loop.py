"""The per-file loop users write before layerprobe: the peer that bench/extract_speed.py measures.

librosa.load at 16 kHz, the feature extractor, the model with output_hidden_states, a mean per
layer, one .npy per clip.
"""
import csv
import sys
from pathlib import Path

import librosa
import numpy as np
import torch
from transformers import AutoFeatureExtractor, AutoModel


def main(manifest: str, model_dir: str, out_dir: str) -> None:
    extractor = AutoFeatureExtractor.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(manifest) as f:
        rows = list(csv.DictReader(f))
    for number, row in enumerate(rows):
        audio, _ = librosa.load(row["path"], sr=16000)
        inputs = extractor(audio, sampling_rate=16000, return_tensors="pt")
        with torch.no_grad():
            hidden = model(inputs.input_values, output_hidden_states=True).hidden_states
        np.save(out / f"{number}.npy", torch.stack([h[0].mean(0) for h in hidden]).numpy())


if __name__ == "__main__":
    main(*sys.argv[1:4])
