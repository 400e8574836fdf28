"""Time the probe layer sweep against plain scikit-learn on synthetic FSDD-size embeddings, in one run.

Ours: the probe specs of layerprobe.probes.classifiers (logreg, linear-svm) run on every layer x
outer fold, each (layer, classifier, fold) one joblib job. Plain: GridSearchCV over
Pipeline(StandardScaler, LogisticRegression() or LinearSVC(dual=True)) with default tolerances, the same C grids,
the same outer and inner folds. Both are timed on subsets (--layers, --plain-layers) and extrapolated
to 13 layers; agreement (pooled out-of-fold accuracy and UAR, chosen C per fold) is reported on the
layers both ran. Then ridge's 999-permutation test over all 13 layers with the family-wise (max-T)
correction, timed on its own.

    .venv/bin/python bench/probe_sweep.py --n-jobs 2 --plain-layers 0,6,12
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from joblib import Parallel, delayed
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from layerprobe.probes.classifiers import CLASSIFIERS, LINEAR_SVM_C_GRID, LOGREG_C_GRID
from layerprobe.probes.fit_rows import uar_many
from layerprobe.probes.protocols import Folds, outer_folds
from layerprobe.probes.significance import permuted_labels
from layerprobe.probes.spec import FoldTask, selection_score

N_LAYERS, N_CLASSES = 13, 10
SWEPT = ("logreg", "linear-svm")
GRIDS = {"logreg": LOGREG_C_GRID, "linear-svm": LINEAR_SVM_C_GRID}


def build_layers(n_clips: int = 3000, dim: int = 768, n_groups: int = 6,
                 seed: int = 0) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """FSDD-like (layers, labels, groups): 10 digits, 6 speakers, float32 like the cache; class signal
    rises to the middle layers, speaker offsets everywhere."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, N_CLASSES, n_clips)
    groups = rng.integers(0, n_groups, n_clips)
    class_means = rng.normal(size=(N_CLASSES, dim)).astype(np.float32)
    speaker_means = rng.normal(size=(n_groups, dim)).astype(np.float32)
    layers = []
    for layer in range(N_LAYERS):
        strength = 0.02 + 0.12 * np.sin(np.pi * layer / (N_LAYERS - 1))
        X = rng.normal(size=(n_clips, dim)).astype(np.float32)
        X += strength * class_means[labels] + 0.1 * speaker_means[groups]
        layers.append(X)
    return layers, labels, groups


def fold_task(X: np.ndarray, codes: np.ndarray, folds: Folds, k: int) -> FoldTask:
    """Outer fold k as a FoldTask."""
    fold = folds.outer[k]
    return FoldTask(X, codes, N_CLASSES, fold.fit, fold.test, fold.selection, seed=folds.seed)


def run_job(name: str, task: FoldTask):
    return CLASSIFIERS[name].run(task)


def ours(layers, labels, folds, chosen_layers, n_jobs):
    """{(layer, classifier): [FoldOutcome of label vector 0 per fold]} and the seconds it took."""
    keys = [(layer, name, k) for layer in chosen_layers for name in SWEPT for k in range(len(folds.splits))]
    start = time.perf_counter()
    results = Parallel(n_jobs=n_jobs)(delayed(run_job)(name, fold_task(layers[layer], labels[None], folds, k))
                                      for layer, name, k in keys)
    seconds = time.perf_counter() - start
    table: dict = {}
    for (layer, name, _), outcomes in zip(keys, results):
        table.setdefault((layer, name), []).append(outcomes[0])
    return table, seconds


def plain(layers, labels, folds, chosen_layers, n_jobs):
    """The same as `ours` by GridSearchCV with default solvers: {(layer, classifier): [(chosen, predicted)]}."""
    # dual=True: LinearSVC's default (dual="auto") picks the primal solver when clips outnumber
    # dimensions, about 10x slower here (225 s against 23 s on one outer fold): the fairer peer.
    estimators = {"logreg": LogisticRegression(), "linear-svm": LinearSVC(dual=True)}
    table: dict = {}
    start = time.perf_counter()
    for layer in chosen_layers:
        X = layers[layer]
        for name in SWEPT:
            for fold in folds.outer:
                train, test = fold.fit, fold.test
                # The same selection splits, as positions within the training part.
                inner = [(np.searchsorted(train, a), np.searchsorted(train, b)) for a, b in fold.selection]
                search = GridSearchCV(Pipeline([("scale", StandardScaler()), ("clf", estimators[name])]),
                                      {"clf__C": list(GRIDS[name])}, cv=inner, scoring="balanced_accuracy", n_jobs=n_jobs)
                predicted = search.fit(X[train], labels[train]).predict(X[test])
                table.setdefault((layer, name), []).append((GRIDS[name].index(search.best_params_["clf__C"]), predicted))
    return table, time.perf_counter() - start


def agreement(our_table, plain_table, labels, folds) -> dict[str, tuple[float, float, int, int]]:
    """Per classifier: max |accuracy diff|, max |UAR diff| over layers (pooled out-of-fold), same-C folds, folds."""
    figures: dict = {}
    for (layer, name), theirs in plain_table.items():
        mine = our_table[(layer, name)]
        ours_pred, plain_pred = np.zeros_like(labels), np.zeros_like(labels)
        for (_, test), outcome, (_, predicted) in zip(folds.splits, mine, theirs):
            ours_pred[test], plain_pred[test] = outcome.predicted, predicted
        acc = abs(np.mean(ours_pred == labels) - np.mean(plain_pred == labels))
        uar = abs(selection_score(labels, ours_pred) - selection_score(labels, plain_pred))
        same = sum(o.chosen == c for o, (c, _) in zip(mine, theirs))
        a, u, s, n = figures.get(name, (0.0, 0.0, 0, 0))
        figures[name] = (max(a, acc), max(u, uar), s + same, n + len(mine))
    return figures


def ridge_permutations(layers, labels, groups, folds, n_permutations, n_jobs):
    """Seconds for ridge's nested CV on the observed labels plus n_permutations within-group shuffles,
    every layer; and per layer (observed UAR, p-value, family-wise max-T p-value)."""
    codes = np.vstack([labels, permuted_labels(labels, groups, "within-groups", n_permutations, folds.seed)])
    start = time.perf_counter()
    results = Parallel(n_jobs=n_jobs)(delayed(run_job)("ridge", fold_task(layers[layer], codes, folds, k))
                                      for layer in range(N_LAYERS) for k in range(len(folds.splits)))
    seconds = time.perf_counter() - start
    statistic = np.zeros((N_LAYERS, len(codes)))
    for layer in range(N_LAYERS):
        predicted = np.zeros(codes.shape, dtype=np.int64)
        for k, (_, test) in enumerate(folds.splits):
            for p, outcome in enumerate(results[layer * len(folds.splits) + k]):
                predicted[p, test] = outcome.predicted
        statistic[layer] = uar_many(codes, predicted, N_CLASSES)
    null_max = statistic[:, 1:].max(axis=0)
    tests = [(row[0], (1 + np.sum(row[1:] >= row[0])) / len(codes), (1 + np.sum(null_max >= row[0])) / len(codes))
             for row in statistic]
    return seconds, tests


def parse_layers(text: str) -> list[int]:
    return list(range(N_LAYERS)) if text == "all" else [int(v) for v in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--layers", default="all", help="layers our sweep runs on (default all; a subset is extrapolated)")
    parser.add_argument("--plain-layers", default="0,6,12", help="layers the plain approach runs on (default 0,6,12)")
    parser.add_argument("--permutations", type=int, default=999, help="ridge permutation test size (0: skip)")
    args = parser.parse_args()
    layers, labels, groups = build_layers()
    folds = outer_folds(labels, groups.astype(str), cv="group", folds=5, seed=0)
    mine, plains = parse_layers(args.layers), parse_layers(args.plain_layers)
    print(f"data: 3000 clips x {N_LAYERS} layers x 768 dims float32, {N_CLASSES} classes, 6 groups; "
          f"{folds.protocol}, {len(folds.splits)} outer folds, {len(folds.outer[0].selection)} inner; "
          f"C grid {len(LOGREG_C_GRID)} values (logreg), {len(LINEAR_SVM_C_GRID)} (linear-svm); "
          f"n_jobs={args.n_jobs}")
    our_table, our_seconds = ours(layers, labels, folds, mine, args.n_jobs)
    our_full = our_seconds * N_LAYERS / len(mine)
    print(f"ours : {our_seconds:8.1f} s on {len(mine)} layer(s) x 2 classifiers, for 13 layers: {our_full:.1f} s")
    plain_table, plain_seconds = plain(layers, labels, folds, plains, args.n_jobs)
    plain_full = plain_seconds * N_LAYERS / len(plains)
    print(f"plain: {plain_seconds:8.1f} s on {len(plains)} layer(s) x 2 classifiers, for 13 layers: {plain_full:.1f} s")
    print(f"ratio: plain / ours = {plain_full / our_full:.1f}x")
    missing = [layer for layer in plains if layer not in mine]
    if missing:
        extra, _ = ours(layers, labels, folds, missing, args.n_jobs)
        our_table.update(extra)
    for name, (acc, uar, same, n) in agreement(our_table, plain_table, labels, folds).items():
        print(f"agreement {name:10s} on layers {args.plain_layers}: max |accuracy diff| {acc:.4f}, "
              f"max |UAR diff| {uar:.4f}, same C in {same}/{n} folds ({100 * same / n:.0f}%)")
    if args.permutations:
        seconds, tests = ridge_permutations(layers, labels, groups, folds, args.permutations, args.n_jobs)
        best = int(np.argmax([t[0] for t in tests]))
        print(f"ridge: {args.permutations} permutations + observed, 13 layers x {len(folds.splits)} folds, nested, "
              f"max-T over layers: {seconds:.1f} s (best layer {best}: UAR {tests[best][0]:.3f}, "
              f"p {tests[best][1]:.4f}, p_fwer {tests[best][2]:.4f})")


if __name__ == "__main__":
    main()
