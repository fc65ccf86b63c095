"""Constrained MLE of the judge model over the box (theta, s, r).

Problem: maximise :func:`~jaxcert.judge.likelihood.loglik` over ``theta in [0, 1]``,
``s in [s_lo, s_hi]``, ``r in [r_lo, r_hi]``. In the cell coordinates
``(theta, a = theta s, b = (1 - theta) r)`` the log-likelihood is concave and the box
is four linear constraints (:mod:`jaxcert.judge.likelihood`), so the maximum is the
stationary point of the sub-problem of its active set.

Solvers:

* ``"exact"`` (default): enumerates the active sets and solves each KKT sub-problem
  in closed form (interior UMLE, the four faces and four corners by cubic roots,
  ``theta`` at 0 and 1), then keeps the best feasible candidate
  (:mod:`jaxcert.judge._exact`). No loop runs to convergence (its two loops have fixed
  trip counts and only keep XLA:CPU from recomputing long chains): every vmapped lane
  costs the same, and the result is the global optimum, also on the flat ridges of large
  judge-only sets with empty calibration cells where a local method stalls. Where the
  maximiser is not unique (a segment of ``theta``), it returns the segment's midpoint,
  and every solver reports the segment (``theta_lo``, ``theta_hi``).
* ``"newton"``: projected Newton in a ``while_loop``
  (:mod:`jaxcert.judge._kkt_newton`), kept as an independent cross-check.
* ``"pgd"``: the paper-faithful reproduction mode, projected gradient with a fixed
  step size and 200 fixed steps through ``jaxopt.ProjectedGradient``
  (:mod:`jaxcert.judge._jaxopt`). It is *not* accurate.

Statuses (precedence from first to last):

* ``NONFINITE``: a count or bound is NaN/inf, or a count is negative (outputs NaN),
  or no point of the box has positive probability;
* ``INFEASIBLE``: a box has ``lo > hi`` or leaves ``[0, 1]`` (outputs NaN);
* ``UNIDENTIFIED``: the box admits only a judge at or below chance (``s_hi <= r_lo``)
  or the fitted Youden index ``s - r`` is ``<= 1e-8``; the fit is still returned;
* ``MAX_STEPS``: ``kkt_residual > tol`` at the returned point (the step cap or a
  stalled line search for the iterative solvers); the best point is returned;
* ``CONVERGED``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxcert._numerics import as_float
from jaxcert._validate import check_box, check_box_shapes, is_concrete
from jaxcert.counts import Counts
from jaxcert.judge._lane_solve import UNIDENTIFIED_TOL as UNIDENTIFIED_TOL  # re-exported (statuses)
from jaxcert.judge._lane_solve import mle_kernel, solve_problem

__all__ = ["MLEResult", "mle", "mle_kernel", "mle_trusted"]

SOLVERS = ("exact", "newton", "pgd")


class MLEResult(NamedTuple):
    """Result of :func:`mle` (a pytree; every field has the batch shape ``(...)``).

    Attributes:
      theta, tpr, fpr: the constrained MLE ``(theta, s, r)``.
      nll: negative log-likelihood at the estimate (constants dropped).
      status: int32 :class:`~jaxcert.Status` code.
      num_steps: int32 number of solver iterations.
      kkt_residual: ``max_i |x_i - P(x_i - g_i)|`` with ``g`` the gradient of the
        per-observation negative log-likelihood ``nll / (n + N)`` and ``P`` the
        projection on the box: 0 exactly at a KKT point.
      active: bool array of shape ``(..., 3, 2)``; ``active[..., i, 0]`` says
        parameter ``i`` (0 = theta, 1 = tpr, 2 = fpr) is at its lower bound (within
        ``1e-10``), ``active[..., i, 1]`` at its upper bound.
      theta_lo, theta_hi: the range of ``theta`` over ALL maximisers. Equal to
        ``theta`` when the data pin it; a segment on a flat ridge (a calibration
        column ``J = 0`` or ``J = 1`` with no labelled item, and similar patterns of
        empty cells: :mod:`jaxcert.judge._ridge`), where the box alone places
        ``theta`` and the exact solver returns the segment's midpoint.
    """

    theta: jax.Array
    tpr: jax.Array
    fpr: jax.Array
    nll: jax.Array
    status: jax.Array
    num_steps: jax.Array
    kkt_residual: jax.Array
    active: jax.Array
    theta_lo: jax.Array
    theta_hi: jax.Array


def _hyper(x):
    """A scalar hyper-parameter for the jitted solve (traced: new values never recompile).

    Python numbers go in as NumPy float64 scalars, which the jit call converts in its
    fast path: ``jnp.asarray`` of a Python float costs a dispatch (~0.1 ms).
    """
    return np.float64(x) if isinstance(x, (int, float)) else as_float(x)


def _box_arrays(bounds):
    return jnp.asarray(np.array([0.0, 1.0]) if bounds is None else bounds, dtype=jnp.float64)


def _validate(counts: Counts, tpr_bounds, fpr_bounds) -> None:
    counts.validate()
    sb = check_box(tpr_bounds, "tpr_bounds")
    fb = check_box(fpr_bounds, "fpr_bounds")
    if np.any(sb[..., 1] <= fb[..., 0]):
        raise ValueError(
            "tpr_bounds and fpr_bounds admit only a judge at or below chance "
            f"(tpr_hi <= fpr_lo: tpr_bounds={tpr_bounds!r}, fpr_bounds={fpr_bounds!r}); "
            "theta is not identified: expected tpr_hi > fpr_lo"
        )


#: Problems per block of a large exact batch (static shapes, so chosen at trace time).
EXACT_BLOCK = 8192


def _exact_blocks(columns, sb, fb, tol, max_steps):
    """The exact solve of a large flat batch, one cache-sized block per loop trip.

    One pass over a million problems streams every intermediate through main memory;
    blocks that fit the caches were 26% faster per problem on 2 CPU cores. Each trip
    slices its block from the six count columns (never stacked whole) and writes the
    result fields into the outputs in place, so a call allocates its outputs and little
    else. With a padded copy of the inputs, a stacked count array and sliced copies of
    the outputs, a 1M batch faulted in 190 MB of fresh pages per call (47k faults, 0
    to 6k now), and a call after other work ran at 0.38-0.64M problems/s in this VM
    (1.20-1.32M now, 2 CPU cores). The last block starts at ``total - EXACT_BLOCK``: it
    overlaps the one before and recomputes a few problems to identical values.
    """
    total = sb.shape[0]

    def solve(start):
        c = jnp.stack([jax.lax.dynamic_slice_in_dim(v, start, EXACT_BLOCK) for v in columns], -1)
        block = [jax.lax.dynamic_slice_in_dim(v, start, EXACT_BLOCK) for v in (sb, fb)]
        return _result_fields(_mle_flat(c, *block, tol, 0.0, "exact", max_steps))

    shapes = jax.eval_shape(solve, 0)
    outs = tuple(jnp.zeros((total,) + v.shape[1:], v.dtype) for v in shapes)

    def trip(i, outs):
        start = jnp.minimum(i * EXACT_BLOCK, total - EXACT_BLOCK)
        return tuple(jax.lax.dynamic_update_slice_in_dim(o, r, start, 0)
                     for o, r in zip(outs, solve(start), strict=True))

    return jax.lax.fori_loop(0, -(-total // EXACT_BLOCK), trip, outs)


def _blocked(solver, num_problems) -> bool:
    """Whether a flat batch of this size is solved block by block (:func:`_exact_blocks`)."""
    return solver == "exact" and num_problems > 2 * EXACT_BLOCK


def _mle_flat(c, sb, fb, tol, pgd_stepsize, solver, max_steps):
    if _blocked(solver, c.shape[0]):  # a large mle_batched chunk
        th, tp, fp, f, status, steps, kkt, active, lo, hi = _exact_blocks(
            list(c.T), sb, fb, tol, max_steps)
        return jnp.stack([th, tp, fp], -1), f, status, steps, kkt, active, jnp.stack([lo, hi], -1)
    if solver == "exact":
        # Structure of arrays (batch axis last): XLA:CPU runs the closed-form solve
        # fastest in that layout (_exact.exact_solve).
        x, f, status, steps, kkt, active, t_range = solve_problem(c.T, sb.T, fb.T, solver,
                                                               max_steps, tol, pgd_stepsize)
        return x.T, f, status, steps, kkt, jnp.moveaxis(active, 1, 0), t_range.T
    fn = lambda c1, s1, f1: solve_problem(c1, s1, f1, solver, max_steps, tol, pgd_stepsize)  # noqa: E731
    return jax.vmap(fn)(c, sb, fb)


_mle_flat_jit = jax.jit(_mle_flat, static_argnames=("solver", "max_steps"))


def _prepare(counts, tpr_bounds, fpr_bounds, extra_shape=(), stack=True):
    """Broadcasts counts (6 fields) and boxes to a common batch and flattens it; the
    counts as one ``(N, 6)`` array, or with ``stack=False`` as six ``(N,)`` columns."""
    check_box_shapes(tpr_bounds, fpr_bounds)  # static shapes: also under jit
    counts = Counts.create(*counts)
    sb, fb = _box_arrays(tpr_bounds), _box_arrays(fpr_bounds)
    batch = jnp.broadcast_shapes(counts.shape, sb.shape[:-1], fb.shape[:-1], extra_shape)
    c = [jnp.broadcast_to(f, batch).reshape(-1) for f in counts]
    sb = jnp.broadcast_to(sb, batch + (2,)).reshape(-1, 2)
    fb = jnp.broadcast_to(fb, batch + (2,)).reshape(-1, 2)
    return (jnp.stack(c, -1) if stack else c), sb, fb, batch


def _result_fields(out):
    """A flat solve's ``(x, f, status, steps, kkt, active, t_range)`` as MLEResult's fields."""
    x, f, status, steps, kkt, active, t_range = out
    return (x[:, 0], x[:, 1], x[:, 2], f, status, steps, kkt, active, t_range[:, 0], t_range[:, 1])


def _shaped(fields, batch) -> MLEResult:
    return MLEResult(*(v.reshape(batch + v.shape[1:]) for v in fields))


def _to_result(out, batch) -> MLEResult:
    return _shaped(_result_fields(out), batch)


def _mle_whole(counts, sb, fb, tol, pgd_stepsize, solver, max_steps):
    c, sb, fb, batch = _prepare(counts, sb, fb, stack=False)
    if _blocked(solver, sb.shape[0]):
        return _shaped(_exact_blocks(c, sb, fb, tol, max_steps), batch)
    return _to_result(_mle_flat(jnp.stack(c, -1), sb, fb, tol, pgd_stepsize, solver, max_steps), batch)


# Broadcasting, flattening and splitting the result inside the one jitted call: run
# eagerly they are a dozen dispatches, about 1 ms per call, nearly half the cost of a
# 1k-problem solve (2.4 ms) on 2 CPU cores.
_mle_jit = jax.jit(_mle_whole, static_argnames=("solver", "max_steps"))


def mle_trusted(counts: Counts, tpr_bounds=None, fpr_bounds=None) -> MLEResult:
    """:func:`mle` (exact solver) of one problem already validated by a front door."""
    return _mle_jit(Counts.create(*counts), _box_arrays(tpr_bounds), _box_arrays(fpr_bounds),
                    _hyper(1e-10), _hyper(0.01), solver="exact", max_steps=1)


def _max_steps(solver, max_steps):
    if max_steps is not None and int(max_steps) < 1:
        raise ValueError(f"max_steps must be a positive integer; got {max_steps!r}")
    if solver == "exact":
        return 1  # unused: one compilation whatever was passed
    return int(max_steps) if max_steps is not None else (100 if solver == "newton" else 200)


def mle(counts: Counts, tpr_bounds=None, fpr_bounds=None, *, solver: str = "exact",
        max_steps: int | None = None, tol=1e-10, pgd_stepsize=0.01) -> MLEResult:
    """Constrained maximum-likelihood estimate of the failure rate (CMLE).

    ``argmax l(theta, s, r)`` over ``theta in [0, 1]``, ``s in tpr_bounds``,
    ``r in fpr_bounds`` (see the module docstring for the algorithm and why it
    reaches the global optimum). Pure; jit- and vmap-able; counts, bounds, ``tol``
    and ``pgd_stepsize`` may be traced (new values never recompile), ``solver`` and
    ``max_steps`` are static. With concrete inputs the data are validated eagerly;
    with traced inputs problems are reported through ``status``.

    Args:
      counts: :class:`~jaxcert.Counts`, fields of shape ``(...)``.
      tpr_bounds: ``[s_lo, s_hi]``, array of shape ``(..., 2)``; ``None`` = [0, 1].
      fpr_bounds: ``[r_lo, r_hi]``, array of shape ``(..., 2)``; ``None`` = [0, 1].
      solver: ``"exact"`` (closed-form active-set enumeration, default),
        ``"newton"`` (projected Newton cross-check) or ``"pgd"`` (paper
        reproduction: projected gradient with fixed steps, via jaxopt).
      max_steps: step cap (static; newton and pgd only); default 100 for newton,
        200 for pgd.
      tol: ``kkt_residual`` threshold for ``Status.CONVERGED``.
      pgd_stepsize: fixed step on the per-observation nll (``solver="pgd"`` only).

    Returns:
      :class:`MLEResult` with batch shape broadcast from counts and bounds.

    Raises:
      ValueError: (concrete inputs only) invalid counts, a bound outside [0, 1],
        ``lo > hi``, ``tpr_hi <= fpr_lo`` (judge at or below chance), an unknown solver.

    Example:
      >>> c = Counts.create(3, 1, 2, 44, m1=60, m0=940)
      >>> res = mle(c, tpr_bounds=[0.8, 0.95], fpr_bounds=[0.0, 0.05])
      >>> int(res.status)
      0
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}; got {solver!r}")
    max_steps = _max_steps(solver, max_steps)
    counts = Counts.create(*counts)
    if is_concrete(counts, tpr_bounds, fpr_bounds):
        _validate(counts, tpr_bounds, fpr_bounds)
    return _mle_jit(counts, _box_arrays(tpr_bounds), _box_arrays(fpr_bounds), _hyper(tol),
                    _hyper(pgd_stepsize), solver=solver, max_steps=int(max_steps))
