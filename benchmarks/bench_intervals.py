"""Benchmark: batched exact Clopper-Pearson intervals, jaxcert vs statsmodels / scipy.

What a user would otherwise run: statsmodels ``proportion_confint(method="beta")``
(vectorised over scipy's ``beta.ppf``) or a loop of ``scipy.stats.binomtest``.
Reports warm wall time per batch and the largest absolute difference of the ends.

    .venv/bin/python benchmarks/bench_intervals.py --quick
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time

import jax
import numpy as np
from scipy.stats import binomtest
from statsmodels.stats.proportion import proportion_confint

import jaxcert
from jaxcert.intervals import clopper_pearson


def _best(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small batches (shared CPU)")
    args = ap.parse_args()
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000, 1_000_000]
    repeats = 3 if args.quick else 5
    rng = np.random.default_rng(0)
    rows = []
    for size in sizes:
        n = rng.integers(1, 1_000_000, size=size).astype(float)
        k = rng.binomial(n.astype(np.int64), 1e-3).astype(float)
        alpha = 0.05

        def ours(k=k, n=n, alpha=alpha):
            iv = clopper_pearson(k, n, alpha)
            return jax.block_until_ready(iv)

        iv = ours()  # compile
        t_ours = _best(ours, repeats)
        t_sm = _best(
            lambda k=k, n=n, a=alpha: proportion_confint(k, n, alpha=a, method="beta"), repeats
        )
        lo, hi = proportion_confint(k, n, alpha=alpha, method="beta")
        diff = max(
            np.max(np.abs(np.asarray(iv.lower) - lo)), np.max(np.abs(np.asarray(iv.upper) - hi))
        )
        m = min(size, 200)
        t = time.perf_counter()
        for i in range(m):
            binomtest(int(k[i]), int(n[i])).proportion_ci(1 - alpha, method="exact")
        t_scipy = (time.perf_counter() - t) * size / m
        rows.append(
            dict(
                batch=size,
                jaxcert_s=t_ours,
                statsmodels_s=t_sm,
                scipy_binomtest_loop_s_extrapolated=t_scipy,
                max_abs_diff=float(diff),
            )
        )
        print(rows[-1])
    meta = dict(
        jax=jax.__version__,
        jaxcert=jaxcert.__version__,
        device=str(jax.devices()[0]),
        x64=bool(jax.config.read("jax_enable_x64")),
        cpu_count=os.cpu_count(),
        platform=platform.platform(),
        date=datetime.datetime.now(datetime.UTC).isoformat(),
        quick=args.quick,
        note="warm timings (compile excluded); shared CPU, noisy; two-sided alpha=0.05, "
        "n ~ U[1, 1e6), k ~ Binomial(n, 1e-3)",
    )
    out = os.path.join(os.path.dirname(__file__), "results")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "bench_intervals_cpu.json"), "w") as f:
        json.dump(dict(meta=meta, rows=rows), f, indent=2)
    with open(os.path.join(out, "bench_intervals_cpu.md"), "w") as f:
        f.write("# Clopper-Pearson batch timings\n\n")
        f.write("".join(f"- {k}: {v}\n" for k, v in meta.items()))
        f.write(
            "\n| batch | jaxcert (s) | statsmodels beta (s) | scipy binomtest loop (s, extrap.) "
            "| max abs diff |\n|---|---|---|---|---|\n"
        )
        for r in rows:
            f.write(
                f"| {r['batch']} | {r['jaxcert_s']:.4f} | {r['statsmodels_s']:.4f} | "
                f"{r['scipy_binomtest_loop_s_extrapolated']:.2f} | {r['max_abs_diff']:.1e} |\n"
            )


if __name__ == "__main__":
    main()
