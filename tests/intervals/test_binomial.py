"""Tests for jaxcert.intervals: beta quantiles, Clopper-Pearson, Wilson, sample sizes.

Oracles: scipy.special.betaincinv, scipy.stats.binomtest(...).proportion_ci,
statsmodels proportion_confint, closed forms, exact binomial enumeration.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special as sc
from scipy.stats import binom, binomtest, norm
from statsmodels.stats.proportion import proportion_confint

import jaxcert  # noqa: F401  (enables x64)
from jaxcert._types import Status
from jaxcert.intervals import betaincinv, clopper_pearson, uniform_samples_needed, wilson
from jaxcert.intervals import binomial as _binomial

#: Absolute agreement of interval ends with scipy / statsmodels (the brief's target).
ATOL_CI = 1e-10
#: Relative agreement of beta quantiles for moderate shapes (a + b <= 1e4).
RTOL_Q = 1e-9
#: Relative agreement for a + b up to 1e7: jax's betainc carries ~1e-8 relative
#: error there (lgamma-difference prefactor), amplified by 1/a for tiny a.
RTOL_Q_LARGE = 5e-5

# scipy names a one-sided interval by the alternative hypothesis it tests.
SCIPY_ALT = {"two-sided": "two-sided", "upper": "less", "lower": "greater"}


def _cp_table():
    rows = []
    for n in (1, 2, 7, 50, 1000, 10**6):
        ks = {0, 1, 2, 3, n // 3, n // 2, n - 3, n - 2, n - 1, n}
        for k in sorted(k for k in ks if 0 <= k <= n):
            for alpha in (0.01, 0.05, 0.1, 0.32):
                rows.append((k, n, alpha))
    return np.array(rows, dtype=float)


CP_TABLE = _cp_table()

# Every call below is padded to one length, so each jitted kernel compiles once per
# side for the whole file (compiles dominate the run time on a shared CPU).
PAD = 320


def _pad(arrays, fills):
    arrs = np.broadcast_arrays(*[np.asarray(a, dtype=float) for a in arrays])
    m = arrs[0].size
    assert m <= PAD
    pairs = zip(arrs, fills, strict=True)
    return m, [np.concatenate([a.ravel(), np.full(PAD - m, f)]) for a, f in pairs]


def cp(k, n, alpha=0.05, side="two-sided", fn=clopper_pearson):
    m, (k, n, alpha) = _pad((k, n, alpha), (0.0, 1.0, 0.05))
    iv = fn(k, n, alpha, side)
    return type(iv)(*(np.asarray(f)[:m] for f in iv))


def wl(k, n, alpha=0.05, side="two-sided"):
    return cp(k, n, alpha, side, fn=wilson)


def binv(a, b, p):
    m, (a, b, p) = _pad((a, b, p), (1.0, 1.0, 0.5))
    return np.asarray(betaincinv(a, b, p))[:m]


def test_betaincinv_matches_scipy_moderate():
    a, b, p = np.meshgrid(
        [0.05, 0.5, 1.0, 2.5, 10.0, 300.0, 5000.0],
        [0.05, 1.0, 3.0, 40.0, 5000.0],
        [1e-250, 1e-12, 1e-4, 0.025, 0.3, 0.5, 0.8, 0.975, 1 - 1e-9],
        indexing="ij",
    )
    a, b, p = a.ravel(), b.ravel(), p.ravel()
    x = binv(a, b, p)
    with np.errstate(all="ignore"):
        ref = sc.betaincinv(a, b, p)
    # scipy returns NaN for a few far-tail cases and floors underflow at 2.2e-308;
    # there the residual check below is the oracle.
    ok = np.isfinite(ref) & (ref > 1e-300)
    np.testing.assert_allclose(x[ok], ref[ok], rtol=RTOL_Q, atol=0)
    np.testing.assert_allclose(1 - x[ok], 1 - ref[ok], rtol=RTOL_Q, atol=1e-15)
    assert np.all(x[~ok & np.isfinite(ref)] < 1e-300)
    # Residual: scipy's I_x(a, b) at our x reproduces p (lower tail, where x itself,
    # not 1 - x, carries the precision).
    # jax's betainc (lgamma-difference prefactor) is good to ~1e-12 relative for
    # moderate shapes, to a few 1e-9 at a + b ~ 1e4 or a shape << 1 (x near 0 or 1).
    tiny = (x > 1e-300) & (p <= 0.5)
    moderate = (a + b <= 50) & (np.minimum(a, b) >= 0.5)
    rtol = np.where(moderate, 1e-11, 1e-8)[tiny]
    res = np.abs(sc.betainc(a, b, x)[tiny] / p[tiny] - 1)
    assert np.all(res <= rtol), res.max()


def test_betaincinv_large_and_tiny_shapes():
    a, b, p = np.meshgrid(
        [1e-3, 0.1, 1.0, 2.0, 1e3, 1e6],
        [1e6, 1e7],
        [1e-12, 1e-6, 0.025, 0.3, 0.975],
        indexing="ij",
    )
    a, b, p = a.ravel(), b.ravel(), p.ravel()
    x = binv(a, b, p)
    ref = sc.betaincinv(a, b, p)
    rtol = np.where(a < 1, RTOL_Q_LARGE, 5e-7)
    ok = ref > 1e-300  # scipy floors underflow at 2.2e-308
    assert np.all(x[~ok] < 1e-300)
    err = np.abs(x - ref)[ok] / ref[ok]
    assert np.all(err <= rtol[ok]), err.max()


def test_betaincinv_ends_and_symmetry():
    x = binv([2.0, 2.0, 3.0, 4.0, 9.0], [5.0, 5.0, 3.0, 9.0, 4.0], [0.0, 1.0, 0.5, 0.2, 0.8])
    assert x[0] == 0.0 and x[1] == 1.0
    assert abs(x[2] - 0.5) < 1e-14
    # I_x(a, b) = 1 - I_{1-x}(b, a).
    assert abs(x[3] - (1 - x[4])) < 1e-14


@pytest.mark.parametrize(
    "args, match",
    [((0.0, 1.0, 0.5), "a must"), ((1.0, -1.0, 0.5), "b must"), ((1.0, 1.0, 1.5), "p must"),
     ((1.0, 1.0, np.nan), "p must")],
)
def test_betaincinv_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        betaincinv(*args)


@pytest.mark.parametrize("side", ["two-sided", "upper", "lower"])
def test_clopper_pearson_matches_scipy(side):
    k, n, alpha = CP_TABLE.T
    iv = cp(k, n, alpha, side)
    lo, hi = [], []
    for kk, nn, aa in CP_TABLE:
        ci = binomtest(int(kk), int(nn), alternative=SCIPY_ALT[side]).proportion_ci(
            confidence_level=1 - aa, method="exact"
        )
        lo.append(ci.low)
        hi.append(ci.high)
    np.testing.assert_allclose(np.asarray(iv.lower), lo, rtol=0, atol=ATOL_CI)
    np.testing.assert_allclose(np.asarray(iv.upper), hi, rtol=0, atol=ATOL_CI)
    np.testing.assert_allclose(np.asarray(iv.estimate), k / n, rtol=1e-15)
    assert np.all(np.asarray(iv.status) == Status.CONVERGED)


def test_scipy_one_sided_naming():
    # scipy "less" = H1: p < p0, the interval [0, U]: our side="upper".
    ci = binomtest(3, 40, alternative="less").proportion_ci(0.95, method="exact")
    _, lo, hi, _ = (f[0] for f in cp(3, 40, 0.05, side="upper"))
    assert ci.low == 0.0 and lo == 0.0
    assert abs(hi - ci.high) < ATOL_CI
    # scipy "greater" = H1: p > p0, the interval [L, 1]: our side="lower".
    ci = binomtest(3, 40, alternative="greater").proportion_ci(0.95, method="exact")
    _, lo, hi, _ = (f[0] for f in cp(3, 40, 0.05, side="lower"))
    assert ci.high == 1.0 and hi == 1.0
    assert abs(lo - ci.low) < ATOL_CI


def test_clopper_pearson_matches_statsmodels_two_sided():
    k, n, alpha = CP_TABLE.T
    iv = cp(k, n, alpha)
    lo, hi = proportion_confint(k, n, alpha=alpha, method="beta")
    np.testing.assert_allclose(np.asarray(iv.lower), lo, rtol=0, atol=ATOL_CI)
    np.testing.assert_allclose(np.asarray(iv.upper), hi, rtol=0, atol=ATOL_CI)


def test_zero_failures_upper_is_closed_form():
    n = np.array([1.0, 2.0, 30.0, 2995.0, 1e6, 1e7])
    for alpha in (0.05, 0.01):
        iv = cp(np.zeros_like(n), n, alpha, side="upper")
        # 1 - alpha^(1/n), written without cancellation.
        np.testing.assert_allclose(np.asarray(iv.upper), -np.expm1(np.log(alpha) / n), rtol=1e-13)
        assert np.all(np.asarray(iv.lower) == 0.0)
    # k = n, side="lower": L = alpha^(1/n).
    iv = cp(n, n, 0.05, side="lower")
    np.testing.assert_allclose(np.asarray(iv.lower), 0.05 ** (1 / n), rtol=1e-13)


def test_clopper_pearson_exact_coverage_by_enumeration():
    # Coverage is sum_k Binom(k; n, p) 1{p in CI(k)}: exact, no Monte Carlo.
    n, alpha = 40, 0.1
    k = np.arange(n + 1.0)
    for side in ("two-sided", "upper", "lower"):
        iv = cp(k, np.full_like(k, n), alpha, side)
        lo, hi = np.asarray(iv.lower), np.asarray(iv.upper)
        for p in np.linspace(0.001, 0.999, 97):
            cov = binom.pmf(k, n, p)[(lo <= p) & (p <= hi)].sum()
            assert cov >= 1 - alpha - 1e-12, (side, p, cov)


def test_wilson_matches_statsmodels_and_closed_form():
    k, n, alpha = CP_TABLE.T
    iv = wl(k, n, alpha)
    lo, hi = proportion_confint(k, n, alpha=alpha, method="wilson")
    np.testing.assert_allclose(np.asarray(iv.lower), np.clip(lo, 0, 1), rtol=0, atol=ATOL_CI)
    np.testing.assert_allclose(np.asarray(iv.upper), np.clip(hi, 0, 1), rtol=0, atol=ATOL_CI)
    # One-sided: the bounded end with z = Phi^-1(1 - alpha), written out here.
    z = norm.ppf(1 - alpha)
    c = (k + z**2 / 2) / (n + z**2)
    h = z / (n + z**2) * np.sqrt(k * (n - k) / n + z**2 / 4)
    up = wl(k, n, alpha, side="upper")
    np.testing.assert_allclose(np.asarray(up.upper), np.where(k == n, 1, np.clip(c + h, 0, 1)),
                               rtol=0, atol=ATOL_CI)
    assert np.all(np.asarray(up.lower) == 0)
    dn = wl(k, n, alpha, side="lower")
    np.testing.assert_allclose(np.asarray(dn.lower), np.where(k == 0, 0, np.clip(c - h, 0, 1)),
                               rtol=0, atol=ATOL_CI)
    assert np.all(np.asarray(dn.upper) == 1)


def test_uniform_samples_needed_methods_figures():
    # methods.md figures (computed independently of this code).
    got = np.asarray(uniform_samples_needed(np.array([1e-3, 1e-4, 1e-5]), alpha=0.05))
    np.testing.assert_array_equal(got, [2995, 29956, 299572])


@pytest.mark.parametrize("k", [0, 1, 3, 10])
def test_uniform_samples_needed_is_smallest(k):
    eps, alpha = 2e-3, 0.05
    n = int(uniform_samples_needed(eps, alpha=alpha, k=k))

    def upper(nn):
        return binomtest(k, nn, alternative="less").proportion_ci(1 - alpha, "exact").high

    assert upper(n) <= eps < upper(n - 1)


def test_uniform_samples_needed_bisection_agrees_with_closed_form():
    # Run the general (bisection) path at k = 0 by bypassing the closed-form switch.
    eps = jnp.array([1e-2, 1e-3, 1e-4])
    closed = np.ceil(np.log(0.05) / np.log1p(-np.asarray(eps)))
    general = _binomial._samples_needed(eps, 0.05, 1e-300)  # k ~ 0 but != 0
    np.testing.assert_array_equal(np.asarray(general), closed)


def test_vmap_equals_loop_and_jit_equals_eager():
    k = jnp.array([0.0, 3.0, 17.0, 50.0])
    n = jnp.array([50.0, 50.0, 60.0, 50.0])
    a = jnp.array([0.05, 0.1, 0.2, 0.01])
    batched = jax.vmap(lambda kk, nn, aa: clopper_pearson(kk, nn, aa, "upper"))(k, n, a)
    jitted = jax.jit(lambda kk, nn, aa: wilson(kk, nn, aa, "lower"))(k, n, a)
    for i in range(4):
        one = cp(float(k[i]), float(n[i]), float(a[i]), "upper")
        w = wl(float(k[i]), float(n[i]), float(a[i]), "lower")
        for f in range(4):
            assert float(batched[f][i]) == pytest.approx(float(one[f][0]), abs=1e-15)
            assert float(jitted[f][i]) == pytest.approx(float(w[f][0]), abs=1e-15)


def test_new_alpha_does_not_recompile():
    cp([2.0, 5.0], [20.0, 30.0], 0.05, "upper")
    size = _binomial._cp._cache_size()
    for alpha in (0.1, 0.01, 0.3):
        cp([2.0, 5.0], [20.0, 30.0], alpha, "upper")
    assert _binomial._cp._cache_size() == size
    wl([2.0, 5.0], [20.0, 30.0], 0.05)
    size = _binomial._wilson._cache_size()
    wl([2.0, 5.0], [20.0, 30.0], 0.2)
    assert _binomial._wilson._cache_size() == size


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(k=3, n=2), "0 <= k <= n"),
        (dict(k=-1, n=2), "0 <= k <= n"),
        (dict(k=1.5, n=4), "k must be finite integer"),
        (dict(k=0, n=0), "n \\(number of trials\\) must be >= 1"),
        (dict(k=0, n=np.inf), "n must be finite integer"),
        (dict(k=1, n=4, alpha=0.0), "alpha must be in"),
        (dict(k=1, n=4, alpha=1.0), "alpha must be in"),
        (dict(k=1, n=4, side="both"), "side must be one of"),
    ],
)
@pytest.mark.parametrize("fn", [clopper_pearson, wilson])
def test_bad_input_raises(fn, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fn(**kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(upper=0.0), "upper must be"), (dict(upper=1e-3, alpha=2.0), "alpha must be"),
     (dict(upper=1e-3, k=-1), "k must be"), (dict(upper=1e-3, k=0.5), "k must be")],
)
def test_uniform_samples_needed_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        uniform_samples_needed(**kwargs)


@pytest.mark.slow
def test_clopper_pearson_monte_carlo_coverage():
    # Seeded simulation; exact CP is conservative, so coverage >= 1 - alpha - 3 SE.
    rng = np.random.default_rng(20261123)
    reps, alpha = 20000, 0.05
    for n, p in [(30, 0.02), (200, 0.3), (5000, 1e-3), (100, 0.97)]:
        k = rng.binomial(n, p, size=reps).astype(float)
        for side in ("two-sided", "upper", "lower"):
            iv = clopper_pearson(k, np.full(reps, float(n)), alpha, side)
            cover = np.mean((np.asarray(iv.lower) <= p) & (p <= np.asarray(iv.upper)))
            se = np.sqrt(alpha * (1 - alpha) / reps)
            assert cover >= 1 - alpha - 3 * se, (n, p, side, cover)


def test_clopper_pearson_impossible_counts_under_jit_have_a_status():
    """k > n (or k < 0, n = 0) cannot raise inside jit: NaN ends and status NONFINITE."""
    import jax
    import jax.numpy as jnp

    from jaxcert import Status, clopper_pearson

    fn = jax.jit(lambda k, n: clopper_pearson(k, n, 0.05, "upper"))
    iv = fn(jnp.array([5.0, -1.0, 0.0, 3.0]), jnp.array([3.0, 10.0, 0.0, 10.0]))
    st = [int(s) for s in iv.status]
    assert st[:3] == [Status.NONFINITE] * 3 and st[3] == Status.CONVERGED
    assert all(v != v for v in iv.upper[:3].tolist())  # NaN, flagged by the status


def test_betaincinv_start_needs_at_most_three_evaluations_on_clopper_pearson_ends():
    """The closed-form start plus Halley: Clopper-Pearson upper ends at n from 25 to
    1e6 take 2 ``betainc`` evaluations on average and never more than 3 (bisection or
    a start from the mean took 6-12), and still match scipy."""
    from jaxcert.intervals._betaincinv import solve_with_steps

    rng = np.random.default_rng(11)
    n = rng.choice([25, 100, 500, 10_500, 10**6], 3000).astype(float)
    k = rng.binomial(n.astype(np.int64), rng.choice([1e-4, 0.01, 0.1, 0.3], 3000))
    k = np.clip(k, 1, n - 1).astype(float)
    alpha = rng.choice([0.05, 0.025, 1e-3], 3000)
    # U = Beta^{-1}(1 - alpha; k + 1, n - k), solved in its smaller tail Beta(n - k, k + 1).
    steps, t = jax.jit(jax.vmap(solve_with_steps))(n - k, k + 1.0, alpha)
    steps = np.asarray(steps)
    assert steps.max() <= 3 and steps.mean() <= 2.2, (steps.max(), steps.mean())
    upper = np.asarray(jax.nn.sigmoid(-t))  # 1 - x at full relative precision
    ref = sc.betaincinv(k + 1.0, n - k, 1.0 - alpha)
    np.testing.assert_allclose(upper, ref, rtol=1e-9)
