"""Learning-rate schedules as a factor of the base rate at each optimizer step (0-based) of `total` steps."""
from __future__ import annotations

import math

WARMUP, HOLD = 0.1, 0.4
# Where tri-stage's decay ends, as a share of the base rate (fairseq's wav2vec 2.0 fine-tuning configs).
FINAL_SCALE = 0.05
SCHEDULES = ("linear-warmup", "tri-stage")


def lr_factor(schedule: str, step: int, total: int) -> float:
    """linear-warmup: up over the first 10% of the steps, then linearly down to 0 at the end. tri-stage: up over
    10%, held for 40%, then exponentially down to FINAL_SCALE."""
    warmup = max(1, math.ceil(WARMUP * total))
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "linear-warmup":
        return max(0.0, (total - step) / max(1, total - warmup))
    if schedule != "tri-stage":
        raise ValueError(f"unknown schedule {schedule!r}; choose from {', '.join(SCHEDULES)}")
    hold = math.ceil(HOLD * total)
    if step < warmup + hold:
        return 1.0
    decay = max(1, total - warmup - hold)
    return FINAL_SCALE ** ((step - warmup - hold) / decay)
