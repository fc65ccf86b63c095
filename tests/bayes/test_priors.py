"""Prior construction: transferred counts, boxes, validation messages."""

import numpy as np
import pytest

from jaxcert.bayes import beta_from_counts, make_prior


def test_default_prior_is_uniform_on_boxes():
    p = make_prior([0.8, 0.9], [0.01, 0.05])
    for ab in (p.theta_ab, p.tpr_ab, p.fpr_ab):
        np.testing.assert_array_equal(ab, [1.0, 1.0])
    np.testing.assert_array_equal(p.tpr_box, [0.8, 0.9])
    np.testing.assert_array_equal(p.fpr_box, [0.01, 0.05])
    np.testing.assert_array_equal(make_prior().tpr_box, [0.0, 1.0])


def test_transferred_counts_give_updated_uniform():
    # Beta(1 + k, 1 + n - k): the posterior of a uniform prior after k of n
    assert beta_from_counts(0, 0) == (1.0, 1.0)
    assert beta_from_counts(45, 50) == (46.0, 6.0)
    p = make_prior(tpr_prior=(45, 50), fpr_prior=(3, 200), theta_prior=(1, 99))
    np.testing.assert_array_equal(p.tpr_ab, [46.0, 6.0])
    np.testing.assert_array_equal(p.fpr_ab, [4.0, 198.0])
    np.testing.assert_array_equal(p.theta_ab, [2.0, 99.0])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(tpr_bounds=[0.9, 0.8]), "tpr_bounds is infeasible"),
        (dict(fpr_bounds=[-0.1, 0.2]), r"fpr_bounds must lie inside \[0, 1\]"),
        (dict(tpr_bounds=[0.5]), r"tpr_bounds must have shape"),
        (dict(tpr_prior=(6, 5)), "tpr_prior: prior counts need 0 <= k <= n"),
        (dict(fpr_prior=(-1, 5)), "fpr_prior: prior counts need 0 <= k <= n"),
        (dict(theta_prior=3), "theta_prior must be None or a pair"),
        (dict(tpr_prior=("a", 5)), "prior counts must be numbers"),
    ],
)
def test_bad_prior_raises_precise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_prior(**kwargs)
