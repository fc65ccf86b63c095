"""Benchmark: CEM + defensive IS vs uniform sampling with exact Clopper-Pearson.

For failure masses {1e-3, 1e-4, 1e-5} x concentrations {concentrated, intermediate,
diffuse} on planted landscapes over 10^6 inputs (exact mu), averaged over seeds:

* reduction = (uniform samples an exact one-sided Clopper-Pearson certificate needs
  to reach the same upper bound, zero failures: ``uniform_samples_needed``) /
  (inferences CEM + IS used, TRAINING INCLUDED), for the library's default certificate
  (betting IS bound intersected with exact Clopper-Pearson on the uniform draws, alpha/2
  each), for the betting IS bound alone and for the asymptotic CLT bound;
* the ceiling ``-log(alpha) / (mu * budget)``: the largest reduction any valid bound
  >= mu can show at this budget;
* coverage of each upper bound (fraction of seeds with ``upper >= mu``) and the
  relative RMSE of the point estimate, next to uniform sampling's at the same budget;
* throughput of the jitted CEM kernels vmapped over many landscapes on CPU.

Usage: ``python benchmarks/bench_cem.py [--quick] [--budget N] [--seeds S]``.
Writes ``benchmarks/results/bench_cem_cpu.{json,md}``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import jaxcert
from jaxcert.rare import (
    ProductSpace,
    cem_init,
    cem_run,
    estimate,
    landscape_evaluator,
    landscape_mu,
    landscape_score,
    planted_landscape,
    uniform_estimate,
)

SIZES = (10,) * 6
MASSES = (1e-3, 1e-4, 1e-5)
CONCENTRATIONS = ("concentrated", "intermediate", "diffuse")
RESULTS = Path(__file__).parent / "results"


def run_cell(mass, conc, seeds, budget, alpha, defensive):
    space = ProductSpace(SIZES)
    rows = []
    for s in range(seeds):
        L = planted_landscape(jax.random.key(1000 + s), SIZES, mass, conc)
        mu, ev = landscape_mu(L), landscape_evaluator(L)
        key = jax.random.key(s)
        common = dict(alpha=alpha, defensive=defensive, batch_size=budget // 10, stages=5)
        # same key -> same draws for the three IS variants
        clt = estimate(key, space, ev, budget, bound="clt", uniform_check=False, **common)
        bet = estimate(key, space, ev, budget, bound="betting", uniform_check=False, **common)
        dflt = estimate(key, space, ev, budget, **common)  # the library default certificate
        uni = uniform_estimate(key, space, ev, budget, alpha=alpha)
        rows.append(dict(mu=mu, est=clt.estimate, clt_up=clt.upper, bet_up=bet.upper, dflt_up=dflt.upper,
                         uni_up=uni.upper, uni_est=uni.estimate, red_clt=clt.reduction, red_bet=bet.reduction,
                         red_dflt=dflt.reduction, red_uni=uni.reduction, inf=clt.inferences,
                         fails=clt.failures_seen, by_uniform=float(dflt.certificate == "uniform draws")))
    col = lambda k: np.array([r[k] for r in rows], float)  # noqa: E731
    mu = col("mu")
    nanmean = lambda a: float(np.nanmean(a)) if np.any(np.isfinite(a)) else float("nan")  # noqa: E731
    return dict(
        mass=mass,
        concentration=conc,
        seeds=seeds,
        budget=budget,
        inferences=float(col("inf").mean()),
        ceiling=-math.log(alpha) / (mass * budget),
        reduction_clt=nanmean(col("red_clt")),
        reduction_betting=nanmean(col("red_bet")),
        reduction_default=nanmean(col("red_dflt")),
        share_set_by_uniform_draws=float(col("by_uniform").mean()),
        coverage_default=float(np.mean(col("dflt_up") >= mu)),
        mean_upper_default=float(col("dflt_up").mean()),
        reduction_uniform=nanmean(col("red_uni")),
        coverage_clt=float(np.mean(col("clt_up") >= mu)),
        coverage_betting=float(np.mean(col("bet_up") >= mu)),
        coverage_uniform=float(np.mean(col("uni_up") >= mu)),
        rel_rmse_is=float(np.sqrt(np.mean((col("est") / mu - 1) ** 2))),
        rel_rmse_uniform=float(np.sqrt(np.mean((col("uni_est") / mu - 1) ** 2))),
        failures_seen=float(col("fails").mean()),
        mean_upper_clt=float(col("clt_up").mean()),
        mean_upper_betting=float(col("bet_up").mean()),
        mean_upper_uniform=float(col("uni_up").mean()),
    )


def throughput(num_landscapes, num_stages, batch_size, repeats=3):
    Ls = [planted_landscape(jax.random.key(s), SIZES, 1e-4, "intermediate") for s in range(num_landscapes)]
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *Ls)
    state0 = cem_init(SIZES)

    @jax.jit
    def run(keys, Ls, rho, smoothing):
        f = lambda k, L: cem_run(k, state0, partial(landscape_score, L), num_stages=num_stages,  # noqa: E731
                                 batch_size=batch_size, rho=rho, smoothing=smoothing)
        return jax.vmap(f)(keys, Ls)

    keys = jax.random.split(jax.random.key(0), num_landscapes)
    t0 = time.perf_counter()
    jax.block_until_ready(run(keys, stacked, 0.1, 0.7))
    compile_s = time.perf_counter() - t0
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(run(jax.random.split(jax.random.key(r + 1), num_landscapes), stacked, 0.1 + 0.01 * r, 0.7))
        times.append(time.perf_counter() - t0)
    best = min(times)
    draws = num_landscapes * num_stages * batch_size
    return dict(landscapes=num_landscapes, stages=num_stages, batch_size=batch_size, compile_s=compile_s,
                seconds=best, draws_per_second=draws / best, landscape_stages_per_second=num_landscapes * num_stages / best)


def environment():
    return dict(
        jax=jax.__version__,
        jaxcert=jaxcert.__version__,
        device=str(jax.devices()[0]),
        platform=jax.default_backend(),
        x64=bool(jax.config.jax_enable_x64),
        cpu_count=os.cpu_count(),
        python=platform.python_version(),
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )


def to_markdown(res) -> str:
    env = res["environment"]
    lines = [
        "# bench_cem: CEM + defensive IS vs uniform sampling (exact Clopper-Pearson)",
        "",
        f"jax {env['jax']}, device {env['device']}, x64 {env['x64']}, {env['cpu_count']} CPUs, {env['date']}, "
        f"mode {'quick' if res['config']['quick'] else 'full'}; space 10^6 inputs, budget {res['config']['budget']} "
        f"(training included), alpha {res['config']['alpha']}, defensive l = {res['config']['defensive']}.",
        "",
        "Reduction = uniform samples for the same one-sided CP bound (zero failures) / inferences used "
        "(training included). Ceiling = -log(alpha)/(mu budget): no bound >= mu can show more. "
        f"Valid limit = ln(1/alpha)/(1/2 - alpha) = {math.log(1 / res['config']['alpha']) / (0.5 - res['config']['alpha']):.2f}: "
        "the largest median reduction ANY valid certificate from this many model calls can show, whatever the "
        "sampler (jaxcert.rare.importance). Coverage = share of seeds with upper >= mu. "
        "Default = the library's certificate: betting IS bound and exact Clopper-Pearson on the uniform draws, "
        "alpha/2 each, intersected. CLT is asymptotic; it is what shows large reductions.",
        "",
        "| mass | concentration | seeds | reduction default | reduction betting (IS only) | reduction CLT | ceiling | "
        "coverage default | coverage betting | coverage CLT | coverage uniform | default set by uniform draws | "
        "rel. RMSE IS | rel. RMSE uniform |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in res["cells"]:
        lines.append(
            f"| {c['mass']:.0e} | {c['concentration']} | {c['seeds']} | {c['reduction_default']:.3g} | "
            f"{c['reduction_betting']:.3g} | {c['reduction_clt']:.3g} | {c['ceiling']:.3g} | {c['coverage_default']:.2f} | "
            f"{c['coverage_betting']:.2f} | {c['coverage_clt']:.2f} | {c['coverage_uniform']:.2f} | "
            f"{c['share_set_by_uniform_draws']:.2f} | {c['rel_rmse_is']:.3g} | {c['rel_rmse_uniform']:.3g} |"
        )
    t = res["throughput"]
    lines += [
        "",
        f"Throughput (jit(vmap(cem_run)) over {t['landscapes']} landscapes x {t['stages']} stages x {t['batch_size']} draws): "
        f"{t['draws_per_second']:.3g} draws/s, {t['landscape_stages_per_second']:.3g} landscape-stages/s "
        f"(best of 3, {t['seconds']:.3g} s; compile {t['compile_s']:.3g} s).",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few seeds, small throughput run")
    ap.add_argument("--budget", type=int, default=2000)
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--defensive", type=float, default=0.1)
    args = ap.parse_args(argv)
    seeds = args.seeds or (4 if args.quick else 30)
    cells = []
    for mass in MASSES:
        for conc in CONCENTRATIONS:
            t0 = time.perf_counter()
            c = run_cell(mass, conc, seeds, args.budget, args.alpha, args.defensive)
            cells.append(c)
            print(f"mass {mass:.0e} {conc:13s} reduction default {c['reduction_default']:8.3g} (coverage "
                  f"{c['coverage_default']:.2f}) clt {c['reduction_clt']:8.3g} betting {c['reduction_betting']:8.3g} "
                  f"(ceiling {c['ceiling']:.3g}) coverage clt {c['coverage_clt']:.2f} betting {c['coverage_betting']:.2f} "
                  f"rel.RMSE IS {c['rel_rmse_is']:.3g} uniform {c['rel_rmse_uniform']:.3g}  [{time.perf_counter() - t0:.1f}s]",
                  flush=True)
    tp = throughput(16 if args.quick else 128, 5, 1000)
    print(f"throughput: {tp['draws_per_second']:.3g} draws/s ({tp['landscape_stages_per_second']:.3g} landscape-stages/s)")
    res = dict(environment=environment(), config=dict(quick=args.quick, budget=args.budget, seeds=seeds, alpha=args.alpha,
               defensive=args.defensive, sizes=SIZES), cells=cells, throughput=tp)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_cem_cpu.json").write_text(json.dumps(res, indent=2))
    (RESULTS / "bench_cem_cpu.md").write_text(to_markdown(res))
    print(to_markdown(res))


if __name__ == "__main__":
    main()
