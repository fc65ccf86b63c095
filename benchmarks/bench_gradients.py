"""Benchmark: implicit derivatives vs the forward solve (CMLE, profile and calibrated bound).

For a batch of seeded random boxed problems (those of ``bench_mle.py``), times the
jitted, vmapped forward kernel and ``jax.vmap(jax.grad(...))`` of the same output with
respect to the 10 inputs (6 counts as floats, 4 box bounds): the CMLE ``theta``, the
profile upper bound (critical value ``z_0.95^2``) and the calibrated upper bound at
``alpha = 0.05``. Repetitions are interleaved (forward, gradient, forward, ...) and
min/median/max are reported with the ratio of medians. The implicit-function rules
(:mod:`jaxcert.judge._implicit`) need one 3x3 solve per fit and one extra inner
profile solve per bound, so the target is a gradient below 3x the forward cost.

Usage::

    python benchmarks/bench_gradients.py --quick     # batch 1k, 3 reps
    python benchmarks/bench_gradients.py             # batch 1k and 16k, 5 reps

Writes ``benchmarks/results/bench_gradients_cpu.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxcert import Counts
from jaxcert.judge import mle
from jaxcert.judge.calibration import calibrated_bound
from jaxcert.judge.cmle_intervals import lr_bound

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from bench_mle import make_problems  # noqa: E402

RESULTS = pathlib.Path(__file__).parent / "results"
CRIT = 1.6448536269514722 ** 2


def _outputs():
    def theta(p):
        return mle(Counts(*p[:6]), p[6:8], p[8:10]).theta

    def profile(p):
        return lr_bound(Counts(*p[:6]), p[6:8], p[8:10], CRIT, True)[0]

    def calibrated(p):
        return calibrated_bound(Counts(*p[:6]), p[6:8], p[8:10], 0.05, "upper").upper

    return {"mle theta": theta, "profile upper bound": profile,
            "calibrated upper bound": calibrated}


def _time(fn, p, reps):
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(p))
        out.append(time.perf_counter() - t0)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    sizes, reps = ([1000], 3) if args.quick else ([1000, 16384], 5)
    rows = []
    for name, f in _outputs().items():
        fwd = jax.jit(jax.vmap(f))
        grad = jax.jit(jax.vmap(jax.grad(f)))
        for size in sizes:
            c, sb, fb = make_problems(size)
            p = jnp.asarray(np.concatenate([c, sb, fb], 1))
            t0 = time.perf_counter()
            jax.block_until_ready(fwd(p))
            jax.block_until_ready(grad(p))
            compile_s = time.perf_counter() - t0
            tf, tg = [], []
            for _ in range(reps):  # interleaved
                tf += _time(fwd, p, 1)
                tg += _time(grad, p, 1)
            g = np.asarray(grad(p))
            rows.append({"output": name, "batch": size, "compile_s": compile_s,
                         "forward_s": [min(tf), float(np.median(tf)), max(tf)],
                         "gradient_s": [min(tg), float(np.median(tg)), max(tg)],
                         "ratio_of_medians": float(np.median(tg) / np.median(tf)),
                         "finite_share": float(np.isfinite(g).all(1).mean())})
            print(f"{name:24s} batch {size:6d}: forward {np.median(tf) * 1e3:8.1f} ms, "
                  f"grad {np.median(tg) * 1e3:8.1f} ms, ratio {rows[-1]['ratio_of_medians']:.2f}",
                  flush=True)
    env = {"jax": jax.__version__, "device": str(jax.devices()[0]), "cpus": os.cpu_count(),
           "platform": platform.platform(), "date": datetime.date.today().isoformat(),
           "quick": args.quick, "reps": reps}
    tag = jax.devices()[0].platform
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"bench_gradients_{tag}.json").write_text(json.dumps({"env": env, "rows": rows},
                                                                     indent=2))
    lines = ["# Implicit derivatives vs forward solve", "",
             f"jax {env['jax']}, {env['device']}, {env['cpus']} CPUs, {env['date']}"
             f"{' (quick)' if args.quick else ''}; {reps} interleaved repetitions, seconds "
             "min / median / max; gradient = `jax.vmap(jax.grad(f))` in all 10 inputs.", "",
             "| output | batch | forward (s) | gradient (s) | gradient / forward (medians) |",
             "|---|---|---|---|---|"]
    fmt = lambda t: " / ".join(f"{v:.4f}" for v in t)  # noqa: E731
    for r in rows:
        lines.append(f"| {r['output']} | {r['batch']} | {fmt(r['forward_s'])} | "
                     f"{fmt(r['gradient_s'])} | {r['ratio_of_medians']:.2f} |")
    (RESULTS / f"bench_gradients_{tag}.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
