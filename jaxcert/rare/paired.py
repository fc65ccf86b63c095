"""Paired comparison: the rare failure rates of two models on the same inputs.

Models above 99.9% accuracy can differ several-fold in failure rate; two separate
five-nines runs would each carry their own sampling noise. :func:`compare` trains ONE
proposal on the union score ``max(S_A, S_B)`` (it must cover the failures of both),
evaluates BOTH models on every input, and estimates ``rho = mu_B / mu_A`` from the
paired terms ``z_A = F_A w`` and ``z_B = F_B w`` (same draws, same weights).

Interval (delta method, paired). With ``g_i = z_B,i / mu_B - z_A,i / mu_A``,

    log(mu_B_hat / mu_A_hat) - log(rho) ~ mean(g),   Var = stratified variance of mean(g)

(:func:`jaxcert.rare.bootstrap.stratified_moments`; stages as in
:func:`jaxcert.rare.estimate`). ``interval="delta"`` gives
``exp(log rho_hat -+ z_{1-a/2} sqrt(Var))``; the default ``"bootstrap-t"`` resamples the
pairs ``(z_A, z_B)`` within stages and replaces ``z_{1-a/2}`` by the quantiles of
``T* = (log rho* - log rho_hat) / sqrt(Var*)`` (the IS means are right-skewed, and the
delta interval covered 0.90 on the planted pairs of the tests). ``Var`` contains ``-2 Cov(z_A, z_B) /
(mu_A mu_B)``: when the two models fail on the same inputs (greedy decoding, or K
sampled answers averaged) the covariance is large and the paired interval is much
narrower than with independent inputs. ``variance_gain`` reports the estimated
``Var_independent / Var_paired`` at equal cost, where the independent design spends
the same inferences on separate inputs for each model, drawn from the same proposal.
Against what one would otherwise do, two separate :func:`jaxcert.rare.estimate` runs
at half the budget each (each proposal trained for its own model),
``benchmarks/bench_compare.py`` measured a gain of 2.6x with deterministic outcomes
(estimated 5.9x) and 0.91x with 4 sampled answers per model (estimated 1.2x): their
independent sampling noise leaves little to cancel.

Every model call is counted: an input costs ``cost_per_input(A) + cost_per_input(B)``.
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from jaxcert._numerics import normal_quantile
from jaxcert._types import Status, status_name
from jaxcert._validate import check_alpha
from jaxcert.rare import proposal as _prop
from jaxcert.rare.bootstrap import map_resamples, stratified_moments
from jaxcert.rare.budget import (as_space, cost_per_input, evaluate_valid, plan_stages, proposal_closeness,
                                 reused_stages, weight_stage_terms)
from jaxcert.rare.cem import cem_init, cem_step
from jaxcert.rare.mixture import defensive_of
from jaxcert.rare.reliability import assess, reason_names
from jaxcert.rare.result import json_ready, level_and_verdict

__all__ = ["compare", "ComparisonResult"]

_mixture_sample = jax.jit(_prop.mixture_sample_components, static_argnames=("num",))
_log_weights = jax.jit(_prop.log_weights)
_moments = jax.jit(stratified_moments, static_argnames=("num_strata",))


@partial(jax.jit, static_argnames=("num_strata", "num_bootstrap"))
def _log_ratio_t_quantiles(key, za, zb, strata, num_strata: int, alpha, num_bootstrap: int = 2000):
    """Quantiles ``(q_{a/2}, q_{1-a/2})`` of the bootstrap-t statistic of ``log(mean zb / mean za)``."""
    lr = jnp.log(jnp.mean(zb) / jnp.mean(za))

    def one(idx):
        a, b = za[idx], zb[idx]
        ma, mb = jnp.mean(a), jnp.mean(b)
        ok = (ma > 0) & (mb > 0)
        ma, mb = jnp.where(ok, ma, 1.0), jnp.where(ok, mb, 1.0)
        v = stratified_moments(b / mb - a / ma, strata, num_strata)[1]
        t = (jnp.log(mb / ma) - lr) / jnp.sqrt(jnp.where(v > 0, v, 1.0))
        return jnp.where(ok & (v > 0), t, jnp.nan)

    t = map_resamples(one, key, strata, num_strata, num_bootstrap)
    # a resample without any hit of one model has no ratio: it widens both ends
    t = jnp.sort(jnp.where(jnp.isnan(t), jnp.inf, t))
    hi = t[jnp.clip(jnp.ceil((1 - alpha / 2) * num_bootstrap).astype(jnp.int32) - 1, 0, num_bootstrap - 1)]
    lo = jnp.sort(jnp.where(jnp.isinf(t), -jnp.inf, t))[jnp.floor(alpha / 2 * num_bootstrap).astype(jnp.int32)]
    return lo, hi


@dataclasses.dataclass(frozen=True)
class ComparisonResult:
    """Result of :func:`compare` (``B`` relative to ``A``).

    Attributes:
      mu_a, mu_b: IS estimates of the two failure rates (same inputs).
      ratio, ratio_lower, ratio_upper: ``mu_B / mu_A`` and its two-sided interval.
      log_ratio, log_ratio_se: ``log(mu_B / mu_A)`` and its delta-method standard error.
      variance_gain: estimated variance of the log ratio with independent inputs per
        model over the paired one, at equal inferences.
      unreliable, reasons: the verdict of :func:`jaxcert.rare.reliability.assess` on
        either model's terms (reasons prefixed "A: " / "B: ").
      hits_a, hits_b: positive terms per model; inferences, budget; alpha; status; notes.
    """

    mu_a: float
    mu_b: float
    ratio: float
    ratio_lower: float
    ratio_upper: float
    log_ratio: float
    log_ratio_se: float
    variance_gain: float
    unreliable: bool
    reasons: tuple
    hits_a: int
    hits_b: int
    inferences: int
    budget: int
    alpha: float
    status: int
    notes: tuple

    def to_dict(self) -> dict:
        """JSON-serialisable dict."""
        return json_ready(self, dataclasses.asdict(self))

    def __str__(self) -> str:
        lvl, verdict = level_and_verdict(self)
        lines = [
            f"failure-rate ratio B/A {self.ratio:.4g}, {lvl} interval [{self.ratio_lower:.4g}, {self.ratio_upper:.4g}]",
            f"  mu_A {self.mu_a:.4g} ({self.hits_a} hits), mu_B {self.mu_b:.4g} ({self.hits_b} hits), same inputs",
            f"  paired design: estimated variance gain {self.variance_gain:.3g}x over independent inputs",
            f"  reliability: {verdict}",
            f"  inferences {self.inferences} of budget {self.budget} (both models, training included), "
            f"status {status_name(self.status)}",
        ]
        return "\n".join(lines + [f"  note: {n}" for n in self.notes])


def compare(key, space, evaluate_a, evaluate_b, budget: int, *, alpha: float = 0.05, defensive: float = 0.1,
            power: float = 0.5, smoothing: float = 0.5, floor: float | None = None, train_fraction: float = 0.5,
            stages: int | None = None, batch_size: int | None = None, reuse: int | None = None,
            train_evaluate_a=None, train_evaluate_b=None, interval: str = "bootstrap-t") -> ComparisonResult:
    """Estimates ``mu_B / mu_A`` with both models evaluated on the same inputs.

    Args:
      key: PRNG key.
      space: a :class:`jaxcert.rare.ProductSpace` (or sizes).
      evaluate_a, evaluate_b: evaluators ``(B, d) -> (B,)`` scores in ``[0, 1]`` (see
        :func:`jaxcert.rare.estimate`), each with an optional ``cost_per_input``.
      budget: total inferences of both models, training included.
      alpha: two-sided level of the ratio interval. Other arguments as
        :func:`jaxcert.rare.estimate` (CE on the union score ``max(S_A, S_B)``, each
        update from its own stage's draws: no recycling, the setting its coverage was
        measured with, hence smoothing 0.5).
      interval: "bootstrap-t" (default) or "delta" (module docstring).
      train_evaluate_a, train_evaluate_b: optional graded training signals (e.g. the
        failure probability from prompt log-probabilities) used instead of the
        evaluators in the training stages, each charged its own ``cost_per_input``.
        At five nines a 0/1 or K-sample outcome almost never fires during training;
        a graded signal with the same conditional mean ``F(x)`` lets CE learn, and the
        reused training terms stay unbiased (both outcomes have mean ``F(x)``).

    Returns:
      :class:`ComparisonResult`.

    Example:
      >>> space = ProductSpace([10] * 4)
      >>> fa = lambda X: (X.sum(1) < 2) * 1.0
      >>> fb = lambda X: (X.sum(1) < 3) * 1.0
      >>> r = compare(jax.random.key(0), space, fa, fb, 4000)
    """
    space = as_space(space)
    check_alpha(alpha)
    if interval not in ("bootstrap-t", "delta"):
        raise ValueError(f"interval must be 'bootstrap-t' or 'delta'; got {interval!r}")
    for name, f in (("evaluate_a", evaluate_a), ("evaluate_b", evaluate_b)):
        if not callable(f):
            raise ValueError(f"{name} must be callable (X -> failures); got {f!r}")
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 2:
        raise ValueError(f"budget must be an int >= 2 (model inferences); got {budget!r}")
    if not (np.isfinite(defensive) and 0 < defensive <= 1):
        raise ValueError(f"defensive must be in (0, 1]; got {defensive!r}")
    if not (0 <= train_fraction < 1):
        raise ValueError(f"train_fraction must be in [0, 1); got {train_fraction!r}")
    floor = 0.01 / space.max_size if floor is None else floor
    if (train_evaluate_a is None) != (train_evaluate_b is None):
        raise ValueError("give both train_evaluate_a and train_evaluate_b, or neither")
    train_a = evaluate_a if train_evaluate_a is None else train_evaluate_a
    train_b = evaluate_b if train_evaluate_b is None else train_evaluate_b
    cost = cost_per_input(evaluate_a) + cost_per_input(evaluate_b)
    train_cost = cost_per_input(train_a) + cost_per_input(train_b)
    # plan in estimation-cost inputs, then shrink the training share by its own cost
    stages, batch_size = plan_stages(budget // cost, train_fraction, stages, batch_size, 1.0, budget, cost)
    n_inputs = stages * batch_size + (budget - stages * batch_size * train_cost) // cost
    if n_inputs - stages * batch_size < 2:
        raise ValueError(f"budget={budget} leaves fewer than 2 estimation inputs after training")
    reuse = reused_stages(reuse, stages)
    vf = space.valid_fraction(jax.random.fold_in(key, 7), alpha=alpha / 4)
    if vf.estimate <= 0:
        raise ValueError("the space has no valid input")

    def both(X, chunk, training):
        Fa, valid = evaluate_valid(space, train_a if training else evaluate_a, X, chunk)
        Fb, _ = evaluate_valid(space, train_b if training else evaluate_b, X, chunk)
        return Fa, Fb, valid

    key_train, key_est, key_boot = jax.random.split(key, 3)
    state = cem_init(space)
    terms_a, terms_b, strata, inferences, n_uniform, closeness = [], [], [], 0, 0, [0.0]
    outs_a, outs_b = [], []
    sizes = [batch_size] * stages + [n_inputs - stages * batch_size]
    for t, k in enumerate(jax.random.split(key_train, stages + 1)):
        mix = defensive_of(state.proposal, defensive)
        X, comp = (np.asarray(a) for a in _mixture_sample(k, mix, num=sizes[t]))
        Fa, Fb, valid = both(X, max(sizes[t], 1), t < stages)
        inferences += int(valid.sum()) * (train_cost if t < stages else cost)
        n_uniform += int(np.sum(valid & ((comp == 0) | (t == 0))))
        log_w = np.asarray(_log_weights(mix, X))
        if t >= stages - reuse:
            w = np.exp(log_w)
            terms_a.append(Fa * w)
            terms_b.append(Fb * w)
            outs_a.append(Fa)
            outs_b.append(Fb)
            strata.append(np.full(sizes[t], len(strata)))
        if t < stages:
            # q_t judged on its own draws against the union target: sets stage t + 1's weight
            closeness.append(float(proposal_closeness(np.exp(log_w) * np.where(valid, np.maximum(Fa, Fb), 0.0) ** power)))
            log_q = _prop.log_nominal(mix.components.mask[0]) - log_w
            state, _ = cem_step(k, state, X, np.maximum(Fa, Fb), rho=1.0, power=power, smoothing=smoothing,
                                floor=floor, log_q=log_q, mask=valid)
    # the same weights for both models, so the design stays paired
    za, zb = (np.concatenate(weight_stage_terms(t, closeness[stages - reuse: stages])) for t in (terms_a, terms_b))
    st = np.concatenate(strata)
    S = len(strata)
    ka, kb = jax.random.split(key_boot)
    # with the outcomes, reason 5 applies: efficiency against uniform inputs scored by
    # both models at the same cost
    paired_inputs = inferences / cost
    assess_a, assess_b = (assess(k, z, st, S, alpha, num_uniform=n_uniform, outcomes=np.concatenate(f),
                                 inputs=paired_inputs) for k, z, f in ((ka, za, outs_a), (kb, zb, outs_b)))
    mu_a, mu_b = float(np.mean(za)), float(np.mean(zb))
    notes = []
    if mu_a > 0 and mu_b > 0:
        g = zb / mu_b - za / mu_a
        var_log = float(_moments(g, st, num_strata=S)[1])
        # independent design at equal cost: N inputs for A and N others for B
        var_indep = float(_moments(za / mu_a, st, num_strata=S)[1]) + float(_moments(zb / mu_b, st, num_strata=S)[1])
        log_ratio, se = math.log(mu_b / mu_a), math.sqrt(var_log)
        zq = float(normal_quantile(1 - alpha / 2))
        q_lo, q_hi = -zq, zq
        if interval == "bootstrap-t":
            q_lo, q_hi = (float(q) for q in _log_ratio_t_quantiles(jax.random.fold_in(key_boot, 3), za, zb, st, S, alpha))
        lo = math.exp(log_ratio - q_hi * se) if math.isfinite(q_hi) else 0.0
        up = math.exp(log_ratio - q_lo * se) if math.isfinite(q_lo) else math.inf
        gain = var_indep / var_log if var_log > 0 else math.inf
        status = Status.CONVERGED
    else:
        which = " and ".join(n for n, m in (("A", mu_a), ("B", mu_b)) if m <= 0)
        notes.append(f"model {which} had no failure on the sampled inputs: the ratio is undefined (interval [0, inf])")
        log_ratio, se, lo, up, gain = math.nan, math.inf, 0.0, math.inf, math.nan
        status = Status.NONFINITE
    reasons = tuple(f"A: {r}" for r in reason_names(assess_a.reasons)) + tuple(
        f"B: {r}" for r in reason_names(assess_b.reasons))
    Zv = vf.estimate
    return ComparisonResult(
        mu_a=mu_a / Zv, mu_b=mu_b / Zv, ratio=math.exp(log_ratio) if math.isfinite(log_ratio) else math.nan,
        ratio_lower=lo, ratio_upper=up, log_ratio=log_ratio, log_ratio_se=se, variance_gain=gain,
        unreliable=bool(reasons) or status != Status.CONVERGED, reasons=reasons,
        hits_a=int(np.sum(za > 0)), hits_b=int(np.sum(zb > 0)), inferences=inferences, budget=int(budget),
        alpha=float(alpha), status=int(status), notes=tuple(notes),
    )
