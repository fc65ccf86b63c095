"""Baseline estimators of the failure rate from the six counts of a binary judge.

Every function is ``f(counts, *, alpha=0.05, side="two-sided") -> Interval``: pure,
jit- and vmap-able over batched :class:`~jaxcert.Counts`, ``alpha`` traced (a sweep
never recompiles), ``side`` static. Degenerate data (no failures, ``n = 1``,
``N = 0``, a judge no better than chance) give finite numbers and a status, never
NaN. Notation: ``n = n11 + n10 + n01 + n00`` human-labelled items, ``N = m1 + m0``
judge-only items, ``theta`` the failure rate, ``s``/``r`` the judge's TPR/FPR.

* :func:`classical`: human labels only, exact Clopper-Pearson on ``n11 + n10`` of ``n``.
* :func:`naive`: the judge's positive rate over all ``n + N`` judge verdicts, with a
  Clopper-Pearson interval; biased by design: ``E = theta s + (1 - theta) r``, bias
  ``theta (s - 1) + (1 - theta) r``.
* :func:`rogan_gladen`: ``(q - r) / (s - r)`` corrected prevalence, delta-method CI.
* :func:`ppi` / :func:`ppi_plusplus`: prediction-powered inference from the counts
  (equal to :func:`jaxcert.judge.prediction_powered.ppi_mean_ci` on the expanded 0/1 arrays), ends
  clipped to [0, 1]; the point estimate is left unclipped (it is unbiased).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxcert._numerics import as_float, normal_quantile
from jaxcert._types import Interval, Status
from jaxcert._validate import check_alpha, check_side, tail_alphas
from jaxcert.counts import Counts
from jaxcert.intervals.binomial import _cp_nonempty
from jaxcert.judge.prediction_powered import _ppi_counts, _safe_div

__all__ = ["classical", "naive", "rogan_gladen", "ppi", "ppi_plusplus"]


def _check(counts, alpha, side, lam=None) -> Counts:
    """Eager boundary checks (skipped for tracers); returns float64 Counts."""
    check_side(side)
    if not isinstance(counts, Counts):
        if len(counts) != 6:
            raise ValueError(
                f"counts must be a Counts(n11, n10, n01, n00, m1, m0); got {type(counts).__name__}"
            )
        counts = Counts(*counts)
    leaves = list(counts) + [alpha] + ([] if lam is None else [lam])
    if any(isinstance(v, jax.core.Tracer) for v in leaves):
        return Counts(*(as_float(f) for f in counts))
    try:
        Counts(*(np.asarray(f, dtype=float) for f in counts)).validate()
    except ValueError as e:
        raise ValueError(f"counts: {e}") from None
    check_alpha(alpha)
    if lam is not None and (np.ndim(lam) != 0 or not np.isfinite(float(lam))):
        raise ValueError(f"lam must be a finite scalar or None; got {lam!r}")
    return Counts(*(as_float(f) for f in counts))


def _cp_interval(k, total, alpha, side) -> Interval:
    """Clopper-Pearson with a finite, flagged answer when ``total == 0``."""
    empty = total <= 0
    iv = _cp_nonempty(k, total, alpha, side)
    return Interval(
        jnp.where(empty, 0.0, iv.estimate),
        jnp.where(empty, 0.0, iv.lower),
        jnp.where(empty, 1.0, iv.upper),
        jnp.where(empty, Status.UNIDENTIFIED, iv.status).astype(jnp.int32),
    )


@functools.partial(jax.jit, static_argnames="side")
def _classical(counts, alpha, side):
    return _cp_interval(counts.n11 + counts.n10, counts.n, alpha, side)


def classical(counts, *, alpha=0.05, side: str = "two-sided") -> Interval:
    """Human labels only: ``theta_hat = (n11 + n10) / n`` with an exact Clopper-Pearson CI.

    Ignores the judge entirely; the honest reference every judge-based method should
    beat on width while keeping its coverage.

    Args:
      counts: :class:`~jaxcert.Counts` (fields may be batched arrays).
      alpha: level in (0, 1), traced.
      side: ``"two-sided" | "upper" | "lower"`` (static).

    Returns:
      :class:`~jaxcert.Interval`; status UNIDENTIFIED (and ``[0, 1]``) if ``n = 0``
      inside traced code (rejected eagerly).

    Example:
      >>> import jaxcert
      >>> from jaxcert.judge.baselines import classical
      >>> iv = classical(jaxcert.Counts.create(0, 0, 3, 97), side="upper")
      >>> round(float(iv.upper), 4)   # 1 - 0.05**(1/100)
      0.0295
    """
    counts = _check(counts, alpha, side)
    return _classical(counts, alpha, side)


@functools.partial(jax.jit, static_argnames="side")
def _naive(counts, alpha, side):
    k = counts.n11 + counts.n01 + counts.m1
    return _cp_interval(k, counts.n + counts.N, alpha, side)


def naive(counts, *, alpha=0.05, side: str = "two-sided") -> Interval:
    """The judge's positive rate over all judge verdicts, with a Clopper-Pearson CI.

    ``q_hat = (n11 + n01 + m1) / (n + N)`` estimates ``q = theta s + (1 - theta) r``,
    not ``theta``: its bias is ``theta (s - 1) + (1 - theta) r``, and its interval
    covers ``q``. A baseline that shows what ignoring judge errors costs.

    Args:
      counts, alpha, side: as in :func:`classical`.

    Returns:
      :class:`~jaxcert.Interval` for ``q``.

    Example:
      >>> import jaxcert
      >>> from jaxcert.judge.baselines import naive
      >>> round(float(naive(jaxcert.Counts.create(8, 2, 5, 85, 100, 900)).estimate), 4)
      0.1027
    """
    counts = _check(counts, alpha, side)
    return _naive(counts, alpha, side)


def _shrunk_var(k, m):
    """``p~ (1 - p~) / m`` with ``p~ = (k + 1/2) / (m + 1)``: never 0 for m >= 1."""
    p = (k + 0.5) / (m + 1.0)
    return _safe_div(p * (1.0 - p), m)


@functools.partial(jax.jit, static_argnames="side")
def _rogan_gladen(counts, alpha, side):
    n11, n10, n01, n00, m1, m0 = counts
    n1, n0, N = n11 + n10, n01 + n00, m1 + m0
    s, r, q = _safe_div(n11, n1), _safe_div(n01, n0), _safe_div(m1, N)
    youden = s - r
    ident = (n1 > 0) & (n0 > 0) & (youden > 0)
    raw = _safe_div(q - r, youden)
    theta = jnp.clip(raw, 0.0, 1.0)
    var = (
        _shrunk_var(m1, N)
        + theta**2 * _shrunk_var(n11, n1)
        + (1 - theta) ** 2 * _shrunk_var(n01, n0)
    )
    se = jnp.sqrt(var) / jnp.where(ident, youden, 1.0)
    a_lo, a_hi = tail_alphas(alpha, side)
    lower = jnp.where(a_lo > 0, theta - normal_quantile(1.0 - a_lo) * se, 0.0)
    upper = jnp.where(a_hi > 0, theta + normal_quantile(1.0 - a_hi) * se, 1.0)
    lower, upper = jnp.clip(lower, 0.0, 1.0), jnp.clip(upper, 0.0, 1.0)
    status = jnp.where(jnp.isfinite(lower + upper + theta), Status.CONVERGED, Status.NONFINITE)
    # Not identified: the uninformative interval, the human-only mean as estimate.
    est = jnp.where(ident, theta, _safe_div(n1, n1 + n0))
    lower, upper = jnp.where(ident, lower, 0.0), jnp.where(ident, upper, 1.0)
    status = jnp.where(ident, status, Status.UNIDENTIFIED)
    iv = Interval(est, lower, upper, status.astype(jnp.int32))
    # No judge-only data: RG on the calibration verdicts equals the human-only mean.
    cl = _cp_interval(n1, n1 + n0, alpha, side)
    return jax.tree.map(lambda a, b: jnp.where(N > 0, a, b), iv, cl)


def rogan_gladen(counts, *, alpha=0.05, side: str = "two-sided") -> Interval:
    """Rogan-Gladen corrected prevalence with a delta-method interval.

    With ``q_hat = m1 / N`` from the judge-only set (independent of the calibration
    set, so the three binomials are independent), ``s_hat = n11 / (n11 + n10)`` and
    ``r_hat = n01 / (n01 + n00)``::

        theta_hat = clip((q_hat - r_hat) / (s_hat - r_hat), 0, 1)
        se^2 = [V(q) + theta^2 V(s) + (1 - theta)^2 V(r)] / (s_hat - r_hat)^2

    Each binomial variance ``V = p~ (1 - p~) / m`` uses ``p~ = (k + 1/2) / (m + 1)`` so
    that zero failures (or a perfect judge) never give a zero-width interval. The
    interval ``theta_hat -/+ z se`` is centred at the clipped estimate and clipped to
    [0, 1]. Status UNIDENTIFIED with ``[0, 1]`` (estimate: the human-only mean) when
    ``s_hat <= r_hat`` or the calibration set lacks failures or passes. With ``N = 0``
    RG on the calibration verdicts equals the human-only mean, and
    :func:`classical` is returned.

    Args:
      counts, alpha, side: as in :func:`classical`.

    Returns:
      :class:`~jaxcert.Interval`.

    Example:
      >>> import jaxcert
      >>> from jaxcert.judge.baselines import rogan_gladen
      >>> iv = rogan_gladen(jaxcert.Counts.create(9, 1, 5, 85, 140, 860))
      >>> round(float(iv.estimate), 4)    # (0.14 - 5/90) / (0.9 - 5/90)
      0.1

    References:
      Rogan and Gladen (1978), Am. J. Epidemiol. 107(1):71-76.
    """
    counts = _check(counts, alpha, side)
    return _rogan_gladen(counts, alpha, side)


def ppi(counts, *, alpha=0.05, side: str = "two-sided") -> Interval:
    """Classic prediction-powered inference (``lam = 1``) from the counts.

    ``theta_hat = m1/N - (n01 - n10)/n`` (judge rate on the judge-only set, minus the
    judge's mean error on the calibration set); Wald interval with
    ``se^2 = Var0(Y - J)/n + Var0(J~)/N``, ends clipped to [0, 1]. A zero standard
    error falls back to :func:`classical`; ``N = 0`` uses ``lam = 0`` (human only).
    See :mod:`jaxcert.judge.prediction_powered`.

    Args:
      counts, alpha, side: as in :func:`classical`.

    Returns:
      :class:`~jaxcert.Interval` (estimate unclipped).

    Example:
      >>> import jaxcert
      >>> from jaxcert.judge.baselines import ppi
      >>> float(ppi(jaxcert.Counts.create(8, 2, 5, 85, 100, 900)).estimate)
      0.07

    References:
      Angelopoulos et al. (2023), Science 382:669.
    """
    counts = _check(counts, alpha, side)
    return _ppi_counts(counts, alpha, 1.0, False, side)


def ppi_plusplus(counts, *, alpha=0.05, side: str = "two-sided", lam=None) -> Interval:
    """PPI++ from the counts: power-tuned ``lam`` (ppi-python's rule), or a fixed one.

    ``lam = Cov0(Y, J) / ((1 + n/N) Var1(J pooled))`` clipped to [0, 1] (0 when the
    pooled verdicts are constant or ``N = 0``); ``theta_hat = mean(Y - lam J) + lam
    m1/N``. Unlike ppi-python, ``side`` is honoured with tuned ``lam``. See
    :mod:`jaxcert.judge.prediction_powered`.

    Args:
      counts, alpha, side: as in :func:`classical`.
      lam: ``None`` (tuned) or a fixed scalar, traced.

    Returns:
      :class:`~jaxcert.Interval` (estimate unclipped).

    Example:
      >>> import jaxcert
      >>> from jaxcert.judge.baselines import ppi_plusplus
      >>> iv = ppi_plusplus(jaxcert.Counts.create(8, 2, 5, 85, 100, 900), side="upper")
      >>> bool(iv.lower == 0.0)
      True

    References:
      Angelopoulos, Duchi, Zrnic (2023), PPI++, arXiv:2311.01453.
    """
    counts = _check(counts, alpha, side, lam)
    tuned = lam is None
    return _ppi_counts(counts, alpha, 0.0 if tuned else lam, tuned, side)
