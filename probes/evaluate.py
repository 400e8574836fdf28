"""Evaluate feature matrices with probes on shared outer folds -> records (docs/design.md's shape).

The work is cut into independent jobs, one per (features, probe, outer fold, batch of label
vectors), run in one joblib pool. Each job keeps what the records need and no more: per label
vector the selection score of the chosen point and the per-class hits and supports of the test
part; for the observed labels also the test predictions and decision scores. From these the
records, the "selected" records (the layer chosen inside each training part) and every
permutation null follow without a single extra fit.
"""
from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from joblib import Parallel, delayed
from tqdm import tqdm

from layerprobe.probes.detection import ScoreKind, class_scores
from layerprobe.probes.layer_stack import LayerStack
from layerprobe.probes.protocols import Folds, OuterFold
from layerprobe.probes.spec import FoldOutcome, FoldTask, Model, ProbeSpec
from layerprobe.results import ALL_LAYERS, LayerWeights, Source

SELECTED = "selected"
# The distinct non-convergence notes a record's warning quotes; the rest are counted.
QUOTED_NOTES = 3
# The characters of a caught warning's message a record quotes (its first line).
CAUGHT_CHARS = 200


@dataclass(frozen=True)
class JobResult:
    """One job's yield for its P label vectors (row 0 the observed labels when `predicted` is set);
    decision: the observed labels' (n_test, n_classes) one-vs-rest scores (detection.class_scores);
    unconverged: their fits that stopped short of the solver's tolerance (FoldOutcome.unconverged);
    layer_weights: a head over every layer's refit weights, its one fold (None for one layer);
    seconds: the wall time its fits took;
    caught: the distinct warnings the job raised ("ConvergenceWarning: ..."), which a worker process
    would otherwise print straight to stderr, and which the record holds instead."""

    best: np.ndarray
    hits: np.ndarray
    support: np.ndarray
    chosen: int | None = None
    scores: np.ndarray | None = None
    predicted: np.ndarray | None = None
    model: Model | None = None
    decision: np.ndarray | None = None
    unconverged: tuple[str, ...] = ()
    layer_weights: LayerWeights | None = None
    seconds: float = 0.0
    caught: tuple[str, ...] = ()


@dataclass
class Candidate:
    """Everything about one (features, probe) over all outer folds and label vectors.

    best: (k, P) selection score of the chosen point per fold and label vector. hits, support:
    (k, P, K) per-class correct predictions and test clips. predicted: the observed labels' test
    predictions per fold; decisions: their (n_test, K) one-vs-rest scores per fold, and score_kinds
    what those are per fold (the probe's ScoreKind). params: the chosen hyperparameters per fold.
    picks: per fold, which (layer, classifier) a "selected" candidate took (None for a plain one).
    grid and scores: the probe's grid and the observed selection score of each point per fold
    (plain candidates only). unconverged: per fold, the observed labels' fits that stopped short
    of their solver's tolerance (for a selected candidate, those of the candidate it picked).
    layer_weights: a head over every layer's weights, one list per fold (None otherwise).
    seconds: the wall time of its jobs' fits, summed (what a permutation of it is expected to cost).
    caught: the distinct warnings its jobs raised, observed and permuted labels alike (JobResult.caught).
    """

    layer: int | str
    classifier: str
    best: np.ndarray
    hits: np.ndarray
    support: np.ndarray
    predicted: list[np.ndarray]
    params: list[dict]
    picks: list[dict] | None = None
    grid: tuple[dict, ...] = ()
    scores: list[np.ndarray] = field(default_factory=list)
    decisions: list[np.ndarray] = field(default_factory=list)
    score_kinds: list[ScoreKind] = field(default_factory=list)
    unconverged: list[tuple[str, ...]] = field(default_factory=list)
    layer_weights: LayerWeights | None = None
    seconds: float = 0.0
    caught: list[str] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        """One line when a solver stopped short in some fold ("the solver did not converge in 2 of 5
        folds: C=100 (refit): ..."), one when its fits raised warnings ("its fits warned: ..."), else none."""
        lines = [f"its fits warned: {_quoted(self.caught)}"] if self.caught else []
        folds = [notes for notes in self.unconverged if notes]
        if not folds:
            return lines
        distinct = list(dict.fromkeys(note for notes in folds for note in notes))
        return [f"the solver did not converge in {len(folds)} of {len(self.unconverged)} folds: "
                f"{_quoted(distinct)}"] + lines


def _quoted(lines: Sequence[str]) -> str:
    more = f"; and {len(lines) - QUOTED_NOTES} more" if len(lines) > QUOTED_NOTES else ""
    return "; ".join(lines[:QUOTED_NOTES]) + more


@dataclass(frozen=True)
class Job:
    """What a job works on; `key` says where its result goes."""

    key: tuple
    call: object


@dataclass(frozen=True)
class Plan:
    """The label vectors and the options every job of one evaluation shares. first_observed: row 0
    holds the observed labels (its predictions and chosen points are kept); else all are permutations."""

    codes: np.ndarray
    n_classes: int
    folds: Folds
    class_weight: str
    seed: int
    first_observed: bool = True


def fold_job(X: np.ndarray, codes: np.ndarray, observed: bool, n_classes: int, fold: OuterFold, spec: ProbeSpec,
             class_weight: str, seed: int, keep_model: bool = False) -> JobResult:
    """Run `spec` on one outer fold for label vectors `codes` (P, n) and keep what the records need,
    with the warnings it raised (JobResult.caught): in a joblib worker they would print to its stderr,
    before and outside whatever the parent holds."""
    with warnings.catch_warnings(record=True) as caught:
        result = _fold_job(X, codes, observed, n_classes, fold, spec, class_weight, seed, keep_model)
    return replace(result, caught=tuple(dict.fromkeys(_caught_line(warning) for warning in caught)))


def _caught_line(warning: warnings.WarningMessage) -> str:
    """"ConvergenceWarning: lbfgs failed to converge ...": the category and the message's first line, cut."""
    first = (str(warning.message).strip().splitlines() or [""])[0]
    return f"{warning.category.__name__}: {first[:CAUGHT_CHARS]}"


def _fold_job(X: np.ndarray, codes: np.ndarray, observed: bool, n_classes: int, fold: OuterFold, spec: ProbeSpec,
              class_weight: str, seed: int, keep_model: bool) -> JobResult:
    started = time.perf_counter()
    outcomes = _run_spec(spec, FoldTask(X, codes, n_classes, fold.fit, fold.test, fold.selection, class_weight,
                                        seed, keep_model and observed))
    seconds = time.perf_counter() - started
    best = np.array([outcome.scores[outcome.chosen] for outcome in outcomes])
    truth = codes[:, fold.test]
    predicted = np.stack([outcome.predicted for outcome in outcomes])
    support = np.stack([np.bincount(t, minlength=n_classes) for t in truth])
    hits = np.stack([np.bincount(t[t == p], minlength=n_classes) for t, p in zip(truth, predicted)])
    if not observed:
        return JobResult(best, hits, support, seconds=seconds)
    first = outcomes[0]
    decision = None if first.decision is None else class_scores(first.decision, n_classes, spec.score_kind)
    weights = None
    if first.layer_weights is not None:
        indices = X.indices if isinstance(X, LayerStack) else range(len(first.layer_weights))
        weights = LayerWeights([int(index) for index in indices], [first.layer_weights.tolist()])
    return JobResult(best, hits, support, first.chosen, first.scores, first.predicted, first.model, decision,
                     first.unconverged, weights, seconds)


def _run_spec(spec: ProbeSpec, task: FoldTask) -> list[FoldOutcome]:
    """spec.run on the label vectors whose fitting rows hold two classes or more; a permutation that
    leaves a single class there (speaker-level labels, few speakers) gets that class as every prediction."""
    single = np.array([len(np.unique(codes[task.fit_rows])) < 2 for codes in task.codes])
    if not single.any():
        return spec.run(task)
    outcomes: list[FoldOutcome | None] = [None] * len(task.codes)
    if not single.all():
        fitted = spec.run(replace(task, codes=task.codes[~single], keep_model=task.keep_model and not single[0]))
        for index, outcome in zip(np.flatnonzero(~single), fitted):
            outcomes[index] = outcome
    for index in np.flatnonzero(single):
        constant = np.full(len(task.test_rows), task.codes[index, task.fit_rows[0]], dtype=np.int64)
        decision = None
        if index == 0:  # a one-hot row per test clip, not an n_classes x n_classes identity to index
            decision = np.zeros((len(constant), task.n_classes), dtype=np.float32)
            decision[:, constant[0]] = 1
        outcomes[index] = FoldOutcome(np.zeros(len(spec.grid)), 0, constant, decision=decision)
    return outcomes


def source_reads(name: int | str) -> str:
    """What a source offers its probes: "all-layers" for the all-layers source ("all", a LayerStack),
    else "layer" (one matrix: a layer, a hand-made feature)."""
    return "all-layers" if Source.of(name).kind == ALL_LAYERS else "layer"


def reading(name: int | str, specs: Sequence[ProbeSpec]) -> list[ProbeSpec]:
    """The specs that read the source `name` (ProbeSpec.reads against source_reads)."""
    return [spec for spec in specs if spec.reads == source_reads(name)]


def fold_seed(seed: int, fold: int) -> int:
    """The seed of outer fold `fold`'s randomized solvers, drawn from (seed, fold): one seed shared by
    every fold made the stratified-random chance guess repeat one draw in each equal-size fold."""
    return int(np.random.SeedSequence([seed, fold]).generate_state(1)[0])


def jobs_for(key: tuple, X: np.ndarray, spec: ProbeSpec, plan: Plan) -> Iterator[Job]:
    """The jobs of one (features, probe): every outer fold x batch of label vectors."""
    total = len(plan.codes)
    for k, fold in enumerate(plan.folds.outer):
        for start in range(0, total, spec.batch):
            chunk = plan.codes[start:start + spec.batch]
            observed = start == 0 and plan.first_observed
            yield Job((key, k, start), delayed(fold_job)(X, chunk, observed, plan.n_classes, fold, spec,
                                                         plan.class_weight, fold_seed(plan.seed, k)))


def run_jobs(jobs: Iterator[Job], n_jobs: int, total: int, progress: bool, *,
             progress_label: str = "probe fits") -> dict[tuple, JobResult]:
    """Run keyed jobs in one joblib pool; `jobs` is consumed lazily, so few feature matrices are held at once.

    progress_label: what the progress bar calls the jobs (default "probe fits").
    """
    keys: list[tuple] = []

    def calls() -> Iterator[object]:
        for job in jobs:
            keys.append(job.key)
            yield job.call

    # Results come back in submission order, and a job is submitted before its result exists.
    results = Parallel(n_jobs=n_jobs, return_as="generator")(calls())
    # smoothing=0: the ETA from the mean rate since the start, which the fold-by-fold order of the
    # jobs keeps honest; a recent rate swings with each job's cost (a kernel SVM's against a ridge's).
    bar = tqdm(results, total=total, disable=not progress, desc=progress_label, unit="fit", smoothing=0)
    return {keys[i]: result for i, result in enumerate(bar)}


def candidate(layer: int | str, spec: ProbeSpec, plan: Plan, results: dict[tuple, JobResult]) -> Candidate:
    """Gather the jobs of one (features, probe) into a Candidate."""
    key = (layer, spec.name)
    starts = range(0, len(plan.codes), spec.batch)
    per_fold = [[results.pop((key, k, start)) for start in starts] for k in range(len(plan.folds.outer))]
    stack = lambda name: np.stack([np.concatenate([getattr(r, name) for r in fold]) for fold in per_fold])
    seconds = sum(r.seconds for fold in per_fold for r in fold)
    caught = list(dict.fromkeys(line for fold in per_fold for r in fold for line in r.caught))
    if not plan.first_observed:
        return Candidate(layer, spec.name, stack("best"), stack("hits"), stack("support"), [], [],
                         seconds=seconds, caught=caught)
    return Candidate(layer, spec.name, stack("best"), stack("hits"), stack("support"),
                     [fold[0].predicted for fold in per_fold], [spec.grid[fold[0].chosen] for fold in per_fold],
                     grid=spec.grid, scores=[fold[0].scores for fold in per_fold],
                     decisions=[fold[0].decision for fold in per_fold], score_kinds=[spec.score_kind] * len(per_fold),
                     unconverged=[fold[0].unconverged for fold in per_fold],
                     layer_weights=_joined([fold[0].layer_weights for fold in per_fold]), seconds=seconds,
                     caught=caught)


def _joined(parts: list[LayerWeights | None]) -> LayerWeights | None:
    """Each fold's layer weights as one LayerWeights (None for a probe that reads one layer)."""
    if parts[0] is None:
        return None
    return LayerWeights(parts[0].layers, [weights for part in parts for weights in part.folds])


def extend(observed: Candidate, null: Candidate) -> Candidate:
    """The observed candidate with the permutations' label vectors appended after its own."""
    return replace(observed, best=np.concatenate([observed.best, null.best], axis=1),
                   hits=np.concatenate([observed.hits, null.hits], axis=1),
                   support=np.concatenate([observed.support, null.support], axis=1),
                   caught=list(dict.fromkeys(observed.caught + null.caught)))


def select(candidates: Sequence[Candidate], classifier: str) -> Candidate:
    """The "selected" candidate: in each outer fold and for each label vector, the candidate whose
    chosen point scored best on the selection splits (the first on ties), scored on the test part.

    Only the training part decides, so its test score carries no optimism from choosing among
    layers; the same choice re-made on each permuted label vector gives its null distribution.
    """
    best = np.stack([c.best for c in candidates])  # (C, k, P)
    winner = best.argmax(axis=0)  # (k, P)
    k_index, p_index = np.indices(winner.shape)
    hits = np.stack([c.hits for c in candidates])[winner, k_index, p_index]
    support = np.stack([c.support for c in candidates])[winner, k_index, p_index]
    if not candidates[0].params:  # permutations only: no observed choice to report
        return Candidate(SELECTED, classifier, best.max(axis=0), hits, support, [], [])
    observed = winner[:, 0]
    picks = [{"layer": candidates[w].layer, "classifier": candidates[w].classifier, **candidates[w].params[k]}
             for k, w in enumerate(observed)]
    return Candidate(SELECTED, classifier, best.max(axis=0), hits, support,
                     [candidates[w].predicted[k] for k, w in enumerate(observed)],
                     [candidates[w].params[k] for k, w in enumerate(observed)], picks,
                     decisions=[candidates[w].decisions[k] for k, w in enumerate(observed)],
                     score_kinds=[candidates[w].score_kinds[k] for k, w in enumerate(observed)],
                     unconverged=[candidates[w].unconverged[k] for k, w in enumerate(observed)],
                     caught=list(dict.fromkeys(line for w in sorted(set(observed)) for line in candidates[w].caught)))


def null_statistic(c: Candidate) -> np.ndarray:
    """(P,) pooled UAR of every label vector (row 0 the observed one), from the pooled hits and supports."""
    hits, support = c.hits.sum(axis=0), c.support.sum(axis=0)
    present = support > 0
    recall = np.divide(hits, support, out=np.zeros(hits.shape), where=present)
    return recall.sum(axis=1) / present.sum(axis=1)


def evaluate_candidates(sources: Sequence[tuple[int | str, Callable[[], np.ndarray]]], specs: Sequence[ProbeSpec],
                        plan: Plan, n_jobs: int, progress: bool, *,
                        progress_label: str = "probe fits") -> list[Candidate]:
    """Run every (features, probe) through the folds; sources: (name, loader) pairs, loaded when due.
    Each source meets the specs that read it (reading): the all-layers source ("all") those over every
    layer, any other those over one matrix. progress_label: what the progress bar calls the jobs
    (default "probe fits")."""

    def jobs() -> Iterator[Job]:
        for layer, load in sources:
            if not reading(layer, specs):
                continue
            X = load()
            every = [job for spec in reading(layer, specs) for job in jobs_for((layer, spec.name), X, spec, plan)]
            # Fold by fold, each fold's jobs of every probe together: probes differ in cost by orders
            # of magnitude, folds little, so every stretch of the bar holds the same mix and its rate
            # holds for the rest (probe by probe, the first probe's rate predicted the whole run).
            yield from sorted(every, key=lambda job: job.key[1])

    total = sum(len(plan.folds.outer) * -(-len(plan.codes) // spec.batch)
                for layer, _ in sources for spec in reading(layer, specs))
    results = run_jobs(jobs(), n_jobs, total, progress, progress_label=progress_label)
    return [candidate(layer, spec, plan, results) for layer, _ in sources for spec in reading(layer, specs)]
