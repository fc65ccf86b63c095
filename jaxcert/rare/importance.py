"""Importance-sampling estimates of a rare failure rate, with confidence bounds.

Given draws ``x_i ~ q`` (i.i.d.), failures ``F_i in [0, 1]`` and log-weights
``log w_i = log p0(x_i) - log q(x_i)``, the terms ``Z_i = F_i w_i`` are i.i.d. with
mean ``mu = E_{p0}[F]`` (unbiased whenever ``q > 0`` where ``p0 F > 0``), and the
estimate is ``mu_hat = mean(Z)``. Under a defensive mixture ``Z_i in [0, b]`` with
``b = 1 / l`` (see :mod:`jaxcert.rare.proposal`). Bounds (``side`` convention of
:mod:`jaxcert._validate`):

* ``"clt"``: ``mu_hat +- z_{1-a} s / sqrt(n)`` (``s`` with ddof=1). Asymptotic only:
  it under-covers when few failures are seen and is exactly ``[0, 0]`` with none.
* ``"bootstrap"``: percentile bootstrap of the mean (batched resamples). Same caveat.
  With no failure at all both would return ``[0, 0]``; they then return the exact
  zero-failure bound ``b (1 - a^(1/n))`` instead (Markov: ``P(Z > 0) >= E Z / b``).
* ``"bernstein"``: empirical Bernstein (Maurer & Pontil 2009, Thm 4) on
  ``Y = Z / b in [0, 1]``: with probability ``>= 1 - a``,
  ``E Y <= mean(Y) + sqrt(2 V ln(2/a) / n) + 7 ln(2/a) / (3 (n - 1))`` (``V`` the
  unbiased sample variance). Finite-sample valid; finite with zero failures.
* ``"betting"``: betting confidence bound (Waudby-Smith & Ramdas 2024) for a mean in
  ``[0, b]``: for each candidate ``m`` on a grid the capital
  ``K_t(m) = prod_{i<=t} (1 - lam_i (Y_i - m))`` with predictable
  ``lam_i = min(sqrt(2 ln(1/a) / (n s2_{i-1})), c / (1 - m))`` is a nonnegative
  supermartingale when ``E Y <= m``; by Ville's inequality ``{m : max_t K_t(m) < 1/a}``
  is a ``1 - a`` confidence set. Finite-sample valid; usually tighter than Bernstein.

What no valid certificate can do (a fact about the problem, not about this code).
Let ``U`` be ANY upper bound at level ``1 - a`` computed from ``n`` model calls, with any
sampler, adaptive or not, that is valid for every failure function on a finite input
space. Take a failure function ``F`` with rate ``mu`` and add failures on a set ``G`` of
nominal mass ``m`` drawn uniformly at random outside the support of ``F``. The runs under
``F`` and ``F + 1_G`` coincide unless one of the ``n`` queried inputs lies in ``G``; for a
random ``G`` of ``g`` of the ``N'`` inputs outside ``supp F`` this has probability at most
``1 - (1 - m')^n`` (``m' = m / (1 - p0(supp F))``, large ``N'``). Validity under ``F + 1_G``
then forces ``P_F(U >= mu + m) >= 1 - a - (1 - (1 - m')^n)``; choosing
``(1 - m')^n = 1/2 + a`` makes this ``1/2``, so the median of ``U`` is at least
``mu + m = mu + (1 - p0(supp F)) (1 - (1/2 + a)^(1/n)) ~ mu + (1 - p0(supp F)) ln(1/(1/2 + a)) / n``
(0.60 / n at ``a = 0.05``: the "hidden-mass floor"). Uniform sampling with zero
failures certifies ``U`` with ``ln(1/a) / U`` calls, so no valid certificate has a median
reduction above

    ln(1/a) / ln(1/(1/2 + a)) = 2.996 / 0.598 = 5.01   at a = 0.05,

whatever the proposal (the earlier statement, ``ln(1/a)/(1/2 - a) = 6.7``, used the
looser union bound ``n m'`` for the miss probability). Reductions of 100x at
``mu = 1e-5`` (the CEM paper reports up to 156x) are therefore only possible with
asymptotic intervals, whose validity rests on the sampler having found every
failure region; see :mod:`jaxcert.rare.reliability` for the interval jaxcert reports
and the ``unreliable`` verdict. What CEM + IS delivers is estimation efficiency
(``benchmarks/bench_cem.py`` measures it with exact variances).

For the finite-sample bounds here, failures that ``q_CE`` misses are reached only
through the defensive component, at rate ``l``, so their upper bound cannot fall below
about ``ln(1/a) / (l n)``; :func:`jaxcert.rare.estimate` therefore also
certifies from its uniform draws (exact Clopper-Pearson), which keeps the certificate
within a constant of uniform sampling with the same number of uniform draws.

References: Owen, *Monte Carlo theory, methods and examples* ch. 9; Hesterberg 1995;
Maurer & Pontil, "Empirical Bernstein bounds and sample variance penalization" (2009);
Waudby-Smith & Ramdas, "Estimating means of bounded random variables by betting",
JRSS-B (2024).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxcert._numerics import DTYPE, as_float, normal_quantile
from jaxcert._validate import check_alpha, check_side, tail_alphas
from jaxcert.rare.bootstrap import map_resamples

__all__ = [
    "ISEstimate",
    "BOUNDS",
    "importance_estimate",
    "bound_mean",
    "effective_sample_size",
    "valid_reduction_cap",
]

#: Available bound methods.
BOUNDS = ("bernstein", "betting", "clt", "bootstrap")
#: Bounds that hold for every sample size (use them for certificates).
FINITE_SAMPLE_BOUNDS = ("bernstein", "betting")


class ISEstimate(NamedTuple):
    """Importance-sampling estimate of a mean with a confidence interval (arrays)."""

    estimate: jax.Array
    lower: jax.Array
    upper: jax.Array
    ess: jax.Array
    max_weight: jax.Array
    num_failures: jax.Array
    num: jax.Array


def effective_sample_size(log_w) -> jax.Array:
    """Kish ESS ``(sum w)^2 / sum w^2`` from log-weights (0 if every weight is 0)."""
    log_w = as_float(log_w)
    m = jnp.max(log_w)
    w = jnp.exp(log_w - jnp.where(jnp.isfinite(m), m, 0.0))
    return jnp.where(jnp.sum(w) > 0, jnp.sum(w) ** 2 / jnp.maximum(jnp.sum(w**2), 1e-300), 0.0)


# -- one-sided bounds on the mean of Y in [0, 1] ---------------------------------------
@jax.jit
def _bernstein_upper(Y, delta):
    n = Y.shape[0]
    var = jnp.var(Y, ddof=1)
    L = jnp.log(2.0 / delta)
    return jnp.mean(Y) + jnp.sqrt(2.0 * var * L / n) + 7.0 * L / (3.0 * (n - 1))


@partial(jax.jit, static_argnames=("grid_size",))
def _betting_upper(Y, delta, grid_size=400, c=0.75):
    """Betting upper bound on E Y, Y in [0, 1]; the grid is refined twice."""
    n = Y.shape[0]
    t = jnp.arange(1, n + 1, dtype=DTYPE)
    mu_run = (0.5 + jnp.cumsum(Y)) / (t + 1)
    s2_run = (0.25 + jnp.cumsum((Y - mu_run) ** 2)) / (t + 1)
    s2_prev = jnp.concatenate([jnp.array([0.25]), s2_run[:-1]])
    lam_base = jnp.sqrt(2.0 * jnp.log(1.0 / delta) / (n * s2_prev))
    log_thresh = jnp.log(1.0 / delta)

    def rejected(m):
        lam = jnp.minimum(lam_base, c / (1.0 - m))
        logk = jnp.cumsum(jnp.log1p(-lam * (Y - m)))
        return jnp.max(logk) >= log_thresh

    def refine(lo, hi):
        grid = jnp.linspace(lo, hi, grid_size)
        rej = jax.vmap(rejected)(grid)
        # last accepted grid point; the bound is the next grid point (conservative).
        acc_idx = jnp.max(jnp.where(~rej, jnp.arange(grid_size), 0))
        nxt = jnp.minimum(acc_idx + 1, grid_size - 1)
        return grid[acc_idx], grid[nxt]

    lo, hi = refine(jnp.mean(Y), jnp.asarray(1.0 - 1e-9, DTYPE))
    lo, hi = refine(lo, hi)
    lo, hi = refine(lo, hi)
    return hi


def _upper_Y(Y, delta, method):
    if method == "bernstein":
        return _bernstein_upper(Y, delta)
    return _betting_upper(Y, delta)


def bound_mean(Z, *, weight_bound, alpha=0.05, side="upper", bound="bernstein", key=None, num_bootstrap=2000):
    """Confidence interval ``(lower, upper)`` for ``E Z`` with ``Z in [0, weight_bound]``.

    Args:
      Z: float ``(n,)`` i.i.d. terms.
      weight_bound: ``b`` with ``0 <= Z <= b`` almost surely (finite-sample bounds).
      alpha: error level; side: "two-sided" | "upper" | "lower"; bound: one of
        :data:`BOUNDS`; key: PRNG key (bootstrap only).

    Returns:
      ``(lower, upper)`` float64 scalars, inside ``[0, b]``.
    """
    Z = as_float(Z)
    n = Z.shape[0]
    b = as_float(weight_bound)
    a_lo, a_hi = tail_alphas(alpha, side)
    mean = jnp.mean(Z)
    # All-zero sample: Markov gives P(Z > 0) >= m / b, so P(all n zero) <= (1 - m/b)^n
    # and U0 = b (1 - a^(1/n)) is an exact upper bound (the IS "rule of three").
    zero_up = -b * jnp.expm1(jnp.log(a_hi) / n) if a_hi > 0 else b
    if bound in FINITE_SAMPLE_BOUNDS:
        Y = Z / b
        up = b * _upper_Y(Y, a_hi, bound) if a_hi > 0 else b
        lo = b * (1.0 - _upper_Y(1.0 - Y, a_lo, bound)) if a_lo > 0 else 0.0
    elif bound == "clt":
        se = jnp.std(Z, ddof=1) / jnp.sqrt(n)
        up = mean + normal_quantile(1.0 - a_hi) * se if a_hi > 0 else b
        lo = mean - normal_quantile(1.0 - a_lo) * se if a_lo > 0 else 0.0
    else:  # bootstrap
        means = map_resamples(lambda idx: jnp.mean(Z[idx]), key, jnp.zeros(n, jnp.int32), 1, num_bootstrap)
        up = jnp.quantile(means, 1.0 - a_hi) if a_hi > 0 else b
        lo = jnp.quantile(means, a_lo) if a_lo > 0 else 0.0
    if bound in ("clt", "bootstrap"):  # asymptotic bounds collapse to 0 without failures
        up = jnp.where(jnp.all(Z == 0), zero_up, up)
    return jnp.clip(as_float(lo), 0.0, b), jnp.clip(as_float(up), 0.0, b)


def importance_estimate(
    F,
    log_w,
    *,
    weight_bound,
    alpha=0.05,
    side="upper",
    bound="bernstein",
    key=None,
    num_bootstrap=2000,
) -> ISEstimate:
    """Unbiased IS estimate ``mean(F w)`` of ``E_{p0}[F]`` with a confidence interval.

    Args:
      F: float ``(n,)`` failures in ``[0, 1]`` (0 for invalid/unevaluated draws).
      log_w: float ``(n,)`` log importance weights ``log p0 - log q`` (full mixture
        density), each ``<= log(weight_bound)``.
      weight_bound: bound ``b`` on the weights (``1 / l`` for a defensive mixture).
      alpha, side, bound, key, num_bootstrap: see :func:`bound_mean`.

    Returns:
      :class:`ISEstimate`.

    Example:
      >>> F = jnp.zeros(1000); log_w = jnp.zeros(1000)
      >>> r = importance_estimate(F, log_w, weight_bound=1.0)
      >>> bool(r.upper > 0)
      True
    """
    check_alpha(alpha)
    check_side(side)
    if bound not in BOUNDS:
        raise ValueError(f"bound must be one of {BOUNDS}; got {bound!r}")
    F, log_w = as_float(F), as_float(log_w)
    if F.ndim != 1 or F.shape != log_w.shape or F.shape[0] < 2:
        raise ValueError(f"F and log_w must be 1-d of equal length >= 2; got {F.shape} and {log_w.shape}")
    if bound == "bootstrap" and key is None:
        raise ValueError("bound='bootstrap' needs a PRNG key")
    if not np.isfinite(float(weight_bound)) or float(weight_bound) <= 0:
        raise ValueError(f"weight_bound must be positive and finite; got {weight_bound!r}")
    Z = F * jnp.exp(log_w)
    lo, up = bound_mean(Z, weight_bound=weight_bound, alpha=alpha, side=side, bound=bound, key=key, num_bootstrap=num_bootstrap)
    return ISEstimate(
        estimate=jnp.mean(Z),
        lower=lo,
        upper=up,
        ess=effective_sample_size(log_w),
        max_weight=jnp.exp(jnp.max(log_w)),
        num_failures=jnp.sum(F > 0),
        num=jnp.asarray(F.shape[0]),
    )


def valid_reduction_cap(alpha) -> float:
    """Largest median reduction any valid certificate can show: ``ln(1/a) / ln(1/(1/2 + a))``.

    5.01 at ``alpha = 0.05`` (module docstring). Requires ``0 < alpha < 1/2``.
    """
    alpha = check_alpha(alpha)
    if not alpha < 0.5:
        raise ValueError(f"the reduction cap needs alpha < 1/2; got {alpha!r}")
    return float(np.log(1.0 / alpha) / np.log(1.0 / (0.5 + alpha)))
