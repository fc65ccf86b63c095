"""Paired comparison of two models' rare failure rates (jaxcert.rare.compare)."""

import math

import jax
import numpy as np
import pytest

import jaxcert  # noqa: F401
from jaxcert.rare import ProductSpace, landscape_evaluator, landscape_mu, planted_landscape
from jaxcert.rare.paired import compare

SIZES = (10,) * 5
SPACE = ProductSpace(SIZES)


def planted_pair(seed, mu_a=1e-4, mu_b=2.4e-4):
    """Nested planted landscapes: same corner (same key), B decays more slowly (F_B >= F_A)."""
    la = planted_landscape(jax.random.key(seed), SIZES, mu_a, "concentrated")
    lb = planted_landscape(jax.random.key(seed), SIZES, mu_b, "concentrated")
    return la, lb


def test_nested_pair_ratio_interval_and_counts():
    la, lb = planted_pair(0)
    truth = landscape_mu(lb) / landscape_mu(la)
    assert np.all(np.asarray(lb.factors) >= np.asarray(la.factors) - 1e-15)  # nested failures
    r = compare(jax.random.key(1), SPACE, landscape_evaluator(la), landscape_evaluator(lb), 4000)
    assert r.ratio_lower <= truth <= r.ratio_upper and r.ratio_lower < r.ratio < r.ratio_upper
    assert r.inferences == 4000 and r.variance_gain > 1.0 and not r.unreliable
    assert r.ratio == pytest.approx(r.mu_b / r.mu_a, rel=1e-12)
    assert "ratio B/A" in str(r) and r.to_dict()["status"] == "converged"


def test_k_sample_evaluators_are_charged_k_each():
    la, lb = planted_pair(0)
    r = compare(jax.random.key(2), SPACE, landscape_evaluator(la, 4, 0), landscape_evaluator(lb, 4, 1), 8000)
    assert r.inferences == 8000  # 1000 inputs x (4 + 4) samples
    # graded training signals (cost 1 each): 6 stages of 83 (500 // 6) inputs x 2, then
    # (8000 - 996) // 8 = 875 estimation inputs x 8
    ra = compare(jax.random.key(2), SPACE, landscape_evaluator(la, 4, 0), landscape_evaluator(lb, 4, 1), 8000,
                 train_evaluate_a=landscape_evaluator(la), train_evaluate_b=landscape_evaluator(lb))
    assert ra.inferences == 6 * 83 * 2 + 875 * 8 == 7996
    assert ra.hits_a > r.hits_a  # the graded signal lets CE find the shared corner
    with pytest.raises(ValueError, match="both train_evaluate_a and train_evaluate_b"):
        compare(jax.random.key(2), SPACE, landscape_evaluator(la, 4, 0), landscape_evaluator(lb, 4, 1), 8000,
                train_evaluate_a=landscape_evaluator(la))


def test_no_failure_gives_undefined_ratio_with_status():
    zero = lambda X: np.zeros(len(X))  # noqa: E731
    r = compare(jax.random.key(0), SPACE, zero, zero, 1000)
    assert math.isnan(r.ratio) and r.ratio_lower == 0.0 and r.ratio_upper == math.inf
    assert r.status != 0 and r.unreliable and "undefined" in r.notes[0]


@pytest.mark.parametrize("kwargs, match", [(dict(budget=1), "budget"), (dict(alpha=2.0), "alpha"),
                                           (dict(evaluate_b="x"), "evaluate_b must be callable"),
                                           (dict(reuse=True), "reuse must be an int"),
                                           (dict(reuse=2.5), "reuse must be an int"),
                                           (dict(reuse=99), r"reuse must be an int in \[0, stages=")])
def test_bad_input(kwargs, match):
    args = dict(evaluate_a=lambda X: np.zeros(len(X)), evaluate_b=lambda X: np.zeros(len(X)), budget=1000)
    args.update(kwargs)
    extra = {k: args.pop(k) for k in ("alpha", "reuse") if k in args}
    with pytest.raises(ValueError, match=match):
        compare(jax.random.key(0), SPACE, args["evaluate_a"], args["evaluate_b"], args["budget"], **extra)


@pytest.mark.slow
@pytest.mark.parametrize("outcome", ["deterministic", "samples:4"])
def test_ratio_interval_coverage_on_planted_pairs(outcome):
    """mu_A = 1e-4, mu_B = 2.4e-4; coverage of the 95% ratio interval >= 0.95 - 3 MC SE."""
    reps = 120
    hits = []
    for r in range(reps):
        la, lb = planted_pair(100 + r % 4)
        truth = landscape_mu(lb) / landscape_mu(la)
        if outcome == "deterministic":
            ea, eb, budget = landscape_evaluator(la), landscape_evaluator(lb), 4000
            train = {}
        else:  # K sampled answers per input; CE learns from a graded signal (log-probabilities)
            ea, eb, budget = landscape_evaluator(la, 4, 2 * r), landscape_evaluator(lb, 4, 2 * r + 1), 16000
            train = dict(train_evaluate_a=landscape_evaluator(la), train_evaluate_b=landscape_evaluator(lb))
        res = compare(jax.random.key(r), SPACE, ea, eb, budget, **train)
        hits.append(res.ratio_lower <= truth <= res.ratio_upper)
    cover = np.mean(hits)
    assert cover >= 0.95 - 3 * math.sqrt(0.95 * 0.05 / reps), cover


def test_each_model_is_assessed_with_its_outcomes(monkeypatch):
    """Reason 5 (estimated less efficient than uniform sampling) needs the outcomes and
    the inputs paid: compare passes both, the inputs counted as pairs (both models)."""
    import jaxcert.rare.paired as P

    seen = []
    real = P.assess

    def spy(*args, **kwargs):
        seen.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(P, "assess", spy)
    la, lb = planted_pair(0)
    r = compare(jax.random.key(1), SPACE, landscape_evaluator(la), landscape_evaluator(lb), 4000)
    assert len(seen) == 2
    for kw in seen:
        assert kw["outcomes"] is not None and kw["inputs"] == pytest.approx(r.inferences / 2)
        assert np.all((kw["outcomes"] >= 0) & (kw["outcomes"] <= 1)) and np.any(kw["outcomes"] > 0)
