"""bayes_interval runs inside the simulation runner (the sim-registry contract)."""

import jax
import numpy as np
import pytest

from jaxcert import Counts
from jaxcert.bayes import JudgePrior, bayes_interval, posterior_summary
from jaxcert.sim import product_grid
from jaxcert.sim import registry as _registry
from jaxcert.sim import runner as _run
from jaxcert.sim import sweep as _sweep
from jaxcert.sim.simulate import simulate_one


@pytest.mark.slow  # compile-bound (20-40 s on 2 cores): keeps the default tier under 10 min; CI runs both
def test_runner_matches_direct_posterior(monkeypatch):
    monkeypatch.setitem(_registry.ESTIMATORS, "bayes_under_test", bayes_interval)
    grid = product_grid(theta=[0.02, 0.2], n=[50], N=[500], accuracy=[0.9], box=["+-0.05"])
    reps = 4
    p = np.arange(grid.size * reps)
    params = _sweep.grid_params(grid, p // reps, p % reps)
    key = jax.random.key(11)
    out = _run.run_problems(key, params, estimators=["bayes_under_test"], side="upper",
                            chunk_size=8)
    sims = []
    for i in p:
        k = jax.random.fold_in(jax.random.fold_in(key, params["data_id"][i]), params["rep"][i])
        sims.append(simulate_one(k, *(params[f][i] for f in ("theta", "tpr", "fpr", "n", "N"))))
    counts = Counts(*(np.array([float(getattr(c, f)) for c in sims]) for f in Counts._fields))
    ones = np.ones((p.size, 2))
    boxes = np.asarray(params["tpr_box"]), np.asarray(params["fpr_box"])
    prior = JudgePrior(ones, ones, ones, *boxes)
    ref = posterior_summary(counts, prior, alpha=np.asarray(params["alpha"]), side="upper")
    np.testing.assert_allclose(out.upper[0], ref.upper, rtol=1e-12)
    np.testing.assert_allclose(out.estimate[0], ref.mean, rtol=1e-12)
    assert np.all(out.status[0] == 0)
