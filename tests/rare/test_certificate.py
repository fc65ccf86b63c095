"""The run certificate: fresh-stage IS bound intersected with Clopper-Pearson on the uniform draws."""

import jax
import numpy as np
import pytest
from scipy import stats

import jaxcert  # noqa: F401
from jaxcert.rare import ProductSpace, cem_init, importance_estimate
from jaxcert.rare.certificate import certify_run
from jaxcert.rare.mixture import defensive_of
from jaxcert.rare.proposal import log_weights, mixture_sample_components

SPACE = ProductSpace([10, 10, 10])
MIX = defensive_of(cem_init(SPACE).proposal, 0.1)  # the nominal itself: every weight is 1
VF = SPACE.valid_fraction()


def _fresh(n=400, hits=2):
    X, _ = mixture_sample_components(jax.random.key(0), MIX, num=n)
    F = np.zeros(n)
    F[:hits] = 1.0
    return F, np.asarray(log_weights(MIX, X))


@pytest.mark.parametrize("k", [0, 3])
def test_uniform_draws_tighten_the_upper_end_to_clopper_pearson(k):
    F, log_w = _fresh()
    u = np.zeros(20_000)
    u[:k] = 1.0
    c = certify_run(jax.random.key(1), F, log_w, MIX, VF, u, alpha=0.05, alpha_num=0.025, side="upper",
                    bound="betting", defensive=0.1, uniform_check=True)
    cp = stats.beta.ppf(1 - 0.025, k + 1, u.size - k)  # exact one-sided upper at alpha / 2
    assert c.source == "uniform draws" and c.upper == pytest.approx(cp, rel=1e-9)
    assert (c.uniform_draws, c.uniform_failures) == (u.size, k)


def test_without_the_check_the_is_bound_alone_is_reported():
    F, log_w = _fresh()
    c = certify_run(jax.random.key(1), F, log_w, MIX, VF, np.zeros(20_000), alpha=0.05, alpha_num=0.05,
                    side="upper", bound="betting", defensive=0.1, uniform_check=False)
    r = importance_estimate(F, log_w, weight_bound=1.0, alpha=0.05, side="upper", bound="betting",
                            key=jax.random.key(1))
    assert c.source == "importance" and c.upper == pytest.approx(float(r.upper), rel=1e-12)
    assert (c.uniform_draws, c.uniform_failures) == (0, 0)


def test_disjoint_intervals_report_their_union():
    F, log_w = _fresh(hits=200)  # IS: about half the draws fail
    u = np.zeros(20_000)        # uniform draws: none fails
    c = certify_run(jax.random.key(1), F, log_w, MIX, VF, u, alpha=0.05, alpha_num=0.025, side="two-sided",
                    bound="betting", defensive=0.1, uniform_check=True)
    r = importance_estimate(F, log_w, weight_bound=1.0, alpha=0.025, side="two-sided", bound="betting",
                            key=jax.random.key(1))
    assert c.lower == 0.0 and c.upper == pytest.approx(float(r.upper), rel=1e-12)
