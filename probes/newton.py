"""Preconditioned Newton-CG for the linear probes' smooth primal problems, all classes at once.

The unknowns are a (D+1, K) matrix, one column per class. A one-vs-rest problem (the linear SVM) is
K independent problems: every inner product, step length and stopping test is taken per column
("separable"). A multinomial problem (logistic regression) couples the columns: one of each.
Every Hessian-vector product is two (n, D+1) x (D+1, K) matrix products: BLAS-3 over the classes.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

ARMIJO = 1e-4        # sufficient decrease of the backtracking line search
MAX_HALVINGS = 30


@dataclass(frozen=True)
class Evaluation:
    """The objective at one point: value (per block), gradient, the Hessian-vector product there, and
    an approximate inverse of that Hessian (the preconditioner of the Newton step)."""

    value: np.ndarray
    gradient: np.ndarray
    hessian_times: Callable[[np.ndarray], np.ndarray]
    precondition: Callable[[np.ndarray], np.ndarray]


Objective = Callable[[np.ndarray], Evaluation]


def minimize(objective: Objective, start: np.ndarray, separable: bool, tol: float, forcing: float,
             max_newton: int = 100, max_cg: int = 200) -> np.ndarray:
    """Minimize a smooth convex objective from `start` (D+1, K); returns the solution.

    objective(W): its Evaluation; values are (K,) when separable, else (1,).
    separable: whether the columns are independent problems (one step length and test each).
    tol: stop a block when |gradient| <= tol * |gradient at zero| (the scale of its problem).
    forcing: each Newton step solves H d = -g by CG to `forcing` times |g| (inexact Newton: looser
    steps cost fewer CG iterations and more Newton steps; the solvers set what measured cheapest).
    max_newton, max_cg: iteration caps (defaults 100 and 200); at the probes' tolerances a fit takes
    a few to a few tens of Newton steps on the bench's data.
    """
    def norms(a: np.ndarray) -> np.ndarray:
        return np.sqrt(dot(a, a))

    def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->j", a, b) if separable else np.array([np.vdot(a, b)])

    goal = tol * norms(objective(np.zeros_like(start)).gradient)
    W = start.copy()
    here = objective(W)
    for _ in range(max_newton):
        open_ = norms(here.gradient) > goal
        if not open_.any():
            break
        step = _conjugate_gradient(here, dot, norms, forcing, max_cg) * open_
        slope = dot(here.gradient, step)
        length = np.ones_like(slope)
        for _ in range(MAX_HALVINGS):
            trial = objective(W + step * length)
            failed = trial.value > here.value + ARMIJO * length * slope
            if not failed.any():
                break
            length = np.where(failed, length / 2, length)
        W = W + step * length
        here = trial if not failed.any() else objective(W)
    return W


def _conjugate_gradient(at: Evaluation, dot: Callable, norms: Callable, forcing: float, max_cg: int) -> np.ndarray:
    """An approximate Newton direction d with H d = -g, per block to `forcing` times |g|."""
    residual = -at.gradient
    target = forcing * norms(residual)
    step = np.zeros_like(residual)
    z = at.precondition(residual)
    direction = z
    rz = dot(residual, z)
    for _ in range(max_cg):
        open_ = norms(residual) > target
        if not open_.any():
            break
        curved = at.hessian_times(direction)
        alpha = np.where(open_, rz / np.maximum(dot(direction, curved), 1e-300), 0.0)
        step += alpha * direction
        residual -= alpha * curved
        z = at.precondition(residual)
        rz_next = dot(residual, z)
        direction = z + (rz_next / np.maximum(rz, 1e-300)) * direction
        rz = rz_next
    return step
