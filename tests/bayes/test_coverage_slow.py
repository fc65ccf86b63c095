"""Seeded frequentist coverage of the credible upper bound (side by side with the CMLE).

A credible bound promises nothing frequentist; these tests pin down what was measured
(``benchmarks/bayes_coverage.py``): with uniform-on-box priors around the truth the 95%
credible bound covers at least nominally (within Monte-Carlo error), including the rare
cell theta = 0.01 with n = 50; with a box that excludes the truth in the direction that
pulls theta down, both the credible and the CMLE bound undercover.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxcert
from jaxcert.bayes import make_prior, posterior_summary
from jaxcert.sim.simulate import simulate_counts

REPS = 400
NOMINAL = 0.95
MC_SE = np.sqrt(NOMINAL * (1 - NOMINAL) / REPS)  # ~0.011
TPR, FPR = 0.9, 0.05


def _coverage(seed, theta, n, big_n, tpr_box, fpr_box):
    covered = {"bayes": [], "cmle": []}
    for chunk in range(REPS // 200):
        c = simulate_counts(jax.random.key(1000 * seed + chunk), jnp.full(200, theta), TPR, FPR,
                            n, big_n)
        post = posterior_summary(c, make_prior(tpr_box, fpr_box), alpha=0.05, side="upper")
        assert np.all(np.asarray(post.status) == 0)
        prof = jaxcert.profile_interval(c, tpr_box, fpr_box, alpha=0.05, side="upper")
        covered["bayes"].append(np.asarray(post.upper) >= theta)
        covered["cmle"].append(np.asarray(prof.upper) >= theta)
    return {k: float(np.mean(np.concatenate(v))) for k, v in covered.items()}


@pytest.mark.slow
@pytest.mark.parametrize(
    "seed, theta, n, big_n, tpr_box, fpr_box",
    [
        (1, 0.01, 50, 2000, (0.85, 0.95), (0.02, 0.08)),  # rare failures, few labels
        (2, 0.10, 100, 1000, (0.85, 0.95), (0.02, 0.08)),
        (3, 0.05, 200, 5000, (0.70, 1.00), (0.00, 0.15)),
    ],
)
def test_credible_bound_covers_with_priors_around_truth(seed, theta, n, big_n, tpr_box, fpr_box):
    cov = _coverage(seed, theta, n, big_n, tpr_box, fpr_box)
    assert cov["bayes"] >= NOMINAL - 3 * MC_SE, cov


@pytest.mark.slow
def test_box_excluding_truth_undercovers_for_both_methods():
    # Believed FPR in [0.06, 0.10] (truth 0.05): the bound is pulled below theta.
    cov = _coverage(4, 0.05, 100, 2000, (0.92, 0.98), (0.06, 0.10))
    assert cov["bayes"] < NOMINAL - 3 * MC_SE, cov
    assert cov["cmle"] < NOMINAL - 3 * MC_SE, cov
