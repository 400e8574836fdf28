"""The adaptation ladder: frozen head, top-k unfrozen, LoRA and full fine-tuning, each trained and tested on
the very outer folds of the probes, so that each rung pairs fold by fold with the frozen probe.

With extract/, the only stage that imports torch (and peft); importing this package imports neither.
"""
