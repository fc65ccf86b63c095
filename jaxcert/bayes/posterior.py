"""Posterior summaries of the failure rate and the credible bound (single-group model).

Front door: :func:`posterior_summary` validates once, then runs the exact quadrature of
:mod:`jaxcert.bayes.quadrature` under ``jit`` + ``vmap``. Credible intervals follow the
one ``side`` convention of jaxcert (``jaxcert._validate``):

* ``side="upper"``: ``[0, U]`` with ``U`` the posterior ``1 - alpha`` quantile (the
  Bayesian certificate "rate <= U with posterior probability 1 - alpha");
* ``side="lower"``: ``[L, 1]``, ``L`` the ``alpha`` quantile;
* ``side="two-sided"``: equal-tailed, the ``alpha / 2`` and ``1 - alpha / 2`` quantiles.

:func:`bayes_interval` has the sim-registry signature ``(counts, tpr_bounds, fpr_bounds,
alpha, side) -> Interval`` with the default prior (``theta ~ U(0, 1)``, rates uniform on
the boxes) and the posterior mean as estimate, so it plugs into sweeps
(``register_estimator("bayes", bayes_interval)``).

A credible bound is not a confidence bound: its frequentist coverage is measured, not
promised (``benchmarks/bayes_coverage.py``, ``tests/bayes/test_coverage_slow.py``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxcert._numerics import as_float
from jaxcert._types import Interval, Status
from jaxcert._validate import check_alpha, check_side, is_concrete, tail_alphas
from jaxcert.bayes.priors import JudgePrior, check_prior, make_prior
from jaxcert.bayes.quadrature import grid_quantile, theta_grid
from jaxcert.counts import Counts

__all__ = ["PosteriorSummary", "posterior_summary", "bayes_interval"]


class PosteriorSummary(NamedTuple):
    """Posterior of the failure rate theta (a pytree; fields share a batch shape).

    Attributes:
      mean: posterior mean.
      median: posterior median.
      sd: posterior standard deviation.
      lower: lower end of the credible interval (0 under ``side="upper"``).
      upper: upper end (the credible bound under ``side="upper"``; 1 under ``"lower"``).
      status: :class:`~jaxcert.Status` code: ``CONVERGED``, ``NONFINITE`` (the density
        was not finite: outputs NaN) or ``INFEASIBLE`` (a box outside ``[0, 1]`` or
        with ``lo > hi`` reached traced code: outputs NaN).
    """

    mean: jax.Array
    median: jax.Array
    sd: jax.Array
    lower: jax.Array
    upper: jax.Array
    status: jax.Array


def _summary_one(c, prior: JudgePrior, q_levels) -> PosteriorSummary:
    """Mean, median, sd and the quantiles at ``q_levels`` (2,) of one problem."""
    boxes = jnp.stack([prior.tpr_box, prior.fpr_box])
    infeasible = jnp.any(boxes[:, 0] > boxes[:, 1]) | jnp.any(boxes < 0) | jnp.any(boxes > 1)
    bad = ~jnp.all(jnp.isfinite(c)) | jnp.any(c < 0)
    unit = jnp.array([0.0, 1.0])
    safe = JudgePrior(prior.theta_ab, prior.tpr_ab, prior.fpr_ab,
                      jnp.where(infeasible, unit, prior.tpr_box),
                      jnp.where(infeasible, unit, prior.fpr_box))
    grid = theta_grid(jnp.where(bad, 0.0, c), safe)
    t, p = grid.theta, grid.density
    step = t[1] - t[0]
    mean = step * jnp.sum(0.5 * (t[1:] * p[1:] + t[:-1] * p[:-1]))
    second = step * jnp.sum(0.5 * (t[1:] ** 2 * p[1:] + t[:-1] ** 2 * p[:-1]))
    sd = jnp.sqrt(jnp.maximum(second - mean**2, 0.0))
    out = jnp.stack([mean, grid_quantile(grid, 0.5), sd,
                     grid_quantile(grid, q_levels[0]), grid_quantile(grid, q_levels[1])])
    nonfinite = bad | ~jnp.all(jnp.isfinite(out))
    status = jnp.where(infeasible, Status.INFEASIBLE,
                       jnp.where(nonfinite, Status.NONFINITE, Status.CONVERGED))
    out = jnp.where(status == Status.CONVERGED, out, jnp.nan)
    return PosteriorSummary(*out, status.astype(jnp.int32))


def _with_side(post: PosteriorSummary, side: str) -> PosteriorSummary:
    """Puts the support bound at the uncomputed end (0 or 1), keeping NaN on failure."""
    ok = post.status == Status.CONVERGED
    if side == "upper":
        post = post._replace(lower=jnp.where(ok, 0.0, jnp.nan))
    elif side == "lower":
        post = post._replace(upper=jnp.where(ok, 1.0, jnp.nan))
    return post


def _levels(alpha, side):
    a_lo, a_hi = tail_alphas(alpha, side)
    return jnp.stack([a_lo, 1.0 - a_hi], -1)


# The side only moves the quantile levels, so one compilation serves every side.
_summary_jit = jax.jit(jax.vmap(_summary_one))


def posterior_summary(counts: Counts, prior: JudgePrior | None = None, *, alpha=0.05,
                      side: str = "upper") -> PosteriorSummary:
    """Posterior mean, median, sd and credible interval of theta (exact quadrature).

    Args:
      counts: :class:`~jaxcert.Counts`, fields of shape ``(...)``.
      prior: :class:`~jaxcert.bayes.JudgePrior` (fields ``(..., 2)``, broadcast with
        the counts); ``None`` = uniform on ``[0, 1]`` for theta, TPR and FPR.
      alpha: credible level ``1 - alpha``, in (0, 1); scalar or ``(...)``, traced.
      side: ``"upper"`` (default: ``[0, U]``), ``"lower"`` or ``"two-sided"``.

    Returns:
      :class:`PosteriorSummary` with the broadcast batch shape.

    Raises:
      ValueError: negative or non-finite counts, an empty calibration set, a bad
        prior (see :func:`~jaxcert.bayes.check_prior`), alpha outside (0, 1), an
        unknown side.

    Example:
      >>> from jaxcert.bayes import make_prior
      >>> c = Counts.create(1, 0, 3, 46, m1=120, m0=1880)
      >>> post = posterior_summary(c, make_prior([0.85, 0.95], [0.02, 0.08]))
      >>> 0.0 < float(post.median) < float(post.upper) < 0.1
      True
    """
    check_side(side)
    prior = make_prior() if prior is None else prior
    if is_concrete(counts, prior, alpha):
        Counts.create(*counts).validate()
        check_prior(prior)
        check_alpha(alpha)
    a = as_float(alpha)
    counts = Counts.create(*counts)
    pb = [jnp.asarray(f, jnp.float64) for f in prior]
    batch = jnp.broadcast_shapes(counts.shape, a.shape, *(f.shape[:-1] for f in pb))
    c = jnp.stack([jnp.broadcast_to(f, batch) for f in counts], -1).reshape(-1, 6)
    pf = JudgePrior(*(jnp.broadcast_to(f, batch + (2,)).reshape(-1, 2) for f in pb))
    out = _summary_jit(c, pf, _levels(jnp.broadcast_to(a, batch).reshape(-1), side))
    return _with_side(PosteriorSummary(*(v.reshape(batch) for v in out)), side)


def bayes_interval(counts: Counts, tpr_bounds, fpr_bounds, alpha, side: str) -> Interval:
    """Sim-registry estimator: default-prior posterior mean and credible interval.

    ``(counts, tpr_bounds, fpr_bounds, alpha, side) -> Interval`` on one problem
    (scalar count fields, ``(2,)`` boxes, traced alpha, static side), traceable: the
    runner vmaps it. Prior: ``theta ~ U(0, 1)``, ``s ~ U(tpr_bounds)``,
    ``r ~ U(fpr_bounds)``. Estimate = posterior mean; ``upper`` under
    ``side="upper"`` = posterior ``1 - alpha`` quantile.
    """
    check_side(side)
    ones = jnp.ones(2)
    prior = JudgePrior(ones, ones, ones, as_float(tpr_bounds), as_float(fpr_bounds))
    c = jnp.stack([as_float(f) for f in counts])
    post = _with_side(_summary_one(c, prior, _levels(as_float(alpha), side)), side)
    return Interval(post.mean, post.lower, post.upper, post.status)
