"""The frozen encoder: loading, truncation to the deepest requested layer, exact batched poolings."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from torch import nn

from layerprobe.errors import UserError
from layerprobe.extract.exact_batching import PaddingGuard
from layerprobe.extract.long_clips import Moments
from layerprobe.extract.model_source import check_model_source
from layerprobe.extract.pooling import pooling

SUPPORTED_TYPES = ("wav2vec2", "hubert", "wavlm", "data2vec-audio")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# Config entries that name or date a checkpoint without changing what it computes.
UNCOMPUTED_CONFIG_KEYS = ("transformers_version", "_name_or_path", "_commit_hash", "architectures", "dtype", "torch_dtype")


@dataclass(frozen=True)
class ModelInfo:
    """What the cache records about the encoder."""

    model: str
    revision: str
    fingerprint: str
    model_type: str
    num_layers: int
    hidden_size: int
    sample_rate: int
    receptive_field: int


def resolve_device(device: str) -> torch.device:
    """`auto` picks cuda, then mps, then cpu; anything else must be available."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise UserError(f"--device {device!r} is not a device (auto, cpu, cuda, cuda:N, mps)") from error
    if resolved.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"--device {device}: choose auto, cpu, cuda, cuda:N or mps")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {device}: no CUDA device is available on this machine")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"--device {device}: MPS is not available on this machine")
    return resolved


def fingerprint(model: nn.Module) -> str:
    """A hash of the config's computing entries and every weight, so a cache knows its encoder."""
    config = {k: v for k, v in model.config.to_dict().items() if k not in UNCOMPUTED_CONFIG_KEYS}
    digest = hashlib.blake2b(json.dumps(config, sort_keys=True, default=str).encode(), digest_size=16)
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def receptive_field(config) -> int:
    """Samples the conv feature encoder needs for one output frame (400 for wav2vec2)."""
    field, jump = 1, 1
    for kernel, stride in zip(config.conv_kernel, config.conv_stride):
        field += (kernel - 1) * jump
        jump *= stride
    return field


def _load_feature_extractor(model_id: str, revision: str | None, config):
    from transformers import AutoFeatureExtractor, Wav2Vec2FeatureExtractor

    try:
        return AutoFeatureExtractor.from_pretrained(model_id, revision=revision)
    except (OSError, ValueError):
        warnings.warn(
            f"{model_id} has no preprocessor_config.json: using the default feature extractor for "
            f"{config.model_type} (16 kHz, zero-mean unit-variance normalization)",
            stacklevel=2,
        )
        return Wav2Vec2FeatureExtractor(
            sampling_rate=16000, do_normalize=True, return_attention_mask=getattr(config, "feat_extract_norm", "layer") == "layer"
        )


def _load_model(model_id: str, revision: str | None, trust_remote_code: bool) -> nn.Module:
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # a CTC head's unused weights are expected here, not news
    hf_logging.disable_progress_bar()
    try:
        return AutoModel.from_pretrained(model_id, revision=revision, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, RuntimeError, SafetensorError) as error:  # RuntimeError: torch's bad checkpoint
        damaged = _damaged_weights(model_id)
        cause = damaged or (str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__)
        raise UserError(f"cannot load model {model_id!r}: {cause}") from None
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:  # the user's setting, as it was
            hf_logging.enable_progress_bar()


def _damaged_weights(model_id: str) -> str:
    """Which weights file of a local model folder safetensors cannot read, and why ("" when none)."""
    for name in sorted(Path(model_id).glob("*.safetensors")) if os.path.isdir(model_id) else []:
        try:
            with safe_open(name, framework="pt") as weights:
                for key in weights.keys():
                    weights.get_slice(key)
        except (OSError, SafetensorError) as error:
            return f"{name} is truncated or damaged ({str(error).strip()[:120]})"
    return ""


class Encoder:
    """A frozen speech encoder that summarizes, per clip, the real frames of chosen hidden states.

    `layers` are hidden_states indices (0 = the transformer's input, i = output of block i). The
    transformer runs only as deep as the highest one. Batches of different-length clips give the
    same result as one clip at a time: padded samples never enter a statistic or a mean.
    """

    def __init__(
        self,
        model_id: str,
        layers: list[int] | None = None,
        revision: str | None = None,
        device: str = "auto",
        dtype: str = "float32",
        trust_remote_code: bool = False,
    ):
        self.device = resolve_device(device)
        if dtype not in DTYPES:
            raise UserError(f"--dtype {dtype!r}: choose float32, float16 or bfloat16")
        if dtype == "float16" and self.device.type == "cpu":
            raise UserError("--dtype float16 needs a GPU; on the CPU use float32 or bfloat16")
        self.dtype = dtype
        # oneDNN keeps a compiled convolution for every input shape it meets (1,024 by default), and
        # each length-sorted batch has a new shape: over FSDD's 3,000 clips the process grew from 0.9
        # to 4.5 GB. Eight cached shapes keep it flat at no measurable cost. oneDNN reads this when
        # the first convolution runs, so setting it here, not at import, is in time.
        os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "8")
        check_model_source(model_id, revision)
        model = _load_model(model_id, revision, trust_remote_code)
        config = model.config
        if not (hasattr(model, "feature_extractor") and hasattr(model, "encoder")):
            raise UserError(
                f"{model_id} is a {config.model_type} model; layerprobe reads encoders of type "
                f"{', '.join(SUPPORTED_TYPES)} (a conv feature encoder followed by transformer blocks)"
            )
        self.feature_extractor = _load_feature_extractor(model_id, revision, config)
        num_layers = config.num_hidden_layers
        self.layers = list(range(num_layers + 1)) if layers is None else sorted(set(layers))
        bad = [i for i in self.layers if not 0 <= i <= num_layers]
        if bad:
            raise UserError(f"--layers {bad}: {model_id} has hidden states 0-{num_layers}")
        self.info = ModelInfo(
            model=model_id,
            revision=revision or getattr(config, "_commit_hash", None) or "",
            fingerprint=fingerprint(model),
            model_type=config.model_type,
            num_layers=num_layers,
            hidden_size=config.hidden_size,
            sample_rate=int(self.feature_extractor.sampling_rate),
            receptive_field=receptive_field(config),
        )
        # transformers records hidden states as its blocks run: with none left there would be none,
        # not even hidden_states[0], so one block stays.
        _truncate(model, max(*self.layers, 1))
        self._guard = PaddingGuard(model)
        self.model = model.to(self.device).eval()

    @property
    def normalizes_in_blocks(self) -> bool:
        """Whether the model's input normalization is known here (scaling), so that a clip can be
        normalized a piece at a time instead of handed whole to the feature extractor."""
        from transformers import Wav2Vec2FeatureExtractor

        return type(self.feature_extractor) is Wav2Vec2FeatureExtractor

    def scaling(self, moments: Moments) -> tuple[float, float]:
        """(shift, scale) such that (wave - shift) / scale is Wav2Vec2FeatureExtractor's output for
        a clip of these moments: zero mean and unit variance, or unchanged without do_normalize."""
        if not self.feature_extractor.do_normalize:
            return 0.0, 1.0
        return moments.mean, float(np.sqrt(moments.variance + 1e-7))

    def normalize(self, wave: np.ndarray) -> np.ndarray:
        """The model's own input normalization, applied to one whole clip (float32; may be `wave` itself)."""
        if self.normalizes_in_blocks:
            # In place: the feature extractor makes several full-length copies (1 GB for an hour).
            shift, scale = self.scaling(Moments.of(wave))
            wave -= np.float32(shift)
            wave /= np.float32(scale)
            return wave
        features = self.feature_extractor(wave, sampling_rate=self.info.sample_rate, return_tensors="np")
        return features["input_values"][0].astype(np.float32)

    def frames(self, samples: int) -> int:
        """Encoder frames a clip of `samples` samples yields."""
        return int(self.model._get_feat_extract_output_lengths(torch.tensor(samples)))

    @torch.inference_mode()
    def summarize(self, waves: list[np.ndarray], poolings: Sequence[str] = ("mean",)
                  ) -> tuple[dict[str, list[np.ndarray]], np.ndarray]:
        """Each pooling's summaries of the real frames of each requested layer, for a batch of
        normalized clips (or segments of clips; see extract/pooling.py).

        Returns ({pooling: [float32 (batch, len(layers), hidden), ...]}, frames int64 (batch,)).
        """
        lengths = torch.tensor([len(w) for w in waves])
        batch = torch.zeros(len(waves), int(lengths.max()))
        for row, wave in enumerate(waves):
            batch[row, : len(wave)] = torch.from_numpy(wave)
        sample_mask = (torch.arange(batch.shape[1]) < lengths[:, None]).long()
        with self._guard.batch(lengths) as frames, self._autocast():
            out = self.model(
                batch.to(self.device), attention_mask=sample_mask.to(self.device), output_hidden_states=True
            )
        frames = frames.to(self.device)
        valid = (torch.arange(out.hidden_states[0].shape[1], device=self.device) < frames[:, None]).float()[..., None]
        summaries = {}
        for name in poolings:
            per_layer = [pooling(name).summarize(out.hidden_states[i].float(), valid, frames) for i in self.layers]
            summaries[name] = [torch.stack(parts, dim=1).cpu().numpy() for parts in zip(*per_layer)]
        return summaries, frames.cpu().numpy()

    def _autocast(self):
        if self.dtype == "float32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=DTYPES[self.dtype])


def _truncate(model: nn.Module, deepest: int) -> None:
    """Drop the transformer blocks past `deepest`: hidden_states[0..deepest] are unchanged, the cost falls."""
    encoder = model.encoder
    if deepest >= len(encoder.layers):
        return
    encoder.layers = encoder.layers[:deepest]
    if getattr(model.config, "do_stable_layer_norm", False):
        # Pre-norm encoders apply a final LayerNorm after the last block; after truncation that
        # would land on block `deepest`, whose hidden state the full model reports un-normalized.
        encoder.layer_norm = nn.Identity()

