"""Exact posterior of theta in the single-group model, by deterministic quadrature.

The marginal posterior density of theta (prior of :mod:`jaxcert.bayes.priors`) is::

    p(theta | data) ∝ Beta-kernel(theta; a_theta + n1, b_theta + n0)
                      ∫∫_box F(s) G(r) h(theta s + (1 - theta) r) ds dr

with the calibration kernels ``F(s) = s^(n11 + a_s - 1) (1-s)^(n10 + b_s - 1)``,
``G(r) = r^(n01 + a_r - 1) (1-r)^(n00 + b_r - 1)`` and the judge-only factor
``h(q) = q^m1 (1 - q)^m0``. With N large ``h`` is a ridge of width ~ N^(-1/2) along
``q = const``, which a product rule in ``(s, r)`` cannot resolve. So, at each theta, the
box coordinate with the larger coefficient in ``q`` is traded for ``q`` itself
(``u = (s - s_lo) / w_s``, ``v = (r - r_lo) / w_r``, ``q = q_base + c_u u + c_v v``,
``c_u = theta w_s``, ``c_v = (1 - theta) w_r``)::

    ∫∫ F G h du dv = (1 / c_in) ∫ dq h(q) ∫ dy F G        (y = the other coordinate)

and the ``q`` integral runs over a window that holds all of ``h``'s mass on the
reachable range ``[q_base, q_base + c_u + c_v]``: where the unconstrained mode
``m1 / N`` is reachable, the interval where ``log h >= max - 36`` (found once per
problem by bisection); otherwise the tangent bound of the concave ``log h`` at the
reachable end nearest the mode (``log h`` falls at least linearly with slope ``g``, so
a width ``36 / |g|`` holds all but ``e^-36`` of the mass). Both inner integrals are
Gauss-Legendre in log space (log-sum-exp), over the boxes first shrunk to where the
calibration kernels ``F`` and ``G`` are within ``e^-72`` of their maxima (so many labels
do not leave a needle in a wide box). Both boxes points: ``q`` is a function of
theta and the inner integral is ``h(q)`` times a constant.

The theta axis is zoomed: a uniform grid on ``[0, 1]``, then repeatedly a uniform grid
on the cells around where ``log p >= max - 36``; on the last grid the density is taken
linear per cell, so the CDF is piecewise quadratic and quantiles are exact for it.

Everything is pure, float64, jit- and vmap-able, with every count and prior number
traced; only the node counts are static.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from jaxcert._numerics import xlog1py, xlogy
from jaxcert.bayes.priors import JudgePrior, log_beta_kernel

__all__ = ["ThetaGrid", "theta_log_density", "theta_grid", "grid_cdf", "grid_quantile"]

#: Log-density drop below the maximum beyond which mass is neglected (e^-36 ~ 2e-16).
LOG_DROP = 36.0
_TINY_COEF = 1e-13  # a box coordinate whose coefficient in q is below this is constant


class ThetaGrid(NamedTuple):
    """The posterior of theta on a fine uniform grid (density linear per cell).

    Attributes:
      theta: ``(M,)`` grid on ``[lo, hi]``, the window holding the posterior mass.
      density: ``(M,)`` normalised posterior density at ``theta``.
      cdf: ``(M,)`` posterior CDF at ``theta`` (0 at ``lo``, 1 at ``hi``).
    """

    theta: jax.Array
    density: jax.Array
    cdf: jax.Array


def _gauss_legendre01(k: int):
    x, w = np.polynomial.legendre.leggauss(k)
    return jnp.asarray((x + 1.0) / 2.0), jnp.asarray(w / 2.0)


def _count_vector(counts):
    """``(6,)`` float64 vector ``(n11, n10, n01, n00, m1, m0)`` of one problem."""
    if isinstance(counts, tuple):
        return jnp.stack([jnp.asarray(f, jnp.float64) for f in counts])
    return jnp.asarray(counts, jnp.float64)


def _log_h(q, m1, m0):
    return xlogy(m1, q) + xlog1py(m0, -q)


def _kernel_window(e1, e0, lo, hi, drop):
    """``[a, b]`` within ``[lo, hi]`` where ``e1 log x + e0 log(1-x) >= max - drop``.

    The kernel is concave (``e1, e0 >= 0``), so the set is an interval around the mode
    clipped into ``[lo, hi]``; each end is found by 64 bisection steps, kept on the
    outer side (the window can only be slightly too wide).
    """
    total = e1 + e0
    mode = jnp.where(total > 0, e1 / jnp.where(total > 0, total, 1.0), 0.5)
    mode = jnp.clip(mode, lo, hi)
    top = _log_h(mode, e1, e0) - drop

    def bisect(a, b):  # kernel - top changes sign once on [a, b]; a is the mode side
        def body(_, ab):
            lo_, hi_ = ab
            mid = 0.5 * (lo_ + hi_)
            inside = _log_h(mid, e1, e0) >= top
            return jnp.where(inside, mid, lo_), jnp.where(inside, hi_, mid)

        return jax.lax.fori_loop(0, 64, body, (a, b))[1]

    a = jnp.where(_log_h(lo, e1, e0) >= top, lo, bisect(mode, lo))
    b = jnp.where(_log_h(hi, e1, e0) >= top, hi, bisect(mode, hi))
    return a, b


def _h_window(m1, m0):
    """``[qL, qR]`` where ``log h >= max - LOG_DROP``, the mode ``m1 / N``, and N = 0."""
    total = m1 + m0
    mode = jnp.where(total > 0, m1 / jnp.where(total > 0, total, 1.0), 0.5)
    q_lo, q_hi = _kernel_window(m1, m0, 0.0, 1.0, LOG_DROP)
    flat = total <= 0  # no judge-only data: h = 1
    return jnp.where(flat, 0.0, q_lo), jnp.where(flat, 1.0, q_hi), mode, flat


def _calibration_boxes(c, prior: JudgePrior) -> JudgePrior:
    """The boxes shrunk to where each calibration kernel is within e^-72 of its maximum.

    ``F(s)`` and ``G(r)`` are factors of the integrand, so the cut-off region holds at
    most ``e^-72`` of their peak times the peak of the other factors: negligible unless
    the other factors gain ``e^36`` there, a conflict the data would have to be absurd to
    produce. With many labels (n ~ 1e4) the kernels are much narrower than a wide box,
    which Gauss-Legendre on the whole box would not resolve. The box-width constant
    this changes does not depend on theta.
    """
    n11, n10, n01, n00 = c[0], c[1], c[2], c[3]
    s_box = _kernel_window(n11 + prior.tpr_ab[0] - 1.0, n10 + prior.tpr_ab[1] - 1.0,
                           prior.tpr_box[0], prior.tpr_box[1], 2.0 * LOG_DROP)
    r_box = _kernel_window(n01 + prior.fpr_ab[0] - 1.0, n00 + prior.fpr_ab[1] - 1.0,
                           prior.fpr_box[0], prior.fpr_box[1], 2.0 * LOG_DROP)
    return prior._replace(tpr_box=jnp.stack(s_box), fpr_box=jnp.stack(r_box))


def _q_window(lo, hi, m1, m0, hw):
    """Sub-interval of the reachable ``[lo, hi]`` holding all of ``h``'s mass there."""
    q_lo, q_hi, mode, flat = hw

    def slope(q):
        return jnp.where(m1 > 0, m1 / q, 0.0) - jnp.where(m0 > 0, m0 / (1.0 - q), 0.0)

    below = hi < mode  # the reachable range lies left of the mode: h increases on it
    above = lo > mode
    g_hi, g_lo = jnp.abs(slope(hi)), jnp.abs(slope(lo))
    a = jnp.where(below, jnp.maximum(lo, hi - LOG_DROP / g_hi),
                  jnp.where(above, lo, jnp.maximum(lo, q_lo)))
    b = jnp.where(below, hi,
                  jnp.where(above, jnp.minimum(hi, lo + LOG_DROP / g_lo), jnp.minimum(hi, q_hi)))
    a, b = jnp.where(flat, lo, a), jnp.where(flat, hi, b)
    return a, jnp.maximum(a, b)


def _log_marginal_one(t, c, prior: JudgePrior, hw, nq: int, ny: int):
    """``log ∫∫ F G h du dv`` at one theta (module docstring)."""
    n11, n10, n01, n00, m1, m0 = c
    s_lo, s_hi = prior.tpr_box[0], prior.tpr_box[1]
    r_lo, r_hi = prior.fpr_box[0], prior.fpr_box[1]
    fa = prior.tpr_ab + jnp.stack([n11, n10])
    ga = prior.fpr_ab + jnp.stack([n01, n00])
    w_s, w_r = s_hi - s_lo, r_hi - r_lo
    c_u, c_v = t * w_s, (1.0 - t) * w_r
    q_base = t * s_lo + (1.0 - t) * r_lo
    elim_r = c_v >= c_u  # trade r (else s) for q: the coordinate q depends on most
    c_in, c_out = jnp.maximum(c_u, c_v), jnp.minimum(c_u, c_v)
    xq, wq = _gauss_legendre01(nq)
    xy, wy = _gauss_legendre01(ny)

    a, b = _q_window(q_base, q_base + c_u + c_v, m1, m0, hw)
    q = a + (b - a) * xq  # (nq,)
    d = q - q_base
    safe_out = jnp.where(c_out > _TINY_COEF, c_out, 1.0)
    y_a = jnp.where(c_out > _TINY_COEF, jnp.clip((d - c_in) / safe_out, 0.0, 1.0), 0.0)
    y_b = jnp.where(c_out > _TINY_COEF, jnp.clip(d / safe_out, 0.0, 1.0), 1.0)
    y = y_a[:, None] + (y_b - y_a)[:, None] * xy[None, :]  # (nq, ny)
    x_in = jnp.clip((d[:, None] - c_out * y) / jnp.where(c_in > 0, c_in, 1.0), 0.0, 1.0)
    u = jnp.where(elim_r, y, x_in)
    v = jnp.where(elim_r, x_in, y)
    s = jnp.clip(s_lo + w_s * u, s_lo, s_hi)
    r = jnp.clip(r_lo + w_r * v, r_lo, r_hi)
    log_w = ((jnp.log(wq) + jnp.log(b - a) + jnp.log(y_b - y_a))[:, None]
             + jnp.log(wy)[None, :])
    terms = log_w + log_beta_kernel(s, fa) + log_beta_kernel(r, ga) + _log_h(q, m1, m0)[:, None]
    general = logsumexp(terms) - jnp.log(jnp.where(c_in > 0, c_in, 1.0))

    # Both coordinates constant in q (point boxes, or theta at an end with one point box).
    su = s_lo + w_s * xy
    rv = r_lo + w_r * xy
    const = (logsumexp(jnp.log(wy) + log_beta_kernel(su, fa))
             + logsumexp(jnp.log(wy) + log_beta_kernel(rv, ga)))
    point = _log_h(q_base + 0.5 * (c_u + c_v), m1, m0) + const
    return jnp.where(c_in > _TINY_COEF, general, point)


def theta_log_density(theta, counts, prior: JudgePrior, *, nq: int = 24, ny: int = 24):
    """Unnormalised log posterior density of theta at the points ``theta`` (one problem).

    Args:
      theta: ``(M,)`` points in ``[0, 1]``.
      counts: :class:`~jaxcert.Counts` with scalar fields (or a ``(6,)`` vector).
      prior: :class:`~jaxcert.bayes.JudgePrior` of one problem (``(2,)`` fields).
      nq, ny: Gauss-Legendre nodes in ``q`` and in the other box coordinate (static).

    Returns:
      ``(M,)`` float64 log density, up to one additive constant shared by all points.
    """
    c = _count_vector(counts)
    hw = _h_window(c[4], c[5])
    inner = _calibration_boxes(c, prior)
    one = lambda t: _log_marginal_one(t, c, inner, hw, nq, ny)  # noqa: E731
    n1, n0 = c[0] + c[1], c[2] + c[3]
    ta = prior.theta_ab + jnp.stack([n1, n0])
    return jax.vmap(one)(theta) + log_beta_kernel(theta, ta)


def _zoom(lo, hi, logp, t):
    """The cells around the grid points with ``log p >= max - LOG_DROP``."""
    m = t.shape[0]
    keep = logp >= jnp.max(logp) - LOG_DROP
    idx = jnp.arange(m)
    first = jnp.min(jnp.where(keep, idx, m))
    last = jnp.max(jnp.where(keep, idx, -1))
    return t[jnp.maximum(first - 1, 0)], t[jnp.minimum(last + 1, m - 1)]


def theta_grid(counts, prior: JudgePrior, *, num_passes: int = 3, num_points: int = 129,
               nq: int = 24, ny: int = 24) -> ThetaGrid:
    """Posterior of theta on a fine grid over the window holding its mass (one problem).

    Pass 1 is a uniform grid on ``[0, 1]``; each later pass is a uniform grid on the
    cells around the points where ``log p >= max - LOG_DROP`` in the previous pass (one
    ``lax.fori_loop``, so the integrand is compiled once). The last pass is the result.

    Args:
      counts: :class:`~jaxcert.Counts`, scalar fields.
      prior: :class:`~jaxcert.bayes.JudgePrior`, ``(2,)`` fields.
      num_passes: grid passes (zooms + 1), static.
      num_points: points per pass, static.
      nq, ny: Gauss-Legendre nodes of the inner integrals, static.

    Returns:
      :class:`ThetaGrid` (NaN everywhere if the density is not finite somewhere).
    """
    c = _count_vector(counts)

    def one_pass(_, carry):
        lo, hi, _, _ = carry
        t = jnp.linspace(lo, hi, num_points)
        logp = theta_log_density(t, c, prior, nq=nq, ny=ny)
        new_lo, new_hi = _zoom(lo, hi, logp, t)
        return new_lo, new_hi, t, logp

    init = (jnp.float64(0.0), jnp.float64(1.0), jnp.zeros(num_points), jnp.zeros(num_points))
    _, _, t, logp = jax.lax.fori_loop(0, num_passes, one_pass, init)
    p = jnp.exp(logp - jnp.max(logp))
    step = t[1] - t[0]
    cum = jnp.concatenate([jnp.zeros(1), jnp.cumsum(0.5 * step * (p[1:] + p[:-1]))])
    z = cum[-1]
    ok = jnp.all(jnp.isfinite(logp) | (logp == -jnp.inf)) & jnp.isfinite(z) & (z > 0)
    nan = jnp.full_like(t, jnp.nan)
    return ThetaGrid(t, jnp.where(ok, p / z, nan), jnp.where(ok, cum / z, nan))


def grid_cdf(grid: ThetaGrid, x) -> jax.Array:
    """Posterior CDF at ``x`` (exact for the piecewise-linear density)."""
    t, p, cdf = grid
    x = jnp.clip(jnp.asarray(x, jnp.float64), t[0], t[-1])
    step = t[1] - t[0]
    cell = jnp.floor((x - t[0]) / jnp.where(step > 0, step, 1.0)).astype(jnp.int32)
    i = jnp.clip(cell, 0, t.shape[0] - 2)
    u = jnp.where(step > 0, (x - t[i]) / jnp.where(step > 0, step, 1.0), 0.0)
    return jnp.minimum(cdf[i] + step * (p[i] * u + 0.5 * (p[i + 1] - p[i]) * u * u), 1.0)


def grid_quantile(grid: ThetaGrid, level) -> jax.Array:
    """Posterior quantile at ``level`` in ``[0, 1]`` (inverse of :func:`grid_cdf`)."""
    t, p, cdf = grid
    level = jnp.asarray(level, jnp.float64)
    m = t.shape[0]
    i = jnp.clip(jnp.searchsorted(cdf, level, side="right") - 1, 0, m - 2)
    step = t[1] - t[0]
    rest = jnp.maximum(level - cdf[i], 0.0) / jnp.where(step > 0, step, 1.0)
    # Solve p_i u + (p_{i+1} - p_i) u^2 / 2 = rest for u in [0, 1] (stable root).
    disc = jnp.maximum(p[i] ** 2 + 2.0 * (p[i + 1] - p[i]) * rest, 0.0)
    den = p[i] + jnp.sqrt(disc)
    u = jnp.where(den > 0, 2.0 * rest / jnp.where(den > 0, den, 1.0), 0.0)
    return t[i] + step * jnp.clip(u, 0.0, 1.0)
