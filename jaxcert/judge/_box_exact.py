"""Exact p-value of the box-conflict statistic by enumerating the calibration lattice.

The chi-bar-squared reference in :mod:`jaxcert.judge.box_conflict` is asymptotic; on a
point box with a few dozen labels its size reaches 0.021 at level 0.01 (the discrete
lattice of ``(n11, n01)`` puts atoms just past the chi2_2 quantile). This module
computes the exact size instead.

Given the labelled class sizes ``n1, n0`` (conditioning on them is valid because the
test is valid for every value), ``n11 ~ Bin(n1, s)`` and ``n01 ~ Bin(n0, r)`` are
independent and ``T = T_s(n11) + T_r(n01)``, so for a null point ``(s, r)``

    P(T >= t) = sum_k P_s(n11 = k) * P_r(T_r >= t - T_s(k)).

``T_r(k)`` is non-increasing below the box, 0 inside and non-decreasing above it, so
``{T_r >= c}`` is a lower tail plus an upper tail of ``k``, each found by a binary
search on a monotone array: the whole sum costs ``O(G log G)`` for a lattice of ``G``
points, with no sort and no data-dependent loop.

The p-value of the composite null is the supremum over the box, attained at a corner:
``k -> P_r(T_r >= t - T_s(k))`` is V-shaped in ``k`` (non-increasing, then
non-decreasing), and the binomial family is totally positive, so by variation
diminishing its expectation under ``Bin(n1, s)`` minus any constant changes sign at
most twice in the order (+, -, +): it is quasi-convex in ``s`` and so largest at an
end of the box; the same holds in ``r``. The test is therefore exact (size at most the
level at every point of the box), conservative only through the lattice.

Each component is enumerated on a window of ``G`` integers around its mode; when the
window cannot hold ``[n lo - 8 sd, n hi + 8 sd]`` the caller
falls back to the asymptotic reference, which is accurate there.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.scipy.special import gammaln, xlog1py, xlogy

from jaxcert._numerics import bernoulli_kl

#: Lattice points per class in traced kernels: exact for up to 255 labels per class, and
#: for ``n q (1 - q)`` up to about 250 beyond that (a ~1000-label class at q = 1/2).
LATTICE = 256

_SD_COVER = 8.0  # neglected binomial mass beyond 8 sd is below 1e-12


def _window(m, lo, hi, size):
    """Lattice of ``size`` integers holding ``[m lo - 8 sd, m hi + 8 sd]`` when it can.

    One window per class serves both corners of its box (``sd`` is the largest
    binomial sd over the box). Returns ``(k, valid, covered)``.
    """
    centre = jnp.clip(0.5, lo, hi)
    sd = jnp.sqrt(m * centre * (1.0 - centre))
    need_lo = jnp.maximum(m * lo - _SD_COVER * sd - 1.0, 0.0)
    need_hi = jnp.minimum(m * hi + _SD_COVER * sd + 1.0, m)
    start = jnp.floor(0.5 * (need_lo + need_hi)) - size // 2
    start = jnp.clip(start, 0.0, jnp.maximum(m - size + 1.0, 0.0))
    k = start + jnp.arange(size, dtype=jnp.float64)
    covered = (start <= need_lo) & (start + size - 1.0 >= need_hi)
    return k, k <= m, covered


def _pmf(k, valid, m, q):
    """``Bin(m, q)`` pmf on the window: one log-pmf at the mode, then ratio products
    outwards (no per-point transcendental; far tails underflow to 0 harmlessly)."""
    mode = jnp.clip(jnp.floor((m + 1.0) * q), 0.0, m)
    log_mode = (gammaln(m + 1.0) - gammaln(mode + 1.0) - gammaln(m - mode + 1.0)
                + xlogy(mode, q) + xlog1py(m - mode, -q))
    up = jnp.where(valid & (k > mode), (m - k + 1.0) / jnp.maximum(k, 1.0) * (q / (1.0 - q)), 1.0)
    down = jnp.where(k < mode, (k + 1.0) / jnp.maximum(m - k, 1.0) * ((1.0 - q) / q), 1.0)
    ratio = jnp.cumprod(up) * jnp.cumprod(down[::-1])[::-1]
    return jnp.where(valid, jnp.exp(log_mode) * ratio, 0.0)


def lr_statistic(k, m, lo, hi):
    """``2 m KL(k/m || clip(k/m, lo, hi))``: one class's LR statistic, for the observed
    counts and on the lattice alike (0 for an empty class; ``inf`` where the box end
    forbids the observed rate)."""
    p = k / jnp.where(m > 0, m, 1.0)
    b = jnp.clip(p, lo, hi)
    kl = bernoulli_kl(p, b)
    t = jnp.where(b != p, 2.0 * m * kl, 0.0)
    return jnp.where(jnp.isnan(t), jnp.inf, t)


def _tail_table(t, k, valid, pmf, m, lo, hi):
    """Monotone branches of ``T_r`` (values ``t`` on the window) and the cumulative pmf."""
    p = k / jnp.maximum(m, 1.0)
    below = jnp.where(valid & (p < lo), t, 0.0)  # non-increasing in k
    above = jnp.where(valid, jnp.where(p > hi, t, 0.0), jnp.inf)  # non-decreasing in k
    return -below, above, jnp.concatenate([jnp.zeros(1), jnp.cumsum(pmf)])


def _tail(c, table):
    """``P(T_r >= c)`` for a vector of thresholds ``c`` (``c <= 0`` gives the full mass)."""
    neg_below, above, cdf = table
    n_low = jnp.searchsorted(neg_below, -c, side="right")  # #{k: below(k) >= c}
    n_not_up = jnp.searchsorted(above, c, side="left")  # #{k: above(k) < c}
    mass = cdf[n_low] + (cdf[-1] - cdf[n_not_up])
    return jnp.where(c <= 0.0, cdf[-1], mass)


def exact_p_value(t_obs, n1, n0, sb, fb, size=LATTICE):
    """Exact ``sup_{(s, r) in box} P(T >= t_obs)`` and whether the lattice covered it.

    Trusted, traced inputs: ``n1, n0`` float class sizes, ``sb, fb`` ``(2,)`` boxes;
    ``size`` is static. Returns ``(p_value, covered)``.
    """
    tol = 1e-9 * (1.0 + t_obs)  # the observed point must count itself
    k0, v0, cov0 = _window(n0, fb[0], fb[1], size)
    t0 = lr_statistic(k0, n0, fb[0], fb[1])
    tables = [_tail_table(t0, k0, v0, _pmf(k0, v0, n0, r), n0, fb[0], fb[1]) for r in fb]
    k1, v1, cov1 = _window(n1, sb[0], sb[1], size)
    c = t_obs - tol - jnp.where(v1, lr_statistic(k1, n1, sb[0], sb[1]), 0.0)
    best = jnp.zeros(())
    for s in (sb[0], sb[1]):
        pmf1 = _pmf(k1, v1, n1, s)
        for table in tables:
            best = jnp.maximum(best, jnp.sum(pmf1 * _tail(c, table)))
    return jnp.clip(best, 0.0, 1.0), cov0 & cov1
