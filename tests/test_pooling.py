"""Poolings (mean, std, max) from one encoder pass, each equal to the one-clip reference, batched
and chunked; the accumulators' merge of segments equals the whole clip's statistics."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoModel

from layerprobe.errors import UserError
from layerprobe.extract.batching import Decoded, pooled_batches
from layerprobe.extract.encoder import Encoder
from layerprobe.extract.pooling import POOLINGS, parse_poolings, pooling

LENGTHS = (16000, 4000, 12345, 400, 31000, 800)  # 400 samples: exactly one frame
REFERENCE = {
    "mean": lambda frames: frames.mean(0),
    "std": lambda frames: frames.std(0, unbiased=False),
    "max": lambda frames: frames.amax(0),
}


def reference_frames(model_dir: str, pieces: list[np.ndarray], layer: int) -> torch.Tensor:
    """The frames of `layer` of each piece encoded alone, one clip at a time, concatenated."""
    model = AutoModel.from_pretrained(model_dir).eval()
    with torch.inference_mode():
        return torch.cat([model(torch.from_numpy(p)[None], output_hidden_states=True).hidden_states[layer][0]
                          for p in pieces])


def waves(encoder: Encoder, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [encoder.normalize(rng.standard_normal(n).astype(np.float32)) for n in LENGTHS]


@pytest.mark.parametrize("model_fixture", ["group_norm_model", "layer_norm_model"])
def test_each_pooling_of_a_padded_batch_matches_the_one_clip_reference(model_fixture, request):
    model_dir = request.getfixturevalue(model_fixture)
    encoder = Encoder(model_dir, layers=[0, 2, 4], device="cpu")
    clips = waves(encoder)
    decoded = [Decoded.in_memory(row, wave, len(wave) / 16000) for row, wave in enumerate(clips)]
    # one batch holds every clip, padded to the longest
    batches = list(pooled_batches(decoded, lambda w: encoder.summarize(w, POOLINGS), chunk_samples=10**6,
                                  batch_samples=10**7, poolings=POOLINGS))
    assert len(batches) == 1
    for finished in batches[0]:
        for position, layer in enumerate(encoder.layers):
            frames = reference_frames(model_dir, [clips[finished.row]], layer)
            for name in POOLINGS:
                np.testing.assert_allclose(finished.pooled[name][position], REFERENCE[name](frames).numpy(),
                                           rtol=1e-4, atol=2e-5, err_msg=f"{name} clip {finished.row} layer {layer}")


def test_each_pooling_of_a_chunked_clip_combines_its_segments_exactly(group_norm_model):
    encoder = Encoder(group_norm_model, layers=[1, 4], device="cpu")
    clip = waves(encoder, seed=3)[4]  # 31,000 samples in 4 segments of at most 8,000
    decoded = [Decoded.in_memory(0, clip, len(clip) / 16000)]
    finished = [f for batch in pooled_batches(decoded, lambda w: encoder.summarize(w, POOLINGS), chunk_samples=8000,
                                              batch_samples=16000, poolings=POOLINGS) for f in batch]
    pieces = np.array_split(clip, 4)
    for position, layer in enumerate(encoder.layers):
        frames = reference_frames(group_norm_model, pieces, layer)
        for name in POOLINGS:
            np.testing.assert_allclose(finished[0].pooled[name][position], REFERENCE[name](frames).numpy(),
                                       rtol=1e-4, atol=2e-5, err_msg=f"{name} layer {layer}")


@pytest.mark.parametrize("name", POOLINGS)
def test_merging_segments_equals_the_whole_clip_even_far_from_zero(name):
    """A dimension whose mean dwarfs its spread (as encoder outlier dimensions do) keeps its std."""
    rng = np.random.default_rng(0)
    frames = (1000.0 + 0.01 * rng.standard_normal((997, 8))).astype(np.float32)
    whole = {"mean": frames.astype(np.float64).mean(0), "std": frames.astype(np.float64).std(0),
             "max": frames.max(0)}[name]
    accumulator = pooling(name)()
    valid = torch.ones(1, 1, 1)
    for part in np.array_split(frames, [1, 300, 301, 800]):  # segments of 1, 299, 1, 499 and 197 frames
        states = torch.from_numpy(part)[None]
        summary = pooling(name).summarize(states, valid.expand(1, len(part), 1), torch.tensor([len(part)]))
        accumulator.update(len(part), [value[0].numpy() for value in summary])
    np.testing.assert_allclose(accumulator.finalize(), whole, rtol=1e-3 if name == "std" else 1e-6)


def test_pooling_names_are_parsed_and_checked(tmp_path, capsys):
    from layerprobe.extract.cli import main

    assert parse_poolings("max,std") == ("mean", "std", "max")
    assert parse_poolings("std") == ("mean", "std")
    assert parse_poolings(["mean"]) == ("mean",)
    with pytest.raises(UserError, match="--pooling mean,median: choose from mean, std, max"):
        parse_poolings("mean,median")
    assert main([str(tmp_path), "--out", str(tmp_path / "c.h5"), "--pooling", "mean,median"]) == 2
    assert capsys.readouterr().err == ("error: extract-embeddings: argument --pooling: unknown pooling 'median'; "
                                       "choose from mean, std, max, all\n")


def test_adding_a_pooling_encodes_only_for_it_and_keeps_every_stored_row(tmp_path, group_norm_model):
    import h5py

    from audio_files import write_tone
    from conftest import run_extract

    for number in range(4):
        (tmp_path / "audio" / f"l{number % 2}").mkdir(parents=True, exist_ok=True)
        write_tone(tmp_path / "audio" / f"l{number % 2}" / f"c{number}.wav", duration=0.5 + number / 4,
                   frequency=200 + 50 * number)
    options = dict(model=group_norm_model, device="cpu", layers=[0, 3], progress=False)
    cache, fresh = tmp_path / "c.h5", tmp_path / "fresh.h5"
    run_extract(str(tmp_path / "audio"), str(cache), **options)
    with h5py.File(cache, "r") as f:
        means = {name: f[f"layers/{name}"][()] for name in f["layers"]}

    summary = run_extract(str(tmp_path / "audio"), str(cache), pooling="std", **options)
    assert summary.ok == 4
    write_tone(tmp_path / "audio" / "l0" / "new.wav", duration=0.7, frequency=333)
    assert run_extract(str(tmp_path / "audio"), str(cache), **options).ok == 1  # std kept up to date, unasked
    run_extract(str(tmp_path / "audio"), str(fresh), pooling="mean,std", **options)
    with h5py.File(cache, "r") as f, h5py.File(fresh, "r") as g:
        assert f.attrs["pooling"] == "mean,std" and sorted(f["pooled"]) == ["std"]
        assert (f["pooled/std/status"][()] == b"ok").all() and (f["clips/status"][()] == b"ok").all()
        order = np.argsort(f["clips/id"].asstr()[()])
        assert (f["clips/id"].asstr()[()][order] == g["clips/id"].asstr()[()]).all()
        for name, values in means.items():
            np.testing.assert_array_equal(f[f"layers/{name}"][:4], values)  # the mean rows were not rewritten
            np.testing.assert_allclose(f[f"pooled/std/{name}"][()][order], g[f"pooled/std/{name}"][()], rtol=1e-5)
            np.testing.assert_allclose(f[f"layers/{name}"][()][order], g[f"layers/{name}"][()], rtol=1e-5)
