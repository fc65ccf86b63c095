"""Evaluators: checks, cache deduplication, planted models (vs enumeration), answer rule."""

import numpy as np
import pytest

from jaxcert.rare._cache import EvalCache
from jaxcert.rare.evaluators import cached_evaluator, python_evaluator
from jaxcert.rare.scoring import extract_answer, parse_score
from jaxcert.rare.synthetic import planted_corner_evaluator, planted_evaluator
from jaxcert.rare.templates import load_gsm_alt


@pytest.mark.parametrize(
    "text, want",
    [
        ("so 3 + 4 = 7\n#### 1,234", 1234.0),
        ("The answer is \\boxed{-2.5} (not 3)", -2.5),
        ("first 12, then 15 apples.", 15.0),
        ("#### $18.", 18.0),
        ("I do not know", None),
        ("#### none", None),
        (None, None),
    ],
)
def test_extract_answer(text, want):
    assert extract_answer(text) == want


def test_python_evaluator_checks_and_batches():
    calls = []

    def fn(X):
        calls.append(X.shape[0])
        return X[:, 0] % 2 == 1

    ev = python_evaluator(fn, batch_size=3, d=2)
    out = ev(np.array([[1, 0], [2, 0], [3, 0], [4, 0], [5, 0]]))
    assert out.tolist() == [1.0, 0.0, 1.0, 0.0, 1.0] and calls == [3, 2]
    with pytest.raises(ValueError, match=r"X must be an int array of shape \(B, 2\)"):
        ev(np.zeros((2, 3), dtype=int))
    with pytest.raises(ValueError, match="integer category indices"):
        ev(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"must return one failure value per input, shape \(2,\)"):
        python_evaluator(lambda X: np.zeros(3))(np.zeros((2, 1), dtype=int))
    with pytest.raises(ValueError, match=r"finite failure fractions in \[0, 1\]"):
        python_evaluator(lambda X: np.full(X.shape[0], 2.0))(np.zeros((2, 1), dtype=int))
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        python_evaluator(fn, batch_size=0)


def test_cached_evaluator_calls_once(tmp_path):
    n = {"calls": 0}

    def fn(X):
        n["calls"] += X.shape[0]
        return (X[:, 0] == 1).astype(float)

    cache = EvalCache(tmp_path / "c.jsonl")
    ev = cached_evaluator(python_evaluator(fn), cache, "ns", "t")
    X = np.array([[1], [2], [1]])
    first = ev(X)
    assert ev(X).tolist() == first.tolist() == [1.0, 0.0, 1.0]
    # the repeated input of the first batch is paid once; the second batch is all cached
    assert ev.calls == 2 and ev.hits == 4 and n["calls"] == 2 and ev.cost_per_input == 1
    cache.close()
    ev2 = cached_evaluator(python_evaluator(fn), EvalCache(tmp_path / "c.jsonl"), "ns", "t")
    calls_before = n["calls"]
    assert ev2(X).tolist() == first.tolist() and n["calls"] == calls_before and ev2.calls == 0


@pytest.fixture(scope="module")
def space():
    return load_gsm_alt(17)


def test_planted_evaluators_exact_rate(space):
    X = space.enumerate()
    valid = space.is_valid(X)
    v = space.values(X[valid])
    want = np.mean((v["x"] >= 150) & (v["p"] % 2 == 1))
    ev, mu = planted_evaluator(space, lambda v: (v["x"] >= 150) & (v["p"] % 2 == 1))
    assert mu == pytest.approx(want, rel=1e-12) and 0 < mu < 1
    ev2, mu2 = planted_corner_evaluator(space, 1e-3)
    assert mu2 == pytest.approx(1e-3, rel=1e-6)
    assert mu2 == pytest.approx(np.mean(ev2(X[valid])), rel=1e-12)
    top = np.asarray(space.sizes) - 1
    assert ev2(top[None])[0] == 1.0
    ev3, mu3 = planted_corner_evaluator(space, 1e-3, samples=10)
    assert np.all(np.isin(ev3(X[valid]) * 10, np.arange(11))) and 0 < mu3 <= 1e-3
    with pytest.raises(ValueError, match=r"mass must be in \(0, 1\)"):
        planted_corner_evaluator(space, 0.0)


def test_cost_per_input_and_score_modes(space):
    assert planted_corner_evaluator(space, 1e-3)[0].cost_per_input == 1
    assert planted_corner_evaluator(space, 1e-3, samples=8)[0].cost_per_input == 8
    inner = python_evaluator(lambda X: np.zeros(X.shape[0]))
    inner.cost_per_input = 5
    assert cached_evaluator(inner, EvalCache(None), "ns").cost_per_input == 5
    assert parse_score("samples:16").cost_per_input == 16 and str(parse_score("samples:16")) == "samples:16"
    assert parse_score("logprob").cost_per_input == parse_score("binary").cost_per_input == 1
    for bad in ("samples:1", "samples:x", "exact", ""):
        with pytest.raises(ValueError, match="score must be"):
            parse_score(bad)


def test_planted_corner_binary_is_a_fixed_model_with_its_realised_rate(space):
    X = space.enumerate(valid_only=True)
    ev, mu = planted_corner_evaluator(space, 1e-2, score="binary", seed=1)
    out = ev(X)
    assert set(np.unique(out)) <= {0.0, 1.0} and np.array_equal(ev(X[::-1]), out[::-1])
    assert mu == out.mean()  # the exact rate of the answers it gives, by enumeration
    # E[rate] = mass; the realised rate is a sum of independent Bernoullis around it
    exact, _ = planted_corner_evaluator(space, 1e-2, score="logprob")
    p = exact(X)
    assert p.mean() == pytest.approx(1e-2, rel=1e-6)
    assert abs(mu - p.mean()) < 5 * np.sqrt(np.sum(p * (1 - p))) / X.shape[0]
    ev4, mu4 = planted_corner_evaluator(space, 1e-2, score="samples:4", seed=1)
    assert ev4.cost_per_input == 4 and set(np.unique(ev4(X) * 4)) <= {0, 1, 2, 3, 4}
    assert abs(mu4 - p.mean()) < 5 * np.sqrt(np.sum(p * (1 - p)) / 4) / X.shape[0]
    with pytest.raises(ValueError, match="not both"):
        planted_corner_evaluator(space, 1e-2, samples=4, score="binary")
