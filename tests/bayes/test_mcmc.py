"""NUTS (numpyro) vs the exact quadrature; hierarchical pooling; diagnostics; input errors."""

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcert import Counts
from jaxcert.bayes import (
    MCMCResult,
    make_prior,
    posterior_summary,
    sample_hierarchical,
    sample_single_group,
    theta_grid,
    to_arviz,
)
from jaxcert.sim.simulate import simulate_counts

MC_SE_TOLERANCE = 4.0  # quantile agreement within 4 Monte-Carlo standard errors


def _quantile_mc_se(grid, level, q, ess):
    """sqrt(p (1 - p) / ESS) / density(q): the asymptotic s.e. of a sample quantile."""
    density = float(jnp.interp(q, grid.theta, grid.density))
    return np.sqrt(level * (1 - level) / ess) / density


@pytest.mark.slow
def test_nuts_matches_quadrature_within_mc_error():
    counts = Counts.create(2, 1, 3, 44, m1=70, m0=930)
    prior = make_prior([0.7, 0.95], [0.01, 0.1], tpr_prior=(40, 50))
    res = sample_single_group(jax.random.key(0), counts, prior, num_warmup=400,
                              num_samples=1000, num_chains=2)
    assert isinstance(res, MCMCResult)
    assert res.max_rhat < 1.02 and res.num_divergences == 0
    draws = res.samples["theta"].ravel()
    ess = float(res.ess["theta"])
    grid = jax.jit(theta_grid)(counts, prior)
    exact = posterior_summary(counts, prior, alpha=0.05, side="upper")
    for level, want in ((0.5, float(exact.median)), (0.95, float(exact.upper))):
        got = float(np.quantile(draws, level))
        se = _quantile_mc_se(grid, level, want, ess)
        assert abs(got - want) < MC_SE_TOLERANCE * se, (level, got, want, se)
    se_mean = float(exact.sd) / np.sqrt(ess)
    assert abs(draws.mean() - float(exact.mean)) < MC_SE_TOLERANCE * se_mean


@pytest.mark.slow
def test_hierarchical_recovers_group_rates_and_pools():
    # Four groups judged by one judge (s = 0.85, r = 0.08), 40 human labels each.
    thetas = jnp.array([0.05, 0.12, 0.2, 0.3])
    counts = simulate_counts(jax.random.key(3), thetas, 0.85, 0.08, 40, 2000)
    res = sample_hierarchical(jax.random.key(4), counts, num_warmup=500, num_samples=1000)
    assert res.max_rhat < 1.02 and res.min_ess > 200
    draws = res.samples["theta"].reshape(-1, 4)
    mean, sd = draws.mean(0), draws.std(0)
    assert np.all(np.abs(mean - np.asarray(thetas)) < 4 * sd)
    # Borrowing strength: narrower than each group alone with an unknown judge.
    alone = posterior_summary(counts, make_prior(), alpha=0.05)
    assert np.all(sd < np.asarray(alone.sd))


@pytest.mark.slow
def test_hierarchical_diagnostics_are_reported():
    counts = Counts.create(jnp.array([3.0, 6.0]), 1.0, 2.0, 44.0, jnp.array([80.0, 150.0]), 920.0)
    res = sample_hierarchical(jax.random.key(1), counts, num_warmup=100, num_samples=100,
                              num_chains=2)
    assert res.samples["theta"].shape == (2, 100, 2)
    assert res.r_hat["theta"].shape == (2,) and res.ess["tpr"].shape == (2,)
    assert np.isfinite(res.max_rhat) and res.min_ess > 0


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda k: sample_single_group(k, Counts.create(1, 0, 3, 46), make_prior([0.9, 0.9])),
         r"prior.tpr_box must be one box \[lo, hi\] with lo < hi"),
        (lambda k: sample_single_group(k, Counts.create(-1, 0, 3, 46)), "non-negative"),
        (lambda k: sample_single_group(k, Counts.create([1, 2], 0, 3, 46)), "one problem"),
        (lambda k: sample_single_group(k, Counts.create(1, 0, 3, 46), num_chains=1),
         "num_chains must be >= 2"),
        (lambda k: sample_single_group(k, Counts.create(1, 0, 3, 46), num_samples=0),
         "num_samples must be a positive integer"),
        (lambda k: sample_hierarchical(k, Counts.create(1, 0, 3, 46)), r"shape \(G,\) with G >= 2"),
        (lambda k: sample_hierarchical(k, Counts.create([1, 2], 0, 3, 46), tau_scale=0.0),
         "tau_scale must be a positive number"),
        (lambda k: sample_hierarchical(k, Counts.create([1, 2], 0, 3, 46), theta_ab=(0.5, 1)),
         "theta_ab must be two finite Beta parameters >= 1"),
        (lambda k: sample_hierarchical(k, Counts.create([1, 0], 0, [3, 0], [46, 0], 5, 5)),
         "calibration set is empty"),
    ],
)
def test_bad_input_raises_precise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call(jax.random.key(0))


def _tiny_result():
    s = {"theta": np.zeros((2, 3))}
    return MCMCResult(s, {"theta": np.ones(())}, {"theta": np.ones(())}, 0)


@pytest.mark.skipif(importlib.util.find_spec("arviz") is not None, reason="arviz installed")
def test_to_arviz_without_arviz_says_how_to_install():
    with pytest.raises(ImportError, match="pip install"):
        to_arviz(_tiny_result())


@pytest.mark.skipif(importlib.util.find_spec("arviz") is None, reason="arviz not installed")
def test_to_arviz_has_chain_and_draw_dims():
    idata = to_arviz(_tiny_result())
    assert dict(idata.posterior.sizes)["chain"] == 2 and dict(idata.posterior.sizes)["draw"] == 3
