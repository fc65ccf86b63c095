"""Merging the shards of a sweep (``jaxcert sweep merge``): chunks in, one table out.

Every shard directory written by ``jaxcert sweep CONFIG --out DIR --shard I/K`` holds
``run.json`` (the study's fingerprint and description) and the checksummed chunk files
of shard ``I``. :func:`merge_sweeps` checks that all directories hold the same study,
that every chunk of it is present and intact, adds the chunks up in chunk order
(exactly as one unsharded run does, so the table is bit-identical) and writes a
complete sweep directory: ``run.json``, ``chunks/`` and the results table.
"""

from __future__ import annotations

import os
import shutil
import time

from jaxcert.sim import results as _res
from jaxcert.sim.sweep import SweepResult, accumulate, covers_truth, results_table

__all__ = ["merge_sweeps"]


def _read_run(d) -> dict:
    path = os.path.join(d, "run.json")
    if not os.path.isdir(d):
        raise ValueError(f"{d} is not a directory (give the shard directories of one sweep)")
    if not os.path.exists(path):
        raise ValueError(f"{d} is not a sweep directory (no run.json)")
    run = _res.read_run_json(path)
    study = run.get("study")
    if not isinstance(study, dict) or _res.fingerprint(study) != run["fingerprint"]:
        raise ValueError(f"{path} is corrupt (its study description does not match its "
                         "fingerprint); re-run that shard")
    return run


def _layout(study) -> tuple[int, int, int]:
    S = len(study["grid"]["theta"])
    total = S * int(study["replicates"])
    return S, total, -(-total // int(study["chunk_size"]))


def _missing_message(missing, num_chunks, shards):
    counts = {int(s.split("/")[1]) for s in shards if s}
    head = f"cannot merge: {len(missing)} of {num_chunks} chunks are missing"
    if len(counts) == 1:
        k = counts.pop()
        lost = sorted({c % k for c in missing})
        return (f"{head} (shard(s) {', '.join(f'{i}/{k}' for i in lost)} not given or "
                "unfinished); run them and merge all shard directories")
    return f"{head} (first: chunk {missing[0]}); run the missing shards and merge again"


def merge_sweeps(dirs, out_dir) -> SweepResult:
    """Merges shard directories of one study into ``out_dir`` (a complete sweep).

    Args:
      dirs: shard directories (any order; any split; overlaps are fine).
      out_dir: output directory (may be one of ``dirs``); gets ``run.json``,
        ``chunks/`` and ``results.csv`` (+ ``.parquet``).

    Returns:
      :class:`~jaxcert.sim.sweep.SweepResult` with ``grid=None`` and
      ``computed_chunks=0``.

    Raises:
      ValueError: no directories; a directory without a valid ``run.json``; studies
        that differ (fingerprints); chunks missing or corrupt in every copy (the
        message names the missing shards); ``out_dir`` holding another study.
    """
    t0 = time.perf_counter()
    dirs = [os.fspath(d) for d in dirs]
    if not dirs:
        raise ValueError("sweep merge needs at least one shard directory")
    runs = [_read_run(d) for d in dirs]
    fp = runs[0]["fingerprint"]
    for d, r in zip(dirs[1:], runs[1:], strict=True):
        if r["fingerprint"] != fp:
            raise ValueError(f"{d} holds a different study than {dirs[0]} (fingerprint "
                             f"{r['fingerprint']} != {fp}); merge only shards of one config")
    study = runs[0]["study"]
    S, _, num_chunks = _layout(study)
    parts, source, missing = {}, {}, []
    for c in range(num_chunks):
        for d in dirs:
            path = _res.chunk_path(d, c)
            if not os.path.exists(path):
                continue
            try:
                parts[c] = _res.read_chunk(path, fp)
            except _res.ChunkError:
                continue  # another copy may be intact; else reported as missing
            source[c] = path
            break
        else:
            missing.append(c)
    if missing:
        raise ValueError(_missing_message(missing, num_chunks, [r.get("shard") for r in runs]))
    names = tuple(study["estimators"])
    sums = accumulate(parts, S, len(names))
    cols = dict(study["grid"])
    cols["box_covers_truth"] = covers_truth(cols)
    table = results_table(cols, names, sums)
    _write(out_dir, runs[0], dirs, source, table, num_chunks, time.perf_counter() - t0)
    return SweepResult(table, sums, names, None, 0, time.perf_counter() - t0, None)


def _write(out_dir, run0, dirs, source, table, num_chunks, seconds):
    out_dir = os.fspath(out_dir)
    os.makedirs(os.path.join(out_dir, "chunks"), exist_ok=True)
    path = os.path.join(out_dir, "run.json")
    if os.path.exists(path):
        old = _res.read_run_json(path)
        if old.get("fingerprint") != run0["fingerprint"]:
            raise ValueError(f"{out_dir} holds a different study (fingerprint "
                             f"{old.get('fingerprint')}); merge into a new --out directory")
    for c, src in source.items():  # a complete sweep directory: resume finds every chunk
        dst = _res.chunk_path(out_dir, c)
        if not (os.path.exists(dst) and os.path.samefile(src, dst)):
            tmp = f"{dst}.tmp-{os.getpid()}"
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
    _res.write_table(table, out_dir)
    run = {k: run0[k] for k in ("fingerprint", "config", "study")}
    run.update(environment=_res.environment(), finished=True, shard=None,
               merged_from=[os.path.abspath(d) for d in dirs], num_chunks=num_chunks,
               seconds_last_call=seconds, computed_chunks_last_call=0,
               source_environment=run0.get("environment"))
    _res.write_json(path, run)
