"""Checking a labelling design by simulation: bound, coverage and labels saved vs SRS.

:func:`jaxcert.judge.design.design_labelling` optimises an asymptotic variance; what a
user pays for is the calibrated upper bound on small data. :func:`check_design`
simulates ``R`` data sets under the design and under simple random labelling (SRS),
computes the default certificate (the calibrated CMLE upper bound,
:func:`~jaxcert.judge.calibration.calibrated_bound`, vmapped) for each, and reports:

* the mean upper bound and its coverage ``P(theta <= U)`` with Monte-Carlo SE
  ``sqrt(p (1 - p) / R)``, under the design and under SRS with the same budget;
* labels saved: the SRS budget ``B*`` whose mean bound equals the design's, found by
  interpolating (in ``log B``) the SRS mean bound over a grid of budgets simulated
  with common random numbers (the same replicate keys at every budget, so the curve
  is smooth in ``B``), minus the design's budget. It is ``NaN`` (with
  ``beyond_grid=True``) when the design beats every SRS budget on the grid.

Stratified draw (O(1) per replicate, like :mod:`jaxcert.sim.simulate`): of the
``T = B + N`` items, ``K1 ~ Bin(T, q)`` are flagged; ``n1' = min(n1, K1)`` flagged items
are labelled, and the labels a short stratum cannot take go to the other one
(``n0' = min(B - n1', T - K1)``); then ``#failures among labelled flagged ~ Bin(n1', u)``
and among labelled unflagged ``~ Bin(n0', v)``. The reallocation depends on observed
verdicts only, so the likelihood (and the certificate) is unchanged by it.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxcert._numerics import as_float
from jaxcert.counts import Counts
from jaxcert.judge.calibration import calibrated_bound
from jaxcert.sim.simulate import _binomial, simulate_one

__all__ = ["DesignCheck", "check_design", "simulate_stratified"]


class DesignCheck(NamedTuple):
    """Outcome of :func:`check_design` (floats; arrays for the SRS budget curve).

    Attributes:
      budget: the design's label budget ``B``.
      mean_upper: mean calibrated upper bound under the design.
      mean_upper_se: its Monte-Carlo SE.
      coverage, coverage_se: ``P(theta <= U)`` under the design and its MC-SE.
      srs_mean_upper, srs_coverage, srs_coverage_se: the same under SRS with ``B`` labels.
      srs_budgets: the SRS budget grid ``(K,)``; srs_curve: SRS mean bound at each ``(K,)``.
      srs_equivalent: SRS budget reaching the design's mean bound (interpolated).
      labels_saved: ``srs_equivalent - B`` (``NaN`` if beyond the grid).
      beyond_grid: the design's mean bound is below the SRS mean at every grid budget.
      replicates: data sets per design.
    """

    budget: int
    mean_upper: float
    mean_upper_se: float
    coverage: float
    coverage_se: float
    srs_mean_upper: float
    srs_coverage: float
    srs_coverage_se: float
    srs_budgets: np.ndarray
    srs_curve: np.ndarray
    srs_equivalent: float
    labels_saved: float
    beyond_grid: bool
    replicates: int


def simulate_stratified(key, theta, tpr, fpr, n1, n0, N) -> Counts:
    """One data set under the stratified design (scalars; pure, jit/vmap-able, traced)."""
    theta, s, r = as_float(theta), as_float(tpr), as_float(fpr)
    n1, n0, N = (jnp.round(as_float(x)).astype(jnp.int64) for x in (n1, n0, N))
    q = theta * s + (1 - theta) * r
    u, v = theta * s / q, theta * (1 - s) / (1 - q)
    T = n1 + n0 + N
    k1, k2, k3 = jax.random.split(key, 3)
    K1 = _binomial(k1, T, q)
    a1 = jnp.minimum(n1, K1)
    a0 = jnp.minimum(n1 + n0 - a1, T - K1)
    f1, f0 = _binomial(k2, a1, u), _binomial(k3, a0, v)
    cells = (f1, f0, a1 - f1, a0 - f0, K1 - a1, T - K1 - a0)
    return Counts(*(as_float(c) for c in cells))


def _upper_one(key, theta, tpr, fpr, n1, n0, N, stratified, sb, fb, alpha):
    # Both draws are cheap next to the bound; selecting one keeps a single compiled kernel.
    strat = simulate_stratified(key, theta, tpr, fpr, n1, n0, N)
    srs = simulate_one(key, theta, tpr, fpr, n1 + n0, N)
    c = Counts(*(jnp.where(stratified, a, b) for a, b in zip(strat, srs, strict=True)))
    return calibrated_bound(c, sb, fb, alpha, "upper").upper


_uppers = jax.jit(jax.vmap(_upper_one))


def _box(b):
    return np.array([0.0, 1.0] if b is None else b, dtype=float)


def _rate(hits, R):
    p = float(np.mean(hits))
    return p, float(np.sqrt(p * (1 - p) / R))


def check_design(key, *, theta, tpr, fpr, n_flagged, n_unflagged, N, tpr_bounds=None,
                 fpr_bounds=None, alpha=0.05, replicates=1000, srs_budgets=None) -> DesignCheck:
    """Simulates a design and simple random labelling; see the module docstring.

    Args:
      key: PRNG key (first, never hidden).
      theta, tpr, fpr: the true failure rate and judge TPR / FPR of the simulation.
      n_flagged, n_unflagged: the design (labels among flagged / unflagged items).
      N: unlabelled items (the pool holds ``n_flagged + n_unflagged + N``).
      tpr_bounds, fpr_bounds: CMLE boxes ``(lo, hi)`` (``None``: ``[0, 1]``).
      alpha: one-sided level of the bound.
      replicates: data sets per design and per SRS budget.
      srs_budgets: SRS budgets to interpolate over (default ``B`` times 17 factors
        from 0.5 to 8, always including ``B``).

    Returns:
      :class:`DesignCheck`.

    Example:
      >>> import jax
      >>> chk = check_design(jax.random.key(0), theta=0.1, tpr=0.9, fpr=0.1, n_flagged=30,
      ...                    n_unflagged=30, N=500, replicates=50)
      >>> 0.0 <= chk.coverage <= 1.0
      True
    """
    B = int(n_flagged) + int(n_unflagged)
    if min(int(n_flagged), int(n_unflagged)) < 0 or B < 1:
        raise ValueError(f"the design needs >= 0 labels per stratum and >= 1 in all; got "
                         f"{n_flagged}, {n_unflagged}")
    R = int(replicates)
    if R < 10:
        raise ValueError(f"replicates must be an integer >= 10; got {replicates!r}")
    if srs_budgets is None:
        srs_budgets = np.unique(np.round(B * np.geomspace(0.5, 8.0, 17)).astype(int))
    grid = np.unique(np.append(np.asarray(srs_budgets, dtype=int), B))
    grid = grid[grid >= 1]
    K = grid.size
    # rows: the design, then each SRS budget; replicate keys shared across rows (CRN)
    n1 = np.concatenate([[float(n_flagged)], grid.astype(float)])
    n0 = np.concatenate([[float(n_unflagged)], np.zeros(K)])
    strat = np.concatenate([[True], np.zeros(K, bool)])
    keys = jax.random.split(key, R)
    rows = K + 1
    rep = lambda x: jnp.repeat(jnp.asarray(x), R, axis=0)  # noqa: E731
    full = lambda x: jnp.full(rows * R, float(x))  # noqa: E731
    up = _uppers(jnp.concatenate([keys] * rows), full(theta), full(tpr),
                 full(fpr), rep(n1), rep(n0), full(N), rep(strat),
                 jnp.tile(_box(tpr_bounds), (rows * R, 1)),
                 jnp.tile(_box(fpr_bounds), (rows * R, 1)), full(alpha))
    up = np.asarray(up).reshape(rows, R)
    up = np.where(np.isfinite(up), up, 1.0)  # a failed bound certifies nothing
    covered = up >= theta
    curve = up[1:].mean(axis=1)
    at_b = int(np.nonzero(grid == B)[0][0]) + 1
    mean_d = float(up[0].mean())
    # the SRS curve falls with B; enforce monotonicity against MC noise before inverting it
    mono = np.minimum.accumulate(curve)
    beyond = bool(mean_d < mono[-1])
    if beyond or mean_d > mono[0]:
        equiv = float("nan")
    else:
        equiv = float(np.exp(np.interp(-mean_d, -mono, np.log(grid))))
    cov, cov_se = _rate(covered[0], R)
    scov, scov_se = _rate(covered[at_b], R)
    return DesignCheck(B, mean_d, float(up[0].std(ddof=1) / np.sqrt(R)), cov, cov_se,
                       float(up[at_b].mean()), scov, scov_se, grid, curve, equiv,
                       equiv - B, beyond, R)
