"""``jaxcert sweep``, ``jaxcert plot`` and ``jaxcert plan``: simulation studies from the shell.

* ``jaxcert sweep CONFIG.toml --out DIR``: runs the study in the TOML file (see
  :mod:`jaxcert.sim.config`), checkpointing chunks; re-running resumes.
* ``jaxcert plot DIR``: draws the standard figures into ``DIR/figures``.
* ``jaxcert plan --eps E --tpr T --fpr F --N N``: human labels needed to certify.
"""

from __future__ import annotations

import argparse
import json
import os

__all__ = ["register"]


def register(sub) -> None:
    """Adds the ``sweep``, ``plot`` and ``plan`` parsers to ``sub``."""
    p = sub.add_parser("sweep", help="run a simulation study from a TOML config",
                       description="Simulate every scenario of CONFIG, apply the estimators, "
                       "write DIR/results.csv (+ .parquet), DIR/run.json and chunk checkpoints "
                       "(re-running the same command resumes).")
    p.add_argument("config", help="study file (TOML): [study] and [grid] tables")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--replicates", type=int, help="override [study].replicates")
    p.add_argument("--chunk-size", type=int, help="override [study].chunk_size")
    p.add_argument("--estimators", nargs="+", help="override [study].estimators")
    p.add_argument("--seed", type=int, help="override [study].seed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_sweep)

    q = sub.add_parser("plot", help="draw the standard figures of a finished sweep",
                       description="RMSE ratio to PPI, coverage vs nominal, misspecified box.")
    q.add_argument("dir", help="a sweep output directory (holding results.csv)")
    q.add_argument("--out", help="figure directory (default DIR/figures)")
    q.add_argument("--format", default="png", choices=("png", "pdf", "svg"))
    q.set_defaults(func=_plot)

    r = sub.add_parser("plan", help="human labels needed to certify a failure rate",
                       description="Smallest n (human labels) such that the one-sided upper "
                       "bound certifies rate <= EPS with the given power, by vmapped simulation, "
                       "for CMLE and the baselines, vs the human-only exact binomial.")
    r.add_argument("--eps", type=float, required=True, help="rate to certify, in (0, 1)")
    r.add_argument("--alpha", type=float, default=0.05, help="one-sided level (default 0.05)")
    r.add_argument("--tpr", type=float, required=True, help="judge true positive rate")
    r.add_argument("--fpr", type=float, required=True, help="judge false positive rate")
    r.add_argument("--N", type=int, required=True, help="number of judge-only labels")
    r.add_argument("--theta-guess", type=float, help="assumed true rate (default eps/2)")
    r.add_argument("--power", type=float, default=0.8, help="target power (default 0.8)")
    r.add_argument("--n-max", type=int, default=2000, help="largest n tried (default 2000)")
    r.add_argument("--box-width", type=float, default=0.02,
                   help="CMLE box half-width around tpr/fpr (default 0.02)")
    r.add_argument("--replicates", type=int, default=400, help="simulations per n")
    r.add_argument("--estimators", nargs="+", help="estimators (default cmle_profile ppi "
                   "ppi_plusplus)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--json", action="store_true", help="print JSON instead of a table")
    r.set_defaults(func=_plan)


def _sweep(args: argparse.Namespace) -> int:
    from jaxcert.sim.config import load_config, parse_config
    from jaxcert.sim.runner import maybe_initialize_distributed

    cfg = load_config(args.config)
    raw = json.loads(json.dumps(cfg.raw))
    study = raw.setdefault("study", {})
    for opt, key in (("replicates", "replicates"), ("chunk_size", "chunk_size"),
                     ("estimators", "estimators"), ("seed", "seed")):
        if getattr(args, opt) is not None:
            study[key] = getattr(args, opt)
    cfg = parse_config(raw, source=args.config)  # re-validate the overrides
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise ValueError(f"--out {args.out} exists and is not a directory")
    maybe_initialize_distributed()
    import jax

    from jaxcert.sim.sweep import run_sweep

    res = run_sweep(jax.random.key(cfg.seed), cfg.grid, replicates=cfg.replicates,
                    estimators=cfg.estimators, side=cfg.side, chunk_size=cfg.chunk_size,
                    out_dir=args.out, progress=not args.no_progress, config=raw)
    fits = cfg.grid.size * cfg.replicates
    print(f"{cfg.grid.size} scenarios x {cfg.replicates} replicates x {len(cfg.estimators)} "
          f"estimators in {res.seconds:.1f} s ({fits / res.seconds:.0f} replicates/s; "
          f"{res.computed_chunks} chunks computed) -> {os.path.join(args.out, 'results.csv')}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    from jaxcert.sim.plots import plot_standard

    paths = plot_standard(args.dir, out_dir=args.out, fmt=args.format)
    for p in paths:
        print(p)
    return 0


def _plan(args: argparse.Namespace) -> int:
    import jax

    from jaxcert.sim.plan import PLAN_ESTIMATORS, format_plan, plan_sample_size

    res = plan_sample_size(
        jax.random.key(args.seed), eps=args.eps, alpha=args.alpha, tpr=args.tpr, fpr=args.fpr,
        N=args.N, theta_guess=args.theta_guess, power=args.power, n_max=args.n_max,
        box_width=args.box_width, replicates=args.replicates,
        estimators=args.estimators or PLAN_ESTIMATORS)
    if args.json:
        print(json.dumps({"n_grid": res.n_grid.tolist(), "n_required": res.n_required,
                          "savings": res.savings,
                          "power": {k: v.tolist() for k, v in res.power.items()}}))
    else:
        print(format_plan(res, eps=args.eps, alpha=args.alpha, power=args.power))
    return 0
