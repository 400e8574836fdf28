"""The encoder shell: loading, device, dtype and autocast, the fingerprint, truncation to the deepest
requested layer, exact batched poolings. What a model family computes is its adapter's
(extract/encoders/); this module knows no family."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from torch import nn

from layerprobe.errors import UserError
from layerprobe.extract.encoders import family_for
from layerprobe.extract.encoders.family import Family
from layerprobe.extract.long_clips import Moments
from layerprobe.extract.model_source import check_model_source
from layerprobe.extract.pooling import pooling

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# Config entries that name or date a checkpoint without changing what it computes.
UNCOMPUTED_CONFIG_KEYS = ("transformers_version", "_name_or_path", "_commit_hash", "architectures", "dtype", "torch_dtype")
UNCOMPUTED_PREPROCESSOR_KEYS = ("processor_class",)


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


def fingerprint(model: nn.Module, feature_extractor) -> str:
    """A hash of what computes a cache's rows: the config's computing entries, every weight of
    `model` (the module whose hidden states are read) and the preprocessor's settings.

    Caches made before the preprocessor was covered hold this hash without its last part (config
    and weights only), so resuming one is refused as another model; reading it is not affected.
    """
    config = {k: v for k, v in model.config.to_dict().items() if k not in UNCOMPUTED_CONFIG_KEYS}
    digest = hashlib.blake2b(json.dumps(config, sort_keys=True, default=str).encode(), digest_size=16)
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    preprocessor = {k: v for k, v in feature_extractor.to_dict().items() if k not in UNCOMPUTED_PREPROCESSOR_KEYS}
    digest.update(json.dumps(preprocessor, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _load_model(model_id: str, revision: str | None, trust_remote_code: bool) -> tuple[type[Family], nn.Module]:
    """The checkpoint's family and its model as transformers' AutoModel loads it; the family is
    known from the config before any weight is read."""
    from transformers import AutoConfig, AutoModel

    with _quiet_transformers():
        try:
            config = AutoConfig.from_pretrained(model_id, revision=revision, trust_remote_code=trust_remote_code)
        except (OSError, ValueError) as error:
            raise _cannot_load(model_id, error) from None
        family = family_for(config.model_type, model_id)
        try:
            return family, AutoModel.from_pretrained(model_id, config=config, revision=revision,
                                                     trust_remote_code=trust_remote_code)
        except (OSError, ValueError, RuntimeError, SafetensorError) as error:  # RuntimeError: torch's bad checkpoint
            raise _cannot_load(model_id, error) from None


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """transformers without its warnings and progress bars, and the user's settings as they were after."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # a CTC head's unused weights are expected here, not news
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _cannot_load(model_id: str, error: Exception) -> UserError:
    cause = _damaged_weights(model_id) or (str(error).strip().splitlines()[0][:200] if str(error).strip()
                                           else type(error).__name__)
    return UserError(f"cannot load model {model_id!r}: {cause}")


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
        family, model = _load_model(model_id, revision, trust_remote_code)
        config = model.config
        self.family = family(model, family.load_feature_extractor(model_id, revision, config))
        num_layers = self.family.num_layers
        self.layers = list(range(num_layers + 1)) if layers is None else sorted(set(layers))
        bad = [i for i in self.layers if not 0 <= i <= num_layers]
        if bad:
            raise UserError(f"--layers {bad}: {model_id} has hidden states 0-{num_layers}")
        self.info = ModelInfo(
            model=model_id,
            revision=revision or getattr(config, "_commit_hash", None) or "",
            fingerprint=fingerprint(self.family.model, self.family.feature_extractor),
            model_type=config.model_type,
            num_layers=num_layers,
            hidden_size=self.family.hidden_size,
            sample_rate=self.family.sample_rate,
            receptive_field=self.family.receptive_field,
        )
        # transformers records hidden states as its blocks run: with none left there would be none,
        # not even hidden_states[0], so one block stays.
        self.family.truncate(max(*self.layers, 1))
        self.model = self.family.model.to(self.device).eval()

    def chunk_samples(self, chunk_seconds: float) -> int:
        """The longest segment, in samples, that --chunk-seconds allows; a UserError where the
        model cannot take it (shorter than its receptive field, longer than its window)."""
        samples = int(chunk_seconds * self.info.sample_rate)
        if samples < self.info.receptive_field:
            raise UserError(f"--chunk-seconds {chunk_seconds} is shorter than the encoder's receptive field")
        window = self.family.window_samples
        if window is not None and samples > window:
            raise UserError(f"--chunk-seconds {chunk_seconds} is longer than the {window / self.info.sample_rate:g} s "
                            f"window of {self.info.model_type}'s encoder: choose at most that")
        return samples

    def scaling(self, moments: Moments) -> tuple[float, float]:
        """(shift, scale) such that (wave - shift) / scale is the feature extractor's waveform
        normalization of a clip of these moments: zero mean and unit variance, or unchanged
        without do_normalize."""
        if not self.family.normalizes:
            return 0.0, 1.0
        return moments.mean, float(np.sqrt(moments.variance + 1e-7))

    def normalize(self, wave: np.ndarray) -> np.ndarray:
        """The model's own waveform normalization, applied in place to one whole clip (float32;
        the feature extractor would make several full-length copies: 1 GB for an hour)."""
        shift, scale = self.scaling(Moments.of(wave))
        wave -= np.float32(shift)
        wave /= np.float32(scale)
        return wave

    @torch.inference_mode()
    def summarize(self, waves: list[np.ndarray], poolings: Sequence[str] = ("mean",)
                  ) -> tuple[dict[str, list[np.ndarray]], np.ndarray]:
        """Each pooling's summaries of the real frames of each requested layer, for a batch of
        normalized clips (or segments of clips; see extract/pooling.py).

        A family whose every input is padded to its window (Whisper) runs the batch in groups whose
        padded samples stay within the batch's own (longest x clips, which the batcher bounds), so
        that a batch of short clips costs the memory it was sized for.

        Returns ({pooling: [float32 (batch, len(layers), hidden), ...]}, frames int64 (batch,)).
        """
        window = self.family.window_samples
        size = len(waves) if window is None else max(1, max(map(len, waves)) * len(waves) // window)
        if size >= len(waves):
            return self._summarize(waves, poolings)
        groups = [self._summarize(waves[start:start + size], poolings) for start in range(0, len(waves), size)]
        summaries = {name: [np.concatenate(parts) for parts in zip(*(group[0][name] for group in groups))]
                     for name in poolings}
        return summaries, np.concatenate([group[1] for group in groups])

    def _summarize(self, waves: list[np.ndarray], poolings: Sequence[str]
                   ) -> tuple[dict[str, list[np.ndarray]], np.ndarray]:
        lengths = torch.tensor([len(w) for w in waves])
        inputs = self.family.inputs(waves, self.device)
        with self._autocast():
            hidden = self.family.hidden_states(inputs, lengths)
        frames = self.family.frames(lengths).to(self.device)
        valid = (torch.arange(hidden[0].shape[1], device=self.device) < frames[:, None]).float()[..., None]
        summaries = {}
        for name in poolings:
            per_layer = [pooling(name).summarize(hidden[i].float(), valid, frames) for i in self.layers]
            summaries[name] = [torch.stack(parts, dim=1).cpu().numpy() for parts in zip(*per_layer)]
        return summaries, frames.cpu().numpy()

    def _autocast(self):
        if self.dtype == "float32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=DTYPES[self.dtype])
