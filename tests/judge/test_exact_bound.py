"""The fast profile bound (lr_bound, profile_lr) against the previous implementation.

Oracle: ``_profile_reference.reference_end`` (projected-Newton inner solves nested in a
bracketed Newton root search: an independent code path), on problems where the
projected-Newton and exact MLEs agree (elsewhere the reference starts from a stalled
MLE, see test_exact_solver); plus the LR equation at the returned ends.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxcert  # noqa: F401  (float64)
from jaxcert import Counts
from jaxcert._types import Status
from jaxcert.judge import solver as S
from jaxcert.judge._lane_solve import solve_problem
from jaxcert.judge._profile_reference import reference_end
from jaxcert.judge.cmle_intervals import lr_bound, profile_interval, profile_lr

CRIT = 2.705543454095404  # z_{0.95}^2


def _problems(num, seed):
    """Identified problems: zero failures, theta near 0, point boxes, boxes at 0/1."""
    rng = np.random.default_rng(seed)
    c, sb, fb = np.zeros((num, 6)), np.zeros((num, 2)), np.zeros((num, 2))
    for i in range(num):
        n = rng.integers(5, 400)
        t = rng.choice([0.0, 1e-3, rng.uniform(0, 0.6)])
        s, r = rng.uniform(0.55, 1.0), rng.uniform(0.0, 0.45)
        y1 = rng.binomial(n, t)
        n11, n01 = rng.binomial(y1, s), rng.binomial(n - y1, r)
        nn = rng.choice([0, int(rng.integers(10, 3000)), int(10 ** rng.uniform(3, 6))])
        m1 = rng.binomial(nn, t * s + (1 - t) * r)
        c[i] = [n11, y1 - n11, n01, n - y1 - n01, m1, nn - m1]
        kind = rng.integers(0, 4)
        sb[i] = [[s, s], [0.5, 1.0], [0.0, 1.0], np.sort(rng.uniform(0.5, 1, 2))][kind]
        fb[i] = [[r, r], [0.0, 0.5], [0.0, 0.45], np.sort(rng.uniform(0, 0.45, 2))][kind]
    return c, sb, fb


@pytest.fixture(scope="module")
def compared():
    c, sb, fb = _problems(200, seed=3)
    c[0] = [0, 0, 3, 47, 40, 960]  # zero failures (theta_hat = 0)
    c[1] = [0, 0, 0, 200, 0, 0]  # no failure, no judge data
    out = {}
    for upper in (True, False):
        def old(c1, s1, f1, upper=upper):
            x, f = solve_problem(c1, s1, f1, "newton", 200, 1e-10, 0.0)[:2]
            return reference_end(c1, s1, f1, x, -f, CRIT, 1.0 if upper else 0.0)

        def new(c1, s1, f1, upper=upper):
            return lr_bound(Counts(*c1), s1, f1, CRIT, upper)

        out[upper] = (jax.jit(jax.vmap(old))(c, sb, fb), jax.jit(jax.vmap(new))(c, sb, fb))
    f_nt = np.asarray(S.mle(Counts(*c.T), sb, fb, solver="newton").nll)
    f_ex = np.asarray(S.mle(Counts(*c.T), sb, fb).nll)
    same_mle = np.abs(f_nt - f_ex) <= 1e-9 * np.abs(f_ex)
    return c, sb, fb, out, same_mle


@pytest.mark.slow
@pytest.mark.parametrize("upper", [True, False])
def test_agrees_with_previous_implementation(compared, upper):
    c, sb, fb, out, same = compared
    (e_old, ok_old), (e_new, st_new) = out[upper]
    e_old, e_new, st_new = np.asarray(e_old), np.asarray(e_new), np.asarray(st_new)
    assert np.all(np.asarray(ok_old)) and same.sum() >= 185
    np.testing.assert_array_equal(st_new[same] == Status.MAX_STEPS, False)
    np.testing.assert_allclose(e_new[same], e_old[same], rtol=0, atol=1e-8)
    assert np.all((e_new >= 0) & (e_new <= 1))


@pytest.mark.slow
def test_ends_solve_the_lr_equation(compared):
    c, sb, fb, out, _ = compared
    (_, _), (e_up, _) = out[True]
    lr = jax.vmap(lambda t, c1, s1, f1: profile_lr(t, Counts(*c1), s1, f1))(e_up, c, sb, fb)
    inside = np.asarray(e_up) < 1.0
    np.testing.assert_allclose(np.asarray(lr)[inside], CRIT, atol=1e-8)
    assert float(e_up[0]) > 0.0 and float(out[False][1][0][0]) == 0.0  # zero failures


def test_traced_crit_does_not_recompile():
    c = Counts(*jnp.array([3.0, 1.0, 2.0, 44.0, 60.0, 940.0]))
    sb, fb = jnp.array([0.6, 0.95]), jnp.array([0.0, 0.05])
    f = jax.jit(lambda crit: lr_bound(c, sb, fb, crit, True)[0])
    ends = [float(f(jnp.float64(k))) for k in (1.0, 2.0, 4.0)]
    assert f._cache_size() == 1 and ends[0] < ends[1] < ends[2]
    iv = profile_interval(Counts.create(3, 1, 2, 44, 60, 940), [0.6, 0.95], [0.0, 0.05],
                          alpha=0.05, side="upper")
    np.testing.assert_allclose(float(iv.upper), float(f(jnp.float64(CRIT))), rtol=1e-12)
