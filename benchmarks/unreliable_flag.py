"""Study: does the ``unreliable`` flag fire on the runs whose IS error is large?

Runs the bench_cem setting (planted landscapes over 10^6 inputs, concentrated /
intermediate / diffuse at mu = 1e-3 / 1e-4 / 1e-5, 0/1 and graded outcomes, budget
2,000, the same runs as ``bench_cem.simulate_run``: tempered score-weighted CE stages
from the defensive mixture, reused with the library's stage weights, plus a fresh
stage) for many seeds (vmapped), and records per run:

* the diagnostics :func:`jaxcert.rare.reliability.assess` sees: PSIS k-hat, integrand
  ESS, hits, largest-term share ``max z / sum z``, CLT and bootstrap-t intervals;
* the truth: exact ``mu`` (closed form), the per-run "efficiency proxy"
  ``(Var_uniform / budget) / (estimate - mu)^2`` (uniform variance exact by
  enumeration, same outcome type), the per-run exact conditional efficiency of
  bench_cem (``(Var_uniform / budget) / Var(estimate | trained proposals)``, by
  enumeration), the cell's exact efficiency, and the default interval's coverage.

Two seed sets: ``study`` (landscapes 1000+i, the ones bench_cem uses) chooses the
rule, ``held-out`` (landscapes 5000+i, other run keys) checks it. Candidate rules
are scored on both; the verdict of the implemented ``assess`` is reported per cell.

Usage: ``python benchmarks/unreliable_flag.py [--quick] [--seeds S]``.
Writes ``benchmarks/results/unreliable_flag_cpu.{json,md}``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import jaxcert  # noqa: E402
from bench_cem import CFG, POWERS, SIZES, simulate_run  # noqa: E402
from jaxcert.rare import ProductSpace, landscape_mu, landscape_score, planted_landscape  # noqa: E402
from jaxcert.rare.bootstrap import bootstrap_t_interval, clt_interval  # noqa: E402
from jaxcert.rare.reliability import REASONS, assess, distinct_hits  # noqa: E402

MASSES = (1e-3, 1e-4, 1e-5)
CONCENTRATIONS = ("concentrated", "intermediate", "diffuse")
OUTCOMES = ("0/1", "graded")
RESULTS = Path(__file__).parent / "results"
SPLITS = {"study": (1000, 7), "held-out": (5000, 99_991)}  # landscape key base, run key offset


@jax.jit
def diagnostics(key, z, st, num_uniform, outcomes):
    """The implemented verdict plus the raw diagnostics candidate rules read."""
    a = assess(key, z, st, CFG["reuse"] + 1, CFG["alpha"], num_uniform=num_uniform, outcomes=outcomes,
               inputs=CFG["budget"])
    half = CFG["alpha"] / 2
    lo_c, up_c = clt_interval(z, st, CFG["reuse"] + 1, half, half, 1.0)
    lo_b, up_b = bootstrap_t_interval(jax.random.fold_in(key, 1), z, st, CFG["reuse"] + 1, half, half, 1.0)
    total = jnp.sum(z)
    return dict(eff_hat=a.efficiency, est=a.estimate, lower=a.lower, upper=a.upper, khat=a.khat, ess=a.ess, hits=a.hits,
                unreliable=a.unreliable, reasons=a.reasons, floor=a.hidden_mass_floor, distinct=distinct_hits(z),
                max_share=jnp.where(total > 0, jnp.max(z) / jnp.where(total > 0, total, 1.0), 1.0),
                up_clt=up_c, up_boot=up_b, lo_clt=lo_c, lo_boot=lo_b)


def run_cell(mass, conc, outcome, seeds, num_landscapes, split, twin=False):
    """Per-run diagnostics and truth of one cell; ``twin``: the same landscapes with the
    scattered set S removed (the landscape a run that never drew S cannot tell apart)."""
    land_base, run_off = SPLITS[split]
    per = max(1, seeds // num_landscapes)
    X = ProductSpace(SIZES).enumerate()
    out = []
    for i in range(num_landscapes):
        L = planted_landscape(jax.random.key(land_base + i), SIZES, mass, conc)
        if twin:
            L = L._replace(table=jnp.zeros_like(L.table))
        F_grid = jnp.asarray(landscape_score(L, X))
        mu = landscape_mu(L)
        var_u = mu * (1 - mu) if outcome == "0/1" else float(jnp.var(F_grid))
        keys = jax.random.split(jax.random.key(10_000 * i + run_off), per)
        z, st, exact, n_u, outs = jax.vmap(lambda k: simulate_run(k, L, F_grid, outcome, POWERS[outcome]))(keys)
        d = jax.vmap(diagnostics)(jax.vmap(lambda k: jax.random.fold_in(k, 3))(keys), z, st, n_u, outs)
        d = {k: np.asarray(v) for k, v in d.items()}
        d.update(z=np.asarray(z), n_u=np.asarray(n_u), mu=np.full(per, mu), var_u=np.full(per, var_u), exact=np.asarray(exact), landscape=np.full(per, i))
        out.append(d)
    d = {k: np.concatenate([o[k] for o in out]) for k in out[0]}
    u = d["var_u"] / CFG["budget"]
    d["proxy"] = u / np.maximum((d["est"] - d["mu"]) ** 2, 1e-300)
    d["eff_cond"] = u / d["exact"]
    d["cover"] = (d["lower"] <= d["mu"]) & (d["mu"] <= d["upper"])
    d["cell_eff"] = float(np.mean(u / d["mu"] ** 2) / np.mean(d["exact"] / d["mu"] ** 2))
    return d


# --- candidate rules: each maps the per-run diagnostics to a flag ------------------------
def surprise(z):
    """Per run: largest term over the mean positive term."""
    pos = z > 0
    return np.max(z, axis=1) / np.maximum(z.sum(1) / np.maximum(pos.sum(1), 1), 1e-300)


def candidates(d):
    """Rules scored next to the implemented one.

    Their k-hat counts only with >= 100 hits over all stages: an approximation of
    assess's gate, which counts the fresh stage's hits (the per-run diagnostics do not
    keep them apart).
    """
    kt = (d["khat"] > 0.7) & (d["hits"] >= 100)
    share = lambda s0: (d["max_share"] > s0) & (d["hits"] >= 100)  # noqa: E731
    return {
        "previous: k-hat | hits<10 | ESS<5": kt | (d["hits"] < 10) | (d["ess"] < 5),
        "k-hat > 0.7 (any tail)": d["khat"] > 0.7,
        "ESS < 20": d["ess"] < 20,
        "max share > 0.2": d["max_share"] > 0.2,
        "bootstrap-t upper > 1.5 CLT upper": d["up_boot"] > 1.5 * d["up_clt"],
        "previous | share>0.05 (hits>=100)": kt | (d["hits"] < 10) | (d["ess"] < 5) | share(0.05),
        "k-hat | hits<8 | ESS<4 | share>0.05": kt | (d["hits"] < 8) | (d["ess"] < 4) | share(0.05),
        "k-hat | distinct<8 | ESS<4 | share>0.03": kt | (d["distinct"] < 8) | (d["ess"] < 4) | share(0.03),
        "k-hat | distinct<6 | ESS<3 | share>0.05": kt | (d["distinct"] < 6) | (d["ess"] < 3) | share(0.05),
        "k-hat | distinct<10 | ESS<5 | share>0.05": kt | (d["distinct"] < 10) | (d["ess"] < 5) | share(0.05),
        "k-hat | distinct<8 | ESS<3 | share>0.05": kt | (d["distinct"] < 8) | (d["ess"] < 3) | share(0.05),
        "estimated efficiency < 1 alone (reason 5)": d["eff_hat"] < 1,
        "implemented without reason 5": (d["reasons"] & 15) > 0,
        "implemented + largest term > 20x mean positive term (graded, >= 100 hits; removed reason 6)":
            d["unreliable"] | (d["graded"] & (d["hits"] >= 100) & (surprise(d["z"]) > 20)),
        "k-hat>1 | distinct<8 | ESS<4 | share>0.05": (((d["khat"] > 1.0) & (d["hits"] >= 100)) | (d["distinct"] < 8)
                                                     | (d["ess"] < 4) | share(0.05)),
    }


def rates(flag, cells):
    """Flag rate among runs with proxy < 1, among conditional-eff < 1, and in cells with coverage >= 0.93."""
    f = np.concatenate([flag[i] for i in range(len(cells))])
    prox = np.concatenate([c["proxy"] < 1 for c in cells])
    cond = np.concatenate([c["eff_cond"] < 1 for c in cells])
    good_cell = np.concatenate([np.full(c["cover"].size, c["cover"].mean() >= 0.93) for c in cells])
    good_eff = good_cell & ~cond
    share = lambda m: (float(f[m].mean()) if m.any() else None, int(m.sum()))  # noqa: E731
    return dict(flag_given_proxy_below_1=share(prox), flag_given_cond_eff_below_1=share(cond),
                flag_in_cells_cover_ge_093=share(good_cell), flag_in_cells_cover_ge_093_eff_ge_1=share(good_eff),
                flag_overall=share(np.ones_like(f, bool)))


def environment():
    return dict(jax=jax.__version__, jaxcert=jaxcert.__version__, device=str(jax.devices()[0]), platform=jax.default_backend(),
                x64=bool(jax.config.jax_enable_x64), cpu_count=os.cpu_count(), python=platform.python_version(),
                date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))


def cell_summary(c, meta):
    prox, cond = c["proxy"] < 1, c["eff_cond"] < 1
    f = c["unreliable"]
    return dict(**meta, runs=int(f.size), cell_efficiency=c["cell_eff"], coverage=float(c["cover"].mean()),
                share_proxy_below_1=float(prox.mean()), share_cond_eff_below_1=float(cond.mean()),
                flag=float(f.mean()), flag_given_proxy_below_1=float(f[prox].mean()) if prox.any() else None,
                flag_given_cond_eff_below_1=float(f[cond].mean()) if cond.any() else None,
                reason_shares={REASONS[b][:40]: float(np.mean((c["reasons"] & b) > 0)) for b in REASONS},
                cover_given_flag=float(c["cover"][f].mean()) if f.any() else None,
                cover_given_no_flag=float(c["cover"][~f].mean()) if (~f).any() else None,
                median_khat=float(np.median(c["khat"])), median_ess=float(np.median(c["ess"])),
                median_hits=float(np.median(c["hits"])), median_max_share=float(np.median(c["max_share"])))


RULE = ("unreliable if any of: (1) PSIS k-hat of the fresh stage's terms > 0.7 with a tail of >= 20 terms "
        "(>= 100 hits there); (2) fewer than 8 "
        "DISTINCT positive terms (repeats of one input count once); (3) integrand ESS < 4; (4) the largest term "
        "carries > 5% of sum(z) while >= 100 terms are positive (a region the proposal does not favour was hit "
        "about once by a defensive draw); (5) the run's own efficiency estimate is below 1. "
        "Previous rule: k-hat (same tail condition), hits < 10, ESS < 5.")


NOTES = [
    "Findings (64 runs per cell per split with the current engine: recycled tempered CE, stage weights from the "
    "previous stage's closeness to the CE target, fresh-stage k-hat on one term per distinct input; run of "
    "2026-12-03 17:21 with `--dump`; every rule and cell figure is identical to the tables recomputed with "
    "`--from-dump` from the 13:12 run's dump after reason 6 was removed):",
    "",
    "* Target 1 (flag >= 0.90 of the runs worse than uniform sampling): 0.868 / 0.843 (197 / 198 runs): MISSED on "
    "both seed sets. Of the runs missed, most are graded intermediate runs at 1e-3 that never drew the scattered "
    "half and are bit-identical to runs on the same landscape without it (`unreliable_twin_cpu.md`): no statistic "
    "of the sample can flag them; the rest are 0/1 runs that overestimate from a few hits.",
    "* A sixth reason, the largest term above 20x the mean positive term (graded outcomes, >= 100 hits), raised "
    "recall to 0.914 / 0.899 (candidate row 'removed reason 6'): CE with power 1 aims at q ~ p0 F, under which "
    "every term equals mu. It was removed because the premise holds only where the proposal can represent F: on "
    "these planted PRODUCT landscapes it can; on a template space it cannot. Good runs of `jaxcert rare --space "
    "varbench:0 --evaluator synthetic --score logprob` (8 seeds, coverage 1.00, ~3,000x efficiency) had ratios "
    "14-445 and 6 of 8 were flagged; the bad runs it caught here had ratios 25-80. It also flagged 31-94% of good "
    "graded runs at power 0.5 (then the library's default) and 64 / 64 runs with samples:4 outcomes.",
    "* Also tried: the uniform first stage's draws (paid for, not in the estimate) scored under the final "
    "proposal, F p0 / q_final over mu_hat. None of the graded runs missed had a ratio above 2.3 (the scattered "
    "half was not drawn there either); it would have caught none.",
    "* Target 2 (flag <= 0.10 in cells with coverage >= 0.93, runs with efficiency >= 1): 0.020 / 0.060 (256 / 384 "
    "runs): met. The study's 0/1 concentrated cells at 1e-3 and 1e-4 covered below 0.93 over these 64 runs and are "
    "not counted (400 runs of bench_cem: 0.950 / 0.932).",
    "* The bullets below come from the run of 2026-12-02 (ramped stage weights), whose dump they re-scored.",
    "* k-hat on one term per distinct input (reason 1), compared on the SAME runs with the fit on every term "
    "(re-scored from the dump): graded concentrated 1e-5 flags 0.03 / 0.00 of the runs instead of 0.33 / 0.28 "
    "(coverage 0.95 / 0.95); no run worse than uniform sampling loses its flag (recall identical). Graded "
    "intermediate 1e-5 (coverage 0.00) drops from 0.33 / 0.28 to 0.03 / 0.00 too: there the fit on repeated "
    "terms fired at the same rate as on the good concentrated cell, whose runs draw the same inputs, so it carried "
    "no information about the missed region.",
    "* Reason 5 (the run's own efficiency estimate below 1): alone it flags 0.29 / 0.28 of the runs worse than "
    "uniform sampling and 0.00 of the good runs (cells with coverage >= 0.93); every run it flags here is "
    "flagged by reasons 1-4 already, so at budget 2,000 the rates are unchanged by it. It matters where hits are "
    "plentiful: intermediate cells at mu = 1e-3 with budget 200,900 (bench_cem_cpu_intermediate_budget200k.md).",
    "* Two failure modes make a run worse than uniform sampling. (a) A region the proposal does not favour is hit "
    "by a defensive draw (weight ~1/l = 10): one term carries 10-90% of the sum while hundreds of terms are "
    "positive (graded outcomes), or the hits are too few / too uneven (0/1 outcomes, diffuse cells, CE collapsed "
    "onto ONE scattered input: hundreds of identical terms, estimate near 0). The largest-term share and the "
    "distinct-hit count catch these. (b) The proposal missed a region and NO draw hit it. The sample is then the "
    "sample of a landscape without that region (graded intermediate at 1e-5: the same median k-hat, ESS and "
    "largest share as the concentrated cell, coverage 0.00) and no statistic of it can tell: these runs are "
    "below the hidden-mass floor every result reports (0.6 / 260 uniform draws = 2.3e-3 here).",
    "* Reading the first target with bench_cem's per-run efficiency (exact variance given the trained proposals) "
    "counts EVERY intermediate run, most of them of kind (b): 0.72 / 0.72 is what the rule reaches there.",
    "* Literal second target: the diffuse cells have coverage >= 0.93 only because the zero-hit bound is wide, "
    "and all their runs are worse than uniform sampling, so the first target asks to flag them; both cannot hold "
    "there.",
    "* Thresholds: ESS < 3 instead of 4 lowers false alarms to 0.04 / 0.03 at recall 0.84 / 0.81; k-hat > 1 "
    "instead of 0.7 moves every rate by at most 0.01. The thresholds were left as they are. Candidates that "
    "failed: ESS < 20 or max share > 0.2 without a hits gate (flag 0.26-0.48 of the good runs: the 10-30 hits of a "
    "good 0/1 run are naturally uneven), bootstrap-t vs CLT disagreement (0.65 / 0.67 of the bad runs). "
    "The held-out seeds (other landscapes, other run keys) were printed next to the study seeds during the search, "
    "so they are a check against overfitting the study seeds, not a blind test.",
]


def summary(res):
    """Targets of issue 11 (item 3), read two ways each, on both seed sets."""
    out = ["## Summary", "", f"Rule (jaxcert/rare/reliability.py): {RULE}", "",
           "| target | reading | study | held-out |", "|---|---|---|---|"]
    f = lambda v: "-" if v[0] is None else f"{v[0]:.3f} ({v[1]} runs)"  # noqa: E731
    rows = [("flag >= 0.90 where efficiency < 1", "per-run proxy < 1 (squared error above the uniform variance)",
             "flag_given_proxy_below_1"),
            ("flag >= 0.90 where efficiency < 1", "bench_cem per-run exact efficiency < 1 (conditional on the proposals)",
             "flag_given_cond_eff_below_1"),
            ("flag <= 0.10 in cells with coverage >= 0.93", "runs there with exact efficiency >= 1",
             "flag_in_cells_cover_ge_093_eff_ge_1"),
            ("flag <= 0.10 in cells with coverage >= 0.93", "all runs there (literal; includes diffuse cells)",
             "flag_in_cells_cover_ge_093")]
    for name, rule in (("implemented", "implemented (assess)"), ("previous", "candidate: previous: k-hat | hits<10 | ESS<5")):
        for tgt, reading, key in rows:
            vals = [res["splits"][sp]["rules"][rule][key] for sp in ("study", "held-out")]
            out.append(f"| {tgt} | {name} rule, {reading} | {f(vals[0])} | {f(vals[1])} |")
    return out + [""] + NOTES


def to_markdown(res):
    env, cfg = res["environment"], res["config"]
    fmt = lambda v: "-" if v[0] is None else f"{v[0]:.2f} ({v[1]})"  # noqa: E731
    lines = ["# unreliable_flag: does the `unreliable` flag fire where the IS error is large?", "", *summary(res), "",
             f"jax {env['jax']}, device {env['device']}, x64 {env['x64']}, {env['cpu_count']} CPUs, {env['date']}, "
             f"mode {'quick' if cfg['quick'] else 'full'}, {cfg['seeds']} runs per cell per split on "
             f"{cfg['landscapes']} landscapes; bench_cem setting (budget {CFG['budget']}, {CFG['stages']} tempered CE "
             f"stages of {CFG['batch']}, last {CFG['reuse']} reused with closeness stage weights + fresh "
             f"{CFG['budget'] - CFG['stages'] * CFG['batch']}, l = {CFG['defensive']}).", "",
             "Per run: proxy = (Var_uniform / budget) / (estimate - mu)^2; cond. eff = (Var_uniform / budget) / "
             "Var(estimate | trained proposals) (bench_cem's per-run exact efficiency). Rates as `share (runs)`.", ""]
    for split in res["splits"]:
        s = res["splits"][split]
        lines += [f"## {split} seeds: implemented rule and candidates", "",
                  "| rule | flag given proxy<1 | flag given cond. eff<1 | flag in cells cov>=0.93 | "
                  "same, runs with cond. eff>=1 | overall |", "|---|---|---|---|---|---|"]
        for name, r in s["rules"].items():
            lines.append(f"| {name.replace('|', 'or')} | {fmt(r['flag_given_proxy_below_1'])} | {fmt(r['flag_given_cond_eff_below_1'])} | "
                         f"{fmt(r['flag_in_cells_cover_ge_093'])} | {fmt(r['flag_in_cells_cover_ge_093_eff_ge_1'])} | "
                         f"{fmt(r['flag_overall'])} |")
        lines += ["", f"Per cell ({split}):", "",
                  "| mu | landscape | outcome | cell eff. | coverage | proxy<1 | cond. eff<1 | flag | flag given proxy<1 | "
                  "flag given cond.<1 | coverage flagged / not flagged | median k-hat / ESS / hits / max share |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for c in s["cells"]:
            g = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
            lines.append(f"| {c['mass']:.0e} | {c['concentration']} | {c['outcome']} | {c['cell_efficiency']:.3g}x | "
                         f"{c['coverage']:.2f} | {c['share_proxy_below_1']:.2f} | {c['share_cond_eff_below_1']:.2f} | "
                         f"{c['flag']:.2f} | {g(c['flag_given_proxy_below_1'])} | {g(c['flag_given_cond_eff_below_1'])} | "
                         f"{g(c.get('cover_given_flag'))} / {g(c.get('cover_given_no_flag'))} | "
                         f"{c['median_khat']:.2f} / {c['median_ess']:.1f} / {c['median_hits']:.0f} / {c['median_max_share']:.2f} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="8 runs per cell per split on 2 landscapes")
    ap.add_argument("--seeds", type=int, default=None, help="runs per cell per split (default 64, quick 8)")
    ap.add_argument("--landscapes", type=int, default=None)
    ap.add_argument("--dump", default=None, help="save the per-run arrays (npz) here")
    ap.add_argument("--render", default=None, help="only rewrite the markdown from this JSON")
    ap.add_argument("--from-dump", default=None,
                    help="recompute the tables from a --dump file instead of running (same seeds and landscapes)")
    args = ap.parse_args(argv)
    if args.render:
        res = json.loads(Path(args.render).read_text())
        Path(args.render).with_suffix(".md").write_text(to_markdown(res))
        return
    seeds = args.seeds or (8 if args.quick else 64)
    nl = args.landscapes or (2 if args.quick else 4)
    saved = np.load(args.from_dump) if args.from_dump else None
    res = dict(environment=environment(), config=dict(quick=args.quick, seeds=seeds, landscapes=nl), splits={})
    if saved is not None:
        res["config"]["from_dump"] = Path(args.from_dump).name
    dump = {}
    for split in SPLITS:
        cells, metas = [], []
        for outcome in OUTCOMES:
            for mass in MASSES:
                for conc in CONCENTRATIONS:
                    t0 = time.perf_counter()
                    key = f"{split}|{outcome}|{mass}|{conc}|"
                    if saved is not None:
                        c = {f[len(key):]: saved[f] for f in saved.files if f.startswith(key)}
                        c["cell_eff"] = float(c["cell_eff"])
                    else:
                        c = run_cell(mass, conc, outcome, seeds, nl, split)
                    # a dump made before a reason was removed: the verdict of the reasons still defined
                    c["unreliable"] = (np.asarray(c["reasons"]) & sum(REASONS)) > 0
                    c["graded"] = np.full(c["est"].shape, outcome == "graded")
                    meta = dict(mass=mass, concentration=conc, outcome=outcome)
                    cells.append(c)
                    metas.append(meta)
                    s = cell_summary(c, meta)
                    print(f"{split:8s} {outcome:6s} {mass:.0e} {conc:12s} eff {s['cell_efficiency']:8.3g}x cover "
                          f"{s['coverage']:.2f} proxy<1 {s['share_proxy_below_1']:.2f} flag {s['flag']:.2f} "
                          f"| proxy<1 {s['flag_given_proxy_below_1']} [{time.perf_counter() - t0:.0f}s]", flush=True)
                    for k, v in c.items():
                        dump[f"{split}|{outcome}|{mass}|{conc}|{k}"] = v
        rules = {"implemented (assess)": rates([c["unreliable"] for c in cells], cells)}
        for name in candidates(cells[0]):
            rules[f"candidate: {name}"] = rates([candidates(c)[name] for c in cells], cells)
        res["splits"][split] = dict(rules=rules, cells=[cell_summary(c, m) for c, m in zip(cells, metas)])
    if args.dump:
        np.savez_compressed(args.dump, **dump)
    RESULTS.mkdir(parents=True, exist_ok=True)
    tag = "_quick" if args.quick else ""
    (RESULTS / f"unreliable_flag_cpu{tag}.json").write_text(json.dumps(res, indent=2, default=float))
    (RESULTS / f"unreliable_flag_cpu{tag}.md").write_text(to_markdown(res))
    print(to_markdown(res))


if __name__ == "__main__":
    main()
