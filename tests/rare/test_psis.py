"""Pareto k-hat: the JAX Zhang-Stephens fit vs an independent NumPy version and scipy's MLE."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import jaxcert  # noqa: F401
from jaxcert.rare.psis import gpd_fit, pareto_khat, tail_size


def zhang_stephens_numpy(x, prior=True):
    """Zhang & Stephens (2009) estimate written from the paper, in NumPy (k > 0 heavy)."""
    x = np.sort(np.asarray(x, float))
    n = x.size
    m = 30 + int(math.sqrt(n))
    j = np.arange(1, m + 1)
    theta = 1 / x[-1] + (1 - np.sqrt(m / (j - 0.5))) / (3 * x[int(n / 4 + 0.5) - 1])
    k = np.array([np.mean(np.log1p(-t * x)) for t in theta])
    ll = n * (np.log(-theta / k) - k - 1)
    w = np.array([1 / np.sum(np.exp(ll - lj)) for lj in ll])
    w /= w.sum()
    th = np.sum(w * theta)
    kk = np.mean(np.log1p(-th * x))
    sigma = -kk / th
    if prior:
        kk = (n * kk + 10 * 0.5) / (n + 10)
    return kk, sigma


@pytest.mark.parametrize("shape", [0.1, 0.5, 0.9])
def test_gpd_fit_matches_numpy_reference_exactly(shape):
    x = np.sort(stats.genpareto.rvs(shape, scale=1.5, size=300, random_state=np.random.default_rng(1)))
    for prior in (True, False):
        k, s = gpd_fit(jnp.asarray(x), prior=prior)
        k_ref, s_ref = zhang_stephens_numpy(x, prior)
        assert float(k) == pytest.approx(k_ref, rel=1e-10, abs=1e-12)
        assert float(s) == pytest.approx(s_ref, rel=1e-10)


@pytest.mark.parametrize("shape", [0.2, 0.5, 0.9])
def test_gpd_fit_agrees_with_scipy_maximum_likelihood(shape):
    # two consistent estimators on 20,000 draws: their difference is far below the
    # sampling error of either (~0.01)
    x = np.sort(stats.genpareto.rvs(shape, scale=2.0, size=20_000, random_state=np.random.default_rng(0)))
    k, s = gpd_fit(jnp.asarray(x), prior=False)
    k_mle, _, s_mle = stats.genpareto.fit(x, floc=0)
    assert abs(float(k) - k_mle) < 0.01 and abs(float(s) / s_mle - 1) < 0.01
    assert abs(float(k) - shape) < 0.05


def test_khat_separates_light_and_heavy_tails_and_vmaps():
    keys = jax.random.split(jax.random.key(0), 3)
    light = jax.vmap(lambda k: jax.random.exponential(k, (2000,)))(keys)
    heavy = jax.vmap(lambda k: jax.random.pareto(k, 1.0, (2000,)))(keys)  # GPD k = 1
    kl, kh = jax.vmap(pareto_khat)(light), jax.vmap(pareto_khat)(heavy)
    assert np.all(np.asarray(kl) < 0.5) and np.all(np.asarray(kh) > 0.7)
    np.testing.assert_allclose(kh[1], pareto_khat(heavy[1]), rtol=1e-12)


def test_khat_tail_is_the_largest_m_values():
    z = np.asarray(jax.random.pareto(jax.random.key(3), 2.0, (1000,)))
    M = tail_size(1000)
    assert M == min(200, int(3 * math.sqrt(1000)))
    top = np.sort(z)[-M - 1 :]
    k_ref, _ = zhang_stephens_numpy(top[1:] - top[0])
    assert float(pareto_khat(z)) == pytest.approx(k_ref, rel=1e-10)


def test_khat_with_few_hits_and_degenerate_tails():
    n = 1500
    assert float(pareto_khat(jnp.zeros(n))) == math.inf
    assert float(pareto_khat(jnp.zeros(n).at[:5].set(1.0))) == math.inf  # 5 hits: no tail
    assert float(pareto_khat(jnp.zeros(n).at[:40].set(2.0))) == 0.0  # flat (bounded) tail
    rng = np.random.default_rng(2)
    z = np.zeros(n)
    z[:40] = rng.pareto(1.0, 40) + 1  # 40 heavy-tailed hits: fit on the top tail_size(40)
    top = np.sort(z[:40])[-tail_size(40) - 1 :]
    k_ref, _ = zhang_stephens_numpy(top[1:] - top[0])
    assert np.isfinite(float(pareto_khat(z)))
    # the masked fit keeps the grid size of the full tail: close to, not equal to, the reference
    assert abs(float(pareto_khat(z)) - k_ref) < 0.15
