"""Benchmark: what a designed labelling split buys over simple random labelling (SRS).

For each setting, :func:`jaxcert.judge.design.design_labelling` splits the budget ``B``
between judge-flagged and unflagged items (guesses = the truth of the setting), and the
design is checked against SRS with the same budget:

* Part 1 (reproduction grid axes, ``benchmarks/configs/reproduce_cmle.toml``): one axis
  at a time around the base point accuracy 0.9 (TPR 0.9, FPR 0.1), ``B = n = 100``,
  theta 0.05, ``N = 10,000``; box "+-0.05" around the true TPR/FPR and no box.
  Parametric simulation (:func:`jaxcert.sim.design_check.check_design`): mean
  calibrated upper bound, coverage with MC-SE, labels saved (SRS budget reaching the
  design's mean bound, interpolated on a common-random-numbers budget grid, minus B).
* Part 2 (bundled XSTest, all five models, GPT-4 judge; MT-Bench, GPT-4 pairwise
  judge): the pool is the real items; guesses are the full-label theta and the judge's
  empirical TPR/FPR. Replicates draw the labelled items from the real pool without
  replacement (hypergeometric counts: no parametric model), stratified for the design
  and uniformly for SRS; coverage is against the full-label failure rate of the pool.

    .venv/bin/python benchmarks/design_gain.py --quick   # ~3 min on a shared 2-core CPU
    .venv/bin/python benchmarks/design_gain.py           # ~10-15 min

Writes ``benchmarks/results/design_gain_cpu[_quick].{md,json}``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import time

import jax
import numpy as np

import jaxcert
from jaxcert import Counts
from jaxcert.datasets import load_mtbench, load_xstest
from jaxcert.judge.calibration import calibrated_interval
from jaxcert.judge.design import design_labelling
from jaxcert.sim.design_check import check_design

OUT = pathlib.Path(__file__).parent / "results"
BASE = dict(accuracy=0.9, n=100, theta=0.05, N=10_000)
AXES = dict(accuracy=[0.6, 0.7, 0.8, 0.9, 0.95], n=[25, 50, 100, 200, 500],
            theta=[0.01, 0.05, 0.1, 0.2, 0.3], N=[1000, 10_000])
QUICK_AXES = dict(accuracy=[0.7, 0.9, 0.95], n=[50, 200], theta=[0.01, 0.2], N=[1000])
#: (box half-width, objective): the default objective with and without a box, and the
#: variance objective (Neyman without a box) for comparison
CASES = [(0.05, "bound"), (None, "bound"), (None, "variance")]
FACTORS = 0.5 * 2.0 ** (np.arange(17) / 4)  # SRS budgets B * 0.5 ... B * 8 (B included)


def _box(x, w):
    return None if w is None else (max(x - w, 0.0), min(x + w, 1.0))


def _row(where, theta, s, r, B, N, w, d, chk):
    return {"setting": where, "theta": theta, "tpr": s, "fpr": r, "budget": B, "N": N,
            "box": "none" if w is None else f"+-{w:g}", "objective": d.objective,
            "n_flagged": d.n_flagged,
            "n_unflagged": d.n_unflagged, "srs_flagged": round(d.srs_share * B, 1),
            "variance_ratio": d.efficiency, "mean_upper": chk["mean_upper"],
            "mean_upper_se": chk["mean_upper_se"], "srs_mean_upper": chk["srs_mean_upper"],
            "coverage": chk["coverage"], "coverage_se": chk["coverage_se"],
            "srs_coverage": chk["srs_coverage"], "labels_saved": chk["labels_saved"],
            "beyond_grid": chk["beyond_grid"], "srs_budget_max": chk["srs_budget_max"]}


def grid_part(key, axes, R):
    rows = []
    points = {(a, v) for a, vals in axes.items() for v in vals}
    for i, (axis, value) in enumerate(sorted(points)):
        p = dict(BASE, **{axis: value})
        s, r, theta, B, N = p["accuracy"], 1 - p["accuracy"], p["theta"], p["n"], p["N"]
        for w, obj in CASES:
            sb, fb = _box(s, w), _box(r, w)
            d = design_labelling(budget=B, tpr=s, fpr=r, theta_guess=theta, N=N,
                                 tpr_bounds=sb, fpr_bounds=fb, objective=obj)
            c = check_design(jax.random.fold_in(key, i), theta=theta, tpr=s, fpr=r,
                             n_flagged=d.n_flagged, n_unflagged=d.n_unflagged, N=N,
                             tpr_bounds=sb, fpr_bounds=fb, replicates=R,
                             srs_budgets=np.round(B * FACTORS).astype(int))
            chk = c._asdict() | {"srs_budget_max": int(c.srs_budgets[-1])}
            rows.append(_row(f"{axis}={value:g}", theta, s, r, B, N, w, d, chk))
            print(_fmt(rows[-1]), flush=True)
    return rows


def _pool_counts(rng, y, j, n1, n0, R):
    """Counts of R stratified (n0 is not None) or SRS (n1 = B) draws from a real pool."""
    F1, K1 = int(y[j == 1].sum()), int((j == 1).sum())
    F0, K0 = int(y[j == 0].sum()), int((j == 0).sum())
    if n0 is None:  # SRS: how many of the B labelled items are flagged, then failures
        a1 = rng.hypergeometric(K1, K0, n1, size=R)
        a0 = n1 - a1
    else:
        a1, a0 = np.full(R, n1), np.full(R, n0)
    f1 = rng.hypergeometric(F1, K1 - F1, np.maximum(a1, 1), size=R) * (a1 > 0)
    f0 = rng.hypergeometric(F0, K0 - F0, np.maximum(a0, 1), size=R) * (a0 > 0)
    return np.stack([f1, f0, a1 - f1, a0 - f0, K1 - a1, K0 - a0]).astype(float)


def _uppers(cells, sb, fb):
    R = cells.shape[1]
    box = lambda b: np.tile([0.0, 1.0] if b is None else b, (R, 1))  # noqa: E731
    iv = calibrated_interval(Counts(*cells), box(sb), box(fb), alpha=0.05, side="upper")
    u = np.asarray(iv.upper)
    return np.where(np.isfinite(u), u, 1.0)


def data_part(seed, R, budgets):
    rows = []
    sets = [("xstest (5 models, gpt4 judge)", load_xstest()), ("mtbench (gpt4 judge)",
                                                               load_mtbench())]
    for name, ds in sets:
        y, j = np.asarray(ds.human, int), np.asarray(ds.judge, int)
        theta, s, r = y.mean(), j[y == 1].mean(), j[y == 0].mean()
        for B in budgets:
            N = y.size - B
            for w, obj in CASES:
                sb, fb = _box(s, w), _box(r, w)
                d = design_labelling(budget=B, tpr=s, fpr=r, theta_guess=theta, N=N,
                                     tpr_bounds=sb, fpr_bounds=fb, objective=obj)
                rng = np.random.default_rng(seed)
                up = _uppers(_pool_counts(rng, y, j, d.n_flagged, d.n_unflagged, R), sb, fb)
                grid = np.round(B * FACTORS).astype(int)
                grid = grid[grid <= y.size]
                # the same seed at every SRS budget: common random numbers along the curve
                srs = [_uppers(_pool_counts(np.random.default_rng(seed), y, j, b, None, R),
                               sb, fb) for b in grid]
                curve = np.array([u.mean() for u in srs])
                at_b = int(np.nonzero(grid == B)[0][0])
                srs_up = srs[at_b]
                mono = np.minimum.accumulate(curve)
                m = up.mean()
                beyond = bool(m < mono[-1])
                eq = np.nan if beyond or m > mono[0] else float(
                    np.exp(np.interp(-m, -mono, np.log(grid))))
                cov = float(np.mean(up >= theta))
                chk = {"mean_upper": float(m), "mean_upper_se": float(up.std() / np.sqrt(R)),
                       "srs_mean_upper": float(curve[at_b]), "coverage": cov,
                       "coverage_se": float(np.sqrt(cov * (1 - cov) / R)),
                       "srs_coverage": float(np.mean(srs_up >= theta)),
                       "labels_saved": eq - B, "beyond_grid": beyond,
                       "srs_budget_max": int(grid[-1])}
                rows.append(_row(name, float(theta), float(s), float(r), B, N, w, d, chk))
                print(_fmt(rows[-1]), flush=True)
    return rows


def _fmt(x):
    saved = (f"> {x['srs_budget_max'] - x['budget']}" if x["beyond_grid"] else
             "none" if x["labels_saved"] != x["labels_saved"] else f"{x['labels_saved']:.0f}")
    return (f"| {x['setting']} | {x['theta']:.3g} | {x['tpr']:.3g}/{x['fpr']:.3g} | "
            f"{x['budget']} | {x['N']} | {x['box']} | {x['objective']} | "
            f"{x['n_flagged']}/{x['n_unflagged']} "
            f"(SRS ~{x['srs_flagged']:g}) | {x['variance_ratio']:.2f} | "
            f"{x['mean_upper']:.4f} | {x['srs_mean_upper']:.4f} | {saved} | "
            f"{x['coverage']:.3f} +- {x['coverage_se']:.3f} | {x['srs_coverage']:.3f} |")


HEADER = ("| setting | theta | TPR/FPR | B | N | box | objective | design flagged/unflagged | "
          "asympt. var ratio | mean U design | mean U SRS | labels saved | coverage design "
          "(+- MC-SE) | coverage SRS |\n" + "|---" * 14 + "|")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=20261201)
    a = ap.parse_args()
    R = 300 if a.quick else 2000
    t0 = time.time()
    print(HEADER)
    grid_rows = grid_part(jax.random.key(a.seed), QUICK_AXES if a.quick else AXES, R)
    data_rows = data_part(a.seed, R, [100] if a.quick else [50, 100, 200])
    env = {"jax_version": jax.__version__, "jaxcert_version": jaxcert.__version__,
           "device": str(jax.devices()[0].device_kind), "platform": jax.devices()[0].platform,
           "x64": bool(jax.config.jax_enable_x64), "cpu_count": os.cpu_count(),
           "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
           "seconds": round(time.time() - t0, 1), "replicates": R, "quick": a.quick,
           "seed": a.seed}
    stem = OUT / f"design_gain_cpu{'_quick' if a.quick else ''}"
    clean = lambda v: None if isinstance(v, float) and v != v else v  # noqa: E731
    rows = [{k: clean(v) for k, v in x.items()} for x in grid_rows + data_rows]
    stem.with_suffix(".json").write_text(json.dumps({"environment": env, "rows": rows},
                                                    indent=1) + "\n")
    md = [f"# Designed labelling vs simple random labelling{' (quick)' if a.quick else ''}",
          "", f"`benchmarks/design_gain.py{' --quick' if a.quick else ''}`; jax "
          f"{env['jax_version']}, {env['platform']} ({env['device']}), x64={env['x64']}, "
          f"{R} replicates per design and per SRS budget, {env['seconds']} s.", "",
          "Bound: calibrated CMLE upper bound, alpha = 0.05. Labels saved: SRS budget with "
          "the design's mean bound minus B ('>' = beyond the largest SRS budget tried, 8B; "
          "'none' = the design is worse than SRS even at B/2).", "", "## Reproduction-grid "
          "axes (parametric simulation)", "", HEADER, *map(_fmt, grid_rows), "",
          "## Bundled data (real items resampled without replacement)", "", HEADER,
          *map(_fmt, data_rows), ""]
    stem.with_suffix(".md").write_text("\n".join(md))
    print(f"wrote {stem}.md/.json in {env['seconds']} s")


if __name__ == "__main__":
    main()
