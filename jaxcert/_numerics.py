"""Numerics in one place: float64, log-space helpers, clamps and quantiles.

jaxcert enables ``jax_enable_x64`` when it is imported (see ``jaxcert/__init__.py``):
failure rates near 1e-5 and binomial tails at n = 1e6 are not computable in float32
(float32 ``betainc`` is off by ~4% at n = 1e6). Every constant and clamp used by the
library lives here so that a change of tolerance is one edit.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.special import ndtri, xlog1py, xlogy

__all__ = [
    "DTYPE",
    "TINY",
    "PROB_EPS",
    "as_float",
    "clip_prob",
    "xlogy",
    "xlog1py",
    "bernoulli_kl",
    "normal_quantile",
    "chi2_1_quantile",
]

DTYPE = jnp.float64
#: Smallest positive value used to keep logs finite.
TINY = 1e-300
#: Distance from 0 and 1 at which probabilities are clamped inside solvers.
PROB_EPS = 1e-12


def as_float(x) -> jax.Array:
    """Converts ``x`` to a float64 JAX array."""
    if isinstance(x, jax.Array) and x.dtype == DTYPE:
        return x  # already one: a conversion is a dispatch (~10-90 us) per field
    return jnp.asarray(x, dtype=DTYPE)


def bernoulli_kl(p, u) -> jax.Array:
    """Bernoulli KL divergence ``KL(p || u)`` (0 log 0 = 0; ``inf`` where ``u`` excludes ``p``)."""
    return xlogy(p, p / u) + xlogy(1.0 - p, (1.0 - p) / (1.0 - u))


def clip_prob(p, eps: float = PROB_EPS) -> jax.Array:
    """Clamps probabilities into ``[eps, 1 - eps]``."""
    return jnp.clip(p, eps, 1.0 - eps)


def normal_quantile(p) -> jax.Array:
    """Standard normal quantile ``Phi^{-1}(p)`` (float64)."""
    return ndtri(as_float(p))


def chi2_1_quantile(p) -> jax.Array:
    """Quantile of the chi-square distribution with one degree of freedom.

    ``chi2_1^{-1}(p) = Phi^{-1}((1 + p) / 2)^2``.
    """
    return normal_quantile((1.0 + as_float(p)) / 2.0) ** 2
