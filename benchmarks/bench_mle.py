"""Benchmark: batched constrained MLE (jit + vmap, chunked) vs a scipy L-BFGS-B loop.

The scipy baseline is what a researcher would write: one ``scipy.optimize.minimize``
per problem, L-BFGS-B with the box as ``bounds``, an analytic gradient and a tolerance
tight enough that its nll matches ours to ~1e-6 relative. Both solve the same seeded
random problems (calibration n in {20, 50, 200, 1000}, judge-only N up to 1e5, boxes
around or away from the truth) in one run. Also recorded: the accuracy of the
paper-faithful fixed-step projected gradient (200 steps) and of jaxopt's
ProjectedGradient at its default settings, against the exact optimum.

Usage::

    python benchmarks/bench_mle.py --quick
    python benchmarks/bench_mle.py --sizes 1000 4000 16000 --scipy-problems 2000

Writes ``benchmarks/results/bench_mle_cpu.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy import optimize

import jaxcert
from jaxcert import Counts
from jaxcert.judge import solver as S
from jaxcert.judge._jaxopt import import_jaxopt
from jaxcert.judge.likelihood import loglik

RESULTS = pathlib.Path(__file__).parent / "results"


def make_problems(num: int, seed: int = 0):
    """Seeded random boxed problems, shapes (num, 6), (num, 2), (num, 2)."""
    rng = np.random.default_rng(seed)
    theta = np.exp(rng.uniform(np.log(1e-3), np.log(0.5), num))
    s, r = rng.uniform(0.55, 0.99, num), rng.uniform(0.0, 0.3, num)
    n = rng.choice([20, 50, 200, 1000], num)
    nn = rng.choice([0, 100, 2000, 100_000], num)
    y = rng.binomial(n, theta)
    n11, n01 = rng.binomial(y, s), rng.binomial(n - y, r)
    m1 = rng.binomial(nn, theta * s + (1 - theta) * r)
    c = np.stack([n11, y - n11, n01, n - y - n01, m1, nn - m1], 1).astype(float)
    shift = np.where(rng.uniform(size=num) < 0.5, 0.0, rng.uniform(-0.15, 0.15, num))
    s_lo = np.clip(s - 0.05 + shift, 0.5, 0.95)
    r_lo = np.clip(r - 0.05 - shift, 0.0, 0.4)
    return c, np.stack([s_lo, s_lo + 0.05], 1), np.stack([r_lo, r_lo + 0.1], 1)


def np_nll(x, c):
    t, s, r = x
    q = t * s + (1 - t) * r
    p = np.array([t * s, t * (1 - s), (1 - t) * r, (1 - t) * (1 - r), q, 1 - q])
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(c > 0, c * np.log(np.maximum(p, 1e-300)), 0.0)
    return -terms.sum()


def np_grad(x, c):
    t, s, r = x
    n11, n10, n01, n00, m1, m0 = c
    q = t * s + (1 - t) * r
    w = m1 / q - m0 / (1 - q)
    return -np.array([(n11 + n10) / t - (n01 + n00) / (1 - t) + (s - r) * w,
                      n11 / s - n10 / (1 - s) + t * w, n01 / r - n00 / (1 - r) + (1 - t) * w])


def scipy_fit(c, sb, fb):
    e = 1e-10
    bounds = [(e, 1 - e), tuple(np.clip(sb, e, 1 - e)), tuple(np.clip(fb, e, 1 - e))]
    x0 = np.array([0.1, np.mean(sb), np.mean(fb)])
    scale = c.sum()
    res = optimize.minimize(lambda x: np_nll(x, c) / scale, x0, jac=lambda x: np_grad(x, c) / scale,
                            method="L-BFGS-B", bounds=bounds,
                            options=dict(ftol=1e-13, gtol=1e-9, maxiter=1000))
    return res.x, np_nll(res.x, c)


def time_ours(c, sb, fb, chunk_size, repeats=3):
    counts = Counts.create(*c.T)
    S.mle_batched(counts, sb, fb, chunk_size=chunk_size).theta.block_until_ready()  # warm-up
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = S.mle_batched(counts, sb, fb, chunk_size=chunk_size)
        res.theta.block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return res, best


def pgd_accuracy():
    """Jigsaw-like problem: exact optimum vs pgd-200 and jaxopt ProjectedGradient defaults."""
    c = Counts.create(5.0, 1, 3, 41, 1030, 8970)
    sb, fb = np.array([0.90, 0.96]), np.array([0.04, 0.07])
    exact = S.mle(c, sb, fb)
    pgd = S.mle(c, sb, fb, solver="pgd")
    jaxopt = import_jaxopt()
    lo, hi = jnp.array([0.0, sb[0], fb[0]]), jnp.array([1.0, sb[1], fb[1]])
    fun = lambda x: -loglik(x[0], x[1], x[2], c) / 10_050.0  # noqa: E731  (what a user writes)
    x0 = jnp.array([0.5, sb.mean(), fb.mean()])
    x_def, st = jaxopt.ProjectedGradient(fun, jaxopt.projection.projection_box).run(
        x0, hyperparams_proj=(lo, hi))
    t_exact = float(exact.theta)
    return {
        "problem": ("n11,n10,n01,n00,m1,m0 = 5,1,3,41,1030,8970; "
                    "tpr in [0.90,0.96], fpr in [0.04,0.07]"),
        "theta_exact": t_exact, "nll_exact": float(exact.nll),
        "theta_pgd200": float(pgd.theta), "nll_pgd200": float(pgd.nll),
        "pgd200_rel_theta_error": abs(float(pgd.theta) - t_exact) / t_exact,
        "theta_jaxopt_defaults": float(x_def[0]), "jaxopt_defaults_iters": int(st.iter_num),
        "jaxopt_defaults_rel_theta_error": abs(float(x_def[0]) - t_exact) / t_exact,
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes for a fast run")
    p.add_argument("--sizes", type=int, nargs="+", default=None, help="batch sizes for ours")
    p.add_argument("--scipy-problems", type=int, default=None, help="problems in the scipy loop")
    p.add_argument("--chunk-size", type=int, default=4096)
    args = p.parse_args(argv)
    sizes = args.sizes or ([1000, 4000] if args.quick else [1000, 4000, 16000])
    n_scipy = args.scipy_problems or (300 if args.quick else 2000)

    c, sb, fb = make_problems(max(max(sizes), n_scipy))
    rows = []
    for size in sizes:
        res, sec = time_ours(c[:size], sb[:size], fb[:size], args.chunk_size)
        row = {"batch": size, "chunked_fits_per_s": size / sec, "chunk_size": args.chunk_size}
        if size > args.chunk_size:
            _, sec1 = time_ours(c[:size], sb[:size], fb[:size], size, repeats=1)
            row["unchunked_fits_per_s"] = size / sec1
        rows.append(row)
        print(row)
    ours, _ = time_ours(c[:n_scipy], sb[:n_scipy], fb[:n_scipy], args.chunk_size, repeats=1)

    t0 = time.perf_counter()
    sci = [scipy_fit(c[i], sb[i], fb[i]) for i in range(n_scipy)]
    sec_scipy = time.perf_counter() - t0
    nll_scipy = np.array([v[1] for v in sci])
    nll_ours = np.asarray(ours.nll)
    gap = (nll_scipy - nll_ours) / np.maximum(np.abs(nll_ours), 1.0)  # > 0: scipy worse
    scipy_rate = n_scipy / sec_scipy
    best_rate = max(r["chunked_fits_per_s"] for r in rows)
    out = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "jax_version": jax.__version__, "jaxcert_version": jaxcert.__version__,
        "device": str(jax.devices()[0].device_kind), "platform": jax.devices()[0].platform,
        "x64": bool(jax.config.jax_enable_x64), "cpu_count": os.cpu_count(),
        "python": platform.python_version(), "quick": args.quick,
        "ours": rows,
        "ours_status_counts": {int(k): int(v) for k, v in zip(
            *np.unique(np.asarray(ours.status), return_counts=True), strict=True)},
        "scipy_problems": n_scipy, "scipy_fits_per_s": scipy_rate,
        "speedup_best_vs_scipy": best_rate / scipy_rate,
        "max_rel_nll_gap_scipy_minus_ours": float(gap.max()),
        "min_rel_nll_gap_scipy_minus_ours": float(gap.min()),
        "frac_scipy_worse_than_1e-6": float(np.mean(gap > 1e-6)),
        "pgd_accuracy": pgd_accuracy(),
    }
    print(json.dumps(out, indent=1))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_mle_cpu.json").write_text(json.dumps(out, indent=1) + "\n")
    md = [f"# bench_mle ({'quick' if args.quick else 'full'}), {out['date']}", "",
          f"jax {out['jax_version']}, device {out['device']} ({out['platform']}), "
          f"x64={out['x64']}, {out['cpu_count']} CPUs", "",
          "| batch | ours chunked fits/s | ours unchunked fits/s |", "|---|---|---|"]
    for r in rows:
        md.append(f"| {r['batch']} | {r['chunked_fits_per_s']:.0f} | "
                  f"{r.get('unchunked_fits_per_s', float('nan')):.0f} |")
    pa = out["pgd_accuracy"]
    md += ["", f"scipy L-BFGS-B loop ({n_scipy} problems): {scipy_rate:.0f} fits/s; "
           f"speedup {out['speedup_best_vs_scipy']:.0f}x.",
           "Relative nll gap (scipy - ours)/max(|ours|, 1): "
           f"max {gap.max():.2e}, min {gap.min():.2e}; "
           f"scipy worse than 1e-6 on {100 * out['frac_scipy_worse_than_1e-6']:.1f}% of problems.",
           "", f"Projected gradient on {pa['problem']}: exact theta {pa['theta_exact']:.6f}; "
           f"pgd 200 fixed steps {pa['theta_pgd200']:.6f} (rel. error "
           f"{pa['pgd200_rel_theta_error']:.1%}); jaxopt ProjectedGradient defaults "
           f"{pa['theta_jaxopt_defaults']:.6f} after {pa['jaxopt_defaults_iters']} iterations "
           f"(rel. error {pa['jaxopt_defaults_rel_theta_error']:.1%}).", ""]
    (RESULTS / "bench_mle_cpu.md").write_text("\n".join(md))
    return out


if __name__ == "__main__":
    main()
