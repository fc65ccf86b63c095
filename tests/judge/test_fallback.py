"""No impossible intervals: CLT methods fall back to exact bounds when their variance
is degenerate; every interval lies in [0, 1] and contains its clipped estimate."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from jaxcert import Counts, certify
from jaxcert.judge import baselines

ORACLE = dict(rtol=1e-9, atol=1e-12)


def test_issue_ppi_example_twenty_passes():
    """20 labelled passes (judge flags 3) + 280 judge-only zeros: was 'rate <= 0'."""
    c = Counts.create(0, 0, 3, 17, m1=0, m0=280)
    r = certify(c, method="ppi", side="upper")
    _, hi = scipy.stats.binomtest(0, 20, alternative="less").proportion_ci(0.95, method="exact")
    np.testing.assert_allclose(r.upper, hi, **ORACLE)
    assert r.upper > 0 and r.estimate == 0.0
    np.testing.assert_allclose(r.diagnostics["estimate_raw"], -0.15, **ORACLE)
    assert r.interval == "clopper-pearson fallback"
    assert any("degenerate" in w and "-0.15" in w for w in r.warnings)


def test_issue_ppi_example_one_label():
    """One label (Y=1, J=0): was [1, 1] with estimate 1.304."""
    c = Counts.create(0, 1, 0, 0, m1=304, m0=696)
    r = certify(c, method="ppi")
    lo, hi = scipy.stats.binomtest(1, 1).proportion_ci(0.95, method="exact")
    np.testing.assert_allclose([r.lower, r.upper], [lo, hi], **ORACLE)
    assert r.estimate == 1.0
    np.testing.assert_allclose(r.diagnostics["estimate_raw"], 1.304, **ORACLE)


EDGE = [Counts.create(0, 0, 3, 17, 0, 280), Counts.create(0, 1, 0, 0, 304, 696),
        Counts.create(0, 0, 0, 50, 0, 1000), Counts.create(5, 0, 0, 45, 90, 910),
        Counts.create(0, 0, 2, 48, 40, 960), Counts.create(50, 0, 0, 0, 1000, 0),
        Counts.create(3, 1, 2, 44, 0, 0)]


@pytest.mark.parametrize("side", ["two-sided", "upper"])
@pytest.mark.parametrize("i", range(len(EDGE)))
def test_every_method_interval_is_possible(i, side):
    table = certify(EDGE[i], method="all", side=side)
    for row in table.rows:
        if not row.ok:
            continue
        assert 0.0 <= row.lower <= row.estimate <= row.upper <= 1.0, row
        if side == "upper":
            assert row.upper > 0.0, row
        if side == "lower":
            assert row.lower < 1.0, row
        if side == "two-sided":
            assert row.upper > row.lower, row


def test_wald_zero_se_falls_back_with_a_note():
    c = Counts.create(0, 0, 2, 48, 40, 960)
    for kind in ("wald", "logit"):
        r = certify(c, tpr=(0.85, 0.95), fpr=(0.02, 0.08), interval=kind, side="upper")
        assert r.upper > r.estimate
        assert any("Wald standard error is 0" in w for w in r.warnings)
        assert r.interval == kind


@functools.partial(jax.jit, static_argnames="name")
def _upper_ends(keys, theta, n, name):
    """Upper ends over replicates; ``theta`` and ``n`` traced, so a new cell never
    recompiles (one compilation per estimator)."""
    from jaxcert.sim.registry import ESTIMATORS
    from jaxcert.sim.simulate import simulate_one

    acc, N = 0.9, 1000.0
    s, r = acc, 1 - acc
    sb, fb = jnp.array([s - 0.05, s + 0.05]), jnp.array([r - 0.05, r + 0.05])
    fn = ESTIMATORS[name]
    return jax.vmap(lambda k: fn(simulate_one(k, theta, s, r, n, N),
                                 sb, fb, 0.05, "upper").upper)(keys)


def _coverage(name, theta, n, reps=2000, seed=3):
    keys = jax.random.split(jax.random.key(seed), reps)
    up = _upper_ends(keys, jnp.float64(theta), jnp.float64(n), name)
    return float(np.mean(np.asarray(up) >= theta)), reps


@pytest.mark.slow
@pytest.mark.parametrize("theta", [0.001, 0.01])
@pytest.mark.parametrize("n", [20, 50])
@pytest.mark.parametrize("name", ["ppi", "ppi_plusplus", "rogan_gladen"])
def test_fallback_coverage_baselines(name, theta, n):
    cover, reps = _coverage(name, theta, n)
    assert cover >= 0.95 - 2 * math.sqrt(0.95 * 0.05 / reps)


@pytest.mark.slow
@pytest.mark.parametrize("theta", [0.001, 0.01])
@pytest.mark.parametrize("n", [20, 50])
@pytest.mark.parametrize("name", ["cmle_wald", "cmle_logit"])
def test_fallback_coverage_wald(name, theta, n):
    cover, reps = _coverage(name, theta, n, reps=1000)
    assert cover >= 0.95 - 2 * math.sqrt(0.95 * 0.05 / reps)


def test_counts_api_clt_degenerate_cases():
    from jaxcert.judge.prediction_powered import clt_degenerate

    flags = clt_degenerate(jnp.array([0.0, 5, 5, 0, 3]), jnp.array([0.0, 0, 1, 1, 1]),
                           jnp.array([3.0, 0, 2, 0, 2]), jnp.array([17.0, 45, 42, 0, 44]))
    assert np.asarray(flags).tolist() == [True, True, False, True, False]
    iv = baselines.ppi(Counts.create(5, 0, 0, 45, 90, 910), side="upper")
    _, hi = scipy.stats.binomtest(5, 50, alternative="less").proportion_ci(0.95, method="exact")
    np.testing.assert_allclose(float(iv.upper), hi, **ORACLE)
