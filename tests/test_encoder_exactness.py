"""Batched, truncated, padded encoding equals the one-clip-at-a-time reference at every layer."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoModel

from conftest import save_tiny_model
from layerprobe.extract.encoder import Encoder

LENGTHS = (16000, 4000, 12345, 400, 31000, 800)  # 400 samples: exactly one frame


def reference(model_dir: str, waves: list[np.ndarray]) -> list[tuple[torch.Tensor, ...]]:
    model = AutoModel.from_pretrained(model_dir).eval()
    with torch.inference_mode():
        return [model(torch.from_numpy(w)[None], output_hidden_states=True).hidden_states for w in waves]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


@pytest.mark.parametrize(
    "model_type, stable",
    [("wav2vec2", False), ("wav2vec2", True), ("hubert", False), ("wavlm", False), ("data2vec-audio", False),
     ("unispeech", False), ("unispeech-sat", True)],
)
@pytest.mark.parametrize("layers", [None, [0, 2]])
def test_batched_pooling_matches_single_clip_reference(tmp_path, model_type, stable, layers):
    model_dir = save_tiny_model(tmp_path, stable, model_type)
    rng = np.random.default_rng(1)
    encoder = Encoder(model_dir, layers=layers, device="cpu")
    waves = [encoder.normalize(rng.standard_normal(n).astype(np.float32)) for n in LENGTHS]
    summaries, frames = encoder.summarize(waves)
    pooled = summaries["mean"][0]
    hidden = reference(model_dir, waves)
    assert encoder.layers == (layers or [0, 1, 2, 3, 4])
    assert frames.tolist() == [h[0].shape[1] for h in hidden]
    for clip, states in enumerate(hidden):
        for position, layer in enumerate(encoder.layers):
            expected = states[layer][0].mean(0).numpy()
            assert cosine(pooled[clip, position], expected) >= 0.99999, (clip, layer)


@pytest.mark.parametrize("model_fixture", ["group_norm_model", "layer_norm_model"])
def test_layer_0_alone_matches_the_reference(model_fixture, request):
    model_dir = request.getfixturevalue(model_fixture)
    encoder = Encoder(model_dir, layers=[0], device="cpu")
    waves = [encoder.normalize(np.random.default_rng(2).standard_normal(n).astype(np.float32)) for n in LENGTHS]
    pooled = encoder.summarize(waves)[0]["mean"][0]
    for clip, states in enumerate(reference(model_dir, waves)):
        assert cosine(pooled[clip, 0], states[0][0].mean(0).numpy()) >= 0.99999


def test_plain_hf_batching_is_inexact_for_group_norm(tmp_path):
    """Guards the reason the masked GroupNorm exists: HF batching with a mask moves the embedding."""
    model_dir = save_tiny_model(tmp_path, stable_layer_norm=False)
    model = AutoModel.from_pretrained(model_dir).eval()
    rng = np.random.default_rng(2)
    short, long = rng.standard_normal(3000).astype(np.float32), rng.standard_normal(48000).astype(np.float32)
    batch = torch.zeros(2, len(long))
    batch[0, : len(short)], batch[1] = torch.from_numpy(short), torch.from_numpy(long)
    mask = (torch.arange(len(long)) < torch.tensor([[len(short)], [len(long)]])).long()
    with torch.inference_mode():
        padded = model(batch, attention_mask=mask, output_hidden_states=True).hidden_states[-1][0]
        alone = model(batch[:1, : len(short)], output_hidden_states=True).hidden_states[-1][0]
    frames = alone.shape[0]
    assert cosine(padded[:frames].mean(0).numpy(), alone.mean(0).numpy()) < 0.999


def test_truncation_skips_blocks_past_the_deepest_layer(group_norm_model):
    encoder = Encoder(group_norm_model, layers=[0, 1], device="cpu")
    assert len(encoder.model.encoder.layers) == 1


def test_unknown_layer_is_a_user_error(group_norm_model):
    from layerprobe.errors import UserError

    with pytest.raises(UserError, match="hidden states 0-4"):
        Encoder(group_norm_model, layers=[7], device="cpu")


def test_missing_preprocessor_config_falls_back_with_a_warning(tmp_path):
    model_dir = save_tiny_model(tmp_path, stable_layer_norm=False, feature_extractor=False)
    with pytest.warns(UserWarning, match="default feature extractor"):
        encoder = Encoder(model_dir, device="cpu")
    wave = encoder.normalize(np.arange(1000, dtype=np.float32))
    assert abs(wave.mean()) < 1e-4 and abs(wave.std() - 1) < 1e-3


def test_fingerprint_tells_weights_apart(tmp_path):
    first = Encoder(save_tiny_model(tmp_path / "a", stable_layer_norm=False), device="cpu").info.fingerprint
    again = Encoder(save_tiny_model(tmp_path / "b", stable_layer_norm=False), device="cpu").info.fingerprint
    model = AutoModel.from_pretrained(tmp_path / "b")
    with torch.no_grad():
        model.encoder.layers[0].feed_forward.output_dense.bias[0] += 1e-3
    model.save_pretrained(tmp_path / "b")
    changed = Encoder(str(tmp_path / "b"), device="cpu").info.fingerprint
    assert first == again != changed
