"""Tests for jaxcert.rare.space: sizes, enumeration, validity, valid fractions."""

import itertools
import math

import jax
import numpy as np
import pytest

import jaxcert  # noqa: F401  (enables x64)
from jaxcert.rare import ProductSpace
from jaxcert.rare.space import ENUMERATION_LIMIT


def test_sizes_and_enumeration_match_itertools():
    space = ProductSpace([2, 3, 4], names=["a", "b", "c"])
    assert space.d == 3 and space.size == 24 and space.max_size == 4
    assert math.isclose(space.log_size, math.log(24), rel_tol=1e-14)
    X = space.enumerate()
    expected = np.array(list(itertools.product(range(2), range(3), range(4))))
    np.testing.assert_array_equal(X, expected)
    np.testing.assert_array_equal(space.ravel(X), np.arange(24))


def test_huge_space_size_is_exact_python_int():
    space = ProductSpace([1000] * 10)
    assert space.size == 1000**10
    assert math.isclose(space.log_size, 10 * math.log(1000), rel_tol=1e-14)
    with pytest.raises(ValueError, match="cannot enumerate"):
        space.enumerate()


def test_exact_valid_fraction_by_enumeration():
    space = ProductSpace([5, 7], condition=lambda X: X[:, 0] < X[:, 1])
    vf = space.valid_fraction()
    brute = sum(a < b for a in range(5) for b in range(7)) / 35
    assert vf.exact and vf.estimate == pytest.approx(brute, abs=1e-15)
    assert vf.lower == vf.upper == vf.estimate
    Xv = space.enumerate(valid_only=True)
    assert Xv.shape == (int(round(brute * 35)), 2) and np.all(Xv[:, 0] < Xv[:, 1])


def test_monte_carlo_valid_fraction_interval_contains_truth():
    K = 2000
    space = ProductSpace([K, K], condition=lambda X: X[:, 0] < X[:, 1])
    assert space.size > ENUMERATION_LIMIT
    truth = (K * (K - 1) / 2) / K**2
    vf = space.valid_fraction(jax.random.key(0), num=200_000, alpha=1e-3)
    assert not vf.exact and vf.num == 200_000
    assert vf.lower <= truth <= vf.upper
    half = math.sqrt(math.log(2 / 1e-3) / (2 * 200_000))
    assert vf.upper - vf.lower == pytest.approx(2 * half, rel=1e-12)


def test_no_condition_is_all_valid():
    space = ProductSpace([3, 3])
    assert space.is_valid(np.zeros((4, 2), int)).all()
    assert space.valid_fraction().estimate == 1.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(sizes=[3, 0, 2]), "empty variable"),
        (dict(sizes=[]), "non-empty"),
        (dict(sizes=[2.5, 3]), "integers"),
        (dict(sizes=[2, 3], names=["a"]), "names must have 2"),
        (dict(sizes=[2, 3], condition=5), "callable"),
    ],
)
def test_bad_space_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ProductSpace(**kwargs)


def test_bad_inputs_and_condition_shape():
    space = ProductSpace([2, 3], condition=lambda X: np.ones((X.shape[0], 1), bool))
    with pytest.raises(ValueError, match="shape"):
        space.is_valid(np.zeros((4, 2), int))
    with pytest.raises(ValueError, match=r"shape \(B, 2\)"):
        space.check_inputs(np.zeros((4, 3), int))
    with pytest.raises(ValueError, match="outside"):
        space.check_inputs(np.array([[0, 3]]))
    big = ProductSpace([5000, 5000], condition=lambda X: X[:, 0] > 0)
    with pytest.raises(ValueError, match="key is required"):
        big.valid_fraction()
