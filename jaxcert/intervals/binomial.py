"""Binomial confidence intervals: exact Clopper-Pearson and Wilson score.

Both take ``k`` failures out of ``n`` trials (arrays, batched by broadcasting), a
traced ``alpha`` (a new level never recompiles) and a static ``side`` from the one
convention in :mod:`jaxcert._validate`: ``"upper"`` is the certificate ``[0, U]``,
``"lower"`` is ``[L, 1]``, ``"two-sided"`` puts ``alpha / 2`` in each tail.

Naming in the oracles (checked in the tests): ``scipy.stats.binomtest(k, n,
alternative="less")`` gives our ``"upper"`` interval ``[0, U]`` and
``alternative="greater"`` our ``"lower"`` ``[L, 1]``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import betainc

from jaxcert._numerics import as_float, normal_quantile
from jaxcert._types import Interval, Status
from jaxcert._validate import check_alpha, check_side, is_concrete, tail_alphas
from jaxcert.intervals._betaincinv import _logit_quantile

__all__ = ["clopper_pearson", "wilson", "uniform_samples_needed"]


def _check_kn(k, n) -> None:
    """Eager checks: integer-valued, finite, n >= 1 and 0 <= k <= n."""
    karr, narr = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    for name, arr, v in (("k", karr, k), ("n", narr, n)):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must be finite integer counts; got {v!r}")
    if np.any(narr < 1):
        raise ValueError(f"n (number of trials) must be >= 1; got {n!r}")
    if np.any(karr < 0) or np.any(karr > narr):
        raise ValueError(f"k (failures) must satisfy 0 <= k <= n; got k={k!r}, n={n!r}")
    try:
        np.broadcast_shapes(karr.shape, narr.shape)
    except ValueError:
        raise ValueError(
            f"k and n do not broadcast: shapes {karr.shape} and {narr.shape}"
        ) from None


def _status(*xs) -> jax.Array:
    ok = functools.reduce(jnp.logical_and, [jnp.isfinite(x) for x in xs])
    return jnp.where(ok, Status.CONVERGED, Status.NONFINITE).astype(jnp.int32)


@functools.partial(jax.jit, static_argnames="side")
def _cp(k, n, alpha, side):
    k, n, alpha = jnp.broadcast_arrays(as_float(k), as_float(n), as_float(alpha))
    a_lo, a_hi = tail_alphas(alpha, side)
    # L = Beta^{-1}(a_lo; k, n - k + 1), 0 at k = 0 or a_lo = 0.
    # U = Beta^{-1}(1 - a_hi; k + 1, n - k), 1 at k = n or a_hi = 0.
    # Only the ends the (static) side needs are solved; two ends go in one stacked
    # solve (one compiled solver). At k = 0 and k = n both ends are closed forms (set
    # below), so those lanes get Beta(1, 1), whose quantile the solver's start hits
    # exactly: no steps wasted on batches where k = 0 is common. k may be fractional
    # when a caller passes a sum of [0, 1] values.
    free = (k <= 0) | (k >= n)
    one = jnp.ones_like(k)
    ends = {"lower": ((jnp.where(free, one, k), jnp.where(free, one, n - k + 1.0),
                       a_lo, 1.0 - a_lo),),
            "upper": ((jnp.where(free, one, k + 1.0), jnp.where(free, one, n - k),
                       1.0 - a_hi, a_hi),)}
    ends["two-sided"] = ends["lower"] + ends["upper"]
    solved = _logit_quantile(*(jnp.stack(arg) for arg in zip(*ends[side], strict=True)))
    t_lo = solved[0] if side != "upper" else jnp.zeros_like(k)
    t_hi = solved[-1] if side != "lower" else jnp.zeros_like(k)
    lower = jnp.where((k <= 0) | (a_lo <= 0), 0.0, jax.nn.sigmoid(t_lo))
    upper = jnp.where((k >= n) | (a_hi <= 0), 1.0, jax.nn.sigmoid(t_hi))
    # Closed forms of the same quantiles at the edges: U(0) = 1 - a_hi^(1/n) and
    # L(n) = a_lo^(1/n), exact to the last bit (the rule-of-three certificate).
    safe_hi, safe_lo = jnp.maximum(a_hi, 1e-300), jnp.maximum(a_lo, 1e-300)
    upper = jnp.where((k <= 0) & (a_hi > 0), -jnp.expm1(jnp.log(safe_hi) / n), upper)
    lower = jnp.where((k >= n) & (a_lo > 0), jnp.exp(jnp.log(safe_lo) / n), lower)
    est = k / n
    # Traced input that eager validation would reject: NaN ends and a NONFINITE status.
    bad = (k < 0) | (k > n) | (n <= 0) | ~jnp.isfinite(k + n)
    nan = jnp.full_like(est, jnp.nan)
    lower, upper, est = (jnp.where(bad, nan, v) for v in (lower, upper, est))
    status = jnp.where(bad, Status.NONFINITE, _status(est, lower, upper)).astype(jnp.int32)
    return Interval(est, lower, upper, status)


def _cp_nonempty(k, total, alpha, side):
    """:func:`_cp` with an empty sample (``total <= 0``) read as 0 of 1.

    The one spelling of the human-only interval: ``classical`` and the PPI fallback
    both call it, so inside one jitted sweep kernel XLA computes the Beta quantile once
    for both (common-subexpression elimination needs identical operations).
    """
    empty = total <= 0
    return _cp(jnp.where(empty, 0.0, k), jnp.where(empty, 1.0, total), alpha, side)


def clopper_pearson(k, n, alpha=0.05, side: str = "two-sided") -> Interval:
    """Exact (Clopper-Pearson) binomial confidence interval for a failure rate.

    With tail masses ``(a_lo, a_hi)`` from ``side`` (``alpha/2`` each for two-sided;
    ``(0, alpha)`` for ``"upper"``; ``(alpha, 0)`` for ``"lower"``)::

        L = Beta^{-1}(a_lo; k, n - k + 1)      (L = 0 if k = 0 or a_lo = 0)
        U = Beta^{-1}(1 - a_hi; k + 1, n - k)  (U = 1 if k = n or a_hi = 0)

    With ``k = 0`` and ``side="upper"``, ``U = 1 - alpha^(1/n)`` exactly ("rule of
    three": ~3/n at 95%). Coverage is >= 1 - alpha for every true rate.

    Args:
      k: failures, integer-valued array-like (float64 inside), ``0 <= k <= n``.
      n: trials, integer-valued, ``n >= 1``; broadcast with ``k`` (and ``alpha``).
      alpha: level in (0, 1), traced (sweeping it never recompiles).
      side: ``"two-sided"`` | ``"upper"`` | ``"lower"`` (static).

    Returns:
      :class:`~jaxcert.Interval` ``(estimate=k/n, lower, upper, status)``.

    Raises:
      ValueError: for concrete inputs that are not integer counts, ``n < 1``,
        ``k`` outside ``[0, n]``, ``alpha`` outside (0, 1), or an unknown ``side``.
        Traced inputs cannot raise: ``k < 0``, ``k > n``, ``n <= 0`` or non-finite
        counts give NaN ends with status ``NONFINITE``.

    Example:
      >>> import jaxcert.intervals as ji
      >>> iv = ji.clopper_pearson(0, 2995, alpha=0.05, side="upper")
      >>> float(iv.upper) <= 1e-3
      True

    References:
      Clopper and Pearson (1934), Biometrika 26(4):404-413.
    """
    check_side(side)
    if is_concrete(k, n, alpha):
        _check_kn(k, n)
        check_alpha(alpha)
    return _cp(k, n, alpha, side)


@functools.partial(jax.jit, static_argnames="side")
def _wilson(k, n, alpha, side):
    k, n, alpha = jnp.broadcast_arrays(as_float(k), as_float(n), as_float(alpha))
    a_lo, a_hi = tail_alphas(alpha, side)

    def end(a_tail, sign):
        z = normal_quantile(1.0 - a_tail)
        z2 = z * z
        center = (k + z2 / 2.0) / (n + z2)
        half = z / (n + z2) * jnp.sqrt(jnp.maximum(k * (n - k) / n, 0.0) + z2 / 4.0)
        return center + sign * half

    lower = jnp.where((k <= 0) | (a_lo <= 0), 0.0, jnp.clip(end(a_lo, -1.0), 0.0, 1.0))
    upper = jnp.where((k >= n) | (a_hi <= 0), 1.0, jnp.clip(end(a_hi, 1.0), 0.0, 1.0))
    est = k / n
    return Interval(est, lower, upper, _status(est, lower, upper))


def wilson(k, n, alpha=0.05, side: str = "two-sided") -> Interval:
    """Wilson score interval for a binomial proportion.

    The ends solve ``|k/n - p| = z sqrt(p (1 - p) / n)`` for ``p``::

        p = (k + z^2/2) / (n + z^2) -/+ z / (n + z^2) sqrt(k (n - k) / n + z^2 / 4)

    with ``z = Phi^{-1}(1 - a_tail)`` per tail (``alpha/2`` two-sided, ``alpha`` on
    the bounded end one-sided); ends are clipped to [0, 1], with ``L = 0`` at
    ``k = 0`` and ``U = 1`` at ``k = n`` (the formula's exact values there).
    Approximate (not guaranteed) coverage; see :func:`clopper_pearson` for exact.

    Args:
      k, n, alpha, side: as in :func:`clopper_pearson`.

    Returns:
      :class:`~jaxcert.Interval` ``(estimate=k/n, lower, upper, status)``.

    Raises:
      ValueError: as :func:`clopper_pearson`.

    Example:
      >>> import jaxcert.intervals as ji
      >>> round(float(ji.wilson(0, 100, side="upper").upper), 4)
      0.0263

    References:
      Wilson (1927), JASA 22(158):209-212.
    """
    check_side(side)
    if is_concrete(k, n, alpha):
        _check_kn(k, n)
        check_alpha(alpha)
    return _wilson(k, n, alpha, side)


@jax.jit
def _samples_needed(upper, alpha, k):
    upper, alpha, k = jnp.broadcast_arrays(as_float(upper), as_float(alpha), as_float(k))
    # k = 0: 1 - alpha^(1/n) <= eps  <=>  n >= log(alpha) / log(1 - eps).
    closed = jnp.ceil(jnp.log(alpha) / jnp.log1p(-upper))

    # General k: U(k, n) <= eps  <=>  P(Bin(n, eps) <= k) <= alpha
    #                              <=>  I_eps(k + 1, n - k) >= 1 - alpha.
    def ok(n):
        return betainc(k + 1.0, jnp.maximum(n - k, 1e-300), upper) >= 1.0 - alpha

    # ok(k) is false (U = 1); ok(hi) holds by a Chernoff bound on P(Bin <= k).
    lo = k
    hi = jnp.ceil(8.0 * (k + 1.0 - jnp.log(alpha)) / upper) + k + 1.0

    def bisect(_, br):
        lo, hi = br
        mid = jnp.floor(0.5 * (lo + hi))
        good = ok(mid)
        return jnp.where(good, lo, mid), jnp.where(good, mid, hi)

    _, hi = jax.lax.fori_loop(0, 64, bisect, (lo, hi))
    return jnp.where(k == 0, jnp.maximum(closed, 1.0), hi)


def uniform_samples_needed(upper, alpha=0.05, k=0) -> jax.Array:
    """Smallest ``n`` whose one-sided Clopper-Pearson bound with ``k`` failures is <= upper.

    The cost of certifying "failure rate <= upper" at level ``1 - alpha`` by uniform
    sampling, used as the denominator-side of the rare-event reduction factor. For
    ``k = 0`` it is ``ceil(log(alpha) / log(1 - upper))`` (2,995 for 1e-3, 29,956 for
    1e-4, 299,572 for 1e-5 at 95%). For ``k > 0`` it bisects (64 fixed steps) on the
    duality ``U(k, n) <= eps  <=>  P(Bin(n, eps) <= k) <= alpha``.

    Args:
      upper: target upper bound(s) ``eps`` in (0, 1), traced.
      alpha: level in (0, 1), traced.
      k: number of failures allowed in the sample (integer-valued, >= 0).

    Returns:
      float64 array (integer-valued) of the broadcast shape.

    Raises:
      ValueError: for concrete ``upper`` or ``alpha`` outside (0, 1), or ``k`` not a
        non-negative integer.

    Example:
      >>> import jaxcert.intervals as ji
      >>> int(ji.uniform_samples_needed(1e-3, alpha=0.05))
      2995
    """
    if is_concrete(upper, alpha, k):
        u = np.asarray(upper, dtype=float)
        if not np.all(np.isfinite(u)) or np.any(u <= 0) or np.any(u >= 1):
            raise ValueError(f"upper must be in (0, 1); got {upper!r}")
        check_alpha(alpha)
        karr = np.asarray(k, dtype=float)
        if not np.all(np.isfinite(karr)) or np.any(karr < 0) or np.any(karr != np.round(karr)):
            raise ValueError(f"k must be a non-negative integer; got {k!r}")
    return _samples_needed(upper, alpha, k)
