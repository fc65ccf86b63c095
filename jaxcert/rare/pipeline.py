"""Front door: estimate a rare failure rate with CEM + defensive importance sampling.

:func:`estimate` runs ``stages`` CEM training rounds. Every round draws a batch from
the defensive mixture ``q_t = l p0 + (1 - l) q_CE,t`` (a product of categoricals, or a
mixture of ``components`` products, :mod:`jaxcert.rare.mixture`), evaluates the valid
draws, and updates ``q_CE`` with the score-weighted CE step (weights ``(p0/q_t) S^power``,
:mod:`jaxcert.rare.cem`). A FRESH estimation stage of the remaining budget is then
drawn from ``l p0 + (1 - l) q_CE``. By default each CE update learns from every
training draw so far, weighted against the balance-heuristic density of the stages
(:mod:`jaxcert.rare.recycling`); that steers the proposal only, never the estimate.

Estimate (``reuse`` = number of final training stages reused). Stage ``t`` gives the
terms ``z_i = F_i 1_valid(x_i) p0(x_i) / q_t(x_i)``, each with conditional mean ``Z mu``
given the earlier stages, because ``q_t`` is fixed before its own draws. The estimate
is ``sum_t lambda_t mean(z_t)`` over the reused stages and the fresh one, with weights
``lambda_t`` set by how close the PREVIOUS stage's proposal came to the CE target,
measured on that stage's own draws (:func:`jaxcert.rare.budget.stage_weights`): each
weight is fixed before its own stage's draws, so the estimate is unbiased (the
balance heuristic over ALL stage densities is not: -1.5% to -71% measured). Interval
and ``unreliable`` verdict: :func:`jaxcert.rare.reliability.assess`.

Finite-sample certificate (:mod:`jaxcert.rare.certificate`): the fresh stage's IS
bound, intersected with exact Clopper-Pearson on the run's uniform draws
(``uniform_check=True``, the default), each at ``alpha / 2``.

Conditions: see :mod:`jaxcert.rare.space`. Invalid draws are never sent to the
model, cost nothing, and count ``F = 0``; ``mu = E_q[F 1_valid p0 / q] / Z`` with the
valid fraction ``Z`` exact (enumeration) or, for huge spaces, estimated from validity
checks with alpha split in two (Bonferroni): ``U_mu = U_num(alpha/2) / Z_lo(alpha/2)``.

``inferences`` counts EVERY model inference, training included (an input scored from K
sampled answers costs K); ``budget`` is in inferences (:mod:`jaxcert.rare.budget`).
``reduction = uniform_samples_needed(upper, alpha) / inferences`` compares the
certificate with a uniform one; it is not the efficiency of the estimate
(``efficiency_estimate``, :mod:`jaxcert.rare.result`).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import numpy as np

from jaxcert._types import Status
from jaxcert.rare import proposal as _prop
from jaxcert.rare.baseline import uniform_reduction
from jaxcert.rare.budget import (
    as_space,
    check_ce_options,
    check_common,
    check_estimate_choices,
    evaluate_valid,
    plan_estimate,
    stage_range,
    proposal_closeness,
    weight_stage_terms,
)
from jaxcert.rare.cem import CEMInfo, cem_init, cem_step
from jaxcert.rare.certificate import certify_run
from jaxcert.rare.mixture import defensive_of, init_mixture, mixture_cem_update
from jaxcert.rare.recycling import TrainingPool, default_smoothing
from jaxcert.rare.reliability import assess, reason_names
from jaxcert.rare.result import RareResult

__all__ = ["estimate"]

_mixture_sample = jax.jit(_prop.mixture_sample_components, static_argnames=("num",))
_log_weights = jax.jit(_prop.log_weights)


def estimate(
    key: jax.Array,
    space,
    evaluate: Callable[[np.ndarray], np.ndarray],
    budget: int,
    *,
    alpha: float = 0.05,
    side: str = "upper",
    bound: str = "betting",
    defensive: float = 0.1,
    rho: float = 1.0,
    power: float | str = "auto",
    smoothing: float | None = None,
    min_ess: float = 0.1,
    floor: float | None = None,
    train_fraction: float = 0.5,
    batch_size: int | None = None,
    stages: int | None = None,
    components: int = 1,
    reuse: int | None = None,
    interval: str = "auto",
    train_evaluate: Callable[[np.ndarray], np.ndarray] | None = None,
    progress: bool = False,
    callback: Callable[[int, dict], None] | None = None,
    uniform_check: bool = True,
    recycle: bool = True,
) -> RareResult:
    """Estimates ``mu = P(fail)`` under the uniform distribution on valid inputs.

    Args:
      key: PRNG key.
      space: a :class:`ProductSpace` (or a sequence of sizes).
      evaluate: ``(B, d) int64 -> (B,)`` failure scores in ``[0, 1]``: a 0/1 outcome, a
        failure probability (graded) or the fraction of K sampled answers that were
        wrong; only valid inputs are sent. ``evaluate.cost_per_input`` (default 1) is
        the number of inferences one input costs.
      budget: maximum number of model inferences, training included.
      alpha, side, bound: level, side and bound method of the finite-sample
        certificate ("betting" | "bernstein" are valid for every budget; "clt" |
        "bootstrap" are asymptotic). The asymptotic interval is two-sided at ``alpha``.
      defensive: weight ``l`` of the uniform component of every stage; weights ``<= 1/l``.
      rho, power: CE elite quantile (1 = every positive score) and score exponent of
        the training weights: the proposal aims at ``p0 S^power``. 0.5 targets ``p0
        sqrt(F)``, variance-optimal when ``evaluate`` returns 0/1 outcomes; when it
        returns the graded ``F`` itself, 1 targets the zero-variance ``p0 F`` and measured
        5-10x more efficient on the planted landscapes of ``benchmarks/bench_cem.py``
        (see :mod:`jaxcert.rare.cem`). ``"auto"`` (default): 1 once a training outcome
        strictly between 0 and 1 has been seen from an ``evaluate`` that is also the
        training signal and costs one inference per input (a failure probability), else
        0.5 (0/1 outcomes, K-sample fractions, or a separate ``train_evaluate``); the
        exponent used at each stage is in ``history[t]["power"]``.
      smoothing, floor: CE smoothing ``a`` (default 0.7 with ``recycle``, 0.5 without:
        the best of each measured in :mod:`jaxcert.rare.recycling`) and probability
        floor (default ``0.01 / K_max``).
      min_ess: the CE step tempers ``power`` while its training weights' ESS is below
        this fraction of the elite set (:func:`jaxcert.rare.cem.tempered_power`).
      train_fraction: share of the budget spent on CE training.
      batch_size, stages: draws per stage and number of stages (default up to 6).
      components: 1 = product proposal; K > 1 = mixture of K products (failures in
        several separate corners).
      reuse: final training stages reused in the estimate (default ``stages - 1``; 0 =
        the fresh stage only), weighted by how close the stage before each came to the
        CE target (:func:`jaxcert.rare.budget.stage_weights`; stage 0 gets weight 0).
      interval: "auto" (bootstrap-t when hits or ESS are few, widened to contain the
        gamma interval when every outcome is 0 or 1; else skew-corrected) |
        "skew-corrected" | "clt" | "bootstrap-t" (:mod:`jaxcert.rare.bootstrap`).
      train_evaluate: optional graded training signal with the same conditional mean
        as ``evaluate`` (e.g. ``1 - P(reference | prompt)`` from log-probabilities when
        ``evaluate`` returns 0/1 or K-sample outcomes), used in the training stages
        and charged its own ``cost_per_input``. At five nines a 0/1 outcome almost
        never fires during training; reused training terms stay unbiased.
      progress, callback: tqdm bar over stages; ``callback(stage, info_dict)``.
      uniform_check: also bound ``mu`` by exact Clopper-Pearson on the uniform draws
        and report the intersection, each at ``alpha / 2`` (module docstring).
      recycle: every CE update learns from ALL training draws so far, weighted by the
        balance heuristic (:mod:`jaxcert.rare.recycling`); False = the stage's own
        draws only. The estimate keeps each stage's own weights either way.

    Returns:
      :class:`RareResult`.

    Example:
      >>> space = ProductSpace([10] * 4)
      >>> res = estimate(jax.random.key(0), space, lambda X: (X.sum(1) == 0) * 1.0, 4000)
      >>> res.inferences <= 4000
      True
    """
    space = as_space(space)
    check_common(budget, alpha, side)
    check_estimate_choices(evaluate, bound=bound, interval=interval, recycle=recycle, power=power)
    smoothing = default_smoothing(recycle) if smoothing is None else smoothing
    auto_power = isinstance(power, str)  # "auto", checked above
    floor = check_ce_options(space, defensive=defensive, rho=rho, smoothing=smoothing,
                             power=0.5 if auto_power else power,
                             train_fraction=train_fraction, components=components, floor=floor,
                             min_ess=min_ess)
    stages, batch_size, est_inputs, reuse, cost, train_cost = plan_estimate(
        evaluate, train_evaluate, budget, train_fraction=train_fraction, stages=stages,
        batch_size=batch_size, rho=rho, reuse=reuse)
    train_eval = evaluate if train_evaluate is None else train_evaluate
    # "auto" can read the outcome type off the training draws only when they are the
    # estimation outcomes, one inference each (not K-sample fractions)
    graded_possible = auto_power and train_evaluate is None and cost == 1
    graded_seen = False

    key_z, key_train, key_est, key_boot, key_mix = jax.random.split(key, 5)
    alpha_is = alpha / 2 if uniform_check else alpha  # union bound with the uniform draws
    vf = space.valid_fraction(key_z, alpha=alpha_is / 2)
    if vf.estimate <= 0:
        raise ValueError(f"the space has no valid input ({'by enumeration' if vf.exact else f'none in {vf.num} random draws'})")
    alpha_num = alpha_is if vf.exact else alpha_is / 2

    ce = cem_init(space).proposal if components == 1 else init_mixture(key_mix, space, components)
    state = cem_init(space, ce) if components == 1 else None
    pool = TrainingPool(stages, batch_size, space.d) if recycle and stages else None
    inferences, failures_seen, history = 0, 0, []
    uniform_F, terms, strata, fvals, closeness = [], [], [], [], [0.0]
    for t, k in zip(stage_range(stages, progress), jax.random.split(key_train, max(stages, 1))):
        mix = defensive_of(ce, defensive)
        X, comp = (np.asarray(a) for a in _mixture_sample(k, mix, num=batch_size))
        F, valid = evaluate_valid(space, train_eval, X, batch_size)
        inferences += int(valid.sum()) * train_cost
        failures_seen += int(np.sum(F > 0))
        all_uniform = t == 0 and components == 1  # stage 0 of a product CE is p0 itself
        uniform_F.append(F[valid & ((comp == 0) | all_uniform)])
        log_w = np.asarray(_log_weights(mix, X))
        if t >= stages - reuse:
            terms.append(F * np.exp(log_w))
            fvals.append(F)
            strata.append(np.full(batch_size, len(terms) - 1))
        graded_seen = graded_seen or (graded_possible and bool(np.any(valid & (F > 0) & (F < 1))))
        p = (1.0 if graded_seen else 0.5) if auto_power else power
        # judges q_t on its own draws; it sets the weight of stage t + 1
        closeness.append(float(proposal_closeness(np.exp(log_w) * np.where(valid, F, 0.0) ** p)))
        log_q = _prop.log_nominal(mix.components.mask[0]) - log_w
        Xt, St, lq, mask = X, F, log_q, valid
        if pool is not None:
            pool.add(mix, X, F, valid)
            Xt, St, lq, mask = pool.arrays()
        if components == 1:
            state, info = cem_step(k, state, Xt, St, rho=rho, power=p, smoothing=smoothing, floor=floor,
                                   min_ess=min_ess, log_q=lq, mask=mask)
            ce = state.proposal
            rec_info = {f: float(np.asarray(v)) for f, v in zip(CEMInfo._fields, info)}
            # this stage's own draws (the update may have pooled earlier ones)
            rec_info.update(num_failures=float(np.sum(valid & (F >= 1))), max_score=float(np.max(F * valid)))
        else:
            ce, upd = mixture_cem_update(ce, Xt, St, lq, mask, rho, smoothing, floor, p, min_ess)
            rec_info = {"updated": float(np.asarray(upd)), "num_failures": float(np.sum(F >= 1))}
        rec = {"stage": t, "draws": int(batch_size), "inferences": int(valid.sum()) * train_cost, "power": p,
               **rec_info}
        history.append(rec)
        if callback is not None:
            callback(t, rec)

    mixture = defensive_of(ce, defensive)  # fixed number of draws; invalid ones are free
    X, comp = (np.asarray(a) for a in _mixture_sample(key_est, mixture, num=est_inputs))
    F, valid = evaluate_valid(space, evaluate, X, max(batch_size, 1024))
    inferences += int(valid.sum()) * cost
    failures_seen += int(np.sum(F > 0))
    uniform_F.append(F[valid & (comp == 0)])
    log_w = _log_weights(mixture, X)
    terms.append(F * np.exp(np.asarray(log_w)))
    fvals.append(F)
    strata.append(np.full(est_inputs, len(terms) - 1))

    # --- estimate, asymptotic interval and reliability (reused stages + fresh stage)
    z = np.concatenate(weight_stage_terms(terms, closeness[stages - reuse: stages]))
    st = np.concatenate(strata)
    n_uniform = sum(u.size for u in uniform_F)
    # efficiency at equal cost (assess): E_p0[F^2] - mu^2 per uniform input (IS: mean(F^2 w))
    # over the estimate's variance times the inputs paid, in units of the outcome's cost
    a = assess(key_boot, z, st, len(terms), alpha, num_uniform=n_uniform, interval=interval,
               outcomes=np.concatenate(fvals), inputs=inferences / cost)
    Zv = vf.estimate
    est = float(a.estimate) / Zv
    efficiency = float(a.efficiency) if np.isfinite(float(a.efficiency)) else float("nan")

    # --- finite-sample certificate (fresh stage, checked by the uniform draws)
    cert = certify_run(key_boot, F, log_w, mixture, vf, np.concatenate(uniform_F), alpha=alpha, alpha_num=alpha_num,
                       side=side, bound=bound, defensive=defensive, uniform_check=uniform_check)
    lower, upper, r = cert.lower, cert.upper, cert.fresh
    status = Status.CONVERGED if np.isfinite([est, lower, upper, float(a.lower), float(a.upper)]).all() else Status.NONFINITE
    reduction, needed = uniform_reduction(upper, alpha, inferences)
    notes = []
    if int(a.hits) == 0:
        notes.append("no failure among the estimation terms: the estimate is 0 and only the bounds are informative")
    if stages and not any(h["updated"] for h in history):
        notes.append("CEM never saw a positive score: the proposal stayed at its start")
    return RareResult(
        estimate=est,
        # widening to contain the reported estimate only adds coverage
        lower=min(lower, est),
        upper=max(upper, est) if side != "lower" else 1.0,
        alpha=float(alpha),
        side=side,
        bound=bound,
        inferences=inferences,
        budget=int(budget),
        reduction=reduction,
        uniform_needed=needed,
        ess=float(r.ess),
        max_weight=float(r.max_weight),
        failures_seen=failures_seen,
        estimation_failures=int(r.num_failures),
        num_stages=stages,
        proposal=ce,
        history=tuple(history),
        status=int(status),
        valid_fraction=vf,
        defensive=float(defensive),
        notes=tuple(notes),
        uniform_draws=cert.uniform_draws if uniform_check else int(n_uniform),
        uniform_failures=cert.uniform_failures,
        certificate=cert.source,
        ci_lower=float(a.lower) / Zv,
        ci_upper=min(1.0, float(a.upper) / Zv),
        interval=("bootstrap-t+gamma" if bool(a.gamma) else "bootstrap-t") if bool(a.bootstrap_t)
        else ("clt" if interval == "clt" else "skew-corrected"),
        unreliable=bool(a.unreliable),
        reasons=tuple(reason_names(a.reasons)),
        khat=float(a.khat),
        integrand_ess=float(a.ess),
        hits=int(a.hits),
        hidden_mass_floor=float(a.hidden_mass_floor),
        efficiency_estimate=efficiency,
        cost_per_input=cost,
        reused_stages=int(reuse),
    )
