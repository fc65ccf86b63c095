"""Benchmark: frequentist coverage of the Bayesian credible bound vs the CMLE profile bound,
and the hierarchical model on bundled XSTest.

Part 1 (simulation): on a grid of (theta, n, N, judge knowledge) cells, draws counts from
the judge model (``jaxcert.sim.simulate.simulate_counts``), and reports for the one-sided
95% upper bound of each method the coverage ``P(U >= theta)`` with its Monte-Carlo
standard error and the mean bound. Methods: ``bayes`` (posterior 0.95 quantile, exact
quadrature, :func:`jaxcert.bayes.posterior_summary`) and ``cmle`` (profile likelihood,
:func:`jaxcert.profile_interval`) with the same judge knowledge: the box, or for a
transferred-count prior ``Beta(1 + k, 1 + n - k)`` the two-sided 95% Clopper-Pearson box
of the same counts. Cells include misspecified knowledge: a box centred off the truth
(truth inside, near an edge), a transferred-count prior centred off the truth, and a box
that excludes the truth.

Part 2 (XSTest, five models, judges gpt4 and strmatch): keep 50 human labels per model
(seeded), hide the rest, and fit (a) the hierarchical model (NUTS; judge TPR/FPR pooled
across the five models), (b) each model alone with a uniform prior (exact quadrature),
(c) the CMLE profile bound with the unit box; compare with the full-label truth.

    .venv/bin/python benchmarks/bayes_coverage.py --quick   # ~2-4 min on a shared CPU
    .venv/bin/python benchmarks/bayes_coverage.py           # ~10-20 min on a quiet CPU

Writes ``benchmarks/results/bayes_coverage/coverage[_quick].{json,md}``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxcert
from jaxcert.bayes import make_prior, posterior_summary, sample_hierarchical
from jaxcert.datasets import XSTEST_JUDGES, XSTEST_MODELS, load_xstest
from jaxcert.intervals import clopper_pearson
from jaxcert.sim.simulate import simulate_counts

OUT = pathlib.Path(__file__).resolve().parent / "results" / "bayes_coverage"
ALPHA = 0.05
TRUE_TPR, TRUE_FPR = 0.9, 0.05
CHUNK = 200  # problems per call: bounds memory (~1 GB per 800 problems)

# name, theta, n, N, knowledge: ("box", tpr box, fpr box) or ("counts", tpr (k, n), fpr (k, n))
CELLS = [
    ("rare, tight box", 0.01, 50, 2000, ("box", (0.85, 0.95), (0.02, 0.08))),
    ("rare, no box", 0.01, 50, 2000, ("box", (0.0, 1.0), (0.0, 1.0))),
    ("common, tight box", 0.10, 100, 1000, ("box", (0.85, 0.95), (0.02, 0.08))),
    ("mid, wide box", 0.05, 200, 5000, ("box", (0.70, 1.00), (0.00, 0.15))),
    ("mid, transferred counts", 0.05, 100, 2000, ("counts", (90, 100), (5, 100))),
    # Misspecified, in the dangerous direction: the judge is believed to raise more false
    # alarms (and catch more failures) than it does, which pulls theta down.
    ("MIS: box off-centre", 0.05, 100, 2000, ("box", (0.89, 1.00), (0.04, 0.10))),
    ("MIS: counts off-centre", 0.05, 100, 2000, ("counts", (95, 100), (8, 100))),
    ("MIS: box excludes truth", 0.05, 100, 2000, ("box", (0.92, 0.98), (0.06, 0.10))),
]


def knowledge(spec):
    """(prior, tpr box, fpr box) for the Bayesian and the CMLE side of a cell."""
    kind, tpr, fpr = spec
    if kind == "box":
        return make_prior(tpr, fpr), tpr, fpr
    boxes = []
    for k, n in (tpr, fpr):
        ci = clopper_pearson(float(k), float(n), alpha=0.05, side="two-sided")
        boxes.append((float(ci.lower), float(ci.upper)))
    return make_prior(tpr_prior=tpr, fpr_prior=fpr), boxes[0], boxes[1]


def coverage_cell(key, theta, n, big_n, spec, reps):
    prior, sbox, fbox = knowledge(spec)
    bayes_u, cmle_u, bad = [], [], 0
    for i, start in enumerate(range(0, reps, CHUNK)):
        size = min(CHUNK, reps - start)
        c = simulate_counts(jax.random.fold_in(key, i), jnp.full(size, theta), TRUE_TPR,
                            TRUE_FPR, n, big_n)
        post = posterior_summary(c, prior, alpha=ALPHA, side="upper")
        prof = jaxcert.profile_interval(c, sbox, fbox, alpha=ALPHA, side="upper")
        bad += int(np.sum(np.asarray(post.status) != 0))
        bayes_u.append(np.asarray(post.upper))
        cmle_u.append(np.asarray(prof.upper))
    row = {"theta": theta, "n": n, "N": big_n, "knowledge": spec[0],
           "tpr": list(map(float, np.ravel(spec[1]))), "fpr": list(map(float, np.ravel(spec[2]))),
           "cmle_tpr_box": list(sbox), "cmle_fpr_box": list(fbox), "reps": reps,
           "bayes_not_converged": bad}
    for name, u in (("bayes", np.concatenate(bayes_u)), ("cmle", np.concatenate(cmle_u))):
        cov = float(np.mean(u >= theta))
        row[f"{name}_coverage"] = cov
        row[f"{name}_mc_se"] = float(np.sqrt(cov * (1 - cov) / reps))
        row[f"{name}_mean_upper"] = float(np.mean(u))
    return row


def hide_labels(data, keep, seed):
    """Human labels kept on ``keep`` random items per model, NaN elsewhere."""
    rng = np.random.default_rng(seed)
    human = data.human.copy()
    for m in XSTEST_MODELS:
        idx = np.flatnonzero(data.model == m)
        human[rng.permutation(idx)[keep:]] = np.nan
    return human


def xstest_rows(key, judge, keep, seed, warmup, samples):
    data = load_xstest(judge)
    human = hide_labels(data, keep, seed)
    per = [jaxcert.Counts.from_labels(human[data.model == m], data.judge[data.model == m])
           for m in XSTEST_MODELS]
    counts = jaxcert.Counts(*(jnp.array([float(getattr(c, f)) for c in per])
                              for f in jaxcert.Counts._fields))
    t0 = time.perf_counter()
    res = sample_hierarchical(key, counts, num_warmup=warmup, num_samples=samples)
    seconds = time.perf_counter() - t0
    draws = res.samples["theta"].reshape(-1, len(XSTEST_MODELS))
    alone = posterior_summary(counts, make_prior(), alpha=0.1, side="two-sided")
    cmle = jaxcert.profile_interval(counts, None, None, alpha=0.1, side="two-sided")
    rows = []
    for g, m in enumerate(XSTEST_MODELS):
        truth = float(np.mean(data.human[data.model == m]))
        lo, hi = np.quantile(draws[:, g], [0.05, 0.95])
        rows.append({
            "judge": judge, "model": m, "truth": truth, "n": float(per[g].n), "N": float(per[g].N),
            "hier_mean": float(draws[:, g].mean()), "hier_90": [float(lo), float(hi)],
            "alone_mean": float(alone.mean[g]),
            "alone_90": [float(alone.lower[g]), float(alone.upper[g])],
            "cmle": float(cmle.estimate[g]),
            "cmle_90": [float(cmle.lower[g]), float(cmle.upper[g])],
        })
    diag = {"judge": judge, "max_rhat": res.max_rhat, "min_ess": res.min_ess,
            "divergences": res.num_divergences, "seconds": seconds}
    return rows, diag


def _interval(iv):
    return f"[{iv[0]:.3f}, {iv[1]:.3f}]"


def markdown(meta, cov, xs, diags) -> str:
    lines = [f"# Bayesian credible bound vs CMLE profile bound ({meta['mode']})", "",
             f"jax {meta['jax']}, device {meta['device']}, x64 {meta['x64']}, {meta['date']}, "
             f"run time {meta['seconds']:.0f} s (shared, contended CPU: timing indicative "
             "only).", "",
             f"Truth TPR {TRUE_TPR}, FPR {TRUE_FPR}; one-sided {1 - ALPHA:.0%} upper bounds; "
             "coverage = P(U >= theta) +- one Monte-Carlo s.e.", "",
             "| cell | theta | n | N | judge knowledge | Bayes coverage | CMLE coverage "
             "| Bayes mean U | CMLE mean U |", "|---|---|---|---|---|---|---|---|---|"]
    for name, r in cov:
        know = f"{r['knowledge']} TPR {r['tpr']} FPR {r['fpr']}"
        lines.append(
            f"| {name} | {r['theta']} | {r['n']} | {r['N']} | {know} "
            f"| {r['bayes_coverage']:.3f} +- {r['bayes_mc_se']:.3f} "
            f"| {r['cmle_coverage']:.3f} +- {r['cmle_mc_se']:.3f} "
            f"| {r['bayes_mean_upper']:.4f} | {r['cmle_mean_upper']:.4f} |")
    lines += ["", "## XSTest: hierarchical pooling (50 human labels per model, rest "
              "judge-only)", "",
              "90% intervals. hier = NUTS, judge TPR/FPR pooled across the five models; "
              "alone = each model alone, uniform priors (exact); cmle = profile, unit box.", "",
              "| judge | model | truth | hier mean | hier 90% | alone mean | alone 90% | CMLE "
              "| CMLE 90% |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in xs:
        lines.append(f"| {r['judge']} | {r['model']} | {r['truth']:.3f} | {r['hier_mean']:.3f} "
                     f"| {_interval(r['hier_90'])} | {r['alone_mean']:.3f} "
                     f"| {_interval(r['alone_90'])} "
                     f"| {r['cmle']:.3f} | {_interval(r['cmle_90'])} |")
    lines.append("")
    for d in diags:
        lines.append(f"NUTS ({d['judge']} judge): max R-hat {d['max_rhat']:.4f}, min ESS "
                     f"{d['min_ess']:.0f}, divergences {d['divergences']}, {d['seconds']:.0f} s.")
    for judge in XSTEST_JUDGES:
        sub = [r for r in xs if r["judge"] == judge]
        err = {k: np.mean([abs(r[f"{k}_mean"] - r["truth"]) for r in sub])
               for k in ("hier", "alone")}
        err["cmle"] = np.mean([abs(r["cmle"] - r["truth"]) for r in sub])
        hit = sum(r["hier_90"][0] <= r["truth"] <= r["hier_90"][1] for r in sub)
        lines.append(f"Mean |error| ({judge}): hier {err['hier']:.4f}, alone {err['alone']:.4f}, "
                     f"CMLE {err['cmle']:.4f}; hier 90% intervals covering the truth: "
                     f"{hit}/{len(sub)}.")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="few replicates, short chains")
    ap.add_argument("--reps", type=int, default=None, help="replicates per cell")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    reps = args.reps or (200 if args.quick else 2000)
    warmup, samples = (300, 500) if args.quick else (1000, 2000)
    key = jax.random.key(args.seed)
    t0 = time.perf_counter()
    cov = []
    for i, (name, theta, n, big_n, spec) in enumerate(CELLS):
        row = coverage_cell(jax.random.fold_in(key, i), theta, n, big_n, spec, reps)
        print(f"{name}: bayes {row['bayes_coverage']:.3f} cmle {row['cmle_coverage']:.3f}",
              flush=True)
        cov.append((name, row))
    xs, diags = [], []
    for j, judge in enumerate(XSTEST_JUDGES):
        rows, diag = xstest_rows(jax.random.fold_in(key, 100 + j), judge, 50, args.seed,
                                 warmup, samples)
        xs += rows
        diags.append(diag)
    meta = {"mode": "quick" if args.quick else "full", "jax": jax.__version__,
            "device": str(jax.devices()[0]), "x64": bool(jax.config.jax_enable_x64),
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(), "seconds": time.perf_counter() - t0,
            "reps": reps, "seed": args.seed, "command": "benchmarks/bayes_coverage.py"
            + (" --quick" if args.quick else "")}
    OUT.mkdir(parents=True, exist_ok=True)
    stem = "coverage_quick" if args.quick else "coverage"
    (OUT / f"{stem}.json").write_text(json.dumps(
        {"meta": meta, "coverage": [dict(r, cell=name) for name, r in cov],
         "xstest": xs, "nuts": diags}, indent=2))
    text = markdown(meta, cov, xs, diags)
    (OUT / f"{stem}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
