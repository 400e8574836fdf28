"""extract-embeddings against the naive per-file loop, as whole processes, on the same clips.

Usage: python bench/extract_speed.py [--data ../shared/data/fsdd] [--clips N]
Both run the full wav2vec2-base architecture (Wav2Vec2Config() defaults, random init: the
real model's compute) on the CPU; prints each one's throughput (x realtime) and the ratio.
"""
import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf
import torch
from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

HERE = Path(__file__).resolve().parent


def base_model(folder: Path) -> str:
    torch.manual_seed(0)
    Wav2Vec2Model(Wav2Vec2Config()).save_pretrained(folder)
    Wav2Vec2FeatureExtractor().save_pretrained(folder)
    return str(folder)


def subset_manifest(data: Path, clips: int, out: Path) -> float:
    """Every len(all)/clips-th clip of the FSDD manifest, absolute paths; returns the audio seconds."""
    with open(data / "manifest.csv") as f:
        rows = list(csv.DictReader(f))
    step = max(1, len(rows) // clips)
    chosen = rows[::step][:clips]
    seconds = 0.0
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "label", "speaker"])
        writer.writeheader()
        for row in chosen:
            path = (data / row["path"]).resolve()
            seconds += sf.info(path).duration
            writer.writerow({"path": str(path), "label": row["label"], "speaker": row["speaker"]})
    return seconds


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data" / "fsdd")
    parser.add_argument("--clips", type=int, default=3000)
    parser.add_argument("--batch-seconds", default=None, help="passed to extract-embeddings")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = base_model(tmp / "model")
        manifest = tmp / "manifest.csv"
        audio = subset_manifest(args.data, args.clips, manifest)
        print(f"{args.clips} clips, {audio:.0f} s of audio, wav2vec2-base architecture, {torch.get_num_threads()} threads")
        naive = timed([sys.executable, str(HERE / "naive_loop.py"), str(manifest), model, str(tmp / "naive")])
        print(f"naive loop:          {naive:7.1f} s  {audio / naive:5.2f}x realtime")
        command = [str(Path(sys.executable).parent / "extract-embeddings"), str(manifest), "--out", str(tmp / "cache.h5"),
                   "--model", model, "--device", "cpu", "--quiet"]
        if args.batch_seconds:
            command += ["--batch-seconds", args.batch_seconds]
        ours = timed(command)
        print(f"extract-embeddings:  {ours:7.1f} s  {audio / ours:5.2f}x realtime")
        print(f"ratio (extract-embeddings / naive loop): {naive / ours:.2f}x")


if __name__ == "__main__":
    main()
