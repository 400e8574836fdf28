"""Peak resident memory of extract-embeddings (or of the baselines' features) on one long clip against ten 1-second clips.

Both runs are whole processes under /usr/bin/time -v with the same small random-init encoder, so
the difference is what the long clip itself costs (decoding, resampling, queueing, encoding in
chunks). Then the long clip's stored embedding is compared with the chunked reference: the whole
clip decoded at once, normalized by the model's feature extractor, cut into the same segments,
each encoded alone, frame-weighted mean.

    python bench/long_clip_memory.py [--seconds 3600] [--workdir /tmp/layerprobe-long-clip]

--stage baselines: the same two peaks for what `baselines DATA` does before its fits (a
features-only cache, then features/mfcc and features/logmel in this one process, n_jobs=1), and
the long clip's stored features against the whole-clip computation (the clip decoded at once,
mfcc_stats and logmel_stats on it: what the code before streaming stored), as the largest
difference relative to the value (or to 1 where the value is under 1).

    python bench/long_clip_memory.py --stage baselines --seconds 7200
"""
from __future__ import annotations

import argparse
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

RATE, CHANNELS = 48000, 2


def tiny_model(folder: Path) -> str:
    import torch
    from transformers import AutoModel, Wav2Vec2Config, Wav2Vec2FeatureExtractor

    if not (folder / "config.json").exists():
        config = Wav2Vec2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=37,
                                conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
        torch.manual_seed(0)
        AutoModel.from_config(config).save_pretrained(folder)
        Wav2Vec2FeatureExtractor(return_attention_mask=False).save_pretrained(folder)
    return str(folder)


def write_long(path: Path, seconds: int) -> None:
    """A 48 kHz stereo PCM_16 WAV: a gliding tone plus noise, written a minute at a time."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", RATE, CHANNELS, "PCM_16") as out:
        for start in range(0, seconds * RATE, 60 * RATE):
            t = np.arange(start, min(start + 60 * RATE, seconds * RATE)) / RATE
            tone = 0.3 * np.sin(2 * np.pi * (200 + 50 * np.sin(t / 7)) * t) + 0.05 * rng.standard_normal(len(t))
            out.write(np.stack([tone, 0.5 * tone], axis=1))


def write_short(folder: Path) -> None:
    for number in range(10):
        path = folder / "tone" / f"{number}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        t = np.arange(16000) / 16000
        sf.write(path, 0.3 * np.sin(2 * np.pi * (200 + 30 * number) * t), 16000)


def peak_mib(data: Path, cache: Path, model: str) -> float:
    cache.unlink(missing_ok=True)
    command = ["/usr/bin/time", "-v", str(Path(sys.executable).with_name("extract-embeddings")), str(data),
               "--out", str(cache), "--model", model, "--device", "cpu", "--quiet"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr).group(1)) / 1024


FEATURES_RUN = """
import sys
from layerprobe.baselines.compute import compute_features
from layerprobe.baselines.features_only import features_only_cache
features_only_cache(sys.argv[1], sys.argv[2])
print(compute_features(sys.argv[2], ("mfcc", "logmel"), progress=False, n_jobs=1))
"""


def features_peak_mib(data: Path, cache: Path) -> float:
    cache.unlink(missing_ok=True)
    result = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-c", FEATURES_RUN, str(data), str(cache)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    print(result.stdout.strip())
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr).group(1)) / 1024


def baselines_stage(work: Path, seconds: int) -> None:
    from layerprobe.baselines.features import FEATURES
    from layerprobe.data.audio import decode
    from layerprobe.data.clips import FileSource
    from layerprobe.data.reader import CacheReader

    short = features_peak_mib(work / "short", work / "short_features.h5")
    long = features_peak_mib(work / "long", work / "long_features.h5")
    print(f"peak resident memory, features of ten 1 s clips:                 {short:7.0f} MiB")
    print(f"peak resident memory, features of one {seconds} s 48 kHz stereo clip: {long:7.0f} MiB")
    print(f"difference: {long - short:.0f} MiB")
    wave = decode(FileSource(str(work / "long" / "speech" / "long.wav")), 16000)
    with CacheReader(work / "long_features.h5") as reader:
        for name in ("mfcc", "logmel"):
            stored, whole = reader.feature(name)[0], FEATURES[name].compute(wave)
            relative = np.abs(stored - whole) / np.maximum(np.abs(whole), 1)
            print(f"features/{name}: streamed against the whole clip, max relative difference {relative.max():.2e}")


def chunked_reference(path: Path, model_dir: str, chunk_seconds: float = 30.0) -> np.ndarray:
    import soxr
    import torch
    from transformers import AutoModel, Wav2Vec2FeatureExtractor

    frames, rate = sf.read(path, dtype="float32", always_2d=True)
    wave = soxr.resample(frames.mean(axis=1, dtype=np.float32), rate, 16000, quality="VHQ")
    del frames
    wave = Wav2Vec2FeatureExtractor.from_pretrained(model_dir)(wave, sampling_rate=16000, return_tensors="np")
    wave = wave["input_values"][0].astype(np.float32)
    model = AutoModel.from_pretrained(model_dir).eval()
    pieces = np.array_split(wave, max(1, math.ceil(len(wave) / (chunk_seconds * 16000))))
    total, frames_seen = 0.0, 0
    with torch.inference_mode():
        for piece in pieces:
            states = model(torch.from_numpy(piece)[None], output_hidden_states=True).hidden_states
            stacked = torch.stack([s[0] for s in states])  # (layers, frames, hidden)
            total = total + stacked.sum(1).numpy()
            frames_seen += stacked.shape[1]
    return total / frames_seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3600)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/layerprobe-long-clip"))
    parser.add_argument("--stage", choices=("extract", "baselines"), default="extract")
    args = parser.parse_args()
    work = args.workdir
    write_short(work / "short")
    write_long(work / "long" / "speech" / "long.wav", args.seconds)
    if args.stage == "baselines":
        baselines_stage(work, args.seconds)
        return
    model = tiny_model(work / "model")
    short = peak_mib(work / "short", work / "short.h5", model)
    long = peak_mib(work / "long", work / "long.h5", model)
    print(f"peak resident memory, ten 1 s clips:                 {short:7.0f} MiB")
    print(f"peak resident memory, one {args.seconds} s 48 kHz stereo clip: {long:7.0f} MiB")
    print(f"difference: {long - short:.0f} MiB")
    import h5py

    with h5py.File(work / "long.h5", "r") as f:
        stored = np.stack([f[f"layers/{name}"][0] for name in sorted(f["layers"])])
    reference = chunked_reference(work / "long" / "speech" / "long.wav", model)
    cosine = (stored * reference).sum(1) / np.linalg.norm(stored, axis=1) / np.linalg.norm(reference, axis=1)
    print(f"cosine to the chunked reference, per layer: min {cosine.min():.7f}")


if __name__ == "__main__":
    main()
