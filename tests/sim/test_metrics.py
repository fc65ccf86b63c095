"""Metrics from additive sums agree with direct NumPy formulas; sums are additive."""

import numpy as np

from jaxcert.sim.metrics import SUM_FIELDS, replicate_sums, summarize

RTOL = 1e-10


def _fake(seed, P=500, E=2):
    rng = np.random.default_rng(seed)
    theta = np.repeat([0.1, 0.3], P // 2)
    est = theta + rng.normal(0.01, 0.05, (E, P))
    lower, upper = est - 0.08, est + rng.uniform(0.02, 0.12, (E, P))
    status = rng.integers(0, 2, (E, P))
    est[1, 3], lower[1, 4] = np.nan, np.nan
    return theta, est, lower, upper, status, np.repeat([0, 1], P // 2)


def test_summary_matches_direct():
    theta, est, lo, hi, st, scen = _fake(0)
    s = replicate_sums(theta, est, lo, hi, st, scen, 2)
    assert s.shape == (2, 2, len(SUM_FIELDS))
    m = summarize(s)
    for e in range(2):
        for k in range(2):
            sel = scen == k
            d = est[e, sel] - theta[sel]
            df = d[np.isfinite(d)]
            np.testing.assert_allclose(m["bias"][k, e], df.mean(), rtol=RTOL)
            np.testing.assert_allclose(m["variance"][k, e], df.var(ddof=1), rtol=1e-8)
            np.testing.assert_allclose(m["rmse"][k, e], np.sqrt(np.mean(df**2)), rtol=RTOL)
            cov = (lo[e, sel] <= theta[sel]) & (theta[sel] <= hi[e, sel])
            np.testing.assert_allclose(m["coverage"][k, e], cov.mean(), rtol=RTOL)
            np.testing.assert_allclose(m["coverage_se"][k, e],
                                       np.sqrt(cov.mean() * (1 - cov.mean()) / sel.sum()))
            np.testing.assert_allclose(m["coverage_upper"][k, e],
                                       (theta[sel] <= hi[e, sel]).mean(), rtol=RTOL)
            assert m["n_converged"][k, e] + m["n_max_steps"][k, e] == sel.sum()
            # delta-method RMSE SE against a direct computation
            se = np.std(df**2) / np.sqrt(df.size) / (2 * np.sqrt(np.mean(df**2)))
            np.testing.assert_allclose(m["rmse_se"][k, e], se, rtol=1e-6)
            np.testing.assert_allclose(m["variance_se"][k, e], np.sqrt(
                (np.mean((df - df.mean())**4) - np.var(df)**2) / df.size), rtol=1e-6)
    assert m["n_finite"][0, 1] == 249  # the NaN estimate is counted, not used


def test_sums_are_additive_and_padding_ignored():
    theta, est, lo, hi, st, scen = _fake(1)
    whole = replicate_sums(theta, est, lo, hi, st, scen, 2)
    a = replicate_sums(theta[:300], est[:, :300], lo[:, :300], hi[:, :300], st[:, :300],
                       scen[:300], 2)
    pad = np.concatenate([scen[300:], [-1, -1]])
    b = replicate_sums(np.r_[theta[300:], 0, 0], np.c_[est[:, 300:], np.zeros((2, 2))],
                       np.c_[lo[:, 300:], np.zeros((2, 2))], np.c_[hi[:, 300:], np.zeros((2, 2))],
                       np.c_[st[:, 300:], np.zeros((2, 2))], pad - (pad >= 0), 1, first=0)
    total = a.copy()
    total[1:] += b
    np.testing.assert_allclose(total, whole, rtol=1e-12)


def test_mean_estimate_is_the_rejection_rate_of_a_0_1_estimator():
    """box_check reports 0/1 rejections as its estimate: mean_estimate = rejection rate."""
    theta = np.full(8, 0.1)
    est = np.array([[1.0, 0, 0, 1, 0, 0, 0, 0]])
    s = replicate_sums(theta, est, est, est, np.zeros((1, 8), int), np.zeros(8, int), 1)
    m = summarize(s)
    np.testing.assert_allclose(m["mean_estimate"][0, 0], 0.25, rtol=0, atol=1e-15)
    np.testing.assert_allclose(m["mean_estimate_se"][0, 0], np.sqrt(0.25 * 0.75 / 8), rtol=1e-12)
