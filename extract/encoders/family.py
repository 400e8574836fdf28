"""What the encoder shell (extract/encoder.py) asks of an encoder family.

A family is one file in this folder: a subclass of Family, registered in encoders/__init__.py under
the config.model_type values it reads. The shell owns the device, dtype, poolings, fingerprint,
chunking and batching; a family owns its model's input features, padding leaks, frame counts, layers
and window.
"""
from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch
from torch import nn


class Family(ABC):
    """One encoder family around a loaded checkpoint.

    Parameters
    ----------
    model : nn.Module
        What transformers' AutoModel loaded for the checkpoint.
    feature_extractor : transformers.FeatureExtractionMixin
        The checkpoint's preprocessor, as `load_feature_extractor` gives it.
    """

    name: ClassVar[str]  # how an error message names the family
    model_types: ClassVar[tuple[str, ...]]  # the config.model_type values it reads
    feature_extractor_class: ClassVar[type]
    default_preprocessing: ClassVar[str]  # what the default feature extractor does, for its warning
    # Every input padded to this many samples, the most one forward takes: a clip longer is encoded
    # in segments no longer. None: inputs of any length, padded to the batch's longest only.
    window_samples: int | None = None

    def __init__(self, model: nn.Module, feature_extractor) -> None:
        self.model = model  # the module whose hidden states are read; its weights are fingerprinted
        self.feature_extractor = feature_extractor

    @classmethod
    def load_feature_extractor(cls, model_id: str, revision: str | None, config):
        """The checkpoint's preprocessor_config.json, or with a warning the family's default."""
        try:
            return cls.feature_extractor_class.from_pretrained(model_id, revision=revision)
        except (OSError, ValueError):
            warnings.warn(f"{model_id} has no preprocessor_config.json: using the default feature extractor for "
                          f"{config.model_type} ({cls.default_preprocessing})", stacklevel=3)
            return cls.default_feature_extractor(config)

    @classmethod
    @abstractmethod
    def default_feature_extractor(cls, config):
        """The feature extractor of a checkpoint saved without one."""

    @property
    def num_layers(self) -> int:
        """Transformer blocks: hidden states 0 (the blocks' input) to num_layers."""
        return self.model.config.num_hidden_layers

    @property
    def hidden_size(self) -> int:
        return self.model.config.hidden_size

    @property
    def sample_rate(self) -> int:
        return int(self.feature_extractor.sampling_rate)

    @property
    def normalizes(self) -> bool:
        """Whether each clip is scaled to zero mean and unit variance before its features are made
        (the feature extractor's do_normalize; the shell applies it to the whole clip)."""
        return bool(getattr(self.feature_extractor, "do_normalize", False))

    @property
    @abstractmethod
    def receptive_field(self) -> int:
        """Samples one output frame needs: a shorter clip is too short (or padded, with --pad-short)."""

    @abstractmethod
    def truncate(self, deepest: int) -> None:
        """Drop the blocks past `deepest` (>= 1), leaving hidden states 0..deepest as the whole model gives them."""

    @abstractmethod
    def frames(self, lengths: torch.Tensor) -> torch.Tensor:
        """Real frames (int64) of clips of `lengths` samples: the frames a mean pools over."""

    @abstractmethod
    def inputs(self, waves: list[np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
        """The model's inputs, on `device`, for a batch of normalized clips of any lengths."""

    @abstractmethod
    def hidden_states(self, inputs: dict[str, torch.Tensor], lengths: torch.Tensor) -> Sequence[torch.Tensor]:
        """Every hidden state (batch, time, hidden) of the batch; each clip's first frames(lengths)
        frames are those of the clip encoded alone."""
