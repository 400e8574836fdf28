"""Is the selected encoder layer better than the selected hand-made baseline? A paired test over shared folds.

Both sides are the "selected" records: the layer (and classifier), and the baseline feature and
classifier, chosen inside each training part, so neither side gains from being picked on the test folds.

CV scores of one dataset are not independent (training parts overlap), so a plain paired t-test
over folds is too confident. The main test for CV protocols is the corrected resampled t-test of
Nadeau & Bengio (2003, Machine Learning 52:239-281), as recommended by Bouckaert & Frank (2004):
the variance of the per-fold differences is inflated by n_test / n_train. The Wilcoxon
signed-rank test over folds (Demsar 2006) is reported beside it as a second opinion. A single
train/test split has one difference only; there McNemar's exact test compares the two
classifiers' correctness on the paired test clips (Dietterich 1998).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from layerprobe.probes.output import headline_record
from layerprobe.results import Comparison, Record, Side

NADEAU_BENGIO = "corrected resampled t-test (Nadeau & Bengio 2003), two-sided, k-1 degrees of freedom"
MCNEMAR = "McNemar's exact test of accuracy on the paired test clips (Dietterich 1998), two-sided"
WILCOXON_LEVEL = 0.05


def compare(layer_records: Sequence[Record], baseline_records: Sequence[Record], metric: str = "balanced_accuracy",
            labels: Sequence[str] | None = None) -> Comparison:
    """Compare the selected layer record with the selected baseline record, fold by fold.

    layer_records: probe records (probes.sweep.probe). baseline_records: records of
    baselines.run.baselines on the same cache and fold arguments. metric: "accuracy",
    "balanced_accuracy" (default) or "macro_f1". labels: the label of each ok clip (indexed like the
    records' predictions); needed only for a single split, where McNemar's test counts which clips
    each side gets right.
    Returns the Comparison: metric, best_layer and best_baseline (source, classifier, value, ci, with
    ci_note where ci is None, picks), differences (layer minus baseline, per fold), mean_difference,
    test, statistic, p_value, wilcoxon_p_value (with wilcoxon_note when the folds are too few for it
    to reach 0.05), n_folds, and a note when no test is possible and why.
    Raises ValueError when a side has no selected record or they were not evaluated on the same folds.
    """
    layer, baseline = headline_record(list(layer_records)), headline_record(list(baseline_records))
    if layer is None or baseline is None:
        raise ValueError("no selected record to compare: run probe and baselines with this version")
    return paired_comparison(layer, baseline, metric, labels)


def paired_comparison(layer: Record, baseline: Record, metric: str = "balanced_accuracy",
                      labels: Sequence[str] | None = None) -> Comparison:
    """The paired test of any two records of the same folds, `layer` minus `baseline` (see compare); the
    fine-tuning ladder pairs each rung (as `layer`) with the frozen probe's selected record."""
    _check_paired(layer, baseline)
    differences = np.subtract(layer.metric(metric).folds, baseline.metric(metric).folds)
    shared = dict(metric=metric, best_layer=_side(layer, metric), best_baseline=_side(baseline, metric),
                  differences=differences.tolist(), mean_difference=float(differences.mean()),
                  value_difference=layer.metric(metric).value - baseline.metric(metric).value,
                  n_folds=len(differences), **_wilcoxon(differences))
    if len(differences) == 1:
        return Comparison(**shared, **_mcnemar(layer, baseline, labels))
    return Comparison(**shared, **_corrected_t(differences, _test_train_ratio(layer)))


def _side(record: Record, metric: str) -> Side:
    """The side's figure; `ci` is None (with the record's `ci_note`) where the record has no interval."""
    summary = record.metric(metric)
    return Side(record.layer, record.classifier, summary.value, summary.ci, summary.ci_note, record.picked or [])


def _check_paired(a: Record, b: Record) -> None:
    same = a.protocol == b.protocol and len(a.predictions) == len(b.predictions) and all(
        fa.index == fb.index for fa, fb in zip(a.predictions, b.predictions))
    if not same:
        raise ValueError(f"layer {a.layer} and {b.layer} were not evaluated on the same folds: run probe "
                         "and baselines on the same cache with the same --cv, --folds and --seed")


def _test_train_ratio(record: Record) -> float:
    """Mean n_test / n_train over folds (the folds partition the record's clips)."""
    sizes = np.array([len(fold.index) for fold in record.predictions])
    return float(np.mean(sizes / (record.n_clips - sizes)))


def _corrected_t(differences: np.ndarray, ratio: float) -> dict:
    k = len(differences)
    variance = differences.var(ddof=1)
    base = {"test": NADEAU_BENGIO}
    if variance == 0:
        if differences.mean() == 0:
            return {**base, "statistic": 0.0, "p_value": 1.0}
        return {**base, "statistic": None, "p_value": None,
                "note": "the difference is the same in every fold: the t statistic is undefined, no test possible"}
    t = differences.mean() / np.sqrt((1 / k + ratio) * variance)
    return {**base, "statistic": float(t), "p_value": float(2 * stats.t.sf(abs(t), df=k - 1))}


def _wilcoxon(differences: np.ndarray) -> dict:
    """The exact signed-rank p-value, with a note when k folds cannot reach 0.05 (its smallest p is 2 / 2**k)."""
    k = len(differences)
    if k < 2 or not differences.any():
        return {"wilcoxon_p_value": None}
    smallest = 2 / 2**k
    result = {"wilcoxon_p_value": float(stats.wilcoxon(differences).pvalue)}
    if smallest > WILCOXON_LEVEL:
        result["wilcoxon_note"] = (f"with {k} folds the Wilcoxon signed-rank test cannot go below p = {smallest:.3g}, "
                                   f"so it cannot show a difference at {WILCOXON_LEVEL}")
    return result


def _mcnemar(layer: Record, baseline: Record, labels: Sequence[str] | None) -> dict:
    base = {"test": MCNEMAR}
    if labels is None:
        return {**base, "statistic": None, "p_value": None,
                "note": "one train/test split: McNemar's test needs the clip labels, none were given; no test done"}
    truth = np.asarray(labels)[layer.predictions[0].index]
    layer_right = np.asarray(layer.predictions[0].predicted) == truth
    baseline_right = np.asarray(baseline.predictions[0].predicted) == truth
    only_layer = int((layer_right & ~baseline_right).sum())
    only_baseline = int((~layer_right & baseline_right).sum())
    discordant = only_layer + only_baseline
    p = float(stats.binomtest(only_layer, discordant, 0.5).pvalue) if discordant else 1.0
    return {**base, "statistic": only_layer, "p_value": p,
            "discordant": {"layer_only_correct": only_layer, "baseline_only_correct": only_baseline}}


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down family-wise correction (Holm 1979) of the p-values given, in their order; a None
    (a pair that could not be tested) stays None and is not counted in the family."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    corrected: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - rank) * p))  # adjusted p-values never decrease
        corrected[i] = running
    return corrected
