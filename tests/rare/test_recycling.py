"""Recycled CE training: the balance-heuristic density of the stages so far.

Oracle: each stage mixture's density computed by brute force in NumPy (product of
table entries summed over components) and mixed with weights ``n_s / N``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcert.rare import ProductSpace, estimate
from jaxcert.rare.mixture import defensive_of
from jaxcert.rare.proposal import Mixture, Proposal, proposal_from_probs
from jaxcert.rare.recycling import TrainingPool, default_smoothing, pooled_mixture

SIZES = (3, 4, 2)


def _random_proposal(rng):
    probs = np.zeros((len(SIZES), max(SIZES)))
    for j, k in enumerate(SIZES):
        probs[j, :k] = rng.dirichlet(np.ones(k))
    return proposal_from_probs(SIZES, jnp.asarray(probs))


def _density_np(mix: Mixture, X):
    probs, w = np.asarray(mix.components.probs), np.asarray(mix.weights)
    out = np.zeros(len(X))
    for m in range(len(w)):
        out += w[m] * np.prod([probs[m, j, X[:, j]] for j in range(X.shape[1])], axis=0)
    return out


def _grid():
    return ProductSpace(SIZES).enumerate()


def test_pooled_mixture_is_the_size_weighted_sum_of_stage_densities():
    rng = np.random.default_rng(0)
    mixes = [defensive_of(_random_proposal(rng), 0.1) for _ in range(3)]
    sizes = [50, 50, 200]
    X = _grid()
    got = _density_np(pooled_mixture(mixes, sizes), X)
    want = sum(n * _density_np(m, X) for n, m in zip(sizes, mixes, strict=True)) / sum(sizes)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(got.sum(), 1.0, rtol=1e-12)  # a density on the grid


def test_training_pool_masks_empty_slots_and_matches_the_oracle():
    rng = np.random.default_rng(1)
    pool = TrainingPool(stages=3, batch_size=5, dims=len(SIZES))
    mixes = [defensive_of(_random_proposal(rng), 0.2) for _ in range(2)]
    draws = []
    for mix in mixes:
        X = np.stack([rng.integers(0, k, 5) for k in SIZES], 1)
        valid = np.array([True, True, False, True, True])
        pool.add(mix, X, rng.uniform(size=5), valid)
        draws.append(X)
    X, scores, log_q, mask = pool.arrays()
    assert X.shape == (15, 3) and scores.shape == log_q.shape == mask.shape == (15,)
    assert not mask[10:].any() and not mask[2] and not mask[7] and mask[[0, 1, 3, 4, 5]].all()
    filled = np.concatenate(draws)
    want = 0.5 * _density_np(mixes[0], filled) + 0.5 * _density_np(mixes[1], filled)
    np.testing.assert_allclose(np.exp(log_q[:10]), want, rtol=1e-12)
    assert np.isfinite(log_q).all()


def test_training_pool_keeps_mixture_components():
    # a 2-component CE mixture plus the defensive part: 3 components per stage slot
    rng = np.random.default_rng(2)
    comps = [_random_proposal(rng) for _ in range(2)]
    ce = Mixture(Proposal(jnp.stack([c.probs for c in comps]), jnp.stack([c.mask for c in comps])),
                 jnp.asarray([0.3, 0.7]))
    mix = defensive_of(ce, 0.1)
    pool = TrainingPool(stages=2, batch_size=4, dims=3)
    X = _grid()[:4]
    pool.add(mix, X, np.ones(4), np.ones(4, bool))
    _, _, log_q, _ = pool.arrays()
    np.testing.assert_allclose(np.exp(log_q[:4]), _density_np(mix, X), rtol=1e-12)


SPACE = ProductSpace((6,) * 4)


def _evaluate(X):
    return ((X >= 4).sum(1) >= 3) * 1.0


@pytest.mark.slow  # three end-to-end runs on a new space: ~20 s of compilation
def test_recycle_default_and_off_switch():
    kw = dict(batch_size=100, stages=4)
    off = estimate(jax.random.key(3), SPACE, _evaluate, 2000, recycle=False, **kw)
    off_explicit = estimate(jax.random.key(3), SPACE, _evaluate, 2000, recycle=False, smoothing=0.5, **kw)
    on = estimate(jax.random.key(3), SPACE, _evaluate, 2000, **kw)
    assert default_smoothing(False) == 0.5 and default_smoothing(True) == 0.7
    assert off.estimate == off_explicit.estimate  # recycle=False is the previous engine
    assert not np.allclose(np.asarray(on.proposal.probs), np.asarray(off.proposal.probs))
    # the history counts each stage's own draws even when the update pooled them:
    # training failures + fresh-stage failures = every failure seen (0/1 outcomes)
    assert sum(h["num_failures"] for h in on.history) + on.estimation_failures == on.failures_seen > 0


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_smoothing_is_still_validated(bad):
    with pytest.raises(ValueError, match="smoothing"):
        estimate(jax.random.key(0), SPACE, _evaluate, 2000, smoothing=bad)


def test_recycle_must_be_a_bool():
    with pytest.raises(ValueError, match="recycle must be True or False"):
        estimate(jax.random.key(0), SPACE, _evaluate, 2000, recycle="no")
