"""Hand-made features (features/NAME) written into an existing cache, resumably and crash-safely.

Beside `features/NAME` (N, F) float32 the cache gets `feature_status/NAME` ("ok", "failed",
"pending") and `feature_error/NAME`. Adding them changes the file's structure, so that happens on
a copy that replaces the cache atomically; afterwards only values are written in place (see
data/cache.py for why that survives kill -9).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import h5py
import numpy as np

from layerprobe.data.cache import ERROR, STATUS, contiguous, encode_error, lock, open_cache
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
            self._file = h5py.File(self.path, "r+")
        except BaseException:
            self._lock.release()
            raise
        self.values = self._file[f"features/{name}"]
        self.status = self._file[f"feature_status/{name}"]
        self.error = self._file[f"feature_error/{name}"]

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
        temporary = self.path.with_name(self.path.name + ".tmp")
        shutil.copyfile(self.path, temporary)
        with h5py.File(temporary, "r+") as new:
            for group in ("features", "feature_status", "feature_error"):
                if f"{group}/{self.name}" in new:
                    del new[f"{group}/{self.name}"]
            values = contiguous(new, f"features/{self.name}", (rows, dim), np.float32)
            values.attrs.update(params)
            values.attrs["params"] = wanted
            contiguous(new, f"feature_status/{self.name}", (rows,), STATUS)[...] = b"pending"
            contiguous(new, f"feature_error/{self.name}", (rows,), ERROR)[...] = b""
        os.replace(temporary, self.path)

    def pending(self) -> np.ndarray:
        """Rows whose feature is not yet "ok"."""
        return np.flatnonzero(self.status[()] != b"ok")

    def write_ok(self, rows: np.ndarray, values: np.ndarray) -> None:
        order = np.argsort(rows)
        rows = np.asarray(rows)[order]
        self.values[rows] = values[order]
        self._file.flush()
        self.status[rows] = b"ok"
        self._file.flush()

    def write_failed(self, row: int, message: str) -> None:
        self.error[row] = encode_error(message)
        self.status[row] = b"failed"
        self._file.flush()

    def close(self) -> None:
        self._file.close()
        self._lock.release()

    def __enter__(self) -> FeatureWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
