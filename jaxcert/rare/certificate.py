"""The finite-sample certificate of a CEM run: the fresh stage's IS bound, checked by the uniform draws.

IS bound: only the fresh (estimation) stage enters it. Its draws are i.i.d. given the
trained proposal, the terms lie in ``[0, b]`` with ``b = weight_bound(q_l) <= 1/l``
computed before the estimation draws, and every bound of
:mod:`jaxcert.rare.importance` applies unchanged. With a valid fraction ``Z`` known
only from random validity checks, ``U_mu = U_num / Z_lo`` (alpha split by the caller).

Second certificate from the uniform draws (``uniform_check=True``): the first CEM
stage samples the uniform ``p0`` and every estimation draw whose mixture component is
``p0`` is a uniform draw too (the component coin is independent of the data), so these
valid draws are i.i.d. Bernoulli(``mu``) outcomes (fractional failures are randomised
to Bernoulli with the same mean) and give an exact Clopper-Pearson interval. The
reported interval is the intersection of the IS interval at ``alpha / 2`` and the
Clopper-Pearson one at ``alpha / 2`` (union bound: coverage ``>= 1 - alpha``). It
guarantees a certificate close to uniform sampling with the ``p0`` share of the budget
(first stage + ``l`` of the estimation stage) on any landscape, where the IS bound alone
can be ``1/l`` times worse; it costs the IS bound the step from ``alpha`` to
``alpha / 2`` when the IS bound wins.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from jaxcert.rare import proposal as _prop
from jaxcert.rare.baseline import bernoulli_outcomes, exact_interval
from jaxcert.rare.importance import ISEstimate, importance_estimate

__all__ = ["RunCertificate", "certify_run"]


class RunCertificate(NamedTuple):
    """``lower``/``upper`` on ``mu``; ``source``: "importance" or "uniform draws" (the tighter upper end);
    ``fresh``: the fresh stage's :class:`ISEstimate`; ``uniform_draws``/``uniform_failures``: the
    Bernoulli outcomes behind the Clopper-Pearson check (0 / 0 without it)."""

    lower: float
    upper: float
    source: str
    fresh: ISEstimate
    uniform_draws: int
    uniform_failures: int


def certify_run(key, F, log_w, mixture, valid_fraction, uniform_F, *, alpha, alpha_num, side, bound,
                defensive, uniform_check) -> RunCertificate:
    """Finite-sample interval on ``mu`` from a run's fresh stage and uniform draws (module docstring).

    Args:
      key: PRNG key (betting bound, Bernoulli randomisation of fractional outcomes).
      F, log_w: the fresh stage's outcomes (0 where invalid) and log weights ``log p0/q``.
      mixture: the defensive mixture the fresh stage was drawn from (its weight bound).
      valid_fraction: :class:`~jaxcert.rare.space.ValidFraction` of the space.
      uniform_F: outcomes of every valid uniform draw of the run.
      alpha: the run's level; alpha_num: the IS bound's level (after the splits).
      side, bound, defensive, uniform_check: as in :func:`jaxcert.rare.estimate`.
    """
    vf = valid_fraction
    b = min(float(_prop.weight_bound(mixture)), 1.0 / defensive)
    r = importance_estimate(F, log_w, weight_bound=b, alpha=alpha_num, side=side, bound=bound, key=key)
    lower = float(r.lower) / vf.upper
    upper = min(1.0, float(r.upper) / vf.lower) if vf.lower > 0 else 1.0
    source = "importance"
    u_hits = bernoulli_outcomes(jax.random.fold_in(key, 1), uniform_F) if uniform_check else np.zeros(0)
    if u_hits.size:
        lo_u, up_u = exact_interval(int(u_hits.sum()), u_hits.size, alpha / 2, side)
        if up_u < upper:
            source = "uniform draws"
        lo_i, up_i = max(lower, lo_u), min(upper, up_u)
        # an empty intersection means one of the two intervals missed: report the union
        lower, upper = (lo_i, up_i) if lo_i <= up_i else (min(lower, lo_u), max(upper, up_u))
    return RunCertificate(lower, upper, source, r, int(u_hits.size), int(u_hits.sum()))
