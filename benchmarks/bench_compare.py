"""Benchmark: coverage of the paired ratio interval and the measured gain of pairing.

Planted pairs over 10^5 inputs (``jaxcert.rare.synthetic``, concentrated failures):
``mu_A = 1e-4`` and ``mu_B = 2.4e-4`` on the same corner, so both models fail on the
same inputs, B more often (``F_B >= F_A``), the paper's "differ up to 2.4x". Each run
calls :func:`jaxcert.rare.compare` with its defaults (one proposal trained on the union
score, both models on every input, stratified bootstrap-t interval on
``log(mu_B / mu_A)``) and records whether the 95% interval covers the true ratio.

Outcomes:

* ``deterministic``: each call returns ``F(x)`` (greedy decoding scored by a graded
  failure probability); budget 4,000 inferences (2,000 inputs, both models).
* ``samples:4``: each call returns the fraction of 4 sampled answers that are wrong
  (charged 4 inferences per model per input); training uses the graded ``F`` (prompt
  log-probabilities, 1 inference); budget 16,000.

Gain of the paired design, two ways at equal cost:

* ``estimated``: the median of ``ComparisonResult.variance_gain`` (the run's own
  stratified estimate of ``Var_independent / Var_paired`` on its draws);
* ``measured``: the empirical variance of ``log(mu_B_hat / mu_A_hat)`` over runs of two
  SEPARATE :func:`jaxcert.rare.estimate` runs, one per model at half the budget each
  (what one does without :func:`compare`), divided by that of the paired runs. Runs
  whose estimate of either rate is 0 have no log ratio and are counted apart.

Usage: ``python benchmarks/bench_compare.py [--quick] [--runs R]`` (full: 400 runs per
outcome on 8 landscape pairs). Writes ``benchmarks/results/bench_compare_cpu.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import jax
import numpy as np
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).parent))
from bench_cem import environment  # noqa: E402
from jaxcert.rare import (  # noqa: E402
    ProductSpace,
    compare,
    estimate,
    landscape_evaluator,
    landscape_mu,
    planted_landscape,
)

SIZES = (10,) * 5
MU_A, MU_B = 1e-4, 2.4e-4
BUDGETS = {"deterministic": 4000, "samples:4": 16000}
RESULTS = Path(__file__).parent / "results"


def planted_pair(i):
    key = jax.random.key(2000 + i)
    return (planted_landscape(key, SIZES, MU_A, "concentrated"),
            planted_landscape(key, SIZES, MU_B, "concentrated"))


def evaluators(outcome, la, lb, seed):
    """``(evaluate_a, evaluate_b, train_a, train_b)`` of one run."""
    if outcome == "deterministic":
        return landscape_evaluator(la), landscape_evaluator(lb), None, None
    return (landscape_evaluator(la, 4, 2 * seed), landscape_evaluator(lb, 4, 2 * seed + 1),
            landscape_evaluator(la), landscape_evaluator(lb))


def run_outcome(outcome, runs, num_pairs):
    space, budget = ProductSpace(SIZES), BUDGETS[outcome]
    pairs = [planted_pair(i) for i in range(num_pairs)]
    truth = [landscape_mu(lb) / landscape_mu(la) for la, lb in pairs]
    cover, width, gain_est, log_paired, log_indep, zero_indep, unrel = [], [], [], [], [], 0, []
    for r in tqdm(range(runs), desc=outcome, mininterval=5):
        la, lb = pairs[r % num_pairs]
        ea, eb, ta, tb = evaluators(outcome, la, lb, r)
        train = {} if ta is None else dict(train_evaluate_a=ta, train_evaluate_b=tb)
        res = compare(jax.random.key(r), space, ea, eb, budget, **train)
        rho = truth[r % num_pairs]
        cover.append(res.ratio_lower <= rho <= res.ratio_upper)
        width.append(math.log(res.ratio_upper / res.ratio_lower) if res.ratio_lower > 0 else math.inf)
        gain_est.append(res.variance_gain)
        unrel.append(res.unreliable)
        log_paired.append(res.log_ratio - math.log(rho))
        # the independent design: a separate estimate per model, half the budget each
        ea, eb, ta, tb = evaluators(outcome, la, lb, 10**6 + r)
        ka, kb = jax.random.split(jax.random.key(10**6 + r))
        mu_a = estimate(ka, space, ea, budget // 2, train_evaluate=ta).estimate
        mu_b = estimate(kb, space, eb, budget // 2, train_evaluate=tb).estimate
        if mu_a > 0 and mu_b > 0:
            log_indep.append(math.log(mu_b / mu_a) - math.log(rho))
        else:
            zero_indep += 1
    cover, lp, li = np.array(cover), np.array(log_paired), np.array(log_indep)
    lp_ok = lp[np.isfinite(lp)]
    n = cover.size
    return dict(
        outcome=outcome, runs=n, budget=budget, pairs=num_pairs, mu_a=MU_A, mu_b=MU_B,
        coverage=float(cover.mean()), coverage_se=float(math.sqrt(cover.mean() * (1 - cover.mean()) / n)),
        median_log_width=float(np.median(width)), unreliable_share=float(np.mean(unrel)),
        undefined_paired=int(np.sum(~np.isfinite(lp))), undefined_independent=int(zero_indep),
        rmse_log_paired=float(np.sqrt(np.mean(lp_ok**2))), rmse_log_independent=float(np.sqrt(np.mean(li**2))),
        gain_estimated_median=float(np.nanmedian(np.array(gain_est, dtype=float))),
        gain_measured=float(np.var(li) / np.var(lp_ok)) if lp_ok.size > 1 and li.size > 1 else math.nan,
    )


def to_markdown(res) -> str:
    env = res["environment"]
    lines = [
        "# bench_compare: paired ratio interval of jaxcert.rare.compare",
        "",
        f"jax {env['jax']}, device {env['device']}, {env['cpu_count']} CPUs, {env['date']}, "
        f"{res['runs']} runs per outcome on {res['pairs']} planted pairs (10^5 inputs, concentrated, "
        f"mu_A = {MU_A:g}, mu_B = {MU_B:g}, same corner). Coverage of the default 95% bootstrap-t interval "
        "on mu_B / mu_A (target 0.93). Gain of pairing at equal cost: `estimated` = median of the runs' "
        "own `variance_gain`; `measured` = Var(log ratio) of two separate `estimate` runs (half the "
        "budget each) / Var(log ratio) of `compare`, over the same number of runs. `undefined` = runs "
        "with an estimated rate of 0 for a model (no log ratio).",
        "",
        "| outcome | budget | coverage (MC s.e.) | median log-width | unreliable | RMSE log ratio: paired / separate "
        "| gain estimated | gain measured | undefined: paired / separate |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in res["cells"]:
        lines.append(
            f"| {c['outcome']} | {c['budget']} | {c['coverage']:.3f} ({c['coverage_se']:.3f}) | "
            f"{c['median_log_width']:.3f} | {c['unreliable_share']:.2f} | {c['rmse_log_paired']:.3f} / "
            f"{c['rmse_log_independent']:.3f} | {c['gain_estimated_median']:.3g}x | {c['gain_measured']:.3g}x | "
            f"{c['undefined_paired']} / {c['undefined_independent']} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="16 runs per outcome on 4 pairs")
    ap.add_argument("--runs", type=int, default=None, help="runs per outcome (default 400, quick 16)")
    ap.add_argument("--tag", default="", help="suffix of the output files")
    args = ap.parse_args(argv)
    runs = args.runs or (16 if args.quick else 400)
    num_pairs = 4 if args.quick else 8
    cells = []
    for outcome in BUDGETS:
        t0 = time.perf_counter()
        cells.append(run_outcome(outcome, runs, num_pairs))
        print(json.dumps(cells[-1]), f"[{time.perf_counter() - t0:.0f}s]", flush=True)
    res = dict(environment=environment(), runs=runs, pairs=num_pairs, cells=cells)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"bench_compare_cpu{args.tag}.json").write_text(json.dumps(res, indent=2))
    (RESULTS / f"bench_compare_cpu{args.tag}.md").write_text(to_markdown(res))
    print(to_markdown(res))


if __name__ == "__main__":
    main()
