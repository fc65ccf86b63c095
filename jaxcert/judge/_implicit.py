"""Implicit derivatives of the constrained MLE and of the profile bound.

The exact solver (:mod:`jaxcert.judge._exact`) picks the optimum among closed-form
KKT candidates; differentiating through that selection, the cubic roots and their
polish would be slow and fragile. The optimum is characterised instead by its KKT
system, and the implicit function theorem differentiates that directly
(:func:`jax.custom_jvp`, no unrolled loop):

* binding set ``B``: coordinates of ``x = (theta, s, r)`` at a bound whose
  multiplier (the score component ``g_i`` pushing outwards) is positive. Their
  tangent is the tangent of that bound: ``dx_B = d(bound)``.
* free set ``F``: the score vanishes, ``g_F(x, c) = 0``, so
  ``H_FF dx_F = -(H_FB dx_B + (dg_F/dc) dc)`` with ``H`` the Hessian of the
  log-likelihood in ``(theta, s, r)``.
* the optimal log-likelihood (envelope theorem):
  ``d l_hat = g_B . dx_B + sum_k log p_k(x) dc_k`` (``p_k``: cell probabilities).

Kinks. Where a bound is touched with a zero multiplier (the active set is about to
change), the derivative is one-sided: that bound is treated as free, i.e. the
returned derivative is the one for perturbations that leave it inactive (tightening
it would pin the coordinate). A point box (``lo = hi``) is always binding, on the
side its multiplier pushes. On a flat ridge (an empty calibration column with
``N > 0``: the likelihood does not identify ``P(Y=1 | J)`` in that column; or
``theta_hat = 0``, where the TPR does not enter the likelihood, and ``theta_hat = 1``
for the FPR) the maximiser is not unique and ``H_FF`` is singular; a tiny ridge term returns the
minimum-norm tangent of the returned point, not the derivative of the solver's
tie-break (the midpoint of the maximisers' theta range, :mod:`jaxcert.judge._ridge`).

The profile bound ``U`` solves ``F(U, p) = l_hat(p) - l_p(U; p) - crit / 2 = 0``
with ``l_p(U)`` the profile log-likelihood (maximum over the box in ``(s, r)`` at
``theta = U``). Both maxima change by the envelope theorem, and
``dF/dU = -dl/dtheta`` at the profile maximiser (the box in ``(s, r)`` does not
depend on ``theta``), so ``dU = (d l_hat - d l_p - dcrit / 2) / l_p'(U)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxcert.judge._exact import exact_solve, nll_gradient

__all__ = ["binding_sets", "exact_fit", "fit_tangent", "loglik_count_tangent", "score"]

#: Distance to a bound within which a coordinate may be binding.
ACTIVE_TOL = 1e-10
#: Multiplier (score per observation) above which an active bound is binding.
MULT_TOL = 1e-9
#: Stand-in for ``log 0``: a zero count whose cell has probability 0 has derivative
#: ``-inf`` (``eps log eps``); a finite stand-in keeps ``0 x log 0 = 0`` in forward mode.
LOG_ZERO = -1e300


def score(c, x):
    """Gradient of the log-likelihood in ``(theta, s, r)``, zero counts contributing 0."""
    return -nll_gradient(c, x, 1.0)


def loglik_count_tangent(x, dc):
    """``sum_k log p_k(x) dc_k``: the log-likelihood is linear in the counts."""
    t, s, r = x[0], x[1], x[2]
    q = t * s + (1.0 - t) * r
    p = jnp.stack([t * s, t * (1.0 - s), (1.0 - t) * r, (1.0 - t) * (1.0 - r), q, 1.0 - q])
    logp = jnp.where(p > 0, jnp.log(jnp.where(p > 0, p, 1.0)), LOG_ZERO)
    return jnp.sum(logp * dc)


def binding_sets(c, x, lo, hi):
    """``(bind_lo, bind_hi, g)``: bounds holding ``x`` (positive multiplier), and the score."""
    g = score(c, x)
    tight = MULT_TOL * jnp.maximum(jnp.sum(c), 1.0)
    at_lo, at_hi = x <= lo + ACTIVE_TOL, x >= hi - ACTIVE_TOL
    point = at_lo & at_hi
    bind_lo = at_lo & ((g < -tight) | (point & (g <= 0)))
    bind_hi = at_hi & ((g > tight) | (point & (g > 0)))
    return bind_lo, bind_hi, g


def fit_tangent(c, lo, hi, x, dc, dlo, dhi, free_mask=None):
    """Tangent ``dx`` of the maximiser ``x`` for tangents of counts and bounds.

    ``free_mask`` (3,) optionally restricts which coordinates may move at all (the
    profile fixes ``theta``): coordinates outside it get tangent 0.
    """
    bind_lo, bind_hi, _ = binding_sets(c, x, lo, hi)
    fixed = bind_lo | bind_hi
    if free_mask is not None:
        fixed = fixed | ~free_mask
    dx_fixed = jnp.where(bind_lo, dlo, jnp.where(bind_hi, dhi, 0.0))
    free = ~fixed
    hess = jax.jacfwd(lambda z: score(c, z))(x)
    hess = jnp.where(jnp.isfinite(hess), hess, 0.0)
    dg_dc = jax.jvp(lambda cc: score(cc, x), (c,), (dc,))[1]
    both = free[:, None] & free[None, :]
    ridge = 1e-13 * (jnp.max(jnp.abs(hess)) + 1.0)
    m = jnp.where(both, hess, 0.0) - jnp.diag(jnp.where(free, ridge, -1.0))
    rhs = jnp.where(free, -(jnp.where(free[None, :], 0.0, hess) @ dx_fixed + dg_dc), dx_fixed)
    # Tangent rules must stay linear in the tangents (reverse mode transposes them):
    # every mask below depends on primal values only.
    ok = jnp.all(jnp.isfinite(m)) & (jnp.abs(jnp.linalg.det(m)) > 0)
    return jnp.where(ok, jnp.linalg.solve(jnp.where(ok, m, jnp.eye(3)), rhs), 0.0)


def newton_polish(c, x, lo, hi, movable):
    """One Newton step on the free coordinates among ``movable`` (clipped to the box).

    The profile's inner solve settles ``q`` to 1e-10 relative, which can leave a
    score of ~1e-4 on its free coordinates; the envelope derivative ``dl/dtheta`` is
    first-order sensitive to that, so it is taken after one more (quadratic) step.
    """
    bind_lo, bind_hi, g = binding_sets(c, x, lo, hi)
    free = movable & ~(bind_lo | bind_hi)
    hess = jax.jacfwd(lambda z: score(c, z))(x)
    both = free[:, None] & free[None, :]
    m = jnp.where(both, hess, 0.0) - jnp.diag(jnp.where(free, 0.0, -1.0))
    ok = jnp.all(jnp.isfinite(m)) & (jnp.abs(jnp.linalg.det(m)) > 0) & jnp.all(jnp.isfinite(g))
    step = jnp.linalg.solve(jnp.where(ok, m, jnp.eye(3)), jnp.where(free, g, 0.0))
    return jnp.where(ok, jnp.clip(x - step, lo, hi), x)


def envelope_tangent(c, lo, hi, x, dc, dlo, dhi, coords):
    """Tangent of ``max l`` at its maximiser ``x`` (envelope theorem).

    ``coords`` (3,) bool: the coordinates whose box enters this maximum (theta is
    fixed in the profile, so its bound does not).
    """
    bind_lo, bind_hi, g = binding_sets(c, x, lo, hi)
    db = jnp.where(bind_lo & coords, dlo, jnp.where(bind_hi & coords, dhi, 0.0))
    g = jnp.where((bind_lo | bind_hi) & coords & jnp.isfinite(g), g, 0.0)
    return jnp.sum(g * db) + loglik_count_tangent(x, dc)


@jax.custom_jvp
def exact_fit(c, lo, hi):
    """:func:`~jaxcert.judge._exact.exact_solve` with implicit derivatives: ``(x, nll)``.

    One problem (``c`` of shape (6,)) or a structure-of-arrays batch (batch axes
    trailing, ``c`` (6, ...), ``lo``/``hi`` (3, ...)).
    """
    return exact_solve(c, lo, hi)


@exact_fit.defjvp
def _exact_fit_jvp(primals, tangents):
    c, lo, hi = primals
    x, f = exact_solve(c, lo, hi)
    batch = c.shape[1:]
    if not batch:
        dx, df = _fit_tangents(c, lo, hi, x, f, *tangents)
        return (x, f), (dx, df)
    # Structure-of-arrays batch (batch axes trail): the tangent rule is per problem.
    flat = lambda a: a.reshape(a.shape[:1] + (-1,))  # noqa: E731
    dx, df = jax.vmap(_fit_tangents, in_axes=-1, out_axes=-1)(
        *map(flat, (c, lo, hi, x)), f.reshape(-1), *map(flat, tangents))
    return (x, f), (dx.reshape(x.shape), df.reshape(f.shape))


def _fit_tangents(c, lo, hi, x, f, dc, dlo, dhi):
    # The primal is solved on raw input (callers mask bad lanes); the tangent rule
    # runs on a sanitised copy, so that NaN coefficients of a bad lane cannot turn
    # its zero cotangent into NaN for inputs it shares with good lanes.
    ok = (jnp.all(jnp.isfinite(c)) & jnp.all(c >= 0) & jnp.all(jnp.isfinite(lo)) & jnp.all(jnp.isfinite(hi))
          & jnp.all(lo <= hi) & jnp.all(jnp.isfinite(x)))
    c_s, x_s = jnp.where(ok, c, 1.0), jnp.where(ok, x, 0.5)
    lo_s, hi_s = jnp.where(ok, lo, 0.0), jnp.where(ok, hi, 1.0)
    dx = fit_tangent(c_s, lo_s, hi_s, x_s, dc, dlo, dhi)
    df = -envelope_tangent(c_s, lo_s, hi_s, x_s, dc, dlo, dhi, jnp.ones(3, bool))
    return jnp.where(ok, dx, 0.0), jnp.where(ok & jnp.isfinite(f), df, 0.0)
