"""Tests for the judge-model likelihood, closed-form UMLE and Fisher information."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize, stats

import jaxcert  # noqa: F401  (float64)
from jaxcert import Counts
from jaxcert.judge.likelihood import _nll_derivs, fisher_information, loglik, umle

RTOL = 1e-12
FD_RTOL = 1e-6  # central finite differences, step 1e-6


def _scipy_loglik(theta, s, r, c):
    """Multinomial + binomial log-pmf, minus their normalising constants."""
    n11, n10, n01, n00, m1, m0 = c
    cells = [n11, n10, n01, n00]
    p = [theta * s, theta * (1 - s), (1 - theta) * r, (1 - theta) * (1 - r)]
    q = theta * s + (1 - theta) * r
    lp = stats.multinomial.logpmf(cells, n=sum(cells), p=p) + stats.binom.logpmf(m1, m1 + m0, q)
    const = stats.multinomial.logpmf(cells, n=sum(cells), p=[0.25] * 4) - sum(cells) * np.log(0.25)
    const += stats.binom.logpmf(m1, m1 + m0, 0.5) - (m1 + m0) * np.log(0.5)
    return lp - const


CASES = [
    (0.1, 0.9, 0.05, (3, 1, 2, 44, 60, 940)),
    (0.005, 0.95, 0.06, (0, 0, 3, 47, 700, 9300)),
    (0.3, 0.7, 0.2, (20, 9, 11, 60, 0, 0)),
    (0.02, 1.0, 0.0, (1, 0, 0, 49, 10, 990)),  # zero cells at s = 1, r = 0
]


@pytest.mark.parametrize("theta,s,r,c", CASES)
def test_loglik_matches_scipy(theta, s, r, c):
    ours = float(loglik(theta, s, r, Counts.create(*c)))
    np.testing.assert_allclose(ours, _scipy_loglik(theta, s, r, c), rtol=RTOL)


def test_loglik_broadcasts_and_neg_inf():
    c = Counts.create([3, 0], [1, 0], [2, 3], [44, 47], [60, 7], [940, 93])
    out = loglik(jnp.array([[0.1], [0.2]]), 0.9, 0.05, c)
    assert out.shape == (2, 2)
    # a positive count with zero probability gives -inf, not NaN
    assert float(loglik(0.1, 1.0, 0.05, Counts.create(3, 1, 2, 44))) == -np.inf


def _fd_grad_hess(cv, x, eps=1e-6):
    c = Counts.create(*cv)
    nll = lambda z: -float(loglik(z[0], z[1], z[2], c))  # noqa: E731
    grad = lambda z: np.asarray(_nll_derivs(jnp.asarray(cv), jnp.asarray(z), 1.0)[1])  # noqa: E731
    fd_g = np.array([(nll(x + eps * e) - nll(x - eps * e)) / (2 * eps) for e in np.eye(3)])
    fd_h = np.stack([(grad(x + eps * e) - grad(x - eps * e)) / (2 * eps) for e in np.eye(3)])
    return nll(x), fd_g, fd_h


def test_gradient_and_curvature_vs_finite_differences():
    cv = np.array([3.0, 1, 2, 44, 60, 940])
    x = np.array([0.08, 0.7, 0.04])
    f, g, m = _nll_derivs(jnp.asarray(cv), jnp.asarray(x), 1.0)
    fnll, fd_g, fd_h = _fd_grad_hess(cv, x)
    np.testing.assert_allclose(g, fd_g, rtol=FD_RTOL)
    np.testing.assert_allclose(f, fnll, rtol=1e-14)
    ad = jax.grad(lambda z: -loglik(z[0], z[1], z[2], Counts.create(*cv)))(jnp.asarray(x))
    np.testing.assert_allclose(g, ad, rtol=1e-12)
    # curvature = Hessian minus the (theta,s) / (theta,r) terms dg/da, -dg/db
    n11, n10, n01, n00, m1, m0 = cv
    t, s, r = x
    q = t * s + (1 - t) * r
    w = m1 / q - m0 / (1 - q)
    ga = n11 / (t * s) - n10 / (t * (1 - s)) + w
    gb = n01 / ((1 - t) * r) - n00 / ((1 - t) * (1 - r)) + w
    corr = np.array([[0, ga, -gb], [ga, 0, 0], [-gb, 0, 0]])
    np.testing.assert_allclose(m, fd_h + corr, rtol=FD_RTOL, atol=1e-5)
    assert np.all(np.linalg.eigvalsh(np.asarray(m)) >= -1e-10 * np.abs(np.asarray(m)).max())


def test_curvature_is_hessian_at_umle_and_psd_everywhere():
    cv = np.array([3.0, 1, 2, 44, 60, 940])
    x = np.array([float(v) for v in umle(Counts.create(*cv))])
    _, g, m = _nll_derivs(jnp.asarray(cv), jnp.asarray(x), 1.0)
    np.testing.assert_allclose(g, 0.0, atol=1e-9)
    np.testing.assert_allclose(m, _fd_grad_hess(cv, x)[2], rtol=FD_RTOL, atol=1e-5)
    rng = np.random.default_rng(0)
    for _ in range(50):
        z = rng.uniform(0.01, 0.99, 3)
        cz = rng.integers(0, 50, 6).astype(float)
        mz = np.asarray(_nll_derivs(jnp.asarray(cz), jnp.asarray(z), 1.0)[2])
        assert np.linalg.eigvalsh(mz).min() >= -1e-10 * np.abs(mz).max()


def test_fisher_information_equals_expected_negative_hessian_by_enumeration():
    theta, s, r, n, nn = 0.3, 0.8, 0.15, 4, 3
    p = np.array([theta * s, theta * (1 - s), (1 - theta) * r, (1 - theta) * (1 - r)])
    q = theta * s + (1 - theta) * r
    outcomes, weights = [], []
    for cells in itertools.product(range(n + 1), repeat=4):
        if sum(cells) != n:
            continue
        for m1 in range(nn + 1):
            outcomes.append((*cells, m1, nn - m1))
            weights.append(stats.multinomial.pmf(cells, n, p) * stats.binom.pmf(m1, nn, q))
    assert np.isclose(sum(weights), 1.0)
    hess = jax.hessian(lambda z, cc: loglik(z[0], z[1], z[2], cc))
    cc = Counts.create(*np.array(outcomes, float).T)
    hs = jax.vmap(hess, in_axes=(None, 0))(jnp.array([theta, s, r]), cc)
    expected = -np.einsum("k,kij->ij", np.array(weights), np.asarray(hs))
    np.testing.assert_allclose(fisher_information(theta, s, r, n, nn), expected, rtol=1e-10)


def test_fisher_information_batched_shape_and_no_judge_data():
    info = fisher_information(jnp.array([0.1, 0.2]), 0.9, 0.05, 50, 0)
    assert info.shape == (2, 3, 3)
    assert np.all(np.isfinite(info))
    np.testing.assert_allclose(info[0], np.diag([50 / 0.09, 50 * 0.1 / 0.09, 50 * 0.9 / 0.0475]))


UMLE_CASES = [(3, 1, 2, 44, 60, 940), (10, 4, 5, 81, 300, 9700), (7, 2, 9, 182, 40, 960)]


@pytest.mark.parametrize("c", UMLE_CASES)
def test_umle_is_the_unconstrained_maximiser(c):
    theta, s, r = (float(v) for v in umle(Counts.create(*c)))
    n11, n10, n01, n00, m1, m0 = c
    q = (n11 + n01 + m1) / sum(c)
    np.testing.assert_allclose(theta * s + (1 - theta) * r, q, rtol=1e-13)
    res = optimize.minimize(lambda z: -_scipy_loglik(*z, c), [0.2, 0.6, 0.2], method="L-BFGS-B",
                            bounds=[(1e-9, 1 - 1e-9)] * 3, options=dict(ftol=1e-15, gtol=1e-10))
    np.testing.assert_allclose([theta, s, r], res.x, rtol=1e-4)
    assert -_scipy_loglik(theta, s, r, c) <= res.fun + 1e-9 * abs(res.fun)
