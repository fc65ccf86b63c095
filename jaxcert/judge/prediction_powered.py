"""Prediction-powered inference (PPI) and PPI++ for a mean, ppi-python compatible.

With ``n`` labelled pairs ``(Y_i, Yhat_i)`` and ``N`` unlabelled predictions
``Yhat~_j``, for a tuning parameter ``lam``::

    theta_hat(lam) = mean(Y - lam Yhat) + lam mean(Yhat~)
    se(lam)^2      = Var0(Y - lam Yhat) / n + lam^2 Var0(Yhat~) / N

(``Var0``: ddof = 0). ``lam = 1`` is classic PPI, ``lam = 0`` the classical mean.
``lam=None`` tunes it as ppi-python 0.2.3 does (read from its source)::

    lam = Cov0(Y, Yhat) / ((1 + n/N) Var1(pooled Yhat)),  clipped to [0, 1]

(``Cov0`` with ddof = 0 on the labelled pairs; ``Var1`` with ddof = 1 on the
``n + N`` pooled predictions; the pilot ``lam = 1`` point estimate that ppi-python
centres its "gradients" at cancels out.) The interval is
``theta_hat -/+ z se`` with ``z = Phi^{-1}(1 - alpha/2)`` two-sided and
``Phi^{-1}(1 - alpha)`` on the bounded end one-sided.

Where ppi-python 0.2.3 is wrong, jaxcert does better (each is tested):

* One-sided with tuned lam: ppi-python's ``ppi_mean_ci(..., lam=None)`` recurses
  without ``alternative``, so it always returns the two-sided interval. We honour
  the side. Naming (checked in statsmodels' ``_zconfint_generic``, which it calls):
  ppi-python ``"smaller"`` = ``(-inf, U]`` = our ``side="upper"``; ``"larger"`` =
  ``[L, inf)`` = our ``side="lower"``.
* Counts API only (:func:`jaxcert.judge.ppi` / :func:`~jaxcert.judge.ppi_plusplus`,
  binary labels): the interval is clipped to [0, 1], and when the CLT variance is
  degenerate (:func:`clt_degenerate`: no labelled failure, one label, or no
  labelled disagreement with ``lam != 0``) or the clipped interval is impossible
  (zero width, or missing the clipped estimate; e.g. 20 labelled passes with 3 judge
  flags and 280 judge-only zeros: estimate -0.15, ppi-python's interval lies below
  0) the exact Clopper-Pearson interval of the human labels is returned. The point
  estimate is left unclipped (it is unbiased); :func:`jaxcert.certify` reports the
  clipped one and keeps the raw one in ``diagnostics["estimate_raw"]``. The array
  API below keeps ppi-python's numbers (real-valued ``Y`` has no [0, 1] support).
* Zero pooled prediction variance (e.g. every label and prediction 0): ppi-python's
  lam is 0/0 = NaN and so is its interval. We set ``lam = 0`` (a constant judge
  carries no information). If the standard error is then 0 (the Wald interval would
  be a single point, claiming certainty), and every ``Y`` lies in [0, 1], we return
  the exact Clopper-Pearson interval of the labelled mean (``k = sum(Y)`` of ``n``;
  exact for binary ``Y``); for ``Y`` outside [0, 1] there is no scale to floor the
  interval with, and the point interval is returned.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxcert._numerics import as_float, normal_quantile
from jaxcert._types import Interval, Status
from jaxcert._validate import check_alpha, check_side, tail_alphas
from jaxcert.intervals.binomial import _cp, _cp_nonempty

__all__ = ["ppi_mean_ci", "ppi_mean_pointestimate", "clt_degenerate"]

#: A standard error at or below this is treated as zero (degenerate data).
SE_ZERO = 1e-13
_ALTERNATIVES = {"two-sided": "two-sided", "smaller": "upper", "larger": "lower"}


def _safe_div(num, den):
    ok = den != 0
    return jnp.where(ok, num / jnp.where(ok, den, 1.0), 0.0)


def _tuned_lam(cov_yj, var_pool1, n, N):
    """ppi-python's power-tuned lam, 0 where it would be 0/0 (or N = 0), in [0, 1]."""
    den = (1.0 + _safe_div(n, N)) * var_pool1
    lam = _safe_div(cov_yj, den)
    lam = jnp.where((N > 0) & jnp.isfinite(lam), lam, 0.0)
    return jnp.clip(lam, 0.0, 1.0)


def _wald(est, se, alpha, side):
    """``(lower, upper)`` with infinite open ends under a one-sided ``side``."""
    a_lo, a_hi = tail_alphas(alpha, side)
    lower = jnp.where(a_lo > 0, est - normal_quantile(1.0 - a_lo) * se, -jnp.inf)
    upper = jnp.where(a_hi > 0, est + normal_quantile(1.0 - a_hi) * se, jnp.inf)
    return lower, upper


def _with_fallback(se, lower, upper, cp, can_fallback):
    """Replaces a zero-width Wald interval by the Clopper-Pearson interval ``cp``."""
    use = (se <= SE_ZERO) & can_fallback
    return jnp.where(use, cp.lower, lower), jnp.where(use, cp.upper, upper)


@functools.partial(jax.jit, static_argnames=("tuned", "side"))
def _ppi_arrays(Y, Yhat, Yu, alpha, lam, tuned, side):
    Y, Yhat, Yu = as_float(Y), as_float(Yhat), as_float(Yu)
    n, N = as_float(Y.shape[0]), as_float(Yu.shape[0])
    if tuned:
        cov = jnp.mean((Y - Y.mean()) * (Yhat - Yhat.mean()))
        var_pool1 = jnp.var(jnp.concatenate([Yhat, Yu]), ddof=1)
        lam = _tuned_lam(cov, var_pool1, n, N)
    lam = as_float(lam)
    rect = Y - lam * Yhat
    est = rect.mean() + lam * Yu.mean()
    se = jnp.sqrt(jnp.var(rect) / n + lam**2 * jnp.var(Yu) / N)
    lower, upper = _wald(est, se, alpha, side)
    in_unit = jnp.all((Y >= 0.0) & (Y <= 1.0))
    lower, upper = _with_fallback(se, lower, upper, _cp(Y.sum(), n, alpha, side), in_unit)
    # Keep the open end of a one-sided interval infinite (support unknown).
    a_lo, a_hi = tail_alphas(alpha, side)
    lower = jnp.where(a_lo > 0, lower, -jnp.inf)
    upper = jnp.where(a_hi > 0, upper, jnp.inf)
    return est, lower, upper, lam


def _check_arrays(Y, Yhat, Yhat_unlabeled) -> None:
    if any(isinstance(v, jax.core.Tracer) for v in (Y, Yhat, Yhat_unlabeled)):
        return
    arrs = {}
    for name, v in (("Y", Y), ("Yhat", Yhat), ("Yhat_unlabeled", Yhat_unlabeled)):
        a = np.asarray(v, dtype=float)
        if a.ndim != 1:
            raise ValueError(f"{name} must be a 1-D array; got shape {a.shape}")
        if a.shape[0] == 0:
            raise ValueError(f"{name} is empty; need at least one value")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} must be finite (got NaN or inf)")
        arrs[name] = a
    if arrs["Y"].shape != arrs["Yhat"].shape:
        raise ValueError(
            f"Y and Yhat must have the same length; got {arrs['Y'].shape[0]} and "
            f"{arrs['Yhat'].shape[0]}"
        )


def _check_lam(lam) -> None:
    if lam is not None and not isinstance(lam, jax.core.Tracer):
        if not np.all(np.isfinite(np.asarray(lam, dtype=float))) or np.ndim(lam) != 0:
            raise ValueError(f"lam must be a finite scalar or None; got {lam!r}")


def _resolve_side(alternative: str, side: str | None) -> str:
    if side is not None:
        if alternative != "two-sided":
            raise ValueError("give either side= (jaxcert) or alternative= (ppi-python), not both")
        return check_side(side)
    if alternative not in _ALTERNATIVES:
        raise ValueError(
            "alternative must be one of 'two-sided', 'larger', 'smaller' (ppi-python names;"
            f" or use side='two-sided'|'upper'|'lower'); got {alternative!r}"
        )
    return _ALTERNATIVES[alternative]


def ppi_mean_ci(
    Y, Yhat, Yhat_unlabeled, alpha=0.1, alternative="two-sided", lam=None, *, side=None
):
    """Prediction-powered (PPI / PPI++) confidence interval for a mean.

    See the module docstring for the formulas and the two places where this departs
    from ppi-python 0.2.3 (one-sided with tuned lam; degenerate zero variance).

    Args:
      Y: (n,) gold labels (real-valued; binary failures are the main use).
      Yhat: (n,) predictions on the labelled items (e.g. judge probabilities).
      Yhat_unlabeled: (N,) predictions on the unlabelled items, N >= 1.
      alpha: error level in (0, 1), traced; default 0.1 as in ppi-python.
      alternative: ppi-python name: ``"two-sided"``, ``"smaller"`` (upper bound,
        our ``"upper"``) or ``"larger"`` (lower bound, our ``"lower"``).
      lam: ``None`` (tuned, PPI++), or a fixed scalar (1 = PPI, 0 = classical).
      side: jaxcert name ``"two-sided" | "upper" | "lower"``; overrides
        ``alternative`` (give one of the two).

    Returns:
      ``(lower, upper)`` float64 scalars; a one-sided interval has an infinite open
      end, as in ppi-python (which returns shape-(1,) arrays instead).

    Raises:
      ValueError: non 1-D, empty or non-finite inputs, length mismatch of ``Y`` and
        ``Yhat``, ``alpha`` outside (0, 1), non-finite ``lam``, unknown side.

    Example:
      >>> import numpy as np
      >>> from jaxcert.judge.prediction_powered import ppi_mean_ci
      >>> lo, hi = ppi_mean_ci(np.array([0., 1, 0, 1]), np.array([0.1, .8, .3, .7]),
      ...                      np.array([.2, .9, .1, .6, .4]), alpha=0.1)
      >>> bool(lo < hi)
      True

    References:
      Angelopoulos, Bates, Fannjiang, Jordan, Zrnic (2023), Science 382:669;
      Angelopoulos, Duchi, Zrnic (2023), PPI++, arXiv:2311.01453.
    """
    side = _resolve_side(alternative, side)
    _check_arrays(Y, Yhat, Yhat_unlabeled)
    if not isinstance(alpha, jax.core.Tracer):
        check_alpha(alpha)
    _check_lam(lam)
    tuned = lam is None
    _, lower, upper, _ = _ppi_arrays(
        Y, Yhat, Yhat_unlabeled, alpha, 0.0 if tuned else lam, tuned, side
    )
    return lower, upper


def ppi_mean_pointestimate(Y, Yhat, Yhat_unlabeled, lam=None) -> jax.Array:
    """Prediction-powered point estimate ``mean(Y - lam Yhat) + lam mean(Yhat~)``.

    ``lam=None`` uses the tuned lam of :func:`ppi_mean_ci` (0 when the pooled
    predictions have zero variance, where ppi-python returns NaN).

    Args:
      Y, Yhat, Yhat_unlabeled: as in :func:`ppi_mean_ci`.
      lam: ``None`` (tuned) or a fixed scalar.

    Returns:
      float64 scalar.

    Example:
      >>> import numpy as np
      >>> from jaxcert.judge.prediction_powered import ppi_mean_pointestimate
      >>> float(ppi_mean_pointestimate(np.array([1., 0]), np.array([1., 1]),
      ...                              np.array([0., 0]), lam=1.0))
      -0.5
    """
    _check_arrays(Y, Yhat, Yhat_unlabeled)
    _check_lam(lam)
    tuned = lam is None
    est, _, _, _ = _ppi_arrays(
        Y, Yhat, Yhat_unlabeled, 0.1, 0.0 if tuned else lam, tuned, "two-sided"
    )
    return est


def clt_degenerate(n11, n10, n01, n00, lam=1.0):
    """Where a CLT variance from the calibration cells cannot be trusted.

    No labelled failure (the variance of ``Y`` is unseen), a single label, or, when
    the judge is used (``lam != 0``), no labelled disagreement (the variance of
    ``Y - lam J`` is unseen).
    """
    n = n11 + n10 + n01 + n00
    return (n11 + n10 <= 0) | (n <= 1) | ((n10 + n01 <= 0) & (lam != 0))


def impossible(est, lower, upper, side):
    """A clipped interval that has zero width or misses the clipped estimate."""
    e = jnp.clip(est, 0.0, 1.0)
    zero = (upper - lower <= 0.0) & (side == "two-sided")
    zero = zero | ((upper <= 0.0) & (side == "upper")) | ((lower >= 1.0) & (side == "lower"))
    return zero | (e < lower) | (e > upper) | ~jnp.isfinite(lower + upper)


@functools.partial(jax.jit, static_argnames=("tuned", "side"))
def _ppi_counts(counts, alpha, lam, tuned, side) -> Interval:
    """PPI / PPI++ from the six counts (binary Y and J): every moment is a count ratio."""
    n11, n10, n01, n00, m1, m0 = (as_float(f) for f in counts)
    n, N = n11 + n10 + n01 + n00, m1 + m0
    my, mj, mu = _safe_div(n11 + n10, n), _safe_div(n11 + n01, n), _safe_div(m1, N)
    cov = _safe_div(n11, n) - my * mj
    pool = _safe_div(n11 + n01 + m1, n + N)
    var_pool1 = pool * (1.0 - pool) * _safe_div(n + N, n + N - 1.0)
    if tuned:
        lam = _tuned_lam(cov, var_pool1, n, N)
    # No judge-only data: PPI is undefined; lam = 0 gives the human-only mean.
    lam = jnp.where(N > 0, as_float(lam), 0.0)
    est = my - lam * mj + lam * mu
    var_rect = jnp.maximum(my * (1 - my) + lam**2 * mj * (1 - mj) - 2 * lam * cov, 0.0)
    se = jnp.sqrt(_safe_div(var_rect, n) + _safe_div(lam**2 * mu * (1 - mu), N))
    lower, upper = _wald(est, se, alpha, side)
    # One exact human-only interval serves both fallbacks (n = 0 only reaches the
    # second, through clt_degenerate); spelled as classical's, so a sweep computing
    # both pays for one.
    cp = _cp_nonempty(n11 + n10, n, alpha, side)
    lower, upper = _with_fallback(se, lower, upper, cp, True)
    lower, upper = jnp.clip(lower, 0.0, 1.0), jnp.clip(upper, 0.0, 1.0)
    # Degenerate variance (no labelled failure, no labelled disagreement while the
    # judge is used, one label) or an impossible clipped interval: exact human-only.
    use_cp = clt_degenerate(n11, n10, n01, n00, lam) | impossible(est, lower, upper, side)
    lower, upper = jnp.where(use_cp, cp.lower, lower), jnp.where(use_cp, cp.upper, upper)
    ok = jnp.isfinite(est) & jnp.isfinite(lower) & jnp.isfinite(upper)
    status = jnp.where(ok, Status.CONVERGED, Status.NONFINITE).astype(jnp.int32)
    return Interval(est, lower, upper, status)
