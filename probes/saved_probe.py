"""Fitted probes as plain arrays in .npz (no pickle: loading runs no code), and applying them to a cache.

A probe file is read only after what it declares has been checked: every member's shape and dtype,
read from its .npy header inside the zip, must fit in the bytes the member takes in the file (probes
are written uncompressed, so a small file that would expand to gigabytes is refused before anything
is allocated) and make the model its classifier saves (probes/registry.py: the spec's model type).
"""
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
from layerprobe.layer_spec import format_layers
from layerprobe.probes.predictions import score_columns, threshold_column
from layerprobe.probes.registry import probe_names, probe_spec
from layerprobe.probes.spec import Declared, LinearModel, Model, finite_scaling
from layerprobe.results import ALL_LAYERS, LAYER, Source

FORMAT = 1
# What predict_cache reads of meta, and the types it reads them as (layer: an index, or a feature name).
_META_TYPES = {"layer": (int, str), "model": (str,), "model_fingerprint": (str,), "pooling": (str,)}
_NOT_A_PROBE = "not a saved probe (.npz written by probe --save-model)"


@dataclass(frozen=True)
class SavedProbe:
    """A fitted probe (its classifier's Model: LinearModel, MLPModel), its class names indexed by
    class code, and meta: layer, classifier, params, model and model_fingerprint (the encoder whose
    embeddings it was fitted on), cache, n_clips."""

    model: Model
    classes: np.ndarray
    meta: dict

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return self.model.decision_function(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The predicted class of each row, as the scikit-learn classifier it stands for would give it."""
        return self.classes[self.model.predict(X)]


def save_probe(model: Model, classes: list[str], path: str | os.PathLike[str], meta: dict) -> Path:
    """Write a fitted probe and its class names (indexed by class code) to `path` (.npz, uncompressed)
    with `meta`, atomically. meta's classifier names the model's type for load_probe (linear when it
    names none); its model_fingerprint (the encoder's weights, "" when unknown) is what predict_cache
    compares."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT, "model_fingerprint": "", **meta}
    with atomic_path(path) as temporary:
        np.savez(temporary, **model.arrays(), classes=np.asarray(classes, dtype=str), meta=np.array(json.dumps(meta)))
    return path


def load_probe(path: str | os.PathLike[str]) -> SavedProbe:
    """Read a probe written by save_probe; never unpickles, and checks what each array declares
    before loading it. Raises UserError for anything else."""
    try:
        found = _read(path)
    except FileNotFoundError:
        raise UserError(f"saved probe not found: {path}") from None
    # JSONDecodeError is a ValueError; zipfile raises NotImplementedError for a damaged header's "version".
    except (OSError, ValueError, KeyError, NotImplementedError, zipfile.BadZipFile) as error:
        raise UserError(f"{_NOT_A_PROBE}: {path} ({error})") from None
    if isinstance(found, str):
        raise UserError(f"{_NOT_A_PROBE}: {path} ({found})")
    return found


def _read(path: str | os.PathLike[str]) -> SavedProbe | str:
    """The probe at path, or what makes it none."""
    with zipfile.ZipFile(path) as archive:
        declared = _declared(archive)
    problem = _oversized(declared) or _absent(declared, ("meta", "classes"))
    if problem:
        return problem
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        model_type = _model_type(meta)
        problem = _meta_problem(meta) or _classes_problem(declared) or model_type.declared_problem(
            {name: found[:2] for name, found in declared.items()}, declared["classes"][0][0])
        if problem:
            return problem
        arrays = {name: data[name] for name in declared if name not in ("meta", "classes")}
        classes = data["classes"]
    return finite_scaling(arrays) or SavedProbe(model_type.from_arrays(arrays), classes, meta)


def _declared(archive: zipfile.ZipFile) -> dict[str, tuple[tuple[int, ...], np.dtype, int]]:
    """(shape, dtype, bytes the member takes in the file) of each .npy member, from its header alone."""
    found = {}
    for info in archive.infolist():
        if not info.filename.endswith(".npy"):
            continue
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"{info.filename} is .npy format {version[0]}.{version[1]}")
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read(member)
        found[info.filename.removesuffix(".npy")] = (shape, dtype, info.compress_size)
    return found


def _oversized(declared: dict[str, tuple[tuple[int, ...], np.dtype, int]]) -> str:
    """The first member whose declared array needs more bytes than it takes in the file ("" if none)."""
    for name, (shape, dtype, stored) in declared.items():
        size = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if dtype.hasobject or size > stored:
            what = "Python objects" if dtype.hasobject else f"{size:,} bytes of {dtype} {shape}"
            return f"{name} declares {what} in {stored:,} bytes of the file; refused before loading"
    return ""


def _absent(declared: Declared, names: tuple[str, ...]) -> str:
    missing = [name for name in names if name not in declared]
    return f"{missing[0]} is not a file in the archive" if missing else ""


def _classes_problem(declared: dict) -> str:
    shape, dtype, _ = declared["classes"]
    return "" if len(shape) == 1 and dtype.kind == "U" else f"classes is {dtype} {shape}, not a list of names"


def _model_type(meta) -> type[Model]:
    """The model type of the probe's classifier; linear for a file that names none (or no registered one)."""
    classifier = meta.get("classifier") if isinstance(meta, dict) else None
    return probe_spec(classifier).model if classifier in probe_names() else LinearModel


def _meta_problem(meta) -> str:
    """What makes meta no probe description ("" when it is one)."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not {"layer", "model"} <= set(meta):
        return f"its meta is not a format-{FORMAT} probe description"
    for key, types in _META_TYPES.items():
        value = meta.get(key, "")
        if not isinstance(value, types) or isinstance(value, bool):
            wanted = " or ".join("an integer" if kind is int else "text" for kind in types)
            return f"its meta field {key!r} is {type(value).__name__} {repr(value)[:40]}; expected {wanted}"
    return ""


def _features(probe: SavedProbe, reader: CacheReader, pooling: str, name: str) -> np.ndarray | list[np.ndarray]:
    """What the probe reads of the cache: its layer, its hand-made feature, or for a head over every
    layer (layer "all") each of the layers its meta lists, in that order."""
    source = Source.of(probe.meta["layer"])
    if source.kind == LAYER:
        return reader.layer(source.index, pooling)
    if source.kind != ALL_LAYERS:
        return reader.feature(source.name)
    layers = probe.meta.get("layers")
    if not isinstance(layers, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in layers) \
            or len(layers) != getattr(probe.model, "n_layers", -1):
        raise UserError(f"{name} reads every layer but its meta does not list the layers its weights are for")
    missing = [index for index in layers if index not in reader.layers]
    if missing:
        raise UserError(f"{name} mixes layers {format_layers(layers)}; the cache lacks layer(s) "
                        f"{format_layers(missing)} (stored layers: {format_layers(reader.layers)})")
    matrices = [reader.layer(index, pooling) for index in layers]
    wrong = [f"layer {index} has {matrix.shape[1]}" for index, matrix in zip(layers, matrices)
             if matrix.shape[1] != probe.model.dims]
    if wrong:
        raise UserError(f"{name} expects {probe.model.dims} dims in each of its layers; in the cache "
                        f"{', '.join(wrong)}")
    return matrices


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
        X = _features(probe, reader, fitted_on, name)
        widths = {matrix.shape[1] for matrix in (X if isinstance(X, list) else [X])}
        if widths != {probe.model.dims}:
            raise UserError(f"the probe expects {probe.model.dims} dims, {cache} has {', '.join(map(str, widths))}")
        clips = reader.clips
    decision = probe.decision_function(X)
    columns = {"id": clips["id"], "label": clips["label"], "predicted": probe.classes[probe.model.classes(decision)],
               **score_columns(decision, probe.classes.tolist(), probe.meta.get("classifier", ""))}
    if at_precision is not None:
        column, called = threshold_column(decision, probe.classes.tolist(), probe.meta.get("classifier", ""),
                                          probe.meta.get("at_precision"), at_precision, name)
        columns[column] = called
    return pd.DataFrame(columns)
