"""compare.json as types (`layerprobe compare`): several encoders of the same clips on one set of folds,
the paired tests between them and the linear CKA map of their layers; read with `from_dict`, written
with `to_dict`, as layerprobe/results.py's records are (whose Record and Side it holds).

Like results.py, nothing here imports numpy's users, torch or h5py: the report stage reads these alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

from layerprobe.errors import UserError
from layerprobe.results import ALL_LAYERS, FORMAT, LAYER, Comparison, Record, Side

# McNemar's counts of a single split, as a comparison of two encoders names them.
_DISCORDANT = {"layer_only_correct": "a_only_correct", "baseline_only_correct": "b_only_correct"}


@dataclass(frozen=True)
class Encoder:
    """One compared encoder: its `name` in tables and figures, the `cache` read, its `model` and
    `model_fingerprint`, the `layers` probed, its `depth` (the deepest layer its cache stores: relative
    depth 1), its labelled ok clips before the join (`n_clips`) and its records (`results`: one per
    layer x classifier, the weighted sum of every layer, then the selected ones), on the document's folds."""

    name: str
    cache: str
    model: str
    model_fingerprint: str
    layers: list[int]
    depth: int
    n_clips: int
    results: list[Record]

    def relative_depth(self, layer: int) -> float:
        """0 for the transformer's input (hidden_states[0]), 1 for the deepest stored layer."""
        return layer / self.depth if self.depth else 0.0

    def layer_records(self) -> list[Record]:
        """The per-layer records (the curve), without the weighted sum or the selected ones."""
        return [record for record in self.results if record.layer.kind == LAYER]

    def weighted_sum(self) -> Record | None:
        """The record of the head over every layer (--classifier weighted-sum), None where none was run."""
        return next((record for record in self.results if record.layer.kind == ALL_LAYERS), None)

    @classmethod
    def from_dict(cls, d: dict) -> Encoder:
        return cls(d["name"], d["cache"], d.get("model", ""), d.get("model_fingerprint", ""), list(d["layers"]),
                   d["depth"], d["n_clips"], [Record.from_dict(r) for r in d["results"]])

    def to_dict(self) -> dict:
        return {"name": self.name, "cache": self.cache, "model": self.model,
                "model_fingerprint": self.model_fingerprint, "layers": self.layers, "depth": self.depth,
                "n_clips": self.n_clips, "results": [record.to_dict() for record in self.results]}


@dataclass(frozen=True)
class PairedTest:
    """The paired test of encoder `a`'s selected record against encoder `b`'s, fold by fold (the
    project's paired test, baselines/paired.py: differences are a minus b), and its p-value corrected
    over every pair of the document (`p_value_fwer`, by `correction`; None where the test gave none).
    In JSON the comparison's fields sit flat beside "a" and "b", its sides as "a_record" and "b_record"."""

    a: str
    b: str
    comparison: Comparison
    p_value_fwer: float | None
    correction: str = "holm"

    @classmethod
    def from_dict(cls, d: dict) -> PairedTest:
        flat = {key: value for key, value in d.items() if key not in ("a", "b", "p_value_fwer", "correction")}
        flat["best_layer"], flat["best_baseline"] = flat.pop("a_record"), flat.pop("b_record")
        if flat.get("discordant"):
            flat["discordant"] = {old: flat["discordant"][new] for old, new in _DISCORDANT.items()}
        return cls(d["a"], d["b"], Comparison.from_dict(flat), d.get("p_value_fwer"), d.get("correction", "holm"))

    def to_dict(self) -> dict:
        flat = self.comparison.to_dict()
        sides = {"a_record": flat.pop("best_layer"), "b_record": flat.pop("best_baseline")}
        if flat.get("discordant"):
            flat["discordant"] = {_DISCORDANT[key]: value for key, value in flat["discordant"].items()}
        return {"a": self.a, "b": self.b, **sides, **flat, "p_value_fwer": self.p_value_fwer,
                "correction": self.correction}

    @property
    def a_side(self) -> Side:
        return self.comparison.best_layer

    @property
    def b_side(self) -> Side:
        return self.comparison.best_baseline


@dataclass(frozen=True)
class CkaMap:
    """Linear CKA (Kornblith et al. 2019) between every pair of the compared layers: `layers` names
    each row and column ({"encoder", "layer"}), `values` the symmetric matrix, on `n_clips` of the
    common clips (a seeded draw above probes/cka.py's CKA_CLIPS), `method` how it was computed."""

    layers: list[tuple[str, int]]
    values: list[list[float]]
    n_clips: int
    method: str

    def block(self, a: str, b: str) -> list[list[float]]:
        """The rows of encoder `a`'s layers, the columns of `b`'s."""
        rows = [i for i, (name, _) in enumerate(self.layers) if name == a]
        columns = [j for j, (name, _) in enumerate(self.layers) if name == b]
        return [[self.values[i][j] for j in columns] for i in rows]

    @classmethod
    def from_dict(cls, d: dict) -> CkaMap:
        return cls([(entry["encoder"], entry["layer"]) for entry in d["layers"]], d["values"], d["n_clips"],
                   d["method"])

    def to_dict(self) -> dict:
        return {"layers": [{"encoder": name, "layer": layer} for name, layer in self.layers], "values": self.values,
                "n_clips": self.n_clips, "method": self.method}


@dataclass(frozen=True)
class CompareDocument:
    """compare.json, and what layerprobe.compare returns: the shared folds' facts (as a probe
    document's), the common clips (`clip_ids`, `clip_labels`: every record's prediction indices point
    into them), how many labelled ok clips of each encoder the join left out (`left_out`, by name),
    every warning, the options it ran with (`options`, written at the top level), the encoders with
    their records, the paired tests and the CKA map."""

    protocol: str
    protocol_reason: str
    selection: str
    leak: str | None
    n_folds: int
    seed: int
    split_counts: dict[str, int]
    fold_sizes: list[dict[str, int]]
    n_clips: int
    classes: list[str]
    clip_ids: list[str]
    clip_labels: list[str]
    left_out: dict[str, int]
    warnings: list[str]
    encoders: list[Encoder]
    paired: list[PairedTest]
    cka: CkaMap
    options: dict = field(default_factory=dict)
    format: int = FORMAT

    def encoder(self, name: str) -> Encoder:
        return next(encoder for encoder in self.encoders if encoder.name == name)

    @classmethod
    def from_dict(cls, d: dict) -> CompareDocument:
        version = d.get("format", FORMAT)
        if not isinstance(version, int) or version > FORMAT:
            raise UserError(f"a compare document of format {version!r}; this version reads formats up to {FORMAT}: "
                            "upgrade layerprobe")
        own = {f.name for f in fields(cls)} - {"options"}
        return cls(
            protocol=d["protocol"], protocol_reason=d.get("protocol_reason", ""), selection=d["selection"],
            leak=d.get("leak"), n_folds=d["n_folds"], seed=d["seed"], split_counts=d.get("split_counts", {}),
            fold_sizes=d.get("fold_sizes", []), n_clips=d["n_clips"], classes=d["classes"], clip_ids=d["clip_ids"],
            clip_labels=d["clip_labels"], left_out=d.get("left_out", {}), warnings=d.get("warnings", []),
            encoders=[Encoder.from_dict(e) for e in d["encoders"]],
            paired=[PairedTest.from_dict(p) for p in d.get("paired", [])], cka=CkaMap.from_dict(d["cka"]),
            options={key: value for key, value in d.items() if key not in own}, format=version)

    def to_dict(self) -> dict:
        return {"format": self.format, "protocol": self.protocol, "protocol_reason": self.protocol_reason,
                "selection": self.selection, "leak": self.leak, "n_folds": self.n_folds, "seed": self.seed,
                "split_counts": self.split_counts, "fold_sizes": self.fold_sizes, **self.options,
                "n_clips": self.n_clips, "classes": self.classes, "left_out": self.left_out,
                "warnings": self.warnings, "encoders": [encoder.to_dict() for encoder in self.encoders],
                "paired": [test.to_dict() for test in self.paired], "cka": self.cka.to_dict(),
                "clip_ids": self.clip_ids, "clip_labels": self.clip_labels}
