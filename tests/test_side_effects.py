"""Importing layerprobe changes nothing process-wide, and loading a model leaves the user's settings as they were."""
import os
import subprocess
import sys

from transformers.utils import logging as hf_logging

from layerprobe.extract.encoder import Encoder


def test_importing_the_encoder_sets_no_environment_variable():
    code = ("import os, layerprobe, layerprobe.extract.encoder, layerprobe.extract.runner; "
            "print('ONEDNN_PRIMITIVE_CACHE_CAPACITY' in os.environ)")
    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_PRIMITIVE_CACHE_CAPACITY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_loading_a_model_keeps_hugging_face_progress_bars_off_when_the_user_turned_them_off(group_norm_model):
    hf_logging.disable_progress_bar()
    try:
        Encoder(group_norm_model, device="cpu")
        assert not hf_logging.is_progress_bar_enabled()
    finally:
        hf_logging.enable_progress_bar()
    Encoder(group_norm_model, device="cpu")
    assert hf_logging.is_progress_bar_enabled()
