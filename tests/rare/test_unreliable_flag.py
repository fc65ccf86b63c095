"""The ``unreliable`` flag on planted runs of jaxcert.rare.estimate (seeded, exact truth).

Landscapes over 10^5 inputs, graded outcomes, mu = 1e-3, budget 2,000
(benchmarks/unreliable_flag.py studies the rule on many seeds).
"""

import jax
import numpy as np

import jaxcert  # noqa: F401
from jaxcert.rare import ProductSpace, estimate, landscape_evaluator, landscape_mu, planted_landscape
from jaxcert.rare.reliability import REASONS

SIZES = (10,) * 5
SPACE = ProductSpace(SIZES)
KW = dict(batch_size=100, stages=10)


def _run(concentration, seed):
    land = planted_landscape(jax.random.key(3), SIZES, 1e-3, concentration)
    res = estimate(jax.random.key(seed), SPACE, landscape_evaluator(land), 2000, **KW)
    return land, res


def test_flag_fires_when_the_proposal_misses_a_region_that_a_defensive_draw_hit():
    # intermediate: half the mass in a corner (CE finds it), half on 100 scattered inputs
    land, res = _run("intermediate", 11)  # a run whose proposal missed the scattered inputs
    mu = landscape_mu(land)
    # the trained proposal puts less mass on the scattered inputs than uniform sampling
    probs = np.asarray(res.proposal.probs)
    X = SPACE.enumerate()[np.asarray(land.table)]
    q_scattered = np.prod(probs[np.arange(len(SIZES)), X], axis=1).sum()
    assert q_scattered < np.asarray(land.table).mean()
    assert abs(res.estimate / mu - 1) > 0.2  # the estimate rests on about one draw there
    assert res.unreliable and REASONS[8] in res.reasons  # the one-dominant-draw reason fires
    assert res.hits >= 100  # many hits: the few-hits reason alone would not have said it


def test_flag_stays_off_on_a_well_found_concentrated_landscape():
    land, res = _run("concentrated", 0)
    assert not res.unreliable and res.reasons == ()
    assert abs(res.estimate / landscape_mu(land) - 1) < 0.1
    assert res.ci_lower <= landscape_mu(land) <= res.ci_upper
