"""Hand-made features (MFCC, ...), their classifiers and chance, on the probes' folds.

`layerprobe.baselines(cache, ...)` runs them. This subpackage is imported by its modules' full
names (`from layerprobe.baselines.run import ...`): `layerprobe.baselines` itself is that function.
"""
