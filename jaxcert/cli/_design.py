"""``jaxcert plan --design``: split a human-label budget between judge-flagged and unflagged items.

Example::

    jaxcert plan --design --budget 200 --tpr 0.9 --fpr 0.1 --theta-guess 0.05 --N 10000

Optimises the split (:func:`jaxcert.judge.design.design_labelling`), then checks it by
simulation against simple random labelling with the same budget
(:func:`jaxcert.sim.design_check.check_design`): mean calibrated upper bound, its
coverage, and the labels saved. Label the chosen numbers of flagged and unflagged
items, then certify with ``jaxcert estimate --labelling stratified``.
"""

from __future__ import annotations

import json
import os

__all__ = ["add_design_arguments", "run_design"]


def add_design_arguments(parser) -> None:
    """Adds the ``--design`` options to the ``plan`` parser."""
    g = parser.add_argument_group("labelling design (--design)")
    g.add_argument("--design", action="store_true",
                   help="split --budget labels between judge-flagged and unflagged items "
                   "(needs --budget, --tpr, --fpr, --theta-guess, --N; not --eps)")
    g.add_argument("--budget", type=int, help="total human labels to spend (with --design)")
    g.add_argument("--min-per-stratum", type=int, default=10,
                   help="labels at least in each stratum (default 10): with none, the "
                   "failure rate among flagged or unflagged items is unidentified")
    g.add_argument("--objective", default="bound", choices=("bound", "variance"),
                   help="minimise the smoothed expected upper bound (default) or the "
                   "asymptotic variance of the estimate")
    g.add_argument("--no-box", action="store_true",
                   help="no TPR/FPR box (default: the --box-width box around --tpr/--fpr)")


def _check(args) -> None:
    if args.eps is not None:
        raise ValueError("--design does not use --eps (it minimises the expected bound); "
                         "drop --eps or --design")
    if args.budget is None:
        raise ValueError("--design needs --budget (total human labels)")
    if args.theta_guess is None:
        raise ValueError("--design needs --theta-guess (the failure rate you expect)")
    if not 0 < args.alpha < 0.5:
        raise ValueError(f"--alpha must be in (0, 0.5); got {args.alpha}")
    if args.replicates < 10:
        raise ValueError(f"--replicates must be >= 10; got {args.replicates}")
    if not args.box_width >= 0:
        raise ValueError(f"--box-width must be >= 0; got {args.box_width}")


def _box(centre, width, no_box):
    return None if no_box else (max(centre - width, 0.0), min(centre + width, 1.0))


def _table(d, chk, args) -> str:
    box = "no box" if args.no_box else f"box +-{args.box_width:g}"
    srs1 = d.srs_share * args.budget
    lines = [
        f"labelling design for {args.budget} human labels (theta guess {args.theta_guess:g}, "
        f"TPR {args.tpr:g}, FPR {args.fpr:g}, N = {args.N} judge-only, {box}, "
        f"{chk.replicates} simulations each; objective: {d.objective}):",
        f"{'':<15}{'flagged':>9}{'unflagged':>11}{'mean upper bound':>20}{'coverage':>18}",
        f"{'design':<15}{d.n_flagged:>9}{d.n_unflagged:>11}"
        f"{chk.mean_upper:>13.4g} +- {chk.mean_upper_se:.1g}"
        f"{chk.coverage:>11.3f} +- {chk.coverage_se:.3f}",
        f"{'simple random':<15}{srs1:>9.1f}{args.budget - srs1:>11.1f}"
        f"{chk.srs_mean_upper:>20.4g}{chk.srs_coverage:>11.3f} +- {chk.srs_coverage_se:.3f}",
    ]
    if chk.beyond_grid:
        lines.append(f"labels saved: more than {int(chk.srs_budgets[-1]) - args.budget} (simple "
                     f"random labelling with {int(chk.srs_budgets[-1])} labels is still worse)")
    elif chk.labels_saved != chk.labels_saved:  # NaN: the design is worse than SRS at half B
        lines.append("labels saved: none (the design's mean bound is above simple random "
                     "labelling's at every budget tried)")
    else:
        lines.append(f"labels saved: {chk.labels_saved:.0f} (simple random labelling needs "
                     f"about {chk.srs_equivalent:.0f} labels for the same mean bound)")
    lines.append(f"asymptotic variance ratio (simple random / design): {d.efficiency:.3g}; "
                 "certify with: jaxcert estimate --labelling stratified")
    return "\n".join(lines)


def run_design(args) -> int:
    """Runs ``jaxcert plan --design``; returns the exit status."""
    _check(args)
    if args.out is not None:
        from jaxcert.cli._output import prepare_out_dir

        prepare_out_dir(args.out)
    import jax

    from jaxcert.judge.design import design_labelling
    from jaxcert.sim.design_check import check_design

    sb = _box(args.tpr, args.box_width, args.no_box)
    fb = _box(args.fpr, args.box_width, args.no_box)
    d = design_labelling(budget=args.budget, tpr=args.tpr, fpr=args.fpr,
                         theta_guess=args.theta_guess, N=args.N, tpr_bounds=sb, fpr_bounds=fb,
                         min_per_stratum=args.min_per_stratum, objective=args.objective,
                         alpha=args.alpha)
    chk = check_design(jax.random.key(args.seed), theta=args.theta_guess, tpr=args.tpr,
                       fpr=args.fpr, n_flagged=d.n_flagged, n_unflagged=d.n_unflagged, N=args.N,
                       tpr_bounds=sb, fpr_bounds=fb, alpha=args.alpha,
                       replicates=args.replicates)
    nan = lambda x: None if x != x else x  # noqa: E731  (JSON has no NaN)
    summary = {
        "budget": args.budget, "theta_guess": args.theta_guess, "tpr": args.tpr,
        "fpr": args.fpr, "N": args.N, "alpha": args.alpha, "tpr_box": sb, "fpr_box": fb,
        "min_per_stratum": args.min_per_stratum, "seed": args.seed,
        "design": d._asdict(),
        "check": {k: (v.tolist() if hasattr(v, "tolist") else nan(v))
                  for k, v in chk._asdict().items()},
    }
    if args.out is not None:
        from jaxcert.sim.results import write_json

        write_json(os.path.join(args.out, "design.json"), summary)
    print(json.dumps(summary) if args.json else _table(d, chk, args))
    return 0
