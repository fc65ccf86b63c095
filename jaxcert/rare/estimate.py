"""Front door: certify a rare failure rate with CEM + defensive importance sampling.

:func:`estimate` runs ``stages`` CEM training rounds (each draws a batch from the
current product proposal, evaluates the valid draws, and updates the proposal with
:func:`jaxcert.rare.cem.cem_step`), then a FRESH estimation stage of the remaining
budget drawn from the defensive mixture ``q_l = l p0 + (1 - l) q_CE``. Only the fresh
stage enters the estimate: its draws are i.i.d. given the trained proposal, so the IS
terms ``Z_i = F_i 1_valid(x_i) p0(x_i) / q_l(x_i) in [0, b]`` are i.i.d. with mean
``Z mu`` and every bound of :mod:`jaxcert.rare.importance` applies unchanged. The
range ``b = weight_bound(q_l) <= 1/l`` is computed exactly from the trained proposal
before the estimation draws (so it is not data-snooped): ``b = 1`` if CEM learned
nothing, and the certificate is then as tight as uniform sampling's.
Training draws are not reused (no adaptive-MIS reuse in this version).

Conditions: see :mod:`jaxcert.rare.space`. Invalid draws are never sent to the
model, cost nothing, and count ``F = 0``; ``mu = E_q[F 1_valid p0 / q] / Z`` with the
valid fraction ``Z`` exact (enumeration) or, for huge spaces, estimated from validity
checks with alpha split in two (Bonferroni): ``U_mu = U_num(alpha/2) / Z_lo(alpha/2)``.

Second certificate from the uniform draws (``uniform_check=True``, the default): the
first CEM stage samples the uniform ``p0`` and every estimation draw whose mixture
component is ``p0`` is a uniform draw too (the component coin is independent of the
data), so these valid draws are i.i.d. Bernoulli(``mu``) outcomes (fractional
failures are randomised to Bernoulli with the same mean) and give an exact
Clopper-Pearson interval. The reported interval is the intersection of the IS interval
at ``alpha / 2`` and the Clopper-Pearson one at ``alpha / 2`` (union bound: coverage
``>= 1 - alpha``). It guarantees a certificate close to uniform sampling with the
``p0`` share of the budget (first stage + ``l`` of the estimation stage) on any
landscape, where the IS bound alone can be ``1/l`` times worse; it costs the IS bound
the step from ``alpha`` to ``alpha / 2`` when the IS bound wins.

``inferences`` counts EVERY model evaluation, training included, and
``reduction = uniform_samples_needed(upper, alpha) / inferences``.
"""

from __future__ import annotations

import math
import dataclasses
from typing import Callable

import jax
import numpy as np

from jaxcert._types import Status, status_name
from jaxcert._validate import check_alpha, check_side
from jaxcert.rare import proposal as _prop
from jaxcert.rare.cem import CEMInfo, cem_init, cem_step
from jaxcert.rare.importance import BOUNDS, importance_estimate
from jaxcert.rare.space import ProductSpace, ValidFraction

__all__ = ["estimate", "uniform_estimate", "RareResult"]

_sample = jax.jit(_prop.sample, static_argnames=("num",))
_mixture_sample = jax.jit(_prop.mixture_sample_components, static_argnames=("num",))
_log_weights = jax.jit(_prop.log_weights)


@dataclasses.dataclass(frozen=True)
class RareResult:
    """Result of :func:`estimate` / :func:`uniform_estimate`.

    Attributes:
      estimate, lower, upper: point estimate of ``mu`` and the interval (``side``).
      alpha, side, bound: the level, side convention and bound method used.
      inferences: model evaluations actually paid (training + estimation).
      budget: the budget given.
      reduction: ``uniform_needed / inferences``; uniform_needed: uniform samples an
        exact Clopper-Pearson certificate needs to reach ``upper`` at the same level.
      ess: Kish effective sample size of the estimation weights; max_weight: largest
        weight (``<= 1/defensive``).
      failures_seen: evaluations with ``F > 0`` (all stages); estimation_failures: in
        the estimation stage only.
      num_stages: CEM training stages; proposal: the final CE proposal; history: one
        dict of :class:`CEMInfo` fields per stage.
      status: a :class:`jaxcert.Status` code; valid_fraction: :class:`ValidFraction`;
      defensive: the mixture weight ``l``; notes: human-readable warnings.
      uniform_draws, uniform_failures: valid draws from ``p0`` (first CEM stage and
        the defensive component) and their Bernoulli failures; certificate: which
        interval set the reported upper end: ``"importance"``, ``"uniform draws"``
        (``uniform_check``), or ``"clopper-pearson"`` for :func:`uniform_estimate`.
    """

    estimate: float
    lower: float
    upper: float
    alpha: float
    side: str
    bound: str
    inferences: int
    budget: int
    reduction: float
    uniform_needed: float
    ess: float
    max_weight: float
    failures_seen: int
    estimation_failures: int
    num_stages: int
    proposal: _prop.Proposal
    history: tuple
    status: int
    valid_fraction: ValidFraction
    defensive: float
    notes: tuple
    uniform_draws: int = 0
    uniform_failures: int = 0
    certificate: str = "importance"

    def to_dict(self) -> dict:
        """JSON-serialisable dict (the proposal as ragged per-variable lists)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        probs, mask = np.asarray(self.proposal.probs), np.asarray(self.proposal.mask)
        d["proposal"] = [p[m].tolist() for p, m in zip(probs, mask)]
        d["history"] = [dict(h) for h in self.history]
        d["valid_fraction"] = self.valid_fraction._asdict()
        d["status"] = status_name(self.status)
        d["notes"] = list(self.notes)
        return d

    def __str__(self) -> str:
        lvl = f"{100 * (1 - self.alpha):g}%"
        lines = [
            f"rare-failure estimate ({self.bound}, {self.side}, {lvl}): {self.estimate:.4g}  [{self.lower:.4g}, {self.upper:.4g}]",
            f"  inferences {self.inferences} of budget {self.budget} ({self.num_stages} CEM stages + estimation)",
            f"  failures seen {self.failures_seen} ({self.estimation_failures} in estimation), ESS {self.ess:.1f}, max weight {self.max_weight:.3g}",
            f"  uniform sampling would need {self.uniform_needed:.4g} inferences for this bound: reduction {self.reduction:.3g}x",
            f"  valid fraction {self.valid_fraction.estimate:.4g} ({'exact' if self.valid_fraction.exact else 'Monte Carlo'}), status {status_name(self.status)}",
        ]
        if self.uniform_draws:
            lines.append(f"  uniform draws {self.uniform_draws} ({self.uniform_failures} failures); upper end set by: {self.certificate}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


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
    try:
        from jaxcert.intervals.binomial import uniform_samples_needed
    except ImportError:  # written by another engineer; report NaN until it lands
        return math.nan, math.nan
    if upper >= 1:  # the trivial bound: uniform sampling needs no sample to claim mu <= 1
        return 0.0, 0.0
    if not upper > 0:
        return math.nan, math.nan
    needed = float(np.asarray(uniform_samples_needed(upper, alpha)))
    return needed / max(inferences, 1), needed


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
    rho: float = 0.1,
    smoothing: float = 0.7,
    floor: float | None = None,
    train_fraction: float = 0.5,
    batch_size: int | None = None,
    stages: int | None = None,
    progress: bool = False,
    callback: Callable[[int, dict], None] | None = None,
    uniform_check: bool = True,
) -> RareResult:
    """Estimates ``mu = P(fail)`` under the uniform distribution on valid inputs.

    Args:
      key: PRNG key.
      space: a :class:`ProductSpace` (or a sequence of sizes).
      evaluate: ``(B, d) int64 -> (B,)`` failures in ``[0, 1]`` (0/1 or the fraction of
        sampled answers that were wrong); only valid inputs are sent.
      budget: maximum number of model evaluations, training included.
      alpha, side: level and side convention ("upper" = certificate ``mu <= U``).
      bound: "betting" (default) | "bernstein" (finite-sample, valid for every
        budget) | "clt" | "bootstrap" (asymptotic: they under-cover when the failure
        region was not found; see :mod:`jaxcert.rare.importance` for why only these
        show large reductions).
      defensive: weight ``l`` of the uniform component; weights are ``<= 1/l``.
      rho, smoothing, floor: CEM elite quantile, smoothing ``a``, probability floor
        (default ``0.01 / K_max``).
      train_fraction: share of the budget spent on CEM training (0 = pure
        defensive/uniform sampling).
      batch_size: draws per CEM stage (default ``budget * train_fraction / stages``).
      stages: number of CEM stages (default 5, fewer if the budget is small).
      progress: show a tqdm bar over stages; callback: ``callback(stage, info_dict)``
        after each training stage.
      uniform_check: also bound ``mu`` by exact Clopper-Pearson on the uniform draws
        and report the intersection, each at ``alpha / 2`` (module docstring).

    Returns:
      :class:`RareResult`.

    Example:
      >>> space = ProductSpace([10] * 4)
      >>> res = estimate(jax.random.key(0), space, lambda X: (X.sum(1) == 0) * 1.0, 4000)
      >>> res.inferences <= 4000
      True
    """
    space = _as_space(space)
    _check_common(space, budget, alpha, side)
    if bound not in BOUNDS:
        raise ValueError(f"bound must be one of {BOUNDS}; got {bound!r}")
    if not callable(evaluate):
        raise ValueError(f"evaluate must be callable (X -> failures); got {evaluate!r}")
    for name, v, lo_open in (("defensive", defensive, True), ("rho", rho, True), ("smoothing", smoothing, True)):
        if not (np.isfinite(v) and 0 < v <= 1):
            raise ValueError(f"{name} must be in (0, 1]; got {v!r}")
    if not (0 <= train_fraction < 1):
        raise ValueError(f"train_fraction must be in [0, 1); got {train_fraction!r}")
    floor = 0.01 / space.max_size if floor is None else floor
    if not (np.isfinite(floor) and 0 < floor < 1.0 / space.max_size):
        raise ValueError(f"floor must be in (0, 1/K_max) = (0, {1.0 / space.max_size}); got {floor!r}")

    n_train = int(train_fraction * budget)
    min_batch = max(2, math.ceil(1.0 / rho))
    if n_train > 0:
        if stages is None and batch_size is None:
            stages = max(1, min(5, n_train // min_batch))
        if batch_size is None:
            batch_size = n_train // stages
        if stages is None:
            stages = max(1, n_train // batch_size)
        if batch_size < min_batch or stages < 1:
            raise ValueError(
                f"budget={budget} with train_fraction={train_fraction} is below one CEM round: a stage needs "
                f">= {min_batch} draws (ceil(1/rho)), got batch_size={batch_size}, stages={stages}"
            )
        if stages * batch_size > budget - 2:
            raise ValueError(f"stages*batch_size = {stages * batch_size} leaves fewer than 2 of budget={budget} for estimation")
    else:
        stages, batch_size = 0, 0

    key_z, key_train, key_est, key_boot = jax.random.split(key, 4)
    alpha_is = alpha / 2 if uniform_check else alpha  # union bound with the uniform draws
    vf = space.valid_fraction(key_z, alpha=alpha_is / 2)
    if vf.estimate <= 0:
        raise ValueError(f"the space has no valid input ({'by enumeration' if vf.exact else f'none in {vf.num} random draws'})")
    alpha_num = alpha_is if vf.exact else alpha_is / 2
    uniform_F = []  # failures of the valid draws from p0 (stage 0 and defensive component)

    state = cem_init(space)
    inferences, failures_seen, history = 0, 0, []
    it = range(stages)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="CEM stages")
    for t, k in zip(it, jax.random.split(key_train, max(stages, 1))):
        X = np.asarray(_sample(k, state.proposal, num=batch_size))
        F, valid = _evaluate_batch(space, evaluate, X, batch_size)
        inferences += int(valid.sum())
        failures_seen += int(np.sum(F > 0))
        if t == 0 and _is_uniform(state.proposal):
            uniform_F.append(F[valid])
        state, info = cem_step(k, state, X, F, rho=rho, smoothing=smoothing, floor=floor, mask=valid)
        rec = {"stage": t, "draws": int(batch_size), "inferences": int(valid.sum())}
        rec.update({f: float(np.asarray(v)) for f, v in zip(CEMInfo._fields, info)})
        history.append(rec)
        if callback is not None:
            callback(t, rec)

    n_est = budget - stages * batch_size  # fixed shape; invalid draws are free, so inferences <= budget
    mixture = _prop.defensive_mixture(state.proposal, defensive)
    X, comp = _mixture_sample(key_est, mixture, num=n_est)
    X, comp = np.asarray(X), np.asarray(comp)
    F, valid = _evaluate_batch(space, evaluate, X, max(batch_size, 1024))
    inferences += int(valid.sum())
    failures_seen += int(np.sum(F > 0))
    uniform_F.append(F[valid & (comp == 0)])
    log_w = _log_weights(mixture, X)
    b = min(float(_prop.weight_bound(mixture)), 1.0 / defensive)
    r = importance_estimate(F, log_w, weight_bound=b, alpha=alpha_num, side=side, bound=bound, key=key_boot)
    est = float(r.estimate) / vf.estimate
    lower = float(r.lower) / vf.upper
    upper = min(1.0, float(r.upper) / vf.lower) if vf.lower > 0 else 1.0
    certificate = "importance"
    u_hits = (_bernoulli(jax.random.fold_in(key_boot, 1), np.concatenate(uniform_F))
              if uniform_check else np.zeros(0))
    if u_hits.size:
        lo_u, up_u = _clopper_pearson(int(u_hits.sum()), u_hits.size, alpha / 2, side)
        if up_u < upper:
            certificate = "uniform draws"
        lo_i, up_i = max(lower, lo_u), min(upper, up_u)
        # an empty intersection means one of the two intervals missed: report the union
        lower, upper = (lo_i, up_i) if lo_i <= up_i else (min(lower, lo_u), max(upper, up_u))
    status = Status.CONVERGED if np.isfinite([est, lower, upper]).all() else Status.NONFINITE
    reduction, needed = _reduction(upper, alpha, inferences)
    notes = []
    if int(r.num_failures) == 0:
        notes.append("no failure in the estimation stage: the estimate is 0 and the bound rests on the weight bound 1/l")
    elif int(r.num_failures) < 10 and bound in ("clt", "bootstrap"):
        notes.append(f"only {int(r.num_failures)} failures in the estimation stage: {bound} intervals are unreliable")
    if stages and not any(h["updated"] for h in history):
        notes.append("CEM never saw a positive score: the proposal stayed uniform")
    return RareResult(
        estimate=est,
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
        proposal=state.proposal,
        history=tuple(history),
        status=int(status),
        valid_fraction=vf,
        defensive=float(defensive),
        notes=tuple(notes),
        uniform_draws=int(u_hits.size),
        uniform_failures=int(u_hits.sum()),
        certificate=certificate,
    )


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
    est = k_fail / budget
    reduction, needed = _reduction(up, alpha, budget)
    return RareResult(
        estimate=est, lower=lo, upper=up, alpha=float(alpha), side=side, bound="clopper-pearson",
        inferences=int(budget), budget=int(budget), reduction=reduction, uniform_needed=needed,
        ess=float(budget), max_weight=1.0, failures_seen=int(np.sum(F > 0)), estimation_failures=int(np.sum(F > 0)),
        num_stages=0, proposal=_prop.uniform_proposal(space), history=(), status=int(Status.CONVERGED),
        valid_fraction=vf, defensive=1.0, notes=(), uniform_draws=int(budget),
        uniform_failures=k_fail, certificate="clopper-pearson",
    )
