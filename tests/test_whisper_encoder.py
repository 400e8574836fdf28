"""Whisper's encoder, the family that is one file (extract/encoders/whisper.py): every layer's pooled
rows equal the clip alone through transformers' own path (WhisperFeatureExtractor, then the
encoder over its 30 s window), pooled over the frames that cover the clip, batched and chunked,
and a clip longer than the window encoded in segments as every long clip is."""
from __future__ import annotations

import functools
import math

import h5py
import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import BertConfig, WhisperFeatureExtractor, WhisperModel

from conftest import run_extract
from layerprobe.errors import UserError
from layerprobe.extract.batching import Decoded, pooled_batches
from layerprobe.extract.cli import main as extract_main
from layerprobe.extract.encoder import Encoder
from layerprobe.extract.pooling import POOLINGS

RATE, HOP, WINDOW = 16000, 160, 30 * 16000
LENGTHS = (16000, 4000, 12345, 400, WINDOW, 801)  # 400: one spectrogram frame; WINDOW: the whole window
REFERENCE = {
    "mean": lambda frames: frames.mean(0),
    "std": lambda frames: frames.std(0, unbiased=False),
    "max": lambda frames: frames.amax(0),
}


def real_frames(samples: int) -> int:
    """The encoder frames that cover a clip: its spectrogram frames, halved by the stride-2 conv."""
    return math.ceil(math.ceil(samples / HOP) / 2)


@functools.cache
def reference_path(model_dir: str) -> tuple[WhisperFeatureExtractor, torch.nn.Module]:
    return (WhisperFeatureExtractor.from_pretrained(model_dir),
            WhisperModel.from_pretrained(model_dir).get_encoder().eval())


def reference_frames(model_dir: str, pieces: list[np.ndarray]) -> list[torch.Tensor]:
    """Each piece alone through transformers' path: per layer, the pieces' covering frames, concatenated."""
    extractor, encoder = reference_path(model_dir)
    frames = []
    with torch.inference_mode():
        for piece in pieces:
            features = extractor(piece, sampling_rate=RATE, return_tensors="pt")["input_features"]
            states = encoder(features, output_hidden_states=True).hidden_states
            frames.append([state[0, :real_frames(len(piece))] for state in states])
    return [torch.cat(layer) for layer in zip(*frames)]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def waves(seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in LENGTHS]


@pytest.mark.parametrize("layers", [None, [0, 1]])  # [0, 1]: one of two blocks left, its LayerNorm gone
def test_every_layer_of_a_padded_batch_matches_the_one_clip_reference(whisper_model, layers):
    encoder = Encoder(whisper_model, layers=layers, device="cpu")
    clips = [encoder.normalize(wave) for wave in waves()]
    summaries, frames = encoder.summarize(clips)
    assert encoder.layers == (layers or [0, 1, 2])
    assert len(encoder.model.layers) == (2 if layers is None else 1)
    assert frames.tolist() == [real_frames(n) for n in LENGTHS]
    for clip, wave in enumerate(clips):
        reference = reference_frames(whisper_model, [wave])
        for position, layer in enumerate(encoder.layers):
            expected = reference[layer].mean(0).numpy()
            assert cosine(summaries["mean"][0][clip, position], expected) >= 0.99999, (clip, layer)


def test_a_batch_of_short_clips_runs_in_groups_of_its_padded_size(whisper_model, monkeypatch):
    """Four 14 s clips are 56 s padded to the longest: one 30 s window at a time, not four."""
    encoder = Encoder(whisper_model, layers=[2], device="cpu")
    sizes = []
    forward = encoder.family.hidden_states
    monkeypatch.setattr(encoder.family, "hidden_states",
                        lambda inputs, lengths: sizes.append(len(lengths)) or forward(inputs, lengths))
    rng = np.random.default_rng(5)
    clips = [(0.1 * rng.standard_normal(14 * RATE - 100 * n)).astype(np.float32) for n in range(4)]
    summaries, frames = encoder.summarize(clips)
    assert sizes == [1] * 4 and frames.tolist() == [real_frames(len(clip)) for clip in clips]
    for clip, wave in enumerate(clips):
        expected = reference_frames(whisper_model, [wave])[2].mean(0).numpy()
        assert cosine(summaries["mean"][0][clip, 0], expected) >= 0.99999, clip


def test_each_pooling_of_a_chunked_clip_combines_its_window_long_segments(whisper_model):
    encoder = Encoder(whisper_model, layers=[1, 2], device="cpu")
    rng = np.random.default_rng(3)
    long, short = ((0.1 * rng.standard_normal(n)).astype(np.float32) for n in (40 * RATE, 7000))
    decoded = [Decoded.in_memory(0, short, len(short) / RATE), Decoded.in_memory(1, long, len(long) / RATE)]
    finished = {f.row: f for batch in pooled_batches(decoded, lambda w: encoder.summarize(w, POOLINGS),
                                                     chunk_samples=encoder.chunk_samples(30.0),
                                                     batch_samples=2 * WINDOW, poolings=POOLINGS) for f in batch}
    for row, pieces in ((0, [short]), (1, np.array_split(long, 2))):  # 40 s: two segments of 20 s
        reference = reference_frames(whisper_model, pieces)
        for position, layer in enumerate(encoder.layers):
            for name in POOLINGS:
                np.testing.assert_allclose(finished[row].pooled[name][position], REFERENCE[name](reference[layer]).numpy(),
                                           rtol=1e-4, atol=2e-5, err_msg=f"{name} clip {row} layer {layer}")


def test_extraction_windows_a_clip_longer_than_30_s(whisper_model, tmp_path):
    rng = np.random.default_rng(4)
    clips = {"long.wav": (0.1 * rng.standard_normal(41 * RATE)).astype(np.float32),
             "short.wav": (0.1 * rng.standard_normal(RATE)).astype(np.float32)}
    (tmp_path / "data" / "a").mkdir(parents=True)
    for name, wave in clips.items():
        sf.write(tmp_path / "data" / "a" / name, wave, RATE, subtype="FLOAT")
    summary = run_extract(tmp_path / "data", tmp_path / "c.h5", model=whisper_model, device="cpu", progress=False)
    assert summary.ok == 2
    with h5py.File(tmp_path / "c.h5", "r") as f:
        ids = list(f["clips/id"].asstr()[()])
        assert f.attrs["model_type"] == "whisper" and list(f.attrs["layers"]) == [0, 1, 2]
        for name, wave in clips.items():
            reference = reference_frames(whisper_model, np.array_split(wave, math.ceil(len(wave) / WINDOW)))
            for layer in (0, 1, 2):
                stored = f[f"layers/{layer:02d}"][ids.index(f"a/{name}")]
                assert cosine(stored, reference[layer].mean(0).numpy()) >= 0.99999, (name, layer)


def test_a_chunk_longer_than_the_window_is_refused(whisper_model, tmp_path):
    (tmp_path / "data" / "a").mkdir(parents=True)
    sf.write(tmp_path / "data" / "a" / "x.wav", np.zeros(RATE, dtype=np.float32), RATE)
    with pytest.raises(UserError, match="^--chunk-seconds 31.0 is longer than the 30 s window of whisper's encoder"):
        run_extract(tmp_path / "data", tmp_path / "c.h5", model=whisper_model, device="cpu", chunk_seconds=31.0,
                    progress=False)


def test_a_model_type_without_a_family_is_one_line_naming_the_families(tmp_path, capsys):
    BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=1, intermediate_size=8).save_pretrained(
        tmp_path / "bert")
    (tmp_path / "data" / "a").mkdir(parents=True)
    sf.write(tmp_path / "data" / "a" / "x.wav", np.zeros(RATE, dtype=np.float32), RATE)
    assert extract_main([str(tmp_path / "data"), "--out", str(tmp_path / "c.h5"), "--model", str(tmp_path / "bert"),
                         "--device", "cpu", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith(
        f"{tmp_path / 'bert'} is a bert model; layerprobe reads the encoder families "
        "wav2vec2 (wav2vec2, hubert, wavlm, data2vec-audio, unispeech, unispeech-sat); whisper (whisper)\n")
