"""What a run may spend, and on what: boundary checks, stage plan, valid-only evaluation.

Both front doors of :mod:`jaxcert.rare` (:func:`jaxcert.rare.estimate` and
:func:`jaxcert.rare.compare`, and the baseline :func:`jaxcert.rare.uniform_estimate`)
go through the same steps before and around their draws, so they live here once:

* user input is checked eagerly, once, with a precise message (the traced kernels of
  :mod:`jaxcert.rare.cem` never raise);
* the budget counts model inferences, not inputs: an evaluator that scores an input
  from K sampled answers declares ``cost_per_input = K``, and every split of the
  budget divides by it;
* the split into ``stages`` CEM rounds of ``batch_size`` draws and a fresh estimation
  stage is fixed before any draw (the estimate weights every stage by its size, and
  that weighting is unbiased only if it is chosen in advance);
* the evaluator only ever sees valid inputs: an invalid draw costs nothing and counts
  as ``F = 0`` (see :mod:`jaxcert.rare.space`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from jaxcert._validate import check_alpha, check_side
from jaxcert.rare.space import ProductSpace

__all__ = ["cost_per_input", "stage_weights", "weight_stage_terms"]


def as_space(space) -> ProductSpace:
    """A :class:`ProductSpace` as is; a sequence of sizes as the product of those sizes."""
    if isinstance(space, ProductSpace):
        return space
    return ProductSpace(space)


def check_common(budget, alpha, side) -> None:
    """Checks the arguments every front door shares (level, side, budget)."""
    check_alpha(alpha)
    check_side(side)
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 2:
        raise ValueError(f"budget must be an int >= 2 (number of model calls); got {budget!r}")


def check_ce_options(space, *, defensive, rho, smoothing, power, train_fraction, components,
                     floor, min_ess=0.1) -> float:
    """Checks the CE options of :func:`jaxcert.rare.estimate`; returns the floor.

    The floor defaults to ``0.01 / K_max``: every category keeps some probability.
    """
    for name, v in (("defensive", defensive), ("rho", rho), ("smoothing", smoothing)):
        if not (np.isfinite(v) and 0 < v <= 1):
            raise ValueError(f"{name} must be in (0, 1]; got {v!r}")
    if not (np.isfinite(power) and 0 <= power <= 2):
        raise ValueError(f"power must be in [0, 2]; got {power!r}")
    if not (np.isfinite(min_ess) and 0 <= min_ess < 1):
        raise ValueError(f"min_ess must be in [0, 1); got {min_ess!r}")
    if not (0 <= train_fraction < 1):
        raise ValueError(f"train_fraction must be in [0, 1); got {train_fraction!r}")
    if (isinstance(components, bool) or not isinstance(components, (int, np.integer))
            or components < 1):
        raise ValueError(f"components must be an int >= 1; got {components!r}")
    floor = 0.01 / space.max_size if floor is None else floor
    if not (np.isfinite(floor) and 0 < floor < 1.0 / space.max_size):
        raise ValueError(f"floor must be in (0, 1/K_max) = (0, {1.0 / space.max_size}); "
                         f"got {floor!r}")
    return floor


def cost_per_input(evaluate) -> int:
    """Inferences one evaluated input costs: ``evaluate.cost_per_input`` (default 1)."""
    c = getattr(evaluate, "cost_per_input", 1)
    if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c < 1:
        raise ValueError("evaluate.cost_per_input must be an int >= 1 (inferences per input); "
                         f"got {c!r}")
    return int(c)


def plan_stages(budget_inputs, train_fraction, stages, batch_size, rho, budget, cost):
    """``(stages, batch_size)`` of CEM training within ``train_fraction`` of the inputs.

    Defaults: up to 6 stages of at least 50 draws (fewer, larger stages learn the
    proposal with less noise: measured in ``benchmarks/bench_cem.py``). A stage needs
    ``ceil(1 / rho)`` draws (at least 10) for its elite quantile to hold one draw, and at least 2 inputs
    must be left for the estimation stage.
    """
    n_train = int(train_fraction * budget_inputs)
    min_batch = max(10, math.ceil(1.0 / rho))
    if n_train <= 0:
        return 0, 0
    if stages is None and batch_size is None:
        stages = max(1, min(6, n_train // 50))
    if batch_size is None:
        batch_size = n_train // stages
    if stages is None:
        stages = max(1, n_train // batch_size)
    if batch_size < min_batch or stages < 1:
        raise ValueError(
            f"budget={budget} ({budget_inputs} inputs at {cost} inferences each) with "
            f"train_fraction={train_fraction} is below one CEM round: a stage needs >= "
            f"{min_batch} draws, got batch_size={batch_size}, stages={stages}"
        )
    if stages * batch_size > budget_inputs - 2:
        raise ValueError(f"stages*batch_size = {stages * batch_size} leaves fewer than 2 of "
                         f"{budget_inputs} inputs for estimation")
    return stages, batch_size


class EstimatePlan(NamedTuple):
    """How :func:`jaxcert.rare.estimate` spends its budget, fixed before any draw."""

    stages: int  # CEM training stages
    batch_size: int  # draws per training stage
    estimation_inputs: int  # draws of the fresh estimation stage
    reuse: int  # final training stages whose terms enter the estimate
    cost: int  # inferences per input of ``evaluate``
    train_cost: int  # inferences per input of the training signal


def plan_estimate(evaluate, train_evaluate, budget, *, train_fraction, stages, batch_size, rho,
                  reuse) -> EstimatePlan:
    """The :class:`EstimatePlan` of :func:`jaxcert.rare.estimate` (arguments as there).

    Training inputs are charged the training signal's cost; the estimation stage gets
    every inference left, at the cost of ``evaluate``.
    """
    cost = cost_per_input(evaluate)
    if train_evaluate is not None and not callable(train_evaluate):
        raise ValueError(f"train_evaluate must be callable (X -> scores); got {train_evaluate!r}")
    train_cost = cost_per_input(evaluate if train_evaluate is None else train_evaluate)
    budget_inputs = budget // cost
    if budget_inputs < 2:
        raise ValueError(f"budget={budget} buys {budget_inputs} inputs at {cost} inferences "
                         "each; need >= 2")
    stages, batch_size = plan_stages(budget_inputs, train_fraction, stages, batch_size, rho,
                                     budget, cost)
    est_inputs = (budget - stages * batch_size * train_cost) // cost
    if est_inputs < 2:
        raise ValueError(f"budget={budget} leaves fewer than 2 estimation inputs after training")
    return EstimatePlan(stages, batch_size, est_inputs, reused_stages(reuse, stages), cost, train_cost)


def reused_stages(reuse, stages: int) -> int:
    """How many final training stages enter the estimate: ``reuse``, checked, or by default
    all but the first (the uniform stage 0, whose draws the proposal has not yet shaped)."""
    reuse = max(stages - 1, 0) if reuse is None else reuse
    if (isinstance(reuse, bool) or not isinstance(reuse, (int, np.integer))
            or not 0 <= reuse <= stages):
        raise ValueError(f"reuse must be an int in [0, stages={stages}]; got {reuse!r}")
    return int(reuse)


def evaluate_checked(evaluate, X: np.ndarray) -> np.ndarray:
    """Calls the user's evaluator on valid inputs and checks its output."""
    if X.shape[0] == 0:
        return np.zeros(0)
    out = np.asarray(evaluate(X), dtype=float)
    if out.shape != (X.shape[0],):
        raise ValueError(f"evaluate must return an array of shape ({X.shape[0]},) (one failure "
                         f"value per input); got shape {out.shape}")
    if np.any(np.isnan(out)):
        raise ValueError(f"evaluate returned NaN for {int(np.isnan(out).sum())} of {X.shape[0]} "
                         "inputs; failures must be in [0, 1]")
    if np.any(out < 0) or np.any(out > 1):
        raise ValueError("evaluate must return failures in [0, 1]; got values in "
                         f"[{out.min()}, {out.max()}]")
    return out


def evaluate_valid(space, evaluate, X, chunk):
    """``(F, valid)``: the valid rows of ``X`` evaluated in chunks; invalid rows get 0."""
    X = np.asarray(X, dtype=np.int64)
    valid = space.is_valid(X)
    F = np.zeros(X.shape[0])
    idx = np.flatnonzero(valid)
    for s in range(0, idx.size, chunk):
        part = idx[s : s + chunk]
        F[part] = evaluate_checked(evaluate, X[part])
    return F, valid


def stage_weights(sizes) -> np.ndarray:
    """Weights ``lambda_t`` (sum 1) of the reused training stages and the fresh stage.

    ``sizes``: draws of the reused training stages in order, then of the fresh stage.
    The ``j``-th of ``R`` reused training stages gets ``n_j (j / R)^2``, the fresh stage
    ``n``: later stages come from proposals that have learnt more, and the quadratic ramp
    was the best FIXED schedule measured on the planted landscapes of
    ``benchmarks/bench_cem.py`` (within 2-15% of weights proportional to the exact
    per-stage efficiency, which no rule fixed before the draws can know). Fixed before
    any draw, so ``sum_t lambda_t mean(z_t)`` stays unbiased.
    """
    n = np.asarray(sizes, dtype=float)
    R = n.size - 1
    g = np.append((np.arange(1, R + 1) / max(R, 1)) ** 2, 1.0)
    lam = n * g
    return lam / lam.sum()


def weight_stage_terms(terms):
    """Scales each stage's terms so their plain mean is ``sum_t lambda_t mean(z_t)``.

    Stratified variances and diagnostics of the scaled terms are those of the weighted
    estimate, so the interval and reliability code needs no weights of its own.
    """
    sizes = [t.size for t in terms]
    lam = stage_weights(sizes)
    total = sum(sizes)
    return [z * (lam_t * total / n_t) if n_t else z for z, lam_t, n_t in zip(terms, lam, sizes, strict=True)]
