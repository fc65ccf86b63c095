"""Tests for jaxcert.rare.proposal: densities, sampling, floor, defensive weights."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxcert  # noqa: F401
from jaxcert.rare import ProductSpace
from jaxcert.rare import proposal as P

SIZES = (2, 3, 5)  # unequal sizes exercise the padding mask
SPACE = ProductSpace(SIZES)
X_ALL = jnp.asarray(SPACE.enumerate())
ATOL = 1e-12

_log_prob = jax.jit(P.log_prob)
_mix_log_prob = jax.jit(P.mixture_log_prob)
_log_weights = jax.jit(P.log_weights)


def random_proposal(key, sizes=SIZES, sharp=3.0):
    logits = sharp * jax.random.normal(key, (len(sizes), max(sizes)))
    mask = P.uniform_proposal(sizes).mask
    probs = jnp.where(mask, jnp.exp(logits), 0.0)
    return P.Proposal(probs / probs.sum(-1, keepdims=True), mask)


def test_uniform_proposal_is_p0():
    u = P.uniform_proposal(SPACE)
    np.testing.assert_allclose(np.exp(_log_prob(u, X_ALL)), 1.0 / SPACE.size, rtol=1e-14)
    assert float(P.log_nominal(u)) == pytest.approx(-np.log(SPACE.size), abs=ATOL)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_log_prob_sums_to_one_exhaustively(seed):
    q = random_proposal(jax.random.key(seed))
    assert float(jnp.exp(_log_prob(q, X_ALL)).sum()) == pytest.approx(1.0, abs=ATOL)
    mix = P.defensive_mixture(q, 0.3)
    assert float(jnp.exp(_mix_log_prob(mix, X_ALL)).sum()) == pytest.approx(1.0, abs=ATOL)
    # brute-force oracle of the product density
    probs = np.asarray(q.probs)
    brute = np.array([np.prod([probs[j, x[j]] for j in range(3)]) for x in np.asarray(X_ALL)])
    np.testing.assert_allclose(np.exp(_log_prob(q, X_ALL)), brute, rtol=1e-13)


def test_three_component_mixture_density_is_weighted_sum():
    qs = [random_proposal(jax.random.key(s)) for s in range(3)]
    comps = jax.tree.map(lambda *a: jnp.stack(a), *qs)
    w = jnp.array([0.2, 0.5, 0.3])
    mix = P.Mixture(comps, w)
    brute = sum(float(w[m]) * np.exp(np.asarray(_log_prob(qs[m], X_ALL))) for m in range(3))
    np.testing.assert_allclose(np.exp(_mix_log_prob(mix, X_ALL)), brute, rtol=1e-13)


def test_weights_bounded_by_inverse_defensive_weight_property():
    """Property over many random (sharp) proposals and lambdas: p0/q_l <= weight_bound <= 1/l."""
    keys = jax.random.split(jax.random.key(7), 64)
    lams = jnp.linspace(0.01, 1.0, 64)

    def check(k, lam):
        q = random_proposal(k, sharp=8.0)
        mix = P.defensive_mixture(q, lam)
        lw = P.log_weights(mix, X_ALL)
        return jnp.max(lw), jnp.log(P.weight_bound(mix)), -jnp.log(lam)

    max_lw, log_b, log_inv_lam = jax.vmap(check)(keys, lams)
    assert np.all(np.asarray(max_lw) <= np.asarray(log_b) + 1e-12)
    assert np.all(np.asarray(log_b) <= np.asarray(log_inv_lam) + 1e-12)
    # the bound is attained for a 2-component defensive mixture (it is exact)
    np.testing.assert_allclose(max_lw, log_b, atol=1e-10)


def test_floor_keeps_support_and_normalisation():
    degenerate = P.proposal_from_probs(SPACE, [[1, 0], [0, 1, 0], [0, 0, 0, 0, 1]])
    f = 1e-3
    q = P.apply_floor(degenerate, f)
    probs, mask = np.asarray(q.probs), np.asarray(q.mask)
    assert np.all(probs[mask] >= f - 1e-15) and np.all(probs[~mask] == 0)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=ATOL)
    assert np.all(np.isfinite(_log_prob(q, X_ALL)))
    # floor larger than 1/K_j is clipped to the uniform on that variable
    u = P.apply_floor(degenerate, 0.6)
    np.testing.assert_allclose(np.asarray(u.probs)[0, :2], [0.5, 0.5], atol=ATOL)


def test_sampling_frequencies_match_density():
    q = P.defensive_mixture(random_proposal(jax.random.key(3), sharp=1.0), 0.25)
    n = 200_000
    X = jax.jit(P.mixture_sample, static_argnames="num")(jax.random.key(11), q, num=n)
    assert X.shape == (n, 3) and X.dtype == jnp.int64
    counts = np.bincount(SPACE.ravel(np.asarray(X)), minlength=SPACE.size)
    p = np.exp(np.asarray(_mix_log_prob(q, X_ALL)))
    se = np.sqrt(p * (1 - p) / n)
    assert np.all(np.abs(counts / n - p) <= 5 * se + 1e-9)


def test_product_sampling_marginals():
    q = random_proposal(jax.random.key(4), sharp=1.0)
    n = 100_000
    X = np.asarray(jax.jit(P.sample, static_argnames="num")(jax.random.key(5), q, num=n))
    for j, K in enumerate(SIZES):
        freq = np.bincount(X[:, j], minlength=K) / n
        p = np.asarray(q.probs)[j, :K]
        assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / n) + 1e-9)


def test_mixture_components_label_the_nominal_draws():
    # draws labelled component 0 of a defensive mixture must be uniform over the space
    # (the uniform-draws certificate relies on it); component 1 follows the proposal
    q_ce = random_proposal(jax.random.key(6), sharp=3.0)
    q = P.defensive_mixture(q_ce, 0.3)
    n = 120_000
    X, comp = jax.jit(P.mixture_sample_components, static_argnames="num")(jax.random.key(12), q, num=n)
    X, comp = np.asarray(X), np.asarray(comp)
    assert np.array_equal(X, np.asarray(jax.jit(P.mixture_sample, static_argnames="num")(
        jax.random.key(12), q, num=n)))  # same stream as mixture_sample
    n0 = int(np.sum(comp == 0))
    assert abs(n0 / n - 0.3) <= 5 * np.sqrt(0.3 * 0.7 / n)
    for c, probs in ((0, P.uniform_proposal(SIZES).probs), (1, q_ce.probs)):
        cells = np.bincount(SPACE.ravel(X[comp == c]), minlength=SPACE.size)
        expected = np.exp(np.asarray(_log_prob(P.Proposal(probs, q_ce.mask), X_ALL)))
        m = int(np.sum(comp == c))
        se = np.sqrt(expected * (1 - expected) / m)
        assert np.all(np.abs(cells / m - expected) <= 5 * se + 1e-9), c
