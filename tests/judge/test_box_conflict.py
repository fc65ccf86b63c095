"""Box-conflict check: statistic, exact p-value against brute-force enumeration (scipy),
exact size on point boxes, the chi-bar fallback, issue regressions, seeded false-alarm
rates at the least favourable point, widening."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

import jaxcert
from jaxcert import Counts, certify
from jaxcert.judge.box_conflict import (
    BoxConflictError,
    box_check,
    box_check_stats,
    widen_box,
    widen_kernel,
)

ORACLE = dict(rtol=1e-9, atol=1e-12)


def _lr_oracle(k, m, lo, hi):
    """2 [max over [0,1] - max over [lo,hi]] of the binomial log-likelihood (scipy)."""
    if m == 0:
        return 0.0
    p = k / m
    return 2 * (scipy.stats.binom.logpmf(k, m, p)
                - scipy.stats.binom.logpmf(k, m, min(max(p, lo), hi)))


@pytest.mark.parametrize("cells,sb,fb", [
    ((12, 3, 15, 30), (0.9, 0.99), (0.0, 0.1)),  # both crossed, interval boxes
    ((12, 3, 15, 30), (0.5, 0.9), (0.2, 0.4)),  # inside: T = 0, p = 1
    ((8, 2, 4, 36), (0.7, 0.7), (0.2, 0.2)),  # point boxes: chi2_2
    ((8, 2, 4, 36), (0.9, 1.0), (0.0, 0.3)),  # one end at the support: w = 1/2
])
def test_statistic_and_chibar_fallback_against_scipy(cells, sb, fb):
    """A lattice too small for the classes forces the asymptotic chi-bar reference."""
    n11, n10, n01, n00 = cells
    t, p, ts, tr, _, _ = (float(v) for v in box_check_stats(*map(float, cells),
                                                            jnp.array(sb), jnp.array(fb),
                                                            lattice=4))
    t_s, t_r = _lr_oracle(n11, n11 + n10, *sb), _lr_oracle(n01, n01 + n00, *fb)
    np.testing.assert_allclose([ts, tr, t], [t_s, t_r, t_s + t_r], rtol=1e-9, atol=1e-9)

    def weight(lo, hi, m):
        if lo <= 0 and hi >= 1:
            return 0.0
        if lo <= 0 or hi >= 1:
            return 0.5
        c = min(max(0.5, lo), hi)
        return 0.5 + scipy.stats.norm.sf((hi - lo) / math.sqrt(c * (1 - c) / m))

    ws, wr = weight(*sb, n11 + n10), weight(*fb, n01 + n00)
    ref = 1.0 if t == 0 else (ws * wr * scipy.stats.chi2.sf(t, 2)
                              + (ws * (1 - wr) + wr * (1 - ws)) * scipy.stats.chi2.sf(t, 1))
    np.testing.assert_allclose(p, ref, **ORACLE)


def test_wide_corner_weights_are_the_textbook_mixture():
    """Wide two-ended boxes: 1/4 chi2_0 + 1/2 chi2_1 + 1/4 chi2_2 (methods.md, section 4)."""
    t, p, *_ = box_check_stats(400.0, 100.0, 400.0, 600.0, jnp.array([0.82, 0.99]),
                               jnp.array([0.41, 0.98]), lattice=8)
    t = float(t)
    ref = 0.5 * scipy.stats.chi2.sf(t, 1) + 0.25 * scipy.stats.chi2.sf(t, 2)
    np.testing.assert_allclose(float(p), ref, rtol=1e-6)


def _brute_force_p(n11, n10, n01, n00, sb, fb):
    """max over the box corners of P(T >= t_obs), enumerating every (n11, n01) (scipy)."""
    n1, n0 = n11 + n10, n01 + n00
    t_obs = _lr_oracle(n11, n1, *sb) + _lr_oracle(n01, n0, *fb)
    if t_obs <= 0:
        return 1.0
    t1 = np.array([_lr_oracle(k, n1, *sb) for k in range(n1 + 1)])
    t0 = np.array([_lr_oracle(k, n0, *fb) for k in range(n0 + 1)])
    hit = t1[:, None] + t0[None, :] >= t_obs * (1 - 1e-9) - 1e-9
    return max(float(np.sum(np.outer(scipy.stats.binom.pmf(range(n1 + 1), n1, s),
                                     scipy.stats.binom.pmf(range(n0 + 1), n0, r))[hit]))
               for s in sb for r in fb)


def test_exact_p_value_against_brute_force_enumeration():
    rng = np.random.default_rng(3)
    fn = jax.jit(box_check_stats)
    cases = [((8, 2, 4, 36), (0.7, 0.7), (0.2, 0.2)), ((0, 0, 5, 20), (0.9, 1.0), (0.0, 0.1)),
             ((15, 0, 45, 0), (0.7, 1.0), (0.0, 0.3)), ((7, 5, 2, 90), (0.9, 1.0), (0.0, 0.05))]
    for _ in range(40):
        n1, n0 = int(rng.integers(0, 50)), int(rng.integers(1, 150))
        s0, r0 = rng.uniform(0.5, 1.0), rng.uniform(0.0, 0.5)
        w1, w0 = rng.choice([0.0, 0.02, 0.1]), rng.choice([0.0, 0.02, 0.1])
        n11 = int(rng.binomial(n1, np.clip(s0 + rng.normal(0, 0.15), 0, 1)))
        n01 = int(rng.binomial(n0, np.clip(r0 + rng.normal(0, 0.1), 0, 1)))
        cases.append(((n11, n1 - n11, n01, n0 - n01), (max(s0 - w1, 0.0), min(s0 + w1, 1.0)),
                      (max(r0 - w0, 0.0), min(r0 + w0, 1.0))))
    for cells, sb, fb in cases:
        p = float(fn(*map(float, cells), jnp.array(sb), jnp.array(fb))[1])
        np.testing.assert_allclose(p, _brute_force_p(*cells, sb, fb), rtol=1e-9, atol=1e-13)
        assert box_check(Counts.create(*cells), sb, fb).p_value == pytest.approx(p, abs=1e-13)


@pytest.mark.parametrize("s,r,n1,n0", [(0.6, 0.3, 12, 13), (0.95, 0.05, 5, 95),
                                       (0.8, 0.2, 30, 70), (0.9, 0.1, 20, 80)])
def test_exact_size_on_point_boxes_by_enumeration(s, r, n1, n0):
    """Size of the level-0.01 test at a point box, summed over every outcome: <= 0.01.

    The chi2_2 reference it replaces exceeds 0.011 on the first three (0.020 on the
    first): the check can fail."""
    k1, k0 = (a.ravel() for a in np.meshgrid(np.arange(n1 + 1.0), np.arange(n0 + 1.0),
                                             indexing="ij"))
    fn = jax.jit(jax.vmap(lambda a, b: box_check_stats(a, n1 - a, b, n0 - b, jnp.array([s, s]),
                                                       jnp.array([r, r]))[:2]))
    t, p = (np.asarray(v) for v in fn(k1, k0))
    prob = (scipy.stats.binom.pmf(k1, n1, s) * scipy.stats.binom.pmf(k0, n0, r))
    assert prob[p <= 0.01].sum() <= 0.01
    chi2_size = prob[scipy.stats.chi2.sf(t, 2) <= 0.01].sum()
    if (s, r) != (0.9, 0.1):
        assert chi2_size > 0.011


def test_issue_example_always_positive_judge_raises():
    """Judge always 1, 60 labels at 0.25 failure, --tpr 0.7:1 --fpr 0:0.3 (issue 9)."""
    human = [1] * 15 + [0] * 45 + [None] * 240
    judge = [1] * 300
    with pytest.raises(BoxConflictError, match=r"contradict the box bound fpr <= 0\.3") as e:
        certify(human, judge, tpr=(0.7, 1), fpr=(0, 0.3))
    assert isinstance(e.value, ValueError)
    assert e.value.box_check.rejected and e.value.box_check.p_value < 1e-10
    # widened, the data show a judge at chance: the correction is refused, not faked
    with pytest.raises(ValueError, match="no better than chance"):
        certify(human, judge, tpr=(0.7, 1), fpr=(0, 0.3), on_conflict="widen")


def test_issue_example_inverted_judge_raises():
    human, judge = [1] * 15 + [0] * 45, [0] * 15 + [1] * 45
    with pytest.raises(BoxConflictError) as e:
        certify(human, judge, tpr=(0.7, 1), fpr=(0, 0.3))
    assert e.value.box_check.contradicted in ("fpr <= 0.3", "tpr >= 0.7")


def test_widen_uses_the_exact_interval_and_says_so():
    c = Counts.create(12, 3, 15, 30, m1=100, m0=200)
    r = certify(c, tpr=(0.7, 1.0), fpr=(0.0, 0.1), side="upper", on_conflict="widen")
    _, hi = scipy.stats.binomtest(15, 45).proportion_ci(0.99, method="exact")
    np.testing.assert_allclose(r.fpr_box[1], hi, **ORACLE)
    assert r.fpr_box[0] == 0.0 and r.tpr_box == (0.7, 1.0)
    assert r.box_check["widened"] and r.box_check["contradicted"] == "fpr <= 0.1"
    assert any("fpr box widened from [0, 0.1]" in w for w in r.warnings)
    assert "fpr box widened" in str(r)
    np.testing.assert_allclose(widen_box(15, 45, (0.0, 0.1), 0.01), (0.0, hi), **ORACLE)


def test_widen_kernel_equals_eager_widening():
    c = Counts.create(12.0, 3.0, 15.0, 30.0, 100.0, 200.0)
    sb, fb, rej, _ = jax.jit(widen_kernel)(c, jnp.array([0.7, 1.0]), jnp.array([0.0, 0.1]), 0.01)
    assert bool(rej)
    np.testing.assert_allclose(np.asarray(fb), widen_box(15, 45, (0.0, 0.1), 0.01), **ORACLE)
    np.testing.assert_allclose(np.asarray(sb), [0.7, 1.0], **ORACLE)


def test_no_box_no_check_and_bad_options():
    r = certify(Counts.create(12, 3, 15, 30, m1=100, m0=200))
    assert r.box_check is None
    with pytest.raises(ValueError, match="on_conflict must be"):
        certify(Counts.create(12, 3, 15, 30), tpr=(0.5, 1), on_conflict="ignore")
    with pytest.raises(ValueError, match="box_alpha must be"):
        certify(Counts.create(12, 3, 15, 30), tpr=(0.5, 1), box_alpha=1.5)


@pytest.mark.slow
@pytest.mark.parametrize("s,r,sb,fb,n1,n0", [
    (0.8, 0.1, (0.8, 0.9), (0.05, 0.1), 30, 170),  # corner of a +-0.05-type box
    (0.9, 0.1, (0.9, 0.9), (0.1, 0.1), 20, 80),  # point box (exact)
    (0.7, 0.3, (0.7, 0.74), (0.26, 0.3), 3, 22),  # narrow box, few labels
    (0.95, 0.05, (0.85, 1.0), (0.0, 0.15), 50, 450),  # interior of a wide box
])
def test_false_alarms_on_correct_boxes(s, r, sb, fb, n1, n0):
    """Seeded: rejection rate at a true (s, r) in the box <= box_alpha + 2 MC-SE."""
    reps = 20000
    rng = np.random.default_rng(7)
    n11 = rng.binomial(n1, s, reps).astype(float)
    n01 = rng.binomial(n0, r, reps).astype(float)
    fn = jax.jit(jax.vmap(lambda a, b: box_check_stats(a, n1 - a, b, n0 - b, jnp.array(sb),
                                                       jnp.array(fb))[1]))
    rate = float(np.mean(np.asarray(fn(n11, n01)) <= 0.01))
    assert rate <= 0.01 + 2 * math.sqrt(0.01 * 0.99 / reps)


def test_detects_a_box_shifted_by_point_two():
    reps = 4000
    rng = np.random.default_rng(8)
    n11, n01 = rng.binomial(20, 0.9, reps), rng.binomial(180, 0.1, reps)
    fn = jax.jit(jax.vmap(lambda a, b: box_check_stats(a, 20.0 - a, b, 180.0 - b,
                                                       jnp.array([0.68, 0.72]),
                                                       jnp.array([0.28, 0.32]))[1]))
    assert float(np.mean(np.asarray(fn(n11.astype(float), n01.astype(float))) <= 0.01)) > 0.99


def test_public_names():
    assert jaxcert.BoxConflictError is BoxConflictError
    assert box_check(Counts.create(15, 0, 45, 0), (0.7, 1.0), (0.0, 0.3)).rejected


def test_hull_mode_always_widens_both_boxes_and_says_so():
    from jaxcert.intervals import clopper_pearson
    from jaxcert.judge import certify

    c = Counts.create(9, 1, 2, 38, m1=300, m0=700)
    res = certify(c, tpr=(0.95, 0.99), fpr=(0.0, 0.02), on_conflict="hull", box_alpha=0.01)
    tpr_ci = clopper_pearson(9, 10, alpha=0.01, side="two-sided")
    fpr_ci = clopper_pearson(2, 40, alpha=0.01, side="two-sided")
    assert res.tpr_box[0] == pytest.approx(float(tpr_ci.lower), abs=1e-12)
    assert res.tpr_box[1] == pytest.approx(max(0.99, float(tpr_ci.upper)), abs=1e-12)
    assert res.fpr_box == pytest.approx((0.0, float(fpr_ci.upper)), abs=1e-12)
    assert any("hulled" in w for w in res.warnings)
    # No calibration item with Y=1: nothing checks the TPR box, so it becomes [0, 1].
    res0 = certify(Counts.create(0, 0, 2, 48, m1=30, m0=970), tpr=(0.9, 0.95),
                   fpr=(0.0, 0.1), on_conflict="hull")
    assert res0.tpr_box == (0.0, 1.0)
    with pytest.raises(ValueError, match="hull"):
        certify(c, tpr=(0.9, 0.99), fpr=(0.0, 0.1), on_conflict="hull", labelling="stratified")
