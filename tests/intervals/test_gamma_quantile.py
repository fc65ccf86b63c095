"""gamma_quantile / chi2_quantile against scipy (the oracle), and their edge cases."""

import jax.numpy as jnp
import numpy as np
from scipy.special import gammaincinv
from scipy.stats import chi2

import jaxcert  # noqa: F401  (float64)
from jaxcert.intervals import chi2_quantile, gamma_quantile


def test_matches_scipy_over_shapes_and_both_tails():
    rng = np.random.default_rng(0)
    a = np.exp(rng.uniform(np.log(1e-3), np.log(1e4), 6000))
    p = np.concatenate([rng.uniform(0, 1, 2000), 10 ** rng.uniform(-12, -1, 2000), 1 - 10 ** rng.uniform(-12, -1, 2000)])
    x, ref = np.asarray(gamma_quantile(a, p)), gammaincinv(a, p)
    ok = ref > 1e-280  # below, scipy itself underflows
    assert ok.mean() > 0.9 and np.all(x[~ok] < 1e-250)  # tiny shapes at tiny p: both underflow
    np.testing.assert_allclose(x[ok], ref[ok], rtol=1e-9)


def test_chi2_and_closed_forms():
    df = np.array([0.3, 1.0, 2.0, 7.5, 60.0])
    for p in (0.025, 0.5, 0.975):
        np.testing.assert_allclose(np.asarray(chi2_quantile(df, p)), chi2.ppf(p, df), rtol=1e-10)
    # exponential law: -log(1 - p)
    np.testing.assert_allclose(float(gamma_quantile(1.0, 0.9)), -np.log(0.1), rtol=1e-13)


def test_ends_of_the_probability_range():
    x = np.asarray(gamma_quantile(jnp.array([2.0, 2.0]), jnp.array([0.0, 1.0])))
    assert x[0] == 0.0 and np.isinf(x[1])
