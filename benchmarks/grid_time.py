"""Wall time of the full reproduction grid with the default estimators.

The grid of ``configs/reproduce_cmle.toml`` (1,250 scenarios x 1,000 replicates) is run
twice in one process, fresh output directories each time:

1. with the four default estimators (calibrated CMLE, PPI, PPI++, human-only);
2. with ``naive`` only: the cost of simulating the counts and running the engine,
   a floor no estimator can go below.

    python benchmarks/grid_time.py [--replicates R]

Writes ``results/grid_time_<platform>.{json,md}`` with the jax version and device.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import tempfile
import time

import jax

jax.config.update("jax_enable_x64", True)

from jaxcert.sim import load_config, run_sweep  # noqa: E402
from jaxcert.sim.registry import DEFAULT_ESTIMATORS  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def _timed(cfg, estimators, replicates, out):
    t0 = time.perf_counter()
    run_sweep(jax.random.key(cfg.seed), cfg.grid, replicates=replicates, estimators=estimators,
              side=cfg.side, chunk_size=cfg.chunk_size, out_dir=out, progress=False)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=None)
    args = ap.parse_args(argv)
    cfg = load_config(os.path.join(HERE, "configs", "reproduce_cmle.toml"))
    reps = args.replicates or cfg.replicates
    with tempfile.TemporaryDirectory() as tmp:
        default_s = _timed(cfg, DEFAULT_ESTIMATORS, reps, os.path.join(tmp, "default"))
        floor_s = _timed(cfg, ("naive",), reps, os.path.join(tmp, "naive"))
    dev = jax.devices()[0]
    out = {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
           "jax_version": jax.__version__, "platform": dev.platform,
           "device": str(dev.device_kind), "cpu_count": os.cpu_count(),
           "scenarios": cfg.grid.size, "replicates": reps,
           "estimators": list(DEFAULT_ESTIMATORS), "seconds_default": default_s,
           "seconds_simulation_floor": floor_s}
    base = os.path.join(HERE, "results", f"grid_time_{dev.platform}")
    with open(base + ".json", "w") as fh:
        json.dump(out, fh, indent=1)
    md = [f"# Reproduction grid wall time, {out['date']}", "",
          f"jax {out['jax_version']}, {out['platform']} ({out['device']}), "
          f"{out['cpu_count']} CPUs; {out['scenarios']} scenarios x {reps} replicates, "
          "including compilation.", "",
          "| run | seconds |", "|---|---|",
          f"| default estimators ({', '.join(DEFAULT_ESTIMATORS)}) | {default_s:.1f} |",
          f"| `naive` only (simulation + engine floor) | {floor_s:.1f} |", ""]
    with open(base + ".md", "w") as fh:
        fh.write("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
