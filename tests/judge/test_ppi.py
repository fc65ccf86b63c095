"""Tests for jaxcert.judge.prediction_powered (array API) against ppi-python 0.2.3.

ppi-python is the oracle where it is right (two-sided; fixed lam one-sided); the two
places where it is wrong (tuned lam drops ``alternative``; NaN on constant data) are
demonstrated and our behaviour is checked against scipy / a closed form instead.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import ppi_py
import pytest
from scipy.stats import binomtest

import jaxcert  # noqa: F401  (enables x64)

from jaxcert.judge import prediction_powered as ppi_mod
from jaxcert.judge.prediction_powered import ppi_mean_ci, ppi_mean_pointestimate

#: Interval ends vs ppi-python.
ATOL_CI = 1e-10
#: Point estimates vs ppi-python.
ATOL_EST = 1e-12
DATA = "/work/shared/data/ppi_classic/{}.npz"
DATASETS = ["galaxies", "forest", "alphafold", "forest_badmodel"]
# Fixed shapes for every call in this file: one compile per (tuned, side).
N_LAB, N_UNL = 300, 1200


def _split(name, seed=0):
    d = np.load(DATA.format(name))
    Y, Yhat = d["Y"].astype(float), d["Yhat"].astype(float)
    idx = np.random.default_rng(seed).permutation(Y.shape[0])
    lab, unl = idx[:N_LAB], idx[N_LAB : N_LAB + N_UNL]
    return Y[lab], Yhat[lab], Yhat[unl]


def _random(seed):
    rng = np.random.default_rng(seed)
    Y = (rng.random(N_LAB) < 0.3).astype(float)
    Yhat = np.clip(0.6 * Y + 0.2 + 0.15 * rng.standard_normal(N_LAB), 0, 1)
    Yu_true = rng.random(N_UNL) < 0.3
    Yu = np.clip(0.6 * Yu_true + 0.2 + 0.15 * rng.standard_normal(N_UNL), 0, 1)
    return Y, Yhat, Yu


def _f(x):
    return float(np.ravel(x)[0])


CASES = [(name, 0) for name in DATASETS] + [("random", s) for s in (1, 2)]


def _data(name, seed):
    return _random(seed) if name == "random" else _split(name, seed)


@pytest.mark.parametrize("lam", [None, 1.0, 0.0, 0.37])
@pytest.mark.parametrize("name, seed", CASES)
def test_two_sided_matches_ppi_python(name, seed, lam):
    Y, Yhat, Yu = _data(name, seed)
    for alpha in (0.1, 0.05):
        lo_ref, hi_ref = ppi_py.ppi_mean_ci(Y, Yhat, Yu, alpha=alpha, lam=lam)
        lo, hi = ppi_mean_ci(Y, Yhat, Yu, alpha=alpha, lam=lam)
        assert abs(float(lo) - _f(lo_ref)) < ATOL_CI
        assert abs(float(hi) - _f(hi_ref)) < ATOL_CI
    est_ref = ppi_py.ppi_mean_pointestimate(Y, Yhat, Yu, lam=lam)
    assert abs(float(ppi_mean_pointestimate(Y, Yhat, Yu, lam=lam)) - _f(est_ref)) < ATOL_EST


@pytest.mark.parametrize("name, seed", [("galaxies", 0), ("random", 3)])
def test_one_sided_fixed_lam_matches_ppi_python_naming(name, seed):
    # ppi-python "smaller" = (-inf, U] = our "upper"; "larger" = [L, inf) = our "lower".
    Y, Yhat, Yu = _data(name, seed)
    for lam in (1.0, 0.5):
        lo_ref, hi_ref = ppi_py.ppi_mean_ci(Y, Yhat, Yu, alpha=0.1, lam=lam, alternative="smaller")
        assert np.isneginf(lo_ref)
        lo, hi = ppi_mean_ci(Y, Yhat, Yu, alpha=0.1, lam=lam, side="upper")
        assert np.isneginf(float(lo)) and abs(float(hi) - _f(hi_ref)) < ATOL_CI
        lo2, hi2 = ppi_mean_ci(Y, Yhat, Yu, alpha=0.1, lam=lam, alternative="smaller")
        assert float(hi2) == float(hi)
        lo_ref, hi_ref = ppi_py.ppi_mean_ci(Y, Yhat, Yu, alpha=0.1, lam=lam, alternative="larger")
        assert np.isposinf(hi_ref)
        lo, hi = ppi_mean_ci(Y, Yhat, Yu, alpha=0.1, lam=lam, side="lower")
        assert np.isposinf(float(hi)) and abs(float(lo) - _f(lo_ref)) < ATOL_CI


def test_one_sided_tuned_lam_is_fixed_here_and_broken_in_ppi_python():
    Y, Yhat, Yu = _split("galaxies")
    two = ppi_py.ppi_mean_ci(Y, Yhat, Yu, alpha=0.1)
    one = ppi_py.ppi_mean_ci(Y, Yhat, Yu, alpha=0.1, alternative="smaller")
    # The bug: ppi-python's tuned path ignores `alternative`, returning the two-sided CI.
    assert _f(one[0]) == _f(two[0]) and _f(one[1]) == _f(two[1]) and np.isfinite(_f(one[0]))
    # Oracle: ppi-python's own one-sided interval at its own tuned lam. The PPI point
    # estimate is linear in lam: est = mean(Y) + lam (mean(Yu) - mean(Yhat)).
    est = _f(ppi_py.ppi_mean_pointestimate(Y, Yhat, Yu))
    lam = (est - Y.mean()) / (Yu.mean() - Yhat.mean())
    assert 0 < lam < 1
    _, hi_ref = ppi_py.ppi_mean_ci(Y, Yhat, Yu, alpha=0.1, lam=lam, alternative="smaller")
    lo_ref, _ = ppi_py.ppi_mean_ci(Y, Yhat, Yu, alpha=0.1, lam=lam, alternative="larger")
    lo, hi = ppi_mean_ci(Y, Yhat, Yu, alpha=0.1, side="upper")
    assert np.isneginf(float(lo)) and abs(float(hi) - _f(hi_ref)) < 1e-9
    lo, hi = ppi_mean_ci(Y, Yhat, Yu, alpha=0.1, side="lower")
    assert np.isposinf(float(hi)) and abs(float(lo) - _f(lo_ref)) < 1e-9
    # And it is tighter than the two-sided end ppi-python hands out.
    assert float(lo) > _f(two[0])


def test_all_zero_labels_finite_where_ppi_python_is_nan():
    Y, Yhat, Yu = np.zeros(N_LAB), np.zeros(N_LAB), np.zeros(N_UNL)
    with np.errstate(all="ignore"):
        ref = ppi_py.ppi_mean_ci(Y, Yhat, Yu, alpha=0.1)
    assert np.isnan(_f(ref[0])) and np.isnan(_f(ref[1]))
    # Ours: lam = 0, se = 0 -> exact Clopper-Pearson on 0 of n (not the point [0, 0]).
    lo, hi = ppi_mean_ci(Y, Yhat, Yu, alpha=0.1)
    ci = binomtest(0, N_LAB).proportion_ci(0.9, method="exact")
    assert float(lo) == 0.0 and abs(float(hi) - ci.high) < ATOL_CI
    lo, hi = ppi_mean_ci(Y, Yhat, Yu, alpha=0.1, side="upper")
    assert abs(float(hi) - (1 - 0.1 ** (1 / N_LAB))) < ATOL_CI
    assert float(ppi_mean_pointestimate(Y, Yhat, Yu)) == 0.0


def test_constant_labels_with_informative_unlabelled_fall_back_to_exact():
    # Y all 1, judge always 1 on the labelled set, some 0s unlabelled: Cov(Y, Yhat) = 0
    # so lam = 0, and the classical se is 0. ppi-python returns the point [1, 1].
    Y, Yhat = np.ones(N_LAB), np.ones(N_LAB)
    Yu = (np.arange(N_UNL) % 10 != 0).astype(float)
    ref = ppi_py.ppi_mean_ci(Y, Yhat, Yu, alpha=0.1)
    assert _f(ref[0]) == _f(ref[1]) == 1.0
    lo, hi = ppi_mean_ci(Y, Yhat, Yu, alpha=0.1)
    ci = binomtest(N_LAB, N_LAB).proportion_ci(0.9, method="exact")
    assert abs(float(lo) - ci.low) < ATOL_CI and float(hi) == 1.0


def test_new_alpha_does_not_recompile():
    Y, Yhat, Yu = _random(7)
    ppi_mean_ci(Y, Yhat, Yu, alpha=0.1)
    size = ppi_mod._ppi_arrays._cache_size()
    for alpha in (0.05, 0.2):
        ppi_mean_ci(Y, Yhat, Yu, alpha=alpha)
    ppi_mean_ci(Y, Yhat, Yu, alpha=0.1, lam=0.3)
    ppi_mean_ci(Y, Yhat, Yu, alpha=0.1, lam=0.6)
    assert ppi_mod._ppi_arrays._cache_size() <= size + 1  # + the fixed-lam variant


def test_jit_and_vmap_equal_eager():
    data = [_random(s) for s in (11, 12, 13)]
    eager = [ppi_mean_ci(*d, alpha=0.1) for d in data]
    stacked = [jnp.stack([d[i] for d in data]) for i in range(3)]
    batched = jax.vmap(lambda y, yh, yu: ppi_mean_ci(y, yh, yu, alpha=0.1))(*stacked)
    jitted = jax.jit(lambda y, yh, yu: ppi_mean_ci(y, yh, yu, alpha=0.1))(*data[0])
    for i in range(3):
        assert float(batched[0][i]) == pytest.approx(float(eager[i][0]), abs=1e-14)
        assert float(batched[1][i]) == pytest.approx(float(eager[i][1]), abs=1e-14)
    assert float(jitted[0]) == pytest.approx(float(eager[0][0]), abs=1e-14)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(alternative="less"), "alternative must be one of"),
        (dict(side="larger"), "side must be one of"),
        (dict(side="upper", alternative="smaller"), "either side= .* or alternative="),
        (dict(alpha=0.0), "alpha must be in"),
        (dict(lam=float("nan")), "lam must be a finite scalar"),
        (dict(lam=np.ones(2)), "lam must be a finite scalar"),
    ],
)
def test_bad_options_raise(kwargs, match):
    Y, Yhat, Yu = np.array([0.0, 1.0]), np.array([0.2, 0.7]), np.array([0.1, 0.9, 0.5])
    with pytest.raises(ValueError, match=match):
        ppi_mean_ci(Y, Yhat, Yu, **kwargs)


@pytest.mark.parametrize(
    "args, match",
    [
        ((np.zeros((2, 2)), np.zeros((2, 2)), np.zeros(3)), "Y must be a 1-D array"),
        ((np.zeros(2), np.zeros(3), np.zeros(3)), "same length"),
        ((np.zeros(2), np.zeros(2), np.zeros(0)), "Yhat_unlabeled is empty"),
        ((np.array([0.0, np.nan]), np.zeros(2), np.zeros(3)), "Y must be finite"),
    ],
)
def test_bad_arrays_raise(args, match):
    with pytest.raises(ValueError, match=match):
        ppi_mean_ci(*args)
    with pytest.raises(ValueError, match=match):
        ppi_mean_pointestimate(*args)


@pytest.mark.slow
def test_ppi_and_ppiplusplus_coverage_real_valued_predictions():
    # Regime: theta = 0.3, n = 300 labels, N = 1200 predictions in [0, 1] correlated
    # with Y (as in _random); 2000 seeded replicates; two-sided, alpha = 0.1.
    reps, alpha, theta = 2000, 0.1, 0.3
    key = jax.random.PRNGKey(20261123)
    k1, k2, k3, k4 = jax.random.split(key, 4)
    Y = (jax.random.uniform(k1, (reps, N_LAB)) < theta).astype(jnp.float64)
    Yhat = jnp.clip(0.6 * Y + 0.2 + 0.15 * jax.random.normal(k2, (reps, N_LAB)), 0, 1)
    Yu_true = (jax.random.uniform(k3, (reps, N_UNL)) < theta).astype(jnp.float64)
    Yu = jnp.clip(0.6 * Yu_true + 0.2 + 0.15 * jax.random.normal(k4, (reps, N_UNL)), 0, 1)
    se = np.sqrt(alpha * (1 - alpha) / reps)
    for lam in (None, 1.0):
        fn = functools.partial(ppi_mean_ci, alpha=alpha, lam=lam)
        lo, hi = jax.vmap(fn)(Y, Yhat, Yu)
        cover = float(np.mean((np.asarray(lo) <= theta) & (theta <= np.asarray(hi))))
        assert cover >= 1 - alpha - 3 * se, (lam, cover)
        assert cover <= 1 - alpha + 3 * se + 0.02, (lam, cover)  # not vacuous
