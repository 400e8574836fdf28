"""Memory bounded by the chunk, not the clip: decoding streams in blocks, normalization works in
place, and the decoded clips waiting for the encoder are bounded in seconds of audio, not in clips.
(The peak-memory figures are measured in bench/long_clip_memory.py, not here.)"""
from __future__ import annotations

import numpy as np
import soundfile as sf
import soxr
from transformers import Wav2Vec2FeatureExtractor

from audio_files import write_tone
from layerprobe.data import audio
from layerprobe.data.clips import FileSource
from layerprobe.data.manifest import load_manifest
from layerprobe.extract import runner
from layerprobe.extract.encoder import Encoder, zero_mean_unit_var


def test_decoding_in_blocks_equals_decoding_the_whole_file(tmp_path, monkeypatch):
    monkeypatch.setattr(audio, "BLOCK_FRAMES", 10_000)  # 57 blocks
    rng = np.random.default_rng(0)
    stereo = (0.3 * rng.standard_normal((44100 * 13, 2))).astype(np.float32)
    sf.write(tmp_path / "s.wav", stereo, 44100, subtype="FLOAT")
    whole = soxr.resample(stereo.mean(axis=1, dtype=np.float32), 44100, 16000, quality="VHQ")
    np.testing.assert_allclose(audio.decode(FileSource(str(tmp_path / "s.wav")), 16000), whole, atol=1e-6)


def test_in_place_normalization_equals_the_feature_extractor():
    wave = (0.2 * np.random.default_rng(1).standard_normal(3_000_001) + 0.05).astype(np.float32)
    expected = Wav2Vec2FeatureExtractor()(wave, sampling_rate=16000, return_tensors="np")["input_values"][0]
    copy = wave.copy()
    assert zero_mean_unit_var(copy, block=65_536) is copy
    np.testing.assert_allclose(copy, expected, atol=2e-5)


class CountingPool(runner.ThreadPoolExecutor):
    submitted = 0

    def submit(self, *args, **kwargs):
        CountingPool.submitted += 1
        return super().submit(*args, **kwargs)


def test_the_prefetch_queue_is_bounded_in_seconds_of_audio(tmp_path, group_norm_model, monkeypatch):
    for number in range(12):
        (tmp_path / "data" / "a").mkdir(parents=True, exist_ok=True)
        write_tone(tmp_path / "data" / "a" / f"{number:02d}.wav", duration=1.0)
    monkeypatch.setattr(runner, "PREFETCH_SECONDS", 2.5)
    monkeypatch.setattr(runner, "ThreadPoolExecutor", CountingPool)
    todo = list(enumerate(load_manifest(tmp_path / "data").clips))
    decoded = runner._decoded(todo, Encoder(group_norm_model, device="cpu"), False, 60.0, failed=None)
    for consumed in range(1, len(todo) + 1):
        next(decoded)
        assert CountingPool.submitted <= consumed + 2  # at most 2.5 s of 1 s clips ahead
    assert CountingPool.submitted == len(todo)
