"""Mixture-of-products proposals: CE for failures in several separate corners.

A product of categoricals puts mass on the product of the per-variable marginals of
the failure region: when failures sit in two corners ``(a, a, ...)`` and ``(b, b, ...)``
it also samples the mixed corners ``(a, b, ...)`` where nothing fails, and the best
product proposal is poor. A mixture ``q(x) = sum_k pi_k prod_j q_kj(x_j)`` can hold each
corner in its own component.

CE update (the same target as :mod:`jaxcert.rare.cem`: ``g ∝ p0 S^power``): the training
weights ``omega_i = (p0 / q_t)(x_i) S_i^power`` (normalised) define a weighted sample of
``g``, and the update is the weighted maximum-likelihood mixture, found by
``em_steps`` EM iterations started from the current mixture (which also keeps the
component labels stable across stages):

    E:  r_ik = pi_k q_k(x_i) / sum_m pi_m q_m(x_i)
    M:  pi_k = sum_i omega_i r_ik,    q_kj(c) = sum_i omega_i r_ik 1[x_ij = c] / pi_k

followed by the smoothing ``theta <- a theta_new + (1 - a) theta_old`` of every table
and of ``pi``, the probability floor on each component, and a floor
``pi_k >= min_weight`` so no component dies before it can find a corner. EM increases
the weighted log-likelihood at every step (Dempster, Laird, Rubin 1977); a test checks it.

Estimation weights always use the FULL defensive mixture density
``l p0 + (1 - l) sum_k pi_k q_k`` (:func:`defensive_of`), so they stay ``<= 1/l``.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp

from jaxcert._numerics import DTYPE, as_float
from jaxcert.rare.cem import training_log_weights
from jaxcert.rare.proposal import Mixture, Proposal, apply_floor, log_prob, uniform_proposal

__all__ = ["init_mixture", "defensive_of", "mixture_cem_update", "weighted_log_likelihood"]


def init_mixture(key: jax.Array, space_or_sizes, num_components: int, spread=1.0) -> Mixture:
    """``num_components`` products with random tables near uniform, equal weights.

    The random start breaks the symmetry between components (identical components
    would stay identical under EM).
    """
    u = uniform_proposal(space_or_sizes)
    noise = jax.random.gumbel(key, (num_components,) + u.probs.shape) * as_float(spread)
    p = jnp.where(u.mask, jnp.exp(noise), 0.0)
    p = p / p.sum(-1, keepdims=True)
    mask = jnp.broadcast_to(u.mask, p.shape)
    return Mixture(Proposal(p, mask), jnp.full((num_components,), 1.0 / num_components, DTYPE))


def defensive_of(ce, defensive) -> Mixture:
    """``l p0 + (1 - l) ce`` for a product or a mixture ``ce``, as one flat :class:`Mixture`."""
    if isinstance(ce, Proposal):
        ce = Mixture(jax.tree.map(lambda a: a[None], ce), jnp.ones(1, DTYPE))
    comps = ce.components
    u = jnp.where(comps.mask[0], 1.0 / comps.mask[0].sum(-1, keepdims=True), 0.0)
    probs = jnp.concatenate([u[None], comps.probs])
    mask = jnp.concatenate([comps.mask[:1], comps.mask])
    lam = as_float(defensive)
    return Mixture(Proposal(probs, mask), jnp.concatenate([lam[None], (1.0 - lam) * ce.weights]))


def _component_log_probs(mixture: Mixture, X):
    lps = jax.vmap(lambda p: log_prob(p, X))(mixture.components)  # (M, B)
    return lps + jnp.log(mixture.weights)[:, None]


def weighted_log_likelihood(mixture: Mixture, X, omega) -> jax.Array:
    """``sum_i omega_i log q(x_i)`` (the objective EM increases)."""
    return jnp.sum(omega * logsumexp(_component_log_probs(mixture, X), axis=0))


def _em_step(mixture: Mixture, X, omega):
    lp = _component_log_probs(mixture, X)
    r = jnp.exp(lp - logsumexp(lp, axis=0, keepdims=True))  # (M, B)
    wr = r * omega[None, :]
    pi = jnp.sum(wr, axis=1)
    K = mixture.components.probs.shape[-1]
    onehot = jax.nn.one_hot(X, K, dtype=DTYPE)  # (B, d, K)
    counts = jnp.einsum("mb,bdk->mdk", wr, onehot)
    tables = counts / jnp.maximum(pi, 1e-300)[:, None, None]
    # a component with no responsibility keeps its table
    tables = jnp.where(pi[:, None, None] > 0, tables, mixture.components.probs)
    return Mixture(Proposal(tables, mixture.components.mask), pi / jnp.sum(pi))


@partial(jax.jit, static_argnames=("em_steps",))
def mixture_cem_update(mixture: Mixture, X, scores, log_q, mask, rho, smoothing, floor, power,
                       min_ess=0.1, min_weight=1e-2, em_steps: int = 5):
    """One CE update of a mixture of products from draws ``X`` with density ``log_q``.

    Args:
      mixture: current :class:`Mixture` (components ``(M, d, K_max)``).
      X: int ``(B, d)``; scores: ``(B,)`` in ``[0, 1]``; log_q: ``(B,)`` log density of
        the sampling distribution; mask: bool ``(B,)`` draws to use.
      rho, smoothing, floor, power, min_ess: as :func:`jaxcert.rare.cem.cem_step` (traced).
      min_weight: floor of each component weight (traced); em_steps: static.

    Returns:
      ``(new_mixture, updated)``; the mixture is kept when no score is positive.
    """
    log_w, elite, _ = training_log_weights(mixture.components.mask[0], scores, log_q, mask, rho, power,
                                          min_ess)
    w = jnp.exp(log_w - jnp.max(jnp.where(elite, log_w, -1e300)))
    w = jnp.where(elite, w, 0.0)
    total = jnp.sum(w)
    updated = total > 0
    omega = w / jnp.where(updated, total, 1.0)
    X = jnp.asarray(X)
    new = jax.lax.fori_loop(0, em_steps, lambda _, m: _em_step(m, X, omega), mixture)
    a = as_float(smoothing)
    tables = a * new.components.probs + (1.0 - a) * mixture.components.probs
    pi = a * new.weights + (1.0 - a) * mixture.weights
    pi = jnp.maximum(pi, as_float(min_weight))
    comps = apply_floor(Proposal(jnp.where(mixture.components.mask, tables, 0.0), mixture.components.mask), floor)
    out = Mixture(comps, pi / jnp.sum(pi))
    out = jax.tree.map(lambda n, o: jnp.where(updated, n, o), out, mixture)
    return out, updated
