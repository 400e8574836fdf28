"""What the ladder looks like in a terminal: one row per rung, a collapsed rung named as such and never scored."""
from __future__ import annotations

from layerprobe.finetune.paired import verdict
from layerprobe.probes.output import interval_method, protocol_line, with_interval
from layerprobe.report.run_dir import FINETUNE_FILE
from layerprobe.results import Document

RESULTS_FILE = FINETUNE_FILE  # the run folder's name for it, which the report reads


def ladder_table(doc: Document) -> str:
    """The protocol line, then per rung its UAR with 95% interval (or why it collapsed), trainable parameters,
    parameters per hour of training audio, the learning rate and epochs chosen per fold, device and seconds."""
    lines = [protocol_line(doc), "",
             f"{'rung':<12}  {'UAR':<22}  {'trainable':>10}  {'per hour':>10}  {'learning rate':<20}  "
             f"{'epochs':<12}  device  seconds"]
    for record in doc.results:
        score = "collapsed" if record.collapsed else with_interval(record.balanced_accuracy)
        rates = ",".join(f"{rate:g}" for rate in record.learning_rate or [])
        epochs = ",".join(map(str, record.epochs or []))
        lines.append(f"{record.rung:<12}  {score:<22}  {record.trainable_parameters:>10,}  "
                     f"{record.parameters_per_hour:>10.3g}  {rates:<20}  {epochs:<12}  {record.device:<6}  "
                     f"{record.wall_seconds:.0f}")
    if doc.results:
        lines.append(f"pooled out-of-fold value [{interval_method(doc.results[0].balanced_accuracy)}]; learning rate "
                     "and epochs per outer fold, chosen on its inner split")
    if doc.paired is not None:
        lines.append(f"against the frozen probe: {verdict(doc.results, doc.paired)}")
    lines += [f"warning: {line}" for line in doc.warnings]
    return "\n".join(lines)
