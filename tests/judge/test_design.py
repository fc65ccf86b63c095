"""Designed labelling: Neyman oracle, Fisher information vs a Hessian, optimiser vs a
grid, simulated coverage under the design, and refusal of SRS-only methods."""

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcert import Counts
from jaxcert.judge import BoxConflictError, certify, loglik
from jaxcert.judge.design import (
    design_kernel,
    design_labelling,
    expected_bound,
    neyman_share,
    stratified_information,
    theta_variance,
)
from jaxcert.sim.design_check import check_design, simulate_stratified

CASES = [(0.05, 0.9, 0.05), (0.2, 0.7, 0.3), (0.01, 0.95, 0.02), (0.4, 0.8, 0.1)]
RTOL = 1e-9


def _cells(theta, s, r):
    q = theta * s + (1 - theta) * r
    return q, theta * s / q, theta * (1 - s) / (1 - q)


@pytest.mark.parametrize("theta,s,r", CASES)
def test_variance_is_the_delta_method_formula(theta, s, r):
    # written from the three-binomial factorisation, independently of the module
    q, u, v = _cells(theta, s, r)
    n1, n0, N = 37.0, 81.0, 1500.0
    want = (q**2 * u * (1 - u) / n1 + (1 - q) ** 2 * v * (1 - v) / n0
            + (u - v) ** 2 * q * (1 - q) / (n1 + n0 + N))
    np.testing.assert_allclose(float(theta_variance(theta, s, r, n1, n0, N)), want, rtol=RTOL)


@pytest.mark.parametrize("theta,s,r", CASES)
def test_information_matches_hessian_of_the_loglik(theta, s, r):
    # expected counts under the stratified design; the loglik is linear in the counts,
    # so the expected information is minus its Hessian at the expected counts
    q, u, v = _cells(theta, s, r)
    n1, n0, N = 40.0, 60.0, 900.0
    T = n1 + n0 + N
    c = Counts(n1 * u, n0 * v, n1 * (1 - u), n0 * (1 - v), T * q - n1, T * (1 - q) - n0)
    hess = jax.hessian(lambda x: loglik(x[0], x[1], x[2], c))(jnp.array([theta, s, r]))
    info = stratified_information(theta, s, r, n1, n0, N)
    np.testing.assert_allclose(np.asarray(info), -np.asarray(hess), rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("theta,s,r", CASES)
def test_smoothed_bound_without_box_is_the_closed_form(theta, s, r):
    # Agresti-Coull pseudo-counts per stratum; without a box the shift of (u, v) moves
    # theta = q u + (1 - q) v by q du + (1 - q) dv
    q, u, v = _cells(theta, s, r)
    n1, n0, N, z = 25.0, 75.0, 4000.0, 1.6448536269514722
    m1, m0 = n1 + z**2, n0 + z**2
    ut, vt = (n1 * u + z**2 / 2) / m1, (n0 * v + z**2 / 2) / m0
    var = (q**2 * ut * (1 - ut) / m1 + (1 - q) ** 2 * vt * (1 - vt) / m0
           + (u - v) ** 2 * q * (1 - q) / (n1 + n0 + N))
    want = theta + q * (ut - u) + (1 - q) * (vt - v) + z * math.sqrt(var)
    np.testing.assert_allclose(float(expected_bound(theta, s, r, n1, n0, N)), want, rtol=RTOL)


@pytest.mark.parametrize("theta,s,r", CASES)
def test_no_box_optimum_is_neyman(theta, s, r):
    q, u, v = _cells(theta, s, r)
    a, c = q * math.sqrt(u * (1 - u)), (1 - q) * math.sqrt(v * (1 - v))
    np.testing.assert_allclose(float(neyman_share(theta, s, r)), a / (a + c), rtol=RTOL)
    B, N = 400.0, 20_000.0
    n1, _ = design_kernel(theta, s, r, B, N, 0.0, 0.0, 1.0, 0.05, steps=600,
                          objective="variance")
    np.testing.assert_allclose(float(n1) / B, a / (a + c), rtol=1e-4)


@pytest.mark.parametrize("objective", ["variance", "bound"])
@pytest.mark.parametrize("box", [dict(tpr_bounds=(0.85, 0.95), fpr_bounds=(0.07, 0.13)), {}])
def test_optimiser_matches_a_grid_search(objective, box):
    theta, s, r, B, N = 0.05, 0.9, 0.1, 150, 5000
    d = design_labelling(budget=B, tpr=s, fpr=r, theta_guess=theta, N=N, min_per_stratum=10,
                         objective=objective, **box)
    prec = (12 / 0.1**2, 12 / 0.06**2) if box else (0.0, 0.0)
    fn = theta_variance if objective == "variance" else expected_bound
    grid = np.arange(10, B - 10 + 1)
    val = [float(fn(theta, s, r, k, B - k, N, *prec)) for k in grid]
    best = int(grid[int(np.argmin(val))])
    assert d.n_flagged == best
    got = d.variance if objective == "variance" else d.bound
    np.testing.assert_allclose(got, min(val), rtol=RTOL)
    var = float(theta_variance(theta, s, r, best, B - best, N, *prec))
    srs = float(theta_variance(theta, s, r, d.srs_share * B, (1 - d.srs_share) * B, N, *prec))
    np.testing.assert_allclose(d.srs_variance, srs, rtol=RTOL)
    np.testing.assert_allclose(d.efficiency, srs / var, rtol=RTOL)


def test_floor_binds_and_hyperparameters_do_not_recompile():
    # a perfect-ish judge at a tiny rate wants nearly every label among flagged items
    d = design_labelling(budget=60, tpr=0.99, fpr=0.3, theta_guess=0.3, N=2000,
                         tpr_bounds=(0.98, 1.0), fpr_bounds=(0.29, 0.31), min_per_stratum=25)
    assert min(d.n_flagged, d.n_unflagged) >= 25
    design_kernel(0.1, 0.9, 0.1, 100.0, 1000.0, 0.0, 0.0, 10.0, 0.05, steps=400)
    size = design_kernel._cache_size()
    design_kernel(0.2, 0.8, 0.2, 300.0, 5000.0, 10.0, 3.0, 5.0, 0.01, steps=400)
    assert design_kernel._cache_size() == size


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="beat chance"):
        design_labelling(budget=100, tpr=0.3, fpr=0.4, theta_guess=0.1, N=100)
    with pytest.raises(ValueError, match="budget"):
        design_labelling(budget=15, tpr=0.9, fpr=0.1, theta_guess=0.1, N=100)
    with pytest.raises(ValueError, match="too few"):
        design_labelling(budget=100, tpr=0.9, fpr=0.01, theta_guess=0.01, N=0)


def test_stratified_draw_has_the_design_and_the_right_cell_means():
    theta, s, r, n1, n0, N, R = 0.1, 0.8, 0.1, 30, 50, 1000, 4000
    keys = jax.random.split(jax.random.key(1), R)
    c = jax.vmap(lambda k: simulate_stratified(k, theta, s, r, n1, n0, N))(keys)
    q, u, v = _cells(theta, s, r)
    np.testing.assert_array_equal(np.asarray(c.n11 + c.n01), n1)  # q T = 170 >> 30
    np.testing.assert_array_equal(np.asarray(c.n + c.N), n1 + n0 + N)
    se = lambda p, m: 4 * math.sqrt(p * (1 - p) / (m * R))  # noqa: E731
    assert abs(float(jnp.mean(c.n11)) / n1 - u) < se(u, n1)
    assert abs(float(jnp.mean(c.n10)) / n0 - v) < se(v, n0)
    T = n1 + n0 + N
    assert abs(float(jnp.mean(c.n11 + c.n01 + c.m1)) / T - q) < se(q, T)


@pytest.mark.slow  # compiles the vmapped calibrated bound (~30 s on 2 cores)
def test_simulated_coverage_under_the_design():
    theta, s, r, N = 0.05, 0.9, 0.1, 5000
    box = dict(tpr_bounds=(0.85, 0.95), fpr_bounds=(0.05, 0.15))
    d = design_labelling(budget=100, tpr=s, fpr=r, theta_guess=theta, N=N, **box)
    chk = check_design(jax.random.key(7), theta=theta, tpr=s, fpr=r, n_flagged=d.n_flagged,
                       n_unflagged=d.n_unflagged, N=N, replicates=400, srs_budgets=[100, 200],
                       **box)
    assert chk.coverage >= 0.95 - 2 * max(chk.coverage_se, math.sqrt(0.95 * 0.05 / 400))
    assert chk.srs_coverage >= 0.95 - 2 * math.sqrt(0.95 * 0.05 / 400)


@pytest.mark.parametrize("method", ["ppi", "ppi++", "classical", "rogan-gladen"])
def test_stratified_labelling_refuses_srs_methods(method):
    c = Counts.create(8.0, 2.0, 12.0, 28.0, m1=100.0, m0=900.0)
    certify(c, method=method)  # fine under random labelling
    with pytest.raises(ValueError, match=re.escape(f"method='{method}' assumes simple random")):
        certify(c, method=method, labelling="stratified")


@pytest.mark.slow  # compile-bound (20-40 s on 2 cores): keeps the default tier under 10 min; CI runs both
def test_stratified_labelling_keeps_the_likelihood_certificate():
    c = Counts.create(8.0, 2.0, 12.0, 28.0, m1=100.0, m0=900.0)
    # the calibration rates (8/10, 12/40) and the full-data MLE (TPR 0.43, FPR 0.076) both
    # sit inside the box: no conflict under either check, and the likelihood (hence the
    # certificate) is the same whatever the labelling
    box = dict(tpr=(0.3, 0.9), fpr=(0.05, 0.4))
    res = certify(c, side="upper", labelling="stratified", **box)
    same = certify(c, side="upper", **box)
    assert res.upper == same.upper and not res.box_check["rejected"]
    with pytest.raises(ValueError, match="interval='wald' assumes"):
        certify(c, interval="wald", labelling="stratified")
    with pytest.raises(ValueError, match="labelling must be"):
        certify(c, labelling="by-verdict")


@pytest.mark.slow  # method='all' runs the Bayes posterior
def test_method_all_drops_srs_methods_under_stratified_labelling():
    c = Counts.create(8.0, 2.0, 12.0, 28.0, m1=100.0, m0=900.0)
    table = certify(c, side="upper", method="all", labelling="stratified")
    for m in ("ppi", "ppi++", "classical", "rogan-gladen"):
        assert "assumes simple random labelling" in table[m].diagnostics["error"]
    ok = {row.method for row in table.rows if row.upper is not None and np.isfinite(row.upper)}
    assert {"cmle", "umle", "bayes"} <= ok
    assert not ok & {"ppi", "ppi++", "classical", "rogan-gladen"}


def test_stratified_box_check_uses_the_full_likelihood():
    # expected counts of a 90/10 design at theta 0.05, TPR 0.9, FPR 0.1: the labelled
    # items alone suggest TPR ~ 1 and FPR ~ 0.86, which the calibration-only check
    # takes for a conflict with a correct box; the full-likelihood check does not
    theta, s, r, n1, n0, N = 0.05, 0.9, 0.1, 90.0, 10.0, 10_000.0
    q, u, v = _cells(theta, s, r)
    T = n1 + n0 + N
    c = Counts(n1 * u, n0 * v, n1 * (1 - u), n0 * (1 - v), T * q - n1, T * (1 - q) - n0)
    box = dict(tpr=(0.85, 0.95), fpr=(0.05, 0.15))
    with pytest.raises(BoxConflictError):
        certify(c, side="upper", **box)
    res = certify(c, side="upper", labelling="stratified", **box)
    assert res.box_check["statistic"] < 1e-6 and abs(res.estimate - theta) < 1e-6
    with pytest.raises(BoxConflictError, match="fpr <= 0.04"):
        certify(c, side="upper", labelling="stratified", tpr=(0.85, 0.95), fpr=(0.0, 0.04))
