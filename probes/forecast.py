"""What more data would bring: an inverse power law fitted to a learning curve, and the gain expected
from doubling the training data, with a bootstrap interval.

The law is score(n) = a - b * n^-c (a <= 1, b >= 0, c > 0): the score approaches its ceiling a as a
power of the training size n, the form learning curves of classifiers follow over the sizes a
probe sees (Cortes et al. 1994, "Learning curves: asymptotic values and rate of convergence";
Hestness et al. 2017, arXiv 1712.00409; Figueroa et al. 2012, BMC Med. Inform. 12:8, for small
medical sets). Doubling the whole training part (size n) is expected to add
score(2n) - score(n) = b * n^-c * (1 - 2^-c).

For a fixed exponent c the law is linear in (a, b), so the fit is a least-squares line in n^-c for
each c of a log-spaced grid (with the bounds applied), and the c of least squared error wins: no
starting point to guess, nothing that fails to converge, and the same code fits a thousand
bootstrap resamples at once.

The interval comes from resampling the curve's independent units: the outer folds (each fold's
subsamples are drawn from its own training part and scored on its own test part), or with a single
split the draws of each fraction. As for the records' intervals (probes/intervals.py) the centre is
the fit to the pooled values the figure shows; the width is the spread of the resampled fits
around the fit to the unresampled fold means (a shifted percentile interval).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from layerprobe.probes.intervals import LEVEL
from layerprobe.results import CurvePoint, Forecast, LearningCurve

# The exponents tried: from a curve that has nearly levelled off to one that still climbs steeply.
EXPONENTS = np.geomspace(0.02, 4.0, 120)
REFINE = 41
RESAMPLES = 1000
# Below this expected gain (UAR) the curve is called flat.
FLAT_GAIN = 0.01
MIN_SIZES = 3
METRIC = "balanced_accuracy"


def fit_power_law(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares (a, b, c) of y = a - b * x^-c with a <= 1, b >= 0, for every row of y.

    x: (n,) training sizes; y: (B, n) scores. Returns (B, 3). The exponent is found on EXPONENTS,
    then on a finer grid between the best one's neighbours.
    """
    y = np.asarray(y, dtype=float)
    coarse = np.broadcast_to(EXPONENTS, (len(y), len(EXPONENTS)))
    best = _best(x, y, coarse)[:, 2]
    index = np.searchsorted(EXPONENTS, best)
    low, high = EXPONENTS[np.maximum(index - 1, 0)], EXPONENTS[np.minimum(index + 1, len(EXPONENTS) - 1)]
    return _best(x, y, np.linspace(low, high, REFINE, axis=1))


def _best(x: np.ndarray, y: np.ndarray, exponents: np.ndarray) -> np.ndarray:
    """(B, 3): per row of y (B, n), the (a, b, c) of least squared error among its row of exponents (B, G)."""
    y = y[:, None, :]  # (B, 1, n)
    z = np.asarray(x, dtype=float)[None, None, :] ** -exponents[..., None]  # (B, G, n)
    z_mean, y_mean = z.mean(axis=2, keepdims=True), y.mean(axis=2, keepdims=True)
    spread = ((z - z_mean) ** 2).sum(axis=2)
    slope = ((z - z_mean) * (y - y_mean)).sum(axis=2) / np.where(spread > 0, spread, np.inf)  # (B, G)
    b = np.maximum(-slope, 0.0)
    a = y_mean[..., 0] + b * z_mean[..., 0]
    # A ceiling above a perfect score is held at 1, and b refitted through it.
    over = a > 1
    through = ((1 - y) * z).sum(axis=2) / (z ** 2).sum(axis=2)
    b = np.where(over, np.maximum(through, 0.0), b)
    a = np.where(over, 1.0, a)
    error = ((a[..., None] - b[..., None] * z - y) ** 2).sum(axis=2)
    best = error.argmin(axis=1)
    rows = np.arange(len(best))
    return np.stack([a[rows, best], b[rows, best], exponents[rows, best]], axis=1)


def doubling_gain(params: np.ndarray, n: float) -> np.ndarray:
    """score(2n) - score(n) of the law(s) `params` ((3,) or (B, 3))."""
    _, b, c = np.moveaxis(np.asarray(params, dtype=float), -1, 0)
    return b * n ** -c * (1 - 2.0 ** -c)


def forecast(points: Sequence[CurvePoint], x: Sequence[float], x_name: str, n_folds: int,
             seed: int) -> tuple[Forecast | None, str | None]:
    """The power law of the points' UAR against x (each point's training clips per class, or of the
    positive class), its doubling gain at the largest x, and the gain's 95% interval; or None and why.

    n_folds: the outer folds (the bootstrap's units when more than one); seed: the resamples'.
    """
    x = np.asarray(x, dtype=float)
    if len(np.unique(x)) < MIN_SIZES:
        return None, (f"a power law needs at least {MIN_SIZES} training sizes, the curve has {len(np.unique(x))}: "
                      "give more --learning-curve fractions")
    pooled = np.array([point.balanced_accuracy.value for point in points])
    params = fit_power_law(x, pooled[None])[0]
    n = float(x.max())
    gain = float(doubling_gain(params, n))
    resampled, method, note = _resampled_gains(points, x, n, n_folds, seed)
    ci = None
    if resampled is not None:
        tail = 100 * (1 - LEVEL) / 2
        low, high = np.percentile(resampled, [tail, 100 - tail])
        ci = [float(max(0.0, gain + low)), float(gain + high)]
    found = Forecast(metric=METRIC, x=x_name, a=float(params[0]), b=float(params[1]), c=float(params[2]), n=n,
                     doubling_gain=gain, ci=ci, ci_method=method, flat=gain < FLAT_GAIN, ci_note=note)
    return found, None


def _resampled_gains(points: Sequence[CurvePoint], x: np.ndarray, n: float, n_folds: int,
                     seed: int) -> tuple[np.ndarray | None, str | None, str | None]:
    """RESAMPLES gains of resampled curves less the gain of the curve they resample, how they were
    made, and why there are none (a single split with one draw per fraction)."""
    rng = np.random.default_rng(seed)
    if n_folds > 1:
        folds = np.array([[np.nan if v is None else v for v in point.balanced_accuracy.folds] for point in points])
        weights = rng.multinomial(n_folds, np.full(n_folds, 1 / n_folds), size=RESAMPLES).astype(float)
        present = ~np.isnan(folds)
        values = np.nan_to_num(folds)
        # Each resample's curve: the weighted mean of its folds' values at every point.
        curves = (weights @ values.T) / np.maximum(weights @ present.T, 1e-12)
        centre = np.nanmean(folds, axis=1)
        method = (f"percentile bootstrap over the {n_folds} outer folds, {RESAMPLES} resamples, 95%: the law "
                  "refitted to each resample's mean fold curve, centred on the fit to the pooled values")
    else:
        fractions = np.array([point.fraction for point in points])
        if all((fractions == f).sum() == 1 for f in np.unique(fractions)):
            return None, None, ("a single split with one draw per fraction gives nothing to resample: "
                                "--curve-repeats 3 or a k-fold --cv gives an interval")
        pooled = np.array([point.balanced_accuracy.value for point in points])
        # Draws of one fraction replace each other; sizes stay as measured.
        picks = np.stack([rng.choice(np.flatnonzero(fractions == f), size=RESAMPLES) for f in fractions], axis=1)
        curves, centre = pooled[picks], pooled
        method = (f"percentile bootstrap over each fraction's draws, {RESAMPLES} resamples, 95%: the law refitted "
                  "to each resample, centred on the fit to the pooled values")
    gains = doubling_gain(fit_power_law(x, curves), n) - doubling_gain(fit_power_law(x, centre[None]), n)
    return gains, method, None


def forecast_sentence(curve: LearningCurve) -> str:
    """"doubling the training data is expected to add +0.021 UAR (95% interval [0.010, 0.034]) from 38
    training clips per class ...", the same said as flat below FLAT_GAIN, or why there is no forecast."""
    found: Forecast | None = curve.forecast
    if found is None:
        return f"no forecast: {curve.note}"
    interval = (f"95% interval [{found.ci[0]:.3f}, {found.ci[1]:.3f}]" if found.ci is not None
                else f"no interval: {found.ci_note}")
    gain = f"+{found.doubling_gain:.3f} UAR ({interval})"
    where = f"from {found.n:.0f} {found.x}"
    law = f"fitted law UAR = {found.a:.3f} - {found.b:.3g} n^-{found.c:.2f}"
    if found.flat:
        return f"the curve is flat: doubling the training data is expected to add only {gain} {where}; {law}"
    return f"doubling the training data is expected to add {gain} {where}; {law}"
