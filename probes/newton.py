"""Preconditioned Newton-CG for the linear probes' smooth primal problems, all classes at once, along
a path of C values.

Both probes minimize 1/2 |M * W|^2 + C L(W): W a (D+1, K) matrix, one column per class, M masks the
unpenalized rows (logistic regression's intercept), L a data term. A one-vs-rest problem (the
linear SVM) is K independent problems: every inner product, step length and stopping test is taken
per column ("separable"). A multinomial problem (logistic regression) couples the columns: one of
each. Every Hessian-vector product of L is two (n, D+1) x (D+1, K) matrix products: BLAS-3 over the
classes.

L does not depend on C, so along the path its evaluation at one fit's solution is the next fit's
starting point, and its gradient at zero (the scale every stopping test is relative to) is taken once.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

ARMIJO = 1e-4        # sufficient decrease of the backtracking line search
MAX_HALVINGS = 30


@dataclass(frozen=True)
class LossAt:
    """The data term L at one point: value (per block), gradient, its Hessian-vector product there, and
    curvature (K,), each column's mean curvature per clip, from which the preconditioner is built."""

    value: np.ndarray
    gradient: np.ndarray
    hessian_times: Callable[[np.ndarray], np.ndarray]
    curvature: np.ndarray


Loss = Callable[[np.ndarray], LossAt]
# precondition(R, curvature): an approximate inverse of I + Gram * diag(curvature) applied to R.
Preconditioner = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Problem:
    """What stays fixed along the path: the data term, which rows of W are penalized ((D+1, 1) of
    0/1), whether the columns are separable, and the preconditioner."""

    loss: Loss
    penalized: np.ndarray
    separable: bool
    precondition: Preconditioner

    def dot(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->j", a, b) if self.separable else np.array([np.vdot(a, b)])

    def norms(self, a: np.ndarray) -> np.ndarray:
        return np.sqrt(self.dot(a, a))


def solve_path(problem: Problem, start: np.ndarray, values: Sequence[float], *, tol: float, forcing: float,
               max_newton: int = 100, max_cg: int = 200) -> list[np.ndarray]:
    """The minimizer of 1/2 |M * W|^2 + C L(W) for each C of `values`, each started from the last.

    start: (D+1, K) first starting point.
    tol: stop a block when |gradient| <= tol * |gradient at zero| (the scale of its problem: C |grad L(0)|).
    forcing: each Newton step solves H d = -g by CG to `forcing` times |g| (inexact Newton: looser
    steps cost fewer CG iterations and more Newton steps; the solvers set what measured cheapest).
    max_newton, max_cg: iteration caps (defaults 100 and 200); at the probes' tolerances a fit takes
    a few to a few tens of Newton steps on the bench's data.
    """
    zero = problem.loss(np.zeros_like(start))
    scale = problem.norms(zero.gradient)
    W, at = start, zero if not start.any() else problem.loss(start)
    solutions = []
    for C in values:
        W, at = _minimize(problem, C, W, at, tol * C * scale, forcing, max_newton, max_cg)
        solutions.append(W)
    return solutions


def _minimize(problem: Problem, C: float, W: np.ndarray, at: LossAt, goal: np.ndarray, forcing: float,
              max_newton: int, max_cg: int) -> tuple[np.ndarray, LossAt]:
    """Newton-CG with backtracking from W (where L is `at`) until each block's |gradient| <= goal."""
    here = _Point(problem, C, W, at)
    for _ in range(max_newton):
        open_ = problem.norms(here.gradient) > goal
        if not open_.any():
            break
        step = _conjugate_gradient(here, forcing, max_cg) * open_
        slope = problem.dot(here.gradient, step)
        length = np.ones_like(slope)
        for _ in range(MAX_HALVINGS):
            W = here.W + step * length
            trial = _Point(problem, C, W, problem.loss(W))
            failed = trial.value > here.value + ARMIJO * length * slope
            if not failed.any():
                break
            length = np.where(failed, length / 2, length)
        if failed.any():
            W = here.W + step * length
            trial = _Point(problem, C, W, problem.loss(W))
        here = trial
    return here.W, here.at


class _Point:
    """The objective 1/2 |M * W|^2 + C L(W) at W, from L's evaluation `at` there."""

    def __init__(self, problem: Problem, C: float, W: np.ndarray, at: LossAt):
        self.problem, self.C, self.W, self.at = problem, C, W, at
        masked = problem.penalized * W
        penalty = 0.5 * np.einsum("ij,ij->j", masked, masked)
        self.value = (penalty if problem.separable else np.array([penalty.sum()])) + C * at.value
        self.gradient = masked + C * at.gradient

    def hessian_times(self, V: np.ndarray) -> np.ndarray:
        return self.problem.penalized * V + self.C * self.at.hessian_times(V)

    def precondition(self, R: np.ndarray) -> np.ndarray:
        return self.problem.precondition(R, self.C * self.at.curvature)


def _conjugate_gradient(at: _Point, forcing: float, max_cg: int) -> np.ndarray:
    """An approximate Newton direction d with H d = -g, per block to `forcing` times |g|."""
    problem = at.problem
    residual = -at.gradient
    target = forcing * problem.norms(residual)
    step = np.zeros_like(residual)
    z = at.precondition(residual)
    direction = z
    rz = problem.dot(residual, z)
    for _ in range(max_cg):
        open_ = problem.norms(residual) > target
        if not open_.any():
            break
        curved = at.hessian_times(direction)
        alpha = np.where(open_, rz / np.maximum(problem.dot(direction, curved), 1e-300), 0.0)
        step += alpha * direction
        residual -= alpha * curved
        z = at.precondition(residual)
        rz_next = problem.dot(residual, z)
        direction = z + (rz_next / np.maximum(rz, 1e-300)) * direction
        rz = rz_next
    return step
