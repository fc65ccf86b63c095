"""Pareto k-hat: how heavy is the right tail of the importance-sampling integrand?

The IS estimate ``mean(z)`` with ``z_i = F_i w_i`` has a finite variance only if the
tail of ``z`` is lighter than ``x^-2``. Pareto-smoothed importance sampling (PSIS;
Vehtari, Simpson, Gelman, Yao, Gabry, "Pareto smoothed importance sampling", JMLR
2024) estimates the tail shape ``k`` of the generalized Pareto distribution (GPD)

    G(x) = 1 - (1 + k x / sigma)^(-1/k),    x >= 0,

fitted to the excesses of the largest ``M = min(n / 5, 3 sqrt(n))`` values over the
``(M + 1)``-th largest. ``k < 0.5``: finite variance, the CLT applies; ``0.5 < k < 0.7``:
infinite variance but the estimate still converges at a usable rate; ``k > 0.7``: the
pre-asymptotic behaviour is so poor that the number of draws needed grows
exponentially, and an interval computed from the sample cannot be trusted.

The fit is Zhang and Stephens' (Technometrics 2009) empirical-Bayes estimator as
used by PSIS: with the excesses ``x_1 <= ... <= x_M`` and ``theta = -k / sigma``,

    theta_j = 1/x_M + (1 - sqrt(m / (j - 1/2))) / (3 x_(floor(M/4 + 1/2))),  j = 1..m,
    m = 30 + floor(sqrt(M)),
    k(theta) = mean(log(1 - theta x)),     l(theta) = M (log(-theta / k) - k - 1),

(the profile log-likelihood; heavy tails have ``theta < 0`` and ``k > 0``), posterior
weights ``omega_j = 1 / sum_i exp(l_i - l_j)``, ``theta_hat = sum_j omega_j theta_j``,
``k_hat = mean(log(1 - theta_hat x))``, ``sigma = -k_hat / theta_hat``, and finally the weakly informative prior of
PSIS shrinks ``k_hat <- (M k_hat + 10 * 0.5) / (M + 10)``.

With 0/1 outcomes most terms are 0, and when fewer than ``M + 1`` are positive the
fit uses the largest ``min(h / 5, 3 sqrt(h))`` of the ``h`` positive ones; with fewer
than 6 positive terms there is no tail to fit and :func:`pareto_khat` returns
``+inf`` (the caller reports "too few hits" rather than a number it cannot compute).
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp

from jaxcert._numerics import DTYPE, as_float

__all__ = ["tail_size", "gpd_fit", "pareto_khat", "KHAT_THRESHOLD"]

#: Above this k-hat the IS mean is not trustworthy (PSIS paper, Sec. 3).
KHAT_THRESHOLD = 0.7
_PRIOR_N, _PRIOR_K = 10.0, 0.5


def tail_size(n: int) -> int:
    """``M = min(n / 5, 3 sqrt(n))`` (rounded down, at least 5) for a sample of ``n``."""
    return max(5, int(min(n / 5.0, 3.0 * math.sqrt(n))))


@partial(jax.jit, static_argnames=("prior",))
def gpd_fit(excesses, count=None, prior: bool = True):
    """Zhang-Stephens fit of a GPD to sorted positive ``excesses`` (ascending, ``(M,)``).

    Args:
      excesses: float ``(M,)`` sorted ascending, ``>= 0`` with a positive maximum.
      count: fit only the largest ``count`` entries (traced, ``5 <= count <= M``;
        default all). The grid size ``m`` stays that of ``M``.
      prior: apply the PSIS shrinkage of ``k`` towards 0.5 (weight 10 pseudo-draws).

    Returns:
      ``(k, sigma)`` float64 scalars (shape ``k``, scale ``sigma``).

    Example:
      >>> x = jnp.sort(jax.random.pareto(jax.random.key(0), 2.0, (500,)) - 1.0)
      >>> k, s = gpd_fit(x, prior=False)   # Lomax(2): GPD with k = 0.5, sigma = 0.5
    """
    x = as_float(excesses)
    M = x.shape[0]
    c = jnp.asarray(M if count is None else count)
    use = jnp.arange(M) >= M - c
    cf = c.astype(DTYPE)
    m = 30 + int(math.sqrt(M))
    quart = x[jnp.maximum(M - c + jnp.floor(cf / 4.0 + 0.5).astype(jnp.int32) - 1, 0)]
    # tied tails (repeated inputs) can put a zero at the quartile: keep the grid finite
    quart = jnp.maximum(quart, 1e-8 * x[-1])
    j = jnp.arange(1, m + 1, dtype=DTYPE)
    theta = 1.0 / x[-1] + (1.0 - jnp.sqrt(m / (j - 0.5))) / (3.0 * quart)
    mean_log = lambda t: jnp.sum(jnp.where(use, jnp.log1p(-t * x), 0.0)) / cf  # noqa: E731
    k_j = jax.vmap(mean_log)(theta)
    ll = cf * (jnp.log(-theta / k_j) - k_j - 1.0)
    omega = 1.0 / jnp.sum(jnp.exp(ll[None, :] - ll[:, None]), axis=1)
    omega = omega / jnp.sum(omega)
    theta_hat = jnp.sum(omega * theta)
    k = mean_log(theta_hat)
    sigma = -k / theta_hat
    if prior:
        k = (cf * k + _PRIOR_N * _PRIOR_K) / (cf + _PRIOR_N)
    return k, sigma


@jax.jit
def pareto_khat(z):
    """PSIS k-hat of the right tail of the non-negative terms ``z`` ``(n,)``.

    The tail is the largest ``M = tail_size(n)`` terms. With 0/1 outcomes most terms
    are 0; when only ``h <= M`` are positive the fit uses the largest
    ``tail_size(h)`` of them (the tail of the hits' weights). Returns ``+inf`` when
    fewer than 6 terms are positive (no tail to fit) and 0 when the tail is flat
    (all its terms equal: a bounded tail).

    Example:
      >>> z = jax.random.exponential(jax.random.key(0), (2000,))
      >>> float(pareto_khat(z)) < 0.5   # light tail
      True
    """
    z = as_float(z)
    n = z.shape[0]
    M = min(tail_size(n), n - 1)
    h = jnp.sum(z > 0)
    hf = h.astype(DTYPE)
    m_h = jnp.maximum(5, jnp.floor(jnp.minimum(hf / 5.0, 3.0 * jnp.sqrt(hf)))).astype(jnp.int32)
    count = jnp.where(h >= M + 1, M, jnp.minimum(m_h, M))
    top = jnp.sort(z)[n - M - 1 :]  # top[M - count] is the threshold u
    u = top[M - count]
    x = jnp.maximum(top[1:] - u, 0.0)
    ok = (h >= count + 1) & (x[-1] > 0)
    # a degenerate tail has no excess: evaluate on a harmless dummy
    safe = jnp.where(ok, x, jnp.linspace(1e-3, 1.0, M))
    k, _ = gpd_fit(safe, count)
    k = jnp.where(jnp.isnan(k), jnp.inf, k)  # a fit that fails numerically is no evidence of a light tail
    return jnp.where(ok, k, jnp.where(h >= count + 1, 0.0, jnp.inf))
