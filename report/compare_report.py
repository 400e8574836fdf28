"""The report of `layerprobe compare`: compare.json, the figures, and report.md / report.html written
from the same blocks as `layerprobe report` (report/document.py)."""
from __future__ import annotations

import json
import os
from pathlib import Path

from layerprobe.atomic_write import writable_folder, write_text_atomic
from layerprobe.compare_results import CompareDocument, PairedTest
from layerprobe.probes.output import headline_record, interval_method, with_interval
from layerprobe.report import compare_plots
from layerprobe.report.document import Block, Bullets, Heading, Image, Paragraph, Table, to_html, to_markdown
from layerprobe.report.selection import RANKING, chance_level, picks_summary

COMPARE_FILE = "compare.json"
TITLE = "layerprobe comparison of encoders"


def write_compare(doc: CompareDocument, out: str | os.PathLike[str]) -> dict[str, Path]:
    """Write compare.json, depth_curves.png, cka.png, report.md and report.html into OUT (created);
    returns the written paths by file name."""
    folder = writable_folder(out)
    written = {COMPARE_FILE: write_text_atomic(folder / COMPARE_FILE, json.dumps(doc.to_dict(), indent=1))}
    figures = [
        Image(compare_plots.depth_curves(doc.encoders, folder / "depth_curves.png"),
              "Accuracy and UAR against relative depth (0: the transformer's input, 1: each encoder's deepest "
              "stored layer), every encoder on the same folds: pooled out-of-fold value, error bars its 95% "
              f"interval [{interval_method(doc.encoders[0].results[0].accuracy)}]; dotted: each encoder's learned "
              "weighted sum of its layers; dashed: chance."),
        Image(compare_plots.cka_heatmaps(doc.cka, [e.name for e in doc.encoders], folder / "cka.png"),
              f"Linear CKA between every pair of layers, within each encoder (diagonal panels) and across "
              f"encoders, on {doc.cka.n_clips} of the common clips: 1 is the same representation up to a rotation "
              "and a scale."),
    ]
    blocks = report_blocks(doc, figures)
    written["report.md"] = write_text_atomic(folder / "report.md", to_markdown(blocks))
    written["report.html"] = write_text_atomic(folder / "report.html", to_html(blocks, TITLE))
    return {**written, **{figure.path.name: figure.path for figure in figures}}


def report_blocks(doc: CompareDocument, figures: list[Image]) -> list[Block]:
    """The whole report: headline, encoders, paired tests, CKA, warnings, figures."""
    return [Heading(TITLE, level=1), headline(doc), *encoder_table(doc), *paired_table(doc), *cka_section(doc),
            Heading("Warnings"), Bullets(doc.warnings) if doc.warnings else Paragraph("None."),
            Heading("Figures"), *figures]


def headline(doc: CompareDocument) -> Paragraph:
    """The protocol, the clips compared, each encoder's selected record and weighted sum, chance, and each
    pair's paired test."""
    chance, kind = chance_level(doc.encoders[0].results[0], RANKING)
    sentences = [f"{len(doc.encoders)} encoders on the same {doc.n_clips} clips and the same {doc.n_folds} fold(s). "
                 f"Protocol: {doc.protocol}, {doc.protocol_reason}."]
    if doc.leak:
        sentences.append(f"Warning: {doc.leak}.")
    left = {name: count for name, count in doc.left_out.items() if count}
    if left:
        sentences.append("Left out as missing from another cache: "
                         + ", ".join(f"{count} clip(s) of {name}" for name, count in left.items()) + ".")
    for encoder in doc.encoders:
        top, mixed = headline_record(encoder.results), encoder.weighted_sum()
        also = f"; the weighted sum of its layers {with_interval(mixed.balanced_accuracy)}" if mixed else ""
        sentences.append(f"{encoder.name}: the layer chosen inside each training part ({picks_summary(top)}) "
                         f"reaches UAR {with_interval(top.balanced_accuracy)}{also}.")
    sentences.append(f"Chance ({kind}) is UAR {chance:.3f}.")
    sentences += [f"{line}." for line in describe_pairs(doc.paired)]
    return Paragraph(" ".join(sentences))


def encoder_table(doc: CompareDocument) -> list[Block]:
    """Per encoder: its model, layers, the selected record and the weighted sum, each with its 95% interval."""
    rows = []
    for encoder in doc.encoders:
        top, mixed = headline_record(encoder.results), encoder.weighted_sum()
        rows.append([encoder.name, encoder.model, f"{len(encoder.layers)} (0-{encoder.depth})",
                     with_interval(top.balanced_accuracy), with_interval(top.accuracy), picks_summary(top),
                     with_interval(mixed.balanced_accuracy) if mixed else "not run"])
    return [Heading("Encoders"), Table(["encoder", "model", "layers", "selected UAR", "selected accuracy",
                                        "chosen per fold", "weighted sum UAR"], rows)]


def paired_table(doc: CompareDocument) -> list[Block]:
    """Every pair's paired test of the selected records, with its Holm-corrected p-value."""
    if not doc.paired:
        return []
    rows = [[test.a, test.b, f"{test.comparison.value_difference:+.3f}", f"{test.comparison.mean_difference:+.3f}",
             _p(test.comparison.p_value), _p(test.p_value_fwer), test.comparison.note or ""] for test in doc.paired]
    test = doc.paired[0].comparison.test
    return [Heading("Paired tests"),
            Paragraph(f"UAR of each encoder's selected record against another's, fold by fold on the shared folds "
                      f"(a minus b): {test}; p-values family-wise corrected over the {len(doc.paired)} pair(s) "
                      "(Holm)."),
            Table(["a", "b", "UAR difference", "mean fold difference", "p", "p (Holm)", "note"], rows)]


def cka_section(doc: CompareDocument) -> list[Block]:
    """For each pair of encoders, each layer of the first and the layer of the second most like it."""
    names = [encoder.name for encoder in doc.encoders]
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            block = doc.cka.block(a, b)
            theirs = doc.encoder(b).layers
            for layer, row in zip(doc.encoder(a).layers, block):
                best = max(range(len(row)), key=row.__getitem__)
                rows.append([a, str(layer), b, str(theirs[best]), f"{row[best]:.3f}"])
    return [Heading("Layer similarity (linear CKA)"),
            Paragraph(f"{doc.cka.method}, on {doc.cka.n_clips} of the common clips; the figure below maps every "
                      "pair of layers."),
            Table(["encoder", "layer", "most alike in", "layer", "CKA"], rows)]


def _p(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def describe_pairs(paired: list[PairedTest]) -> list[str]:
    """One line per paired test (the terminal's and the headline's)."""
    return [f"{test.a} vs {test.b}: UAR difference {test.comparison.value_difference:+.3f}, "
            + (f"p = {_p(test.comparison.p_value)}, Holm p = {_p(test.p_value_fwer)}" if test.comparison.p_value
               is not None else f"no test ({test.comparison.note or 'no p-value'})") for test in paired]
