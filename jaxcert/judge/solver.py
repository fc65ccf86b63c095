"""Constrained MLE of the judge model: projected Newton over the box (theta, s, r).

Problem: maximise :func:`~jaxcert.judge.likelihood.loglik` over ``theta in [0, 1]``,
``s in [s_lo, s_hi]``, ``r in [r_lo, r_hi]``: a box in ``(theta, s, r)``.

Why a local method finds the global optimum: the map ``(theta, s, r) -> (theta, a, b)``
with ``a = theta s``, ``b = (1 - theta) r`` is a diffeomorphism of the open box onto a
polytope that maps the feasible box onto the feasible polytope, and the log-likelihood
is jointly concave in ``(theta, a, b)`` (see :mod:`jaxcert.judge.likelihood`). KKT
points correspond under the map, so every KKT point of the box problem is a global
maximum, and the maximising ``theta``-set is an interval (a point when n >= 1 and the
information is positive).

Algorithm (``solver="newton"``, default): Bertsekas' (1982) projected Newton. At each
step the epsilon-binding bounds (at a bound, gradient pointing out) are frozen; the
Newton direction on the free block uses the Hessian with eigenvalues replaced by their
absolute values (floored at ``1e-10 max|lambda|``), so it is a descent direction even
where the non-concave ``(theta, s, r)`` Hessian is indefinite; near the optimum the
reduced Hessian is positive definite and convergence is quadratic. The step length
is chosen by evaluating the objective along the projected arc ``P(x + 2^-k d)``,
``k = 0..29``, and along the scaled projected-gradient arc, all at once (no inner
loop), keeping the best candidate if it decreases the objective (monotone descent).
Gradient and Hessian are analytic. Everything runs in float64 in a ``lax.while_loop``.

``solver="pgd"`` is the paper-faithful reproduction mode: projected gradient with a
fixed step size and a fixed number of steps (200), through ``jaxopt.ProjectedGradient``
(:mod:`jaxcert.judge._jaxopt`). It is *not* accurate: see its docstring.

Statuses (precedence from first to last):

* ``NONFINITE``: a count or bound is NaN/inf, or a count is negative (outputs NaN);
* ``INFEASIBLE``: a box has ``lo > hi`` or leaves ``[0, 1]`` (outputs NaN);
* ``UNIDENTIFIED``: the box admits only a judge at or below chance (``s_hi <= r_lo``)
  or the fitted Youden index ``s - r`` is ``<= 1e-8``; the fit is still returned;
* ``MAX_STEPS``: the step cap was hit (or the line search stalled) before
  ``kkt_residual <= tol``; the best iterate is returned;
* ``CONVERGED``.

References:
  Bertsekas, D. P. (1982). Projected Newton methods for optimization problems with
  simple constraints. SIAM J. Control Optim. 20(2), 221-246.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxcert._numerics import as_float
from jaxcert._types import Status
from jaxcert._validate import check_box
from jaxcert.counts import Counts
from jaxcert.judge.likelihood import _nll_derivs, loglik

__all__ = ["MLEResult", "mle", "mle_batched"]

SOLVERS = ("newton", "pgd")

#: Distance to a bound within which :attr:`MLEResult.active` reports it active.
ACTIVE_TOL = 1e-10
#: Fitted Youden index ``s - r`` at or below which the fit is ``UNIDENTIFIED``.
UNIDENTIFIED_TOL = 1e-8
_NUM_NEWTON = 20  # Newton step lengths 2^-k, k = 0..19, tried at once per iteration
_NUM_GRADIENT = 10  # scaled projected-gradient step lengths 2^-k, k = 0..9


def is_concrete(*trees) -> bool:
    """True when no leaf of ``trees`` is a JAX tracer (eager validation possible)."""
    leaves = jax.tree_util.tree_leaves(trees)
    return not any(isinstance(v, jax.core.Tracer) for v in leaves)


def start_point(c, lo, hi):
    """Smoothed closed-form (Tenenbein) estimate projected into the box."""
    n11, n10, n01, n00, m1, m0 = c
    q = (n11 + n01 + m1 + 0.5) / (n11 + n10 + n01 + n00 + m1 + m0 + 1.0)
    p1j1 = (n11 + 0.5) / (n11 + n01 + 1.0)
    p1j0 = (n10 + 0.5) / (n10 + n00 + 1.0)
    t = p1j1 * q + p1j0 * (1.0 - q)
    x = jnp.stack([t, p1j1 * q / t, (1.0 - p1j1) * q / (1.0 - t)])
    return jnp.clip(x, lo, hi)


def _objective(c, x, scale):
    n11, n10, n01, n00, m1, m0 = c
    f = -loglik(x[..., 0], x[..., 1], x[..., 2], Counts(n11, n10, n01, n00, m1, m0)) / scale
    return jnp.where(jnp.isnan(f), jnp.inf, f)


def _kkt(x, g, lo, hi):
    k = jnp.max(jnp.abs(x - jnp.clip(x - g, lo, hi)))
    return jnp.where(jnp.all(jnp.isfinite(g)), k, jnp.inf)


def _spd_solve(a, b):
    """Solves the 3x3 SPD system ``a y = b`` by a closed-form Cholesky factorisation."""
    l11 = jnp.sqrt(a[0, 0])
    l21, l31 = a[1, 0] / l11, a[2, 0] / l11
    l22 = jnp.sqrt(jnp.maximum(a[1, 1] - l21 * l21, 1e-300))
    l32 = (a[2, 1] - l31 * l21) / l22
    l33 = jnp.sqrt(jnp.maximum(a[2, 2] - l31 * l31 - l32 * l32, 1e-300))
    z1 = b[0] / l11
    z2 = (b[1] - l21 * z1) / l22
    z3 = (b[2] - l31 * z1 - l32 * z2) / l33
    y3 = z3 / l33
    y2 = (z2 - l32 * y3) / l22
    y1 = (z1 - l21 * y2 - l31 * y3) / l11
    return jnp.stack([y1, y2, y3])


class _NewtonState(NamedTuple):
    x: jax.Array
    f: jax.Array
    g: jax.Array
    m: jax.Array
    kkt: jax.Array
    step: jax.Array
    stalled: jax.Array


def newton_solve(c, lo, hi, x0, max_steps, tol):
    """Projected Newton (see module docstring) for one problem.

    Returns ``(x, nll, converged, num_steps, kkt_residual)``; ``nll`` is unscaled.
    """
    scale = jnp.maximum(jnp.sum(c), 1.0)
    fixed = lo >= hi
    n11, n10, n01, n00 = c[0], c[1], c[2], c[3]
    barrier_lo = jnp.stack([n11 + n10 > 0, n11 > 0, n01 > 0])
    barrier_hi = jnp.stack([n01 + n00 > 0, n10 > 0, n00 > 0])
    alphas = 2.0 ** -jnp.arange(_NUM_NEWTON, dtype=jnp.float64)
    betas = 2.0 ** -jnp.arange(_NUM_GRADIENT, dtype=jnp.float64)

    def cond(st):
        return (st.step < max_steps) & (st.kkt > tol) & ~st.stalled

    def body(st):
        x, f, g, m = st.x, st.f, st.g, st.m
        g = jnp.where(jnp.isfinite(g), g, 0.0)
        m = jnp.where(jnp.isfinite(m), m, 0.0)
        dm = jnp.diag(m)
        hd = jnp.maximum(dm, 1e-12)
        eps = jnp.minimum(1e-3, jnp.max(jnp.abs(x - jnp.clip(x - g / hd, lo, hi))))
        binding = fixed | ((x <= lo + eps) & (g > 0)) | ((x >= hi - eps) & (g < 0))
        free = ~binding
        # Jacobi-scaled, ridge-regularised Newton system on the free block.
        sc = jnp.where(free & (dm > 0), 1.0 / jnp.sqrt(jnp.where(dm > 0, dm, 1.0)), 1.0)
        ms = jnp.where(free[:, None] & free[None, :], m * sc[:, None] * sc[None, :], 0.0)
        ms = ms + jnp.diag(jnp.where(free, 1e-12, 1.0))
        ms = ms + jnp.diag(jnp.where(free & (dm <= 0), 1.0, 0.0))
        d_newton = -sc * _spd_solve(ms, jnp.where(free, sc * g, 0.0))
        d_grad = -g / hd
        d = jnp.where(free, d_newton, d_grad)
        # Newton candidates along the straight line in the concave cell coordinates
        # (theta, a = theta s, b = (1 - theta) r), where the ridge q = a + b = const of
        # a large judge-only set is straight, mapped back and projected; then along the
        # straight line in (theta, s, r); then scaled projected-gradient steps.
        # The y-line is also tried up to the step where a free variable reaches its
        # bound (a_max, first order), so a flat ridge ending on a bound is followed.
        # A bound where the loglik is -inf (a positive count with zero probability) is
        # approached at most halfway per step.
        room = jnp.where(d > 0, hi - x, lo - x) / jnp.where(d != 0, d, 1.0)
        room = jnp.where(jnp.where(d > 0, barrier_hi, barrier_lo), 0.5 * room, room)
        a_max = jnp.min(jnp.where(free & (d != 0), jnp.maximum(room, 0.0), jnp.inf))
        steps = jnp.concatenate([alphas, jnp.minimum(a_max, 1.0) * betas])
        t, sv, rv = x
        df = jnp.where(free, d, 0.0)  # binding variables stay put on the y-line
        dy = jnp.stack([df[0], sv * df[0] + t * df[1], -rv * df[0] + (1.0 - t) * df[2]])
        y = jnp.stack([t, t * sv, (1.0 - t) * rv]) + steps[:, None] * dy
        ty = jnp.clip(y[:, 0], lo[0], hi[0])
        s_y = jnp.where(ty > 0, y[:, 1] / jnp.where(ty > 0, ty, 1.0), sv)
        r_y = jnp.where(ty < 1, y[:, 2] / jnp.where(ty < 1, 1.0 - ty, 1.0), rv)
        cand = jnp.concatenate([
            jnp.clip(jnp.stack([ty, s_y, r_y], -1), lo, hi),
            jnp.clip(x + alphas[:, None] * d, lo, hi),
            jnp.clip(x + betas[:, None] * d_grad, lo, hi),
        ])
        # Snap to a bound within 1e-14 (rounding leftovers such as theta = 1e-19).
        cand = jnp.where(cand - lo <= 1e-14, lo, jnp.where(hi - cand <= 1e-14, hi, cand))
        fc = _objective(c, cand, scale)
        best = jnp.argmin(fc)
        improved = fc[best] < f
        # The full Newton step wins ties within f's rounding error (near the optimum f
        # changes below it and the best candidate would be picked by noise).
        slack = 1e-15 * (jnp.abs(f) + 1.0)
        full = fc[0] <= jnp.minimum(f, fc[best]) + slack
        x_new = jnp.where(full, cand[0], jnp.where(improved, cand[best], x))
        f_new, g_new, m_new = _nll_derivs(c, x_new, scale)
        kkt = _kkt(x_new, g_new, lo, hi)
        # Stalled: no candidate decreased f, or the iterate did not move (the next step
        # would repeat this one exactly), or no candidate has a finite objective.
        stalled = ~(improved | full) | jnp.all(x_new == x) | ~jnp.isfinite(fc[best])
        return _NewtonState(x_new, f_new, g_new, m_new, kkt, st.step + 1, stalled)

    f0, g0, m0 = _nll_derivs(c, x0, scale)
    st = _NewtonState(x0, f0, g0, m0, _kkt(x0, g0, lo, hi), jnp.array(0, jnp.int32),
                      jnp.array(False))
    st = jax.lax.while_loop(cond, body, st)
    return st.x, st.f * scale, st.kkt <= tol, st.step, st.kkt


def status_of(bad_num, infeasible, unidentified, converged, finite):
    """Combines failure flags into one :class:`Status` code (int32)."""
    s = jnp.where(converged, Status.CONVERGED, Status.MAX_STEPS)
    s = jnp.where(unidentified, Status.UNIDENTIFIED, s)
    s = jnp.where(~finite, Status.NONFINITE, s)
    s = jnp.where(infeasible, Status.INFEASIBLE, s)
    s = jnp.where(bad_num, Status.NONFINITE, s)
    return s.astype(jnp.int32)



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
    """

    theta: jax.Array
    tpr: jax.Array
    fpr: jax.Array
    nll: jax.Array
    status: jax.Array
    num_steps: jax.Array
    kkt_residual: jax.Array
    active: jax.Array


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


def _solve_one(c, sb, fb, solver, max_steps, tol, pgd_stepsize):
    """Solves one problem; c is a (6,) vector of counts, sb/fb are (2,) boxes."""
    bad_num = ~jnp.all(jnp.isfinite(jnp.concatenate([c, sb, fb]))) | jnp.any(c < 0)
    infeasible = (sb[0] > sb[1]) | (fb[0] > fb[1]) | jnp.any(sb < 0) | jnp.any(sb > 1)
    infeasible = infeasible | jnp.any(fb < 0) | jnp.any(fb > 1)
    # Solve on a sanitised problem so that traced bad input cannot poison the loop.
    ok = ~(bad_num | infeasible)
    c_s = jnp.where(ok, c, jnp.array([1.0, 1.0, 1.0, 1.0, 0.0, 0.0]))
    lo = jnp.where(ok, jnp.array([0.0, sb[0], fb[0]]), 0.0)
    hi = jnp.where(ok, jnp.array([1.0, sb[1], fb[1]]), 1.0)
    x0 = start_point(c_s, lo, hi)
    if solver == "newton":
        x, f, conv, steps, kkt = newton_solve(c_s, lo, hi, x0, max_steps, tol)
    else:
        from jaxcert.judge._jaxopt import pgd_solve

        x, f, steps, kkt = pgd_solve(c_s, lo, hi, x0, max_steps, pgd_stepsize)
        conv = kkt <= tol
    status = status_of(bad_num, infeasible, (sb[1] <= fb[0]) | (x[1] - x[2] <= UNIDENTIFIED_TOL),
                       conv, jnp.isfinite(f))
    x = jnp.where(ok, x, jnp.nan)
    f = jnp.where(ok, f, jnp.nan)
    active = jnp.stack([x <= lo + ACTIVE_TOL, x >= hi - ACTIVE_TOL], -1) & ok
    return x, f, status, steps, kkt, active


def _mle_flat(c, sb, fb, tol, pgd_stepsize, solver, max_steps):
    fn = lambda c1, s1, f1: _solve_one(c1, s1, f1, solver, max_steps, tol, pgd_stepsize)  # noqa: E731
    return jax.vmap(fn)(c, sb, fb)


_mle_flat_jit = jax.jit(_mle_flat, static_argnames=("solver", "max_steps"))


def _prepare(counts, tpr_bounds, fpr_bounds, extra_shape=()):
    """Broadcasts counts (6 fields) and boxes to a common batch and flattens it."""
    counts = Counts.create(*counts)
    sb, fb = _box_arrays(tpr_bounds), _box_arrays(fpr_bounds)
    batch = jnp.broadcast_shapes(counts.shape, sb.shape[:-1], fb.shape[:-1], extra_shape)
    c = jnp.stack([jnp.broadcast_to(f, batch) for f in counts], -1).reshape(-1, 6)
    sb = jnp.broadcast_to(sb, batch + (2,)).reshape(-1, 2)
    fb = jnp.broadcast_to(fb, batch + (2,)).reshape(-1, 2)
    return c, sb, fb, batch


def _to_result(out, batch) -> MLEResult:
    x, f, status, steps, kkt, active = out
    x = x.reshape(batch + (3,))
    return MLEResult(
        theta=x[..., 0], tpr=x[..., 1], fpr=x[..., 2], nll=f.reshape(batch),
        status=status.reshape(batch), num_steps=steps.reshape(batch),
        kkt_residual=kkt.reshape(batch), active=active.reshape(batch + (3, 2)),
    )


def mle(counts: Counts, tpr_bounds=None, fpr_bounds=None, *, solver: str = "newton",
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
      solver: ``"newton"`` (accurate, default) or ``"pgd"`` (paper reproduction:
        projected gradient with fixed steps, via jaxopt).
      max_steps: step cap (static); default 100 for newton, 200 for pgd.
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
    if max_steps is None:
        max_steps = 100 if solver == "newton" else 200
    if int(max_steps) < 1:
        raise ValueError(f"max_steps must be a positive integer; got {max_steps!r}")
    if is_concrete(counts, tpr_bounds, fpr_bounds):
        _validate(Counts.create(*counts), tpr_bounds, fpr_bounds)
    c, sb, fb, batch = _prepare(counts, tpr_bounds, fpr_bounds)
    out = _mle_flat_jit(c, sb, fb, as_float(tol), as_float(pgd_stepsize),
                        solver=solver, max_steps=int(max_steps))
    return _to_result(out, batch)


def mle_batched(counts: Counts, tpr_bounds=None, fpr_bounds=None, *, chunk_size: int = 4096,
                **kwargs) -> MLEResult:
    """:func:`mle` over a large batch, solved ``chunk_size`` problems at a time.

    A vmapped ``while_loop`` runs every lane until the slowest converges and its
    working set outgrows the CPU caches: on CPU throughput falls off a cliff between
    4k and 8k problems per batch. This splits the flattened batch into chunks (the
    last one padded, so one compilation serves all) and loops over a jitted chunk
    solve in Python. Not traceable itself (use :func:`mle` inside ``jit``).

    Args:
      counts, tpr_bounds, fpr_bounds: as in :func:`mle`.
      chunk_size: problems per chunk (static).
      **kwargs: ``solver``, ``max_steps``, ``tol``, ``pgd_stepsize`` as in :func:`mle`.

    Returns:
      :class:`MLEResult` with the broadcast batch shape.

    Example:
      >>> c = Counts.create(jnp.full(10_000, 3.0), 1, 2, 44, m1=60, m0=940)
      >>> mle_batched(c, [0.8, 0.95], [0.0, 0.05], chunk_size=4096).theta.shape
      (10000,)
    """
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be a positive integer; got {chunk_size!r}")
    solver = kwargs.pop("solver", "newton")
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}; got {solver!r}")
    max_steps = kwargs.pop("max_steps", None) or (100 if solver == "newton" else 200)
    tol = as_float(kwargs.pop("tol", 1e-10))
    step = as_float(kwargs.pop("pgd_stepsize", 0.01))
    if kwargs:
        raise ValueError(f"unexpected keyword arguments: {sorted(kwargs)}")
    _validate(Counts.create(*counts), tpr_bounds, fpr_bounds)
    c, sb, fb, batch = _prepare(counts, tpr_bounds, fpr_bounds)
    total = c.shape[0]
    size = min(int(chunk_size), total)
    pad = (-total) % size
    if pad:
        c = jnp.concatenate([c, jnp.broadcast_to(c[:1], (pad, 6))])
        sb = jnp.concatenate([sb, jnp.broadcast_to(sb[:1], (pad, 2))])
        fb = jnp.concatenate([fb, jnp.broadcast_to(fb[:1], (pad, 2))])
    parts = [
        _mle_flat_jit(c[i:i + size], sb[i:i + size], fb[i:i + size], tol, step,
                      solver=solver, max_steps=int(max_steps))
        for i in range(0, total + pad, size)
    ]
    out = jax.tree_util.tree_map(lambda *a: jnp.concatenate(a)[:total], *parts)
    return _to_result(out, batch)
