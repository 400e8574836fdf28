"""A (rung, fold) unit's progress, saved at every epoch's end: torch.save of plain state (tensors, numbers,
lists, the state dicts of the trained parameters and the optimizer, torch's RNG state), written atomically and
read back with weights_only=True, so nothing but that state is ever unpickled."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

import torch

from layerprobe.atomic_write import atomic_path


@dataclass
class Progress:
    """Where a unit stands: `phase` (0..G-1: learning rate G's inner run; G: the refit on the outer training
    part), epochs done in it, the trained parameters and optimizer state at that point (None at a phase's
    start), torch's RNG state (and cuda's, on a GPU), every finished epoch's validation (UAR, loss) per phase, and seconds spent."""

    phase: int = 0
    epoch: int = 0
    model: dict | None = None
    optimizer: dict | None = None
    rng: torch.Tensor | None = None
    cuda_rng: torch.Tensor | None = None
    history: list[list[list[float]]] = field(default_factory=list)
    seconds: float = 0.0


def save_progress(path: Path, progress: Progress) -> None:
    """Replace the checkpoint at `path` whole; a failed write (a full disk) is a UserError and the last one stays."""
    with atomic_path(path) as temporary, open(temporary, "wb") as file:
        writer = _Writer(file)
        try:
            torch.save(asdict(progress), writer)
        except RuntimeError as error:
            # torch reports a failed write as "[enforce fail at inline_container.cc] unexpected pos": the cause is
            # the OSError the file raised under it (No space left on device).
            raise writer.error or OSError(str(error).strip().splitlines()[0]) from None


class _Writer:
    """A file for torch.save that keeps the OSError of a failed write, which torch replaces by its own message."""

    def __init__(self, file: BinaryIO) -> None:
        self.file, self.error = file, None

    def write(self, data: bytes) -> int:
        try:
            return self.file.write(data)
        except OSError as error:
            self.error = error
            raise

    def flush(self) -> None:
        self.file.flush()


def load_progress(path: Path) -> Progress:
    """The saved progress, or a fresh one where none was saved."""
    if not path.is_file():
        return Progress()
    return Progress(**torch.load(path, map_location="cpu", weights_only=True))
