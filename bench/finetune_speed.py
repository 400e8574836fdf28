"""top-k fine-tuning against the loop users write: the Hugging Face Trainer on Wav2Vec2ForSequenceClassification,
same clips, model, batch size and epochs, in the same run.

Usage: OMP_NUM_THREADS=1 python bench/finetune_speed.py [--clips 8] [--seconds 2] [--epochs 5] [--batch-size 4]
Both train the full wav2vec2-base architecture (Wav2Vec2Config() defaults, random init: the real model's compute)
on the CPU, the top 2 of its 12 blocks and a head; the peer freezes the CNN feature encoder and the bottom 10
blocks with requires_grad_(False), as the accent team did, and runs the whole model every step. Ours computes the
frozen bottom once per clip (layerprobe/finetune/top_k.py) and then trains the top blocks only; its time includes
that pass. Throughput: audio seconds trained on (clips x epochs) per second of training.
"""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from transformers import (Trainer, TrainingArguments, Wav2Vec2Config, Wav2Vec2FeatureExtractor,
                          Wav2Vec2ForSequenceClassification, Wav2Vec2Model)

from layerprobe.extract.encoder import Encoder
from layerprobe.finetune.top_k import TopK
from layerprobe.finetune.training import train_epoch
from layerprobe.options import FinetuneOptions
from layerprobe.registries import known

UNFREEZE = 2


def base_model(folder: Path) -> str:
    torch.manual_seed(0)
    Wav2Vec2Model(Wav2Vec2Config()).save_pretrained(folder)
    Wav2Vec2FeatureExtractor().save_pretrained(folder)
    return str(folder)


def clips(n: int, seconds: float) -> tuple[list[np.ndarray], np.ndarray]:
    """n tones of two pitch bands (labels 0, 1), normalized as the feature extractor would."""
    rng = np.random.default_rng(0)
    waves, labels = [], np.arange(n) % 2
    for label in labels:
        t = np.arange(int(16000 * seconds * rng.uniform(0.9, 1.1))) / 16000
        wave = np.sin(2 * np.pi * (300 if label == 0 else 1200) * t) + 0.05 * rng.normal(size=len(t))
        waves.append(((wave - wave.mean()) / wave.std()).astype(np.float32))
    return waves, labels


def ours(model: str, waves: list[np.ndarray], labels: np.ndarray, epochs: int, batch_size: int,
         work: Path) -> tuple[float, float]:
    """Seconds of layerprobe's top-k, all told and of them the frozen bottom's one pass: the bottom once per clip,
    then `epochs` epochs of the top blocks."""
    encoder = Encoder(model, None, device="cpu")
    options = FinetuneOptions(unfreeze=UNFREEZE, batch_size=batch_size).validated(known)
    rung = TopK(encoder, waves, options, 2, work)
    started = time.perf_counter()
    rung.prepare()
    bottom = time.perf_counter() - started
    top = rung.build()
    optimizer = torch.optim.AdamW([p for p in top.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.0)
    rows = np.arange(len(waves))
    steps = -(-len(rows) // batch_size)
    for epoch in range(epochs):
        train_epoch(rung, top, optimizer, np.random.default_rng(epoch).permutation(rows), labels, None, lr=1e-4,
                    schedule="linear-warmup", first_step=epoch * steps, total_steps=epochs * steps,
                    max_grad_norm=1.0, batch_size=batch_size)
    return time.perf_counter() - started, bottom


class Clips(torch.utils.data.Dataset):
    def __init__(self, waves, labels):
        self.waves, self.labels = waves, labels

    def __len__(self):
        return len(self.waves)

    def __getitem__(self, i):
        return {"input_values": self.waves[i], "labels": int(self.labels[i])}


def pad(batch: list[dict]) -> dict:
    longest = max(len(item["input_values"]) for item in batch)
    values = torch.zeros(len(batch), longest)
    mask = torch.zeros(len(batch), longest, dtype=torch.long)
    for row, item in enumerate(batch):
        values[row, :len(item["input_values"])] = torch.from_numpy(item["input_values"])
        mask[row, :len(item["input_values"])] = 1
    return {"input_values": values, "attention_mask": mask,
            "labels": torch.tensor([item["labels"] for item in batch])}


def peer(model: str, waves: list[np.ndarray], labels: np.ndarray, epochs: int, batch_size: int, out: Path) -> float:
    """Seconds of Trainer.train() on Wav2Vec2ForSequenceClassification, the CNN and bottom blocks frozen."""
    classifier = Wav2Vec2ForSequenceClassification.from_pretrained(model, num_labels=2)
    classifier.freeze_feature_encoder()
    frozen = [classifier.wav2vec2.feature_projection, classifier.wav2vec2.encoder.pos_conv_embed,
              classifier.wav2vec2.encoder.layer_norm, *classifier.wav2vec2.encoder.layers[:-UNFREEZE]]
    for module in frozen:
        module.requires_grad_(False)
    arguments = TrainingArguments(output_dir=str(out), num_train_epochs=epochs, per_device_train_batch_size=batch_size,
                                  learning_rate=1e-4, max_grad_norm=1.0, use_cpu=True, report_to=[], save_strategy="no",
                                  logging_strategy="no", disable_tqdm=True, dataloader_num_workers=0)
    trainer = Trainer(model=classifier, args=arguments, train_dataset=Clips(waves, labels), data_collator=pad)
    started = time.perf_counter()
    trainer.train()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args()
    waves, labels = clips(args.clips, args.seconds)
    audio = sum(len(wave) for wave in waves) / 16000 * args.epochs
    with tempfile.TemporaryDirectory() as folder:
        model = base_model(Path(folder) / "model")
        theirs = peer(model, waves, labels, args.epochs, args.batch_size, Path(folder) / "trainer")
        mine, bottom = ours(model, waves, labels, args.epochs, args.batch_size, Path(folder) / "work")
    print(f"{args.clips} clips, {audio / args.epochs:.0f} s of audio x {args.epochs} epochs, batch {args.batch_size}, "
          f"wav2vec2-base architecture, top {UNFREEZE} of 12 blocks trained, {torch.get_num_threads()} threads")
    print(f"HF Trainer (bottom frozen):    {theirs:7.1f} s  {audio / theirs:6.2f} audio-s/s")
    print(f"layerprobe top-k (cached bottom): {mine:7.1f} s  {audio / mine:6.2f} audio-s/s  "
          f"(of which the bottom's one pass {bottom:.1f} s)")
    print(f"ratio (top-k / Trainer): {theirs / mine:.2f}x")


if __name__ == "__main__":
    main()
