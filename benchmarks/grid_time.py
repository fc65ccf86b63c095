"""Wall time of the full reproduction grid with the default estimators.

The grid of ``configs/reproduce_cmle.toml`` (1,250 scenarios x 1,000 replicates) is run
three times in one process, fresh output directories each time:

1. with the four default estimators (calibrated CMLE, PPI, PPI++, human-only), cold
   (XLA compile included) and again with the compiled kernels;
2. with ``naive`` only (judge-only Clopper-Pearson): the cost of simulating the counts
   and running the engine plus one cheap estimator.

The default run's table is then compared with the committed reproduction table
(``results/reproduce_cmle/results.csv``, same seed and chunking): the largest absolute
difference over every numeric column of the four estimators is reported, so a faster
solver that changed a result shows up here.

    python benchmarks/grid_time.py [--replicates R]

Writes ``results/grid_time_<platform>.{json,md}`` with the jax version and device.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

import jax

jax.config.update("jax_enable_x64", True)

from jaxcert.sim import load_config, run_sweep  # noqa: E402
from jaxcert.sim.registry import DEFAULT_ESTIMATORS  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def _timed(cfg, estimators, replicates, out):
    t0 = time.perf_counter()
    res = run_sweep(jax.random.key(cfg.seed), cfg.grid, replicates=replicates,
                    estimators=estimators, side=cfg.side, chunk_size=cfg.chunk_size,
                    out_dir=out, progress=False)
    return time.perf_counter() - t0, res.table


def _diff_to_committed(table):
    """``(max |difference|, {(scenario, estimator): a differing column})`` against the committed
    table over shared numeric columns; the dict lists rows that differ by more than 1e-8."""
    path = os.path.join(HERE, "results", "reproduce_cmle", "results.csv")
    if not os.path.exists(path):
        return None, {}
    with open(path, newline="") as fh:
        ref = {(int(r["scenario"]), r["estimator"]): r for r in csv.DictReader(fh)}
    worst, rows = 0.0, {}
    names = [k for k in table if k not in ("scenario", "estimator", "box")]
    for i in range(len(table["scenario"])):
        key = (int(table["scenario"][i]), str(table["estimator"][i]))
        row = ref.get(key)
        if row is None:
            return None, {}
        for k in names:
            if k in row and row[k] not in ("", "True", "False"):
                a, b = float(table[k][i]), float(row[k])
                if not (a == b or (a != a and b != b)):
                    worst = max(worst, abs(a - b))
                    if abs(a - b) > 1e-8:
                        rows.setdefault(key, k)
    return worst, rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=None)
    ap.add_argument("--child-cache", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    cfg = load_config(os.path.join(HERE, "configs", "reproduce_cmle.toml"))
    reps = args.replicates or cfg.replicates
    with tempfile.TemporaryDirectory() as tmp:
        if args.child_cache:  # row 4: a new process reading the cache the parent wrote
            jax.config.update("jax_compilation_cache_dir", args.child_cache)
            print(json.dumps({"seconds": _timed(cfg, DEFAULT_ESTIMATORS, reps, os.path.join(tmp, "c"))[0]}))
            return 0
        cache = os.path.join(tmp, "xla")
        jax.config.update("jax_compilation_cache_dir", cache)  # empty: the first run compiles
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
        default_s, table = _timed(cfg, DEFAULT_ESTIMATORS, reps, os.path.join(tmp, "default"))
        warm_s, _ = _timed(cfg, DEFAULT_ESTIMATORS, reps, os.path.join(tmp, "warm"))
        floor_s, _ = _timed(cfg, ("naive",), reps, os.path.join(tmp, "naive"))
        child = subprocess.run([sys.executable, os.path.abspath(__file__), "--child-cache", cache,
                                "--replicates", str(reps)], capture_output=True, text=True, check=True)
        cached_s = json.loads(child.stdout.strip().splitlines()[-1])["seconds"]
    diff, rows = _diff_to_committed(table) if reps == cfg.replicates else (None, {})
    dev = jax.devices()[0]
    out = {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
           "jax_version": jax.__version__, "platform": dev.platform,
           "device": str(dev.device_kind), "cpu_count": os.cpu_count(),
           "scenarios": cfg.grid.size, "replicates": reps,
           "estimators": list(DEFAULT_ESTIMATORS), "seconds_default": default_s,
           "seconds_default_compiled": warm_s,
           "seconds_naive_only": floor_s, "seconds_default_new_process_cached": cached_s, "max_abs_diff_to_committed_table": diff,
           "rows_differing_by_more_than_1e-8": [f"{sc}/{est}: {col}" for (sc, est), col
                                                in sorted(rows.items())]}
    base = os.path.join(HERE, "results", f"grid_time_{dev.platform}")
    with open(base + ".json", "w") as fh:
        json.dump(out, fh, indent=1)
    md = [f"# Reproduction grid wall time, {out['date']}", "",
          f"jax {out['jax_version']}, {out['platform']} ({out['device']}), "
          f"{out['cpu_count']} CPUs; {out['scenarios']} scenarios x {reps} replicates, "
          "including compilation.", "",
          "| run | seconds |", "|---|---|",
          f"| default estimators ({', '.join(DEFAULT_ESTIMATORS)}) | {default_s:.1f} |",
          f"| the same again in the same process (compiled: no XLA compile) | {warm_s:.1f} |",
          f"| `naive` only (simulation, engine, judge-only Clopper-Pearson) | {floor_s:.1f} |",
          f"| default estimators in a new process, XLA programs from the persistent cache "
          f"row 1 wrote (tracing and loading, no compile) | {cached_s:.1f} |",
          "", "Largest absolute difference to the committed reproduction table "
          f"(`results/reproduce_cmle/results.csv`, every numeric column): "
          f"{'not compared (partial run)' if diff is None else f'{diff:.2e}'}; rows "
          f"differing by more than 1e-8: {len(rows)} of {cfg.grid.size * 4}"
          + (f" ({', '.join(out['rows_differing_by_more_than_1e-8'])})." if rows else "."), ""]
    with open(base + ".md", "w") as fh:
        fh.write("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
