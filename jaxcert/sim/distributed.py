"""Splitting a sweep over processes and batch jobs: who computes which chunk.

A sweep is a fixed sequence of chunks (:mod:`jaxcert.sim.sweep`); chunk ``c`` holds
problems ``[c * C, (c + 1) * C)`` and its sums depend only on the study, never on who
computed it (replicate keys are ``fold_in(fold_in(key, data_id), replicate)``). So a
study splits two ways, which compose:

* **Shards** (``--shard I/K``, for batch schedulers): shard ``I`` of ``K`` owns the
  chunks ``c`` with ``c % K == I``; each shard is a separate job writing its own
  directory, and ``jaxcert sweep merge`` adds the chunks up in chunk order.
* **Processes** (:func:`jax.distributed.initialize`, one per host or GPU): within
  the chunks of a shard (or of the whole study), process ``p`` of ``P`` owns every
  ``P``-th one. Each process computes its chunks on its *local* devices; then
  :func:`gather_chunks` all-gathers the sums (one collective per round of chunks) so
  every process holds every chunk, and process 0 writes the table.

Round-robin ownership balances the load: neighbouring chunks hold similar scenarios
(the grid's last axes vary fastest), and costs vary along the grid.

CPU collectives: JAX 0.10 uses gloo for cross-process collectives on CPU by default
(``jax_cpu_collectives_implementation="gloo"``); older releases needed
``jax.config.update("jax_cpu_collectives_implementation", "gloo")`` before
initializing, which :func:`initialize_distributed` does when the option is unset.
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple

import jax
import numpy as np

__all__ = ["Shard", "parse_shard", "owned_chunks", "initialize_distributed",
           "maybe_initialize_distributed", "gather_chunks"]

#: Bytes of chunk sums all-gathered per collective (bounds the memory of a gather).
GATHER_BYTES = 1 << 26


class Shard(NamedTuple):
    """Shard ``index`` of ``count`` (``0 <= index < count``)."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(spec) -> Shard | None:
    """``None``, ``"I/K"``, ``(I, K)`` or a :class:`Shard` -> a :class:`Shard` (``None`` kept).

    ``0/1`` means the whole study and is returned as ``None``.

    Raises:
      ValueError: not of the form ``I/K`` with integers ``0 <= I < K``.
    """
    if spec is None:
        return None
    if isinstance(spec, str):
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", spec)
        pair = (int(m.group(1)), int(m.group(2))) if m else None
    elif isinstance(spec, (tuple, list)) and len(spec) == 2 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in spec):
        pair = (int(spec[0]), int(spec[1]))
    else:
        pair = None
    if pair is None or not 0 <= pair[0] < pair[1]:
        raise ValueError(f"--shard must be I/K with integers 0 <= I < K (e.g. 0/4); got {spec!r}")
    return None if pair[1] == 1 else Shard(*pair)


def owned_chunks(num_chunks: int, shard: Shard | None = None, process: int | None = None,
                 processes: int | None = None) -> list[int]:
    """Chunk indices computed by ``process`` of ``processes`` within ``shard``."""
    process = jax.process_index() if process is None else process
    processes = jax.process_count() if processes is None else processes
    mine = range(num_chunks) if shard is None else range(shard.index, num_chunks, shard.count)
    return list(mine)[process::processes]


def initialize_distributed(coordinator_address: str | None = None,
                           num_processes: int | None = None, process_id: int | None = None, *,
                           timeout_s: int = 300) -> None:
    """Joins a multi-process JAX run (wraps :func:`jax.distributed.initialize`).

    With no arguments JAX detects the cluster (SLURM, Open MPI, Kubernetes, ...).

    Args:
      coordinator_address: ``host:port`` of process 0.
      num_processes: number of processes.
      process_id: this process, ``0 <= process_id < num_processes``.
      timeout_s: seconds to wait for every process to join.
    """
    if jax.config.jax_cpu_collectives_implementation is None:  # pragma: no cover - old JAX
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=coordinator_address,
                               num_processes=num_processes, process_id=process_id,
                               initialization_timeout=int(timeout_s))


def maybe_initialize_distributed() -> bool:
    """Runs :func:`initialize_distributed` if ``JAXCERT_DISTRIBUTED=1``; returns whether."""
    if os.environ.get("JAXCERT_DISTRIBUTED", "") == "1":
        initialize_distributed()
        return True
    return False


def gather_chunks(parts: dict, owners: list[list[int]], rows: dict, width: tuple) -> dict:
    """Every process's chunk sums on every process (no-op with one process).

    Args:
      parts: ``{chunk: (first, sums)}`` computed by this process.
      owners: ``owners[p]``, the chunks of process ``p`` (:func:`owned_chunks`).
      rows: ``{chunk: number of scenario rows}`` for every chunk of ``owners``.
      width: the trailing shape ``(E, K)`` of every ``sums``.

    Returns:
      ``{chunk: (first, sums)}`` over all processes, bit-identical copies.
    """
    P = len(owners)
    if P == 1:
        return dict(parts)
    from jax.experimental import multihost_utils

    me = jax.process_index()
    slots = max(len(o) for o in owners)
    rmax = max(rows.values())
    per_round = max(1, min(slots, GATHER_BYTES // (8 * rmax * int(np.prod(width)))))
    out = {}
    for s0 in range(0, slots, per_round):
        s1 = min(s0 + per_round, slots)
        buf = np.zeros((s1 - s0, rmax) + tuple(width))
        first = np.full(s1 - s0, -1, dtype=np.int64)
        for j, c in enumerate(owners[me][s0:s1]):
            first[j], s = parts[c]
            buf[j, : s.shape[0]] = s
        got_buf, got_first = multihost_utils.process_allgather((buf, first))
        for p in range(P):
            for j, c in enumerate(owners[p][s0:s1]):
                out[c] = (int(got_first[p, j]), np.array(got_buf[p, j, : rows[c]]))
    return out
