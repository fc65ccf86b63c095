"""Asymptotic intervals for an importance-sampling mean: CLT, skew-corrected, bootstrap-t.

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
* skew-corrected (Hall 1992): the CLT interval misses high when the estimate is
  right-skewed, which it is whenever a few large terms carry much of it (a failure
  region known from a few defensive draws with weight ``~1/l``): a low estimate then
  comes with a low variance. The studentized mean ``T = (mu_hat - mu) / sqrt(V)`` has
  the Edgeworth expansion ``P(T <= x) = Phi(x) + g (2 x^2 + 1) / 6 phi(x) + O(1/N)``
  with ``g = K3 / V^(3/2)`` the estimator's skewness, ``K3 = sum_t n_t k3_t / N^3``
  (``k3_t`` the within-stage third cumulant; ``Cov(mu_hat, V_hat) = K3`` too, so the
  single-sample expansion carries over to the strata). Hall's monotone cubic
  ``h(t) = t + g t^2 / 3 + g^2 t^3 / 27 + g / 6`` makes ``h(T)`` normal to that order
  and inverts in closed form, ``h^-1(x) = (3 / g) ((1 + g (x - g / 6))^(1/3) - 1)``;
  the interval is ``[mu_hat - h^-1(z_{1-a}) sqrt(V), mu_hat - h^-1(-z_{1-a}) sqrt(V)]``,
  widened to contain the CLT interval (the correction may move an end outward only:
  with heavy skew the expansion is least accurate exactly where moving an end inward
  would cost coverage). Measured on ``benchmarks/bench_cem.py`` runs at mu = 1e-3 on
  intermediate landscapes (budget 200,900, 200 runs, 0/1 outcomes, median ``g``
  0.22; side study ``benchmarks/interval_study.py``, bootstrap-t with B = 500):
  coverage 0.910 (CLT), 0.950 (bootstrap-t), 0.955 (this), widths 0.334 /
  0.351 / 0.350 of ``mu``; one pass over the terms instead of ``B``.
* bootstrap-t (Efron and Tibshirani 1993, ch. 12; Hall 1988): resample within each
  stage, compute ``T* = (mu* - mu_hat) / sqrt(V*)``, and invert its quantiles:
  ``[mu_hat - q_{1-a}(T*) sqrt(V), mu_hat - q_a(T*) sqrt(V)]``. It corrects the
  skewness that makes the CLT upper end too low (second-order accurate). A resample
  with ``V* = 0`` (every hit left out) gives ``T* = -inf``: the upper end is then
  infinite, clipped to ``upper_cap``.

* gamma (Fay and Feuer 1997), for 0/1 outcomes only: then ``mu_hat = sum_i c_i`` is a
  weighted sum of event counts (``c_i = z_i / N`` for every draw that failed, and a
  failing input is drawn a Poisson number of times when failures are rare), the
  setting of directly standardised rates. The interval takes the gamma law with the
  estimate's mean ``y = sum c_i`` and Poisson variance ``v = sum c_i^2``:
  ``lower = v / (2 y) chi2_{2 y^2 / v}^-1(a)``, and the upper end adds one unseen event
  of the largest weight ``m`` seen, ``upper = (v + m^2) / (2 (y + m))
  chi2_{2 (y + m)^2 / (v + m^2)}^-1(1 - a)``, the term that keeps it conservative with
  few events. The bootstrap-t resamples only the hits it has; the gamma upper end
  allows for one more. :func:`jaxcert.rare.reliability.assess` reports the union of
  the two where it would use the bootstrap-t on 0/1 outcomes (``benchmarks/bench_cem.py``
  runs, concentrated landscapes, 400 runs: bootstrap-t covered 0.940 / 0.935 / 0.910 at
  mu = 1e-3 / 1e-4 / 1e-5, gamma 0.930 / 0.932 / 0.938, the union 0.945 / 0.948 / 0.938
  with mean widths 2 %, 1 % and 3 % above the bootstrap-t's).

With no positive term all these intervals would be ``[0, 0]``; they return the exact
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
from jaxcert.intervals import chi2_quantile

__all__ = ["stratified_moments", "estimator_skewness", "clt_interval", "skew_corrected_interval", "bootstrap_t_interval",
           "gamma_interval", "map_resamples", "ASYMPTOTIC_INTERVALS"]

#: Asymptotic interval methods ("auto": bootstrap-t when hits or ESS are few, else
#: skew-corrected).
ASYMPTOTIC_INTERVALS = ("auto", "clt", "skew-corrected", "bootstrap-t")

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
    """Per stage: count, mean and unbiased variance."""
    n_t = jax.ops.segment_sum(jnp.ones_like(z), strata, num_strata)
    s1 = jax.ops.segment_sum(z, strata, num_strata)
    m_t = s1 / jnp.maximum(n_t, 1.0)
    s2 = jax.ops.segment_sum((z - m_t[strata]) ** 2, strata, num_strata)
    var_t = s2 / jnp.maximum(n_t - 1.0, 1.0)
    return n_t, m_t, var_t


def stratified_moments(z, strata, num_strata: int):
    """``(mean, variance of the mean)`` of a stratified sample (module docstring).

    Args:
      z: float ``(N,)`` terms.
      strata: int ``(N,)`` stage index of each term in ``[0, num_strata)``.
      num_strata: number of stages (static).
    """
    z = as_float(z)
    N = z.shape[0]
    n_t, _, var_t = _segment(z, strata, num_strata)
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


def estimator_skewness(z, strata, num_strata: int):
    """``(mean, V, g)``: the stratified mean, its variance and its skewness ``K3 / V^1.5``."""
    z = as_float(z)
    N = z.shape[0]
    mean, V = stratified_moments(z, strata, num_strata)
    n_t, m_t, _ = _segment(z, strata, num_strata)  # the same segment sums (one computation under jit)
    # unbiased third cumulant of each stage (k3 = n sum d^3 / ((n-1)(n-2)))
    d3 = jax.ops.segment_sum((z - m_t[strata]) ** 3, strata, num_strata)
    K3 = jnp.sum(n_t * d3 * n_t / jnp.maximum((n_t - 1.0) * (n_t - 2.0), 1.0)) / N**3
    g = jnp.where(V > 0, K3 / jnp.where(V > 0, V, 1.0) ** 1.5, 0.0)
    return mean, V, g


def _hall_inverse(x, g):
    """``h^-1(x)`` for Hall's cubic ``h(t) = t + g t^2/3 + g^2 t^3/27 + g/6`` (monotone)."""
    # below |g| = 1e-8 the closed form loses digits to cancellation; its first-order
    # expansion (the Cornish-Fisher quantile) is then exact to O(g^2) ~ 1e-16
    small = jnp.abs(g) < 1e-8
    gs = jnp.where(small, 1.0, g)
    return jnp.where(small, x - g * (2.0 * x**2 + 1.0) / 6.0, 3.0 / gs * (jnp.cbrt(1.0 + gs * (x - gs / 6.0)) - 1.0))


@partial(jax.jit, static_argnames=("num_strata",))
def skew_corrected_interval(z, strata, num_strata: int, a_lo, a_hi, upper_cap):
    """Skew-corrected interval ``(lower, upper)`` (module docstring), containing the CLT one."""
    z = as_float(z)
    mean, var, g = estimator_skewness(z, strata, num_strata)
    se = jnp.sqrt(var)
    lo_c, up_c = clt_interval(z, strata, num_strata, a_lo, a_hi, upper_cap)
    lo = mean - se * _hall_inverse(normal_quantile(1.0 - jnp.maximum(a_lo, 1e-300)), g)
    up = mean - se * _hall_inverse(-normal_quantile(1.0 - jnp.maximum(a_hi, 1e-300)), g)
    lo = jnp.where(a_lo > 0, jnp.minimum(jnp.clip(lo, 0.0, upper_cap), lo_c), 0.0)
    up = jnp.where((a_hi > 0) & jnp.any(z > 0), jnp.maximum(jnp.clip(up, 0.0, upper_cap), up_c), up_c)
    return lo, up


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


@jax.jit
def gamma_interval(z, a_lo, a_hi, upper_cap):
    """Fay-Feuer gamma interval ``(lower, upper)`` for terms of 0/1 outcomes (module docstring).

    ``z``: float ``(N,)`` terms ``Y_i w_i`` (``mean(z)`` is the estimate) with ``Y_i`` in
    {0, 1}; graded outcomes are not event counts and need the other intervals.

    Example:
      >>> lo, up = gamma_interval(jnp.where(jnp.arange(100) < 3, 1.0, 0.0), 0.025, 0.025, 1.0)
      >>> round(float(lo), 4), round(float(up), 4)  # the exact Poisson interval for 3 events, / 100
      (0.0062, 0.0877)
    """
    z = as_float(z)
    N = z.shape[0]
    c = z / N
    y, v, m = jnp.sum(c), jnp.sum(c**2), jnp.max(c)
    hit = y > 0
    ys, vs = jnp.where(hit, y, 1.0), jnp.where(hit, v, 1.0)
    lo = vs / (2.0 * ys) * chi2_quantile(2.0 * ys**2 / vs, jnp.maximum(a_lo, 1e-300))
    up = (vs + m**2) / (2.0 * (ys + m)) * chi2_quantile(2.0 * (ys + m) ** 2 / (vs + m**2), 1.0 - a_hi)
    lo = jnp.where(hit & (a_lo > 0), lo, 0.0)
    up = jnp.where(a_hi > 0, jnp.where(hit, up, _zero_upper(N, jnp.maximum(a_hi, 1e-300), upper_cap)), upper_cap)
    return jnp.clip(lo, 0.0, upper_cap), jnp.clip(up, 0.0, upper_cap)
