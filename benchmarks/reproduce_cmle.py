"""CMLE vs PPI / PPI++ simulation study (configs/reproduce_cmle.toml).

Full: 1250 scenarios x 1000 replicates (1.25M replicate-fits per estimator), plus a
box-check study (``cmle_widen`` and ``box_check`` on the grid's judges with boxes
shifted by 0.05, 0.1 and 0.2; 1,000 replicates). ``--replicates R`` runs the same grid
with R replicates into ``results/reproduce_cmle_rR/`` (a labelled partial run).
``--quick``: the same axes thinned (accuracy {0.7, 0.9}, n {50, 200}, theta {0.05, 0.2},
N {1e4}, all 5 boxes) with 200 replicates. Writes the results table, run.json and the
standard figures to ``benchmarks/results/reproduce_cmle[_quick]/`` plus ``summary.md``
(numbers only; the reading is left to the reader of the table).
"""

from __future__ import annotations

import argparse
import json
import math
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
        for e in (e for e in est if e != "box_check"):  # its "coverage" means nothing
            m = (t["estimator"] == e) & (t["box"] == b)
            r_ppi = ratio(e, "ppi")[m]
            below = np.sum(t["coverage"][m] + 3 * t["coverage_se"][m] < 0.95)
            lines.append(f"| {e} | {b} | {np.mean(t['coverage'][m]):.3f} | "
                         f"{np.min(t['coverage'][m]):.3f} | {below} / {m.sum()} | "
                         f"{np.mean(r_ppi):.2f} | {np.mean(r_ppi < 1):.2f} |")
    lines += _calibration_section(t, cover)
    lines += _box_check_section(t, cover)
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


def _per_scenario(t, est, field):
    m = t["estimator"] == est
    return dict(zip(t["scenario"][m], t[field][m], strict=True))


def _calibration_section(t, cover) -> list:
    """Calibrated vs profile bound: failing scenarios and where the width went."""
    est = set(t["estimator"])
    if not {"cmle_calibrated", "cmle_profile"} <= est:
        return []
    out = ["", "## Calibrated bound (default) vs profile bound, boxes containing the truth", "",
           "| estimator | mean coverage | min coverage | scenarios < 0.95 - 2 SE | "
           "< 0.95 - 3 SE | mean upper bound |", "|---|---|---|---|---|---|"]
    for e in ("cmle_calibrated", "cmle_profile"):
        m = (t["estimator"] == e) & cover
        c, se = t["coverage"][m], t["coverage_se"][m]
        out.append(f"| {e} | {np.mean(c):.4f} | {np.min(c):.3f} | {np.sum(c < 0.95 - 2 * se)} / "
                   f"{m.sum()} | {np.sum(c < 0.95 - 3 * se)} / {m.sum()} | "
                   f"{np.mean(t['upper_mean'][m]):.5f} |")
    cal, pro = (_per_scenario(t, e, "upper_mean") for e in ("cmle_calibrated", "cmle_profile"))
    m = (t["estimator"] == "cmle_calibrated") & cover
    ratio = np.array([cal[s] / pro[s] if t["estimator"][i] == "cmle_calibrated" else np.nan
                      for i, s in enumerate(t["scenario"])])
    grand = np.mean([cal[s] for s in t["scenario"][m]]) / np.mean([pro[s] for s in
                                                                   t["scenario"][m]])
    out += ["", f"Mean upper bound, calibrated / profile: {grand:.4f} (ratio of the grand "
            f"means); per-scenario ratio mean {np.nanmean(ratio[m]):.3f}, median "
            f"{np.nanmedian(ratio[m]):.3f}, max {np.nanmax(ratio[m]):.3f}.", "",
            "Where the width went: per-scenario ratio of mean upper bounds (calibrated / "
            "profile) by n and theta:", ""]
    out += _pivot(t, m, "n", "theta", ratio, "{:.3f}")
    out += ["", "Calibrated-bound coverage by n and theta:", ""]
    out += _pivot(t, m, "n", "theta", t["coverage"], "{:.3f}")
    return out


def _box_check_section(t, cover) -> list:
    if "box_check" not in set(t["estimator"]):
        return []
    m = t["estimator"] == "box_check"
    rate = t["mean_estimate"]
    out = ["", "## Box-conflict check (level 0.01)", "",
           "Rejection rate of the box check per box (false alarms on boxes containing the "
           "truth, detection on `shifted`):", "",
           "| box | mean rejection rate | max rejection rate | scenarios > 0.01 + 2 SE |",
           "|---|---|---|---|"]
    for b in dict.fromkeys(t["box"][m]):
        mb = m & (t["box"] == b)
        reps = t["replicates"][mb]
        se_alpha = np.sqrt(0.01 * 0.99 / reps)
        out.append(f"| {b} | {np.mean(rate[mb]):.4f} | {np.max(rate[mb]):.4f} | "
                   f"{np.sum(rate[mb] > 0.01 + 2 * se_alpha) if cover[mb].all() else '-'} |")
    sh = m & (t["box"] == "shifted")
    if sh.any():
        out += ["", "Detection rate on the `shifted` box by accuracy and n:", ""]
        out += _pivot(t, sh, "accuracy", "n", rate, "{:.3f}")
    return out


def _widen_summary(t) -> str:
    lines = ["# Box-conflict check: detection, widened and hulled coverage", "",
             "`box_check`: rejection rate (false alarms on `exact` and `+-0.05`, detection on "
             "the shifted boxes); `cmle_widen`: coverage of the calibrated bound after "
             "widening a rejected box (`on_conflict=\"widen\"`); `cmle_hull`: both boxes "
             "always hulled with the data's exact 99% interval (`on_conflict=\"hull\"`); "
             "`cmle_calibrated`: the box as given. SE: Monte-Carlo standard error of each "
             "scenario's coverage.", "",
             "| box | mean detection | widen mean / min coverage | widen < 0.95 - 2 SE | "
             "hull mean / min coverage | hull < 0.95 - 2 SE | mean upper bound: as given / "
             "widen / hull |", "|---|---|---|---|---|---|---|"]
    est = t["estimator"]
    for b in dict.fromkeys(t["box"]):
        d = (est == "box_check") & (t["box"] == b)
        cells = [f"{np.mean(t['mean_estimate'][d]):.3f}"]
        for e in ("cmle_widen", "cmle_hull"):
            w = (est == e) & (t["box"] == b)
            c, se = t["coverage"][w], np.sqrt(0.95 * 0.05 / t["replicates"][w])
            cells += [f"{np.mean(c):.3f} / {np.min(c):.3f}", f"{np.sum(c < 0.95 - 2 * se)} / "
                      f"{w.sum()}"]
        ups = [np.mean(t["upper_mean"][(est == e) & (t["box"] == b)])
               for e in ("cmle_calibrated", "cmle_widen", "cmle_hull")]
        cells.append(" / ".join(f"{u:.4f}" for u in ups))
        lines.append(f"| {b} | " + " | ".join(cells) + " |")
    for b in dict.fromkeys(t["box"]):
        for e, what in (("cmle_widen", "Widened"), ("cmle_hull", "Hulled")):
            w = (est == e) & (t["box"] == b)
            lines += ["", f"{what} coverage, box `{b}`, by accuracy and n:", ""]
            lines += _pivot(t, w, "accuracy", "n", t["coverage"], "{:.3f}")
        d = (est == "box_check") & (t["box"] == b)
        lines += ["", f"Rejection rate, box `{b}`, by accuracy and n:", ""]
        lines += _pivot(t, d, "accuracy", "n", t["mean_estimate"], "{:.3f}")
    return "\n".join(lines) + "\n"


def _widen_study(cfg, raw, out, reps):
    """The box check, widening and hull on correct boxes and boxes shifted by 0.05, 0.1
    and 0.2 (half-width 0.02)."""
    grid_raw = {**raw["grid"], "box": ["exact", "+-0.05", "shifted", "shifted:0.1:0.02",
                                       "shifted:0.2:0.02"]}
    wcfg = parse_config({"study": {**raw["study"], "replicates": reps,
                                   "estimators": ["cmle_calibrated", "cmle_widen", "cmle_hull",
                                                  "box_check"]},
                         "grid": grid_raw}, source="reproduce_cmle (box check)")
    res = run_sweep(jax.random.key(cfg.seed), wcfg.grid, replicates=reps,
                    estimators=wcfg.estimators, side=cfg.side, chunk_size=cfg.chunk_size,
                    out_dir=os.path.join(out, "box_check"), progress=True,
                    config={"study": {**raw["study"], "replicates": reps}, "grid": grid_raw})
    text = _widen_summary(res.table)
    with open(os.path.join(out, "box_check", "summary.md"), "w") as fh:
        fh.write(text)
    return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--replicates", type=int, help="partial run: the full grid with fewer "
                    "replicates, written to results/reproduce_cmle_rR")
    ap.add_argument("--widen-replicates", type=int, default=1000,
                    help="replicates of the shifted-box study (0 skips it)")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    cfg = load_config(os.path.join(HERE, "configs", "reproduce_cmle.toml"))
    raw = dict(cfg.raw)
    if args.quick:
        raw = {"study": {**raw["study"], "replicates": 200},
               "grid": {**raw["grid"], "accuracy": [0.7, 0.9], "n": [50, 200],
                        "theta": [0.05, 0.2], "N": [10000]}}
        cfg = parse_config(raw, source="reproduce_cmle (quick)")
    elif args.replicates:
        raw = {"study": {**raw["study"], "replicates": int(args.replicates)}, "grid": raw["grid"]}
        cfg = parse_config(raw, source=f"reproduce_cmle (partial: {args.replicates} replicates)")
    tag = "_quick" if args.quick else (f"_r{args.replicates}" if args.replicates else "")
    out = args.out or os.path.join(HERE, "results", "reproduce_cmle" + tag)
    res = run_sweep(jax.random.key(cfg.seed), cfg.grid, replicates=cfg.replicates,
                    estimators=cfg.estimators, side=cfg.side, chunk_size=cfg.chunk_size,
                    out_dir=out, progress=True, config=raw)
    timing_path = os.path.join(out, "timing.json")
    # only a call that computed the whole grid (every chunk) times it
    if res.computed_chunks == -(-cfg.grid.size * cfg.replicates // res_chunk(cfg)):
        with open(timing_path, "w") as fh:
            json.dump({"seconds": res.seconds, "replicates": cfg.grid.size * cfg.replicates,
                       "chunks": res.computed_chunks}, fh)
    timing = json.load(open(timing_path)) if os.path.exists(timing_path) else None
    plot_standard(out)
    env = (f"jax {jax.__version__}, devices {[str(d) for d in jax.devices()]}, "
           f"x64 {jax.config.jax_enable_x64}, {os.cpu_count()} CPUs.")
    text = _summary(res.table, timing, env)
    if tag:
        text = (f"**Partial run** ({cfg.replicates} replicates per scenario, "
                f"{'thinned grid' if args.quick else 'full grid'}): Monte-Carlo SEs are "
                f"{math.sqrt(1000 / cfg.replicates):.1f}x those of the full run.\n\n" + text)
    with open(os.path.join(out, "summary.md"), "w") as fh:
        fh.write(text)
    sys.stdout.write(text)
    if args.widen_replicates > 0 and not args.quick:
        sys.stdout.write(_widen_study(cfg, raw, out, int(args.widen_replicates)))
    return 0


def res_chunk(cfg) -> int:
    from jaxcert.sim.runner import round_chunk

    return round_chunk(cfg.chunk_size)


if __name__ == "__main__":
    sys.exit(main())
