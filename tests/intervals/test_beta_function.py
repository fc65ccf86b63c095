"""log_beta and betainc_pair against 40-digit mpmath (and scipy where scipy is exact enough)."""

import mpmath as mp
import numpy as np
import pytest
from scipy import special as sp

import jaxcert  # noqa: F401  (float64)
from jaxcert.intervals._beta_function import betainc_pair, log_beta

mp.mp.dps = 40


def _log_beta_mp(a, b):
    return float(mp.log(mp.beta(mp.mpf(a), mp.mpf(b))))


def test_log_beta_matches_mpmath_across_scales():
    """Each branch of the split (both below 8, one below, both above), up to 1e9.

    jax.scipy.special.betaln misses by up to 4e-7 where max(a, b) is in [8, 100) and
    scipy's by ~2e-9 at large arguments: this test fails for either."""
    rng = np.random.default_rng(0)
    a = np.exp(rng.uniform(np.log(1e-3), np.log(1e9), 1500))
    b = np.exp(rng.uniform(np.log(1e-3), np.log(1e9), 1500))
    edges = np.array([[8.0, 8.0], [7.999, 8.0], [8.0, 1e-3], [1e-3, 1e-3], [1e9, 1e9], [0.5, 9.0]])
    a, b = np.concatenate([a, edges[:, 0]]), np.concatenate([b, edges[:, 1]])
    ref = np.array([_log_beta_mp(x, y) for x, y in zip(a, b)])
    got = np.asarray(log_beta(a, b))
    np.testing.assert_array_less(np.abs(got - ref) / np.maximum(1.0, np.abs(ref)), 2e-14)
    np.testing.assert_array_equal(got, np.asarray(log_beta(b, a)))  # symmetric by construction


def _quantile_like_points(rng, n, top):
    a = np.exp(rng.uniform(np.log(0.05), np.log(top), n))
    b = np.exp(rng.uniform(np.log(0.05), np.log(top), n))
    mean = a / (a + b)
    sd = np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    x = np.clip(mean + sd * rng.uniform(-5, 5, n), 1e-12, 1 - 1e-12)
    x[: n // 6] = rng.uniform(0, 1, n // 6)
    return a, b, x


def test_betainc_pair_matches_mpmath():
    """Points 0-5 sd from the mean (where the Beta quantile evaluates it) and uniform
    points, a, b up to 2,000 (mpmath's own series gets slow beyond)."""
    a, b, x = _quantile_like_points(np.random.default_rng(1), 300, 2e3)
    got = np.asarray(betainc_pair(a, b, x, 1.0 - x))
    for i in range(a.size):
        ref = float(mp.betainc(mp.mpf(a[i]), mp.mpf(b[i]), 0, mp.mpf(x[i]), regularized=True))
        assert abs(got[i] - ref) <= 1e-13 + 1e-11 * abs(ref), (a[i], b[i], x[i], got[i], ref)


def test_betainc_pair_matches_scipy_at_large_arguments():
    """a, b up to 1e6 against scipy (its lower and upper tails): within 1e-9 absolute, where
    jax.scipy.special.betainc is off by up to 3.5e-9 (measured on 40,000 such points)."""
    a, b, x = _quantile_like_points(np.random.default_rng(2), 4000, 1e6)
    got = np.asarray(betainc_pair(a, b, x, 1.0 - x))
    np.testing.assert_allclose(got, sp.betainc(a, b, x), rtol=0, atol=1e-9)
    upper = sp.betaincc(a, b, x)
    small = upper < 1e-3  # the upper tail, as 1 - I: absolute accuracy is what 1 - I keeps
    np.testing.assert_allclose(1.0 - got[small], upper[small], rtol=0, atol=1e-9)


def test_log_beta_where_jax_betaln_is_off():
    from jax.scipy.special import betaln

    a, b = 1.72, 8.22  # max(a, b) in [8, 100): jax's betaln is off by ~1e-6
    ref = _log_beta_mp(a, b)
    assert abs(float(log_beta(a, b)) - ref) < 1e-14
    assert abs(float(betaln(a, b)) - ref) > 1e-8  # the defect this module works around


@pytest.mark.parametrize("a, b, x", [(0.0, 1.0, 0.5), (1.0, -1.0, 0.5), (1.0, 1.0, np.nan), (np.inf, 1.0, 0.5)])
def test_betainc_pair_invalid_is_nan(a, b, x):
    assert np.isnan(float(betainc_pair(a, b, x, 1 - x)))


def test_betainc_pair_ends_and_scipy_agreement():
    assert float(betainc_pair(3.0, 4.0, 0.0, 1.0)) == 0.0
    assert float(betainc_pair(3.0, 4.0, 1.0, 0.0)) == 1.0
    a, b, x = np.array([2.0, 30.0, 0.5]), np.array([3.0, 300.0, 0.5]), np.array([0.25, 0.12, 0.3])
    np.testing.assert_allclose(np.asarray(betainc_pair(a, b, x, 1 - x)), sp.betainc(a, b, x), rtol=1e-13)
