"""What an engine is: the part of an extraction that turns the pending clips into pooled rows.

The runner (extract/runner.py) owns the rest, the same for every engine: the manifest, the cache
(its only writer), resume, the bad-clip rules and the progress bar. An engine is one file: a class
with a `name`, a `Settings` option group of its own flags (layerprobe.options.OptionGroup), built
from those settings, and listed in extract/engines.py.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, ClassVar, Protocol

from layerprobe.data.audio import ClipError
from layerprobe.data.clips import Clip
from layerprobe.extract.batching import Finished
from layerprobe.extract.reading import Reading
from layerprobe.options import OptionGroup

if TYPE_CHECKING:  # the encoder is torch code; naming an engine must not load torch
    from layerprobe.extract.encoder import Encoder

# Padded audio per batch unless --batch-seconds says otherwise: small batches stay in a CPU's
# caches, a GPU wants large ones.
CPU_BATCH_SECONDS, GPU_BATCH_SECONDS = 4.0, 256.0


class Engine(Protocol):
    """Where the encoder runs."""

    name: ClassVar[str]
    Settings: ClassVar[type[OptionGroup]]

    def local_encoder(self, load: Callable[..., Encoder], device: str) -> Encoder:
        """The encoder this process holds: the one that encodes, or one on the CPU that only describes
        the model (its fingerprint, layers and rate) where workers elsewhere encode."""

    def where(self, encoder: Encoder) -> str:
        """Where the clips are encoded, for the run's first lines ("cpu", "Ray workers")."""

    def pooled_batches(self, todo: Sequence[tuple[int, Clip]], reading: Reading, *, encoder: Encoder,
                       load: Callable[..., Encoder], device: str, batch_seconds: float | None,
                       poolings: Sequence[str], failed: Callable[[int, Clip, ClipError], None]
                       ) -> Iterator[list[Finished]]:
        """The finished clips of `todo` ((cache row, clip), shortest first), batch by batch; a clip that
        cannot be read goes to `failed`. load(device=...) builds the encoder wherever it runs;
        batch_seconds None: the engine's default for the device."""
