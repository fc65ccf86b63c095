"""Priors of the Bayesian judge model: Beta kernels on theta, TPR and FPR, truncated to boxes.

The single-group model (methods.md §1 notation) is::

    theta ~ Beta(a_theta, b_theta)                       on [0, 1]
    s     ~ Beta(a_s, b_s) truncated to [s_lo, s_hi]     (judge TPR)
    r     ~ Beta(a_r, b_r) truncated to [r_lo, r_hi]     (judge FPR)
    counts | theta, s, r ~ the likelihood of :func:`jaxcert.judge.likelihood.loglik`

Three ways to state what you know about the judge, all of this one form:

* boxes only (the default): ``Beta(1, 1)`` truncated to the box, i.e. uniform on the
  box, with ``theta ~ Uniform(0, 1)``;
* transferred data counts: a judge that flagged ``k`` of ``n`` known failures on
  another data set gives ``s ~ Beta(1 + k, 1 + n - k)`` (the posterior of a uniform
  prior after those counts: the principled form of "constraint transfer");
* both: a Beta kernel from transferred counts, truncated to a box.

Every Beta parameter must be ``>= 1`` so every density is bounded (log-concave), which
the exact quadrature of :mod:`jaxcert.bayes.quadrature` relies on. The normalising
constant of a truncated Beta does not depend on theta, so the quadrature never needs it.

:class:`JudgePrior` is a NamedTuple of float64 arrays (a pytree): a sweep may vmap over
a batch of priors, and every number is traced (no recompilation across priors).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from jaxcert._numerics import as_float, xlog1py, xlogy
from jaxcert._validate import check_box

__all__ = ["JudgePrior", "make_prior", "beta_from_counts", "check_prior"]


class JudgePrior(NamedTuple):
    """Beta priors on ``(theta, s, r)``, the judge rates truncated to boxes (a pytree).

    Attributes:
      theta_ab: ``(..., 2)`` Beta parameters ``(a, b)`` of the failure rate theta.
      tpr_ab: ``(..., 2)`` Beta parameters of the judge TPR ``s``.
      fpr_ab: ``(..., 2)`` Beta parameters of the judge FPR ``r``.
      tpr_box: ``(..., 2)`` truncation ``[s_lo, s_hi]`` of the TPR prior.
      fpr_box: ``(..., 2)`` truncation ``[r_lo, r_hi]`` of the FPR prior.
    """

    theta_ab: jax.Array
    tpr_ab: jax.Array
    fpr_ab: jax.Array
    tpr_box: jax.Array
    fpr_box: jax.Array


def beta_from_counts(k, n) -> tuple[float, float]:
    """``Beta(1 + k, 1 + n - k)``: a uniform prior updated by ``k`` successes in ``n``.

    Args:
      k: successes (e.g. known failures the judge flagged), ``0 <= k <= n``.
      n: trials (e.g. known failures shown to the judge), ``n >= 0``.

    Returns:
      ``(a, b)`` as Python floats.

    Raises:
      ValueError: ``k`` or ``n`` not finite, negative, or ``k > n``.

    Example:
      >>> beta_from_counts(45, 50)
      (46.0, 6.0)
    """
    try:
        kf, nf = float(k), float(n)
    except (TypeError, ValueError):
        raise ValueError(f"prior counts must be numbers (k, n); got ({k!r}, {n!r})") from None
    if not (np.isfinite(kf) and np.isfinite(nf)) or kf < 0 or nf < 0 or kf > nf:
        raise ValueError(f"prior counts need 0 <= k <= n (finite); got k={k!r}, n={n!r}")
    return 1.0 + kf, 1.0 + nf - kf


def _beta_params(spec, name: str) -> tuple[float, float]:
    """``None`` -> (1, 1); ``(k, n)`` counts -> :func:`beta_from_counts`."""
    if spec is None:
        return 1.0, 1.0
    try:
        k, n = spec
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be None or a pair (k, n) of counts; got {spec!r}") from None
    try:
        return beta_from_counts(k, n)
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None


def make_prior(tpr_bounds=None, fpr_bounds=None, *, tpr_prior=None, fpr_prior=None,
               theta_prior=None) -> JudgePrior:
    """Builds (and validates) the prior of the single-group model.

    With boxes only this is the default of ``certify(..., method="bayes")``:
    ``theta ~ Uniform(0, 1)``, ``s ~ Uniform(tpr_bounds)``, ``r ~ Uniform(fpr_bounds)``.

    Args:
      tpr_bounds, fpr_bounds: ``[lo, hi]`` truncation of the TPR / FPR prior;
        ``None`` = ``[0, 1]``. Shape ``(..., 2)`` for a batch of priors.
      tpr_prior: ``(k, n)``: the judge flagged ``k`` of ``n`` known failures elsewhere;
        gives ``s ~ Beta(1 + k, 1 + n - k)`` (truncated to ``tpr_bounds``).
        ``None`` = uniform.
      fpr_prior: ``(k, n)``: the judge flagged ``k`` of ``n`` known passes elsewhere.
      theta_prior: ``(k, n)``: ``k`` failures in ``n`` items seen elsewhere;
        ``theta ~ Beta(1 + k, 1 + n - k)``. ``None`` = uniform.

    Returns:
      :class:`JudgePrior` (float64).

    Raises:
      ValueError: a box outside ``[0, 1]`` or with ``lo > hi``; counts with ``k > n``
        or negative; a box where the truncated Beta has (numerically) no mass.

    Example:
      >>> p = make_prior([0.85, 0.95], [0.02, 0.08], tpr_prior=(90, 100))
      >>> [float(v) for v in p.tpr_ab]
      [91.0, 11.0]
    """
    sb = check_box(tpr_bounds, "tpr_bounds")
    fb = check_box(fpr_bounds, "fpr_bounds")
    prior = JudgePrior(
        theta_ab=as_float(_beta_params(theta_prior, "theta_prior")),
        tpr_ab=as_float(_beta_params(tpr_prior, "tpr_prior")),
        fpr_ab=as_float(_beta_params(fpr_prior, "fpr_prior")),
        tpr_box=as_float(sb),
        fpr_box=as_float(fb),
    )
    return check_prior(prior)


def check_prior(prior: JudgePrior) -> JudgePrior:
    """Eagerly validates a :class:`JudgePrior` (also one built by hand); returns it.

    Raises:
      ValueError: Beta parameters not finite or below 1 (an unbounded density), a box
        outside ``[0, 1]`` or with ``lo > hi``.
    """
    if not isinstance(prior, JudgePrior):
        raise ValueError(f"prior must be a JudgePrior (see make_prior); got {type(prior).__name__}")
    for name in ("theta_ab", "tpr_ab", "fpr_ab"):
        ab = np.asarray(getattr(prior, name), dtype=float)
        if ab.ndim == 0 or ab.shape[-1] != 2:
            raise ValueError(f"prior.{name} must have shape (..., 2) = (a, b); got {ab.shape}")
        if not np.all(np.isfinite(ab)) or np.any(ab < 1):
            raise ValueError(
                f"prior.{name} must be finite Beta parameters >= 1 (a bounded density); "
                f"got {ab.tolist()}"
            )
    check_box(np.asarray(prior.tpr_box), "prior.tpr_box")
    check_box(np.asarray(prior.fpr_box), "prior.fpr_box")
    return prior


def log_beta_kernel(x, ab) -> jax.Array:
    """``(a - 1) log x + (b - 1) log(1 - x)`` (0 where an exponent is 0, even at x = 0)."""
    return xlogy(ab[..., 0] - 1.0, x) + xlog1py(ab[..., 1] - 1.0, -x)

