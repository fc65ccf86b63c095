"""The constrained MLE of one problem, or of a structure-of-arrays batch: no validation.

The lane-level solve behind :func:`jaxcert.judge.solver.mle`: bad traced input
(NaN, negative counts, an infeasible box) is turned into NaN outputs and a status
instead of an error, because a front door has validated concrete input already and a
kernel inside a sweep must not stop for one bad lane. Status precedence is documented
in :mod:`jaxcert.judge.solver`.
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxcert._types import Status
from jaxcert.judge._exact import nll_gradient
from jaxcert.judge._implicit import ACTIVE_TOL, exact_fit
from jaxcert.judge._kkt_newton import kkt_residual, newton_solve, start_point
from jaxcert.judge._ridge import theta_range

__all__ = ["UNIDENTIFIED_TOL", "mle_kernel", "solve_problem", "status_of"]

#: Fitted Youden index ``s - r`` at or below which the fit is ``UNIDENTIFIED``.
UNIDENTIFIED_TOL = 1e-8


def status_of(bad_num, infeasible, unidentified, converged, finite):
    """Combines failure flags into one :class:`Status` code (int32)."""
    s = jnp.where(converged, Status.CONVERGED, Status.MAX_STEPS)
    s = jnp.where(unidentified, Status.UNIDENTIFIED, s)
    s = jnp.where(~finite, Status.NONFINITE, s)
    s = jnp.where(infeasible, Status.INFEASIBLE, s)
    s = jnp.where(bad_num, Status.NONFINITE, s)
    return s.astype(jnp.int32)


def solve_problem(c, sb, fb, solver, max_steps, tol, pgd_stepsize):
    """Solves one problem: ``c`` (6,) counts, ``sb``/``fb`` (2,) boxes.

    The exact solver also takes a structure-of-arrays batch (batch axes trailing:
    ``c`` (6, ...), ``sb``/``fb`` (2, ...)); the iterative ones are vmapped.
    """
    bad_num = ~jnp.all(jnp.isfinite(jnp.concatenate([c, sb, fb])), axis=0) | jnp.any(c < 0, axis=0)
    infeasible = (sb[0] > sb[1]) | (fb[0] > fb[1]) | jnp.any(sb < 0, axis=0) | jnp.any(sb > 1, axis=0)
    infeasible = infeasible | jnp.any(fb < 0, axis=0) | jnp.any(fb > 1, axis=0)
    ok = ~(bad_num | infeasible)
    if solver == "exact":
        # No loop to poison: solve the raw problem and mask bad lanes afterwards
        # (exact_fit sanitises its own derivative rule). A select on the counts in
        # front of the solve made it ~55% slower on XLA:CPU (measured on one core).
        zero = jnp.zeros_like(sb[0])
        lo, hi = jnp.stack([zero, sb[0], fb[0]]), jnp.stack([zero + 1.0, sb[1], fb[1]])
        x, f = exact_fit(c, lo, hi)
        kkt = kkt_residual(x, nll_gradient(c, x, jnp.maximum(jnp.sum(c, axis=0), 1.0)), lo, hi)
        kkt = jnp.where(ok, kkt, jnp.inf)
        steps, conv = jnp.zeros(ok.shape, jnp.int32), kkt <= tol
        return _finish(c, x, f, kkt, steps, conv, ok, bad_num, infeasible, sb, fb, lo, hi)
    # Iterative solvers run on a sanitised problem so that traced bad input cannot
    # poison the loop.
    c_s = jnp.where(ok, c, jnp.array([1.0, 1.0, 1.0, 1.0, 0.0, 0.0]))
    lo = jnp.where(ok, jnp.array([0.0, sb[0], fb[0]]), 0.0)
    hi = jnp.where(ok, jnp.array([1.0, sb[1], fb[1]]), 1.0)
    if solver == "newton":
        x0 = start_point(c_s, lo, hi)
        x, f, conv, steps, kkt = newton_solve(c_s, lo, hi, x0, max_steps, tol)
    else:
        from jaxcert.judge._jaxopt import pgd_solve

        x, f, steps, kkt = pgd_solve(c_s, lo, hi, start_point(c_s, lo, hi), max_steps,
                                     pgd_stepsize)
        conv = kkt <= tol
    return _finish(c_s, x, f, kkt, steps, conv, ok, bad_num, infeasible, sb, fb, lo, hi)


def _finish(c, x, f, kkt, steps, conv, ok, bad_num, infeasible, sb, fb, lo, hi):
    status = status_of(bad_num, infeasible, (sb[1] <= fb[0]) | (x[1] - x[2] <= UNIDENTIFIED_TOL),
                       conv, jnp.isfinite(f))
    t_range = jnp.where(ok, jnp.stack(theta_range(c, x, lo, hi)), jnp.nan)
    x = jnp.where(ok, x, jnp.nan)
    f = jnp.where(ok, f, jnp.nan)
    active = jnp.stack([x <= lo + ACTIVE_TOL, x >= hi - ACTIVE_TOL], -1) & ok[..., None]
    return x, f, status, steps, kkt, active, t_range


def mle_kernel(c, sb, fb):
    """Exact CMLE of ONE trusted problem: ``(x, nll, status)`` (kernel, no validation).

    ``c`` (6,) float counts, ``sb``/``fb`` (2,) boxes, already validated by a front
    door; jit/vmap-able and differentiable (implicit derivatives). NaN outputs and a
    NONFINITE/INFEASIBLE status for bad traced input.
    """
    x, f, status, _, _, _, _ = solve_problem(c, sb, fb, "exact", 1, 1e-10, 0.0)
    return x, f, status
