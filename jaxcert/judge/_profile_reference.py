"""Reference profile-likelihood end: Newton root search over projected-Newton inner solves.

The previous implementation of :func:`~jaxcert.judge.cmle_intervals.profile_interval`
(every ``l_p(theta)`` by an iterative projected-Newton solve, nested in a
bracketed-Newton root search). Kept as the independent cross-check of the fast bound
in :mod:`jaxcert.judge._profile_bound` (tests and ``benchmarks/bench_mle.py``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxcert.judge._kkt_newton import newton_solve
from jaxcert.judge.likelihood import _nll_derivs

__all__ = ["reference_end", "reference_profile_loglik"]

_ROOT_STEPS = 100  # cap on safeguarded Newton/bisection steps per interval end
_ROOT_TOL = 1e-10  # |2 (l_hat - l_p) - c| / 2 at the returned end (loglik units)
_INNER_STEPS = 100
_INNER_TOL = 1e-10  # KKT residual (per observation) at which an inner solve stops
_INNER_OK = 1e-8  # KKT residual an inner solve must reach to count as converged


def _inner(c, sb, fb, t, x0):
    """l_p(t), dl_p/dt, the inner optimum (t, s, r) and whether it converged, from x0."""
    lo = jnp.array([t, sb[0], fb[0]])
    hi = jnp.array([t, sb[1], fb[1]])
    x0 = jnp.clip(x0.at[0].set(t), lo, hi)
    x, f, _, _, kkt = newton_solve(c, lo, hi, x0, _INNER_STEPS, _INNER_TOL)
    _, g, _ = _nll_derivs(c, x, 1.0)
    lp = jnp.where(jnp.isfinite(f), -f, -jnp.inf)
    return lp, -g[0], x, kkt <= _INNER_OK


def reference_end(c, sb, fb, x_hat, l_hat, crit, bound):
    """End of {t : 2 (l_hat - l_p(t)) <= crit} between theta_hat and ``bound``.

    ``h(t) = l_p(t) - l_hat + crit / 2`` is concave, ``>= 0`` at theta_hat. Start: the
    Wald-type guess ``t0 = theta_hat +- sqrt(crit / i_tt)`` (``i_tt``: curvature in
    theta at the MLE with ``(s, r)`` held, so ``t0`` tends to fall inside). If ``t0``
    is inside and ``h'(t0)`` points outwards, one Newton step from ``t0`` lands
    outside (a concave function lies below its tangents); otherwise the bound is the
    outside point. Then Newton from the outside (monotone for a concave function),
    safeguarded by bisection of the bracket ``[a, b]`` (``a`` inside, ``b`` outside).

    Every inner solve is warm-started from the inner optimum at the inside point
    ``a``, never from an outside point: outside, the optimum can sit against a bound
    where the log-likelihood is nearly singular (``r ~ 0`` with ``n01 > 0``), and
    Newton leaves such a point only by doubling its distance to the bound per step.
    Returns ``(end, ok)``; ``ok`` is False if the root was not bracketed
    to tolerance or an inner solve that decides the end did not converge.
    """
    target = l_hat - 0.5 * crit
    t_hat = x_hat[0]
    sgn = jnp.sign(bound - t_hat)
    _, _, m_hat = _nll_derivs(c, x_hat, 1.0)
    t0 = t_hat + sgn * jnp.sqrt(crit / m_hat[0, 0])
    ok0 = jnp.isfinite(t0) & ((t0 - t_hat) * (t0 - bound) < 0)
    t0 = jnp.where(ok0, t0, 0.5 * (t_hat + bound))
    h0, d0, x0, c0 = _inner(c, sb, fb, t0, x_hat)
    h0 = h0 - target
    in0 = h0 >= 0
    t1 = t0 - h0 / d0
    ok1 = in0 & jnp.isfinite(t1) & ((t1 - t0) * (t1 - bound) < 0)
    t1 = jnp.where(in0 & ~ok1, bound, t1)
    h1, d1, _, c1 = _inner(c, sb, fb, t1, jnp.where(in0, x0, x_hat))
    h1 = h1 - target
    # A Newton point still inside (only by rounding or an inexact inner solve, by
    # concavity): bracket [t1, bound] with an unknown h(bound) (bisection first).
    miss = ok1 & (h1 > _ROOT_TOL)
    a = jnp.where(in0, jnp.where(miss, t1, t0), t_hat)
    h_a = jnp.where(in0, jnp.where(miss, h1, h0), 0.5 * crit)
    x_a = jnp.where(in0, x0, x_hat)
    b = jnp.where(in0, jnp.where(miss, bound, t1), t0)
    h_b = jnp.where(in0, jnp.where(miss, -jnp.inf, h1), h0)
    d_b = jnp.where(in0, d1, d0)
    ok_b = jnp.where(in0, c1, c0)

    def cond(carry):
        i, a, h_a, _, b, h_b, _, _ = carry
        return ((i < _ROOT_STEPS) & (h_b < -_ROOT_TOL) & (h_a > _ROOT_TOL)
                & (jnp.abs(b - a) > 1e-15))

    def step(carry):
        i, a, h_a, x_a, b, h_b, d_b, ok_b = carry
        t_newton = b - h_b / d_b
        inside = jnp.isfinite(t_newton) & ((t_newton - a) * (t_newton - b) < 0)
        t = jnp.where(inside, t_newton, 0.5 * (a + b))
        h_t, d_t, x_t, ok_t = _inner(c, sb, fb, t, x_a)
        h_t = h_t - target
        go_in = h_t >= 0
        a, h_a = jnp.where(go_in, t, a), jnp.where(go_in, h_t, h_a)
        x_a = jnp.where(go_in, x_t, x_a)
        b, h_b = jnp.where(go_in, b, t), jnp.where(go_in, h_b, h_t)
        d_b, ok_b = jnp.where(go_in, d_b, d_t), jnp.where(go_in, ok_b, ok_t)
        return i + 1, a, h_a, x_a, b, h_b, d_b, ok_b

    init = (0, a, h_a, x_a, b, h_b, d_b, ok_b)
    _, a, h_a, _, b, h_b, _, ok_b = jax.lax.while_loop(cond, step, init)
    # h(bound) >= 0: the bound itself is in the acceptance region, the end is the bound;
    # otherwise the end is whichever bracket point is within tolerance of the root.
    inside_all = h_b > _ROOT_TOL
    found_a = (h_a <= _ROOT_TOL) & (h_b < -_ROOT_TOL)
    ok = (inside_all | found_a | (jnp.abs(h_b) <= _ROOT_TOL) | (jnp.abs(b - a) <= 1e-15))
    ok = ok & (found_a | ok_b)
    end = jnp.where(inside_all, bound, jnp.where(found_a, a, b))
    return end, ok



def reference_profile_loglik(c, sb, fb, t, x0):
    """``l_p(t)`` by a projected-Newton inner solve started from ``x0``."""
    return _inner(c, sb, fb, t, x0)[0]
