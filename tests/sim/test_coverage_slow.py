"""Seeded statistical checks: sweep coverage == direct simulation; plan power == exact."""

import jax
import numpy as np
import pytest

import jaxcert
from jaxcert.judge.baselines import ppi
from jaxcert.judge.cmle_intervals import profile_interval
from jaxcert.sim import product_grid, run_sweep
from jaxcert.sim.plan import plan_sample_size

R = 1000


@pytest.mark.slow
def test_sweep_coverage_matches_direct_simulation():
    theta, s, r, n, N = 0.08, 0.85, 0.1, 80, 2000
    g = product_grid(theta=theta, n=n, N=N, tpr=s, fpr=r, box=["+-0.05"])
    res = run_sweep(jax.random.key(0), g, replicates=R, estimators=["cmle_profile", "ppi"],
                    chunk_size=1000)
    # independent simulation: NumPy generator, cell-by-cell multinomial, public APIs
    rng = np.random.default_rng(1)
    p = [theta * s, theta * (1 - s), (1 - theta) * r, (1 - theta) * (1 - r)]
    cells = rng.multinomial(n, p, size=R).astype(float)
    m1 = rng.binomial(N, theta * s + (1 - theta) * r, size=R).astype(float)
    c = jaxcert.Counts.create(*cells.T, m1, N - m1)
    direct = {
        "cmle_profile": profile_interval(c, [s - 0.05, s + 0.05], [r - 0.05, r + 0.05],
                                         alpha=0.05, side="upper"),
        "ppi": ppi(c, alpha=0.05, side="upper"),
    }
    for i, name in enumerate(res.estimators):
        cov_sweep = res.table["coverage"][i]
        up = np.asarray(direct[name].upper)
        cov_direct = float(np.mean(theta <= up))
        pbar = 0.5 * (cov_sweep + cov_direct)
        tol = 3 * np.sqrt(2 * pbar * (1 - pbar) / R)
        assert abs(cov_sweep - cov_direct) <= tol, (name, cov_sweep, cov_direct)
        assert cov_sweep >= 0.95 - 3 * np.sqrt(0.95 * 0.05 / R)
        assert abs(res.table["bias"][i] - np.mean(np.asarray(direct[name].estimate) - theta)) \
            <= 4 * np.sqrt(2) * res.table["bias_se"][i]


@pytest.mark.slow
def test_plan_simulated_human_only_power_matches_exact():
    res = plan_sample_size(jax.random.key(2), eps=0.05, tpr=0.9, fpr=0.05, N=1000,
                           theta_guess=0.02, replicates=R, estimators=["classical"],
                           n_grid=[50, 150, 300])
    se = np.sqrt(res.power["human_exact"] * (1 - res.power["human_exact"]) / R)
    assert np.all(np.abs(res.power["classical"] - res.power["human_exact"]) <= 4 * se + 1e-12)
