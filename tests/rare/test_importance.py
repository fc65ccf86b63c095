"""Tests for jaxcert.rare.importance: IS estimate and bounds (oracles + coverage)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import jaxcert  # noqa: F401
from jaxcert.rare import BOUNDS, bound_mean, effective_sample_size, importance_estimate

N = 400
B = 10.0  # weight bound 1/l with l = 0.1


def skewed_sample(key, n=N, p=0.02, b=B):
    """Z = b * Bernoulli(p) * U(0.2, 1): mean 0.6 b p, support [0, b]."""
    k1, k2 = jax.random.split(key)
    hit = jax.random.uniform(k1, (n,)) < p
    return jnp.where(hit, b * jax.random.uniform(k2, (n,), minval=0.2, maxval=1.0), 0.0)


def test_estimate_is_mean_of_f_times_w():
    rng = np.random.default_rng(0)
    F = rng.uniform(size=N) * (rng.uniform(size=N) < 0.1)
    log_w = np.log(rng.uniform(0.01, B, size=N))
    r = importance_estimate(F, log_w, weight_bound=B, bound="clt")
    Z = F * np.exp(log_w)
    assert float(r.estimate) == pytest.approx(Z.mean(), rel=1e-13)
    assert float(r.max_weight) == pytest.approx(np.exp(log_w).max(), rel=1e-13)
    w = np.exp(log_w)
    assert float(r.ess) == pytest.approx(w.sum() ** 2 / (w**2).sum(), rel=1e-12)
    assert int(r.num_failures) == int((F > 0).sum())
    se = Z.std(ddof=1) / np.sqrt(N)
    assert float(r.upper) == pytest.approx(Z.mean() + stats.norm.ppf(0.95) * se, rel=1e-12)


def test_bernstein_matches_closed_form():
    Z = np.asarray(skewed_sample(jax.random.key(1)))
    lo, up = bound_mean(Z, weight_bound=B, alpha=0.05, side="upper", bound="bernstein")
    Y = Z / B
    L = np.log(2 / 0.05)
    ref = B * (Y.mean() + np.sqrt(2 * Y.var(ddof=1) * L / N) + 7 * L / (3 * (N - 1)))
    assert float(up) == pytest.approx(ref, rel=1e-12) and float(lo) == 0.0


@pytest.mark.parametrize("bound", BOUNDS)
def test_zero_failures_give_finite_positive_upper(bound):
    r = importance_estimate(jnp.zeros(N), jnp.zeros(N), weight_bound=B, bound=bound, key=jax.random.key(0))
    assert float(r.estimate) == 0.0
    assert 0.0 < float(r.upper) <= B and np.isfinite(float(r.upper))
    # never below the exact zero-failure bound b (1 - a^(1/n)) ... up to the betting grid
    assert float(r.upper) >= B * (1 - 0.05 ** (1 / N)) * (1 - 1e-6)


@pytest.mark.parametrize("bound", BOUNDS)
@pytest.mark.parametrize("side", ["two-sided", "upper", "lower"])
def test_sides_bracket_the_mean(bound, side):
    Z = skewed_sample(jax.random.key(2), p=0.2)
    lo, up = bound_mean(Z, weight_bound=B, alpha=0.1, side=side, bound=bound, key=jax.random.key(3))
    m = float(jnp.mean(Z))
    assert 0.0 <= float(lo) <= m <= float(up) <= B
    if side == "upper":
        assert float(lo) == 0.0
    if side == "lower":
        assert float(up) == B


def test_betting_is_tighter_than_bernstein():
    Z = skewed_sample(jax.random.key(4), n=N)
    _, up_bern = bound_mean(Z, weight_bound=B, bound="bernstein")
    _, up_bet = bound_mean(Z, weight_bound=B, bound="betting")
    assert float(jnp.mean(Z)) < float(up_bet) < float(up_bern)


def test_ess_of_zero_weights_is_zero():
    assert float(effective_sample_size(jnp.full(5, -jnp.inf))) == 0.0
    assert float(effective_sample_size(jnp.zeros(5))) == pytest.approx(5.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(bound="hoeffding"), "bound must be one of"),
        (dict(side="up"), "side"),
        (dict(alpha=1.5), "alpha"),
        (dict(weight_bound=0.0), "weight_bound"),
        (dict(bound="bootstrap"), "PRNG key"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = dict(weight_bound=B)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        importance_estimate(jnp.zeros(N), jnp.zeros(N), **args)
    with pytest.raises(ValueError, match="equal length"):
        importance_estimate(jnp.zeros(N), jnp.zeros(N - 1), weight_bound=B)


@pytest.mark.slow
@pytest.mark.parametrize("bound", ["bernstein", "betting"])
def test_finite_sample_upper_bound_coverage(bound):
    """Coverage of the one-sided upper bound on a skewed [0, b] law (n = 400, few hits)."""
    reps, alpha, p = 300, 0.1, 0.01
    true_mean = B * p * 0.6
    keys = jax.random.split(jax.random.key(10), reps)
    ups = np.array([float(bound_mean(skewed_sample(k, p=p), weight_bound=B, alpha=alpha, bound=bound)[1]) for k in keys])
    cover = np.mean(ups >= true_mean)
    se = np.sqrt(alpha * (1 - alpha) / reps)
    assert cover >= 1 - alpha - 3 * se


def test_valid_reduction_cap_formula_and_limit():
    """Median-reduction cap ln(1/a) / ln(1/(1/2 + a)): a hidden set of nominal mass
    m = 1 - (1/2 + a)^(1/n) escapes n uniform draws with probability exactly 1/2 + a,
    and an exact zero-failure Clopper-Pearson certificate of U = m needs
    ceil(ln a / ln(1 - m)) uniform draws (scipy oracle); their ratio to n tends to the cap."""
    from jaxcert.rare import valid_reduction_cap

    a = 0.05
    cap = valid_reduction_cap(a)
    assert cap == pytest.approx(np.log(1 / a) / np.log(1 / (0.5 + a)), rel=1e-14)
    assert 5.0 < cap < 5.02  # not ln(1/a)/(1/2 - a) = 6.66
    for n in (1_000, 100_000):
        m = 1 - (0.5 + a) ** (1 / n)
        assert (1 - m) ** n == pytest.approx(0.5 + a, rel=1e-9)
        needed = np.ceil(np.log(a) / np.log1p(-m))
        assert stats.beta.ppf(1 - a, 1, needed) <= m * (1 + 1e-9)  # CP upper of 0/needed reaches m
        assert needed / n == pytest.approx(cap, rel=2e-3)
    with pytest.raises(ValueError, match="alpha < 1/2"):
        valid_reduction_cap(0.6)
