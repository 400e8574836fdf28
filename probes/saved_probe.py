"""Fitted probes as plain arrays in .npz (no pickle: loading runs no code), and applying them to a cache."""
from __future__ import annotations

import json
import os
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from layerprobe.atomic_write import atomic_path
from layerprobe.data.reader import CacheReader
from layerprobe.errors import UserError
from layerprobe.probes.predictions import score_columns, threshold_column
from layerprobe.probes.spec import LinearModel

FORMAT = 1
# What predict_cache reads of meta, and the types it reads them as (layer: an index, or a feature name).
_META_TYPES = {"layer": (int, str), "model": (str,), "model_fingerprint": (str,), "pooling": (str,)}


@dataclass(frozen=True)
class SavedProbe:
    """A linear probe: standardise with (mean, scale), then score = x @ coef.T + intercept.

    meta: layer, classifier, C, model and model_fingerprint (the encoder whose embeddings it was
    fitted on), cache, n_clips.
    """

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    classes: np.ndarray
    meta: dict

    @property
    def model(self) -> LinearModel:
        return LinearModel(self.mean, self.scale, self.coef, self.intercept)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return self.model.decision_function(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The predicted class of each row, as sklearn's LogisticRegression/LinearSVC would give it."""
        return self.classes[self.model.predict(X)]


def save_probe(model: LinearModel, classes: list[str], path: str | os.PathLike[str], meta: dict) -> Path:
    """Write a fitted linear probe and its class names (indexed by class code) to `path` (.npz) with
    `meta`, atomically. meta's model_fingerprint (the encoder's weights, "" when unknown) is what
    predict_cache compares."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT, "model_fingerprint": "", **meta}
    with atomic_path(path) as temporary:
        np.savez(temporary, mean=model.mean, scale=model.scale, coef=model.coef, intercept=model.intercept,
                 classes=np.asarray(classes, dtype=str), meta=np.array(json.dumps(meta)))
    return path


def load_probe(path: str | os.PathLike[str]) -> SavedProbe:
    """Read a probe written by save_probe; never unpickles. Raises UserError for anything else."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in ("mean", "scale", "coef", "intercept", "classes", "meta")}
        meta = json.loads(str(arrays.pop("meta")))
    except FileNotFoundError:
        raise UserError(f"saved probe not found: {path}") from None
    # JSONDecodeError is a ValueError; zipfile raises NotImplementedError for a damaged header's "version".
    except (OSError, ValueError, KeyError, NotImplementedError, zipfile.BadZipFile) as error:
        raise UserError(f"not a saved probe (.npz written by probe --save-model): {path} ({error})") from None
    problem = _inconsistency(arrays, meta)
    if problem:
        raise UserError(f"not a saved probe (.npz written by probe --save-model): {path} ({problem})")
    return SavedProbe(**arrays, meta=meta)


def _inconsistency(arrays: dict[str, np.ndarray], meta) -> str:
    """What makes these arrays and meta no linear probe ("" when they are one)."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not {"layer", "model"} <= set(meta):
        return f"its meta is not a format-{FORMAT} probe description"
    for key, types in _META_TYPES.items():
        value = meta.get(key, "")
        if not isinstance(value, types) or isinstance(value, bool):
            wanted = " or ".join("an integer" if kind is int else "text" for kind in types)
            return f"its meta field {key!r} is {type(value).__name__} {repr(value)[:40]}; expected {wanted}"
    coef = arrays["coef"]
    if coef.ndim != 2 or not all(np.issubdtype(arrays[n].dtype, np.floating) for n in ("mean", "scale", "coef", "intercept")):
        return "coef is not a (classes, dims) array of numbers"
    n_scores, dims = coef.shape
    expected = {"mean": (dims,), "scale": (dims,), "intercept": (n_scores,), "classes": (max(n_scores, 2),)}
    for name, shape in expected.items():
        if arrays[name].shape != shape:
            return f"{name} has shape {arrays[name].shape}, coef {coef.shape} needs {shape}"
    if n_scores == 2:
        return "two score rows: a binary probe has one"
    if not all(np.isfinite(arrays[n]).all() for n in ("mean", "scale", "coef", "intercept")) or (arrays["scale"] <= 0).any():
        return "it holds NaN, infinity or a non-positive scale"
    return ""


def predict_cache(probe: SavedProbe, cache: str | os.PathLike[str], force: bool = False, *,
                  pooling: str | None = None, at_precision: float | None = None, name: str = "the probe") -> pd.DataFrame:
    """Apply `probe` to the layer it was fitted on in another cache: per ok clip its id, label,
    predicted class and a score per class (predictions.score_columns), and with at_precision the
    decision at the threshold its record found (predictions.threshold_column).

    Refuses a cache from a different encoder (another model name or weights fingerprint): its
    layer N lives in another space. force: apply it anyway, saying so on stderr (default False).
    pooling: the pooling asked for, refused unless it is the probe's own (None: the probe's).
    name: the probe's file, for the messages.
    """
    layer = probe.meta["layer"]
    fitted_on = probe.meta.get("pooling", "mean")
    if pooling is not None and pooling != fitted_on:
        raise UserError(f"{name} was fitted on pooling {fitted_on}; --pooling {pooling} does not apply to it")
    with CacheReader(cache) as reader:
        model = str(reader.attrs.get("model", ""))
        fingerprint = str(reader.attrs.get("model_fingerprint") or "")
        fitted = (probe.meta.get("model"), probe.meta.get("model_fingerprint") or "")
        if fitted != (model, fingerprint):
            mismatch = (f"the probe was fitted on embeddings of {fitted[0]!r} (fingerprint {fitted[1][:12] or 'none'}), "
                        f"but {cache} holds {model!r} (fingerprint {fingerprint[:12] or 'none'})")
            if not force:
                raise UserError(f"{mismatch}; --force applies it anyway")
            print(f"warning: {mismatch}; applied anyway (--force)", file=sys.stderr)
        X = reader.layer(layer, fitted_on) if isinstance(layer, int) else reader.feature(layer)
        if X.shape[1] != probe.coef.shape[1]:
            raise UserError(f"the probe expects {probe.coef.shape[1]} dims, {cache} has {X.shape[1]}")
        clips = reader.clips
    decision = probe.decision_function(X)
    columns = {"id": clips["id"], "label": clips["label"], "predicted": probe.classes[probe.model.classes(decision)],
               **score_columns(decision, probe.classes.tolist(), probe.meta.get("classifier", ""))}
    if at_precision is not None:
        column, called = threshold_column(decision, probe.classes.tolist(), probe.meta.get("classifier", ""),
                                          probe.meta.get("at_precision"), at_precision, name)
        columns[column] = called
    return pd.DataFrame(columns)
