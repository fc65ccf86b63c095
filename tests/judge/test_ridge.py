"""Flat likelihood ridges: the theta range of all maximisers, and the midpoint convention.

Oracles: a closed form for the reproduction grid's ridge case, scipy's linear
program (HiGHS) for the range over the maximisers in cell coordinates, and the
profile likelihood by bounded scipy minimisation at fixed theta (flat inside the
range, higher outside).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize

import jaxcert  # noqa: F401  (float64)
from jaxcert import Counts
from jaxcert.judge import solver as S
from .test_exact_solver import _np_nll, _solve


def test_grid_ridge_case_has_the_closed_form_range_and_the_midpoint():
    # n.1 = 0 and n10 = 0: q = 154/1025, s = 1, and theta = u q for every u that keeps
    # r = (1-u) q / ((1-u) q + 1 - q) <= 0.15.
    res = S.mle(Counts.create(0, 0, 0, 25, m1=154, m0=846), [0.85, 1.0], [0.0, 0.15])
    q = 154 / 1025
    lo, hi = q - 0.15 * (1 - q) / 0.85, q
    assert float(res.theta_lo) == pytest.approx(lo, rel=1e-10)
    assert float(res.theta_hi) == pytest.approx(hi, rel=1e-10)
    assert float(res.theta) == pytest.approx(0.5 * (lo + hi), rel=1e-10)
    assert int(res.status) == 0
    # Every solver reports the same segment (projected Newton stops elsewhere on it).
    nt = S.mle(Counts.create(0, 0, 0, 25, m1=154, m0=846), [0.85, 1.0], [0.0, 0.15],
               solver="newton")
    assert float(nt.theta_lo) == pytest.approx(lo, rel=1e-8)
    assert float(nt.theta_hi) == pytest.approx(hi, rel=1e-8)
    assert abs(float(nt.theta) - float(res.theta)) > 1e-3


def test_identified_problem_has_a_point_range():
    res = S.mle(Counts.create(3, 1, 2, 44, m1=60, m0=940), [0.8, 0.95], [0.0, 0.05])
    assert float(res.theta_lo) == float(res.theta) == float(res.theta_hi)


def _ridge_problems(num, seed):
    """Problems whose calibration set misses cells: at least one kind of count absent."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < num:
        t, s, r = rng.uniform(0.02, 0.6), rng.uniform(0.5, 1), rng.uniform(0, 0.4)
        n = int(rng.integers(5, 300))
        y1 = rng.binomial(n, t)
        n11, n01 = rng.binomial(y1, s), rng.binomial(n - y1, r)
        cells = np.array([n11, y1 - n11, n01, n - y1 - n01], float)
        keep = rng.uniform(size=4) < 0.45
        cells = np.where(keep, cells, 0.0)
        nn = [0, int(rng.integers(10, 5000))][int(rng.uniform() < 0.8)]
        m1 = rng.binomial(nn, t * s + (1 - t) * r)
        if cells.sum() == 0:
            continue
        s_lo, s_hi = np.sort(rng.uniform(0.3, 1.0, 2))
        r_lo, r_hi = np.sort(rng.uniform(0.0, 0.5, 2))
        s_hi = [s_hi, 1.0][int(rng.uniform() < 0.3)]
        r_lo = [r_lo, 0.0][int(rng.uniform() < 0.3)]
        out.append(([*cells, m1, nn - m1], [s_lo, s_hi], [r_lo, r_hi]))
    c, sb, fb = (np.array(v, float) for v in zip(*out, strict=True))
    return c, sb, fb


def _linprog_range(c, x, sb, fb):
    """min and max theta over the box in (theta, a, b) with the present forms fixed."""
    t, s, r = x
    y = np.array([t, t * s, (1 - t) * r])
    forms = [([0, 1, 0], c[0]), ([1, -1, 0], c[1]), ([0, 0, 1], c[2]), ([1, 0, 1], c[3]),
             ([0, 1, 1], c[4] + c[5])]
    a_eq = np.array([f for f, k in forms if k > 0], float)
    b_eq = a_eq @ y
    a_ub = np.array([[sb[0], -1, 0], [-sb[1], 1, 0], [-fb[0], 0, -1], [fb[1], 0, 1]])
    b_ub = np.array([0.0, 0.0, -fb[0], fb[1]])
    ends = []
    for sign in (1.0, -1.0):
        res = optimize.linprog([sign, 0, 0], A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq,
                               bounds=[(0, 1), (0, 1), (0, 1)], method="highs")
        assert res.status == 0, res.message
        ends.append(res.x[0])
    return ends


def _profile_nll(c, theta, sb, fb):
    e = 1e-12
    best = np.inf
    for x0 in ([sb[0], fb[0]], [sb[1], fb[1]], [np.mean(sb), np.mean(fb)]):
        res = optimize.minimize(lambda z: _np_nll([theta, *z], c), x0, method="L-BFGS-B",
                                bounds=[tuple(np.clip(sb, e, 1 - e)), tuple(np.clip(fb, e, 1 - e))],
                                options=dict(ftol=1e-15, gtol=1e-12))
        best = min(best, res.fun)
    return best


@pytest.fixture(scope="module")
def ridges():
    c, sb, fb = _ridge_problems(400, seed=3)
    ex = S._to_result(_solve(c, sb, fb, "exact"), (len(c),))
    nt = S._to_result(_solve(c, sb, fb, "newton"), (len(c),))
    return c, sb, fb, ex, nt


def test_range_matches_a_linear_program(ridges):
    c, sb, fb, ex, nt = ridges
    widths = np.asarray(ex.theta_hi - ex.theta_lo)
    assert (widths > 1e-3).sum() > 30  # the sample holds real ridges
    assert (widths < 1e-12).sum() > 50  # and problems pinned by the box
    for i in range(len(c)):
        x = [float(ex.theta[i]), float(ex.tpr[i]), float(ex.fpr[i])]
        lo, hi = _linprog_range(c[i], x, sb[i], fb[i])
        assert float(ex.theta_lo[i]) == pytest.approx(lo, abs=1e-7), i
        assert float(ex.theta_hi[i]) == pytest.approx(hi, abs=1e-7), i
        # Where projected Newton reaches the optimum, its point lies on the same
        # segment (it can stall at theta = 0, where s leaves the likelihood).
        if float(nt.nll[i]) > float(ex.nll[i]) + 1e-9 * abs(float(ex.nll[i])):
            continue
        assert float(nt.theta_lo[i]) == pytest.approx(lo, abs=1e-6), i
        assert float(nt.theta_hi[i]) == pytest.approx(hi, abs=1e-6), i


def test_exact_solver_returns_the_midpoint_of_the_range(ridges):
    c, sb, fb, ex, nt = ridges
    mid = 0.5 * (np.asarray(ex.theta_lo) + np.asarray(ex.theta_hi))
    np.testing.assert_allclose(np.asarray(ex.theta), mid, atol=1e-12)
    # ... without losing likelihood to projected Newton.
    assert np.all(np.asarray(ex.nll) <= np.asarray(nt.nll) + 1e-9 * np.abs(np.asarray(nt.nll)))


def test_profile_is_flat_inside_the_range_and_rises_outside(ridges):
    c, sb, fb, ex, _ = ridges
    widths = np.asarray(ex.theta_hi - ex.theta_lo)
    wide = np.flatnonzero(widths > 1e-2)[:25]
    assert len(wide) >= 10
    for i in wide:
        lo, hi, f = float(ex.theta_lo[i]), float(ex.theta_hi[i]), float(ex.nll[i])
        tol = 1e-8 * max(abs(f), 1.0)
        for t in (lo + 1e-6, 0.5 * (lo + hi), hi - 1e-6):
            assert _profile_nll(c[i], t, sb[i], fb[i]) <= f + tol, (i, t)
        # Outside, the rise is second order in the distance: compare with scipy's
        # own profile value inside, at scipy's accuracy.
        inside = _profile_nll(c[i], 0.5 * (lo + hi), sb[i], fb[i])
        step = 0.2 * (hi - lo)
        for t in (lo - step, hi + step):
            if 0.0 < t < 1.0:
                assert _profile_nll(c[i], t, sb[i], fb[i]) > inside + 1e-10 * abs(f), (i, t)


def test_traced_judge_only_problem_spans_the_box():
    # No labelled item (only traced input can carry it): theta is set by the box
    # alone, q = theta s + (1 - theta) r with s in [0.8, 0.95] and r in [0, 0.05].
    c = jnp.array([[0.0, 0.0, 0.0, 0.0, 60.0, 940.0]])
    out = S._to_result(_solve(c, jnp.array([[0.8, 0.95]]), jnp.array([[0.0, 0.05]]),
                              "exact"), (1,))
    q = 0.06
    lo, hi = (q - 0.05) / (0.95 - 0.05), q / 0.8
    assert float(out.theta_lo[0]) == pytest.approx(lo, rel=1e-10)
    assert float(out.theta_hi[0]) == pytest.approx(hi, rel=1e-10)
    t, s, r = float(out.theta[0]), float(out.tpr[0]), float(out.fpr[0])
    assert t * s + (1 - t) * r == pytest.approx(q, rel=1e-12)


@pytest.mark.slow  # compile-bound (20-40 s on 2 cores): keeps the default tier under 10 min; CI runs both
def test_certify_says_the_rate_is_not_identified_and_the_bound_ignores_the_tie_break():
    from scipy import stats

    from jaxcert.judge import cmle_intervals as ci
    from jaxcert.judge.front_door import certify

    c = Counts.create(0, 0, 0, 25, m1=154, m0=846)
    res = certify(c, tpr=[0.85, 1.0], fpr=[0.0, 0.15], side="upper")
    t_lo, t_hi = res.diagnostics["theta_range"]
    assert res.estimate == pytest.approx(0.5 * (t_lo + t_hi), rel=1e-10)
    assert any("do not identify the failure rate" in w for w in res.warnings)
    # Calibrated end = Clopper-Pearson end of the binomial whose MLE is the ridge's
    # upper end and whose LR bound is the profile bound (scipy's Beta quantile).
    crit = stats.norm.ppf(0.95) ** 2
    u0 = float(ci.profile_interval(c, [0.85, 1.0], [0.0, 0.15], side="upper").upper)
    kl = t_hi * np.log(t_hi / u0) + (1 - t_hi) * np.log((1 - t_hi) / (1 - u0))
    m = crit / (2 * kl)
    k = t_hi * m
    assert res.upper == pytest.approx(stats.beta.ppf(0.95, k + 1, m - k), rel=1e-8)
    # A point-identified problem carries no such warning.
    ok = certify(Counts.create(3, 1, 2, 44, m1=60, m0=940), tpr=[0.8, 0.95], fpr=[0.0, 0.05])
    assert not any("identify" in w for w in ok.warnings)
