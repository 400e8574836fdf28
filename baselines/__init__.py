"""Hand-made features (MFCC, ...), their classifiers and chance, on the probes' folds.

`layerprobe.run_baselines(cache, ...)` runs them.
"""
