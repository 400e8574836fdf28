"""Hand-made features (features/NAME) written into an existing cache, resumably and crash-safely.

Beside `features/NAME` (N, F) float32 the cache gets `feature_status/NAME` ("ok", "failed",
"pending") and `feature_error/NAME`. They come as a new part of the cache for every row, so the
stored embeddings are never copied (see data/parts.py for why that survives kill -9); afterwards
only values are written in place.

A cache without encoder layers (made by `baselines DATA`) has no other stage to say which clips
are usable, so there the writer also keeps clips/status: "ok" once every stored feature of the
clip is ok, "failed" (with the reason in clips/error) as soon as one fails.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from layerprobe.data.cache import encode_error, open_cache
from layerprobe.data.cache_layout import ERROR, STATUS, Structure
from layerprobe.data.durable import WriterLock
from layerprobe.data.parts import Column, commit
from layerprobe.data.row_store import RowStore
from layerprobe.errors import UserError


class FeatureWriter:
    """Exclusive writing of one feature into a cache.

    name: the feature ("mfcc"); dim: values per clip; params: how it is computed (stored as the
    dataset's attrs; a cached feature computed otherwise is refused unless overwrite).
    """

    def __init__(self, path: str | os.PathLike, name: str, dim: int, params: dict, overwrite: bool = False):
        self.path = Path(path)
        self.name = name
        self._lock = WriterLock(self.path)
        try:
            structure, parts = self._prepare(dim, params, overwrite)
            self._rows = RowStore(self.path, parts, structure.rows)
        except BaseException:
            self._lock.release()
            raise
        self.ids = np.asarray(structure.table["id"], dtype=object)
        self.owns_clips = len(structure.attrs.get("layers", ())) == 0
        self._features = sorted({name.split("/", 1)[1] for name in self._rows.names if name.startswith("feature_status/")})
        # This writer is the only one, so the statuses it writes are known without reading them again.
        self.status = self._rows.read(f"feature_status/{name}")

    def _prepare(self, dim: int, params: dict, overwrite: bool) -> tuple[Structure, list]:
        """Add the feature's datasets to the cache unless it holds them, computed the same way;
        returns what the cache held and its parts now."""
        wanted = json.dumps(params, sort_keys=True)
        with open_cache(self.path) as cache:
            existing = cache.get(f"features/{self.name}")
            same = existing is not None and existing.attrs.get("params") == wanted and existing.shape[1] == dim
            if existing is not None and not same and not overwrite:
                raise UserError(
                    f"{self.path} holds features/{self.name} computed with {existing.attrs.get('params')}; "
                    f"this run asks for {wanted}; use --overwrite to recompute it"
                )
            structure = Structure.of(cache)
        if same and structure.parts is not None:
            return structure, structure.parts
        columns = [Column(f"features/{self.name}", (dim,), np.dtype(np.float32), {**params, "params": wanted}),
                   Column(f"feature_status/{self.name}", (), STATUS),
                   Column(f"feature_error/{self.name}", (), ERROR)]
        new = [] if same else [(columns, 0, structure.rows)]
        return structure, commit(self.path, structure.attrs, structure.table, structure.parts, new)

    def pending(self) -> np.ndarray:
        """Rows whose feature is not yet "ok"."""
        return np.flatnonzero(self.status != b"ok")

    def write_ok(self, rows: np.ndarray, values: np.ndarray, durations: np.ndarray | None = None) -> None:
        """Store finished rows: values is (rows, dim). durations (seconds per row) go to
        clips/duration where the writer owns the clips (see the module docstring)."""
        order = np.argsort(rows)
        rows = np.asarray(rows)[order]
        self._rows.write(f"features/{self.name}", rows, values[order])
        self._rows.flush()
        self._set_status(rows, b"ok")
        if self.owns_clips:
            self._settle_clips(rows, None if durations is None else np.asarray(durations)[order])

    def write_failed(self, row: int, message: str, duration: float = float("nan")) -> None:
        """Record why the feature of one row could not be computed (and fail the clip where the writer owns clips)."""
        self._rows.write(f"feature_error/{self.name}", row, encode_error(message))
        self._set_status(row, b"failed")
        if self.owns_clips:
            self._rows.write("clips/duration", row, duration)
            self._rows.write("clips/error", row, encode_error(f"{self.name}: {message}"))
            self._rows.write("clips/status", row, b"failed")
            self._rows.flush()

    def _set_status(self, rows, value: bytes) -> None:
        self._rows.write(f"feature_status/{self.name}", rows, value)
        self._rows.flush()
        self.status[rows] = value

    def _settle_clips(self, rows: np.ndarray, durations: np.ndarray | None) -> None:
        if durations is not None:
            self._rows.write("clips/duration", rows, durations.astype(np.float32))
        every_ok = np.logical_and.reduce([self._rows.read(f"feature_status/{name}")[rows] == b"ok"
                                          for name in self._features])
        done = rows[every_ok]
        if len(done):
            self._rows.write("clips/error", done, b"")
            self._rows.flush()
            self._rows.write("clips/status", done, b"ok")
            self._rows.flush()

    def close(self) -> None:
        try:
            self._rows.close()
        finally:
            self._lock.release()

    def __enter__(self) -> FeatureWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
