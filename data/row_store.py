"""The live part files of a cache, open to write values in place by dataset name and cache row."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from layerprobe.data.durable import checked_flush, checked_write, open_for_writing
from layerprobe.data.parts import Part, parts_folder, segments


class RowStore:
    """Every listed part of the cache at `path`, opened for writing; errors name the cache.

    Handles are held open until close: a handle dropped after each write would flush when
    garbage collected, where h5py only prints a write error instead of raising it.
    """

    def __init__(self, path: Path, parts: list[Part], rows: int):
        self.path = path
        folder = parts_folder(path)
        self._files: dict[str, h5py.File] = {}
        self._written: set[str] = set()
        try:
            for part in parts:
                self._files[part.file] = open_for_writing(folder / part.file)
        except BaseException:
            self.close()
            raise
        names = {name for part in parts for name in part.datasets}
        self._segments = {
            name: [(start, stop, self._files[part.file][name], part.start)
                   for start, stop, part in segments(parts, name, rows)]
            for name in names
        }

    @property
    def names(self) -> list[str]:
        """The datasets the parts hold."""
        return sorted(self._segments)

    def read(self, name: str) -> np.ndarray:
        """Every row of dataset `name`."""
        return np.concatenate([dataset[start - offset:stop - offset]
                               for start, stop, dataset, offset in self._segments[name]])

    def write(self, name: str, rows, values) -> None:
        """dataset[rows] = values: rows an int or increasing ints, values one value or one per row."""
        rows = np.atleast_1d(rows)
        for start, stop, dataset, offset in self._segments[name]:
            inside = (rows >= start) & (rows < stop)
            if inside.any():
                part_values = values if np.ndim(values) == 0 else np.asarray(values)[inside]
                checked_write(dataset, rows[inside] - offset, part_values, self.path)
                self._written.add(dataset.file.filename)

    def flush(self) -> None:
        """Flush and sync every part written since the last flush, so its values are on the disk."""
        for file in self._files.values():
            if file.filename in self._written:
                checked_flush(file, self.path)
        self._written.clear()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            for file in self._files.values():
                file.close()
