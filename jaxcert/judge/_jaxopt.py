"""The one place jaxcert touches jaxopt: the paper-faithful projected-gradient mode.

jaxopt is unmaintained upstream (pinned to 0.8.5) and announces it with a
``DeprecationWarning`` on import; it is imported lazily, here only, with that warning
suppressed.

``pgd_solve`` runs ``jaxopt.ProjectedGradient`` on the per-observation negative
log-likelihood ``-l(theta, s, r) / (n + N)`` over the box, with EVERY setting explicit:
a fixed step size, no line search, no acceleration, ``maxiter`` steps and ``tol = 0``
(so exactly ``maxiter`` steps are taken). jaxopt's defaults (``tol=1e-3`` on the
gradient-mapping norm, FISTA acceleration, backtracking) stop early: on this
likelihood the iterate can stop far from the optimum (see
``benchmarks/bench_mle.py``), so the defaults are never used.

This mode reproduces "projected gradient, 200 fixed steps" from Shen et al. (2026);
it is not accurate (a fixed step either crawls along flat directions or oscillates
on steep ones). Use ``solver="newton"`` for estimates.
"""

from __future__ import annotations

import warnings

import jax.numpy as jnp

from jaxcert.judge.likelihood import _nll_derivs

__all__ = ["pgd_solve", "import_jaxopt"]


def import_jaxopt():
    """Imports jaxopt with its unmaintained-package DeprecationWarning silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import jaxopt
    return jaxopt


def pgd_solve(c, lo, hi, x0, num_steps: int, stepsize):
    """Fixed-step projected gradient on one problem via ``jaxopt.ProjectedGradient``.

    Args:
      c: (6,) counts ``(n11, n10, n01, n00, m1, m0)``.
      lo, hi: (3,) box for ``(theta, s, r)``.
      x0: (3,) starting point inside the box.
      num_steps: number of steps (static).
      stepsize: fixed step on the per-observation nll (may be traced).

    Returns:
      ``(x, nll, num_steps, kkt_residual)`` with ``nll`` unscaled and the residual as
      in :class:`~jaxcert.judge.solver.MLEResult`.
    """
    jaxopt = import_jaxopt()
    scale = jnp.maximum(jnp.sum(c), 1.0)

    def value_and_grad(x, counts):
        f, g, _ = _nll_derivs(counts, x, scale)
        return f, g

    pg = jaxopt.ProjectedGradient(
        fun=value_and_grad,
        value_and_grad=True,
        projection=jaxopt.projection.projection_box,
        stepsize=lambda _: stepsize,  # a callable, so the step may be traced
        maxiter=num_steps,
        tol=0.0,
        acceleration=False,
        implicit_diff=False,
        jit=True,
    )
    x, state = pg.run(x0, hyperparams_proj=(lo, hi), counts=c)
    f, g, _ = _nll_derivs(c, x, scale)
    kkt = jnp.max(jnp.abs(x - jnp.clip(x - g, lo, hi)))
    return x, f * scale, state.iter_num.astype(jnp.int32), kkt
