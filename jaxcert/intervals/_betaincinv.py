"""Inverse of the regularised incomplete beta function, in float64 JAX.

``jax.scipy.special.betainc`` has no inverse. :func:`betaincinv` solves
``I_x(a, b) = p`` for ``x`` (no data-dependent Python control flow), so it jits,
vmaps and never recompiles for new ``p``:

1. Tail choice: with ``q = 1 - p`` the problem is solved in whichever tail is smaller,
   using ``I_x(a, b) = 1 - I_{1-x}(b, a)``; the root is kept as ``t = logit(x)``, so
   both ``x = sigmoid(t)`` and ``1 - x = sigmoid(-t)`` keep full relative precision.
2. Newton on ``g(t) = log I(t) - log p`` from the logit of the mean, inside a bracket
   that starts at ``[-745, 745]`` (every float64 ``x`` in (0, 1) whose complement is
   representable) and shrinks with the sign of ``g``; a step that is not finite or
   leaves the bracket bisects it. The density of ``t`` is log-concave, so ``g`` is
   concave: after at most one overshoot Newton approaches the root monotonically, and
   it is exact on the linear far tail. The loop stops when a step moves ``t`` by less
   than :data:`_STEP_TOL` (about 6-12 steps; at most :data:`_MAX_STEPS`).

Accuracy is that of ``jax.scipy.special.betainc``: its log-beta prefactor comes from
``lgamma`` differences, so for ``a + b ~ 1e7`` ``I`` carries a relative error of
~1e-8 and the root inherits it (absolute error in ``x`` stays < 1e-15 for the
Clopper-Pearson tails). Its continued fraction is capped at 600 terms, which fails
near the median when both ``a`` and ``b`` exceed ~1e6 (tail masses near 1/2 at
n ~ 1e7); tail masses <= 0.05 are fine there.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import betainc, betaln

from jaxcert._numerics import as_float
from jaxcert._straggler import compacted_loop

__all__ = ["betaincinv"]

#: Bracket for ``t = logit(x)``: sigmoid(-745) is the smallest subnormal.
_T_MAX = 745.0
#: Step (in logit) below which the root counts as found: the last step was a Newton
#: step that moved less than this, so the error is quadratically smaller.
_STEP_TOL = 1e-13
#: Cap on steps: pure bisection of the full bracket reaches _STEP_TOL in 54.
_MAX_STEPS = 80


def _log_sigmoid(t):
    return -jax.nn.softplus(-t)


def _lower_tail(a, b, t):
    """``I_x(a, b)`` at ``x = sigmoid(t)``, evaluated on the side that keeps precision."""
    x, y = jax.nn.sigmoid(t), jax.nn.sigmoid(-t)
    direct = x <= a / (a + b)
    aa, bb, xx = jnp.where(direct, a, b), jnp.where(direct, b, a), jnp.where(direct, x, y)
    v = betainc(aa, bb, xx)
    return jnp.where(direct, v, 1.0 - v)


def _root_pending(k, st):
    i, _, _, _, done = st
    return (i < _MAX_STEPS) & ~done


def _root_step(k, st):
    """One safeguarded Newton step on ``g(t) = log I(t) - log p`` (see the module doc)."""
    a, b, p, log_p, lbeta = k
    i, t, lo, hi, _ = st
    cdf = _lower_tail(a, b, t)
    below = cdf < p
    lo, hi = jnp.where(below, t, lo), jnp.where(below, hi, t)
    # d I / d t = x^a (1 - x)^b / B(a, b)  (the density times dx/dt = x (1 - x)).
    log_dens = a * _log_sigmoid(t) + b * _log_sigmoid(-t) - lbeta
    g = jnp.log(cdf) - log_p
    t_newton = t - g * jnp.exp(jnp.log(cdf) - log_dens)
    # A step that is not finite or leaves the (shrinking) bracket bisects instead.
    inside = jnp.isfinite(t_newton) & (t_newton > lo) & (t_newton < hi)
    t_new = jnp.where(inside, t_newton, 0.5 * (lo + hi))
    t_new = jnp.where(g == 0.0, t, t_new)
    done = (jnp.abs(t_new - t) <= _STEP_TOL * (1.0 + jnp.abs(t))) | (hi - lo <= _STEP_TOL)
    return i + 1, t_new, lo, hi, done


# Most lanes converge in 6-12 steps from the mean; under vmap the rest are finished in
# compacted blocks (jaxcert/_straggler.py) instead of holding up the batch.
_root_loop = compacted_loop(_root_pending, _root_step, warm_steps=12, block_divisor=16)


def _solve_scalar(a, b, p):
    t0 = jnp.clip(jnp.log(a) - jnp.log(b), -_T_MAX, _T_MAX)  # logit of the mean
    consts = (a, b, p, jnp.log(p), betaln(a, b))
    st = (jnp.zeros((), jnp.int32), t0, -_T_MAX + 0.0 * t0, _T_MAX + 0.0 * t0,
          jnp.zeros((), bool))
    return _root_loop(consts, st)[1]


def _solve_lower(a, b, p):
    """Returns ``t = logit(x)`` with ``I_x(a, b) = p`` for ``0 < p <= 1/2`` (elementwise).

    Per-element loops keep the compaction at the level where callers vmap: a few
    elements (a kernel stacking both interval ends) are unrolled, more are vmapped.
    """
    a, b, p = jnp.broadcast_arrays(a, b, p)
    if a.ndim == 0:
        return _solve_scalar(a, b, p)
    if a.size <= 4:
        flat = [_solve_scalar(x, y, z) for x, y, z in zip(a.ravel(), b.ravel(), p.ravel(),
                                                          strict=True)]
        return jnp.stack(flat).reshape(a.shape)
    return jax.vmap(_solve_scalar)(a.ravel(), b.ravel(), p.ravel()).reshape(a.shape)


@jax.custom_jvp
def _logit_quantile(a, b, p, q):
    """``logit`` of the ``p``-quantile of Beta(a, b), with ``q = 1 - p`` given exactly.

    Traced-safe: ``p == 0`` gives ``-inf``, ``q == 0`` gives ``+inf``; invalid
    inputs (``a <= 0``, ``b <= 0``, ``p`` outside [0, 1]) give NaN. Differentiable
    in all four arguments (implicitly, see :func:`_logit_quantile_jvp`).
    """
    a, b, p, q = jnp.broadcast_arrays(*(as_float(v) for v in (a, b, p, q)))
    use_p = p <= q
    aa, bb = jnp.where(use_p, a, b), jnp.where(use_p, b, a)
    pp = jnp.where(use_p, p, q)
    # Keep the solver's inputs valid everywhere; degenerate lanes are overwritten below.
    bad = ~((a > 0) & (b > 0) & (p >= 0) & (q >= 0) & jnp.isfinite(a + b + p + q))
    safe_pp = jnp.where(bad | (pp <= 0), 0.5, pp)
    safe_a, safe_b = jnp.where(bad, 1.0, aa), jnp.where(bad, 1.0, bb)
    t = _solve_lower(safe_a, safe_b, safe_pp)
    t = jnp.where(pp <= 0, -jnp.inf, t)
    t = jnp.where(use_p, t, -t)
    return jnp.where(bad, jnp.nan, t)


@_logit_quantile.defjvp
def _logit_quantile_jvp(primals, tangents):
    """Implicit derivative of ``I_x(a, b) = p`` in ``t = logit(x)``.

    ``dt = (dp - I_a da - I_b db) / (dI/dt)`` with ``dI/dt = x^a (1-x)^b / B(a, b)``.
    ``jax.scipy.special.betainc`` has no derivative in its shape parameters, so
    ``I_a, I_b`` are central differences with a step ``1e-4 sqrt(a)`` (the scale on
    which ``I`` varies in ``a``), accurate to ~1e-8 relative. ``q = 1 - p`` carries
    no extra information: its tangent is used only where it is the precise tail.
    """
    a, b, p, q = (as_float(v) for v in primals)
    da, db, dp, dq = (as_float(v) for v in tangents)
    t = _logit_quantile(a, b, p, q)
    ts = jnp.where(jnp.isfinite(t), t, 0.0)
    ha = jnp.minimum(1e-4 * jnp.sqrt(a), 0.5 * a)
    hb = jnp.minimum(1e-4 * jnp.sqrt(b), 0.5 * b)
    i_a = (_lower_tail(a + ha, b, ts) - _lower_tail(a - ha, b, ts)) / (2.0 * ha)
    i_b = (_lower_tail(a, b + hb, ts) - _lower_tail(a, b - hb, ts)) / (2.0 * hb)
    log_dens = a * _log_sigmoid(ts) + b * _log_sigmoid(-ts) - betaln(a, b)
    # Coefficients are masked on primal values only: the rule stays linear in the
    # tangents, which reverse mode needs.
    k = jnp.exp(-log_dens)
    coef = [jnp.where(jnp.isfinite(t) & jnp.isfinite(v), v, 0.0) for v in (k, i_a * k, i_b * k)]
    dprob = jnp.where(p <= q, dp, -dq)
    return t, coef[0] * dprob - coef[1] * da - coef[2] * db


def betaincinv(a, b, p) -> jax.Array:
    """Inverse of the regularised incomplete beta function: ``x`` with ``I_x(a, b) = p``.

    ``I_x(a, b) = B(a, b)^{-1} int_0^x u^{a-1} (1 - u)^{b-1} du`` is the Beta(a, b)
    CDF, so ``betaincinv(a, b, p)`` is its ``p``-quantile. Solved by bracketing
    bisection in ``logit(x)`` and a safeguarded Newton polish in log space with fixed
    iteration counts (see the module docstring); jit- and vmap-safe, float64.

    Args:
      a: shape parameter(s) > 0, array-like (broadcast with ``b`` and ``p``).
      b: shape parameter(s) > 0.
      p: probabilities in [0, 1]; ``p = 0`` gives 0 and ``p = 1`` gives 1.

    Returns:
      float64 array of the broadcast shape. Inside ``jit`` invalid inputs give NaN;
      called eagerly with concrete invalid inputs it raises.

    Raises:
      ValueError: (eager, concrete inputs only) ``a <= 0``, ``b <= 0``, or ``p``
        outside [0, 1] or not finite.

    Example:
      >>> import jaxcert.intervals as ji
      >>> round(float(ji.betaincinv(2.0, 3.0, 0.5)), 6)
      0.385728

    References:
      DLMF 8.17 (incomplete beta function); Press et al., Numerical Recipes, 6.4.
    """
    _check_concrete(a, b, p)
    return _betaincinv(a, b, p)


@jax.jit
def _betaincinv(a, b, p):
    p = as_float(p)
    return jax.nn.sigmoid(_logit_quantile(a, b, p, 1.0 - p))


def _check_concrete(a, b, p) -> None:
    if any(isinstance(v, jax.core.Tracer) for v in (a, b, p)):
        return
    for name, v in (("a", a), ("b", b)):
        arr = np.asarray(v, dtype=float)
        if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise ValueError(f"betaincinv: {name} must be finite and > 0; got {v!r}")
    arr = np.asarray(p, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr > 1):
        raise ValueError(f"betaincinv: p must be a probability in [0, 1]; got {p!r}")
