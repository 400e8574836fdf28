"""Hand-made features (MFCC, ...), their classifiers and chance, on the probes' folds.

`layerprobe.baselines(cache, ...)` runs them and returns a DataFrame (see
layerprobe.baselines.run.baselines).
"""
from layerprobe.callable_module import make_callable


def _baselines():
    from layerprobe.baselines.run import baselines
    from layerprobe.probes.sweep import records_frame

    return lambda *args, **kwargs: records_frame(baselines(*args, **kwargs))


make_callable(__name__, _baselines)
