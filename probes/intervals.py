"""95% intervals for a pooled score: a corrected t interval over CV folds, a bootstrap for one split.

CV folds share most of their training clips, so their scores are correlated and a plain t interval
over folds is too narrow. Nadeau & Bengio (2003, Machine Learning 52:239-281) correct the variance
by (1/k + n_test/n_train). A single train/test split has no folds to spread over; there the test
clips are resampled, by group when groups exist (clips of one speaker are not independent).
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from layerprobe.probes.metrics import METRICS, scores

LEVEL = 0.95
BOOTSTRAP_SAMPLES = 2000
CORRECTED_T = "corrected resampled t interval (Nadeau & Bengio 2003), 95%"
GROUP_BOOTSTRAP = "percentile bootstrap over test groups, 2000 resamples, 95%"
CLIP_BOOTSTRAP = "percentile bootstrap over test clips, 2000 resamples, 95%"


def corrected_t_interval(value: float, fold_values: np.ndarray, test_train_ratio: float) -> list[float]:
    """value ± t(k-1) * sqrt((1/k + n_test/n_train) * var(fold values)); clipped to [0, 1]."""
    k = len(fold_values)
    half = stats.t.ppf(0.5 + LEVEL / 2, k - 1) * np.sqrt((1 / k + test_train_ratio) * np.var(fold_values, ddof=1))
    return [float(max(0.0, value - half)), float(min(1.0, value + half))]


def bootstrap_intervals(unit_matrices: np.ndarray, seed: int) -> dict[str, list[float]]:
    """Percentile intervals of every metric, resampling units (groups or clips) with replacement.

    unit_matrices: (n_units, K, K) the confusion matrix of each unit's test clips; a resample's
    pooled matrix is the count-weighted sum, so no prediction is recomputed.
    """
    rng = np.random.default_rng(seed)
    n_units = len(unit_matrices)
    counts = rng.multinomial(n_units, np.full(n_units, 1 / n_units), size=BOOTSTRAP_SAMPLES)
    resampled = np.tensordot(counts.astype(np.float64), unit_matrices.astype(np.float64), axes=1)
    values = scores(resampled)
    tail = 100 * (1 - LEVEL) / 2
    return {metric: [float(np.nanpercentile(values[metric], tail)), float(np.nanpercentile(values[metric], 100 - tail))]
            for metric in METRICS}
