"""Benchmark: batched constrained MLE (exact solver, jit + vmap) vs a scipy L-BFGS-B loop.

The scipy baseline is what a researcher would write: one ``scipy.optimize.minimize``
per problem, L-BFGS-B with the box as ``bounds``, the analytic gradient, a tolerance
tight enough that its nll matches ours to ~1e-6 relative, and one BLAS thread
(``OPENBLAS_NUM_THREADS=1``, set before numpy is imported). Repetitions are
interleaved (scipy, exact at each batch size, the previous projected-Newton solver,
then again), and min/median/max are reported; each sample of a jaxcert run times
back-to-back calls covering at least 64,000 problems. scipy runs on a subsample and its rate is
extrapolated per fit. Also: exactness of both jaxcert solvers against the best of
(scipy, Newton, exact) on the subsample, the profile-bound throughput (closed-form
inner solves vs the previous Newton-inner implementation), and the accuracy of the
paper-faithful fixed-step projected gradient.

Usage::

    python benchmarks/bench_mle.py --quick
    python benchmarks/bench_mle.py            # 1k, 16k, 1M; 2000 scipy fits; 3 reps

Writes ``benchmarks/results/bench_mle_<platform>.json`` and ``.md`` (``cpu``, ``gpu``).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from scipy import optimize  # noqa: E402

import jaxcert  # noqa: E402
from jaxcert import Counts  # noqa: E402
from jaxcert.judge import mle_batched  # noqa: E402
from jaxcert.judge import solver as S  # noqa: E402
from jaxcert.judge._jaxopt import import_jaxopt  # noqa: E402
from jaxcert.judge._lane_solve import solve_problem  # noqa: E402
from jaxcert.judge.likelihood import loglik  # noqa: E402

RESULTS = pathlib.Path(__file__).parent / "results"
MIN_PROBLEMS_PER_SAMPLE = 64_000


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


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    jax.block_until_ready(out)
    return out, time.perf_counter() - t0


def _solver_fn(c, sb, fb, solver, chunk):
    counts = Counts.create(*c.T)
    sb, fb = jnp.asarray(sb), jnp.asarray(fb)
    if solver == "exact":
        return lambda: S.mle(counts, sb, fb)
    return lambda: mle_batched(counts, sb, fb, solver=solver, chunk_size=chunk)


def bound_problems(num, seed=1):
    c, sb, fb = make_problems(num, seed)
    return jnp.asarray(c), jnp.asarray(sb), jnp.asarray(fb)


def bound_fns(c, sb, fb):
    """Profile upper bound (z_0.95^2) per problem: new kernel and previous implementation."""
    from jaxcert.judge._profile_reference import reference_end
    from jaxcert.judge.cmle_intervals import lr_bound

    crit = 2.705543454095404

    def old(c1, s1, f1):
        x, f = solve_problem(c1, s1, f1, "newton", 100, 1e-10, 0.0)[:2]
        return reference_end(c1, s1, f1, x, -f, crit, 1.0)[0]

    new = jax.jit(jax.vmap(lambda c1, s1, f1: lr_bound(Counts(*c1), s1, f1, crit, True)[0]))
    old = jax.jit(jax.vmap(old))
    return (lambda: new(c, sb, fb)), (lambda: old(c, sb, fb))


def lr_residuals(c, sb, fb, ends, crit=2.705543454095404):
    """``2 (l_hat - l_p(end)) - crit`` per problem (the profile solved to tolerance):
    the arbiter where the new and old bounds disagree."""
    from jaxcert.judge._lr_bound import fit_sanitised
    from jaxcert.judge._profile_bound import profile_loglik_at

    def one(c1, s1, f1, end):
        x, l_hat, _, _ = fit_sanitised(c1, s1, f1)
        q0 = x[0] * x[1] + (1.0 - x[0]) * x[2]
        return 2.0 * (l_hat - profile_loglik_at(c1, s1, f1, end, q0)) - crit

    return np.asarray(jax.jit(jax.vmap(one))(c, sb, fb, ends))


def _stats(v):
    return {"min": float(np.min(v)), "median": float(np.median(v)), "max": float(np.max(v))}


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
    p.add_argument("--sizes", type=int, nargs="+", default=None, help="batch sizes (exact)")
    p.add_argument("--newton-sizes", type=int, nargs="+", default=None)
    p.add_argument("--scipy-problems", type=int, default=None, help="problems in the scipy loop")
    p.add_argument("--bound-problems", type=int, default=None)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--chunk-size", type=int, default=4096)
    p.add_argument("--tag", default="", help="suffix of the result files (e.g. _1core under taskset)")
    args = p.parse_args(argv)
    sizes = args.sizes or ([1000, 16000] if args.quick else [1000, 16000, 1_000_000])
    newton_sizes = args.newton_sizes or ([1000] if args.quick else [1000, 16000])
    n_scipy = args.scipy_problems or (200 if args.quick else 2000)
    n_bound = args.bound_problems or (2048 if args.quick else 16384)

    c, sb, fb = make_problems(max(max(sizes), n_scipy))
    runs = {f"exact_{n}": _solver_fn(c[:n], sb[:n], fb[:n], "exact", n) for n in sizes}
    runs.update({f"newton_{n}": _solver_fn(c[:n], sb[:n], fb[:n], "newton", args.chunk_size)
                 for n in newton_sizes})
    bc, bsb, bfb = bound_problems(n_bound)
    runs["bound_new"], runs["bound_old"] = bound_fns(bc, bsb, bfb)
    counts = {k: int(k.split("_")[1]) if k[0] in "en" else n_bound for k in runs}
    for fn in runs.values():  # compile outside the timings
        jax.block_until_ready(fn())
    rates = {k: [] for k in runs}
    rates["scipy"] = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        sci = [scipy_fit(c[i], sb[i], fb[i]) for i in range(n_scipy)]
        rates["scipy"].append(n_scipy / (time.perf_counter() - t0))
        for k, fn in runs.items():
            # back-to-back calls, at least MIN_PROBLEMS_PER_SAMPLE problems per sample: one
            # 3 ms call at 1k problems is at the mercy of a single scheduler hiccup
            calls = -(-MIN_PROBLEMS_PER_SAMPLE // counts[k])
            rates[k].append(calls * counts[k] / _timed(lambda fn=fn, calls=calls: [fn() for _ in range(calls)])[1])
        print({k: round(v[-1]) for k, v in rates.items()})

    # Exactness on the scipy subsample: nll minus the best of the three (>= 0 up to rounding).
    ex = S.mle(Counts.create(*c[:n_scipy].T), sb[:n_scipy], fb[:n_scipy])
    nt = S.mle(Counts.create(*c[:n_scipy].T), sb[:n_scipy], fb[:n_scipy], solver="newton")
    nll = {"exact": np.asarray(ex.nll), "newton": np.asarray(nt.nll),
           "scipy": np.array([v[1] for v in sci])}
    best = np.minimum(np.minimum(nll["exact"], nll["newton"]), nll["scipy"])
    gaps = {k: (v - best) / np.maximum(np.abs(best), 1.0) for k, v in nll.items()}
    new_b, old_b = (np.asarray(runs[k]()) for k in ("bound_new", "bound_old"))
    differ = np.flatnonzero(np.abs(new_b - old_b) > 1e-8)
    res_new, res_old = (np.abs(lr_residuals(bc[differ], bsb[differ], bfb[differ], v[differ]))
                        for v in (new_b, old_b))
    stats = {k: _stats(v) for k, v in rates.items()}
    sci_med = stats["scipy"]["median"]
    out = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "jax_version": jax.__version__, "jaxcert_version": jaxcert.__version__,
        "device": str(jax.devices()[0].device_kind), "platform": jax.devices()[0].platform,
        "x64": bool(jax.config.jax_enable_x64), "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)), "argv": list(argv if argv is not None else sys.argv[1:]),
        "python": platform.python_version(), "quick": args.quick, "reps": args.reps,
        "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "rates_per_s": stats, "scipy_problems": n_scipy, "bound_problems": n_bound,
        "speedup_vs_scipy_median": {k: v["median"] / sci_med for k, v in stats.items()
                                    if k.startswith("exact") or k.startswith("newton")},
        "bound_speedup_median": stats["bound_new"]["median"] / stats["bound_old"]["median"],
        "bound_max_abs_diff_new_old": float(np.max(np.abs(new_b - old_b))),
        "bound_differ_above_1e-8": int(differ.size),
        "bound_differ_lr_residual_new_max": float(res_new.max()) if differ.size else None,
        "bound_differ_lr_residual_old_min": float(res_old.min()) if differ.size else None,
        "max_rel_nll_gap_to_best": {k: float(v.max()) for k, v in gaps.items()},
        "frac_gap_above_1e-9": {k: float(np.mean(v > 1e-9)) for k, v in gaps.items()},
        "exact_status_counts": {int(k): int(v) for k, v in zip(
            *np.unique(np.asarray(ex.status), return_counts=True), strict=True)},
        "pgd_accuracy": pgd_accuracy(),
    }
    print(json.dumps(out, indent=1))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"bench_mle_{out['platform']}{args.tag}.json").write_text(json.dumps(out, indent=1) + "\n")
    md = [f"# bench_mle ({'quick' if args.quick else 'full'}), {out['date']}", "",
          f"jax {out['jax_version']}, device {out['device']} ({out['platform']}), "
          f"x64={out['x64']}, {out['cpu_count']} CPUs ({out['cpus_usable']} usable), OPENBLAS_NUM_THREADS="
          f"{out['openblas_threads']}, {args.reps} interleaved repetitions; arguments: "
          f"`{' '.join(out['argv']) or '(defaults)'}`", "",
          "| run | problems | min /s | median /s | max /s | median vs scipy |",
          "|---|---|---|---|---|---|"]
    for k, v in stats.items():
        n = n_scipy if k == "scipy" else counts[k]
        ratio = "-" if k.startswith("bound") else f"{v['median'] / sci_med:.0f}x"
        md.append(f"| {k} | {n} | {v['min']:.0f} | {v['median']:.0f} | {v['max']:.0f} | {ratio} |")
    pa = out["pgd_accuracy"]
    md += ["", "Exactness on the scipy subsample, (nll - best of exact/newton/scipy) / "
           "max(|best|, 1): " + ", ".join(
               f"{k} max {v:.1e}" for k, v in out["max_rel_nll_gap_to_best"].items()) + ".",
           f"Profile upper bound: new/old {out['bound_speedup_median']:.1f}x (median), "
           f"max |new - old| {out['bound_max_abs_diff_new_old']:.1e}; "
           f"{out['bound_differ_above_1e-8']} of {n_bound} differ by more than 1e-8"
           + ("" if not differ.size else
              f", where |2 (l_hat - l_p(end)) - crit| is at most "
              f"{out['bound_differ_lr_residual_new_max']:.1e} at the new end and at least "
              f"{out['bound_differ_lr_residual_old_min']:.1e} at the old one (the old "
              "implementation had not solved the equation)") + ".",
           "", f"Projected gradient on {pa['problem']}: exact theta {pa['theta_exact']:.6f}; "
           f"pgd 200 fixed steps {pa['theta_pgd200']:.6f} (rel. error "
           f"{pa['pgd200_rel_theta_error']:.1%}); jaxopt ProjectedGradient defaults "
           f"{pa['theta_jaxopt_defaults']:.6f} after {pa['jaxopt_defaults_iters']} iterations "
           f"(rel. error {pa['jaxopt_defaults_rel_theta_error']:.1%}).", ""]
    (RESULTS / f"bench_mle_{out['platform']}{args.tag}.md").write_text("\n".join(md))
    return out


if __name__ == "__main__":
    main()
