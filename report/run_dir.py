"""The run folder the report reads (the contract with the pipeline): which files, loaded, which are missing."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from layerprobe.atomic_write import write_text_atomic
from layerprobe.errors import UserError
from layerprobe.probes.output import RESULTS_FILE
from layerprobe.results import Comparison, Document, Record, RunFacts
from layerprobe.report.stage_facts import stage_facts

BASELINES_FILE = "baseline_results.json"
COMPARISON_FILE = "comparison.json"
RUN_FILE = "run.json"
# `layerprobe finetune RUN_DIR --out RUN_DIR` writes the ladder's document here; optional, never "missing".
FINETUNE_FILE = "finetune_results.json"
# How long each stage run on its own took (probe, baselines): apart from the results, which two
# identical runs write byte for byte alike.
STAGE_SECONDS_FILE = "stage_seconds.json"


@dataclass(frozen=True)
class RunInputs:
    """What a run folder holds: the probe document, and the optional documents (None when absent).
    run: run.json's facts, or where a folder was filled stage by stage, the same facts read from
    the cache and the results files (stage_facts.py); None when neither is at hand. finetune: the
    adaptation ladder's document, when `layerprobe finetune` wrote one into the folder."""

    directory: Path
    probe: Document
    baselines: Document | None
    comparison: Comparison | None
    run: RunFacts | None
    finetune: Document | None = None

    @property
    def missing(self) -> list[str]:
        """File names of the optional inputs that the folder lacks."""
        optional = {BASELINES_FILE: self.baselines, COMPARISON_FILE: self.comparison, RUN_FILE: self.run}
        return [name for name, doc in optional.items() if doc is None]

    @property
    def layer_records(self) -> list[Record]:
        """The probe's records, one per layer x classifier."""
        return self.probe.results

    @property
    def baseline_records(self) -> list[Record]:
        """The baselines' records (feature baselines and chance), [] without baseline_results.json."""
        return self.baselines.results if self.baselines else []


def read_run_dir(run_dir: str | os.PathLike[str]) -> RunInputs:
    """Load RUN_DIR; only probe_results.json is required. Raises UserError when RUN_DIR or it is
    missing, or when a file present is not the JSON document it should be. Files of every format
    since main 2cede23 load (layerprobe/results.py)."""
    directory = Path(run_dir)
    if not directory.is_dir():
        raise UserError(f"run folder {directory} does not exist")
    probe = _read(directory / RESULTS_FILE)
    if probe is None:
        raise UserError(f"{directory / RESULTS_FILE} is missing: run `probe CACHE.h5 --out {directory}` first")
    baselines = _read(directory / BASELINES_FILE)
    for name, doc in ((RESULTS_FILE, probe), (BASELINES_FILE, baselines)):
        if doc is not None and not isinstance(doc.get("results"), list):
            raise UserError(f"{directory / name} has no list `results`: not a probe or baselines document")
    if not probe["results"]:
        raise UserError(f"{directory / RESULTS_FILE} holds no results")
    probe_doc = _typed(Document, probe, directory / RESULTS_FILE)
    run = _read(directory / RUN_FILE)
    facts = _typed(RunFacts, run, directory / RUN_FILE) if run is not None else \
        stage_facts(directory, probe_doc, _read(directory / STAGE_SECONDS_FILE) or {})
    return RunInputs(directory, probe_doc, _typed(Document, baselines, directory / BASELINES_FILE),
                     _typed(Comparison, _read(directory / COMPARISON_FILE), directory / COMPARISON_FILE), facts,
                     _typed(Document, _read(directory / FINETUNE_FILE), directory / FINETUNE_FILE))


def _typed(kind: type, doc: dict | None, path: Path):
    """`doc` read as `kind` (None stays None); one line naming the file where it cannot be."""
    if doc is None:
        return None
    try:
        return kind.from_dict(doc)
    except UserError as error:
        raise UserError(f"{path}: {error}") from None
    except KeyError as error:
        raise UserError(f"{path} lacks {error.args[0]!r}: not a {kind.__name__} file this version reads") from None
    except (TypeError, AttributeError) as error:
        raise UserError(f"{path} is malformed ({error}): not a {kind.__name__} file this version reads") from None


def record_stage_seconds(out_dir: str | os.PathLike[str], stage: str, seconds: float) -> Path:
    """Add how long `stage` (probe, baselines) took to OUT_DIR/stage_seconds.json, atomically; the
    report's stage timings read it where there is no run.json."""
    path = Path(out_dir) / STAGE_SECONDS_FILE
    try:
        recorded = _read(path) or {}
    except UserError:  # a damaged record of timings is replaced, not a reason to fail a stage
        recorded = {}
    return write_text_atomic(path, json.dumps({**recorded, stage: seconds}, indent=1))


def _read(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(doc, dict):
        raise UserError(f"{path} should hold a JSON object")
    return doc
