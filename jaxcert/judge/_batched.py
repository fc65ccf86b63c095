"""Chunked CMLE over batches too large for one call (:func:`mle_batched`)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxcert._numerics import as_float
from jaxcert.counts import Counts
from jaxcert.judge.solver import (SOLVERS, MLEResult, _max_steps, _mle_flat_jit, _prepare,
                                  _to_result, _validate)

__all__ = ["mle_batched"]


def mle_batched(counts: Counts, tpr_bounds=None, fpr_bounds=None, *, chunk_size: int = 4096,
                **kwargs) -> MLEResult:
    """:func:`mle` over a large batch, solved ``chunk_size`` problems at a time.

    The iterative solvers run a vmapped ``while_loop`` until the slowest lane
    converges, and its working set outgrows the CPU caches: on CPU throughput falls
    off a cliff between 4k and 8k problems per batch. The default exact solver has no
    loop and no such cliff; chunks then only bound the memory. This splits the
    flattened batch into chunks (the last one padded, so one compilation serves all)
    and loops over a jitted chunk solve in Python. Not traceable itself (use
    :func:`mle` inside ``jit``).

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
    solver = kwargs.pop("solver", "exact")
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}; got {solver!r}")
    max_steps = _max_steps(solver, kwargs.pop("max_steps", None))
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
