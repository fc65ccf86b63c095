"""Stage weights of the reused CE stages: closed form, limits, and exact unbiasedness.

The unbiasedness oracle enumerates every draw sequence of a three-stage adaptive run
on a three-input space (3^6 sequences), so the expectation is exact, not sampled.
"""

from __future__ import annotations

import itertools

import jax
import numpy as np
import pytest

from jaxcert.rare.budget import proposal_closeness, stage_weights, weight_stage_terms

F = np.array([0.0, 0.2, 0.9])  # failure probability of each input
P0 = np.full(3, 1 / 3)
MU = float(P0 @ F)


def test_weights_sum_to_one_and_limits():
    sizes = [150, 150, 150, 1100]
    lam = np.asarray(stage_weights(sizes, [0.3, 0.6, 0.9]))
    assert lam.sum() == pytest.approx(1.0, abs=1e-14) and np.all(lam >= 0)
    # every proposal already on the target: inverse-variance = size-proportional
    np.testing.assert_allclose(stage_weights(sizes, [1.0] * 3), np.array(sizes) / sum(sizes), rtol=1e-14)
    # nothing learnt yet: everything on the fresh stage
    np.testing.assert_allclose(stage_weights(sizes, [0.0] * 3), [0, 0, 0, 1], atol=1e-15)
    # the hand-computed sequential shares: stage t takes n c / (n c + N_after) of what is left
    left, want = 1.0, []
    for n, c, after in zip(sizes[:-1], [0.3, 0.6, 0.9], [1400, 1250, 1100], strict=True):
        want.append(left * n * c / (n * c + after))
        left -= want[-1]
    np.testing.assert_allclose(lam, want + [left], rtol=1e-13)
    # traced closeness, no recompile per value
    f = jax.jit(lambda c: stage_weights(sizes, c))
    np.testing.assert_allclose(f(np.array([0.3, 0.6, 0.9])), lam, rtol=1e-14)


def test_closeness_is_the_ess_fraction():
    a = np.array([0.0, 1.0, 3.0, 0.5])
    assert float(proposal_closeness(a)) == pytest.approx(a.sum() ** 2 / (a.size * (a**2).sum()), rel=1e-14)
    assert float(proposal_closeness(np.full(7, 1e-200))) == pytest.approx(1.0)  # scale-free, no underflow
    assert float(proposal_closeness(np.zeros(5))) == 0.0


def _next_proposal(draws):
    """An adaptive rule: mass towards inputs that failed, defensive share 0.2."""
    counts = np.bincount(np.asarray(draws, dtype=int), weights=F[np.asarray(draws, dtype=int)], minlength=3) + 0.1
    return 0.2 * P0 + 0.8 * counts / counts.sum()


def _expected(peek: bool) -> float:
    """Exact E[estimate] of: stage 0 (p0), stage 1 (adapted, reused), fresh stage 2
    (adapted again), two draws each, stage 1 weighted by stage 0's closeness (or, with
    ``peek``, by its OWN closeness: the weight then sees the draws it weights)."""
    total = 0.0
    for seq in itertools.product(range(3), repeat=6):
        x0, x1, x2 = seq[0:2], seq[2:4], seq[4:6]
        q1 = _next_proposal(x0)
        q2 = _next_proposal(x0 + x1)
        prob = np.prod(P0[list(x0)]) * np.prod(q1[list(x1)]) * np.prod(q2[list(x2)])
        z1 = F[list(x1)] * P0[list(x1)] / q1[list(x1)]
        z2 = F[list(x2)] * P0[list(x2)] / q2[list(x2)]
        c0 = proposal_closeness(np.sqrt(F[list(x0)]))  # q0 = p0: weights 1
        c1 = proposal_closeness(np.sqrt(F[list(x1)]) * P0[list(x1)] / q1[list(x1)])
        est = np.concatenate(weight_stage_terms([z1, z2], [c1 if peek else c0])).mean()
        total += prob * float(est)
    return total


def test_weights_fixed_before_their_draws_are_exactly_unbiased():
    assert _expected(peek=False) == pytest.approx(MU, rel=1e-12)


def test_a_weight_that_sees_its_own_draws_is_biased():
    # the negative control: the same rule fed the stage's own closeness
    assert abs(_expected(peek=True) - MU) > 1e-3 * MU
