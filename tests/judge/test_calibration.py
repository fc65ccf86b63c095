"""The calibrated CMLE bound: oracles, invariants, trace-time shape checks, coverage."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

import jaxcert
from jaxcert import Counts
from jaxcert.judge import calibration
from jaxcert.judge.calibration import calibrated_bound, calibrated_interval, effective_binomial
from jaxcert.judge.cmle_intervals import profile_interval

ORACLE = dict(rtol=1e-9, atol=1e-12)
UNIT = jnp.array([0.0, 1.0])


@pytest.mark.parametrize("k,n", [(0, 200), (3, 50), (10, 25), (25, 25), (1, 1)])
def test_human_only_is_clopper_pearson(k, n):
    """N = 0 and box [0, 1]: the profile likelihood is binomial, so the bound is exact CP."""
    c = Counts.create(k, 0, 0, n - k)
    two = calibrated_interval(c, None, None, alpha=0.05, side="two-sided")
    lo, hi = scipy.stats.binomtest(k, n).proportion_ci(0.95, method="exact")
    np.testing.assert_allclose([float(two.lower), float(two.upper)], [lo, hi], **ORACLE)
    up = calibrated_interval(c, None, None, alpha=0.05, side="upper")
    _, hi1 = scipy.stats.binomtest(k, n, alternative="less").proportion_ci(0.95, method="exact")
    np.testing.assert_allclose(float(up.upper), hi1, **ORACLE)
    assert float(up.lower) == 0.0


def test_effective_binomial_matches_the_lr_bound():
    """m_eff, k_eff reproduce the LR bound: 2 m KL(k/m || U0) = crit (closed form)."""
    m, k = effective_binomial(0.1, 0.2, 2.7)
    kl = 0.1 * math.log(0.1 / 0.2) + 0.9 * math.log(0.9 / 0.8)
    np.testing.assert_allclose(float(m), 2.7 / (2 * kl), **ORACLE)
    np.testing.assert_allclose(float(k), 0.1 * float(m), **ORACLE)
    assert math.isinf(float(effective_binomial(0.1, 1.0, 2.7)[0]))


@pytest.mark.slow  # compile-bound (20-40 s on 2 cores): keeps the default tier under 10 min; CI runs both
def test_never_inside_the_profile_interval():
    rng = np.random.default_rng(0)
    sb, fb = [0.6, 0.95], [0.02, 0.3]
    for _ in range(6):  # one problem at a time: one compiled shape, shared with certify
        cal = rng.integers(0, 40, size=4).astype(float) + [0, 0, 0, 1]
        c = Counts.create(*cal, *rng.integers(0, 3000, size=2).astype(float))
        cal_iv = calibrated_interval(c, sb, fb, alpha=0.1, side="upper")
        pro = profile_interval(c, sb, fb, alpha=0.1, side="upper")
        assert float(cal_iv.upper) >= float(pro.upper) - 1e-12
        assert 0.0 == float(cal_iv.lower) <= float(cal_iv.estimate) <= float(cal_iv.upper)
        assert int(cal_iv.status) == 0


@pytest.mark.slow  # compile-bound (20-40 s on 2 cores): keeps the default tier under 10 min; CI runs both
def test_vmap_equals_loop_and_alpha_is_traced():
    cs = [Counts.create(2.0, 1.0, 3.0, 44.0, 60.0, 940.0),
          Counts.create(0.0, 0.0, 5.0, 45.0, 30.0, 970.0)]
    sb, fb = jnp.array([0.8, 0.95]), jnp.array([0.0, 0.1])
    batch = Counts(*(jnp.stack(f) for f in zip(*cs, strict=True)))
    fn = jax.jit(jax.vmap(lambda c, a: calibrated_bound(c, sb, fb, a, "upper")))
    out = fn(batch, jnp.array([0.05, 0.1]))
    for i, (c, a) in enumerate(zip(cs, (0.05, 0.1), strict=True)):
        one = calibrated_bound(c, sb, fb, a, "upper")
        np.testing.assert_allclose(float(out.upper[i]), float(one.upper), rtol=1e-12)
    calibrated_interval(cs[0], sb, fb, alpha=0.05, side="upper")
    size = calibration._calibrated_jit._cache_size()
    calibrated_interval(cs[1], [0.7, 0.9], [0.01, 0.2], alpha=0.2, side="upper")
    assert calibration._calibrated_jit._cache_size() == size


@pytest.mark.parametrize("bad", [jnp.array(0.9), jnp.array([0.8, 0.9, 0.95]),
                                 jnp.array([[0.8, 0.9]])])
def test_wrong_box_shape_rejected_at_trace_time(bad):
    c = Counts.create(2.0, 1.0, 3.0, 44.0, 60.0, 940.0)
    fn = jax.jit(lambda b: calibrated_bound(c, b, UNIT, 0.05, "upper"))
    with pytest.raises(ValueError, match="tpr_bounds must have shape"):
        fn(bad)
    with pytest.raises(ValueError, match="a scalar is not a box"):
        calibrated_interval(c, 0.9, None, alpha=0.05, side="upper")


def test_example_of_issue_corner():
    """n theta ~ 2 with no labelled failure: CP-like, about 2.2x the profile bound."""
    c = Counts.create(0, 0, 20, 180, m1=0, m0=0)
    up = calibrated_interval(c, None, None, alpha=0.05, side="upper")
    np.testing.assert_allclose(float(up.upper), 1 - 0.05 ** (1 / 200), **ORACLE)
    pro = profile_interval(c, None, None, alpha=0.05, side="upper")
    assert float(up.upper) > 2 * float(pro.upper)


@pytest.mark.slow
@pytest.mark.parametrize("acc,n,theta,N,box", [(0.7, 200, 0.01, 1000, "+-0.05"),
                                               (0.9, 200, 0.01, 10000, "+-0.02"),
                                               (0.6, 25, 0.1, 1000, "+-0.1"),
                                               (0.95, 25, 0.05, 10000, "+-0.05")])
def test_coverage_where_the_profile_bound_fails(acc, n, theta, N, box):
    """Worst cells of the reproduction grid (profile 0.86-0.92): seeded, 2000 replicates."""
    from jaxcert.sim.scenarios import product_grid
    from jaxcert.sim.simulate import simulate_one

    g = product_grid(theta=theta, n=n, N=N, accuracy=acc, box=box)
    s, r = float(g.tpr[0]), float(g.fpr[0])
    sb, fb = jnp.asarray(g.tpr_box[0]), jnp.asarray(g.fpr_box[0])
    reps = 2000
    keys = jax.random.split(jax.random.key(11), reps)
    fn = jax.jit(jax.vmap(lambda k: calibrated_bound(
        simulate_one(k, theta, s, r, float(n), float(N)), sb, fb, 0.05, "upper").upper))
    cover = float(np.mean(np.asarray(fn(keys)) >= theta))
    assert cover >= 0.95 - 2 * math.sqrt(0.95 * 0.05 / reps)


def test_public_reexport():
    assert jaxcert.calibrated_interval is calibrated_interval


@pytest.mark.parametrize("front_door", ["mle", "profile_interval", "wald_interval"])
def test_scalar_bound_is_not_a_point_box_under_jit(front_door):
    """The shape check is static, so it also runs on traced bounds (jit/vmap)."""
    import jaxcert.judge as judge

    fn = getattr(judge, front_door)
    c = Counts.create(2.0, 1.0, 3.0, 44.0, 60.0, 940.0)
    jitted = jax.jit(lambda b: fn(c, b, UNIT)[0])
    with pytest.raises(ValueError, match="a scalar is not a box"):
        jitted(jnp.asarray(0.9))
    assert np.isfinite(float(jitted(jnp.array([0.8, 0.95]))))
