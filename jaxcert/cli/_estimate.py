"""``jaxcert estimate``: a failure-rate certificate from a label table.

Example::

    jaxcert estimate --data labels.csv --human-col human_fail --judge-col judge_fail \\
        --tpr 0.85:0.95 --fpr 0:0.05 --side upper

The table may be CSV, JSONL or Parquet; an empty human cell marks a judge-only item
(see :mod:`jaxcert._tables` for the accepted label values and ``--human-map``).
"""

from __future__ import annotations

import argparse
import json
import sys

from jaxcert._validate import SIDES, check_box
from jaxcert.cli._input import add_input_arguments, describe_input, read_input_groups

__all__ = ["register", "run", "parse_box"]

METHOD_CHOICES = ("cmle", "umle", "ppi", "ppi++", "rogan-gladen", "classical", "naive", "bayes",
                  "all")
INTERVAL_CHOICES = ("calibrated", "profile", "wald", "logit", "bootstrap")
#: Exit status when the calibration data contradict the TPR/FPR boxes.
EXIT_BOX_CONFLICT = 3


def parse_box(text: str | None, flag: str):
    """Parses ``"LO:HI"`` into ``(lo, hi)``; ``None`` stays ``None``.

    Raises:
      ValueError: no colon, a non-number, a bound outside [0, 1], or lo > hi.
    """
    if text is None:
        return None
    parts = text.split(":")
    if len(parts) != 2:
        raise ValueError(f"{flag} must be LO:HI (e.g. {flag} 0.85:0.95); got {text!r}")
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"{flag} must be two numbers LO:HI (e.g. 0.85:0.95); "
                         f"got {text!r}") from None
    check_box((lo, hi), flag)
    return lo, hi


def register(sub) -> None:
    """Adds the ``estimate`` sub-command."""
    p = sub.add_parser(
        "estimate", help="judge-corrected failure rate with a confidence interval",
        description="Estimate and certify an LLM failure rate from human labels and judge "
        "verdicts in a CSV/JSONL/Parquet file (empty human cell = judge-only item).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_input_arguments(p)
    p.add_argument("--tpr", help="box on the judge TPR, LO:HI (cmle and bayes only)")
    p.add_argument("--fpr", help="box on the judge FPR, LO:HI (cmle and bayes only)")
    p.add_argument("--alpha", default="0.05", help="1 - confidence level")
    p.add_argument("--side", default="two-sided", choices=SIDES,
                   help="interval kind; 'upper' gives the certificate [0, U]")
    p.add_argument("--method", default="cmle", choices=METHOD_CHOICES,
                   help="estimator; 'all' runs every estimator on the same data")
    p.add_argument("--interval", default="calibrated", choices=INTERVAL_CHOICES,
                   help="interval for cmle/umle")
    p.add_argument("--on-box-conflict", default="error", choices=("error", "widen", "hull"),
                   help="when the human labels contradict --tpr/--fpr: stop (exit 3) or widen "
                   "the box by the labels' exact confidence interval; 'hull' always widens "
                   "both boxes that way (valid if either the box or the labels are right)")
    p.add_argument("--box-alpha", default="0.01", help="level of the box-conflict test")
    p.add_argument("--labelling", default="random", choices=("random", "stratified"),
                   help="how the human-labelled items were chosen: a simple random sample, "
                   "or by judge verdict (e.g. 'jaxcert plan --design'); stratified refuses "
                   "ppi, ppi++, classical, rogan-gladen")
    p.add_argument("--target", help="EPS: report how far each --tpr/--fpr bound may move "
                   "before the certificate U <= EPS fails (cmle; implies --sensitivity)")
    p.add_argument("--sensitivity", action="store_true",
                   help="report dU/d(bound) for the four box bounds (cmle)")
    p.add_argument("--format", default="text", choices=("text", "json"), dest="output_format",
                   help="output: a text table or JSON on stdout")
    p.add_argument("--seed", type=int, default=0, help="PRNG seed (bootstrap only)")
    p.add_argument("--num-boot", type=int, default=1000, help="bootstrap replicates")
    p.set_defaults(func=run)


def _open_unit(text: str, flag: str) -> float:
    """A number in (0, 1) from the command line, or a one-line ValueError naming ``flag``."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{flag} must be a number in (0, 1); got {text!r}") from None
    if not 0 < value < 1:
        raise ValueError(f"{flag} must be in (0, 1); got {text}")
    return value


def run(args) -> int:
    """Runs ``jaxcert estimate``; returns the exit status."""
    from jaxcert.judge.box_conflict import BoxConflictError
    from jaxcert.judge.front_door import certify

    alpha = _open_unit(args.alpha, "--alpha")
    box_alpha = _open_unit(args.box_alpha, "--box-alpha")
    tpr, fpr = parse_box(args.tpr, "--tpr"), parse_box(args.fpr, "--fpr")
    target = None if args.target is None else _open_unit(args.target, "--target")
    groups = read_input_groups(args)
    key = None
    if args.interval == "bootstrap":
        import jax

        key = jax.random.key(args.seed)
    # Certify every group before printing any, so a box conflict in one provider prints
    # nothing half-done.
    results = []
    for name, labels in groups:
        try:
            res = certify(labels.human, labels.judge, tpr=tpr, fpr=fpr, alpha=alpha,
                          side=args.side, method=args.method, interval=args.interval,
                          key=key, num_boot=args.num_boot, box_alpha=box_alpha,
                          on_conflict=args.on_box_conflict, labelling=args.labelling,
                          sensitivity=args.sensitivity, target=target)
        except BoxConflictError as e:
            bc = e.box_check
            where = "" if name is None else f" for provider {name}"
            sys.stderr.write(f"jaxcert estimate: box conflict{where}: the human labels "
                             f"contradict {bc.contradicted} (p = {bc.p_value:.2g} <= "
                             f"{bc.box_alpha:g}); fix --tpr/--fpr or pass --on-box-conflict "
                             "widen\n")
            return EXIT_BOX_CONFLICT
        results.append((name, labels, res))
    if args.output_format == "json":
        outs = []
        for name, labels, res in results:
            out = res.to_dict()
            out["data"] = describe_input(args, labels)
            outs.append(out if name is None else {"provider": name, **out})
        doc = outs[0] if len(outs) == 1 else {"providers": outs}
        sys.stdout.write(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    else:
        for name, labels, res in results:
            if name is not None:
                sys.stdout.write(f"provider {name}:\n")
            sys.stdout.write(str(res) + "\n")
            if labels.n_dropped:
                sys.stdout.write(f"note: dropped {labels.n_dropped} rows without a judge "
                                 "verdict\n")
    return 0
