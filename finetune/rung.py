"""What a rung of the ladder is: which parameters train, what is computed once per clip and reused every epoch,
and the forward from a batch of clips to logits. One module per rung (finetune/registry.py names them)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from layerprobe.errors import UserError
from layerprobe.extract.encoder import Encoder
from layerprobe.options import FinetuneOptions


class Rung(ABC):
    """One rung around a loaded encoder and the labelled clips' waveforms.

    Parameters
    ----------
    encoder : the frozen encoder (extract's Encoder, every layer, eval mode); never trained itself: a rung
        that trains encoder weights trains a copy.
    waves : every labelled clip's normalized waveform, by row.
    options : the ladder's validated options.
    n_classes : the classes the head predicts.
    work : a folder for what the rung computes once (top-k's frozen frames).
    progress : show progress bars.
    """

    name: ClassVar[str]
    trains: ClassVar[str]  # which parameters train, in words
    # The model families whose modules the rung reaches into (None: any the encoder reads).
    model_types: ClassVar[tuple[str, ...] | None] = None

    def __init__(self, encoder: Encoder, waves: list[np.ndarray], options: FinetuneOptions, n_classes: int,
                 work: Path, progress: bool = False) -> None:
        if self.model_types is not None and encoder.info.model_type not in self.model_types:
            raise UserError(f"the {self.name} rung reads the {', '.join(self.model_types)} family's modules; "
                            f"{encoder.info.model} is {encoder.info.model_type}")
        self.encoder, self.waves, self.options, self.n_classes = encoder, waves, options, n_classes
        self.work, self.progress = work, progress
        self.device = encoder.device

    def prepare(self) -> None:
        """Compute what every epoch reuses (default: nothing)."""
        return None

    @property
    def source(self) -> int | str:
        """The record's layer: the hidden state the head reads (the last one by default)."""
        return self.encoder.info.num_layers

    @abstractmethod
    def build(self) -> nn.Module:
        """A fresh model: pretrained weights and a new head (initialized from torch's global seed); only the
        parameters that train require gradients."""

    @abstractmethod
    def logits(self, model: nn.Module, rows: np.ndarray) -> torch.Tensor:
        """(len(rows), n_classes) logits of the clips `rows`, on the rung's device."""


def trainable_parameters(model: nn.Module) -> int:
    """How many parameters of `model` train."""
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)
