"""Memory bounded by the chunk, not the clip: decoding streams in blocks, normalization works in
place, and the decoded clips waiting for the encoder are bounded in seconds of audio, not in clips.
(The peak-memory figures are measured in bench/long_clip_memory.py, not here.)"""
from __future__ import annotations

import h5py
import numpy as np
import pytest
import soundfile as sf
import soxr
from transformers import Wav2Vec2FeatureExtractor

from audio_files import write_tone
from conftest import run_extract
from layerprobe.data import audio
from layerprobe.data.clips import FileSource
from layerprobe.data.manifest import load_manifest
from layerprobe.extract import process_engine, reading
from layerprobe.extract.encoder import Encoder
from layerprobe.extract.long_clips import Moments


def test_decoding_in_blocks_equals_decoding_the_whole_file(tmp_path, monkeypatch):
    monkeypatch.setattr(audio, "BLOCK_FRAMES", 10_000)  # 57 blocks
    rng = np.random.default_rng(0)
    stereo = (0.3 * rng.standard_normal((44100 * 13, 2))).astype(np.float32)
    sf.write(tmp_path / "s.wav", stereo, 44100, subtype="FLOAT")
    whole = soxr.resample(stereo.mean(axis=1, dtype=np.float32), 44100, 16000, quality="VHQ")
    np.testing.assert_allclose(audio.decode(FileSource(str(tmp_path / "s.wav")), 16000), whole, atol=1e-6)


def test_in_place_normalization_equals_the_feature_extractor(group_norm_model):
    wave = (0.2 * np.random.default_rng(1).standard_normal(3_000_001) + 0.05).astype(np.float32)
    expected = Wav2Vec2FeatureExtractor()(wave, sampling_rate=16000, return_tensors="np")["input_values"][0]
    moments = Moments.of(wave, block=65_536)
    assert moments.count == len(wave) and moments.mean == pytest.approx(wave.astype(np.float64).mean(), abs=1e-12)
    assert moments.variance == pytest.approx(wave.astype(np.float64).var(), rel=1e-12)
    copy = wave.copy()
    assert Encoder(group_norm_model, device="cpu").normalize(copy) is copy
    np.testing.assert_allclose(copy, expected, atol=2e-5)


class CountingPool(process_engine.ThreadPoolExecutor):
    submitted = 0

    def submit(self, *args, **kwargs):
        CountingPool.submitted += 1
        return super().submit(*args, **kwargs)


def test_the_prefetch_queue_is_bounded_in_seconds_of_audio(tmp_path, group_norm_model, monkeypatch):
    for number in range(12):
        (tmp_path / "data" / "a").mkdir(parents=True, exist_ok=True)
        write_tone(tmp_path / "data" / "a" / f"{number:02d}.wav", duration=1.0)
    monkeypatch.setattr(process_engine, "PREFETCH_SECONDS", 2.5)
    monkeypatch.setattr(process_engine, "ThreadPoolExecutor", CountingPool)
    todo = list(enumerate(load_manifest(tmp_path / "data").clips))
    encoder = Encoder(group_norm_model, device="cpu")
    clip_reading = reading.Reading.for_encoder(encoder, 16000 * 30, pad_short=False, max_seconds=60.0)
    decoded = process_engine.decoded(todo, clip_reading, encoder, failed=None)
    for consumed in range(1, len(todo) + 1):
        next(decoded)
        assert CountingPool.submitted <= consumed + 2  # at most 2.5 s of 1 s clips ahead
    assert CountingPool.submitted == len(todo)


def test_a_clip_longer_than_the_chunk_is_read_in_pieces_and_equals_the_whole_clip_reference(
        tmp_path, group_norm_model, monkeypatch):
    monkeypatch.setattr(audio, "BLOCK_FRAMES", 5_000)  # pieces span several blocks
    rng = np.random.default_rng(2)
    stereo = 0.2 * rng.standard_normal((int(44100 * 3.5), 2)) + 0.01
    (tmp_path / "data" / "a").mkdir(parents=True)
    sf.write(tmp_path / "data" / "a" / "long.wav", stereo, 44100, subtype="FLOAT")
    read_whole = []
    monkeypatch.setattr(reading, "decode", lambda *a, **k: read_whole.append(1) or audio.decode(*a, **k))
    run_extract(tmp_path / "data", tmp_path / "c.h5", model=group_norm_model, device="cpu", chunk_seconds=1.0,
                batch_seconds=2.0, progress=False)
    assert not read_whole  # the long clip never went through the whole-clip decode
    encoder = Encoder(group_norm_model, device="cpu")
    wave = encoder.normalize(audio.decode(FileSource(str(tmp_path / "data" / "a" / "long.wav")), 16000))
    summaries, frames = encoder.summarize(np.array_split(wave, 4))
    pooled = summaries["mean"][0]
    expected = (pooled * frames[:, None, None]).sum(0) / frames.sum()
    with h5py.File(tmp_path / "c.h5", "r") as f:
        stored = np.stack([f[f"layers/{name}"][0] for name in sorted(f["layers"])])
    cosine = (stored * expected).sum(1) / np.linalg.norm(stored, axis=1) / np.linalg.norm(expected, axis=1)
    assert cosine.min() >= 0.99999
