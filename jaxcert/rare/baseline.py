"""Uniform sampling with exact Clopper-Pearson: the baseline every certificate is measured by.

:func:`uniform_estimate` draws ``budget`` i.i.d. valid inputs from the nominal
distribution and bounds the failure rate exactly. The helpers below are the pieces of
that baseline the CEM pipeline reuses (:mod:`jaxcert.rare.pipeline`): Bernoulli
outcomes from fractional failures, the exact interval on the uniform draws, and the
``reduction`` of a certificate against the uniform sample size it would need.
"""

from __future__ import annotations

import math

import jax
import numpy as np

from jaxcert._types import Status
from jaxcert.rare import proposal as _prop
from jaxcert.rare.budget import as_space, check_common, evaluate_checked
from jaxcert.rare.result import RareResult

__all__ = ["uniform_estimate"]


def uniform_reduction(upper, alpha, inferences):
    """``(reduction, needed)``: uniform samples an exact certificate of ``upper`` needs, per inference paid."""
    from jaxcert.intervals.binomial import uniform_samples_needed

    if upper >= 1:  # the trivial bound: uniform sampling needs no sample to claim mu <= 1
        return 0.0, 0.0
    if not upper > 0:
        return math.nan, math.nan
    needed = float(np.asarray(uniform_samples_needed(upper, alpha)))
    return needed / max(inferences, 1), needed


def bernoulli_outcomes(key, F):
    """0/1 outcomes with mean F: F itself if binary, else Bernoulli(F) draws."""
    F = np.asarray(F, dtype=float)
    if np.all((F == 0) | (F == 1)):
        return F
    return (np.asarray(jax.random.uniform(key, F.shape)) < F) * 1.0


def exact_interval(k, n, alpha, side):
    """Clopper-Pearson ``(lower, upper)`` for ``k`` failures in ``n`` uniform draws, as floats."""
    from jaxcert.intervals.binomial import clopper_pearson

    cp = clopper_pearson(k, n, alpha, side)
    return float(np.asarray(cp.lower)), float(np.asarray(cp.upper))


def uniform_estimate(key: jax.Array, space, evaluate, budget: int, *, alpha: float = 0.05, side: str = "upper") -> RareResult:
    """Baseline: ``budget`` i.i.d. uniform valid inputs and an exact Clopper-Pearson bound.

    Draws come from ``p0`` with invalid draws rejected (free). Fractional failures
    ``F_i`` are turned into Bernoulli(``F_i``) outcomes (same mean), so the exact
    binomial interval applies.
    """
    space = as_space(space)
    check_common(budget, alpha, side)
    key_z, key_x, key_b = jax.random.split(key, 3)
    vf = space.valid_fraction(key_z, alpha=alpha / 2)
    if vf.estimate <= 0:
        raise ValueError("the space has no valid input")
    Xs, got = [], 0
    for k in jax.random.split(key_x, 10_000):
        X = space.uniform(k, max(2 * (budget - got), int((budget - got) / vf.estimate * 1.2) + 16))
        X = X[space.is_valid(X)][: budget - got]
        Xs.append(X)
        got += X.shape[0]
        if got >= budget:
            break
    X = np.concatenate(Xs)
    F = np.concatenate([evaluate_checked(evaluate, X[s : s + 65536]) for s in range(0, X.shape[0], 65536)])
    k_fail = int(bernoulli_outcomes(key_b, F).sum())
    lo, up = exact_interval(k_fail, budget, alpha, side)
    ci_lo, ci_up = exact_interval(k_fail, budget, alpha, "two-sided")
    est = k_fail / budget
    reduction, needed = uniform_reduction(up, alpha, budget)
    return RareResult(
        estimate=est, lower=lo, upper=up, alpha=float(alpha), side=side, bound="clopper-pearson",
        inferences=int(budget), budget=int(budget), reduction=reduction, uniform_needed=needed,
        ess=float(budget), max_weight=1.0, failures_seen=int(np.sum(F > 0)), estimation_failures=int(np.sum(F > 0)),
        num_stages=0, proposal=_prop.uniform_proposal(space), history=(), status=int(Status.CONVERGED),
        valid_fraction=vf, defensive=1.0, notes=(), uniform_draws=int(budget),
        uniform_failures=k_fail, certificate="clopper-pearson", ci_lower=ci_lo, ci_upper=ci_up,
        interval="clopper-pearson", unreliable=False, reasons=(), khat=float("nan"), integrand_ess=float(k_fail),
        hits=k_fail, hidden_mass_floor=0.6 / budget, efficiency_estimate=1.0, cost_per_input=1, reused_stages=0,
    )
