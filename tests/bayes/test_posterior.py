"""Exact single-group posterior vs an independent brute-force integration; invariants."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcert import Counts, Interval, Status
from jaxcert.bayes import (
    JudgePrior,
    bayes_interval,
    grid_cdf,
    grid_quantile,
    make_prior,
    posterior_summary,
    theta_grid,
)
from jaxcert.bayes import posterior as post_mod

_grid = jax.jit(theta_grid)
_quantiles = jax.jit(jax.vmap(grid_quantile, in_axes=(None, 0)))
QUANTILE_ATOL = 1e-3  # the bar for quadrature vs brute force
LEVELS = (0.05, 0.5, 0.95)


def _log_beta(x, a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        la = np.where(a - 1 == 0, 0.0, (a - 1) * np.log(x))
        lb = np.where(b - 1 == 0, 0.0, (b - 1) * np.log1p(-x))
    return la + lb


def _xlogy(k, p):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(k == 0, 0.0, k * np.log(p))


def brute_force_quantiles(counts, sbox, fbox, theta_max, ab=((1, 1), (1, 1), (1, 1)),
                          levels=LEVELS, num_theta=1201, num_s=121, num_r=241):
    """Posterior quantiles of theta from a dense (theta, s, r) grid, written from scratch.

    Trapezoid in s and r (the original coordinates: no change of variables), trapezoid
    CDF in theta on [0, theta_max]; a point box is a point mass (no integral).
    """
    n11, n10, n01, n00, m1, m0 = (float(v) for v in counts)
    (at, bt), (as_, bs), (ar, br) = ab
    s = np.linspace(*sbox, num_s) if sbox[1] > sbox[0] else np.array([sbox[0]])
    r = np.linspace(*fbox, num_r) if fbox[1] > fbox[0] else np.array([fbox[0]])
    S, R = np.meshgrid(s, r, indexing="ij")
    theta = np.linspace(0.0, theta_max, num_theta)
    logp = np.empty(num_theta)
    for i, t in enumerate(theta):
        q = t * S + (1 - t) * R
        lp = (_xlogy(n11, t * S) + _xlogy(n10, t * (1 - S)) + _xlogy(n01, (1 - t) * R)
              + _xlogy(n00, (1 - t) * (1 - R)) + _xlogy(m1, q) + _xlogy(m0, 1 - q)
              + _log_beta(S, as_, bs) + _log_beta(R, ar, br) + _log_beta(t, at, bt))
        mx = np.max(lp)
        if not np.isfinite(mx):
            logp[i] = -np.inf
            continue
        w = np.exp(lp - mx)
        if len(s) > 1:
            w = np.trapezoid(w, s, axis=0)[None]
        if len(r) > 1:
            w = np.trapezoid(w, r, axis=1)
        logp[i] = mx + np.log(float(np.squeeze(w)))
    p = np.exp(logp - np.max(logp))
    assert p[-1] < 1e-12 * p.max(), "theta_max cuts off posterior mass: widen it"
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (p[1:] + p[:-1]) * np.diff(theta))])
    cdf /= cdf[-1]
    return np.interp(levels, cdf, theta)


CASES = [
    # (counts, tpr box, fpr box, theta_max, Beta params of theta, tpr, fpr)
    ((1, 0, 3, 46, 120, 1880), (0.85, 0.95), (0.02, 0.08), 0.15, ((1, 1), (1, 1), (1, 1))),
    ((0, 0, 2, 48, 40, 960), (0.80, 1.00), (0.00, 0.10), 0.12, ((1, 1), (1, 1), (1, 1))),
    ((12, 3, 5, 80, 300, 700), (0.0, 1.0), (0.0, 1.0), 0.7, ((1, 1), (1, 1), (1, 1))),
    ((4, 1, 2, 43, 0, 0), (0.7, 0.99), (0.01, 0.2), 0.9, ((1, 1), (1, 1), (1, 1))),
    ((2, 1, 4, 43, 0, 500), (0.8, 0.95), (0.01, 0.08), 0.12, ((1, 1), (1, 1), (1, 1))),
    # transferred Beta priors, truncated to the unit box and to a box
    ((3, 1, 2, 44, 60, 940), (0.0, 1.0), (0.0, 1.0), 0.3, ((1, 1), (46, 6), (3, 49))),
    ((3, 1, 2, 44, 60, 940), (0.8, 1.0), (0.0, 0.1), 0.3, ((2, 30), (46, 6), (3, 49))),
    # one point box (FPR known exactly)
    ((5, 1, 3, 41, 90, 410), (0.7, 0.95), (0.05, 0.05), 0.5, ((1, 1), (1, 1), (1, 1))),
    # data in conflict with the box: judge-only rate 0.3 is not reachable for small theta
    ((1, 0, 1, 48, 300, 700), (0.85, 0.95), (0.02, 0.08), 0.6, ((1, 1), (1, 1), (1, 1))),
]
# Many labels (n = 10,000) and no box: the calibration kernels of s (sd ~0.01) and r
# (sd ~0.002) are needles in [0, 1]. The brute force integrates over +-6 sd around them
# (mass outside < 1e-8), the library over the unit box.
LARGE_N = ((900, 100, 450, 8550, 90, 910), (0.84, 0.96), (0.036, 0.065), 0.2)


@pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_quantiles_match_brute_force(case):
    counts, sbox, fbox, tmax, ab = case
    prior = JudgePrior(jnp.array(ab[0], float), jnp.array(ab[1], float), jnp.array(ab[2], float),
                       jnp.array(sbox, float), jnp.array(fbox, float))
    got = np.asarray(_quantiles(_grid(Counts.create(*counts), prior), jnp.array(LEVELS)))
    want = brute_force_quantiles(counts, sbox, fbox, tmax, ab)
    np.testing.assert_allclose(got, want, atol=QUANTILE_ATOL, rtol=0)


def test_many_labels_unit_box_matches_brute_force():
    counts, s_dom, r_dom, tmax = LARGE_N
    got = np.asarray(_quantiles(_grid(Counts.create(*counts), make_prior()), jnp.array(LEVELS)))
    want = brute_force_quantiles(counts, s_dom, r_dom, tmax)
    np.testing.assert_allclose(got, want, atol=QUANTILE_ATOL, rtol=0)


@pytest.mark.parametrize("big_n", [1_000, 200_000], ids=["N=1e3", "N=2e5"])
def test_point_boxes_match_closed_form_density(big_n):
    # Both rates known: p(theta) ∝ theta^n1 (1-theta)^n0 q^m1 (1-q)^m0, one-dimensional;
    # N = 2e5 gives a posterior of sd ~ 7e-4 that the zoom must find.
    s, r = 0.9, 0.05
    counts = (3, 1, 2, 44, 0.08 * big_n, 0.92 * big_n)
    n11, n10, n01, n00, m1, m0 = counts
    t = np.linspace(1e-9, 0.4, 400001)
    q = t * s + (1 - t) * r
    lp = (n11 + n10) * np.log(t) + (n01 + n00) * np.log1p(-t) + m1 * np.log(q) + m0 * np.log1p(-q)
    p = np.exp(lp - lp.max())
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (p[1:] + p[:-1]) * np.diff(t))])
    want = np.interp(LEVELS, cdf / cdf[-1], t)
    post = make_prior([s, s], [r, r])
    got = np.asarray(_quantiles(_grid(Counts.create(*counts), post), jnp.array(LEVELS)))
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)  # grid cells ~0.13 sd


def test_cdf_inverts_quantile():
    grid = _grid(Counts.create(1, 0, 3, 46, 120, 1880), make_prior([0.85, 0.95], [0.02, 0.08]))
    levels = jnp.array([0.01, 0.3, 0.9, 0.99])
    back = jax.vmap(grid_cdf, in_axes=(None, 0))(grid, _quantiles(grid, levels))
    np.testing.assert_allclose(back, levels, atol=1e-12)


def test_summary_sides_and_levels():
    c = Counts.create(2, 1, 3, 44, m1=70, m0=930)
    prior = make_prior([0.7, 0.95], [0.01, 0.1])
    up = posterior_summary(c, prior, alpha=0.05, side="upper")
    two = posterior_summary(c, prior, alpha=0.1, side="two-sided")
    low = posterior_summary(c, prior, alpha=0.05, side="lower")
    assert float(up.lower) == 0.0 and float(low.upper) == 1.0
    # the one-sided 95% bound is the 95% quantile: the upper end of the 90% two-sided
    assert float(up.upper) == pytest.approx(float(two.upper), abs=1e-12)
    assert float(low.lower) == pytest.approx(float(two.lower), abs=1e-12)
    assert float(two.lower) < float(up.median) < float(two.upper)
    assert int(up.status) == Status.CONVERGED


def test_batched_equals_loop_and_no_recompile():
    c = Counts.create(jnp.array([1.0, 0.0, 5.0]), jnp.array([0.0, 1.0, 2.0]), 3.0, 46.0,
                      jnp.array([120.0, 40.0, 300.0]), jnp.array([1880.0, 960.0, 700.0]))
    prior = make_prior([0.8, 0.95], [0.02, 0.1])
    alpha = jnp.array([0.05, 0.1, 0.2])
    batched = posterior_summary(c, prior, alpha=alpha)
    size = post_mod._summary_jit._cache_size()
    for i in range(3):
        one = posterior_summary(Counts(*(f[i] for f in c)), prior, alpha=alpha[i])
        np.testing.assert_allclose(float(one.upper), float(batched.upper[i]), rtol=1e-12)
    # new counts, prior numbers and alpha of the same shape: no new compilation
    other = make_prior([0.6, 0.9], [0.0, 0.2])
    posterior_summary(Counts(*(f[0] + 1 for f in c)), other, alpha=0.01)
    assert post_mod._summary_jit._cache_size() == size


# One compiled registry kernel for the two tests below (same shapes: no recompilation).
_registry_upper = jax.jit(jax.vmap(lambda c1, s1, f1, a1: bayes_interval(c1, s1, f1, a1, "upper")))


def test_registry_signature_traces_under_vmap():
    c = Counts.create(jnp.array([1.0, 2.0]), 0.0, 3.0, 46.0, jnp.array([120.0, 60.0]), 1880.0)
    sb = jnp.array([[0.85, 0.95], [0.8, 0.99]])
    fb = jnp.array([[0.02, 0.08], [0.01, 0.1]])
    out = _registry_upper(c, sb, fb, jnp.array([0.05, 0.1]))
    assert isinstance(out, Interval)
    ones = jnp.ones((2, 2))
    ref = posterior_summary(c, JudgePrior(ones, ones, ones, sb, fb), alpha=jnp.array([0.05, 0.1]))
    np.testing.assert_allclose(out.upper, ref.upper, rtol=1e-12)
    np.testing.assert_allclose(out.estimate, ref.mean, rtol=1e-12)
    np.testing.assert_array_equal(out.lower, 0.0)


def test_traced_bad_input_gives_status_not_exception():
    c = Counts.create(jnp.array([1.0, -1.0]), 0.0, 3.0, 46.0, 10.0, 90.0)
    sb = jnp.array([[0.9, 0.8], [0.8, 0.9]])  # first: lo > hi; second: fine box, negative count
    out = _registry_upper(c, sb, jnp.array([[0.0, 0.1], [0.0, 0.1]]), jnp.array([0.05, 0.05]))
    assert out.status.tolist() == [Status.INFEASIBLE, Status.NONFINITE]
    assert np.all(np.isnan(out.upper)) and np.all(np.isnan(out.lower))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(counts=Counts.create(-1, 0, 3, 46)), "non-negative"),
        (dict(counts=Counts.create(0, 0, 0, 0, 5, 5)), "calibration set is empty"),
        (dict(alpha=1.5), r"alpha must be in \(0, 1\)"),
        (dict(side="both"), "side must be one of"),
        (dict(prior=JudgePrior(jnp.array([0.5, 0.5]), jnp.ones(2), jnp.ones(2),
                               jnp.array([0.0, 1.0]), jnp.array([0.0, 1.0]))), "prior.theta_ab"),
        (dict(prior=JudgePrior(jnp.ones(2), jnp.ones(2), jnp.ones(2),
                               jnp.array([0.9, 0.8]), jnp.array([0.0, 1.0]))), "infeasible"),
        (dict(prior=(1, 1)), "prior must be a JudgePrior"),
    ],
)
def test_bad_input_raises_precise_value_error(kwargs, match):
    args = dict(counts=Counts.create(1, 0, 3, 46, 10, 90), prior=None, alpha=0.05, side="upper")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        posterior_summary(args["counts"], args["prior"], alpha=args["alpha"], side=args["side"])
