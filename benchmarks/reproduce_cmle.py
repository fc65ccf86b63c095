"""CMLE vs PPI / PPI++ simulation study (configs/reproduce_cmle.toml).

Full: 1250 scenarios x 1000 replicates (1.25M replicate-fits per estimator).
``--quick``: the same axes thinned (accuracy {0.7, 0.9}, n {50, 200}, theta {0.05, 0.2},
N {1e4}, all 5 boxes) with 200 replicates. Writes the results table, run.json and the
standard figures to ``benchmarks/results/reproduce_cmle[_quick]/`` plus ``summary.md``
(numbers only; the reading is left to the reader of the table).
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import numpy as np

from jaxcert.sim.config import load_config, parse_config
from jaxcert.sim.plots import plot_standard
from jaxcert.sim.sweep import run_sweep

HERE = os.path.dirname(os.path.abspath(__file__))


def _summary(t, seconds, fits, env_line) -> str:
    est = list(dict.fromkeys(t["estimator"]))
    cover = t["box_covers_truth"].astype(bool)
    lines = ["# CMLE vs PPI / PPI++ (simulation)", "", env_line,
             f"{fits} replicate-fits per estimator in {seconds:.0f} s "
             f"({fits / seconds:.0f} replicates/s, {len(est)} estimators each).", "",
             "| estimator | box | mean coverage | min coverage | mean RMSE / RMSE(PPI) | "
             "share of scenarios with RMSE < PPI |", "|---|---|---|---|---|---|"]
    is_ppi = t["estimator"] == "ppi"
    ppi_rmse = dict(zip(t["scenario"][is_ppi], t["rmse"][is_ppi], strict=True))
    for b in dict.fromkeys(t["box"]):
        for e in est:
            m = (t["estimator"] == e) & (t["box"] == b)
            ratio = np.array([r / ppi_rmse[s]
                              for s, r in zip(t["scenario"][m], t["rmse"][m], strict=True)])
            lines.append(f"| {e} | {b} | {np.mean(t['coverage'][m]):.3f} | "
                         f"{np.min(t['coverage'][m]):.3f} | {np.mean(ratio):.2f} | "
                         f"{np.mean(ratio < 1):.2f} |")
    lines += ["", f"Boxes containing the truth: {sorted(set(t['box'][cover]))}; "
              "nominal one-sided coverage 0.95."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    cfg = load_config(os.path.join(HERE, "configs", "reproduce_cmle.toml"))
    raw = dict(cfg.raw)
    if args.quick:
        raw = {"study": {**raw["study"], "replicates": 200},
               "grid": {**raw["grid"], "accuracy": [0.7, 0.9], "n": [50, 200],
                        "theta": [0.05, 0.2], "N": [10000]}}
        cfg = parse_config(raw, source="reproduce_cmle (quick)")
    out = args.out or os.path.join(HERE, "results", "reproduce_cmle" + ("_quick" if args.quick
                                                                        else ""))
    res = run_sweep(jax.random.key(cfg.seed), cfg.grid, replicates=cfg.replicates,
                    estimators=cfg.estimators, side=cfg.side, chunk_size=cfg.chunk_size,
                    out_dir=out, progress=True, config=raw)
    plot_standard(out)
    env = (f"jax {jax.__version__}, devices {[str(d) for d in jax.devices()]}, "
           f"x64 {jax.config.jax_enable_x64}, {os.cpu_count()} CPUs.")
    fits = cfg.grid.size * cfg.replicates
    text = _summary(res.table, res.seconds, fits, env)
    with open(os.path.join(out, "summary.md"), "w") as fh:
        fh.write(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
