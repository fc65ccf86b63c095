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
  stage is fixed before any draw, and the estimate weights each stage by a rule of the
  draws BEFORE it (:func:`stage_weights`): a weight that looked at its own stage's
  draws would bias the estimate;
* the evaluator only ever sees valid inputs: an invalid draw costs nothing and counts
  as ``F = 0`` (see :mod:`jaxcert.rare.space`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from jaxcert._validate import check_alpha, check_side
from jaxcert.rare.bootstrap import ASYMPTOTIC_INTERVALS
from jaxcert.rare.importance import BOUNDS
from jaxcert.rare.space import ProductSpace

__all__ = ["cost_per_input", "proposal_closeness", "stage_weights", "weight_stage_terms"]


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


def check_estimate_choices(evaluate, *, bound, interval, recycle, power) -> None:
    """The named choices of :func:`jaxcert.rare.estimate` (numbers: :func:`check_ce_options`)."""
    if bound not in BOUNDS:
        raise ValueError(f"bound must be one of {BOUNDS}; got {bound!r}")
    if interval not in ASYMPTOTIC_INTERVALS:
        raise ValueError(f"interval must be one of {ASYMPTOTIC_INTERVALS}; got {interval!r}")
    if not callable(evaluate):
        raise ValueError(f"evaluate must be callable (X -> failures); got {evaluate!r}")
    if not isinstance(recycle, bool):
        raise ValueError(f"recycle must be True or False; got {recycle!r}")
    if isinstance(power, str) and power != "auto":
        raise ValueError(f"power must be a number in [0, 2] or 'auto'; got {power!r}")


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


def stage_range(stages: int, progress: bool):
    """``range(stages)``, under a tqdm bar when ``progress``."""
    if not progress:
        return range(stages)
    from tqdm.auto import tqdm

    return tqdm(range(stages), desc="CEM stages")


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


def proposal_closeness(a):
    """How close a stage's proposal ``q`` was to the CE target ``p0 S^power``, from its own draws.

    ``a``: the stage's integrand weights ``(p0/q)(x_i) S_i^power`` (0 for invalid draws).
    Returns their ESS fraction ``(sum a)^2 / (n sum a^2)`` in [0, 1], an estimate of
    ``1 / (1 + chi^2(target || q))``: 1 on the target, which for 0/1 outcomes
    (``power = 1/2``) is the variance-optimal density, so the ratio estimates the share
    of the optimal per-draw precision that ``q`` reaches. 0 when the stage saw no
    positive score. ``q`` was fixed before these draws, so this is an honest estimate,
    unlike the same ratio for a proposal fitted to them (optimistic by 2-400x early on).
    Works on numpy and traced arrays.
    """
    a = jnp.asarray(a, dtype=float)
    a = a / jnp.maximum(jnp.max(a), 1e-300)  # scale-free: no underflow in a^2
    s1, s2 = jnp.sum(a), jnp.sum(a * a)
    return jnp.where(s2 > 0, s1 * s1 / (a.shape[0] * jnp.where(s2 > 0, s2, 1.0)), 0.0)


def stage_weights(sizes, closeness):
    """Weights ``lambda_t`` (sum 1) of the reused training stages and the fresh stage.

    Args:
      sizes: draws of the reused training stages in order, then of the fresh stage.
      closeness: for each reused training stage, :func:`proposal_closeness` of the stage
        BEFORE it (0 where there is none), so every weight is fixed before its own draws.

    Inverse-variance weights would give stage ``t`` a share ``n_t c_t`` of the precision,
    with ``c_t`` its proposal's closeness to the target. Before stage ``t`` draws, only
    its predecessor's closeness is known honestly (a lag that errs towards the later,
    better stages), and every later stage is assumed to reach the target (``c = 1``).
    Stage ``t`` therefore takes the share ``n_t c / (n_t c + N_{>t})`` of the weight the
    earlier stages left (``N_{>t}``: draws after it); the fresh stage takes the rest.
    Each ``lambda_t`` is a function of the draws before stage ``t`` and they sum to 1,
    so ``sum_t lambda_t mean(z_t)`` is unbiased (a martingale), with variance
    ``E sum_t lambda_t^2 V_t / n_t``. Against the former fixed ramp ``n_t (t/R)^2`` on the
    planted landscapes of ``benchmarks/bench_cem.py`` (methods.md): 3.14x / 15.4x / 267x
    instead of 2.85x / 15.1x / 281x with 0/1 outcomes at mu = 1e-3 / 1e-4 / 1e-5, and
    181x / 1,880x / 25,000x instead of 183x / 1,650x / 9,300x with graded ones.
    Closed form (a cumulative product), so it runs traced inside a jitted kernel.
    """
    n = jnp.asarray(sizes, dtype=float)
    c = jnp.clip(jnp.asarray(closeness, dtype=float), 0.0, 1.0)
    later = jnp.sum(n) - jnp.cumsum(n)[:-1]  # draws after each reused training stage
    keep = later / (c * n[:-1] + later)  # share of the remaining weight passed on
    left = jnp.concatenate([jnp.ones(1), jnp.cumprod(keep)])
    return jnp.concatenate([left[:-1] * (1.0 - keep), left[-1:]])


def weight_stage_terms(terms, closeness):
    """Scales each stage's terms so their plain mean is ``sum_t lambda_t mean(z_t)``.

    ``closeness`` as in :func:`stage_weights`. Stratified variances and diagnostics of the
    scaled terms are those of the weighted estimate, so the interval and reliability code
    needs no weights of its own.
    """
    sizes = [t.shape[0] for t in terms]
    lam = stage_weights(sizes, closeness)
    total = sum(sizes)
    return [z * (lam[i] * total / n_t) if n_t else z for i, (z, n_t) in enumerate(zip(terms, sizes, strict=True))]
