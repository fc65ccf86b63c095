"""Running a whole study: chunks, checkpoints, resume, shards, the tidy results table.

:func:`run_sweep` walks the ``S x R`` problems in chunks of ``chunk_size`` (see
:mod:`jaxcert.sim.runner`), turns each chunk's intervals into additive sums per
(scenario, estimator) (:mod:`jaxcert.sim.metrics`), and, when ``out_dir`` is given,
saves them at once to ``out_dir/chunks/chunk-XXXXXX.npz``. A killed sweep re-run with
the same arguments skips every chunk already on disk and reproduces exactly the
numbers of an uninterrupted run: replicate keys depend only on (seed, data id,
replicate), the chunk layout only on the study (not on the number of devices or
processes), and the final sums are always accumulated in chunk order. The same
property makes a sweep split over processes or shards (:mod:`jaxcert.sim.distributed`)
bit-identical to one run.
"""

from __future__ import annotations

import os
import sys
import time
from typing import NamedTuple

import jax
import numpy as np

from jaxcert._validate import check_side
from jaxcert.sim import distributed as _dist
from jaxcert.sim import results as _res
from jaxcert.sim import runner as _run
from jaxcert.sim.metrics import SUM_FIELDS, replicate_sums, summarize
from jaxcert.sim.registry import get_estimators
from jaxcert.sim.scenarios import Grid

__all__ = ["SweepResult", "run_sweep", "grid_params", "results_table", "chunk_rows"]


class SweepResult(NamedTuple):
    """Outcome of :func:`run_sweep`.

    Attributes:
      table: dict of NumPy columns, one row per (scenario, estimator): the grid
        columns, ``estimator``, and the metrics of :func:`~jaxcert.sim.metrics.summarize`;
        ``None`` for one shard of a study (merge the shards for the table).
      sums: float64 ``(S, E, len(SUM_FIELDS))`` additive sums (of this shard's
        chunks only when ``shard`` is set).
      estimators: estimator names (axis 1 of ``sums``).
      grid: the :class:`~jaxcert.sim.scenarios.Grid` (``None`` after a merge, which
        rebuilds the table from ``run.json``).
      computed_chunks: number of chunks computed in this call (the rest were loaded).
      seconds: wall time of this call.
      shard: the :class:`~jaxcert.sim.distributed.Shard` computed, or ``None``.
    """

    table: dict | None
    sums: np.ndarray
    estimators: tuple
    grid: Grid | None
    computed_chunks: int
    seconds: float
    shard: _dist.Shard | None = None

    def to_pandas(self):
        """The results table as a :class:`pandas.DataFrame` (needs pandas).

        Raises:
          ValueError: this is one shard of a study (no table yet).
        """
        if self.table is None:
            raise ValueError(f"shard {self.shard} has no results table; merge the shards "
                             "(jaxcert sweep merge) first")
        return _res.table_to_pandas(self.table)


def grid_params(grid: Grid, rows, reps) -> dict:
    """Per-problem parameter arrays for scenario rows ``rows`` and replicates ``reps``."""
    return {
        "data_id": grid.data_id[rows], "rep": reps, "theta": grid.theta[rows],
        "tpr": grid.tpr[rows], "fpr": grid.fpr[rows], "n": grid.n[rows], "N": grid.N[rows],
        "tpr_box": grid.tpr_box[rows], "fpr_box": grid.fpr_box[rows], "alpha": grid.alpha[rows],
    }


def _describe(grid, names, side, replicates, chunk, key_data):
    return {
        "grid": {k: v for k, v in grid.columns().items() if k != "box_covers_truth"},
        "estimators": list(names), "side": side, "replicates": replicates,
        "chunk_size": chunk, "key": key_data, "sum_fields": list(SUM_FIELDS),
    }


def chunk_rows(c: int, chunk: int, total: int, R: int) -> int:
    """Number of scenario rows spanned by chunk ``c``."""
    start, stop = c * chunk, min((c + 1) * chunk, total)
    return (stop - 1) // R - start // R + 1


def _compute_chunk(key, grid, start, stop, R, names, side, chunk):
    """Runs problems ``[start, stop)``; returns ``(first scenario, sums)``."""
    p = np.arange(start, stop)
    rows, reps = p // R, p % R
    out = _run.run_problems(key, grid_params(grid, rows, reps), estimators=names, side=side,
                            chunk_size=chunk)
    first = int(rows[0])
    num = int(rows[-1]) - first + 1
    sums = replicate_sums(grid.theta[rows], out.estimate, out.lower, out.upper, out.status,
                          rows, num, first=first)
    return first, sums


def run_sweep(key, grid: Grid, *, replicates: int, estimators=None, side: str = "upper",
              chunk_size: int = 2048, out_dir: str | None = None, progress: bool = False,
              config: dict | None = None, shard=None) -> SweepResult:
    """Simulates ``replicates`` data sets per scenario and applies every estimator.

    Under :func:`jax.distributed.initialize` every process calls this with the same
    arguments: each computes its own chunks on its local devices, the sums are
    all-gathered, and process 0 writes the files (see :mod:`jaxcert.sim.distributed`).

    Args:
      key: PRNG key (``jax.random.key(seed)``).
      grid: scenarios (:func:`~jaxcert.sim.scenarios.product_grid`).
      replicates: replicates per scenario ``R >= 1``.
      estimators: registered names (:mod:`jaxcert.sim.registry`); ``None`` = defaults.
      side: ``"two-sided" | "upper" | "lower"`` for every interval.
      chunk_size: problems per chunk (the compiled size is rounded up to a multiple of
        the number of local devices); 2048-4096 is best on CPU.
      out_dir: where to checkpoint chunks and write ``run.json`` and the results
        table; ``None`` keeps everything in memory.
      progress: show a tqdm bar on stderr.
      config: the user-level configuration, recorded in ``run.json``.
      shard: ``"I/K"`` (or ``(I, K)``): compute only shard ``I`` of ``K`` (chunks
        ``c % K == I``) and write its chunks; no table until the shards are merged
        (:func:`jaxcert.sim.merge.merge_sweeps`).

    Returns:
      :class:`SweepResult`.

    Raises:
      ValueError: bad ``replicates``/``chunk_size``/``side``/``shard``/estimators, an
        ``out_dir`` holding the chunks of a different study, or a corrupt ``run.json``.

    Warns:
      CorruptChunkWarning: a checkpointed chunk failed its checksum; it is recomputed.

    Example:
      >>> import jax
      >>> from jaxcert.sim import product_grid, run_sweep
      >>> g = product_grid(theta=0.1, n=50, N=1000, accuracy=0.9, box="+-0.05")
      >>> res = run_sweep(jax.random.key(0), g, replicates=64, estimators=["ppi"],
      ...                 chunk_size=64)
      >>> res.table["coverage"].shape
      (1,)
    """
    t0 = time.perf_counter()
    check_side(side)
    names = get_estimators(estimators)
    if isinstance(replicates, bool) or int(replicates) != replicates or replicates < 1:
        raise ValueError(f"replicates must be an integer >= 1; got {replicates!r}")
    if isinstance(chunk_size, bool) or int(chunk_size) != chunk_size or chunk_size < 1:
        raise ValueError(f"chunk_size must be an integer >= 1; got {chunk_size!r}")
    shard = _dist.parse_shard(shard)
    R, S = int(replicates), grid.size
    total = S * R
    chunk = min(int(chunk_size), total)  # the layout: independent of devices and processes
    key_data = np.asarray(jax.random.key_data(key)).tolist()
    desc = _describe(grid, names, side, R, chunk, key_data)
    fp = _res.fingerprint(desc)
    if out_dir is not None:
        _prepare_dir(out_dir, fp, desc, config)
    num_chunks = -(-total // chunk)
    P = jax.process_count()
    owners = [_dist.owned_chunks(num_chunks, shard, p, P) for p in range(P)]
    mine = owners[jax.process_index()]
    bar = _bar(len(mine), progress)
    parts, computed = {}, 0
    for c in mine:
        start, stop = c * chunk, min((c + 1) * chunk, total)
        got = _res.load_chunk(out_dir, c, fp) if out_dir is not None else None
        if got is None:
            got = _compute_chunk(key, grid, start, stop, R, names, side, chunk)
            computed += 1
            if out_dir is not None:
                _res.save_chunk(out_dir, c, got[0], got[1], fp)
        parts[c] = got
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    rows = {c: chunk_rows(c, chunk, total, R) for o in owners for c in o}
    parts = _dist.gather_chunks(parts, owners, rows, (len(names), len(SUM_FIELDS)))
    sums = accumulate(parts, S, len(names))
    seconds = time.perf_counter() - t0
    table = None if shard is not None else results_table(grid.columns(), names, sums)
    if out_dir is not None:
        if table is not None:
            _res.write_table(table, out_dir)
        run = _res.read_run_json(os.path.join(out_dir, "run.json")) if _res.is_writer() else {}
        run.update(finished=True, shard=None if shard is None else str(shard),
                   seconds_last_call=seconds, computed_chunks_last_call=computed,
                   num_chunks=num_chunks)
        _res.write_json(os.path.join(out_dir, "run.json"), run)
    return SweepResult(table, sums, names, grid, computed, seconds, shard)


def accumulate(parts: dict, S: int, E: int) -> np.ndarray:
    """Adds chunk sums in chunk order: the same bits however the chunks were obtained."""
    sums = np.zeros((S, E, len(SUM_FIELDS)))
    for c in sorted(parts):
        first, s = parts[c]
        sums[first:first + s.shape[0]] += s
    return sums


def _prepare_dir(out_dir, fp, desc, config):
    os.makedirs(os.path.join(out_dir, "chunks"), exist_ok=True)
    path = os.path.join(out_dir, "run.json")
    if os.path.exists(path):
        old = _res.read_run_json(path)
        if old.get("fingerprint") != fp:
            raise ValueError(
                f"{out_dir} holds a different study (fingerprint {old.get('fingerprint')} != "
                f"{fp}); use a new --out directory or delete it")
        return
    _res.write_json(path, {"fingerprint": fp, "config": config, "study": desc,
                           "environment": _res.environment(), "finished": False})


def _bar(total, progress):
    if not progress or not _res.is_writer():
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="sweep", unit="chunk", file=sys.stderr)


def covers_truth(cols: dict) -> np.ndarray:
    """Whether each scenario's TPR and FPR boxes contain the true rates."""
    f = {k: np.asarray(cols[k], dtype=float) for k in
         ("tpr", "fpr", "tpr_lo", "tpr_hi", "fpr_lo", "fpr_hi")}
    return ((f["tpr_lo"] <= f["tpr"]) & (f["tpr"] <= f["tpr_hi"])
            & (f["fpr_lo"] <= f["fpr"]) & (f["fpr"] <= f["fpr_hi"]))


def results_table(cols: dict, names, sums) -> dict:
    """One row per (scenario, estimator): grid columns ``cols``, ``estimator``, metrics."""
    S, E = sums.shape[:2]
    table = {k: np.repeat(np.asarray(v, dtype=object if k == "box" else None), E)
             for k, v in cols.items()}
    table["estimator"] = np.array(list(names) * S, dtype=object)
    for k, v in summarize(sums).items():
        table[k] = v.reshape(-1)
    return table
