"""Tiny random-init encoders saved to disk and loaded by path, as a user's hub id would be."""
from __future__ import annotations

import pytest

TINY = dict(
    hidden_size=32,
    num_hidden_layers=4,
    num_attention_heads=2,
    intermediate_size=37,
    conv_dim=(16,) * 7,
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=2,
)


def save_tiny_model(folder, stable_layer_norm: bool, model_type: str = "wav2vec2", feature_extractor: bool = True):
    """A 4-block encoder of the given family: group-norm (wav2vec2-base style) or layer-norm (large-lv60 style)."""
    import torch
    from transformers import AutoModel, Wav2Vec2FeatureExtractor
    from transformers import Data2VecAudioConfig, HubertConfig, Wav2Vec2Config, WavLMConfig

    configs = {"wav2vec2": Wav2Vec2Config, "hubert": HubertConfig, "wavlm": WavLMConfig}
    if model_type == "data2vec-audio":
        config = Data2VecAudioConfig(**{**TINY, "num_conv_pos_embeddings": 3}, conv_pos_kernel_size=5)
    else:
        norm = "layer" if stable_layer_norm else "group"
        config = configs[model_type](**TINY, do_stable_layer_norm=stable_layer_norm, feat_extract_norm=norm)
    torch.manual_seed(0)
    AutoModel.from_config(config).save_pretrained(folder)
    if feature_extractor:
        Wav2Vec2FeatureExtractor(return_attention_mask=stable_layer_norm).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def group_norm_model(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("w2v-group"), stable_layer_norm=False)


@pytest.fixture(scope="session")
def layer_norm_model(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("w2v-layer"), stable_layer_norm=True)
