"""The ladder's rungs against the loop users write: the Hugging Face Trainer on Wav2Vec2ForSequenceClassification,
same clips, model, batch size and epochs, in the same run.

Usage: OMP_NUM_THREADS=1 python bench/finetune_speed.py [--clips 8] [--seconds 2] [--epochs 5] [--batch-size 4]
                                                         [--rungs top-k,lora,full] [--repeats 1]
top-k: both train the full wav2vec2-base architecture (Wav2Vec2Config() defaults, random init: the real model's compute)
on the CPU, the top 2 of its 12 blocks and a head; the peer freezes the CNN feature encoder and the bottom 10
blocks with requires_grad_(False), as the accent team did, and runs the whole model every step. Ours computes the
frozen bottom once per clip (layerprobe/finetune/top_k.py) and then trains the top blocks only; its time includes
that pass. lora (q_proj, v_proj, rank 8) and full (the CNN frozen): the peer is the same model under the Trainer,
with peft's adapters or the feature encoder frozen; ours stores the frozen CNN's frames once per clip
(layerprobe/finetune/whole_encoder.py; its time included) and runs the rest of the same forward every step. Throughput: audio seconds trained on (clips x epochs) per
second of training. With --repeats R each rung is timed R times, the order of the two sides alternating (peer
first, then ours first), so that drift in the machine's speed weighs on both; the median ratio and the range of the
R ratios are printed.
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
from layerprobe.finetune.full import Full
from layerprobe.finetune.lora import Lora
from layerprobe.finetune.top_k import TopK
from layerprobe.finetune.training import adamw, train_epoch
from layerprobe.options import FinetuneOptions
from layerprobe.registries import known

UNFREEZE = 2


def base_model(folder: Path, layerdrop: float | None = None) -> str:
    torch.manual_seed(0)
    config = Wav2Vec2Config() if layerdrop is None else Wav2Vec2Config(layerdrop=layerdrop)
    Wav2Vec2Model(config).save_pretrained(folder)
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


RUNGS = {"top-k": TopK, "lora": Lora, "full": Full}


class Clock:
    """Wall and CPU seconds (this process's, all threads) since it was made: on a shared virtual machine the CPU
    seconds leave out the time the host gave to others, which the wall seconds count."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def read(self) -> np.ndarray:
        return np.array([time.perf_counter() - self.wall, time.process_time() - self.cpu])


def ours(rung_name: str, model: str, waves: list[np.ndarray], labels: np.ndarray, epochs: int, batch_size: int,
         work: Path) -> tuple[np.ndarray, float]:
    """(wall, CPU) seconds of a layerprobe rung's `epochs` epochs, all told, and the wall seconds of what it
    computes once (top-k: the frozen bottom once per clip); building the model (a copy of the encoder for lora and
    full) is not timed, as the peer's loading is not."""
    encoder = Encoder(model, None, device="cpu")
    options = FinetuneOptions(unfreeze=UNFREEZE, batch_size=batch_size).validated(known)
    rung = RUNGS[rung_name](encoder, waves, options, 2, work)
    clock = Clock()
    rung.prepare()
    once = clock.read()
    trained = rung.build()
    optimizer = adamw(trained, 1e-4)
    clock = Clock()
    rows = np.arange(len(waves))
    steps = -(-len(rows) // batch_size)
    for epoch in range(epochs):
        train_epoch(rung, trained, optimizer, np.random.default_rng(epoch).permutation(rows), labels, None, lr=1e-4,
                    schedule="linear-warmup", first_step=epoch * steps, total_steps=epochs * steps,
                    max_grad_norm=1.0, batch_size=batch_size)
    return once + clock.read(), float(once[0])


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


def peer(rung_name: str, model: str, waves: list[np.ndarray], labels: np.ndarray, epochs: int, batch_size: int,
         out: Path) -> np.ndarray:
    """(wall, CPU) seconds of Trainer.train() on Wav2Vec2ForSequenceClassification set up as the rung is: top-k with the CNN
    and bottom blocks frozen, lora with peft's adapters, full with the CNN frozen."""
    classifier = Wav2Vec2ForSequenceClassification.from_pretrained(model, num_labels=2)
    classifier.freeze_feature_encoder()
    if rung_name == "top-k":
        frozen = [classifier.wav2vec2.feature_projection, classifier.wav2vec2.encoder.pos_conv_embed,
                  classifier.wav2vec2.encoder.layer_norm, *classifier.wav2vec2.encoder.layers[:-UNFREEZE]]
        for module in frozen:
            module.requires_grad_(False)
    if rung_name == "lora":
        from peft import LoraConfig, get_peft_model

        classifier = get_peft_model(classifier, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                                           lora_dropout=0.0, modules_to_save=["projector", "classifier"]))
    arguments = TrainingArguments(output_dir=str(out), num_train_epochs=epochs, per_device_train_batch_size=batch_size,
                                  learning_rate=1e-4, max_grad_norm=1.0, use_cpu=True, report_to=[], save_strategy="no",
                                  logging_strategy="no", disable_tqdm=True, dataloader_num_workers=0)
    trainer = Trainer(model=classifier, args=arguments, train_dataset=Clips(waves, labels), data_collator=pad)
    clock = Clock()
    trainer.train()
    return clock.read()


def one_repeat(rung: str, model: str, waves: list[np.ndarray], labels: np.ndarray, args: argparse.Namespace,
               work: Path, peer_first: bool) -> tuple[np.ndarray, np.ndarray, float]:
    """The peer's (wall, CPU) seconds, ours and ours computed once, the side named by peer_first timed first."""
    sides = [lambda: peer(rung, model, waves, labels, args.epochs, args.batch_size, work / "trainer"),
             lambda: ours(rung, model, waves, labels, args.epochs, args.batch_size, work / "ours")]
    if peer_first:
        theirs = sides[0]()
        mine, once = sides[1]()
    else:
        mine, once = sides[1]()
        theirs = sides[0]()
    return theirs, mine, once


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--rungs", default="top-k", help="comma-separated: top-k, lora, full (default: top-k)")
    parser.add_argument("--layerdrop", type=float, default=None,
                        help="the model's LayerDrop (default: wav2vec2-base's 0.1); 0 gives both sides the same compute "
                             "every step, where the draws of which blocks to skip otherwise differ between them")
    parser.add_argument("--repeats", type=int, default=1, help="times each rung is measured, sides alternating")
    args = parser.parse_args()
    waves, labels = clips(args.clips, args.seconds)
    audio = sum(len(wave) for wave in waves) / 16000 * args.epochs
    print(f"{args.clips} clips, {audio / args.epochs:.0f} s of audio x {args.epochs} epochs, batch {args.batch_size}, "
          f"wav2vec2-base architecture, {torch.get_num_threads()} threads, "
          f"LayerDrop {0.1 if args.layerdrop is None else args.layerdrop:g}; top-k trains the top {UNFREEZE} of 12 blocks")
    with tempfile.TemporaryDirectory() as folder:
        model = base_model(Path(folder) / "model", args.layerdrop)
        for rung in args.rungs.split(","):
            ratios = []
            for repeat in range(args.repeats):
                theirs, mine, once = one_repeat(rung, model, waves, labels, args, Path(folder) / f"{rung}-{repeat}",
                                                peer_first=repeat % 2 == 0)
                ratios.append(theirs / mine)
                print(f"{rung}: HF Trainer {theirs[0]:7.1f} s  {audio / theirs[0]:6.2f} audio-s/s; layerprobe "
                      f"{mine[0]:7.1f} s  {audio / mine[0]:6.2f} audio-s/s (of which computed once: {once:.1f} s); "
                      f"ratio (layerprobe / Trainer): {theirs[0] / mine[0]:.2f}x wall, {theirs[1] / mine[1]:.2f}x CPU",
                      flush=True)
            if args.repeats > 1:
                wall, cpu = np.array(ratios).T
                print(f"{rung}: median ratio over {args.repeats} repeats {np.median(wall):.2f}x wall (range "
                      f"{wall.min():.2f}x-{wall.max():.2f}x), {np.median(cpu):.2f}x CPU (range {cpu.min():.2f}x-"
                      f"{cpu.max():.2f}x)", flush=True)


if __name__ == "__main__":
    main()
