"""Running a whole study: chunks, checkpoints, resume, the tidy results table.

:func:`run_sweep` walks the ``S x R`` problems in chunks (see
:mod:`jaxcert.sim.runner`), turns each chunk's intervals into additive sums per
(scenario, estimator) (:mod:`jaxcert.sim.metrics`), and, when ``out_dir`` is given,
saves them at once to ``out_dir/chunks/chunk-XXXXXX.npz``. A killed sweep re-run with
the same arguments skips every chunk already on disk and reproduces exactly the
numbers of an uninterrupted run: replicate keys depend only on (seed, data id,
replicate), and the final sums are always accumulated in chunk order.
"""

from __future__ import annotations

import os
import sys
import time
from typing import NamedTuple

import jax
import numpy as np

from jaxcert._validate import check_side
from jaxcert.sim import results as _res
from jaxcert.sim import runner as _run
from jaxcert.sim.metrics import SUM_FIELDS, replicate_sums, summarize
from jaxcert.sim.registry import get_estimators
from jaxcert.sim.scenarios import Grid

__all__ = ["SweepResult", "run_sweep", "grid_params"]


class SweepResult(NamedTuple):
    """Outcome of :func:`run_sweep`.

    Attributes:
      table: dict of NumPy columns, one row per (scenario, estimator): the grid
        columns, ``estimator``, and the metrics of :func:`~jaxcert.sim.metrics.summarize`.
      sums: float64 ``(S, E, len(SUM_FIELDS))`` additive sums.
      estimators: estimator names (axis 1 of ``sums``).
      grid: the :class:`~jaxcert.sim.scenarios.Grid`.
      computed_chunks: number of chunks computed in this call (the rest were loaded).
      seconds: wall time of this call.
    """

    table: dict
    sums: np.ndarray
    estimators: tuple
    grid: Grid
    computed_chunks: int
    seconds: float


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
              config: dict | None = None) -> SweepResult:
    """Simulates ``replicates`` data sets per scenario and applies every estimator.

    Args:
      key: PRNG key (``jax.random.key(seed)``).
      grid: scenarios (:func:`~jaxcert.sim.scenarios.product_grid`).
      replicates: replicates per scenario ``R >= 1``.
      estimators: registered names (:mod:`jaxcert.sim.registry`); ``None`` = defaults.
      side: ``"two-sided" | "upper" | "lower"`` for every interval.
      chunk_size: problems per compiled chunk (rounded up to a multiple of the
        number of devices); 2048-4096 is best on CPU.
      out_dir: where to checkpoint chunks and write ``run.json`` and the results
        table; ``None`` keeps everything in memory.
      progress: show a tqdm bar on stderr.
      config: the user-level configuration, recorded in ``run.json``.

    Returns:
      :class:`SweepResult`.

    Raises:
      ValueError: bad ``replicates``/``chunk_size``/``side``/estimators, or an
        ``out_dir`` holding the chunks of a different study.

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
    R, S = int(replicates), grid.size
    total = S * R
    chunk = min(_run.round_chunk(chunk_size), _run.round_chunk(total))
    key_data = np.asarray(jax.random.key_data(key)).tolist()
    desc = _describe(grid, names, side, R, chunk, key_data)
    fp = _res.fingerprint(desc)
    if out_dir is not None:
        _prepare_dir(out_dir, fp, desc, config)
    num_chunks = -(-total // chunk)
    bar = _bar(num_chunks, progress)
    sums = np.zeros((S, len(names), len(SUM_FIELDS)))
    parts, computed = [], 0
    for c in range(num_chunks):
        start, stop = c * chunk, min((c + 1) * chunk, total)
        got = _res.load_chunk(out_dir, c, fp) if out_dir is not None else None
        if got is None:
            got = _compute_chunk(key, grid, start, stop, R, names, side, chunk)
            computed += 1
            if out_dir is not None:
                _res.save_chunk(out_dir, c, got[0], got[1], fp)
        parts.append(got)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    for first, s in parts:  # fixed order: identical sums however the chunks were obtained
        sums[first:first + s.shape[0]] += s
    table = _table(grid, names, sums)
    seconds = time.perf_counter() - t0
    if out_dir is not None:
        _res.write_table(table, out_dir)
        run = _res_json(out_dir)
        run.update(finished=True, seconds_last_call=seconds, computed_chunks_last_call=computed,
                   num_chunks=num_chunks)
        _res.write_json(os.path.join(out_dir, "run.json"), run)
    return SweepResult(table, sums, names, grid, computed, seconds)


def _res_json(out_dir):
    import json

    with open(os.path.join(out_dir, "run.json")) as fh:
        return json.load(fh)


def _prepare_dir(out_dir, fp, desc, config):
    os.makedirs(os.path.join(out_dir, "chunks"), exist_ok=True)
    path = os.path.join(out_dir, "run.json")
    if os.path.exists(path):
        old = _res_json(out_dir)
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


def _table(grid, names, sums) -> dict:
    cols = grid.columns()
    S, E = sums.shape[:2]
    table = {k: np.repeat(np.asarray(v), E) for k, v in cols.items()}
    table["estimator"] = np.array(list(names) * S, dtype=object)
    for k, v in summarize(sums).items():
        table[k] = v.reshape(-1)
    return table
