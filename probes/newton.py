"""Preconditioned Newton-CG for the linear probes' smooth primal problems, all classes at once, along
a path of C values.

Both probes minimize 1/2 |M * W|^2 + C L(X W): W a (D+1, K) matrix, one column per class, X the
design's rows, M masks the unpenalized rows (logistic regression's intercept), L a data term of the
scores S = X W. A one-vs-rest problem (the linear SVM) is K independent problems ("separable"): every
inner product, step length and stopping test is taken per column, and each Newton step works only on
the columns not yet solved, so its matrix products narrow as classes converge. A multinomial problem
(logistic regression) couples the columns: one of each.

The solver keeps the scores S beside W. CG's Hessian-vector products are two matrix products each
(X V, then X' times L's score-space Hessian applied to it); the step's scores X d are the sum of the
products CG already took, so trial points of the line search cost no matrix product at all, and an
accepted step one (X' for the gradient).

L does not depend on C, so along the path one fit's solution, scores and data gradient start the next
fit, and L's gradient at zero (the scale every stopping test is relative to) is taken once.

A fit that stops short of its tolerance says so (SolvedPath.unconverged): after MAX_NEWTON steps, or
when the line search finds no decrease in MAX_HALVINGS halvings. The latter leaves the block at its
last accepted point (a step of zero, the safe one) and stops working on it, where accepting the last
trial step could raise the objective. A block whose full step promised less than PRECISION of its
objective is solved as far as the objective can tell (its float32 losses cannot resolve the
decrease): it stops there too, and counts as converged.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

ARMIJO = 1e-4        # sufficient decrease of the backtracking line search
MAX_HALVINGS = 30
# Newton steps per fit: at the probes' tolerances a fit takes a few to a few tens on the bench's data.
MAX_NEWTON = 100
# Per-clip losses are float32 (relative rounding 6e-8) summed over the clips: a decrease below this
# fraction of the objective is below what its evaluation resolves. Where the line search failed on
# tests/test_probe_grid.py's ill-conditioned data the step promised 3e-9..1e-8 of it.
PRECISION = 1e-6


class Rows(Protocol):
    """The fit's rows X (n, D+1) as the solver uses them (path_probe.Design)."""

    features: np.ndarray                                          # X itself

    def times(self, W: np.ndarray) -> np.ndarray: ...             # X W, float32 (n, k)

    def transposed_times(self, R: np.ndarray) -> np.ndarray: ...  # X' R, float64 (D+1, k)

    # (I + Gram diag(curvature))^-1 R per column: an approximate inverse of the Hessian.
    def precondition(self, R: np.ndarray, curvature: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class LossAt:
    """The data term L at scores S (n, k) of some columns: value (per block), residual dL/dS (n, k),
    score_hessian(Q), L's Hessian in score space applied to Q (n, k), and curvature (k,), each
    column's mean curvature per clip, from which the preconditioner is built."""

    value: np.ndarray
    residual: np.ndarray
    score_hessian: Callable[[np.ndarray], np.ndarray]
    curvature: np.ndarray


# loss(S, columns): L at scores S of W's `columns` (an index array, or slice(None): all of them).
# Evaluating it takes no matrix product.
Loss = Callable[[np.ndarray, np.ndarray | slice], LossAt]


@dataclass(frozen=True)
class Problem:
    """What stays fixed along the path: the rows, the data term, which rows of W are penalized
    ((D+1, 1) of 0/1) and whether the columns are separable."""

    rows: Rows
    loss: Loss
    penalized: np.ndarray
    separable: bool

    def dot(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->j", a, b) if self.separable else np.array([np.vdot(a, b)])

    def norms(self, a: np.ndarray) -> np.ndarray:
        return np.sqrt(self.dot(a, a))

    def penalty(self, W: np.ndarray) -> np.ndarray:
        masked = self.penalized * W
        penalty = 0.5 * np.einsum("ij,ij->j", masked, masked)
        return penalty if self.separable else np.array([penalty.sum()])


@dataclass(frozen=True)
class SolvedPath:
    """solve_path's answer: the (D+1, K) solution per C, and for each fit that stopped short of its
    tolerance the index of its C and why ("Newton-CG stopped after 100 steps at 3.2x its tolerance")."""

    solutions: list[np.ndarray]
    unconverged: list[tuple[int, str]]


@dataclass
class _State:
    """W, its scores S = X W, and X' times L's residual at S (the data gradient), every column; and
    L's last evaluation with the columns it covers, reused while the next step works on the same."""

    W: np.ndarray
    scores: np.ndarray
    data_gradient: np.ndarray
    at: LossAt | None = None
    at_columns: np.ndarray | slice | None = None

    def loss_at(self, problem: Problem, columns: np.ndarray | slice) -> LossAt:
        """L at the scores of `columns`."""
        if self.at is None or not _same(self.at_columns, columns):
            self.at, self.at_columns = problem.loss(self.scores[:, columns], columns), columns
        return self.at


def _same(a: np.ndarray | slice | None, b: np.ndarray | slice) -> bool:
    if isinstance(a, slice) or isinstance(b, slice):
        return isinstance(a, slice) and isinstance(b, slice) and a == b
    return a is not None and np.array_equal(a, b)


def solve_path(problem: Problem, start: np.ndarray, values: Sequence[float], *, tol: float, forcing: float,
               extrapolate: bool = False, max_newton: int | None = None, max_cg: int = 200) -> SolvedPath:
    """The minimizer of 1/2 |M * W|^2 + C L(X W) for each C of `values`, each started from the last.

    start: (D+1, K) first starting point.
    tol: stop a block when |gradient| <= tol * |gradient at zero| (the scale of its problem: C |grad L(0)|).
    forcing: each Newton step solves H d = -g by CG to `forcing` times |g| (inexact Newton: looser
    steps cost fewer CG iterations and more Newton steps; the solvers set what measured cheapest).
    extrapolate: from the second C on, start where the secant through the last two points (the
        start, then each solution; as far again along it as the step in log C) leads, when the
        objective is lower there (default False).
    max_newton, max_cg: iteration caps (defaults MAX_NEWTON and 200).
    """
    max_newton = MAX_NEWTON if max_newton is None else max_newton
    everything = slice(None)
    zero_scores = np.zeros((problem.rows.features.shape[0], start.shape[1]), dtype=np.float32)
    zero = problem.loss(zero_scores, everything)
    zero_gradient = problem.rows.transposed_times(zero.residual)
    scale = problem.norms(zero_gradient)
    state = _State(start.copy(), zero_scores, zero_gradient, zero, everything)
    if start.any():
        state.scores = problem.rows.times(start)
        state.at = problem.loss(state.scores, everything)
        state.data_gradient = problem.rows.transposed_times(state.at.residual)
    points, unconverged = [start], []
    for k, C in enumerate(values):
        if extrapolate and k >= 1:
            ratio = np.log(C / values[k - 1]) / np.log(values[k - 1] / values[k - 2]) if k >= 2 else 1.0
            _try_secant(problem, C, state, points[-2], ratio)
        stopped = _minimize(problem, C, state, tol * C * scale, forcing, max_newton, max_cg)
        if stopped:
            unconverged.append((k, stopped))
        points.append(state.W.copy())
    return SolvedPath(points[1:], unconverged)


def _try_secant(problem: Problem, C: float, state: _State, before: np.ndarray, ratio: float) -> None:
    """Move state (the solution at the last C) along the secant from `before` (the one before it),
    `ratio` times as far as the path went between them, when that lowers the objective at C."""
    everything = slice(None)
    guess = state.W + ratio * (state.W - before)
    guess_scores = problem.rows.times(guess)
    guess_at = problem.loss(guess_scores, everything)
    here = problem.penalty(state.W) + C * state.loss_at(problem, everything).value
    if (problem.penalty(guess) + C * guess_at.value).sum() < here.sum():
        state.W, state.scores, state.at, state.at_columns = guess, guess_scores, guess_at, everything
        state.data_gradient = problem.rows.transposed_times(guess_at.residual)


def _minimize(problem: Problem, C: float, state: _State, goal: np.ndarray, forcing: float,
              max_newton: int, max_cg: int) -> str:
    """Newton-CG with backtracking, in place on state, until each block's |gradient| <= goal.

    Returns "" when every block got there, else why not: the line search failed on some block
    (left where it was), or max_newton steps did not suffice.
    """
    rows, penalized = problem.rows, problem.penalized
    stalled, unresolved = np.zeros(len(goal), dtype=bool), np.zeros(len(goal), dtype=bool)
    for _ in range(max_newton):
        gradient = penalized * state.W + C * state.data_gradient
        open_ = (problem.norms(gradient) > goal) & ~stalled
        if not open_.any():
            return _stalled_note(stalled & ~unresolved)
        columns = np.flatnonzero(open_) if problem.separable else slice(None)
        W, scores = state.W[:, columns], state.scores[:, columns]
        at = state.loss_at(problem, columns)
        step, step_scores = _conjugate_gradient(problem, C, at, gradient[:, columns], forcing, max_cg)
        value = problem.penalty(W) + C * at.value
        # The line search needs only the value: L's per-clip arrays (n x columns each) go before it
        # makes its own, which keeps the refit's peak memory down at Speech-Commands size.
        at = state.at = trial = None
        slope = problem.dot(gradient[:, columns], step)
        length = np.ones_like(slope)
        for _ in range(MAX_HALVINGS):
            trial_W, trial_scores = W + step * length, scores + step_scores * length.astype(np.float32)
            trial = None
            trial = problem.loss(trial_scores, columns)
            failed = problem.penalty(trial_W) + C * trial.value > value + ARMIJO * length * slope
            if not failed.any():
                break
            length = np.where(failed, length / 2, length)
        else:
            # No decrease in MAX_HALVINGS halvings: a failed block does not move.
            blocks = np.flatnonzero(open_)[failed] if problem.separable else slice(None)
            stalled[blocks] = True
            unresolved[blocks] = (-slope <= PRECISION * np.abs(value))[failed]
            length = np.where(failed, 0.0, length)
            trial_W, trial_scores = W + step * length, scores + step_scores * length.astype(np.float32)
            trial = None
            trial = problem.loss(trial_scores, columns)
        state.W[:, columns], state.scores[:, columns] = trial_W, trial_scores
        state.at, state.at_columns = trial, columns
        state.data_gradient[:, columns] = rows.transposed_times(trial.residual)
    gradient = penalized * state.W + C * state.data_gradient
    excess = np.where(stalled, 0.0, problem.norms(gradient) / goal)
    if not (excess > 1).any():
        return _stalled_note(stalled & ~unresolved)
    return "; ".join(note for note in (f"Newton-CG stopped after {max_newton} steps at {excess.max():.3g}x its "
                                       "gradient tolerance", _stalled_note(stalled & ~unresolved)) if note)


def _stalled_note(stalled: np.ndarray) -> str:
    if not stalled.any():
        return ""
    return f"the line search found no decrease in {MAX_HALVINGS} halvings; stopped at the last accepted point"


def _conjugate_gradient(problem: Problem, C: float, at: LossAt, gradient: np.ndarray,
                        forcing: float, max_cg: int) -> tuple[np.ndarray, np.ndarray]:
    """An approximate Newton direction d with H d = -g until every block is within `forcing` times
    its |g|, and its scores X d (float32), summed from the products CG takes.

    Blocks that reach their target early go on improving while the others catch up: their share of
    the products costs little, and the better steps save Newton steps (freezing them made the linear
    SVM's selection paths on bench/probe_scale.py's layers 1, 2 and 10 take 15-45% longer).
    """
    rows = problem.rows
    residual = -gradient
    target = forcing * problem.norms(residual)
    step = np.zeros_like(residual)
    step_scores = np.zeros((at.residual.shape[0], residual.shape[1]), dtype=np.float32)
    direction = rows.precondition(residual, C * at.curvature)
    rz = problem.dot(residual, direction)
    for _ in range(max_cg):
        if not (problem.norms(residual) > target).any():
            break
        direction_scores = rows.times(direction)
        curved = problem.penalized * direction + C * rows.transposed_times(at.score_hessian(direction_scores))
        alpha = rz / np.maximum(problem.dot(direction, curved), 1e-300)
        step += alpha * direction
        direction_scores *= alpha.astype(np.float32)
        step_scores += direction_scores
        residual -= alpha * curved
        z = rows.precondition(residual, C * at.curvature)
        rz_next = problem.dot(residual, z)
        direction = z + (rz_next / np.maximum(rz, 1e-300)) * direction
        rz = rz_next
    return step, step_scores
