"""lora's step with the frozen CNN's frames stored (layerprobe/finetune/whole_encoder.py) against the same step with
the CNN computed every step, which is what the Trainer's loop does: one process, one model, the two alternating, so
that the machine's drift weighs on both.

Usage: OMP_NUM_THREADS=1 python bench/stored_cnn.py [--clips 8] [--seconds 2] [--batch-size 4] [--repeats 3]
wav2vec2-base architecture (Wav2Vec2Config() defaults, random init), on the CPU. Prints seconds per training step
of each side, their medians over the repeats, and the ratio.
"""
import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from finetune_speed import Clock, base_model, clips

from layerprobe.extract.encoder import Encoder
from layerprobe.finetune.lora import Lora
from layerprobe.finetune.training import adamw, train_epoch
from layerprobe.options import FinetuneOptions
from layerprobe.registries import known


def seconds_per_step(encoder: Encoder, waves: list[np.ndarray], labels: np.ndarray, batch_size: int, work: Path,
                     stored: bool) -> float:
    """Wall seconds per step of two epochs of lora, the CNN's frames stored or (a bound of ~0) computed."""
    options = FinetuneOptions(batch_size=batch_size, bottom_gb=20.0 if stored else 1e-9).validated(known)
    rung = Lora(encoder, waves, options, 2, work)
    rung.prepare()
    assert (rung.cnn_store is not None) == stored
    torch.manual_seed(0)
    model = rung.build()
    optimizer = adamw(model, 1e-4)
    rows = np.arange(len(waves))
    steps = -(-len(rows) // batch_size)
    clock = Clock()
    for epoch in range(2):
        train_epoch(rung, model, optimizer, np.random.default_rng(epoch).permutation(rows), labels, None, lr=1e-4,
                    schedule="linear-warmup", first_step=epoch * steps, total_steps=2 * steps, max_grad_norm=1.0,
                    batch_size=batch_size)
    return float(clock.read()[0]) / (2 * steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    waves, labels = clips(args.clips, args.seconds)
    with tempfile.TemporaryDirectory() as folder:
        encoder = Encoder(base_model(Path(folder) / "model"), None, device="cpu")
        timed = {True: [], False: []}
        for repeat in range(args.repeats):
            for stored in (True, False) if repeat % 2 == 0 else (False, True):
                timed[stored].append(seconds_per_step(encoder, waves, labels, args.batch_size, Path(folder) / "work",
                                                      stored))
                print(f"{'stored  ' if stored else 'computed'} CNN: {timed[stored][-1]:.2f} s per step", flush=True)
        stored, computed = np.median(timed[True]), np.median(timed[False])
        print(f"median over {args.repeats} repeats: stored {stored:.2f} s, computed {computed:.2f} s per step; "
              f"ratio (computed / stored) {computed / stored:.2f}x")


if __name__ == "__main__":
    main()
