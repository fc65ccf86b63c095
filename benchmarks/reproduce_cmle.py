"""CMLE vs PPI / PPI++ simulation study (configs/reproduce_cmle.toml).

Full: 1250 scenarios x 1000 replicates (1.25M replicate-fits per estimator).
``--quick``: the same axes thinned (accuracy {0.7, 0.9}, n {50, 200}, theta {0.05, 0.2},
N {1e4}, all 5 boxes) with 200 replicates. Writes the results table, run.json and the
standard figures to ``benchmarks/results/reproduce_cmle[_quick]/`` plus ``summary.md``
(numbers only; the reading is left to the reader of the table).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import jax
import numpy as np

from jaxcert.sim.config import load_config, parse_config
from jaxcert.sim.plots import plot_standard
from jaxcert.sim.sweep import run_sweep

HERE = os.path.dirname(os.path.abspath(__file__))


def _isnum(v) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def _pivot(t, mask, rows, cols, values, fmt="{:.2f}"):
    """Markdown table of the mean of ``values`` over ``mask`` by ``rows`` x ``cols``."""
    num = lambda v: (0, float(v), "") if _isnum(v) else (1, 0.0, str(v))  # noqa: E731
    rv, cv = sorted(set(t[rows][mask]), key=num), sorted(set(t[cols][mask]), key=num)
    out = [f"| {rows} \\ {cols} | " + " | ".join(f"{float(c):g}" if _isnum(c) else str(c)
                                                 for c in cv) + " |",
           "|---" * (len(cv) + 1) + "|"]
    for r in rv:
        cells = []
        for c in cv:
            m = mask & (t[rows] == r) & (t[cols] == c)
            cells.append(fmt.format(np.nanmean(values[m])) if m.any() else "")
        out.append(f"| {float(r):g} | " + " | ".join(cells) + " |")
    return out


def _summary(t, timing, env_line) -> str:
    """The results in numbers: every figure below is computed from the table."""
    est = list(dict.fromkeys(t["estimator"]))
    cover = t["box_covers_truth"].astype(bool)
    lines = ["# CMLE vs PPI / PPI++ (simulation)", "", env_line]
    if timing:
        lines.append(f"{timing['replicates']} replicates x {len(est)} estimators in "
                     f"{timing['seconds']:.0f} s including compilation "
                     f"({timing['replicates'] / timing['seconds']:.0f} replicates/s).")
    lines += ["", f"One-sided 95% upper bounds, {int(np.max(t['replicates']))} replicates per "
              f"scenario: coverage Monte-Carlo SE per scenario {np.mean(t['coverage_se']):.4f} "
              "on average; boxes other than `shifted` contain the truth.", "",
              "| estimator | box | mean coverage | min coverage | scenarios > 3 SE below 0.95 "
              "| mean RMSE / RMSE(PPI) | share of scenarios with RMSE < PPI |",
              "|---|---|---|---|---|---|---|"]
    scen = t["scenario"]
    key = {e: {s: i for i, s in enumerate(scen) if t["estimator"][i] == e} for e in est}

    def ratio(e, ref, field="rmse"):
        return np.array([t[field][i] / t[field][key[ref][scen[i]]] if t["estimator"][i] == e
                         else np.nan for i in range(len(scen))])

    for b in dict.fromkeys(t["box"]):
        for e in est:
            m = (t["estimator"] == e) & (t["box"] == b)
            r_ppi = ratio(e, "ppi")[m]
            below = np.sum(t["coverage"][m] + 3 * t["coverage_se"][m] < 0.95)
            lines.append(f"| {e} | {b} | {np.mean(t['coverage'][m]):.3f} | "
                         f"{np.min(t['coverage'][m]):.3f} | {below} / {m.sum()} | "
                         f"{np.mean(r_ppi):.2f} | {np.mean(r_ppi < 1):.2f} |")
    cm = (t["estimator"] == "cmle_profile") & cover
    if cm.any() and "ppi_plusplus" in est:
        r_pp = ratio("cmle_profile", "ppi_plusplus")
        u_pp = ratio("cmle_profile", "ppi_plusplus", "upper_mean")
        lines += ["", "## CMLE against PPI++ (boxes containing the truth)", "",
                  f"RMSE(CMLE) / RMSE(PPI++): mean {np.nanmean(r_pp[cm]):.2f}, CMLE lower in "
                  f"{np.mean(r_pp[cm] < 1):.0%} of scenarios, worst {np.nanmax(r_pp[cm]):.2f}. "
                  f"Mean upper bound CMLE / PPI++: {np.nanmean(u_pp[cm]):.2f}.", "",
                  "RMSE ratio by judge accuracy and box:", ""]
        lines += _pivot(t, cm, "accuracy", "box", r_pp)
        lines += ["", "RMSE ratio by calibration size n and judge accuracy:", ""]
        lines += _pivot(t, cm, "n", "accuracy", r_pp)
        lines += ["", "RMSE ratio by n and theta:", ""]
        lines += _pivot(t, cm, "n", "theta", r_pp)
        lines += ["", "## CMLE profile-bound coverage by n and theta (boxes containing the truth)",
                  ""]
        lines += _pivot(t, cm, "n", "theta", t["coverage"], "{:.3f}")
    sh = (t["estimator"] == "cmle_profile") & (t["box"] == "shifted")
    if sh.any():
        lines += ["", "## Misspecified (shifted) box: CMLE coverage by accuracy and n", ""]
        lines += _pivot(t, sh, "accuracy", "n", t["coverage"], "{:.3f}")
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
    timing_path = os.path.join(out, "timing.json")
    if res.computed_chunks and not os.path.exists(timing_path):
        if res.computed_chunks == -(-cfg.grid.size * cfg.replicates // res_chunk(cfg)):
            with open(timing_path, "w") as fh:
                json.dump({"seconds": res.seconds, "replicates": cfg.grid.size * cfg.replicates,
                           "chunks": res.computed_chunks}, fh)
    timing = json.load(open(timing_path)) if os.path.exists(timing_path) else None
    plot_standard(out)
    env = (f"jax {jax.__version__}, devices {[str(d) for d in jax.devices()]}, "
           f"x64 {jax.config.jax_enable_x64}, {os.cpu_count()} CPUs.")
    text = _summary(res.table, timing, env)
    with open(os.path.join(out, "summary.md"), "w") as fh:
        fh.write(text)
    sys.stdout.write(text)
    return 0


def res_chunk(cfg) -> int:
    from jaxcert.sim.runner import round_chunk

    return round_chunk(cfg.chunk_size)


if __name__ == "__main__":
    sys.exit(main())
