"""Is this importance-sampling estimate trustworthy? Default interval and the ``unreliable`` flag.

An IS estimate of a rare failure rate can be badly wrong while looking precise: when
a failure region carries much mass but was sampled once or never, the sample
variance is small exactly when the estimate is too small. :func:`assess` reads the
integrand ``z_i = F_i w_i`` of a run and returns the default asymptotic interval and
a verdict, with the reasons:

* **interval**: bootstrap-t (:func:`jaxcert.rare.bootstrap.bootstrap_t_interval`)
  when the integrand's ESS ``(sum z)^2 / sum z^2`` is below :data:`BOOTSTRAP_ESS` or
  fewer than :data:`BOOTSTRAP_HITS` terms are positive; otherwise the skew-corrected
  interval (:func:`jaxcert.rare.bootstrap.skew_corrected_interval`: the CLT interval
  with Hall's closed-form correction for the estimate's skewness, which the CLT
  ignores and which made it cover 0.89-0.91 where a region is known from about ten
  defensive draws; one pass over the terms, where the bootstrap takes ``B``). With
  0/1 outcomes (``outcomes`` given, every one 0 or 1) the bootstrap-t is widened to
  contain the Fay-Feuer gamma interval (:func:`jaxcert.rare.bootstrap.gamma_interval`):
  the bootstrap-t alone covered 0.910 at mu = 1e-5 on concentrated landscapes, the
  union 0.938 (figures in that module).
* **unreliable** when any of (rule chosen on ``benchmarks/unreliable_flag.py``, which
  scores candidate rules against the exact error of planted runs; held-out seeds check it):

  1. PSIS k-hat of the fresh (last) stage's terms above 0.7 (:mod:`jaxcert.rare.psis`;
     the tail is too heavy for any interval from the sample; one stage, because its
     draws are i.i.d. as PSIS assumes, while the pooled terms of stages with other
     proposals and weights form a mixture whose tail looked heavy in 60% of graded
     runs at 1e-5 that were 7,000x better than uniform sampling) with the tail fitted
     on at least :data:`MIN_TAIL` terms (at least 100 hits: a GPD fitted to 5-19 values is mostly
     the prior and flagged half the good 0/1 runs at mu = 1e-5). The fit sees one
     term per distinct input (:func:`distinct_terms`): on a finite input space a
     concentrated proposal draws its favoured inputs again and again (median 550
     distinct inputs in a fresh stage of 1,100 on graded concentrated cells at 1e-5),
     and those atoms made the fit on every term flag 0.33 / 0.28 of those runs
     (study / held-out seeds, coverage 0.95 / 0.95), the fit on distinct terms 0.03 /
     0.00, with no run worse than uniform sampling losing its flag;
  2. fewer than :data:`MIN_HITS` DISTINCT positive terms. Distinct values, not draws:
     a proposal that collapsed onto one failing input repeats it a thousand times
     with one weight, and a sample of one input says nothing about the rest (seen:
     ESS 1,180 and an estimate near 0 on a diffuse landscape at 1e-3);
  3. integrand ESS below :data:`MIN_ESS`;
  4. **one term dominates** although many are positive: the largest term carries more
     than :data:`MAX_SHARE` of ``sum z`` while at least :data:`SHARE_HITS` terms are
     positive. This is the signature of a failure region the proposal does not
     favour, found by a defensive (uniform) draw with weight near ``1/l``: its
     contribution rests on one or two draws (Poisson error ~100%), and its siblings
     may be unseen. With graded outcomes every term is positive and the largest
     share of a well-found run has median 0.01-0.02 (concentrated cells at
     1e-3..1e-5; above 0.05 in 3 of 32 study runs at 1e-5); a missed region hit
     once gives 0.1-0.9. With few hits (0/1 outcomes) a large share is normal
     and reasons 2-3 apply instead.
  5. **estimated no better than uniform sampling**: the run's own estimate of its
     efficiency (uniform variance ``mean(F z) - mu_hat^2`` per input over the
     estimate's variance times the inputs paid, :data:`MIN_EFFICIENCY`) is below 1.
     That is what a region the proposal does not favour costs even when hits are
     plentiful: its few defensive draws carry weight ``~1/l`` and their variance
     exceeds what the same budget spent uniformly would have. Needs the outcomes
     ``F`` (``outcomes=``); without them this reason never fires.
  Not a reason: the largest term against the mean positive term. With graded outcomes
  and ``power=1`` CE aims at ``q ~ p0 F``, under which every term equals ``mu``, so a
  term 20x the mean looks like an input failing 20x more than the proposal predicts; as
  a rule (graded, >= 100 hits, ratio > 20) it caught 9 / 11 more bad runs on the planted
  product landscapes of ``benchmarks/unreliable_flag.py``, whose ``F`` a product
  proposal can represent exactly. On a template space it cannot: good runs of
  ``jaxcert rare --space varbench:0 --evaluator synthetic --score logprob`` (coverage
  1.00, ~3,000x efficiency) had ratios 14-445, the bad runs it caught 25-80, and it
  flagged 6 of 8 of them (31-94% of good graded runs at ``power=0.5``, 64 / 64
  with ``samples:K`` outcomes). It was removed.

  Checked on the current CE engine (``benchmarks/results/unreliable_flag_cpu.md``, 64
  runs per cell, study / held-out seeds): the flag fires on 0.868 / 0.843 of the runs
  worse than uniform sampling (squared error above the uniform variance; 197 / 198 runs)
  and on 0.020 / 0.060 of the runs with efficiency >= 1 in cells whose coverage is at
  least 0.93.

  What no rule here can flag: a run whose proposal missed a region that no draw hit.
  Its draws, outcomes and verdict are bit-identical to those of the same run on the
  landscape without that region (``benchmarks/unreliable_twin.py``), where it is a
  good run (19 of the 31 intermediate runs missed with the surprise rule above).
* **hidden-mass floor** ``0.6 / n_u`` with ``n_u`` the number of draws from the
  nominal distribution (first stage and defensive components): failure mass of
  that size on inputs the proposal never favours is missed about half the time, and
  nothing in the sample can reveal it (the impossibility argument in
  :mod:`jaxcert.rare.importance`). Every interval here assumes the sampler found
  all failure regions; below the floor that assumption cannot be checked.

``reasons`` is a bit mask (:data:`REASONS` names the bits) so that the whole
assessment stays an array pytree: :func:`assess` is jitted and vmaps over runs.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxcert._numerics import as_float
from jaxcert.rare.bootstrap import (
    bootstrap_t_interval,
    clt_interval,
    gamma_interval,
    skew_corrected_interval,
    stratified_moments,
)
from jaxcert.rare.psis import KHAT_THRESHOLD, pareto_khat, tail_size

__all__ = ["Assessment", "assess", "reason_names", "distinct_hits", "distinct_terms", "REASONS", "MIN_HITS", "MIN_ESS", "MIN_TAIL",
           "MAX_SHARE", "SHARE_HITS", "MIN_EFFICIENCY", "BOOTSTRAP_ESS", "BOOTSTRAP_HITS"]

#: Fewer distinct positive terms than this: unreliable.
MIN_HITS = 8
#: k-hat counts only when its tail fit used at least this many terms.
MIN_TAIL = 20
#: Integrand ESS below this: unreliable.
MIN_ESS = 4.0
#: The largest term above this share of the sum (with >= SHARE_HITS hits): unreliable.
MAX_SHARE = 0.05
#: ... applies only with at least this many positive terms (few hits: reasons 2-3).
SHARE_HITS = 100
#: Estimated efficiency vs uniform sampling below this: unreliable (reason 5).
MIN_EFFICIENCY = 1.0
#: Bootstrap-t replaces the CLT below this integrand ESS ...
BOOTSTRAP_ESS = 50.0
#: ... or below this many positive terms.
BOOTSTRAP_HITS = 30
#: Bit -> reason (``reasons & bit``).
REASONS = {
    1: f"Pareto k-hat above {KHAT_THRESHOLD}: the integrand's tail is too heavy to trust",  # needs MIN_TAIL
    2: f"fewer than {MIN_HITS} distinct hits (terms with F > 0; repeats of one input count once)",
    4: f"integrand ESS below {MIN_ESS:g}",
    8: f"one draw carries over {MAX_SHARE:.0%} of the estimate: a failure region the proposal does not favour "
       "was hit about once, so its mass (and that of regions like it) is barely measured",
    16: "estimated less efficient than uniform sampling: failures the proposal does not favour carry much of "
        "the estimate, known only from a few heavily weighted defensive draws",
}
_INTERVALS = {"auto": 0, "clt": 1, "bootstrap-t": 2, "skew-corrected": 3}


class Assessment(NamedTuple):
    """Estimate, default asymptotic interval and reliability verdict (arrays).

    Attributes:
      estimate: ``mean(z)``; lower, upper: the asymptotic interval.
      bootstrap_t: True if the interval is bootstrap-t, False if CLT or skew-corrected
        (the one asked for; "auto" means skew-corrected).
      gamma: True if the bootstrap-t interval was widened to contain the gamma one
        ("auto" with 0/1 ``outcomes``).
      khat: PSIS k-hat of the last stratum's terms (``inf`` when too few are positive).
      ess: integrand ESS ``(sum z)^2 / sum z^2``; hits: number of ``z > 0``.
      unreliable: any reason set; reasons: bit mask, see :data:`REASONS`.
      hidden_mass_floor: ``0.6 / num_uniform``.
      efficiency: estimated uniform variance / own variance at equal cost (NaN
        without ``outcomes``; ``inf`` when the estimate's variance is 0).
    """

    estimate: jax.Array
    lower: jax.Array
    upper: jax.Array
    bootstrap_t: jax.Array
    gamma: jax.Array
    khat: jax.Array
    ess: jax.Array
    hits: jax.Array
    unreliable: jax.Array
    reasons: jax.Array
    hidden_mass_floor: jax.Array
    efficiency: jax.Array


def distinct_terms(z):
    """``z`` sorted ascending, every repeat of a positive value set to 0 (relative tolerance 1e-12).

    Equal terms come from the same input drawn again (same ``F``, same weight), so
    the positive entries left are one per failing input seen, up to ties between
    different inputs.
    """
    s = jnp.sort(as_float(z))
    new = jnp.concatenate([s[:1] > 0, s[1:] > s[:-1] * (1.0 + 1e-12)])
    return jnp.where(new & (s > 0), s, 0.0)


def distinct_hits(z):
    """Number of distinct positive values in ``z`` (see :func:`distinct_terms`)."""
    return jnp.sum(distinct_terms(z) > 0)


def reason_names(reasons) -> list[str]:
    """Human-readable list of the reasons in a bit mask."""
    r = int(reasons)
    return [text for bit, text in REASONS.items() if r & bit]


@partial(jax.jit, static_argnames=("num_strata", "interval", "num_bootstrap"))
def assess(key, z, strata, num_strata: int, alpha, *, num_uniform, side_lo=None, side_hi=None,
           interval: str = "auto", num_bootstrap: int = 2000, upper_cap=1.0, outcomes=None,
           inputs=None) -> Assessment:
    """Default asymptotic interval and reliability verdict for IS terms ``z``.

    Args:
      key: PRNG key (bootstrap resamples).
      z: float ``(N,)`` terms ``F w`` (already divided by nothing: ``mean(z)`` is the
        estimate), grouped by stage; strata: int ``(N,)`` stage of each term.
      num_strata: static number of stages.
      alpha: error level; by default two-sided (``alpha / 2`` per end). ``side_lo`` /
        ``side_hi`` override the per-end errors (0 leaves that end open).
      num_uniform: draws from the nominal distribution (for the hidden-mass floor).
      interval: "auto" | "clt" | "skew-corrected" | "bootstrap-t" (static).
      upper_cap: largest possible mean (1 for a failure rate).
      outcomes: optional float ``(N,)`` outcomes ``F`` of the terms (so ``z = F w``);
        with ``inputs`` (the inputs paid, training included) they give the
        efficiency estimate and reason 5.

    Example:
      >>> z = jnp.where(jnp.arange(1000) % 20 == 0, 0.02 + 1e-5 * jnp.arange(1000), 0.0)
      >>> a = assess(jax.random.key(0), z, jnp.zeros(1000, int), 1, 0.05, num_uniform=100)
      >>> bool(a.unreliable), int(a.hits)
      (False, 50)
    """
    z = as_float(z)
    alpha = as_float(alpha)
    a_lo = alpha / 2 if side_lo is None else as_float(side_lo)
    a_hi = alpha / 2 if side_hi is None else as_float(side_hi)
    total = jnp.sum(z)
    ess = jnp.where(total > 0, total**2 / jnp.maximum(jnp.sum(z**2), 1e-300), 0.0)
    hits = jnp.sum(z > 0)
    # k-hat on the fresh stage only: its draws are i.i.d. from one proposal, as PSIS
    # assumes; pooling stages of different weights and proposals makes a mixture whose
    # upper tail looks heavy when every stage is light-tailed. One term per distinct
    # input: repeats of the inputs a concentrated proposal favours are atoms that the
    # continuous GPD fit reads as a heavy tail (module docstring, reason 1).
    z_fresh = distinct_terms(jnp.where(strata == num_strata - 1, z, 0.0))
    khat = pareto_khat(z_fresh)
    hits_fresh = jnp.sum(z_fresh > 0)
    tail_terms = jnp.minimum(tail_size(z.shape[0]),
                             jnp.floor(jnp.minimum(hits_fresh / 5.0, 3.0 * jnp.sqrt(1.0 * hits_fresh))))
    tail_terms = jnp.where(hits_fresh > tail_size(z.shape[0]), tail_size(z.shape[0]), tail_terms)
    mode = _INTERVALS[interval]
    asym = clt_interval if mode == 1 else skew_corrected_interval
    lo_c, up_c = asym(z, strata, num_strata, a_lo, a_hi, upper_cap)
    use_boot = (ess < BOOTSTRAP_ESS) | (hits < BOOTSTRAP_HITS) if mode == 0 else jnp.asarray(mode == 2)

    def boot(_):
        return bootstrap_t_interval(key, z, strata, num_strata, a_lo, a_hi, upper_cap, num_bootstrap)

    # The bootstrap costs B passes over the terms: run it only when it is the answer
    # (under vmap the cond becomes a select and both branches run, as before).
    if mode in (1, 3):
        lo, up = lo_c, up_c
    elif mode == 2:
        lo, up = boot(None)
    else:
        lo, up = jax.lax.cond(use_boot, boot, lambda _: (lo_c, up_c), None)
    # 0/1 outcomes: the bootstrap-t only resamples the hits it has; the gamma upper end
    # allows for one more (module docstring)
    # (only "auto" and only with outcomes: a forced interval is what was asked for)
    widen = jnp.asarray(False)
    if mode == 0 and outcomes is not None:
        widen = use_boot & jnp.all((as_float(outcomes) == 0) | (as_float(outcomes) == 1))
        lo_g, up_g = gamma_interval(z, a_lo, a_hi, upper_cap)
        lo, up = jnp.where(widen, jnp.minimum(lo, lo_g), lo), jnp.where(widen, jnp.maximum(up, up_g), up)
    max_share = jnp.where(total > 0, jnp.max(z) / jnp.where(total > 0, total, 1.0), 1.0)
    if (outcomes is None) != (inputs is None):
        raise ValueError("assess: pass outcomes and inputs together (both are needed for the efficiency estimate)")
    if outcomes is None:
        efficiency = jnp.full((), jnp.nan)
    else:
        var_mean = stratified_moments(z, strata, num_strata)[1]
        var_unif = jnp.maximum(jnp.mean(as_float(outcomes) * z) - jnp.mean(z) ** 2, 0.0)
        efficiency = jnp.where(var_mean > 0, var_unif / as_float(inputs) / jnp.where(var_mean > 0, var_mean, 1.0),
                               jnp.inf)
    reasons = (
        jnp.where((khat > KHAT_THRESHOLD) & (tail_terms >= MIN_TAIL), 1, 0)
        + jnp.where(distinct_hits(z) < MIN_HITS, 2, 0)
        + jnp.where(ess < MIN_ESS, 4, 0)
        + jnp.where((max_share > MAX_SHARE) & (hits >= SHARE_HITS), 8, 0)
        + jnp.where(efficiency < MIN_EFFICIENCY, 16, 0)
    )
    return Assessment(
        estimate=jnp.mean(z),
        lower=lo,
        upper=up,
        bootstrap_t=use_boot,
        gamma=widen,
        khat=khat,
        ess=ess,
        hits=hits,
        unreliable=reasons > 0,
        reasons=reasons,
        hidden_mass_floor=0.6 / jnp.maximum(as_float(num_uniform), 1.0),
        efficiency=efficiency,
    )
