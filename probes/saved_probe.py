"""Fitted probes as plain arrays in .npz (no pickle: loading runs no code), and applying them to a cache."""
from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from layerprobe.data.reader import CacheReader
from layerprobe.errors import UserError
from layerprobe.probes.spec import LinearModel

FORMAT = 1


@dataclass(frozen=True)
class SavedProbe:
    """A linear probe: standardise with (mean, scale), then score = x @ coef.T + intercept.

    meta: layer, classifier, C, model (the encoder whose embeddings it was fitted on), n_clips.
    """

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    classes: np.ndarray
    meta: dict

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean) / self.scale) @ self.coef.T + self.intercept

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The predicted class of each row, as sklearn's LogisticRegression/LinearSVC would give it."""
        scores = self.decision_function(X)
        if self.coef.shape[0] == 1:  # binary: one score, positive means the second class
            return self.classes[(scores[:, 0] > 0).astype(int)]
        return self.classes[scores.argmax(axis=1)]


def save_probe(model: LinearModel, classes: list[str], path: str | os.PathLike[str], meta: dict) -> Path:
    """Write a fitted linear probe and its class names (indexed by class code) to `path` (.npz) with `meta`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, mean=model.mean, scale=model.scale, coef=model.coef, intercept=model.intercept,
             classes=np.asarray(classes, dtype=str), meta=np.array(json.dumps({"format": FORMAT, **meta})))
    return path


def load_probe(path: str | os.PathLike[str]) -> SavedProbe:
    """Read a probe written by save_probe; never unpickles."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in ("mean", "scale", "coef", "intercept", "classes", "meta")}
    except FileNotFoundError:
        raise UserError(f"saved probe not found: {path}") from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise UserError(f"not a saved probe (.npz written by probe --save-model): {path} ({error})") from None
    meta = json.loads(str(arrays.pop("meta")))
    return SavedProbe(**arrays, meta=meta)


def predict_cache(probe: SavedProbe, cache: str | os.PathLike[str]) -> pd.DataFrame:
    """Apply `probe` to the layer it was fitted on in another cache: id, label, predicted per ok clip.

    Refuses a cache from a different encoder: its layer N lives in another space.
    """
    layer = probe.meta["layer"]
    with CacheReader(cache) as reader:
        model = str(reader.attrs.get("model", ""))
        if model != probe.meta.get("model"):
            raise UserError(f"the probe was fitted on embeddings of {probe.meta.get('model')!r}, "
                            f"but {cache} holds {model!r}")
        X = reader.layer(layer) if isinstance(layer, int) else reader.feature(layer)
        if X.shape[1] != probe.coef.shape[1]:
            raise UserError(f"the probe expects {probe.coef.shape[1]} dims, {cache} has {X.shape[1]}")
        clips = reader.clips
    return pd.DataFrame({"id": clips["id"], "label": clips["label"], "predicted": probe.predict(X)})
