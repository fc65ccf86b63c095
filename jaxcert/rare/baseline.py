"""Uniform sampling with exact Clopper-Pearson: the baseline, and the evaluation plumbing.

:func:`uniform_estimate` draws ``budget`` i.i.d. valid inputs from the nominal
distribution and bounds the failure rate exactly; the helpers below call the user's
evaluator on valid inputs only and check what it returns, for every front door of
:mod:`jaxcert.rare` (estimate, compare).
"""

from __future__ import annotations

import math

import jax
import numpy as np

from jaxcert._types import Status
from jaxcert._validate import check_alpha, check_side
from jaxcert.rare import proposal as _prop
from jaxcert.rare.result import RareResult
from jaxcert.rare.space import ProductSpace

__all__ = ["uniform_estimate"]


def _as_space(space) -> ProductSpace:
    if isinstance(space, ProductSpace):
        return space
    return ProductSpace(space)


def _evaluate(evaluate, X: np.ndarray) -> np.ndarray:
    """Calls the user's evaluator on valid inputs and checks its output."""
    if X.shape[0] == 0:
        return np.zeros(0)
    out = np.asarray(evaluate(X), dtype=float)
    if out.shape != (X.shape[0],):
        raise ValueError(f"evaluate must return an array of shape ({X.shape[0]},) (one failure value per input); got shape {out.shape}")
    if np.any(np.isnan(out)):
        raise ValueError(f"evaluate returned NaN for {int(np.isnan(out).sum())} of {X.shape[0]} inputs; failures must be in [0, 1]")
    if np.any(out < 0) or np.any(out > 1):
        raise ValueError(f"evaluate must return failures in [0, 1]; got values in [{out.min()}, {out.max()}]")
    return out


def _evaluate_batch(space, evaluate, X, chunk):
    """Evaluates the valid rows of ``X`` (in chunks); invalid rows get 0."""
    X = np.asarray(X, dtype=np.int64)
    valid = space.is_valid(X)
    F = np.zeros(X.shape[0])
    idx = np.flatnonzero(valid)
    for s in range(0, idx.size, chunk):
        part = idx[s : s + chunk]
        F[part] = _evaluate(evaluate, X[part])
    return F, valid


def _check_common(space, budget, alpha, side):
    check_alpha(alpha)
    check_side(side)
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 2:
        raise ValueError(f"budget must be an int >= 2 (number of model calls); got {budget!r}")


def _reduction(upper, alpha, inferences):
    from jaxcert.intervals.binomial import uniform_samples_needed

    if upper >= 1:  # the trivial bound: uniform sampling needs no sample to claim mu <= 1
        return 0.0, 0.0
    if not upper > 0:
        return math.nan, math.nan
    needed = float(np.asarray(uniform_samples_needed(upper, alpha)))
    return needed / max(inferences, 1), needed


def _is_uniform(proposal) -> bool:
    probs, mask = np.asarray(proposal.probs), np.asarray(proposal.mask)
    u = np.where(mask, 1.0 / mask.sum(-1, keepdims=True), 0.0)
    return bool(np.all(probs == u))


def _bernoulli(key, F):
    """0/1 outcomes with mean F: F itself if binary, else Bernoulli(F) draws."""
    F = np.asarray(F, dtype=float)
    if np.all((F == 0) | (F == 1)):
        return F
    return (np.asarray(jax.random.uniform(key, F.shape)) < F) * 1.0


def _clopper_pearson(k, n, alpha, side):
    from jaxcert.intervals.binomial import clopper_pearson

    cp = clopper_pearson(k, n, alpha, side)
    return float(np.asarray(cp.lower)), float(np.asarray(cp.upper))


def uniform_estimate(key: jax.Array, space, evaluate, budget: int, *, alpha: float = 0.05, side: str = "upper") -> RareResult:
    """Baseline: ``budget`` i.i.d. uniform valid inputs and an exact Clopper-Pearson bound.

    Draws come from ``p0`` with invalid draws rejected (free). Fractional failures
    ``F_i`` are turned into Bernoulli(``F_i``) outcomes (same mean), so the exact
    binomial interval applies.
    """
    space = _as_space(space)
    _check_common(space, budget, alpha, side)
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
    F = np.concatenate([_evaluate(evaluate, X[s : s + 65536]) for s in range(0, X.shape[0], 65536)])
    k_fail = int(_bernoulli(key_b, F).sum())
    lo, up = _clopper_pearson(k_fail, budget, alpha, side)
    ci_lo, ci_up = _clopper_pearson(k_fail, budget, alpha, "two-sided")
    est = k_fail / budget
    reduction, needed = _reduction(up, alpha, budget)
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
