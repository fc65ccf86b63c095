"""Projected Newton on the box (theta, s, r): the iterative cross-check of the exact solver.

Bertsekas' (1982) projected Newton. At each step the epsilon-binding bounds (at a
bound, gradient pointing out) are frozen; the Newton direction on the free block uses
a positive semi-definite Gauss-Newton-like curvature (``_nll_derivs``), Jacobi-scaled
and ridge-regularised, so it is a descent direction even where the non-concave
``(theta, s, r)`` Hessian is indefinite; near the optimum convergence is quadratic.
The step length is chosen by evaluating the objective along several arcs at once (no
inner loop), keeping the best candidate if it decreases the objective. Runs in a
``lax.while_loop`` (``solver="newton"`` of :func:`~jaxcert.judge.solver.mle`; the
profile interval's reference inner solve).

Every KKT point is a global maximum (the problem is concave in the cell coordinates,
see :mod:`jaxcert.judge.likelihood`), but a local method can stall near a flat ridge
ending on a bound; :mod:`jaxcert.judge._exact` has no such failure mode.

References:
  Bertsekas, D. P. (1982). Projected Newton methods for optimization problems with
  simple constraints. SIAM J. Control Optim. 20(2), 221-246.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxcert.counts import Counts
from jaxcert.judge.likelihood import _nll_derivs, loglik

__all__ = ["newton_solve", "start_point", "kkt_residual"]

_NUM_NEWTON = 20  # Newton step lengths 2^-k, k = 0..19, tried at once per iteration
_NUM_GRADIENT = 10  # scaled projected-gradient step lengths 2^-k, k = 0..9


def start_point(c, lo, hi):
    """Smoothed closed-form (Tenenbein) estimate projected into the box."""
    n11, n10, n01, n00, m1, m0 = c
    q = (n11 + n01 + m1 + 0.5) / (n11 + n10 + n01 + n00 + m1 + m0 + 1.0)
    p1j1 = (n11 + 0.5) / (n11 + n01 + 1.0)
    p1j0 = (n10 + 0.5) / (n10 + n00 + 1.0)
    t = p1j1 * q + p1j0 * (1.0 - q)
    x = jnp.stack([t, p1j1 * q / t, (1.0 - p1j1) * q / (1.0 - t)])
    return jnp.clip(x, lo, hi)


def _objective(c, x, scale):
    n11, n10, n01, n00, m1, m0 = c
    f = -loglik(x[..., 0], x[..., 1], x[..., 2], Counts(n11, n10, n01, n00, m1, m0)) / scale
    return jnp.where(jnp.isnan(f), jnp.inf, f)


def kkt_residual(x, g, lo, hi):
    """``max_i |x_i - P(x_i - g_i)|`` (``inf`` if the gradient is not finite).

    ``i`` runs over the leading axis (batch axes, if any, trail).
    """
    k = jnp.max(jnp.abs(x - jnp.clip(x - g, lo, hi)), axis=0)
    return jnp.where(jnp.all(jnp.isfinite(g), axis=0), k, jnp.inf)


def _spd_solve(a, b):
    """Solves the 3x3 SPD system ``a y = b`` by a closed-form Cholesky factorisation."""
    l11 = jnp.sqrt(a[0, 0])
    l21, l31 = a[1, 0] / l11, a[2, 0] / l11
    l22 = jnp.sqrt(jnp.maximum(a[1, 1] - l21 * l21, 1e-300))
    l32 = (a[2, 1] - l31 * l21) / l22
    l33 = jnp.sqrt(jnp.maximum(a[2, 2] - l31 * l31 - l32 * l32, 1e-300))
    z1 = b[0] / l11
    z2 = (b[1] - l21 * z1) / l22
    z3 = (b[2] - l31 * z1 - l32 * z2) / l33
    y3 = z3 / l33
    y2 = (z2 - l32 * y3) / l22
    y1 = (z1 - l21 * y2 - l31 * y3) / l11
    return jnp.stack([y1, y2, y3])


class _NewtonState(NamedTuple):
    x: jax.Array
    f: jax.Array
    g: jax.Array
    m: jax.Array
    kkt: jax.Array
    step: jax.Array
    stalled: jax.Array


def newton_solve(c, lo, hi, x0, max_steps, tol):
    """Projected Newton (see module docstring) for one problem.

    Returns ``(x, nll, converged, num_steps, kkt_residual)``; ``nll`` is unscaled.
    """
    scale = jnp.maximum(jnp.sum(c), 1.0)
    fixed = lo >= hi
    n11, n10, n01, n00 = c[0], c[1], c[2], c[3]
    barrier_lo = jnp.stack([n11 + n10 > 0, n11 > 0, n01 > 0])
    barrier_hi = jnp.stack([n01 + n00 > 0, n10 > 0, n00 > 0])
    alphas = 2.0 ** -jnp.arange(_NUM_NEWTON, dtype=jnp.float64)
    betas = 2.0 ** -jnp.arange(_NUM_GRADIENT, dtype=jnp.float64)

    def cond(st):
        return (st.step < max_steps) & (st.kkt > tol) & ~st.stalled

    def body(st):
        x, f, g, m = st.x, st.f, st.g, st.m
        g = jnp.where(jnp.isfinite(g), g, 0.0)
        m = jnp.where(jnp.isfinite(m), m, 0.0)
        dm = jnp.diag(m)
        hd = jnp.maximum(dm, 1e-12)
        eps = jnp.minimum(1e-3, jnp.max(jnp.abs(x - jnp.clip(x - g / hd, lo, hi))))
        binding = fixed | ((x <= lo + eps) & (g > 0)) | ((x >= hi - eps) & (g < 0))
        free = ~binding
        # Jacobi-scaled, ridge-regularised Newton system on the free block.
        sc = jnp.where(free & (dm > 0), 1.0 / jnp.sqrt(jnp.where(dm > 0, dm, 1.0)), 1.0)
        ms = jnp.where(free[:, None] & free[None, :], m * sc[:, None] * sc[None, :], 0.0)
        ms = ms + jnp.diag(jnp.where(free, 1e-12, 1.0))
        ms = ms + jnp.diag(jnp.where(free & (dm <= 0), 1.0, 0.0))
        d_newton = -sc * _spd_solve(ms, jnp.where(free, sc * g, 0.0))
        d_grad = -g / hd
        d = jnp.where(free, d_newton, d_grad)
        # Newton candidates along the straight line in the concave cell coordinates
        # (theta, a = theta s, b = (1 - theta) r), where the ridge q = a + b = const of
        # a large judge-only set is straight, mapped back and projected; then along the
        # straight line in (theta, s, r); then scaled projected-gradient steps.
        # The y-line is also tried up to the step where a free variable reaches its
        # bound (a_max, first order), so a flat ridge ending on a bound is followed.
        # A bound where the loglik is -inf (a positive count with zero probability) is
        # approached at most halfway per step.
        room = jnp.where(d > 0, hi - x, lo - x) / jnp.where(d != 0, d, 1.0)
        room = jnp.where(jnp.where(d > 0, barrier_hi, barrier_lo), 0.5 * room, room)
        a_max = jnp.min(jnp.where(free & (d != 0), jnp.maximum(room, 0.0), jnp.inf))
        steps = jnp.concatenate([alphas, jnp.minimum(a_max, 1.0) * betas])
        t, sv, rv = x
        df = jnp.where(free, d, 0.0)  # binding variables stay put on the y-line
        dy = jnp.stack([df[0], sv * df[0] + t * df[1], -rv * df[0] + (1.0 - t) * df[2]])
        y = jnp.stack([t, t * sv, (1.0 - t) * rv]) + steps[:, None] * dy
        ty = jnp.clip(y[:, 0], lo[0], hi[0])
        s_y = jnp.where(ty > 0, y[:, 1] / jnp.where(ty > 0, ty, 1.0), sv)
        r_y = jnp.where(ty < 1, y[:, 2] / jnp.where(ty < 1, 1.0 - ty, 1.0), rv)
        cand = jnp.concatenate([
            jnp.clip(jnp.stack([ty, s_y, r_y], -1), lo, hi),
            jnp.clip(x + alphas[:, None] * d, lo, hi),
            jnp.clip(x + betas[:, None] * d_grad, lo, hi),
        ])
        # Snap to a bound within 1e-14 (rounding leftovers such as theta = 1e-19).
        cand = jnp.where(cand - lo <= 1e-14, lo, jnp.where(hi - cand <= 1e-14, hi, cand))
        fc = _objective(c, cand, scale)
        best = jnp.argmin(fc)
        improved = fc[best] < f
        # The full Newton step wins ties within f's rounding error (near the optimum f
        # changes below it and the best candidate would be picked by noise).
        slack = 1e-15 * (jnp.abs(f) + 1.0)
        full = fc[0] <= jnp.minimum(f, fc[best]) + slack
        x_new = jnp.where(full, cand[0], jnp.where(improved, cand[best], x))
        f_new, g_new, m_new = _nll_derivs(c, x_new, scale)
        kkt = kkt_residual(x_new, g_new, lo, hi)
        # Stalled: no candidate decreased f, or the iterate did not move (the next step
        # would repeat this one exactly), or no candidate has a finite objective.
        stalled = ~(improved | full) | jnp.all(x_new == x) | ~jnp.isfinite(fc[best])
        return _NewtonState(x_new, f_new, g_new, m_new, kkt, st.step + 1, stalled)

    f0, g0, m0 = _nll_derivs(c, x0, scale)
    st = _NewtonState(x0, f0, g0, m0, kkt_residual(x0, g0, lo, hi), jnp.array(0, jnp.int32),
                      jnp.array(False))
    st = jax.lax.while_loop(cond, body, st)
    return st.x, st.f * scale, st.kkt <= tol, st.step, st.kkt
