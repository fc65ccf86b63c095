"""Calibrated CMLE bound: the profile likelihood bound, made exact where it is discrete.

The profile-likelihood bound (:func:`~jaxcert.judge.cmle_intervals.profile_interval`)
calibrates ``2 [l_hat - l_p(theta)]`` with a chi-square quantile. That is accurate
when the information about ``theta`` is plentiful and nearly Gaussian, and wrong
when it comes from a handful of labelled failures: with ``k`` failures among ``n``
human labels and nothing else, the signed-root bound at ``k = 0`` is
``z^2 / (2 n) = 1.35 / n`` where the exact (Clopper-Pearson) bound is
``-log(alpha) / n = 3.0 / n``; at ``n theta ~ 2`` the profile bound covers 0.86
(``benchmarks/results/reproduce_cmle``).

Method (likelihood-matched effective binomial). Let ``U0`` be the profile bound
(critical value ``c = z_{1-a}^2``) and ``theta_hat`` the CMLE. The binomial with
``k`` successes out of ``m`` has LR statistic ``2 m KL(k/m || u)`` at ``u``
(``KL``: Bernoulli Kullback-Leibler divergence). The binomial that has the same
MLE and the same LR bound as the data is therefore

    m_eff = c / (2 KL(theta_hat || U0)),      k_eff = theta_hat m_eff,

and the calibrated bound is its exact Clopper-Pearson bound (a Beta quantile, which
accepts fractional counts):

    U = Beta^{-1}(1 - a; k_eff + 1, m_eff - k_eff),     L = Beta^{-1}(a; k_eff, m_eff - k_eff + 1)

never narrower than the profile bound (``U >= U0``, ``L <= L0``). ``a`` is the tail
mass of each end (``alpha/2`` two-sided, ``alpha`` one-sided). This is the effective
sample size construction of Korn and Graubard (1998), with the effective size read
from the likelihood ratio at the bound instead of from a variance, so it works at
``theta_hat = 0`` (where a variance is 0). Properties:

* Human labels only (``N = 0``, box ``[0, 1]``): the profile likelihood of ``theta``
  is the binomial one, ``m_eff = n``, ``k_eff = k``, and ``U`` is exactly
  Clopper-Pearson: coverage ``>= 1 - alpha`` for every ``theta``.
* Plentiful information (``m_eff theta`` large): ``U - U0 -> 0`` (both normal).
* ``k_eff = 0``: ``U = 1 - (1 - U0)^(-2 log(a) / c)`` (2.2 ``U0`` at ``a = 0.05``).
* Flat ridge (the data leave ``theta`` free on a segment ``[t_lo, t_hi]`` of
  maximisers, e.g. no labelled item the judge flagged): the profile is flat there,
  and the upper end is matched from ``t_hi``, the lower from ``t_lo`` (the ridge end
  the LR statistic rises from), not from the solver's point estimate.
* Not exact: where information is plentiful and a box bound is active, ``U`` inherits
  the profile bound's small chi-square error. Measured with 20,000 replicates, the
  lowest cells of the reproduction grid cover 0.942-0.946 at nominal 0.95
  (``benchmarks/results/reproduce_cmle/README.md``).

Cost: one CMLE fit, one profile root (:func:`~jaxcert.judge.cmle_intervals.lr_bound`)
and one Beta quantile (6-12 Newton steps) per end: about the cost of the profile
bound, deterministic (no PRNG key, no simulation), pure, jit/vmap-able; ``alpha``
is traced. A parametric bootstrap of the critical value would cost 200-1000 fits per
bound and was rejected for sweeps of millions of bounds.

References:
  Korn, E. L. and Graubard, B. I. (1998). Confidence intervals for proportions with
  small expected number of positive counts estimated from survey data. Survey
  Methodology 24(2), 193-201.
  Clopper, C. J. and Pearson, E. S. (1934). Biometrika 26(4), 404-413.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxcert._numerics import as_float, bernoulli_kl, normal_quantile
from jaxcert._types import Interval, Status
from jaxcert._validate import check_box_shapes, tail_alphas
from jaxcert.counts import Counts
from jaxcert.intervals._betaincinv import _logit_quantile
from jaxcert.judge import solver as _s
from jaxcert.judge._ridge import theta_range
from jaxcert.judge.cmle_intervals import lr_bound

__all__ = ["calibrated_bound", "calibrated_interval", "effective_binomial", "check_box_shapes"]

#: Largest effective sample size used (beyond it the profile bound is kept).
_M_MAX = 1e12


def effective_binomial(theta_hat, bound, crit):
    """``(m_eff, k_eff)``: the binomial whose MLE and LR bound match the data's.

    ``m_eff = crit / (2 KL(theta_hat || bound))``, ``k_eff = theta_hat m_eff``;
    ``m_eff = inf`` where the bound is at ``theta_hat`` or at 0/1 (nothing to match).
    """
    t, b = as_float(theta_hat), as_float(bound)
    inner = (b > 0.0) & (b < 1.0) & (b != t)
    d = bernoulli_kl(t, jnp.where(inner, b, 0.5))
    m = jnp.where(inner & (d > 0), as_float(crit) / (2.0 * jnp.where(d > 0, d, 1.0)), jnp.inf)
    return m, t * m


def _exact_end(theta_hat, end0, crit, a_tail, upper: bool):
    """Clopper-Pearson end of the effective binomial, never inside ``end0``."""
    m, k = effective_binomial(theta_hat, end0, crit)
    use = jnp.isfinite(m) & (m < _M_MAX)
    m, k = jnp.where(use, m, 1.0), jnp.where(use, k, 0.0)
    if upper:
        t = _logit_quantile(k + 1.0, jnp.maximum(m - k, 1e-12), 1.0 - a_tail, a_tail)
        end = jnp.maximum(jax.nn.sigmoid(t), end0)
    else:
        t = _logit_quantile(jnp.maximum(k, 1e-12), m - k + 1.0, a_tail, 1.0 - a_tail)
        end = jnp.where(k <= 0, 0.0, jnp.minimum(jax.nn.sigmoid(t), end0))
    ok = jnp.isfinite(end)
    return jnp.where(use & ok, end, end0), ok | ~use


def calibrated_bound(counts: Counts, tpr_bounds, fpr_bounds, alpha, side: str) -> Interval:
    """Calibrated CMLE interval of ONE trusted problem (kernel: no validation).

    The default certificate bound of :func:`jaxcert.certify`, the CLI and the sweep
    registry (``cmle`` estimator). See the module docstring for the method.

    Args:
      counts: :class:`~jaxcert.Counts` of float scalars (trusted: validated upstream).
      tpr_bounds, fpr_bounds: ``(2,)`` boxes ``[lo, hi]``.
      alpha: scalar miscoverage in (0, 1), traced.
      side: ``"two-sided" | "upper" | "lower"`` (static).

    Returns:
      :class:`~jaxcert.Interval` of scalars: the CMLE, the calibrated ends and a
      status (the fit's; ``MAX_STEPS`` if a profile end did not converge,
      ``NONFINITE`` if a Beta quantile failed; NaN ends for NONFINITE/INFEASIBLE data).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxcert import Counts
      >>> iv = calibrated_bound(Counts.create(0., 0., 3., 197.), jnp.array([0., 1.]),
      ...                       jnp.array([0., 1.]), 0.05, "upper")
      >>> round(float(iv.upper), 5)   # Clopper-Pearson: 1 - 0.05 ** (1 / 200)
      0.01487
    """
    c = jnp.stack([as_float(v) for v in counts])
    sb, fb, alpha = as_float(tpr_bounds), as_float(fpr_bounds), as_float(alpha)
    check_box_shapes(sb, fb, ())
    if c.shape != (6,) or alpha.shape != ():
        raise ValueError(f"calibrated_bound takes ONE problem: scalar counts and alpha; got "
                         f"counts {c.shape[1:]} and alpha {alpha.shape} (vmap it for many)")
    x, nll, status = _s.mle_kernel(c, sb, fb)
    theta = x[0]
    # On a flat ridge (module docstring) each end is matched from the ridge end nearest
    # it, so the bound does not depend on which maximiser the solver returns.
    t_ends = theta_range(c, x, jnp.stack([0.0, sb[0], fb[0]]), jnp.stack([1.0, sb[1], fb[1]]))
    a_lo, a_hi = tail_alphas(alpha, side)
    cn = Counts(*c)
    ends, worst = [], status
    for is_upper, a_tail in ((False, a_lo), (True, a_hi)):
        if (side == "upper" and not is_upper) or (side == "lower" and is_upper):
            ends.append(jnp.full((), 1.0 if is_upper else 0.0))
            continue
        crit = normal_quantile(1.0 - a_tail) ** 2
        end0, st = lr_bound(cn, sb, fb, crit, is_upper, (x, nll, status))
        end, ok = _exact_end(t_ends[int(is_upper)], end0, crit, a_tail, is_upper)
        ends.append(end)
        worse = (worst == Status.CONVERGED) & (st == Status.MAX_STEPS)
        worst = jnp.where(worse, Status.MAX_STEPS, worst)
        worst = jnp.where((worst == Status.CONVERGED) & ~ok, Status.NONFINITE, worst)
    bad = (status == Status.NONFINITE) | (status == Status.INFEASIBLE)
    lower, upper = (jnp.where(bad, jnp.nan, e) for e in ends)
    return Interval(theta, lower, upper, worst.astype(jnp.int32))


def _calibrated_flat(c, sb, fb, alpha, side):
    fn = lambda c1, s1, f1, a1: calibrated_bound(Counts(*c1), s1, f1, a1, side)  # noqa: E731
    return jax.vmap(fn)(c, sb, fb, alpha)


_calibrated_jit = jax.jit(_calibrated_flat, static_argnames=("side",))


def calibrated_trusted(counts: Counts, tpr_bounds, fpr_bounds, alpha, side: str) -> Interval:
    """:func:`calibrated_bound` of one problem from the front door (already validated)."""
    arr = lambda b: jnp.asarray([0.0, 1.0] if b is None else b, jnp.float64)[None]  # noqa: E731
    c = jnp.stack([as_float(v) for v in counts])[None]
    out = _calibrated_jit(c, arr(tpr_bounds), arr(fpr_bounds), as_float(alpha)[None], side=side)
    return Interval(*(v[0] for v in out))


def calibrated_interval(counts: Counts, tpr_bounds=None, fpr_bounds=None, *, alpha=0.05,
                        side: str = "two-sided") -> Interval:
    """Calibrated CMLE interval (validated front door over :func:`calibrated_bound`).

    Args:
      counts: :class:`~jaxcert.Counts`, fields of shape ``(...)``.
      tpr_bounds, fpr_bounds: ``(..., 2)`` boxes ``[lo, hi]``; ``None`` = [0, 1].
      alpha: miscoverage in (0, 1), scalar or ``(...)`` (traced).
      side: ``"two-sided"``, ``"upper"`` (``[0, U]``) or ``"lower"`` (``[L, 1]``).

    Returns:
      :class:`~jaxcert.Interval` of shape ``(...)``.

    Example:
      >>> from jaxcert import Counts
      >>> ci = calibrated_interval(Counts.create(0, 0, 3, 47, m1=40, m0=960),
      ...                          [0.85, 0.95], [0.02, 0.08], alpha=0.05, side="upper")
      >>> 0 < float(ci.upper) < 1
      True
    """
    from jaxcert.judge.cmle_intervals import _flatten

    check_box_shapes(tpr_bounds, fpr_bounds)
    c, sb, fb, a, batch = _flatten(counts, tpr_bounds, fpr_bounds, alpha, side)
    out = _calibrated_jit(c, sb, fb, a, side=side)
    return Interval(*(v.reshape(batch) for v in out))
