"""Mixture-of-products CE: EM monotonicity, weight bound, two separate corners."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxcert  # noqa: F401
from jaxcert.rare import mixture as MX
from jaxcert.rare import proposal as P

SIZES = (6, 6, 6, 6)


def two_corners(X):
    """Failure probability 1 at (0,0,0,0) and (5,5,5,5), decaying by 1/3 per step away."""
    X = jnp.asarray(X)
    a = jnp.prod(jnp.where(X == 0, 1.0, 0.3 ** X), axis=-1)
    b = jnp.prod(jnp.where(X == 5, 1.0, 0.3 ** (5 - X)), axis=-1)
    return jnp.clip(a + b, 0.0, 1.0)


def test_em_step_increases_weighted_log_likelihood():
    mix = MX.init_mixture(jax.random.key(0), SIZES, 3)
    X = P.sample(jax.random.key(1), P.uniform_proposal(SIZES), 400)
    omega = two_corners(X) / jnp.sum(two_corners(X))
    ll = [float(MX.weighted_log_likelihood(mix, X, omega))]
    for _ in range(6):
        mix = MX._em_step(mix, X, omega)
        ll.append(float(MX.weighted_log_likelihood(mix, X, omega)))
    assert np.all(np.diff(ll) >= -1e-10), ll


def test_defensive_of_bounds_weights_and_matches_two_component_form():
    mix = MX.init_mixture(jax.random.key(0), SIZES, 2)
    d = MX.defensive_of(mix, 0.2)
    assert float(P.weight_bound(d)) <= 1 / 0.2 + 1e-12
    prod = P.uniform_proposal(SIZES)._replace(probs=mix.components.probs[0])
    X = P.sample(jax.random.key(2), prod, 50)
    np.testing.assert_allclose(P.mixture_log_prob(MX.defensive_of(prod, 0.3), X),
                               P.mixture_log_prob(P.defensive_mixture(prod, 0.3), X), rtol=1e-12)


def exact_variance(ce, F, X):
    """Per-draw variance of F w under l p0 + (1 - l) ce, by enumeration."""
    lq = P.mixture_log_prob(MX.defensive_of(ce, 0.1), X)
    p0 = 1.0 / X.shape[0]
    return float(jnp.sum(p0**2 * F**2 / jnp.exp(lq)) - jnp.mean(F) ** 2)


def train(ce, update, key, stages=8, batch=200):
    for k in jax.random.split(key, stages):
        mix = MX.defensive_of(ce, 0.1)
        X = P.mixture_sample(k, mix, batch)
        S = two_corners(X)
        ce = update(ce, X, S, P.mixture_log_prob(mix, X))
    return ce


@pytest.mark.slow
def test_mixture_covers_two_separate_corners_better_than_a_product():
    from jaxcert.rare.cem import cem_update

    X = jnp.asarray(np.stack(np.unravel_index(np.arange(6**4), SIZES), axis=1))
    F = two_corners(X)
    ones = jnp.ones(200, bool)
    mix = train(MX.init_mixture(jax.random.key(0), SIZES, 2),
                lambda c, X, S, lq: MX.mixture_cem_update(c, X, S, lq, ones, 1.0, 0.7, 1e-3, 1.0)[0], jax.random.key(1))
    prod = train(P.uniform_proposal(SIZES),
                 lambda c, X, S, lq: cem_update(c, X, S, lq, ones, 1.0, 0.7, 1e-3, 1.0)[0], jax.random.key(1))
    v_mix, v_prod = exact_variance(mix, F, X), exact_variance(prod, F, X)
    assert v_mix < 0.5 * v_prod, (v_mix, v_prod)
    modes = {tuple(np.argmax(np.asarray(mix.components.probs[k]), axis=-1)) for k in range(2)}
    assert modes == {(0, 0, 0, 0), (5, 5, 5, 5)}


def test_update_keeps_mixture_when_no_score_is_positive():
    mix = MX.init_mixture(jax.random.key(0), SIZES, 2)
    X = P.sample(jax.random.key(1), P.uniform_proposal(SIZES), 50)
    new, upd = MX.mixture_cem_update(mix, X, jnp.zeros(50), jnp.zeros(50), jnp.ones(50, bool), 1.0, 0.7, 1e-3, 0.5)
    assert not bool(upd)
    np.testing.assert_array_equal(new.components.probs, mix.components.probs)


@pytest.mark.parametrize("K", [1, 3])
def test_init_mixture_shapes(K):
    mix = MX.init_mixture(jax.random.key(0), [3, 5], K)
    assert mix.components.probs.shape == (K, 2, 5) and float(jnp.sum(mix.weights)) == pytest.approx(1.0)
    np.testing.assert_allclose(np.asarray(mix.components.probs).sum(-1), 1.0, rtol=1e-12)
