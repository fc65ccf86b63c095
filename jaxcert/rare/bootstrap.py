"""Asymptotic intervals for an importance-sampling mean: CLT and bootstrap-t.

The estimate is the mean of ``N`` terms ``z_i = F_i w_i`` drawn in ``S`` stages
(strata): stage ``t`` holds ``n_t`` i.i.d. terms given the earlier stages, and the
estimator ``mu_hat = (1/N) sum_i z_i`` weights every stage by ``n_t / N``, a choice fixed
before any draw (so ``mu_hat`` is unbiased, see :mod:`jaxcert.rare.pipeline`). Its
variance is the stratified one,

    V = sum_t (n_t / N)^2 s_t^2 / n_t,        s_t^2 the within-stage variance,

because stage means are martingale differences around ``mu`` (uncorrelated). With a
single stage this is ``s^2 / N``.

* CLT: ``mu_hat -+ z_{1-a} sqrt(V)``. It under-covers badly when the integrand is
  heavy-tailed (few hits carry most of the mass): the sample variance is then
  usually too small, and small exactly when the estimate is too small.
* bootstrap-t (Efron and Tibshirani 1993, ch. 12; Hall 1988): resample within each
  stage, compute ``T* = (mu* - mu_hat) / sqrt(V*)``, and invert its quantiles:
  ``[mu_hat - q_{1-a}(T*) sqrt(V), mu_hat - q_a(T*) sqrt(V)]``. It corrects the
  skewness that makes the CLT upper end too low (second-order accurate). A resample
  with ``V* = 0`` (every hit left out) gives ``T* = -inf``: the upper end is then
  infinite, clipped to ``upper_cap``.

With no positive term both intervals would be ``[0, 0]``; they return the exact
zero-failure bound ``upper_cap (1 - a^(1/N))`` as upper end instead (Markov).

Memory: the resamples are drawn in batches of about ``RESAMPLE_ELEMENTS / N``
(:func:`map_resamples`), so a bootstrap over 10^6 terms needs about 100 MB, not the ``B x N``
arrays (16 GB at ``B = 2000``) that vmapping all resamples at once would hold.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from jaxcert._numerics import DTYPE, as_float, normal_quantile

__all__ = ["stratified_moments", "clt_interval", "bootstrap_t_interval", "map_resamples", "ASYMPTOTIC_INTERVALS"]

#: Asymptotic interval methods ("auto" picks bootstrap-t when hits or ESS are few).
ASYMPTOTIC_INTERVALS = ("auto", "clt", "bootstrap-t")

#: Resampled terms held at once by :func:`map_resamples` (2^22: ~100 MB of uniforms,
#: indices and gathered terms).
RESAMPLE_ELEMENTS = 1 << 22


def map_resamples(stat, key, strata, num_strata: int, num_bootstrap: int):
    """``stat(idx)`` for ``num_bootstrap`` stratified resamples, stacked.

    ``idx`` (int32 ``(N,)``) redraws each term with replacement from its own stage
    (``strata`` non-decreasing, as everywhere in this module). The resamples run as a
    ``lax.map`` over batches of ``RESAMPLE_ELEMENTS // N`` (at least 1), so memory stays
    near ``RESAMPLE_ELEMENTS`` terms for any sample size; the values are those of
    vmapping over the same keys. Every bootstrap of :mod:`jaxcert.rare` resamples
    through here.
    """
    N = strata.shape[0]
    n_t = jax.ops.segment_sum(jnp.ones(N, DTYPE), strata, num_strata)
    start = jnp.cumsum(n_t) - n_t

    def one(k):
        u = jax.random.uniform(k, (N,))
        return stat((start[strata] + jnp.floor(u * n_t[strata])).astype(jnp.int32))

    batch = max(1, min(num_bootstrap, RESAMPLE_ELEMENTS // max(N, 1)))
    return jax.lax.map(one, jax.random.split(key, num_bootstrap), batch_size=batch)


def _segment(z, strata, num_strata):
    n_t = jax.ops.segment_sum(jnp.ones_like(z), strata, num_strata)
    s1 = jax.ops.segment_sum(z, strata, num_strata)
    m_t = s1 / jnp.maximum(n_t, 1.0)
    s2 = jax.ops.segment_sum((z - m_t[strata]) ** 2, strata, num_strata)
    var_t = s2 / jnp.maximum(n_t - 1.0, 1.0)
    return n_t, var_t


def stratified_moments(z, strata, num_strata: int):
    """``(mean, variance of the mean)`` of a stratified sample (module docstring).

    Args:
      z: float ``(N,)`` terms.
      strata: int ``(N,)`` stage index of each term in ``[0, num_strata)``.
      num_strata: number of stages (static).
    """
    z = as_float(z)
    N = z.shape[0]
    n_t, var_t = _segment(z, strata, num_strata)
    return jnp.mean(z), jnp.sum(n_t * var_t) / N**2


def _zero_upper(N, a_hi, cap):
    return -cap * jnp.expm1(jnp.log(a_hi) / N)


@partial(jax.jit, static_argnames=("num_strata",))
def clt_interval(z, strata, num_strata: int, a_lo, a_hi, upper_cap):
    """CLT interval ``(lower, upper)`` with tail errors ``a_lo`` / ``a_hi`` (0 = open side)."""
    z = as_float(z)
    mean, var = stratified_moments(z, strata, num_strata)
    se = jnp.sqrt(var)
    lo = jnp.where(a_lo > 0, mean - normal_quantile(1.0 - jnp.maximum(a_lo, 1e-300)) * se, 0.0)
    up = jnp.where(a_hi > 0, mean + normal_quantile(1.0 - jnp.maximum(a_hi, 1e-300)) * se, upper_cap)
    up = jnp.where(jnp.any(z > 0), up, _zero_upper(z.shape[0], jnp.maximum(a_hi, 1e-300), upper_cap))
    return jnp.clip(lo, 0.0, upper_cap), jnp.clip(up, 0.0, upper_cap)


@partial(jax.jit, static_argnames=("num_strata", "num_bootstrap"))
def bootstrap_t_interval(key, z, strata, num_strata: int, a_lo, a_hi, upper_cap, num_bootstrap: int = 2000):
    """Stratified bootstrap-t interval ``(lower, upper)`` (module docstring).

    Args:
      key: PRNG key.
      z: float ``(N,)`` terms, grouped by stage (``strata`` non-decreasing).
      strata: int ``(N,)`` stage of each term; num_strata: static count.
      a_lo, a_hi: error of the lower / upper end (0 leaves that side open: 0 / cap).
      upper_cap: the largest possible mean (``1`` for a failure rate).
      num_bootstrap: resamples (static).

    Example:
      >>> z = jnp.where(jnp.arange(500) % 50 == 0, 10.0, 0.0)
      >>> lo, up = bootstrap_t_interval(jax.random.key(0), z, jnp.zeros(500, int), 1, 0.025, 0.025, 10.0)
    """
    z = as_float(z)
    N = z.shape[0]
    mean, var = stratified_moments(z, strata, num_strata)
    se = jnp.sqrt(var)

    def one(idx):
        mb, vb = stratified_moments(z[idx], strata, num_strata)
        d = mb - mean
        return jnp.where(vb > 0, d / jnp.sqrt(jnp.where(vb > 0, vb, 1.0)), jnp.where(d < 0, -jnp.inf, jnp.where(d > 0, jnp.inf, 0.0)))

    t = jnp.sort(map_resamples(one, key, strata, num_strata, num_bootstrap))
    # order statistics without interpolation (T* may be infinite)
    q_hi = t[jnp.clip(jnp.ceil((1.0 - a_lo) * num_bootstrap).astype(jnp.int32) - 1, 0, num_bootstrap - 1)]
    q_lo = t[jnp.clip(jnp.floor(a_hi * num_bootstrap).astype(jnp.int32), 0, num_bootstrap - 1)]
    up = jnp.where(jnp.isfinite(q_lo), mean - q_lo * se, upper_cap)
    lo = jnp.where(jnp.isfinite(q_hi), mean - q_hi * se, 0.0)
    lo = jnp.where(a_lo > 0, lo, 0.0)
    up = jnp.where(a_hi > 0, up, upper_cap)
    up = jnp.where(jnp.any(z > 0), up, _zero_upper(N, jnp.maximum(a_hi, 1e-300), upper_cap))
    return jnp.clip(lo, 0.0, upper_cap), jnp.clip(up, 0.0, upper_cap)
