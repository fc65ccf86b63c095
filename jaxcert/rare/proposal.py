"""Product-of-categoricals proposals and defensive mixtures.

A :class:`Proposal` is ``q(x) = prod_j q_j(x_j)``, stored as a padded table
``probs[j, k] = q_j(k)`` of shape ``(d, K_max)`` with a boolean ``mask[j, k] = k < K_j``
(padded cells hold probability 0 and are never sampled). The padded layout makes the
CEM update a one-hot weighted sum (a segment-sum over categories) that vmaps cleanly.

Defensive mixture (Hesterberg 1995)
-----------------------------------
``q_l = l p0 + (1 - l) q`` with ``p0`` uniform on the full product. For any ``x``,
``q_l(x) >= l p0(x)``, hence the importance weight satisfies

    w(x) = p0(x) / q_l(x) <= p0(x) / (l p0(x)) = 1 / l,

whatever ``q`` is. :func:`weight_bound` computes the sharper, still certain,
``sup_x p0 / q_mix <= 1 / sum_m a_m prod_j K_j min_k q_mj(k)`` (min of a sum >= sum
of mins; exact for ``l p0 + (1 - l) q``: ``1 / (l + (1 - l) prod_j K_j min_k q_j(k))``),
which is 1 when ``q`` stayed uniform. For a general :class:`Mixture` ``q_mix = sum_m a_m q_m`` with a
uniform component of weight ``a_0``, the same argument gives ``w <= 1 / a_0``. Weights
must always be computed with the FULL mixture density (:func:`mixture_log_prob`,
the balance-heuristic / deterministic-mixture weight), never with the density of the
component that happened to produce the draw.

Floor
-----
:func:`apply_floor` maps ``q_j -> f + (1 - K_j f) q_j`` (a mix with the uniform
distribution on variable ``j``), so every probability is ``>= f > 0`` and sums stay 1
(requires ``f < 1 / K_j``; larger ``f`` is clipped to ``1 / K_j``, the uniform).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from jaxcert._numerics import DTYPE, as_float

__all__ = [
    "Proposal",
    "Mixture",
    "uniform_proposal",
    "proposal_from_probs",
    "apply_floor",
    "sample",
    "mixture_sample_components",
    "log_prob",
    "log_nominal",
    "defensive_mixture",
    "mixture_sample",
    "mixture_log_prob",
    "log_weights",
    "weight_bound",
]


class Proposal(NamedTuple):
    """Product of categoricals (a pytree of arrays; may carry leading batch axes).

    Attributes:
      probs: float64 ``(..., d, K_max)``, ``probs[j, k] = q_j(k)``; 0 on padding.
      mask: bool ``(..., d, K_max)``, True where ``k < K_j``.
    """

    probs: jax.Array
    mask: jax.Array


class Mixture(NamedTuple):
    """Mixture ``sum_m weights[m] * components[m]``.

    Attributes:
      components: a :class:`Proposal` whose arrays have a leading axis ``M``.
      weights: float64 ``(M,)`` mixture weights summing to 1.
    """

    components: Proposal
    weights: jax.Array


def _sizes_of(space_or_sizes):
    sizes = getattr(space_or_sizes, "sizes", space_or_sizes)
    return tuple(int(k) for k in np.asarray(sizes).tolist())


def uniform_proposal(space_or_sizes) -> Proposal:
    """The uniform proposal ``p0`` on the full product of a space (or of ``sizes``)."""
    sizes = _sizes_of(space_or_sizes)
    K = max(sizes)
    mask = np.arange(K)[None, :] < np.asarray(sizes)[:, None]
    probs = mask / np.asarray(sizes, dtype=float)[:, None]
    return Proposal(jnp.asarray(probs, DTYPE), jnp.asarray(mask))


def proposal_from_probs(space_or_sizes, probs) -> Proposal:
    """Builds a proposal from per-variable probability rows (padded or ragged list).

    Rows are renormalised; padded cells are zeroed.
    """
    base = uniform_proposal(space_or_sizes)
    if isinstance(probs, (list, tuple)):
        K = base.mask.shape[-1]
        probs = np.stack([np.pad(np.asarray(p, float), (0, K - len(p))) for p in probs])
    p = jnp.where(base.mask, as_float(probs), 0.0)
    return Proposal(p / p.sum(-1, keepdims=True), base.mask)


def apply_floor(proposal: Proposal, floor) -> Proposal:
    """Floors every probability: ``q_j <- f + (1 - K_j f) q_j`` (``f`` traced, clipped to ``1/K_j``)."""
    sizes = proposal.mask.sum(-1, keepdims=True)
    f = jnp.minimum(as_float(floor), 1.0 / sizes)
    p = f + (1.0 - sizes * f) * proposal.probs
    return Proposal(jnp.where(proposal.mask, p, 0.0), proposal.mask)


def sample(key: jax.Array, proposal: Proposal, num: int) -> jax.Array:
    """Draws ``num`` inputs, an int64 ``(num, d)`` array (``num`` static)."""
    logits = jnp.where(proposal.mask, jnp.log(proposal.probs), -jnp.inf)
    return jax.random.categorical(key, logits, axis=-1, shape=(num,) + logits.shape[:-1]).astype(jnp.int64)


def log_prob(proposal: Proposal, X) -> jax.Array:
    """``log q(x)`` for a batch ``X`` of shape ``(B, d)``; returns ``(B,)`` float64."""
    X = jnp.asarray(X)
    lp = jnp.log(proposal.probs)  # -inf on padding; never indexed for valid X
    d = lp.shape[-2]
    return jnp.sum(lp[jnp.arange(d)[None, :], X], axis=-1)


def log_nominal(proposal_or_mask, X=None):
    """``log p0`` (uniform on the full product): ``-sum_j log K_j`` (scalar)."""
    mask = getattr(proposal_or_mask, "mask", proposal_or_mask)
    return -jnp.sum(jnp.log(mask.sum(-1).astype(DTYPE)))


def defensive_mixture(proposal: Proposal, defensive) -> Mixture:
    """``q_l = l p0 + (1 - l) q`` as a two-component :class:`Mixture` (``l`` traced)."""
    u = Proposal(jnp.where(proposal.mask, 1.0 / proposal.mask.sum(-1, keepdims=True), 0.0), proposal.mask)
    comps = jax.tree.map(lambda a, b: jnp.stack([a, b]), u, proposal)
    lam = as_float(defensive)
    return Mixture(comps, jnp.stack([lam, 1.0 - lam]))


def mixture_sample(key: jax.Array, mixture: Mixture, num: int) -> jax.Array:
    """Draws ``num`` inputs from a mixture: component ``m ~ weights``, then ``x ~ q_m``."""
    return mixture_sample_components(key, mixture, num)[0]


def mixture_sample_components(key: jax.Array, mixture: Mixture, num: int):
    """:func:`mixture_sample` that also returns each draw's component index ``(num,)``.

    Draws whose component is the nominal ``p0`` (index 0 of a
    :func:`defensive_mixture`) are i.i.d. uniform inputs, usable on their own.
    """
    k_comp, k_x = jax.random.split(key)
    M = mixture.weights.shape[0]
    comp = jax.random.choice(k_comp, M, shape=(num,), p=mixture.weights)
    per = jax.vmap(lambda k, p: sample(k, p, num))(jax.random.split(k_x, M), mixture.components)
    return per[comp, jnp.arange(num)], comp


def mixture_log_prob(mixture: Mixture, X) -> jax.Array:
    """FULL mixture density ``log sum_m a_m q_m(x)``, ``(B,)`` float64.

    This is the balance-heuristic (deterministic-mixture) density: importance weights
    ``p0 / q_mix`` computed with it are unbiased whether draws come from the random
    mixture or from the components in fixed proportions ``a_m``.
    """
    lps = jax.vmap(lambda p: log_prob(p, X))(mixture.components)  # (M, B)
    return logsumexp(lps + jnp.log(mixture.weights)[:, None], axis=0)


def log_weights(mixture_or_proposal, X) -> jax.Array:
    """Log importance weights ``log p0(x) - log q(x)`` for a proposal or mixture."""
    if isinstance(mixture_or_proposal, Mixture):
        lq = mixture_log_prob(mixture_or_proposal, X)
        mask = mixture_or_proposal.components.mask[0]
    else:
        lq = log_prob(mixture_or_proposal, X)
        mask = mixture_or_proposal.mask
    return log_nominal(mask) - lq


def weight_bound(mixture_or_proposal) -> jax.Array:
    """Certain upper bound on ``p0(x) / q(x)`` over all ``x`` (``<= 1/l`` for a defensive mixture).

    ``1 / sum_m a_m prod_j (K_j min_k q_mj(k))``, where each product is the minimum
    over ``x`` of ``q_m(x) / p0(x)`` for a product proposal.
    """
    if isinstance(mixture_or_proposal, Proposal):
        mixture_or_proposal = Mixture(jax.tree.map(lambda a: a[None], mixture_or_proposal), jnp.ones(1, DTYPE))
    comps = mixture_or_proposal.components
    sizes = comps.mask.sum(-1).astype(DTYPE)  # (M, d)
    min_q = jnp.min(jnp.where(comps.mask, comps.probs, jnp.inf), axis=-1)  # (M, d)
    min_ratio = jnp.exp(jnp.sum(jnp.log(sizes * min_q), axis=-1))  # (M,)
    return 1.0 / jnp.sum(mixture_or_proposal.weights * min_ratio)
