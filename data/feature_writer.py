"""Hand-made features (features/NAME) written into an existing cache, resumably and crash-safely.

Beside `features/NAME` (N, F) float32 the cache gets `feature_status/NAME` ("ok", "failed",
"pending") and `feature_error/NAME`. Adding them changes the file's structure, so that happens on
a copy that replaces the cache atomically; afterwards only values are written in place (see
data/cache.py for why that survives kill -9).

A cache without encoder layers (made by `baselines DATA`) has no other stage to say which clips
are usable, so there the writer also keeps clips/status: "ok" once every stored feature of the
clip is ok, "failed" (with the reason in clips/error) as soon as one fails.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import h5py
import numpy as np

from layerprobe.data.cache import (
    ERROR,
    METADATA_BYTES,
    STATUS,
    checked_flush,
    checked_write,
    contiguous,
    encode_error,
    lock,
    open_cache,
    open_for_writing,
    replacing,
    reserve,
)
from layerprobe.errors import UserError


class FeatureWriter:
    """Exclusive writing of one feature into a cache.

    name: the feature ("mfcc"); dim: values per clip; params: how it is computed (stored as the
    dataset's attrs; a cached feature computed otherwise is refused unless overwrite).
    """

    def __init__(self, path: str | os.PathLike, name: str, dim: int, params: dict, overwrite: bool = False):
        self.path = Path(path)
        self.name = name
        self._lock = lock(self.path)
        try:
            self._prepare(dim, params, overwrite)
            self._file = open_for_writing(self.path)
        except BaseException:
            self._lock.release()
            raise
        self.values = self._file[f"features/{name}"]
        self.status = self._file[f"feature_status/{name}"]
        self.error = self._file[f"feature_error/{name}"]
        self.ids = self._file["clips/id"].asstr()[()]
        self.owns_clips = len(self._file.attrs.get("layers", ())) == 0
        # Held open, like every handle this writer writes through (see data/cache.py: why).
        self._clip_duration = self._file["clips/duration"]
        self._clip_status = self._file["clips/status"]
        self._clip_error = self._file["clips/error"]

    def _prepare(self, dim: int, params: dict, overwrite: bool) -> None:
        wanted = json.dumps(params, sort_keys=True)
        with open_cache(self.path) as cache:
            existing = cache.get(f"features/{self.name}")
            if existing is not None:
                if existing.attrs.get("params") == wanted and existing.shape[1] == dim:
                    return
                if not overwrite:
                    raise UserError(
                        f"{self.path} holds features/{self.name} computed with {existing.attrs.get('params')}; "
                        f"this run asks for {wanted}; use --overwrite to recompute it"
                    )
            rows = len(cache["clips/id"])
        needed = self.path.stat().st_size + rows * (4 * dim + STATUS.itemsize + ERROR.itemsize) + METADATA_BYTES
        with replacing(self.path, needed) as temporary:
            shutil.copyfile(self.path, temporary)
            self._add_datasets(temporary, rows, dim, params, wanted)

    def _add_datasets(self, temporary: Path, rows: int, dim: int, params: dict, wanted: str) -> None:
        with h5py.File(temporary, "r+") as new:
            for group in ("features", "feature_status", "feature_error"):
                if f"{group}/{self.name}" in new:
                    del new[f"{group}/{self.name}"]
            values = contiguous(new, f"features/{self.name}", (rows, dim), np.float32)
            values.attrs.update(params)
            values.attrs["params"] = wanted
            status = contiguous(new, f"feature_status/{self.name}", (rows,), STATUS)
            error = contiguous(new, f"feature_error/{self.name}", (rows,), ERROR)
            reserve(new, temporary)
            status[...] = b"pending"
            error[...] = b""
            new.flush()

    def pending(self) -> np.ndarray:
        """Rows whose feature is not yet "ok"."""
        return np.flatnonzero(self.status[()] != b"ok")

    def write_ok(self, rows: np.ndarray, values: np.ndarray, durations: np.ndarray | None = None) -> None:
        """Store finished rows: values is (rows, dim). durations (seconds per row) go to
        clips/duration where the writer owns the clips (see the module docstring)."""
        order = np.argsort(rows)
        rows = np.asarray(rows)[order]
        self._write(self.values, rows, values[order])
        checked_flush(self._file, self.path)
        self._write(self.status, rows, b"ok")
        checked_flush(self._file, self.path)
        if self.owns_clips:
            self._settle_clips(rows, None if durations is None else np.asarray(durations)[order])

    def write_failed(self, row: int, message: str, duration: float = float("nan")) -> None:
        """Record why the feature of one row could not be computed (and fail the clip where the writer owns clips)."""
        self._write(self.error, row, encode_error(message))
        self._write(self.status, row, b"failed")
        checked_flush(self._file, self.path)
        if self.owns_clips:
            self._write(self._clip_duration, row, duration)
            self._write(self._clip_error, row, encode_error(f"{self.name}: {message}"))
            self._write(self._clip_status, row, b"failed")
            checked_flush(self._file, self.path)

    def _settle_clips(self, rows: np.ndarray, durations: np.ndarray | None) -> None:
        if durations is not None:
            self._write(self._clip_duration, rows, durations.astype(np.float32))
        statuses = self._file["feature_status"]
        every_ok = np.logical_and.reduce([statuses[name][()][rows] == b"ok" for name in statuses])
        done = rows[every_ok]
        if len(done):
            self._write(self._clip_error, done, b"")
            checked_flush(self._file, self.path)
            self._write(self._clip_status, done, b"ok")
            checked_flush(self._file, self.path)

    def _write(self, dataset: h5py.Dataset, rows, values) -> None:
        checked_write(dataset, rows, values, self.path)

    def close(self) -> None:
        try:
            checked_flush(self._file, self.path)
        finally:
            self._file.close()
            self._lock.release()

    def __enter__(self) -> FeatureWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
