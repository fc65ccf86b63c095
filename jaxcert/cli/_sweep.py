"""``jaxcert sweep``, ``jaxcert plot`` and ``jaxcert plan``: simulation studies from the shell.

* ``jaxcert sweep CONFIG.toml --out DIR``: runs the study in the TOML file (see
  :mod:`jaxcert.sim.config`), checkpointing chunks; re-running resumes. ``--shard I/K``
  computes only shard ``I`` of ``K`` (one batch job each);
  ``jaxcert sweep merge DIR... --out DIR`` adds the shards up into one table.
  ``--coordinator HOST:PORT --num-processes K --process-id I`` (or
  ``JAXCERT_DISTRIBUTED=1`` on a cluster JAX detects) runs one process per host/GPU.
* ``jaxcert plot DIR``: draws the standard figures into ``DIR/figures``.
* ``jaxcert plan --eps E --tpr T --fpr F --N N``: human labels needed to certify;
  ``jaxcert plan --design --budget B ...``: how to split them by judge verdict
  (:mod:`jaxcert.cli._design`).
"""

from __future__ import annotations

import argparse
import json
import os

from jaxcert.cli._design import add_design_arguments, run_design
from jaxcert.cli._output import prepare_out_dir

__all__ = ["register"]

_SWEEP_ONLY = ("replicates", "chunk_size", "estimators", "seed", "shard", "coordinator",
               "num_processes", "process_id")


def register(sub) -> None:
    """Adds the ``sweep``, ``plot`` and ``plan`` parsers to ``sub``."""
    p = sub.add_parser("sweep", help="run a simulation study from a TOML config (or merge shards)",
                       description="Simulate every scenario of CONFIG, apply the estimators, "
                       "write DIR/results.csv (+ .parquet), DIR/run.json and chunk checkpoints "
                       "(re-running the same command resumes). 'jaxcert sweep merge DIR... "
                       "--out DIR' merges the shard directories of one study.")
    p.add_argument("config", nargs="+", metavar="CONFIG",
                   help="study file (TOML): [study] and [grid] tables; or 'merge' followed by "
                   "the shard directories to merge")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--replicates", type=int, help="override [study].replicates")
    p.add_argument("--chunk-size", type=int, help="override [study].chunk_size")
    p.add_argument("--estimators", nargs="+", help="override [study].estimators")
    p.add_argument("--seed", type=int, help="override [study].seed")
    p.add_argument("--shard", metavar="I/K",
                   help="compute only shard I of K (chunks c with c %% K == I), e.g. one SLURM "
                   "array task each; then 'jaxcert sweep merge'")
    p.add_argument("--coordinator", metavar="HOST:PORT",
                   help="multi-process run: address of process 0 (with --num-processes and "
                   "--process-id)")
    p.add_argument("--num-processes", type=int, help="multi-process run: number of processes")
    p.add_argument("--process-id", type=int, help="multi-process run: this process (0 writes)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_sweep)

    q = sub.add_parser("plot", help="draw the standard figures of a finished sweep",
                       description="RMSE ratio to PPI, coverage vs nominal, misspecified box.")
    q.add_argument("dir", help="a sweep output directory (holding results.csv)")
    q.add_argument("--out", help="figure directory (default DIR/figures)")
    q.add_argument("--format", default="png", choices=("png", "pdf", "svg"),
                   help="figure file format (default png)")
    q.set_defaults(func=_plot)

    r = sub.add_parser("plan", help="human labels needed to certify a failure rate",
                       description="Smallest n (human labels) such that the one-sided upper "
                       "bound certifies rate <= EPS with the given power, by vmapped simulation, "
                       "for CMLE and the baselines, vs the human-only exact binomial.")
    r.add_argument("--eps", type=float, help="rate to certify, in (0, 1) (required unless "
                   "--design)")
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
    r.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    r.add_argument("--json", action="store_true", help="print JSON instead of a table")
    r.add_argument("--out", help="also write plan.json and plan.csv (power curves) here")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_design_arguments(r)
    r.set_defaults(func=_plan)


def _run_sweep(args: argparse.Namespace) -> int:
    if args.config[0] == "merge":
        return _merge(args)
    if len(args.config) > 1:
        raise ValueError(f"sweep takes one CONFIG (or 'merge DIR...'); got {args.config}")
    from jaxcert.sim.config import load_config, parse_config
    from jaxcert.sim.distributed import parse_shard

    config = args.config[0]
    cfg = load_config(config)
    raw = json.loads(json.dumps(cfg.raw))
    study = raw.setdefault("study", {})
    for opt, key in (("replicates", "replicates"), ("chunk_size", "chunk_size"),
                     ("estimators", "estimators"), ("seed", "seed")):
        if getattr(args, opt) is not None:
            study[key] = getattr(args, opt)
    cfg = parse_config(raw, source=config)  # re-validate the overrides
    shard = parse_shard(args.shard)
    _initialize(args)
    prepare_out_dir(args.out)
    import jax

    from jaxcert.sim.sweep import run_sweep

    res = run_sweep(jax.random.key(cfg.seed), cfg.grid, replicates=cfg.replicates,
                    estimators=cfg.estimators, side=cfg.side, chunk_size=cfg.chunk_size,
                    out_dir=args.out, progress=not args.no_progress, config=raw, shard=shard)
    if jax.process_index() != 0:
        return 0
    what = (f"{cfg.grid.size} scenarios x {cfg.replicates} replicates x {len(cfg.estimators)} "
            f"estimators")
    if shard is not None:
        print(f"shard {shard} of {what}: {res.computed_chunks} chunks computed in "
              f"{res.seconds:.1f} s -> {args.out} (merge all shards: jaxcert sweep merge "
              "DIR... --out DIR)")
        return 0
    fits = cfg.grid.size * cfg.replicates
    print(f"{what} in {res.seconds:.1f} s ({fits / res.seconds:.0f} replicates/s; "
          f"{res.computed_chunks} chunks computed) -> {os.path.join(args.out, 'results.csv')}")
    return 0


def _initialize(args) -> None:
    from jaxcert.sim.distributed import initialize_distributed, maybe_initialize_distributed

    given = [args.coordinator, args.num_processes, args.process_id]
    if all(v is None for v in given):
        maybe_initialize_distributed()
        return
    if any(v is None for v in given):
        raise ValueError("a multi-process run needs all of --coordinator, --num-processes and "
                         "--process-id")
    if args.num_processes < 1 or not 0 <= args.process_id < args.num_processes:
        raise ValueError(f"--process-id must be in [0, --num-processes); got "
                         f"{args.process_id} of {args.num_processes}")
    initialize_distributed(args.coordinator, args.num_processes, args.process_id)


def _merge(args: argparse.Namespace) -> int:
    given = [f"--{o.replace('_', '-')}" for o in _SWEEP_ONLY if getattr(args, o) is not None]
    if given:
        raise ValueError(f"sweep merge takes only shard directories and --out; got {given[0]}")
    dirs = args.config[1:]
    if not dirs:
        raise ValueError("sweep merge needs at least one shard directory: "
                         "jaxcert sweep merge DIR... --out DIR")
    from jaxcert.sim.merge import merge_sweeps

    prepare_out_dir(args.out)
    res = merge_sweeps(dirs, args.out)
    S = res.sums.shape[0]
    print(f"merged {len(dirs)} directories: {S} scenarios x {len(res.estimators)} estimators "
          f"-> {os.path.join(args.out, 'results.csv')}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    from jaxcert.sim.plots import plot_standard

    if not os.path.exists(os.path.join(args.dir, "results.csv")):
        raise ValueError(f"{args.dir} holds no results.csv (run jaxcert sweep first)")
    out = prepare_out_dir(args.out if args.out else os.path.join(args.dir, "figures"))
    paths = plot_standard(args.dir, out_dir=out, fmt=args.format)
    for p in paths:
        print(p)
    return 0


def _plan(args: argparse.Namespace) -> int:
    import jax

    from jaxcert.sim.plan import PLAN_ESTIMATORS, format_plan, plan_sample_size

    if args.design:
        return run_design(args)
    if args.eps is None:
        raise ValueError("plan needs --eps (the rate to certify), or --design --budget B")
    if args.out is not None:
        prepare_out_dir(args.out)
    res = plan_sample_size(
        jax.random.key(args.seed), eps=args.eps, alpha=args.alpha, tpr=args.tpr, fpr=args.fpr,
        N=args.N, theta_guess=args.theta_guess, power=args.power, n_max=args.n_max,
        box_width=args.box_width, replicates=args.replicates,
        estimators=args.estimators or PLAN_ESTIMATORS, progress=not args.no_progress)
    summary = {"eps": args.eps, "alpha": args.alpha, "power_target": args.power,
               "theta_guess": res.theta_guess, "N": res.N, "n_grid": res.n_grid.tolist(),
               "n_required": res.n_required, "savings": res.savings,
               "power": {k: v.tolist() for k, v in res.power.items()}}
    if args.out is not None:
        from jaxcert.sim.results import write_json, write_table

        write_json(os.path.join(args.out, "plan.json"), summary)
        write_table(res.columns(), args.out, name="plan")
    if args.json:
        print(json.dumps(summary))
    else:
        print(format_plan(res, eps=args.eps, alpha=args.alpha, power=args.power))
    return 0
