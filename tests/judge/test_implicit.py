"""Implicit derivatives of the CMLE and the certificate bounds vs central differences.

The oracle is a central finite difference of the forward solve (an independent
computation: it never calls the custom JVP rules). Away from kinks the two must
agree to 1e-6 relative (norm-wise per output, see ``_compare``).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcert import Counts
from jaxcert.judge import mle, umle
from jaxcert.judge.calibration import calibrated_bound
from jaxcert.judge.cmle_intervals import lr_bound


def _problems(seed, num):
    """Random boxed problems around a simulated judge; boxes often bind the optimum."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(num):
        t, s, r = rng.uniform(0.02, 0.5), rng.uniform(0.6, 0.99), rng.uniform(0.01, 0.3)
        n, big_n = rng.integers(20, 400), rng.integers(0, 5000)
        y = rng.binomial(1, t, n)
        j = np.where(y == 1, rng.binomial(1, s, n), rng.binomial(1, r, n))
        m1 = rng.binomial(big_n, t * s + (1 - t) * r)
        w = rng.uniform(0.01, 0.15)
        rows.append([np.sum((y == 1) & (j == 1)), np.sum((y == 1) & (j == 0)),
                     np.sum((y == 0) & (j == 1)), np.sum((y == 0) & (j == 0)), m1, big_n - m1,
                     max(s - w * rng.uniform(0, 2), 0.0), min(s + w * rng.uniform(0, 2), 1.0),
                     max(r - w * rng.uniform(0, 2), 0.0), min(r + w * rng.uniform(0, 2), 1.0)])
    return jnp.asarray(np.array(rows, float))


def _central_differences(fn, p):
    """(batch, outputs, inputs) central differences: step 1e-6 x max(|p|, 1)."""
    h = 1e-6 * jnp.maximum(jnp.abs(p), 1.0)
    cols = []
    for k in range(p.shape[1]):
        e = jnp.zeros_like(p).at[:, k].set(h[:, k])
        cols.append((fn(p + e) - fn(p - e)) / (2.0 * h[:, k:k + 1]))
    return jnp.stack(cols, -1)


def _compare(fn, p, skip=None):
    vfn = jax.jit(jax.vmap(fn))
    jac = np.asarray(jax.jit(jax.vmap(jax.jacfwd(fn)))(p))
    fd = np.asarray(_central_differences(vfn, p))
    # A zero count sits on the edge of the domain (no central difference; the nll's
    # derivative there is +inf when its cell has probability 0: eps log eps).
    # Likewise a box bound at 0 or 1 (the box must stay in [0, 1]).
    k, pa = np.arange(p.shape[1]), np.asarray(p)
    edge = ((k < 6) & (pa == 0)) | ((k >= 6) & (k < 10) & ((pa == 0) | (pa == 1)))
    interior = ~edge[:, None, :]
    interior = np.broadcast_to(interior, jac.shape)
    if skip is not None:
        interior = interior & ~skip
    assert np.all(np.isfinite(jac[interior]))
    # Norm-wise relative error per (problem, output): the gradient's error against
    # its largest component (a tiny component inherits the solver's absolute
    # accuracy, ~1e-10 in log-likelihood units, not a relative one).
    scale = np.max(np.where(interior, np.abs(fd), 0.0), -1, keepdims=True)
    err = np.where(interior, np.abs(jac - fd) - (1e-6 * scale + 1e-9), -1.0)
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert err.max() <= 0, (worst, jac[worst], fd[worst])
    return jac


def _mle_outputs(p):
    res = mle(Counts(*p[:6]), p[6:8], p[8:10])
    return jnp.stack([res.theta, res.tpr, res.fpr, res.nll])


def _sizes(quick, full):
    return [quick, pytest.param(full, marks=pytest.mark.slow)]


@pytest.mark.parametrize("num", _sizes(100, 500))
def test_mle_gradients_match_central_differences(num):
    p = _problems(0, num)
    # At theta_hat = 0 the TPR does not enter the likelihood (at 1, the FPR): any value
    # in its box is a maximiser, the solver's pick is a tie-break, and the documented
    # derivative is the minimum-norm one (0), not the tie-break's. Those outputs are
    # not compared.
    theta = np.asarray(jax.vmap(_mle_outputs)(p))[:, 0]
    skip = np.zeros((p.shape[0], 4, p.shape[1]), bool)
    skip[theta == 0.0, 1, :] = True
    skip[theta == 1.0, 2, :] = True
    jac = _compare(_mle_outputs, p, skip)
    # The set covers optima on a bound: the derivative of tpr/fpr in their own bound is 1.
    on_bound = np.isclose(jac[:, 1, 6:8], 1.0).any(-1) | np.isclose(jac[:, 2, 8:10], 1.0).any(-1)
    assert on_bound.mean() > 0.3
    assert (~on_bound).mean() > 0.1


@pytest.mark.parametrize("num", [pytest.param(20, marks=pytest.mark.slow),
                                 pytest.param(300, marks=pytest.mark.slow)])
def test_profile_bound_gradients_match_central_differences(num):
    def ends(p):
        c, sb, fb = Counts(*p[:6]), p[6:8], p[8:10]
        return jnp.stack([lr_bound(c, sb, fb, p[10], True)[0],
                          lr_bound(c, sb, fb, p[10], False)[0]])

    p = _problems(1, num)
    p = jnp.concatenate([p, jnp.full((p.shape[0], 1), 2.7)], 1)
    jac = _compare(ends, p)
    assert np.abs(jac[:, :, 6:10]).max() > 0.01  # some box bound matters


# Slow tier only: compiling the differentiated calibrated bound and its central
# differences takes ~30 s on 2 cores (the default tier keeps the MLE gradients).
@pytest.mark.parametrize("num", [pytest.param(12, marks=pytest.mark.slow),
                                 pytest.param(200, marks=pytest.mark.slow)])
def test_calibrated_bound_gradients_match_central_differences(num):
    def ends(p):
        iv = calibrated_bound(Counts(*p[:6]), p[6:8], p[8:10], p[10], "two-sided")
        return jnp.stack([iv.lower, iv.upper])

    p = _problems(2, num)
    p = jnp.concatenate([p, jnp.full((p.shape[0], 1), 0.05)], 1)
    jac = _compare(ends, p)
    assert np.all(jac[:, 1, 10] < 0)  # a larger alpha gives a smaller upper bound


@pytest.mark.slow  # compile-bound (20-40 s on 2 cores): keeps the default tier under 10 min; CI runs both
def test_vmap_grad_of_public_mle():
    p = _problems(3, 8)
    g = jax.vmap(jax.grad(lambda q: mle(Counts(*q[:6]), q[6:8], q[8:10]).theta))(p)
    assert g.shape == (8, 10) and bool(jnp.all(jnp.isfinite(g)))


@pytest.mark.slow  # compile-bound (20-40 s on 2 cores): keeps the default tier under 10 min; CI runs both
def test_bad_traced_lane_does_not_poison_the_gradient_of_shared_counts():
    # A sweep over boxes for one set of counts, one box NaN (traced, so no front-door
    # error). The exact solver runs on raw input and masks bad lanes afterwards; the
    # mask's zero cotangent must not meet NaN coefficients of the bad lane on the way
    # back (NaN * 0 = NaN would spread to the counts every lane shares).
    p = _problems(4, 4)
    fb = p[:, 8:10].at[1, 0].set(jnp.nan)

    def total(c, boxes):
        return jnp.nansum(mle(Counts(*c), p[:, 6:8], boxes).theta)

    g = jax.grad(total)(p[0, :6], fb)
    keep = jnp.array([0, 2, 3])
    good = jax.grad(lambda c: jnp.sum(mle(Counts(*c), p[keep, 6:8], fb[keep]).theta))(p[0, :6])
    assert bool(jnp.all(jnp.isfinite(g)))
    np.testing.assert_allclose(np.asarray(g), np.asarray(good), rtol=1e-12, atol=1e-15)


@pytest.mark.slow  # compile-bound (20-40 s on 2 cores): keeps the default tier under 10 min; CI runs both
def test_kink_returns_the_loosening_one_sided_derivative():
    # Box edge exactly at the unconstrained optimum: the bound touches with zero
    # multiplier. Documented: the derivative is the one for loosening (0 here).
    c = Counts.create(30.0, 10.0, 8.0, 152.0, m1=700.0, m0=3300.0)
    s_hat = float(umle(c)[1])
    f = lambda hi: mle(c, jnp.stack([0.5, hi]), jnp.array([0.0, 0.5])).theta  # noqa: E731
    g = float(jax.grad(f)(jnp.asarray(s_hat)))
    h = 1e-6
    loosen = (float(f(s_hat + h)) - float(f(s_hat))) / h
    tighten = (float(f(s_hat)) - float(f(s_hat - h))) / h
    assert abs(g - loosen) <= 1e-6
    assert abs(tighten) > 1e-3  # it is a kink: the other side differs


@pytest.mark.slow
@pytest.mark.parametrize("side", ["upper", "lower"])
def test_bound_at_support_edge_has_zero_derivative(side):
    # All calibration items pass and the judge flags nothing: lower end is 0.
    c = jnp.array([0.0, 0.0, 0.0, 50.0, 0.0, 1000.0])
    fn = lambda sb: lr_bound(Counts(*c), sb, jnp.array([0.0, 0.1]), 2.7,  # noqa: E731
                             side == "upper")[0]
    g = jax.grad(fn)(jnp.array([0.8, 0.95]))
    assert bool(jnp.all(jnp.isfinite(g)))
    if side == "lower":
        assert float(jnp.abs(g).max()) == 0.0
