"""Each clip's frames of one hidden state, concatenated in one float32 .npy on disk and read memory-mapped:
what a frozen part of the encoder (top-k's bottom, lora's and full's CNN) computes once and every epoch reuses. Written whole or not at all (atomically),
within a bound on its size; a rerun reuses a complete one."""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from layerprobe.atomic_write import atomic_path
from layerprobe.errors import UserError

GB = 1e9


class FrameStore:
    """The frames of clip i are `values[offsets[i]:offsets[i + 1]]`, (frames_i, hidden) float32."""

    def __init__(self, path: Path) -> None:
        self.values = np.load(path, mmap_mode="r")
        self.offsets = np.load(_offsets_path(path))

    def clip(self, row: int) -> np.ndarray:
        return self.values[self.offsets[row]:self.offsets[row + 1]]

    def padded(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), longest, width) float32: each clip's frames, then zeros."""
        clips = [self.clip(row) for row in rows]
        batch = np.zeros((len(clips), max(len(clip) for clip in clips), self.values.shape[1]), np.float32)
        for i, clip in enumerate(clips):
            batch[i, :len(clip)] = clip
        return batch

    @staticmethod
    def size(frames: np.ndarray, hidden: int) -> int:
        """Bytes on disk of a store of `frames[i]` frames of `hidden` values for clip i."""
        return int(np.sum(frames)) * hidden * 4

    @classmethod
    def ensure(cls, path: Path, frames: np.ndarray, hidden: int, batches: Callable[[], Iterator[list[np.ndarray]]],
               bound_gb: float, flag: str = "--bottom-gb") -> FrameStore:
        """The store at `path` holding `frames[i]` frames of `hidden` values for clip i: reused when complete,
        else filled from `batches()` (each clip's (frames_i, hidden) arrays in row order). A UserError, before
        any work, when it would exceed `bound_gb`."""
        offsets = np.concatenate([[0], np.cumsum(frames)]).astype(np.int64)
        if path.is_file() and _offsets_path(path).is_file():
            stored = cls(path)
            if np.array_equal(stored.offsets, offsets) and stored.values.shape == (offsets[-1], hidden):
                return stored
        size = cls.size(frames, hidden)
        if size > bound_gb * GB:
            raise UserError(f"the frozen bottom's frames need {size / GB:.3g} GB on disk, more than {flag} "
                            f"{bound_gb:g}: raise it, or unfreeze more blocks")
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(_offsets_path(path)) as temporary:
            np.save(temporary, offsets)
        with atomic_path(path) as temporary:
            values = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.float32, shape=(int(offsets[-1]), hidden))
            _allocate(temporary)
            row = 0
            for batch in batches():
                for clip in batch:
                    values[offsets[row]:offsets[row + 1]] = clip
                    row += 1
            values.flush()
            del values
        return cls(path)


def _offsets_path(path: Path) -> Path:
    return path.with_name(path.stem + ".offsets.npy")


def _allocate(path: Path) -> None:
    """Give the (sparse) memory-mapped file its blocks now: a full disk is then an OSError here, where writing
    through the map into a hole the disk cannot fill would kill the process with SIGBUS."""
    if not hasattr(os, "posix_fallocate"):  # macOS: no way to ask; a full disk there is the map's failure
        return
    descriptor = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(descriptor, 0, os.fstat(descriptor).st_size)
    finally:
        os.close(descriptor)
