"""Read a layerprobe cache (docs/design.md contract) with plain h5py: the ok clips and one layer at a time.

No torch here: the probe stage runs where torch is absent.
"""
from __future__ import annotations

import os
import re
from types import TracebackType

import numpy as np
import pandas as pd

from layerprobe.data.cache import open_cache
from layerprobe.data.cache_layout import check_finite, damaged, read_text
from layerprobe.errors import UserError
from layerprobe.layer_spec import format_layers

CLIP_COLUMNS = ("id", "path", "label", "group", "split")
_LAYER_NAME = re.compile(r"^\d{2}$")


class CacheReader:
    """An open cache. Rows whose status is not "ok" are invisible: every array has one row per ok clip.

    path: the cache file (HDF5) written by extract-embeddings.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._file = open_cache(self.path)
        try:
            self._ok = self._file["clips/status"][()] == b"ok"
            if not self._ok.any():
                raise UserError(f"no clip has status 'ok' in {self.path}: nothing to probe")
            self.clips = self._read_clips()
        except (OSError, RuntimeError) as error:
            self._file.close()
            raise damaged(self.path, error) from None
        except BaseException:
            self._file.close()
            raise

    def _read_clips(self) -> pd.DataFrame:
        clips = self._file["clips"]
        columns = {name: read_text(clips[name], self.path)[self._ok] for name in CLIP_COLUMNS}
        if "duration" in clips:
            columns["duration"] = clips["duration"][()][self._ok].astype(np.float32)
        return pd.DataFrame(columns)

    @property
    def attrs(self) -> dict:
        """The root attributes (model, layers, ...), numpy scalars and arrays as stored."""
        return dict(self._file.attrs)

    @property
    def layers(self) -> list[int]:
        """The stored layer indices, sorted, from the names of the layers/NN datasets."""
        if "layers" not in self._file:
            return []
        return sorted(int(name) for name in self._file["layers"] if _LAYER_NAME.match(name))

    @property
    def poolings(self) -> list[str]:
        """The stored poolings: mean (layers/NN), then those in pooled/NAME."""
        return (["mean"] if "layers" in self._file else []) + sorted(self._file.get("pooled", {}))

    @property
    def features(self) -> list[str]:
        """The names of the stored hand-made features (features/NAME)."""
        return sorted(self._file["features"]) if "features" in self._file else []

    def status_counts(self) -> dict[str, int]:
        """How many clips of the cache, ok or not, have each status ("ok", "failed", "pending")."""
        names, counts = np.unique(self._file["clips/status"].asstr()[()], return_counts=True)
        return dict(zip(names.tolist(), counts.tolist()))

    def clip_values(self, name: str) -> np.ndarray | None:
        """clips/NAME of the ok clips as strings, None when the cache has no such dataset."""
        if name not in self._file["clips"]:
            return None
        return self._file["clips"][name].asstr()[()][self._ok]

    def layer(self, index: int, pooling: str = "mean") -> np.ndarray:
        """Layer `index` as float32 (n_ok, D); only this layer is read.

        pooling: "mean" (layers/NN, the default), "std" or "max" (pooled/NAME/NN), or several
        joined by "+" ("mean+std": statistics pooling), whose rows are concatenated in that order.
        """
        if index not in self.layers:
            raise UserError(f"layer {index} is not in the cache; stored layers: {format_layers(self.layers)}")
        names = pooling.split("+")
        if "," in pooling and all(name in self.poolings for name in pooling.replace(",", "+").split("+")):
            raise UserError(f"--pooling {pooling}: probe reads one pooling, or several joined by '+' into one "
                            f"vector per clip ({pooling.replace(',', '+')}); the cache holds {', '.join(self.poolings)}")
        absent = [name for name in names if name not in self.poolings]
        if absent:
            raise UserError(f"pooling {'+'.join(absent)} is not in the cache; stored poolings: "
                            f"{', '.join(self.poolings)} (extract-embeddings --pooling adds one)")
        return np.concatenate([self._pooled(index, name) for name in names], axis=1)

    def _pooled(self, index: int, pooling: str) -> np.ndarray:
        if pooling == "mean":
            return self._rows(f"layers/{index:02d}")
        unfinished = int((self._file[f"pooled/{pooling}/status"][()][self._ok] != b"ok").sum())
        if unfinished:
            raise UserError(f"pooling {pooling} is missing for {unfinished} of the {self._ok.sum()} ok clips in "
                            f"{self.path}; run extract-embeddings --pooling {pooling} again to complete it")
        return self._rows(f"pooled/{pooling}/{index:02d}")

    def feature(self, name: str) -> np.ndarray:
        """Hand-made feature `name` (features/NAME) as float32 (n_ok, F)."""
        if name not in self.features:
            raise UserError(f"feature {name!r} is not in the cache; stored features: {self.features or 'none'}")
        return self._rows(f"features/{name}")

    def _rows(self, dataset: str) -> np.ndarray:
        # Reading the whole dataset and masking is faster than h5py's point selection on thousands
        # of rows; the caller holds one such array at a time.
        try:
            with np.errstate(over="ignore"):  # float64 beyond float32 becomes infinite: check_finite says so
                values = self._file[dataset][()][self._ok].astype(np.float32, copy=False)
        except (OSError, RuntimeError) as error:
            raise damaged(self.path, error) from None
        check_finite(self._file, self.path, dataset, values, self._ok)
        return values

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> CacheReader:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
