"""The sweep runner: estimators x replicates x scenarios, vmapped, chunked, sharded.

Problems are numbered scenario-major: problem ``p`` is replicate ``p % R`` of
scenario ``p // R``. They are processed ``chunk_size`` at a time by ONE jitted
function (simulate the counts, apply every estimator, :func:`jax.vmap` over the
chunk); scenario parameters (``theta, tpr, fpr, n, N``, boxes, ``alpha``) are traced
arguments, so a new grid never recompiles (only the estimator set, ``side`` and the
chunk size are static). The last chunk is padded to full size and the padding masked.

Randomness: replicate ``i`` of a scenario with data id ``d`` uses
``fold_in(fold_in(key, d), i)``. Its counts therefore do not depend on the chunk
size, on the number of devices, on resuming, or on the box (scenarios differing only
by box share data: common random numbers).

Devices: each chunk is laid out with a :class:`jax.sharding.NamedSharding` over a
1-D mesh with axis ``"replica"`` spanning this process's *local* devices (the
compiled size is rounded up to a multiple of their number), and the jitted function
runs SPMD. Several processes (:func:`jax.distributed.initialize`, one per host or
GPU) split a sweep by chunks instead, each on its own devices, and exchange only the
chunk sums (:mod:`jaxcert.sim.distributed`).

Vmapped while-loops run every lane until the slowest converges and stop fitting the
CPU caches beyond a few thousand problems: keep ``chunk_size`` around 2048-4096.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxcert._numerics import as_float
from jaxcert._types import Interval
from jaxcert.sim.distributed import maybe_initialize_distributed
from jaxcert.sim.registry import ESTIMATORS, get_estimators
from jaxcert.sim.simulate import simulate_one

__all__ = ["build_chunk_fn", "run_problems", "maybe_initialize_distributed", "TRACE_COUNT"]

#: Number of times the chunk kernel has been traced (tests assert no recompilation).
TRACE_COUNT = {"chunk": 0}


def _problem(key, data_id, rep, theta, tpr, fpr, n, N, sb, fb, alpha, fns, side):
    k = jax.random.fold_in(jax.random.fold_in(key, data_id), rep)
    counts = simulate_one(k, theta, tpr, fpr, n, N)
    outs = [fn(counts, sb, fb, alpha, side) for fn in fns]
    return Interval(*(jnp.stack([jnp.reshape(as_float(getattr(o, f)), ()) for o in outs])
                      for f in ("estimate", "lower", "upper")),
                    jnp.stack([jnp.reshape(o.status, ()).astype(jnp.int32) for o in outs]))


@functools.partial(jax.jit, static_argnames=("fns", "side"))
def _chunk_kernel(key, data_id, rep, theta, tpr, fpr, n, N, sb, fb, alpha, fns, side):
    TRACE_COUNT["chunk"] += 1  # Python side effect: runs once per trace
    f = functools.partial(_problem, fns=fns, side=side)
    out = jax.vmap(f, in_axes=(None,) + (0,) * 10)(key, data_id, rep, theta, tpr, fpr, n, N,
                                                     sb, fb, alpha)
    return Interval(*(jnp.swapaxes(a, 0, 1) for a in out))  # (E, C)


@functools.lru_cache(maxsize=8)
def _mesh(devices: tuple):
    mesh = Mesh(np.array(devices), ("replica",))
    return NamedSharding(mesh, PartitionSpec("replica")), NamedSharding(mesh, PartitionSpec())


def build_chunk_fn(estimators, side: str):
    """The jitted chunk kernel for a set of registered estimators and a side.

    Returns ``fn(key, data_id, rep, theta, tpr, fpr, n, N, tpr_box, fpr_box, alpha)
    -> Interval`` whose fields are ``(E, C)`` arrays (C problems, E estimators);
    every argument but ``key`` is a ``(C,)`` array (boxes ``(C, 2)``).
    """
    names = get_estimators(estimators)
    fns = tuple(ESTIMATORS[k] for k in names)
    return functools.partial(_chunk_kernel, fns=fns, side=side)


def round_chunk(chunk_size: int) -> int:
    """``chunk_size`` rounded up to a multiple of the number of local devices."""
    nd = jax.local_device_count()
    return int(-(-int(chunk_size) // nd) * nd)


def run_problems(key, params: dict, *, estimators, side: str, chunk_size: int = 2048):
    """Runs one padded chunk of problems and returns host NumPy ``(E, P)`` outputs.

    Args:
      key: PRNG key.
      params: dict of ``(P,)`` arrays ``data_id, rep, theta, tpr, fpr, n, N, alpha``
        and ``(P, 2)`` arrays ``tpr_box, fpr_box`` with ``P <= chunk_size``.
      estimators: registered estimator names.
      side: the interval side (static).
      chunk_size: compiled size; ``P`` is padded up to it.

    Returns:
      :class:`~jaxcert.Interval` of NumPy arrays ``(E, P)``.
    """
    fn = build_chunk_fn(estimators, side)
    size = round_chunk(chunk_size)
    P = int(np.shape(params["theta"])[0])
    if P > size:
        raise ValueError(f"run_problems got {P} problems for a chunk of {size}")
    row, rep = _pad(params, P, size)
    return _call(fn, key, row, rep, P)


_ORDER = ("data_id", "theta", "tpr", "fpr", "n", "N", "tpr_box", "fpr_box", "alpha")


def _pad(params, P, size):
    idx = np.concatenate([np.arange(P), np.zeros(size - P, dtype=np.int64)])
    row = {k: np.asarray(params[k])[idx] for k in _ORDER}
    return row, np.asarray(params["rep"])[idx]


def _call(fn, key, row, rep, P):
    shard, repl = _mesh(tuple(jax.local_devices()))
    put = lambda x, dt: jax.device_put(np.asarray(x, dtype=dt), shard)  # noqa: E731
    args = [put(row["data_id"], np.int64), put(rep, np.int64)]
    args += [put(row[k], np.float64) for k in _ORDER[1:]]
    out = fn(jax.device_put(key, repl), *args)
    return Interval(*(np.asarray(a)[:, :P] for a in out))
