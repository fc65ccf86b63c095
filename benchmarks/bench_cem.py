"""Benchmark: efficiency of CEM + defensive IS against uniform sampling, honestly measured.

Metric: inferences needed to reach relative RMSE 0.1, uniform / method, at budget
2,000, EVERY call counted (training included), the SAME outcome type on both sides:

* ``0/1``: each estimation call returns a failure ``Y ~ Bernoulli(F(x))`` (one sampled
  answer); training calls return the graded signal ``F(x)`` (e.g. ``1 - P(reference |
  prompt)`` from prompt log-probabilities, one inference each). Uniform sampling:
  ``Var = mu (1 - mu)``.
* ``graded``: every call returns ``F(x)``. Uniform sampling: ``Var = Var_{p0}(F)``.
* ``0/1 train``: training ALSO sees only ``Y ~ Bernoulli(F)`` (no graded signal).

Variances are exact: given the proposals a run trained, the conditional variance of
its estimate is enumerated over all 10^6 inputs, so
``efficiency = (Var_uniform / budget) / mean_runs(exact conditional variance)`` (the mean
over runs captures the heavy tail that 30 seeds of squared errors miss). The estimate
reuses the last ``REUSE`` training stages and the estimation stage with their own
defensive-mixture weights, stage ``t`` weighted by ``lambda_t``
(:func:`jaxcert.rare.budget.stage_weights`, the library's rule: set by the previous
stage's closeness to the CE target, so fixed before the stage's own draws), so it is
unbiased and the mean over runs of ``sum_t lambda_t^2 V_t / n_t`` is its exact MSE.

Intervals (one sampled run per seed): the default asymptotic interval of
:func:`jaxcert.rare.estimate` (bootstrap-t when the integrand's ESS < 50 or
hits < 30, widened to contain the Fay-Feuer gamma interval with 0/1 outcomes; else
skew-corrected), its coverage, and the ``unreliable`` flag (PSIS k-hat > 0.7,
too few hits, low ESS), checked against the per-run exact efficiency.

Landscapes: planted over 10^6 inputs (``jaxcert.rare.synthetic``), concentrated /
intermediate / diffuse at mu = 1e-3 / 1e-4 / 1e-5, 8 landscapes per cell.

Usage: ``python benchmarks/bench_cem.py [--quick] [--seeds S] [--outcomes ...]
[--landscapes ...] [--masses ...] [--budget B] [--tag T]`` (full: 400 seeds; a larger
``--budget`` keeps the six training stages and grows the fresh stage). Writes
``benchmarks/results/bench_cem_cpu{T}.{json,md}``.
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
from jaxcert.rare import ProductSpace, landscape_mu, landscape_score, planted_landscape
from jaxcert.rare.synthetic import CONCENTRATIONS as CONCENTRATION_BETA
from jaxcert.rare.budget import proposal_closeness, stage_weights, weight_stage_terms
from jaxcert.rare.cem import cem_init, cem_update
from jaxcert.rare.proposal import defensive_mixture, mixture_log_prob, mixture_sample_components
from jaxcert.rare.recycling import pooled_mixture
from jaxcert.rare.reliability import assess

SIZES = (10,) * 6
MASSES = (1e-3, 1e-4, 1e-5)
CONCENTRATIONS = ("concentrated", "intermediate", "diffuse")
OUTCOMES = ("0/1", "graded", "0/1 train")
RESULTS = Path(__file__).parent / "results"
CFG = dict(budget=2000, stages=6, batch=150, reuse=5, defensive=0.1, smoothing=0.7, floor=1e-3, alpha=0.05, min_ess=0.1)
TARGETS = {"0/1": (3, 15, 250), "graded": (20, 150, 3000)}
SEQUENTIAL_BUDGET = 20_000  # above it runs are simulated one at a time (memory, bootstrap)
# variance-optimal CE targets: p0 sqrt(F) for 0/1 outcomes, p0 F for graded ones (usable with tempering)
POWERS = {"0/1": 0.5, "graded": 1.0, "0/1 train": 0.5}


def grid_log_q(mixture):
    """``log q(x)`` of a mixture of products on the full grid, flat C order ``(N,)``."""
    comps = mixture.components
    d = comps.probs.shape[-2]
    lp = jnp.log(comps.probs)  # (M, d, K)
    tot = jnp.zeros((lp.shape[0],) + (1,) * d)
    for j in range(d):
        shape = [lp.shape[0]] + [1] * d
        shape[1 + j] = SIZES[j]
        tot = tot + lp[:, j, : SIZES[j]].reshape(shape)
    tot = tot.reshape(lp.shape[0], -1)
    return jax.scipy.special.logsumexp(tot + jnp.log(mixture.weights)[:, None], axis=0)


@partial(jax.jit, static_argnames=("outcome",))
def simulate_run(key, L, F_grid, outcome, power):
    """One run's terms: ``(z, strata, exact conditional variance, uniform draws, outcomes)``.

    ``z`` are scaled by :func:`jaxcert.rare.budget.weight_stage_terms` (as in the
    library) so that ``mean(z)`` is the stage-weighted estimate.
    """
    c = CFG
    n_est = c["budget"] - c["stages"] * c["batch"]
    N = float(np.prod(SIZES))
    log_p0 = -math.log(N)
    prop = cem_init(SIZES).proposal
    k_train, _, k_y, _ = jax.random.split(key, 4)
    zs, outs, strata, second, closeness = [], [], [], [], [jnp.zeros(())]
    mixes, Xs, Ss = [], [], []
    train_binary = outcome == "0/1 train"
    sizes = [c["batch"]] * c["stages"] + [n_est]
    reused = list(range(c["stages"] - c["reuse"], c["stages"] + 1))
    uniform_draws = jnp.zeros(())
    mu = jnp.mean(F_grid)
    for t, k in enumerate(jax.random.split(k_train, c["stages"] + 1)):
        mix = defensive_mixture(prop, c["defensive"])
        X, comp = mixture_sample_components(k, mix, sizes[t])
        F = landscape_score(L, X)
        Y = (jax.random.uniform(jax.random.fold_in(k_y, t), F.shape) < F).astype(F.dtype)
        outcome_vals = F if outcome == "graded" else Y
        log_q = mixture_log_prob(mix, X)
        if t < c["stages"]:
            S = Y if train_binary else F
            # the library's stage-weight input: q_t judged on its own draws (sets stage t+1's weight)
            closeness.append(proposal_closeness(jnp.exp(log_p0 - log_q) * S**power))
            mixes.append(mix), Xs.append(X), Ss.append(S)
            # recycled training draws (the library default): balance-heuristic density of the stages so far
            Xa, Sa = jnp.concatenate(Xs), jnp.concatenate(Ss)
            lqa = mixture_log_prob(pooled_mixture(mixes, sizes[: t + 1]), Xa)
            prop, _ = cem_update(prop, Xa, Sa, lqa, jnp.ones(Xa.shape[0], bool), 1.0, c["smoothing"], c["floor"], power,
                                 c["min_ess"])
        uniform_draws = uniform_draws + (sizes[t] if t == 0 else jnp.sum(comp == 0))  # stage 0 is all uniform
        if t in reused:
            zs.append(outcome_vals * jnp.exp(log_p0 - log_q))
            outs.append(outcome_vals)
            strata.append(jnp.full(sizes[t], len(zs) - 1))
            out2 = F_grid**2 if outcome == "graded" else F_grid  # E[outcome^2 | x]
            second.append(jnp.sum(jnp.exp(2 * log_p0 - grid_log_q(mix)) * out2))
    # weights fixed stage by stage before each stage's draws (martingale): the run's
    # conditional variance sum_t lambda_t^2 V_t / n_t averages to the exact MSE
    lam_close = jnp.stack(closeness[reused[0]: c["stages"]])
    lam = stage_weights([sizes[t] for t in reused], lam_close)
    exact = sum(lam[j] ** 2 * (second[j] - mu**2) / sizes[t] for j, t in enumerate(reused))
    return (jnp.concatenate(weight_stage_terms(zs, lam_close)), jnp.concatenate(strata), exact, uniform_draws,
            jnp.concatenate(outs))


@partial(jax.jit, static_argnames=("outcome",))
def one_run(key, L, F_grid, outcome, power):
    """One run: training stages, estimation stage, exact and sampled figures."""
    z, st, exact, uniform_draws, outcomes = simulate_run(key, L, F_grid, outcome, power)
    a = assess(jax.random.split(key, 4)[3], z, st, CFG["reuse"] + 1, CFG["alpha"], num_uniform=uniform_draws,
               outcomes=outcomes, inputs=CFG["budget"])
    return exact, a


def run_cell(mass, conc, outcome, seeds, power, num_landscapes=8):
    per = max(1, seeds // num_landscapes)
    rows = []
    for i in range(num_landscapes):
        L = planted_landscape(jax.random.key(1000 + i), SIZES, mass, conc)
        X = ProductSpace(SIZES).enumerate()
        F_grid = jnp.asarray(landscape_score(L, X))
        mu = landscape_mu(L)
        var_u = mu * (1 - mu) if outcome != "graded" else float(jnp.var(F_grid))
        keys = jax.random.split(jax.random.key(10_000 * i + 7), per)
        run = lambda k: one_run(k, L, F_grid, outcome, power)  # noqa: E731
        # large budgets: one run at a time, so assess skips the bootstrap where the CLT
        # is its answer (vmapped, its cond would run both branches for every run)
        exact, a = jax.vmap(run)(keys) if CFG["budget"] <= SEQUENTIAL_BUDGET else jax.lax.map(run, keys)
        exact = np.asarray(exact)
        eff_run = (var_u / CFG["budget"]) / exact
        cover = (np.asarray(a.lower) <= mu) & (mu <= np.asarray(a.upper))
        rows.append(dict(mu=mu, var_u=var_u, exact=exact, eff_run=eff_run, cover=cover,
                         unreliable=np.asarray(a.unreliable), est=np.asarray(a.estimate),
                         boot=np.asarray(a.bootstrap_t), khat=np.asarray(a.khat), reasons=np.asarray(a.reasons)))
    cat = lambda k: np.concatenate([r[k] for r in rows])  # noqa: E731
    mse_rel = np.concatenate([r["exact"] / r["mu"] ** 2 for r in rows])
    u_rel = np.mean([r["var_u"] / r["mu"] ** 2 / CFG["budget"] for r in rows])
    eff = float(u_rel / mse_rel.mean())
    eff_run, unrel, cover = cat("eff_run"), cat("unreliable"), cat("cover")
    bad = eff_run < 1
    n = cover.size
    return dict(
        mass=mass, concentration=conc, outcome=outcome, runs=int(n), power=float(power),
        # expected defensive draws of the fresh stage in the diffuse part (beta mu), which a
        # product proposal cannot target: the n l (hidden mass)
        fresh_defensive_hidden_draws=float((CFG["budget"] - CFG["stages"] * CFG["batch"]) * CFG["defensive"]
                                           * CONCENTRATION_BETA[conc] * mass),
        efficiency=eff, rel_rmse_method=float(np.sqrt(mse_rel.mean())), rel_rmse_uniform=float(np.sqrt(u_rel)),
        median_run_efficiency=float(np.median(eff_run)), share_runs_efficiency_below_1=float(bad.mean()),
        coverage=float(cover.mean()), coverage_se=float(math.sqrt(max(cover.mean() * (1 - cover.mean()), 1e-12) / n)),
        unreliable_share=float(unrel.mean()),
        unreliable_share_where_efficiency_below_1=float(unrel[bad].mean()) if bad.any() else None,
        share_bootstrap_t=float(cat("boot").mean()),
        reason_shares={name: float(np.mean((cat("reasons") & bit) > 0)) for bit, name in
                       ((1, "khat"), (2, "few hits"), (4, "low ESS"))},
        empirical_rel_rmse=float(np.sqrt(np.mean((cat("est") / np.repeat([r["mu"] for r in rows], per) - 1) ** 2))),
    )


def environment():
    return dict(jax=jax.__version__, jaxcert=jaxcert.__version__, device=str(jax.devices()[0]), platform=jax.default_backend(),
                x64=bool(jax.config.jax_enable_x64), cpu_count=os.cpu_count(), python=platform.python_version(),
                date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))


def to_markdown(res) -> str:
    env, cfg = res["environment"], res["config"]
    lines = [
        "# bench_cem: CEM + defensive IS vs uniform sampling (honest efficiency)",
        "",
        f"jax {env['jax']}, device {env['device']}, x64 {env['x64']}, {env['cpu_count']} CPUs, {env['date']}, "
        f"mode {'quick' if cfg['quick'] else 'full'}, {cfg['seeds']} runs per cell; space 10^6 inputs, budget "
        f"{cfg['budget']} inferences (training included), {cfg['stages']} training stages of {cfg['batch']} from the "
        f"defensive mixture (l = {cfg['defensive']}), score-weighted CE (rho = 1, power {cfg['powers']}, smoothing "
        f"{cfg['smoothing']}, tempered while the training ESS < {cfg.get('min_ess', 0)} of the elite, each update "
        f"on every training draw so far with the balance-heuristic density), last "
        f"{cfg['reuse']} training stages reused with own-stage weights, stage weights from the previous stage's closeness to the CE "
        f"target (since 2026-12-03; before: the quadratic ramp n_t (t/R)^2).",
        "",
        "Efficiency = inferences uniform sampling needs for relative RMSE 0.1 / inferences this method needs "
        "(= uniform MSE at the budget / method MSE), exact variances by enumeration, same outcome type on both "
        "sides. Coverage of the default two-sided 95% asymptotic interval (bootstrap-t if ESS < 50 or hits < 30, "
        "widened to contain the Fay-Feuer gamma interval when every outcome is 0 or 1 (since 2026-12-02); else "
        "skew-corrected (before 2026-12-02 plain CLT there)). "
        "`unreliable | eff<1` = share of runs flagged among runs whose exact efficiency is below 1.",
        "",
        "Outcome: `0/1` = estimation calls return a sampled failure Y ~ Bernoulli(F), training calls the graded "
        "F (e.g. from log-probabilities); `graded` = every call returns F; `0/1 train` = training also sees only "
        "0/1 outcomes (no graded signal: at these rates CE rarely sees a failure and learns little). "
        "`n l hidden` = expected fresh-stage defensive draws in the diffuse part (beta mu), which a product "
        "proposal cannot target.",
        "",
        "| mu | landscape | outcome | efficiency | target | rel. RMSE (method / uniform) | runs eff<1 | coverage | "
        "unreliable | unreliable given eff<1 | bootstrap-t share | n l hidden |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in res["cells"]:
        tgt = TARGETS.get(c["outcome"])
        t = (f"{tgt[MASSES.index(c['mass'])]}x" if tgt and c["concentration"] == "concentrated"
             and c["mass"] in MASSES and cfg["budget"] == 2000 else "")
        ub = c["unreliable_share_where_efficiency_below_1"]
        lines.append(
            f"| {c['mass']:.0e} | {c['concentration']} | {c['outcome']} | {c['efficiency']:.3g}x | {t} | "
            f"{c['rel_rmse_method']:.3g} / {c['rel_rmse_uniform']:.3g} | {c['share_runs_efficiency_below_1']:.2f} | "
            f"{c['coverage']:.3f} | {c['unreliable_share']:.2f} | {'-' if ub is None else f'{ub:.2f}'} | "
            f"{c['share_bootstrap_t']:.2f} | {c.get('fresh_defensive_hidden_draws', float('nan')):.3g} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="8 runs per cell on 2 landscapes")
    ap.add_argument("--seeds", type=int, default=None, help="runs per cell (default 400, quick 8)")
    ap.add_argument("--outcomes", default=",".join(OUTCOMES))
    ap.add_argument("--landscapes", default=",".join(CONCENTRATIONS), help="subset of " + ",".join(CONCENTRATIONS))
    ap.add_argument("--masses", default=",".join(f"{m:g}" for m in MASSES), help="failure rates mu")
    ap.add_argument("--budget", type=int, default=CFG["budget"],
                    help="inferences per run (training stages unchanged; the fresh stage gets the rest)")
    ap.add_argument("--tag", default="", help="suffix of the output files (bench_cem_cpu<tag>.{json,md})")
    args = ap.parse_args(argv)
    seeds = args.seeds or (8 if args.quick else 400)
    if args.budget <= CFG["stages"] * CFG["batch"] + 1:
        ap.error(f"--budget must exceed the {CFG['stages'] * CFG['batch']} training draws")
    CFG["budget"] = args.budget
    num_landscapes = 2 if args.quick else 8
    cells = []
    for outcome in args.outcomes.split(","):
        for mass in (float(m) for m in args.masses.split(",")):
            for conc in args.landscapes.split(","):
                t0 = time.perf_counter()
                c = run_cell(mass, conc, outcome, seeds, POWERS[outcome], num_landscapes)
                cells.append(c)
                print(f"{outcome:9s} mu {mass:.0e} {conc:13s} efficiency {c['efficiency']:9.3g}x  coverage "
                      f"{c['coverage']:.3f}  unreliable {c['unreliable_share']:.2f} (given eff<1: "
                      f"{c['unreliable_share_where_efficiency_below_1']})  [{time.perf_counter() - t0:.0f}s]", flush=True)
    res = dict(environment=environment(), config=dict(quick=args.quick, seeds=seeds, powers=POWERS, **CFG), cells=cells)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"bench_cem_cpu{args.tag}.json").write_text(json.dumps(res, indent=2))
    (RESULTS / f"bench_cem_cpu{args.tag}.md").write_text(to_markdown(res))
    print(to_markdown(res))


if __name__ == "__main__":
    main()
