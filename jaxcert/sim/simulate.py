"""Simulating the six sufficient statistics directly: O(1) per replicate, whatever N.

Model: each calibration item has ``Y ~ Bernoulli(theta)`` and a judge verdict
``J | Y ~ Bernoulli(s if Y else r)``; each judge-only item has ``J ~ Bernoulli(q)``,
``q = theta s + (1 - theta) r``. The counts are sufficient, so a replicate is::

    (n11, n10, n01, n00) ~ Multinomial(n; theta s, theta (1-s), (1-theta) r, (1-theta)(1-r))
    m1 ~ Binomial(N, q),  m0 = N - m1

The multinomial is drawn as the exact chain of binomials ``Y1 ~ Bin(n, theta)``,
``n11 ~ Bin(Y1, s)``, ``n01 ~ Bin(n - Y1, r)`` with
``numpyro.distributions.BinomialProbs``, whose sampler (BTRS rejection for
``n p >= 10``, geometric inversion below) costs O(1) expected work whatever ``n``
or ``N`` (checked at N = 1e6) and accepts a *traced* ``total_count``, so ``n`` and
``N`` are traced scenario parameters inside ``vmap``. ``numpyro.distributions.
Multinomial`` is not used: it draws ``total_count_max`` categoricals per sample
(O(n)) and needs that maximum as a static Python integer under tracing.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpyro.distributions as dist

from jaxcert._numerics import as_float
from jaxcert.counts import Counts

__all__ = ["simulate_counts", "cell_probabilities"]


def cell_probabilities(theta, tpr, fpr):
    """Cell probabilities ``(p11, p10, p01, p00)`` and judge-positive rate ``q``."""
    theta, tpr, fpr = as_float(theta), as_float(tpr), as_float(fpr)
    p = jnp.stack([theta * tpr, theta * (1 - tpr), (1 - theta) * fpr, (1 - theta) * (1 - fpr)], -1)
    return p, theta * tpr + (1 - theta) * fpr


def _binomial(key, total, p):
    p = jnp.clip(p, 0.0, 1.0)
    return dist.BinomialProbs(p, total_count=total).sample(key)


def _simulate_one(key, theta, tpr, fpr, n, N):
    n = jnp.round(as_float(n)).astype(jnp.int64)
    N = jnp.round(as_float(N)).astype(jnp.int64)
    k1, k2, k3, k4 = jax.random.split(key, 4)
    y1 = _binomial(k1, n, theta)
    n11 = _binomial(k2, y1, tpr)
    n01 = _binomial(k3, n - y1, fpr)
    m1 = _binomial(k4, N, theta * tpr + (1 - theta) * fpr)
    return Counts(*(as_float(v) for v in (n11, y1 - n11, n01, n - y1 - n01, m1, N - m1)))


def simulate_counts(key, theta, tpr, fpr, n, N) -> Counts:
    """Draws one set of counts per batch element (pure; jit/vmap-able; all args traced).

    Args:
      key: PRNG key (one key; split over the batch).
      theta: true failure rate, float array ``(...)``.
      tpr, fpr: true judge TPR ``s`` and FPR ``r``, ``(...)``.
      n: calibration size (integer-valued), ``(...)``.
      N: judge-only size (integer-valued, may be 0), ``(...)``.

    Returns:
      :class:`~jaxcert.Counts` with float64 fields of the broadcast shape ``(...)``.

    Example:
      >>> import jax
      >>> c = simulate_counts(jax.random.key(0), 0.1, 0.9, 0.05, 100, 10_000)
      >>> float(c.n), float(c.N)
      (100.0, 10000.0)
    """
    args = jnp.broadcast_arrays(*(as_float(v) for v in (theta, tpr, fpr, n, N)))
    shape = args[0].shape
    flat = [a.reshape(-1) for a in args]
    keys = jax.random.split(key, max(flat[0].shape[0], 1))[: flat[0].shape[0]]
    out = jax.vmap(_simulate_one)(keys, *flat)
    return Counts(*(f.reshape(shape) for f in out))


def simulate_one(key, theta, tpr, fpr, n, N) -> Counts:
    """Unbatched :func:`simulate_counts` (scalar arguments): the runner's kernel."""
    return _simulate_one(key, theta, tpr, fpr, n, N)
