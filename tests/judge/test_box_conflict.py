"""Box-conflict check: statistic and chi-bar p-value against scipy, issue regressions,
seeded false-alarm rates at the least favourable point, widening."""

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
def test_statistic_and_p_value_against_scipy(cells, sb, fb):
    n11, n10, n01, n00 = cells
    t, p, ts, tr, _, _ = (float(v) for v in box_check_stats(*map(float, cells),
                                                            jnp.array(sb), jnp.array(fb)))
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
                               jnp.array([0.41, 0.98]))
    t = float(t)
    ref = 0.5 * scipy.stats.chi2.sf(t, 1) + 0.25 * scipy.stats.chi2.sf(t, 2)
    np.testing.assert_allclose(float(p), ref, rtol=1e-6)


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
