"""Tests for the jaxcert.rare front door: estimate / uniform_estimate / RareResult."""

import json
import math

import jax
import numpy as np
import pytest
from scipy import stats

import jaxcert  # noqa: F401
from jaxcert.rare import (
    ProductSpace,
    estimate,
    landscape_evaluator,
    landscape_mu,
    planted_landscape,
    uniform_estimate,
)
from jaxcert.rare import cem as C

SIZES = (6,) * 4  # 1296 inputs: enumerable, fast
SPACE = ProductSpace(SIZES)
LAND = planted_landscape(jax.random.key(0), SIZES, 1e-3, "concentrated")
EVAL = landscape_evaluator(LAND)
BUDGET = 1000
KW = dict(batch_size=100, stages=5)  # fixed shapes: compiled kernels are shared by tests


def cp_upper_scipy(k, n, alpha):
    return 1.0 if k == n else stats.beta.ppf(1 - alpha, k + 1, n - k)


def test_end_to_end_result_fields():
    res = estimate(jax.random.key(1), SPACE, EVAL, BUDGET, **KW)
    assert res.inferences == BUDGET and res.num_stages == 5 and len(res.history) == 5
    assert 0.0 <= res.lower <= res.estimate <= res.upper <= 1.0
    assert res.bound == "betting" and res.side == "upper" and res.lower == 0.0
    assert res.max_weight <= 1 / res.defensive + 1e-12
    assert res.failures_seen > 0 and 0 < res.ess <= BUDGET
    # reduction = (uniform CP samples for the same bound) / inferences; scipy oracle
    n_needed = math.ceil(math.log(0.05) / math.log1p(-res.upper))
    assert cp_upper_scipy(0, n_needed, 0.05) <= res.upper < cp_upper_scipy(0, n_needed - 1, 0.05)
    assert res.reduction == pytest.approx(n_needed / res.inferences, rel=1e-12)
    d = res.to_dict()
    json.dumps(d)
    assert d["status"] == "converged" and len(d["proposal"]) == 4
    assert "finite-sample certificate" in str(res) and "inferences 1000" in str(res)
    assert res.ci_lower <= res.estimate <= res.ci_upper and res.interval in ("skew-corrected", "bootstrap-t")
    assert res.hidden_mass_floor == pytest.approx(0.6 / res.uniform_draws)
    assert res.reused_stages == 4 and res.hits > 0  # default: every stage after the uniform one
    assert np.isfinite(res.khat)
    assert isinstance(res.unreliable, bool) and res.unreliable == bool(res.reasons)


def test_estimate_close_to_truth_and_clt_bound():
    res = estimate(jax.random.key(2), SPACE, EVAL, BUDGET, bound="clt", **KW)
    mu = landscape_mu(LAND)
    assert abs(res.estimate - mu) / mu < 0.5  # smoke check; unbiasedness is tested (slow)
    assert res.upper > res.estimate


def test_conditions_never_send_invalid_inputs_and_use_exact_valid_fraction():
    cond = lambda X: (X[:, 0] + X[:, 1]) % 3 != 0  # noqa: E731
    space = ProductSpace(SIZES, condition=cond)
    seen = []

    def ev(X):
        assert np.all(cond(X)), "an invalid input was sent to the model"
        seen.append(len(X))
        return EVAL(X)

    res = estimate(jax.random.key(3), space, ev, BUDGET, **KW)
    assert res.inferences == sum(seen) < BUDGET  # invalid draws are free
    brute = np.mean(cond(SPACE.enumerate()))
    assert res.valid_fraction.exact and res.valid_fraction.estimate == pytest.approx(brute, abs=1e-15)


@pytest.mark.slow  # compile-bound (20-40 s on 2 cores): keeps the default tier under 10 min; CI runs both
@pytest.mark.parametrize("uniform_check, vf_alpha", [(False, 0.025), (True, 0.0125)])
def test_monte_carlo_valid_fraction_splits_alpha(uniform_check, vf_alpha):
    # alpha = 0.05 -> IS share alpha/2 with the uniform-draws certificate -> half to Z
    space = ProductSpace([2000, 2000], condition=lambda X: X[:, 0] <= X[:, 1])
    res = estimate(jax.random.key(4), space, lambda X: np.zeros(len(X)), 400, batch_size=50, stages=2,
                   uniform_check=uniform_check)
    vf = res.valid_fraction
    assert not vf.exact and vf.alpha == pytest.approx(vf_alpha) and vf.lower < 0.5005 < vf.upper
    assert res.estimate == 0.0 and 0.0 < res.upper < 1.0


@pytest.mark.parametrize("uniform_check", [False, True])
def test_zero_failures_finite_upper_bound(uniform_check):
    res = estimate(jax.random.key(5), SPACE, lambda X: np.zeros(len(X)), BUDGET, **KW,
                   uniform_check=uniform_check)
    assert res.estimate == 0.0 and res.failures_seen == 0
    assert np.isfinite(res.upper) and 0.0 < res.upper < 1.0
    assert any("no failure" in n for n in res.notes)
    # CEM learned nothing -> the proposal stays uniform and the weight bound is 1: the
    # certificate is then no worse than the exact zero-failure bound of n/2 draws x ~1.5
    # at the IS share of alpha (alpha/2 with the uniform-draws certificate)
    a_is = 0.025 if uniform_check else 0.05
    assert res.max_weight == pytest.approx(1.0)
    assert res.upper <= 1.5 * cp_upper_scipy(0, BUDGET // 2, a_is)
    if uniform_check:  # stage 0 (uniform) + the defensive share of the estimation stage
        assert 0 < res.uniform_draws < BUDGET and res.uniform_failures == 0


def test_callback_and_no_recompilation_across_hyperparameters():
    calls = []
    estimate(jax.random.key(6), SPACE, EVAL, BUDGET, callback=lambda t, rec: calls.append((t, rec["num_elite"])), **KW)
    assert [t for t, _ in calls] == list(range(5))
    n = C._cem_step._cache_size()
    estimate(jax.random.key(7), SPACE, EVAL, BUDGET, rho=0.2, smoothing=0.5, floor=1e-3, defensive=0.3, **KW)
    assert C._cem_step._cache_size() == n


def test_uniform_estimate_matches_scipy_clopper_pearson():
    res = uniform_estimate(jax.random.key(8), SPACE, lambda X: (X[:, 0] == 0).astype(float), 500, alpha=0.1)
    k = round(res.estimate * 500)
    assert res.upper == pytest.approx(cp_upper_scipy(k, 500, 0.1), rel=1e-8)
    assert res.inferences == 500 and res.num_stages == 0


def bad(X):
    return np.zeros(len(X))


@pytest.mark.parametrize(
    "space, evaluate, budget, kwargs, match",
    [
        (ProductSpace([3, 3], condition=lambda X: X[:, 0] > 5), bad, 500, {}, "no valid input"),
        (SPACE, bad, 15, {}, "below one CEM round"),
        (SPACE, bad, 500, dict(interval="wald"), "interval must be one of"),
        (SPACE, bad, 500, dict(power=-1.0), "power"),
        (SPACE, bad, 500, dict(min_ess=1.0), r"min_ess must be in \[0, 1\)"),
        (SPACE, bad, 500, dict(min_ess=float("nan")), "min_ess"),
        (SPACE, bad, 500, dict(components=0), "components"),
        (SPACE, bad, 500, dict(reuse=9), "reuse"),
        (SPACE, bad, 1, {}, "budget must be an int >= 2"),
        (SPACE, lambda X: np.zeros((len(X), 2)), 500, {}, r"shape \(\d+,\)"),
        (SPACE, lambda X: np.full(len(X), np.nan), 500, {}, "NaN"),
        (SPACE, lambda X: np.full(len(X), 1.5), 500, {}, r"in \[0, 1\]"),
        (SPACE, bad, 500, dict(bound="hoeffding"), "bound must be one of"),
        (SPACE, bad, 500, dict(side="upper-ish"), "side"),
        (SPACE, bad, 500, dict(alpha=0.0), "alpha"),
        (SPACE, bad, 500, dict(defensive=0.0), "defensive"),
        (SPACE, bad, 500, dict(floor=0.5), "floor"),
        (SPACE, bad, 500, dict(train_fraction=1.0), "train_fraction"),
        (SPACE, "not callable", 500, {}, "evaluate must be callable"),
        (SPACE, bad, 500, dict(power="graded"), "power must be a number"),
        (SPACE, bad, 500, dict(power=3.0), "power must be in"),
    ],
)
def test_bad_input_errors(space, evaluate, budget, kwargs, match):
    with pytest.raises(ValueError, match=match):
        estimate(jax.random.key(0), space, evaluate, budget, **kwargs)


def test_empty_variable_is_rejected():
    with pytest.raises(ValueError, match="empty variable"):
        estimate(jax.random.key(0), [3, 0], bad, 500)


# ----------------------------------------------------------------------------- slow
BIG = (10,) * 6  # 1e6 inputs: masses 1e-3 .. 1e-5 are exact


@pytest.mark.slow
@pytest.mark.parametrize(
    "mass, concentration", [(1e-3, "concentrated"), (1e-4, "concentrated"), (1e-5, "concentrated"), (1e-3, "intermediate")]
)
def test_unbiased_on_planted_masses(mass, concentration):
    L = planted_landscape(jax.random.key(42), BIG, mass, concentration)
    mu, ev = landscape_mu(L), landscape_evaluator(L)
    reps = 120
    ests = np.array([estimate(jax.random.key(r), BIG, ev, 2000, batch_size=200, stages=5).estimate for r in range(reps)])
    se = ests.std(ddof=1) / np.sqrt(reps)
    assert abs(ests.mean() - mu) <= 3 * se, (ests.mean(), mu, se)


@pytest.mark.slow
def test_unbiased_with_condition_vs_enumeration():
    cond = lambda X: X[:, 0] != X[:, 1]  # noqa: E731
    space = ProductSpace(SIZES, condition=cond)
    X = SPACE.enumerate()
    mu_valid = float(np.mean(EVAL(X)[cond(X)]))  # brute force: P(fail | valid)
    reps = 200
    ests = np.array([estimate(jax.random.key(r), space, EVAL, BUDGET, **KW).estimate for r in range(reps)])
    se = ests.std(ddof=1) / np.sqrt(reps)
    assert abs(ests.mean() - mu_valid) <= 3 * se, (ests.mean(), mu_valid, se)


def test_uniform_draws_certificate_is_at_most_clopper_pearson_on_them():
    # zero failures everywhere: the reported bound is at most the exact zero-failure
    # bound of the uniform draws at alpha/2, and those draws are stage 0 (all valid
    # here: no conditions) plus the defensive share of the estimation stage
    res = estimate(jax.random.key(8), SPACE, lambda X: np.zeros(len(X)), BUDGET, **KW)
    n_est = BUDGET - 5 * KW["batch_size"]
    assert KW["batch_size"] <= res.uniform_draws <= BUDGET
    extra = res.uniform_draws - KW["batch_size"]  # defensive draws of stages 1-4 and the estimation stage
    n_def = n_est + 4 * KW["batch_size"]  # ~ Binomial(n_def, l = 0.1)
    assert abs(extra - 0.1 * n_def) <= 5 * math.sqrt(0.1 * 0.9 * n_def)
    assert res.upper <= cp_upper_scipy(0, res.uniform_draws, 0.025) * (1 + 1e-9)
    off = estimate(jax.random.key(8), SPACE, lambda X: np.zeros(len(X)), BUDGET, uniform_check=False, **KW)
    # the uniform draws are still counted (hidden-mass floor) but certify nothing
    assert off.certificate == "importance" and off.hidden_mass_floor == pytest.approx(0.6 / off.uniform_draws)


@pytest.mark.slow
@pytest.mark.parametrize("bound, uniform_check", [("betting", True), ("betting", False), ("bernstein", False)])
def test_upper_bound_coverage(bound, uniform_check):
    L = planted_landscape(jax.random.key(7), SIZES, 1e-2, "intermediate")
    mu, ev = landscape_mu(L), landscape_evaluator(L)
    reps, alpha = 150, 0.05
    ups = np.array([estimate(jax.random.key(r), SPACE, ev, BUDGET, bound=bound, uniform_check=uniform_check,
                             **KW).upper for r in range(reps)])
    se = math.sqrt(alpha * (1 - alpha) / reps)
    assert np.mean(ups >= mu) >= 1 - alpha - 3 * se


class _KSamples:
    """Evaluator scoring each input from K sampled answers (cost K inferences)."""

    cost_per_input = 4

    def __init__(self):
        self.inputs = 0

    def __call__(self, X):
        self.inputs += len(X)
        return EVAL(X)


def test_cost_per_input_is_counted_in_budget_and_report():
    ev = _KSamples()
    res = estimate(jax.random.key(9), SPACE, ev, 4 * BUDGET, **KW)
    assert res.inferences == 4 * ev.inputs == 4 * BUDGET and res.cost_per_input == 4
    assert sum(h["inferences"] for h in res.history) == 4 * 5 * KW["batch_size"]
    with pytest.raises(ValueError, match="cost_per_input"):
        bad_cost = lambda X: EVAL(X)  # noqa: E731
        bad_cost.cost_per_input = 0
        estimate(jax.random.key(0), SPACE, bad_cost, BUDGET, **KW)


def test_mixture_proposal_runs_and_reports_a_mixture():
    res = estimate(jax.random.key(10), SPACE, EVAL, BUDGET, components=2, **KW)
    assert res.proposal.weights.shape == (2,) and res.max_weight <= 10.0 + 1e-9
    json.dumps(res.to_dict())


@pytest.mark.slow
@pytest.mark.parametrize("reuse", [0, 4])
def test_reused_defensive_stages_are_unbiased(reuse):
    """Own-stage weights fixed before the draws: the mean over many seeds matches the
    exact rate (enumeration) within 3 Monte-Carlo standard errors."""
    X = SPACE.enumerate()
    mu = float(np.mean(EVAL(X)))
    reps = 300
    ests = np.array([estimate(jax.random.key(r), SPACE, EVAL, BUDGET, reuse=reuse, **KW).estimate for r in range(reps)])
    se = ests.std(ddof=1) / np.sqrt(reps)
    assert abs(ests.mean() - mu) <= 3 * se, (ests.mean(), mu, se)


def test_graded_training_signal_with_k_sample_outcomes():
    ev = _KSamples()
    res = estimate(jax.random.key(11), SPACE, ev, 4000, train_evaluate=EVAL, **KW)
    # 500 training inputs at 1 inference (graded signal) + 875 estimation inputs at 4
    assert res.inferences == 500 + 4 * 875 == 4000 and ev.inputs == 875
    assert [h["inferences"] for h in res.history] == [100] * 5
    with pytest.raises(ValueError, match="train_evaluate must be callable"):
        estimate(jax.random.key(0), SPACE, EVAL, BUDGET, train_evaluate=3, **KW)


def test_auto_power_follows_the_outcome_type():
    """"auto" aims at p0 F (power 1) for a failure-probability evaluator and at p0 sqrt(F)
    (0.5) for 0/1 outcomes, K-sample fractions and a separate training signal; it then
    runs exactly the fixed-power run."""
    def powers(res):
        return [h["power"] for h in res.history]

    graded = estimate(jax.random.key(3), SPACE, EVAL, BUDGET, **KW)
    assert powers(graded) == [1.0] * 5
    fixed = estimate(jax.random.key(3), SPACE, EVAL, BUDGET, power=1.0, **KW)
    assert graded.estimate == fixed.estimate and graded.ci_upper == fixed.ci_upper

    def binary(X):
        return (EVAL(X) > 0.01).astype(float)

    zero_one = estimate(jax.random.key(3), SPACE, binary, BUDGET, **KW)
    assert powers(zero_one) == [0.5] * 5
    assert zero_one.estimate == estimate(jax.random.key(3), SPACE, binary, BUDGET, power=0.5, **KW).estimate
    assert powers(estimate(jax.random.key(3), SPACE, _KSamples(), 4000, **KW)) == [0.5] * 5
    split = estimate(jax.random.key(3), SPACE, _KSamples(), 4000, train_evaluate=EVAL, **KW)
    assert powers(split) == [0.5] * 5  # graded training signal, K-sample estimation outcomes


def test_landscape_sampled_answers_evaluator():
    L = planted_landscape(jax.random.key(3), (4, 4, 4), 0.2, "concentrated")
    X = ProductSpace((4, 4, 4)).enumerate()
    F = landscape_evaluator(L)(X)
    x = X[np.argmin(np.abs(F - 0.5))][None]  # a failure probability well inside (0, 1)
    f = float(landscape_evaluator(L)(x)[0])
    assert 0.05 < f < 0.95
    ev = landscape_evaluator(L, samples=5, seed=1)
    assert ev.cost_per_input == 5 and landscape_evaluator(L).cost_per_input == 1
    out = ev(np.repeat(x, 20_000, axis=0))
    np.testing.assert_allclose(out * 5, np.round(out * 5), atol=1e-12)  # fractions of 5 answers
    se = math.sqrt(f * (1 - f) / (5 * 20_000))
    assert abs(out.mean() - f) < 4 * se
    assert not np.array_equal(out, ev(np.repeat(x, 20_000, axis=0)))  # fresh answers per call
    np.testing.assert_array_equal(landscape_evaluator(L, 5, 1)(np.repeat(x, 20_000, axis=0)), out)
    with pytest.raises(ValueError, match="samples"):
        landscape_evaluator(L, samples=0)
