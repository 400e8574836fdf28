"""The notebook API: one plain function per stage, with the CLI's options as keyword-only parameters.

Every default is read from its option group (layerprobe.options; the Ray engine's settings from
extract/ray_engine.RayOptions), where the CLI's flags come from too. Each function builds the
groups and validates them once, as the CLI does (the same checks, the same messages), before its
stage runs. Importing this module is light (no torch, no scikit-learn): each function imports its
stage when called.
"""
from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from layerprobe.errors import LeakWarning, ProbeWarning
from layerprobe.extract.ray_engine import RayOptions
from layerprobe.options import (BaselineOptions, ColumnOptions, CompareOptions, CurveOptions, DetectionOptions,
                                EngineOptions, ExtractOptions, FinetuneOptions, FitOptions, LabelOptions, MdlOptions,
                                ProbeOptions, ProtocolOptions)
from layerprobe.registries import known

if TYPE_CHECKING:
    from layerprobe.compare_results import CompareDocument
    from layerprobe.data.loaded import LoadedCache
    from layerprobe.extract.runner import Summary
    from layerprobe.results import Document

PathLike = str | os.PathLike[str]
Layers = str | int | Sequence[int]


def extract_embeddings(
    data: PathLike,
    out: PathLike,
    *,
    model: str = ExtractOptions.model,
    revision: str | None = ExtractOptions.revision,
    layers: Layers = ExtractOptions.layers,
    device: str = ExtractOptions.device,
    dtype: str = ExtractOptions.dtype,
    pooling: str | Sequence[str] = ExtractOptions.pooling,
    chunk_seconds: float = ExtractOptions.chunk_seconds,
    batch_seconds: float | None = ExtractOptions.batch_seconds,
    pad_short: bool = ExtractOptions.pad_short,
    max_seconds: float = ExtractOptions.max_seconds,
    strict: bool = ExtractOptions.strict,
    overwrite: bool = ExtractOptions.overwrite,
    trust_remote_code: bool = ExtractOptions.trust_remote_code,
    engine: str = EngineOptions.engine,
    ray_address: str | None = RayOptions.ray_address,
    workers: int | None = RayOptions.workers,
    gpus_per_worker: float | None = RayOptions.gpus_per_worker,
    cpus_per_worker: float | None = RayOptions.cpus_per_worker,
    path_column: str | None = ColumnOptions.path_column,
    label_column: str | None = ColumnOptions.label_column,
    group_column: str | None = ColumnOptions.group_column,
    split_column: str | None = ColumnOptions.split_column,
    split_lists: str | None = ColumnOptions.split_lists,
    speech_commands_classes: int = ColumnOptions.speech_commands_classes,
    progress: bool = True,
) -> Summary:
    """Run a frozen encoder over DATA once and cache every requested layer's mean-pooled embedding.

    An existing cache at `out` is resumed: finished clips are skipped, new manifest clips appended.

    Parameters
    ----------
    data : audio folder (subfolders are labels), manifest CSV/TSV (or a folder holding
        manifest.csv), a Hugging Face dataset saved with save_to_disk, or a Speech Commands
        folder (keyword folders beside validation_list.txt and testing_list.txt: labels, speakers
        and the official split are read from it).
    out : the HDF5 cache to write or resume.
    model : hub id or local folder holding the model (default "facebook/wav2vec2-base").
    revision : hub branch, tag or commit of `model` (default None: the hub's default).
    layers : hidden_states indices: "all" (default), an index, a list, or "0,6,12" / "3-9".
    device : "auto" (default), "cpu", "cuda", "cuda:N" or "mps".
    dtype : "float32" (default), "float16" or "bfloat16" (autocast; stored as float32).
    pooling : poolings over each clip's frames, all from one encoder pass: "mean", "std", "max",
        "mean,std,max" or a list (default ("mean",)); mean is always stored, in layers/NN, the
        others in pooled/NAME/NN. Adding one to an existing cache encodes only for it.
    chunk_seconds : longer clips are encoded in windows of this length (default 30).
    batch_seconds : padded audio per batch (default None: 4 s on CPU, 256 s on GPU).
    pad_short : zero-pad clips shorter than the receptive field instead of failing them (default False).
    max_seconds : a longer clip fails as too-long before it is decoded (default 4 h).
    strict : stop at the first clip that fails (default False).
    overwrite : replace a cache made with other settings (default False).
    trust_remote_code : allow a hub model's own code (default False).
    engine : "process" (default: decode and encode here) or "ray": Ray Data tasks decode and an actor
        pool encodes, this process writes the cache (needs the ray extra).
    ray_address : the Ray cluster to join ("auto", "HOST:6379", "ray://HOST:10001"; default None: a
        local one).
    workers : encoder actors (default None: one per gpus_per_worker GPUs of the cluster, 1 without).
    gpus_per_worker : GPUs per encoder actor (default None: 1 where the cluster has GPUs, else 0).
    cpus_per_worker : CPUs per encoder actor, its torch threads on the CPU (default None: 1).
    path_column, label_column, group_column, split_column : manifest columns (default None: found by name).
    split_lists : a Speech Commands folder's validation and testing lists, "VALIDATION.txt,TESTING.txt",
        relative to `data` (default None: validation_list.txt and testing_list.txt).
    speech_commands_classes : a Speech Commands folder's classes: 35 (default: every keyword folder)
        or 12 (SUPERB's: 10 keywords, _unknown_, and _silence_ cut from _background_noise_).
    progress : show a progress bar (default True).

    Returns
    -------
    Summary
        Clips encoded, failed (by reason) and skipped; `str()` is the end-of-run report.
    """
    from layerprobe.extract.engines import engine_options

    options = ExtractOptions(model=model, revision=revision, layers=layers, device=device, dtype=dtype, pooling=pooling,
                             chunk_seconds=chunk_seconds, batch_seconds=batch_seconds, pad_short=pad_short,
                             max_seconds=max_seconds, strict=strict, overwrite=overwrite,
                             trust_remote_code=trust_remote_code).validated(known)
    columns = ColumnOptions(path_column=path_column, label_column=label_column, group_column=group_column,
                            split_column=split_column, split_lists=split_lists,
                            speech_commands_classes=speech_commands_classes).validated(known)
    where = engine_options(engine, dict(ray_address=ray_address, workers=workers, gpus_per_worker=gpus_per_worker,
                                        cpus_per_worker=cpus_per_worker), known)
    from layerprobe.extract.runner import extract  # torch loads here, after the options are checked

    return extract(str(data), str(out), options, columns, where, progress=progress)


def probe(
    cache: PathLike,
    *,
    layers: Layers = ProbeOptions.layers,
    pooling: str = ProbeOptions.pooling,
    classifiers: str | Sequence[str] = ProbeOptions.classifiers,
    save_model: bool = ProbeOptions.save_model,
    solver: str = ProbeOptions.solver,
    cv: str = ProtocolOptions.cv,
    folds: int = ProtocolOptions.folds,
    fold_column: str | None = ProtocolOptions.fold_column,
    seed: int = ProtocolOptions.seed,
    refit: str = ProtocolOptions.refit,
    class_weight: str = FitOptions.class_weight,
    permutations: int = FitOptions.permutations,
    n_jobs: int = FitOptions.n_jobs,
    labels: PathLike | None = LabelOptions.labels,
    label_column: str | None = LabelOptions.label_column,
    id_column: str | None = LabelOptions.id_column,
    positive_class: str | None = DetectionOptions.positive_class,
    at_precision: float | None = DetectionOptions.at_precision,
    learning_curve: Sequence[float] | str | None = CurveOptions.learning_curve,
    curve_unit: str = CurveOptions.curve_unit,
    curve_repeats: int = CurveOptions.curve_repeats,
    mdl: bool = MdlOptions.mdl,
    mdl_orders: int = MdlOptions.mdl_orders,
    out: PathLike | None = None,
    progress: bool = True,
) -> Document:
    """Linear probes on a cache's layers, evaluated without leaks; one record per layer x classifier.

    The rows with layer "selected" choose the layer (per classifier, then layer and classifier
    together) inside each training part: that is the honest result, the others a curve.

    Parameters
    ----------
    cache : the HDF5 cache from extract_embeddings.
    layers : "all" (default), an index, a list, or "3,6,9" / "3-9".
    pooling : the stored pooling probed: "mean" (default), "std", "max", or several joined by "+"
        ("mean+std": their vectors concatenated, statistics pooling).
    classifiers : "logreg", "linear-svm", "ridge", "mlp", "weighted-sum", a list of them, or "all"
        (default: the three linear ones; mlp, minutes a layer, and weighted-sum are asked for by name).
        weighted-sum learns softmax weights over the chosen layers with a logistic head (SUPERB's
        protocol): one record whose layer is "all", with its layer weights per outer fold.
    save_model : also refit each probe on all clips and save it as OUT/models/layerNN_CLASSIFIER.npz
        (all_weighted-sum.npz for the weighted sum), and the selected one as OUT/models/selected.npz
        (needs `out`; default False).
    solver : "fast" (default, the probes' own solvers) or "reference" (the scikit-learn fits they are
        tested against).
    cv : "auto" (default: the dataset's split when train and test share no group, else grouped CV,
        else stratified CV), "split", "group", "loso", "stratified" or "folds".
    folds : outer folds of the k-fold protocols (default 5).
    fold_column : a column of predefined folds, each value one test fold (default None).
    seed : seed of every split, shuffle and solver (default 0).
    refit : with a validation split, refit on "train" (default) or "train+validation".
    class_weight : "none" (default), "balanced" or "sqrt".
    permutations : label permutations for p-values, per row and family-wise (default 0: none).
    n_jobs : parallel workers, -1 for all cores (default).
    labels : a CSV/TSV label table joined to the cache's clips by id (else path); the cache is not
        changed, and ok clips the table lacks are left out and counted (default None: the cache's labels).
    label_column : the labels probed: a column of `labels`, else a clips/ column of the cache such as
        "group", the speaker confound check (default None: clips/label).
    id_column : the `labels` column matched to clips/id, then clips/path (default None: "id", else "path").
    positive_class : two classes: the class whose ROC-AUC, average precision and recall are reported
        (default None: the second in sorted order).
    at_precision : two classes: also report the positive class's recall at this precision, in (0, 1]
        (default None).
    learning_curve : training fractions in (0, 1], e.g. (0.05, 0.1, 0.25, 0.5, 1) or "0.05,0.1,0.25,0.5,1"
        (default None: no curve). Each outer training part is subsampled to each fraction and every
        probe tuned (inner splits inside the subsample), fitted on it and scored on the full test part;
        each record gets `learning_curve` (its points) and `forecast` (the inverse power law fitted to
        UAR against training clips per class, and the gain expected from doubling the data).
    curve_unit : "clips" (default: stratified by class) or "groups" (whole groups, stratified by their
        majority class).
    curve_repeats : subsamples drawn per fraction, seeded from `seed` (default 3; the whole part once).
    mdl : also give each layer's logreg record (logreg must be among `classifiers`) its labels' online
        codelength in bits (Voita & Titov 2020), the uniform codelength and their ratio, the compression
        (`record.mdl`; default False).
    mdl_orders : seeded orderings of the clips the codelength is averaged over (default 3; needs mdl).
    out : a folder to write probe_results.json (the `probe --format json` document) into (default None).
    progress : show a progress bar (default True).

    Returns
    -------
    layerprobe.results.Document
        What `probe --format json` prints: `.results` (the typed records), `.protocol`,
        `.protocol_reason`, `.leak` and `.warnings` (each also raised as a Python warning: LeakWarning for
        the leak, ProbeWarning for the others), `.to_dict()` the JSON (without the scores, which `out`
        writes beside it), each fold's per-class decision scores as a float32 array
        (`.results[i].predictions[k].scores`); `.frame()` a pandas DataFrame:
        layer, classifier, protocol, selection, n_clips, and each metric with its 95% interval
        (accuracy, balanced_accuracy, macro_f1 and their _ci_low, _ci_high: NaN where a record has no
        interval, as for a split with fewer than 10 test groups); p_value and p_value_fwer with
        permutations.
    """
    from layerprobe.probes.output import save_document
    from layerprobe.probes.stage import probe_stage
    from layerprobe.report.run_dir import record_stage_seconds

    started = time.perf_counter()
    groups = [ProbeOptions(layers=layers, pooling=pooling, classifiers=classifiers, save_model=save_model,
                           solver=solver),
              ProtocolOptions(cv=cv, folds=folds, fold_column=fold_column, seed=seed, refit=refit),
              FitOptions(class_weight=class_weight, permutations=permutations, n_jobs=n_jobs),
              LabelOptions(labels=labels, label_column=label_column, id_column=id_column),
              DetectionOptions(positive_class=positive_class, at_precision=at_precision),
              CurveOptions(learning_curve=learning_curve, curve_unit=curve_unit, curve_repeats=curve_repeats),
              MdlOptions(mdl=mdl, mdl_orders=mdl_orders)]
    doc = probe_stage(cache, *[group.validated(known) for group in groups], out=out, progress=progress)
    if out is not None:
        doc = save_document(doc, out)
        record_stage_seconds(out, "probe", time.perf_counter() - started)
    _warn_document(doc)
    return doc


def _warn_document(doc: Document) -> None:
    """Raise every warning of a results document as a Python warning, as the CLI prints them: in a
    notebook the DataFrame alone would hide them. The leak has a category of its own (LeakWarning)."""
    _warn_lines(doc.leak, doc.warnings, stacklevel=4)


def _warn_lines(leak: str | None, lines: Sequence[str], *, stacklevel: int) -> None:
    """The leak as a LeakWarning, every other line as a ProbeWarning, attributed `stacklevel` frames up."""
    import warnings

    if leak:
        warnings.warn(leak, LeakWarning, stacklevel=stacklevel)
    for line in lines:
        if line != leak:
            warnings.warn(line, ProbeWarning, stacklevel=stacklevel)


def run_baselines(
    cache: PathLike,
    *,
    features: str | Sequence[str] = BaselineOptions.features,
    classifiers: str | Sequence[str] = BaselineOptions.classifiers,
    cv: str = ProtocolOptions.cv,
    folds: int = ProtocolOptions.folds,
    fold_column: str | None = ProtocolOptions.fold_column,
    seed: int = ProtocolOptions.seed,
    refit: str = ProtocolOptions.refit,
    class_weight: str = FitOptions.class_weight,
    permutations: int = FitOptions.permutations,
    n_jobs: int = FitOptions.n_jobs,
    labels: PathLike | None = LabelOptions.labels,
    label_column: str | None = LabelOptions.label_column,
    id_column: str | None = LabelOptions.id_column,
    positive_class: str | None = DetectionOptions.positive_class,
    at_precision: float | None = DetectionOptions.at_precision,
    learning_curve: Sequence[float] | str | None = CurveOptions.learning_curve,
    curve_unit: str = CurveOptions.curve_unit,
    curve_repeats: int = CurveOptions.curve_repeats,
    mdl: bool = MdlOptions.mdl,
    mdl_orders: int = MdlOptions.mdl_orders,
    overwrite: bool = False,
    progress: bool = True,
) -> Document:
    """Hand-made features and chance on exactly the outer folds `probe` uses with the same protocol.

    Features missing from the cache are computed into it first (features/NAME). Give the same
    cv, folds, fold_column, seed and refit as to `probe`, so that the two pair fold by fold.

    Parameters
    ----------
    cache : the HDF5 cache (from extract_embeddings, or made by the baselines command from DATA).
    features : "mfcc", "logmel", "egemaps" (needs the egemaps extra) or a list (default ("mfcc",)).
    classifiers : "logreg", "linear-svm", "ridge", "svm-rbf", a list, or "all" (default: logreg,
        linear-svm, ridge; svm-rbf, the MFCC + SVM baseline, on request: its time grows with the
        square of the clips or faster); majority and stratified-random chance are always added.
    cv, folds, fold_column, seed, refit : the protocol, as for `probe`.
    class_weight, permutations, n_jobs : as for `probe`.
    labels, label_column, id_column, positive_class, at_precision : as for `probe`.
    learning_curve, curve_unit, curve_repeats : a learning curve per feature record, as for `probe`.
    mdl, mdl_orders : each feature's online codelength on its logreg record, as for `probe`'s layers
        (logreg must be among `classifiers`).
    overwrite : recompute a stored feature made with other parameters instead of refusing (default False).
    progress : show progress bars (default True).

    Returns
    -------
    layerprobe.results.Document
        What `baselines --format json` prints, as for `probe` (its warnings also raised as Python
        warnings); `.frame()`: one row per feature x classifier ("layer" holds the feature's name),
        the "selected" row (feature and classifier chosen inside each training part), then the
        chance rows; columns as for `probe`.
    """
    from layerprobe.baselines.run import evaluate_baselines
    from layerprobe.probes.output import document

    groups = [BaselineOptions(features=features, classifiers=classifiers),
              ProtocolOptions(cv=cv, folds=folds, fold_column=fold_column, seed=seed, refit=refit),
              FitOptions(class_weight=class_weight, permutations=permutations, n_jobs=n_jobs),
              LabelOptions(labels=labels, label_column=label_column, id_column=id_column),
              DetectionOptions(positive_class=positive_class, at_precision=at_precision),
              CurveOptions(learning_curve=learning_curve, curve_unit=curve_unit, curve_repeats=curve_repeats),
              MdlOptions(mdl=mdl, mdl_orders=mdl_orders)]
    baseline, protocol, fit, label, detection, curve, coded = [group.validated(known) for group in groups]
    result = evaluate_baselines(cache, baseline, protocol, fit, label, detection, curve, coded, progress=progress,
                                overwrite=overwrite)
    doc = document(result, cache, {**baseline.to_dict(), **protocol.to_dict(), **fit.result_dict(), **label.to_dict(),
                                   **detection.to_dict(), **curve.result_dict(), **coded.result_dict()})
    _warn_document(doc)
    return doc


def run(
    data: PathLike,
    out: PathLike,
    *,
    model: str = ExtractOptions.model,
    revision: str | None = ExtractOptions.revision,
    layers: Layers = ExtractOptions.layers,
    device: str = ExtractOptions.device,
    dtype: str = ExtractOptions.dtype,
    pooling: str | Sequence[str] = ExtractOptions.pooling,
    chunk_seconds: float = ExtractOptions.chunk_seconds,
    batch_seconds: float | None = ExtractOptions.batch_seconds,
    pad_short: bool = ExtractOptions.pad_short,
    max_seconds: float = ExtractOptions.max_seconds,
    strict: bool = ExtractOptions.strict,
    overwrite: bool = ExtractOptions.overwrite,
    trust_remote_code: bool = ExtractOptions.trust_remote_code,
    engine: str = EngineOptions.engine,
    ray_address: str | None = RayOptions.ray_address,
    workers: int | None = RayOptions.workers,
    gpus_per_worker: float | None = RayOptions.gpus_per_worker,
    cpus_per_worker: float | None = RayOptions.cpus_per_worker,
    path_column: str | None = ColumnOptions.path_column,
    label_column: str | None = ColumnOptions.label_column,
    group_column: str | None = ColumnOptions.group_column,
    split_column: str | None = ColumnOptions.split_column,
    split_lists: str | None = ColumnOptions.split_lists,
    speech_commands_classes: int = ColumnOptions.speech_commands_classes,
    probe_pooling: str = ProbeOptions.pooling,
    classifiers: str | Sequence[str] = ProbeOptions.classifiers,
    save_model: bool = ProbeOptions.save_model,
    solver: str = ProbeOptions.solver,
    features: str | Sequence[str] = BaselineOptions.features,
    baseline_classifiers: str | Sequence[str] = BaselineOptions.classifiers,
    cv: str = ProtocolOptions.cv,
    folds: int = ProtocolOptions.folds,
    fold_column: str | None = ProtocolOptions.fold_column,
    seed: int = ProtocolOptions.seed,
    refit: str = ProtocolOptions.refit,
    class_weight: str = FitOptions.class_weight,
    permutations: int = FitOptions.permutations,
    n_jobs: int = FitOptions.n_jobs,
    labels: PathLike | None = LabelOptions.labels,
    id_column: str | None = LabelOptions.id_column,
    positive_class: str | None = DetectionOptions.positive_class,
    at_precision: float | None = DetectionOptions.at_precision,
    learning_curve: Sequence[float] | str | None = CurveOptions.learning_curve,
    curve_unit: str = CurveOptions.curve_unit,
    curve_repeats: int = CurveOptions.curve_repeats,
    mdl: bool = MdlOptions.mdl,
    mdl_orders: int = MdlOptions.mdl_orders,
    progress: bool = True,
) -> dict[str, Path]:
    """Every stage from audio to report into the run folder `out`, resumably.

    Extraction, the baselines' features, the probes of every extracted layer and the baselines on
    the same folds, their paired comparison, and the report. A second call with the same
    arguments recomputes nothing; a call with another manifest extracts and features its new clips
    (the cache keeps the clips it already holds) and recomputes the results.

    Parameters
    ----------
    data : as for `extract_embeddings`.
    out : the run folder: cache.h5, probe_results.json, baseline_results.json, comparison.json,
        run.json and the report.
    model, revision, layers, device, dtype, chunk_seconds, batch_seconds, pad_short, max_seconds,
        strict, overwrite, trust_remote_code, pooling : the encoder, as for `extract_embeddings`; every
        extracted layer is probed.
    engine, ray_address, workers, gpus_per_worker, cpus_per_worker : where the encoder runs, as for
        `extract_embeddings`.
    path_column, label_column, group_column, split_column : manifest columns, as for `extract_embeddings`;
        with `labels`, label_column names the table's column instead.
    split_lists, speech_commands_classes : how a Speech Commands folder is read, as for `extract_embeddings`.
    probe_pooling : the pooling probed, `probe`'s pooling (default "mean"); each must be among `pooling`.
    classifiers, save_model, solver : the probes, as for `probe` (models are saved into OUT/models).
    features : the baselines' features, as for `run_baselines`.
    baseline_classifiers : the baselines' `classifiers`, as for `run_baselines`.
    cv, folds, fold_column, seed, refit : the protocol of probes and baselines alike, as for `probe`.
    class_weight, permutations, n_jobs : as for `probe`, for probes and baselines alike.
    labels, id_column, positive_class, at_precision : as for `probe`, for probes and baselines alike.
    learning_curve, curve_unit, curve_repeats : learning curves, as for `probe`, for probes and baselines alike.
    mdl, mdl_orders : each layer's online codelength, as for `probe` (and each feature's, where
        `baseline_classifiers` hold logreg); the report adds its compression curve.
    progress : show progress bars (default True).

    Returns
    -------
    dict of str to pathlib.Path
        The report's files by name: report.md, report.html, results.json and the figures.
    """
    from layerprobe.extract.engines import engine_options
    from layerprobe.pipeline import run as run_pipeline

    groups = dict(
        columns=ColumnOptions(path_column=path_column, label_column=label_column, group_column=group_column,
                              split_column=split_column, split_lists=split_lists,
                              speech_commands_classes=speech_commands_classes),
        extract=ExtractOptions(model=model, revision=revision, layers=layers, device=device, dtype=dtype, pooling=pooling,
                               chunk_seconds=chunk_seconds, batch_seconds=batch_seconds, pad_short=pad_short,
                               max_seconds=max_seconds, strict=strict, overwrite=overwrite,
                               trust_remote_code=trust_remote_code),
        probe=ProbeOptions(pooling=probe_pooling, classifiers=classifiers, save_model=save_model, solver=solver),
        baseline=BaselineOptions(features=features, classifiers=baseline_classifiers),
        protocol=ProtocolOptions(cv=cv, folds=folds, fold_column=fold_column, seed=seed, refit=refit),
        fit=FitOptions(class_weight=class_weight, permutations=permutations, n_jobs=n_jobs),
        labels=LabelOptions(labels=labels, id_column=id_column),
        detection=DetectionOptions(positive_class=positive_class, at_precision=at_precision),
        curve=CurveOptions(learning_curve=learning_curve, curve_unit=curve_unit, curve_repeats=curve_repeats),
        mdl=MdlOptions(mdl=mdl, mdl_orders=mdl_orders),
    )
    where = engine_options(engine, dict(ray_address=ray_address, workers=workers, gpus_per_worker=gpus_per_worker,
                                        cpus_per_worker=cpus_per_worker), known)
    return run_pipeline(data, out, **{name: group.validated(known) for name, group in groups.items()}, engine=where,
                        progress=progress)


def compare(
    inputs: Sequence[PathLike],
    out: PathLike,
    *,
    layers: Layers = CompareOptions.layers,
    pooling: str = CompareOptions.pooling,
    classifiers: str | Sequence[str] = CompareOptions.classifiers,
    solver: str = CompareOptions.solver,
    cv: str = ProtocolOptions.cv,
    folds: int = ProtocolOptions.folds,
    fold_column: str | None = ProtocolOptions.fold_column,
    seed: int = ProtocolOptions.seed,
    refit: str = ProtocolOptions.refit,
    class_weight: str = FitOptions.class_weight,
    permutations: int = FitOptions.permutations,
    n_jobs: int = FitOptions.n_jobs,
    labels: PathLike | None = LabelOptions.labels,
    label_column: str | None = LabelOptions.label_column,
    id_column: str | None = LabelOptions.id_column,
    positive_class: str | None = DetectionOptions.positive_class,
    at_precision: float | None = DetectionOptions.at_precision,
    progress: bool = True,
) -> CompareDocument:
    """Several encoders of the same clips on one set of folds, with paired tests and a linear CKA map.

    The caches are joined by clip id (clips missing from any cache are left out and counted, in one
    warning); the outer folds are built once on the common clips and every encoder's layers, its
    weighted sum and its selected record are evaluated on them.

    Parameters
    ----------
    inputs : two or more run folders of `run` (their cache.h5) or caches of the same clips from
        different encoders.
    out : the folder for compare.json, report.md, report.html, depth_curves.png and cka.png.
    layers : as for `probe`, for every encoder (default "all": each cache's layers).
    pooling : as for `probe` (default "mean").
    classifiers : as for `probe` (default ("logreg", "weighted-sum"): logreg per layer and the learned
        weighted sum of the layers).
    solver : as for `probe` (default "fast").
    cv, folds, fold_column, seed, refit : the protocol, as for `probe`; groups, splits and the fold column
        are read from the first input.
    class_weight, permutations, n_jobs : as for `probe`.
    labels, label_column, id_column : as for `probe`, applied to every input (a shared clip labelled
        differently in two inputs is refused).
    positive_class, at_precision : as for `probe`.
    progress : show progress bars (default True).

    Returns
    -------
    layerprobe.compare_results.CompareDocument
        What compare.json holds: `.encoders` (each with its typed records), `.paired` (the
        Holm-corrected paired tests between every pair's selected records), `.cka` (the CKA map) and
        `.warnings` (each also raised as a Python warning).
    """
    from layerprobe.probes.compare import compare_encoders
    from layerprobe.report.compare_report import write_compare

    groups = [CompareOptions(layers=layers, pooling=pooling, classifiers=classifiers, solver=solver),
              ProtocolOptions(cv=cv, folds=folds, fold_column=fold_column, seed=seed, refit=refit),
              FitOptions(class_weight=class_weight, permutations=permutations, n_jobs=n_jobs),
              LabelOptions(labels=labels, label_column=label_column, id_column=id_column),
              DetectionOptions(positive_class=positive_class, at_precision=at_precision)]
    doc = compare_encoders(inputs, *[group.validated(known) for group in groups], progress=progress)
    write_compare(doc, out)
    _warn_lines(doc.leak, doc.warnings, stacklevel=3)
    return doc


def run_finetune(
    source: PathLike,
    out: PathLike,
    *,
    rungs: str | Sequence[str] = FinetuneOptions.rungs,
    model: str | None = FinetuneOptions.model,
    unfreeze: int = FinetuneOptions.unfreeze,
    lora_rank: int = FinetuneOptions.lora_rank,
    lora_alpha: float = FinetuneOptions.lora_alpha,
    lora_targets: str | Sequence[str] = FinetuneOptions.lora_targets,
    train_feature_encoder: bool = FinetuneOptions.train_feature_encoder,
    learning_rates: float | Sequence[float] = FinetuneOptions.learning_rates,
    epochs: int = FinetuneOptions.epochs,
    batch_size: int = FinetuneOptions.batch_size,
    max_grad_norm: float = FinetuneOptions.max_grad_norm,
    schedule: str = FinetuneOptions.schedule,
    device: str = FinetuneOptions.device,
    bottom_gb: float = FinetuneOptions.bottom_gb,
    cv: str = ProtocolOptions.cv,
    folds: int = ProtocolOptions.folds,
    fold_column: str | None = ProtocolOptions.fold_column,
    seed: int = ProtocolOptions.seed,
    refit: str = ProtocolOptions.refit,
    class_weight: str = FitOptions.class_weight,
    labels: PathLike | None = LabelOptions.labels,
    label_column: str | None = LabelOptions.label_column,
    id_column: str | None = LabelOptions.id_column,
    engine: str = EngineOptions.engine,
    ray_address: str | None = RayOptions.ray_address,
    workers: int | None = RayOptions.workers,
    gpus_per_worker: float | None = RayOptions.gpus_per_worker,
    cpus_per_worker: float | None = RayOptions.cpus_per_worker,
    progress: bool = True,
) -> Document:
    """The adaptation ladder on the probe's own outer folds: each rung trained on every outer training part (the
    learning rate and the stopping epoch chosen on its inner split, by groups) and tested once on its test part.

    (Named run_finetune, as run_baselines is, so that it never shadows the subpackage layerprobe.finetune.)

    Parameters
    ----------
    source : a run folder (its probe_results.json gives the cache, the protocol and the folds, which must still
        be the cache's; the protocol and label options below are then not read) or a cache.
    out : the folder of finetune_results.json; its finetune_work/ keeps finished units and checkpoints, so a
        rerun with the same options continues where a killed one stopped.
    rungs : "frozen-head", "top-k", "lora", "full", a list of them or "all" (default: all four).
    model : the encoder's folder or hub id (default None: the cache's model); its fingerprint must be the cache's.
    unfreeze : top-k: the transformer blocks trained, counted from the top (default 2).
    lora_rank, lora_alpha, lora_targets : lora: the adapters' rank (default 8), scaling (default 16) and the
        modules adapted (default ("q_proj", "v_proj")).
    train_feature_encoder : full: train the CNN feature encoder too (default False).
    learning_rates : the grid the inner split chooses from (default (1e-4, 1e-3)).
    epochs : epochs at most; the inner split chooses the stopping epoch (default 10).
    batch_size : clips per training batch (default 8).
    max_grad_norm : gradients clipped to this norm (default 1.0).
    schedule : "linear-warmup" (default) or "tri-stage".
    device : "auto" (default), "cpu" or "cuda"; bfloat16 mixed precision on cuda only.
    bottom_gb : the most disk stored frames may take (default 20 GB): top-k's frozen bottom's (beyond it, a
        UserError), lora's and full's frozen CNN's (beyond it, the CNN runs every step).
    cv, folds, fold_column, seed, refit : the protocol, as given to `probe` (a cache only); seed also seeds training.
    class_weight : "none" (default), "balanced" or "sqrt" (min(sqrt(max_count / count), 3)).
    labels, label_column, id_column : the labels, as given to `probe` (a cache only).
    engine : "process" (default: every unit here, one after the other) or "ray": each (rung, fold) unit a Ray
        task, one GPU each on cuda (needs the ray extra; `out` on a folder every node sees); this process alone
        writes finetune_results.json.
    ray_address : the Ray cluster to join ("auto", "HOST:6379", "ray://HOST:10001"; default None: a local one).
    workers : units at once (default None: as many as the cluster's CPUs and GPUs hold).
    gpus_per_worker : GPUs per unit (default None: 1 on cuda, else 0).
    cpus_per_worker : CPUs per unit, its torch threads on the CPU (default None: 1).
    progress : show the cost estimate (the process engine) and progress bars (default True).

    Returns
    -------
    layerprobe.results.Document
        What finetune_results.json holds: one record per rung (`rung`, `trainable_parameters`,
        `parameters_per_hour`, `learning_rate` and `epochs` per fold, `device`, `collapsed`, `wall_seconds`, and
        every probe record's metrics, intervals and out-of-fold predictions); its warnings are also raised as
        Python warnings.
    """
    from layerprobe.extract.engines import engine_options
    from layerprobe.finetune.stage import finetune_stage

    groups = [FinetuneOptions(rungs=rungs, model=model, unfreeze=unfreeze, lora_rank=lora_rank, lora_alpha=lora_alpha,
                              lora_targets=lora_targets, train_feature_encoder=train_feature_encoder,
                              learning_rates=learning_rates, epochs=epochs, batch_size=batch_size,
                              max_grad_norm=max_grad_norm, schedule=schedule, device=device, bottom_gb=bottom_gb),
              ProtocolOptions(cv=cv, folds=folds, fold_column=fold_column, seed=seed, refit=refit),
              FitOptions(class_weight=class_weight),
              LabelOptions(labels=labels, label_column=label_column, id_column=id_column)]
    where = engine_options(engine, dict(ray_address=ray_address, workers=workers, gpus_per_worker=gpus_per_worker,
                                        cpus_per_worker=cpus_per_worker), known)
    doc = finetune_stage(source, out, *[group.validated(known) for group in groups], where, progress=progress)
    _warn_document(doc)
    return doc


def load_cache(path: PathLike) -> LoadedCache:
    """Every ok clip's metadata, embeddings and features, in memory.

    Parameters
    ----------
    path : the HDF5 cache.

    Returns
    -------
    LoadedCache
        .clips (a DataFrame: id, path, label, group, split, duration), .layers (hidden_states
        index -> (clips, hidden) float32 array), .features (name -> (clips, F) array), .attrs.
    """
    from layerprobe.data.loaded import load

    return load(path)
