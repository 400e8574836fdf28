"""The demo's built-in encoder: a small wav2vec2-base-shaped model, random init, saved to a folder.

Hub downloads may be impossible (offline machines, CI); this one is built from a config and
loaded by path through the same code a hub id takes.
"""
from __future__ import annotations

from pathlib import Path


def save_tiny_encoder(folder: str | Path, seed: int = 0) -> str:
    """Write config, weights and preprocessor_config.json of a 6-block, 128-wide wav2vec2; returns the folder."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    config = Wav2Vec2Config(
        hidden_size=128,
        num_hidden_layers=6,
        num_attention_heads=4,
        intermediate_size=256,
        conv_dim=(64,) * 7,
        num_conv_pos_embeddings=32,
        num_conv_pos_embedding_groups=4,
    )
    torch.manual_seed(seed)
    Wav2Vec2Model(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor().save_pretrained(folder)
    return str(Path(folder))
