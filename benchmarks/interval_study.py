"""Side study: CLT, skew-corrected and bootstrap-t intervals on the same bench_cem runs.

The default asymptotic interval of :func:`jaxcert.rare.estimate` is bootstrap-t when
hits or ESS are few and otherwise the skew-corrected interval
(:func:`jaxcert.rare.bootstrap.skew_corrected_interval`). This study computes all three
(and the plain CLT) on every run of one bench_cem cell, so their coverage and width are
compared on identical samples, with the estimator's skewness ``g`` per run.

    python benchmarks/interval_study.py --mass 1e-3 --landscape intermediate \\
        --outcome 0/1 --budget 200900 --seeds 200 [--bootstrap 500]

Writes ``results/interval_study_<landscape>_<mass>_<outcome>_<budget>.json`` and prints
a table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_cem import CFG, POWERS, SIZES, environment, simulate_run  # noqa: E402
from jaxcert.rare import ProductSpace, landscape_mu, landscape_score, planted_landscape  # noqa: E402
from jaxcert.rare.bootstrap import (  # noqa: E402
    bootstrap_t_interval,
    clt_interval,
    estimator_skewness,
    skew_corrected_interval,
)

RESULTS = Path(__file__).parent / "results"
KINDS = {"clt": clt_interval, "skew-corrected": skew_corrected_interval}


def run_cell(mass, landscape, outcome, seeds, num_landscapes, num_bootstrap):
    S = CFG["reuse"] + 1
    X = ProductSpace(SIZES).enumerate()
    rows = []
    for i in range(num_landscapes):
        L = planted_landscape(jax.random.key(1000 + i), SIZES, mass, landscape)
        F_grid = jnp.asarray(landscape_score(L, X))
        mu = float(landscape_mu(L))

        @jax.jit
        def one(k, L=L, F_grid=F_grid):
            z, st, _, _, _ = simulate_run(k, L, F_grid, outcome, POWERS[outcome])
            out = {name: fn(z, st, S, 0.025, 0.025, 1.0) for name, fn in KINDS.items()}
            out["bootstrap-t"] = bootstrap_t_interval(jax.random.fold_in(k, 9), z, st, S, 0.025, 0.025, 1.0,
                                                      num_bootstrap)
            return out, estimator_skewness(z, st, S)[2]

        t0 = time.perf_counter()
        # the run keys of bench_cem.run_cell, so these are its runs
        for k in jax.random.split(jax.random.key(10_000 * i + 7), max(1, seeds // num_landscapes)):
            ivs, g = one(k)
            rows.append(dict(mu=mu, g=float(g), **{n: (float(lo), float(up)) for n, (lo, up) in ivs.items()}))
        print(f"landscape {i}: {time.perf_counter() - t0:.0f}s", flush=True)
    mu = np.array([r["mu"] for r in rows])
    res = {}
    for name in (*KINDS, "bootstrap-t"):
        lo, up = (np.array([r[name][j] for r in rows]) for j in (0, 1))
        res[name] = dict(coverage=float(np.mean((lo <= mu) & (mu <= up))), miss_high=float(np.mean(up < mu)),
                         miss_low=float(np.mean(lo > mu)), mean_width_over_mu=float(np.mean((up - lo) / mu)))
    return dict(runs=len(rows), median_skewness=float(np.median([r["g"] for r in rows])), intervals=res)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mass", type=float, default=1e-3)
    ap.add_argument("--landscape", default="intermediate")
    ap.add_argument("--outcome", default="0/1", choices=("0/1", "graded"))
    ap.add_argument("--budget", type=int, default=200_900)
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--landscapes", type=int, default=8)
    ap.add_argument("--bootstrap", type=int, default=500, help="bootstrap-t resamples")
    args = ap.parse_args(argv)
    CFG["budget"] = args.budget
    res = dict(environment=environment(), config=dict(vars(args)),
               **run_cell(args.mass, args.landscape, args.outcome, args.seeds, args.landscapes, args.bootstrap))
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"interval_study_{args.landscape}_{args.mass:g}_{args.outcome.replace('/', '')}_{args.budget}.json"
    (RESULTS / name).write_text(json.dumps(res, indent=2))
    print(f"{res['runs']} runs, median skewness of the estimate {res['median_skewness']:.3f}")
    print("| interval | coverage | miss high | miss low | mean width / mu |\n|---|---|---|---|---|")
    for k, v in res["intervals"].items():
        print(f"| {k} | {v['coverage']:.3f} | {v['miss_high']:.3f} | {v['miss_low']:.3f} | {v['mean_width_over_mu']:.3f} |")


if __name__ == "__main__":
    main()
