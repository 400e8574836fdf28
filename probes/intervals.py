"""95% intervals for a pooled score: a corrected t interval over CV folds, a bootstrap for one split,
and none where a single split has too few test groups for a bootstrap to mean anything.

CV folds share most of their training clips, so their scores are correlated and a plain t interval
over folds is too narrow. Nadeau & Bengio (2003, Machine Learning 52:239-281) correct the variance
by (1/k + n_test/n_train). A single train/test split has no folds to spread over; there the test
clips are resampled, by group when groups exist (clips of one speaker are not independent).

The centre is the pooled value, the figure every table prints and ranks by (docs/design.md: the score of
all out-of-fold predictions taken together); only the width comes from the fold values (corrected t)
or from resampling the test units (bootstrap), and `ci_method` says both. Centring on the fold mean
instead would bracket a figure the report does not print, and a worse one: where a test part lacks
a class (speaker-level labels) per-fold UAR and macro-F1 are 0-or-1-like and their mean depends on
the fold count, while the pooled value does not. For accuracy over equal test parts the two centres
coincide. The fold variance is Nadeau & Bengio's estimate for the mean of the fold scores; applying
it to the pooled value is the approximation this interval makes.

A "95%" percentile bootstrap of a mean over n units covers it 48% of the time for 2 units (the
interval is the two speakers' scores), 79% for 4, 90% for 10, 92% for 20 (simulated: normal unit
scores, 2000 datasets x 2000 resamples; the audit of issue 20 measured 79% for 4 test speakers on
null data). Below MIN_BOOTSTRAP_UNITS the record says why there is no interval instead of printing
one labelled 95%; grouped k-fold CV (`--cv group`) gives one over folds.
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from layerprobe.probes.metrics import METRICS, count_scores

LEVEL = 0.95
BOOTSTRAP_SAMPLES = 2000
MIN_BOOTSTRAP_UNITS = 10
CORRECTED_T = ("corrected resampled t interval (Nadeau & Bengio 2003), 95%: centred on the pooled value, "
               "its width from the variance of the fold values")
# What each kind of test unit is called, and the protocol that gives an interval over folds instead.
UNIT_WORDS = {"groups": ("group", "--cv group for grouped k-fold"),
              "clips": ("clip", "--cv stratified for k-fold")}


def corrected_t_interval(value: float, fold_values: np.ndarray, test_train_ratio: float,
                         bounds: tuple[float, float] = (0.0, 1.0)) -> list[float]:
    """value ± t(k-1) * sqrt((1/k + n_test/n_train) * var(fold values)); clipped to `bounds` ([0, 1] for a
    score, [-1, 1] for a difference of two)."""
    k = len(fold_values)
    half = stats.t.ppf(0.5 + LEVEL / 2, k - 1) * np.sqrt((1 / k + test_train_ratio) * np.var(fold_values, ddof=1))
    return [float(max(bounds[0], value - half)), float(min(bounds[1], value + half))]


def bootstrap_method(unit: str, n_units: int, resamples: int = BOOTSTRAP_SAMPLES) -> str:
    """The `ci_method` of a bootstrap over `n_units` test `unit`s ("groups" or "clips")."""
    return (f"percentile bootstrap over test {unit}, {resamples} resamples of the {n_units} {unit}, 95%: "
            "percentiles of the pooled value recomputed on each resample")


def too_few_units(unit: str, n_units: int) -> str | None:
    """Why a single split with `n_units` test `unit`s ("groups" or "clips") gets no interval, None when
    they are enough for a bootstrap."""
    if n_units >= MIN_BOOTSTRAP_UNITS:
        return None
    singular, instead = UNIT_WORDS[unit]
    counted = f"1 test {singular} is" if n_units == 1 else f"{n_units} test {unit} are"
    return (f"{counted} too few for a {singular} bootstrap, which needs {MIN_BOOTSTRAP_UNITS}; "
            f"use {instead}")


def bootstrap_intervals(unit_counts: np.ndarray, seed: int) -> dict[str, list[float]]:
    """Percentile intervals of every metric, resampling units (groups or clips) with replacement.

    unit_counts: (n_units, 3, K) metrics.class_counts of each unit's test clips; a resample's
    pooled counts are the count-weighted sum, so no prediction is recomputed. Memory grows with
    resamples x K, not resamples x K x K (5,000 classes: 0.24 GB, not 400 GB).
    """
    rng = np.random.default_rng(seed)
    n_units = len(unit_counts)
    counts = rng.multinomial(n_units, np.full(n_units, 1 / n_units), size=BOOTSTRAP_SAMPLES)
    resampled = np.tensordot(counts.astype(np.float64), unit_counts.astype(np.float64), axes=1)
    values = count_scores(resampled)
    tail = 100 * (1 - LEVEL) / 2
    return {metric: [float(np.nanpercentile(values[metric], tail)), float(np.nanpercentile(values[metric], 100 - tail))]
            for metric in METRICS}
