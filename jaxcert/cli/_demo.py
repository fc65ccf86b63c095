"""``jaxcert demo``: every estimator on real XSTest data, checked against the truth.

What it does (bundled data, :func:`jaxcert.datasets.load_xstest`):

1. Target: one model's 450 XSTest completions with a judge's verdicts
   (default ``llama2orig`` with the refusal string matcher: a 33% failure rate, so
   50 human labels carry signal, and a judge with TPR 0.76 / FPR 0.04).
2. Hide the human labels of all but ``--n-labeled`` items drawn at random (``--seed``):
   the rest are judge-only.
3. Transfer judge-rate boxes from the *other* four models, where every item is
   human-labelled (the constraint-transfer idea of Shen et al. 2026): the TPR box is
   ``[min_k L_k, max_k U_k]`` over the other models ``k``, with ``[L_k, U_k]`` the
   95% Wilson interval of model ``k``'s measured TPR; likewise the FPR box. This
   envelope covers the rates seen on the other models and their sampling noise; it
   is *not* guaranteed to contain the target's rates (with the string matcher it
   misses mistralinstruct's TPR 0.977; with the GPT-4 judge it misses both rates of
   the gpt4 model), and the demo prints whether it does.
4. Run every estimator (``certify(..., method="all")``) and compare each interval
   with the truth: the failure rate by all 450 human labels.

Where the box matters: ``--model mistralguard --seed 1`` keeps 5 human-labelled
failures of which the judge flags 1, so the calibration TPR (0.2) is at chance:
umle and rogan-gladen refuse (not identified), while cmle, held inside the
transferred TPR box, still gives an interval (it covers the truth 0.12).

Outputs a text table, ``demo.json`` and (with matplotlib) ``demo.png`` in ``--out``:
a forest plot whose legend explains every mark (point estimate, interval covering or
missing the truth, the truth line) and whose title states the confidence level and
side. ``demo.json`` is written first, so a failing plot never costs the results.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from jaxcert._validate import SIDES

__all__ = ["register", "run", "transfer_box"]

DEFAULT_MODEL = "llama2orig"
DEFAULT_JUDGE = "strmatch"


def wilson_interval(k: float, n: float, alpha: float = 0.05) -> tuple[float, float]:
    """Two-sided Wilson score interval of ``k / n`` (:func:`jaxcert.intervals.wilson`);
    ``(0, 1)`` when ``n = 0`` (no information)."""
    from jaxcert.intervals import wilson

    if n <= 0:
        return 0.0, 1.0
    iv = wilson(float(k), float(n), alpha=alpha)
    return float(iv.lower), float(iv.upper)


def _rates(human, judge):
    """(TPR, FPR) with their (k, n) from fully labelled data."""
    pos, neg = human == 1, human == 0
    return (judge[pos].sum(), pos.sum()), (judge[neg].sum(), neg.sum())


def transfer_box(data, target: str, alpha: float = 0.05):
    """TPR/FPR boxes for ``target`` from the other models of a :class:`JudgeDataset`.

    Returns:
      ``(tpr_box, fpr_box, per_model)`` where each box is ``(lo, hi)`` =
      ``[min_k Wilson_lo_k, max_k Wilson_hi_k]`` over the models ``k != target`` and
      ``per_model`` maps each model to its measured ``(tpr, fpr)``.
    """
    tpr_iv, fpr_iv, per_model = [], [], {}
    for m in dict.fromkeys(data.model.tolist()):
        sel = data.model == m
        (ks, ns), (kr, nr) = _rates(data.human[sel], data.judge[sel])
        per_model[m] = (float(ks / ns) if ns else None, float(kr / nr) if nr else None)
        if m != target:
            tpr_iv.append(wilson_interval(ks, ns, alpha))
            fpr_iv.append(wilson_interval(kr, nr, alpha))
    if not tpr_iv:
        raise ValueError(f"no other model to transfer judge rates from (target {target!r})")
    box = lambda iv: (min(a for a, _ in iv), max(b for _, b in iv))  # noqa: E731
    return box(tpr_iv), box(fpr_iv), per_model


def register(sub) -> None:
    """Adds the ``demo`` sub-command."""
    from jaxcert.datasets import XSTEST_JUDGES, XSTEST_MODELS

    p = sub.add_parser(
        "demo", help="all estimators on real XSTest data vs the full-label truth",
        description="Certify one XSTest model's failure rate from a few human labels plus "
        "judge verdicts, with judge-rate boxes transferred from the other models, and "
        "compare every estimator with the truth (all human labels).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default=DEFAULT_MODEL, choices=XSTEST_MODELS,
                   help="the XSTest model whose failure rate is certified (the other "
                   "models supply the judge-rate boxes)")
    p.add_argument("--judge", default=DEFAULT_JUDGE, choices=XSTEST_JUDGES,
                   help="whose verdicts act as the LLM judge: the GPT-4 classifier or the "
                   "refusal string matcher")
    p.add_argument("--n-labeled", type=int, default=50, help="human labels kept")
    p.add_argument("--seed", type=int, default=0, help="PRNG seed for the labelled subset")
    p.add_argument("--alpha", type=float, default=0.05,
                   help="error level: intervals hold with confidence 1 - alpha")
    p.add_argument("--side", default="two-sided", choices=SIDES,
                   help="interval kind; 'upper' gives the certificate [0, U]")
    p.add_argument("--out", default="jaxcert-demo", help="output folder (JSON, PNG)")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG")
    p.set_defaults(func=run)


def run(args) -> int:
    """Runs ``jaxcert demo``; returns the exit status."""
    import jax

    from jaxcert.cli._output import prepare_out_dir
    from jaxcert.datasets import load_xstest
    from jaxcert.judge import certify

    if not 0 < args.alpha < 1:
        raise ValueError(f"--alpha must be in (0, 1); got {args.alpha}")
    out_dir = prepare_out_dir(args.out)  # before any work: a bad --out costs nothing
    data = load_xstest(judge=args.judge)
    target = data.subset(data.model == args.model)
    n_items = len(target)
    if not 1 <= args.n_labeled <= n_items:
        raise ValueError(f"--n-labeled must be between 1 and {n_items}; got {args.n_labeled}")
    tpr_box, fpr_box, per_model = transfer_box(data, args.model)
    truth = target.truth
    true_tpr, true_fpr = per_model[args.model]

    idx = np.asarray(jax.random.permutation(jax.random.key(args.seed), n_items))
    human = np.full(n_items, np.nan)
    keep = idx[: args.n_labeled]
    human[keep] = target.human[keep]
    table = certify(human, target.judge, tpr=tpr_box, fpr=fpr_box, alpha=args.alpha,
                    side=args.side, method="all")

    inside = lambda v, b: b[0] <= v <= b[1]  # noqa: E731
    w = sys.stdout.write
    w(f"XSTest, model {args.model}, judge {args.judge}: {n_items} items, "
      f"{args.n_labeled} human labels kept (seed {args.seed}), the rest judge-only\n")
    w(f"judge-rate boxes transferred from the other models (envelope of 95% Wilson intervals):\n"
      f"  TPR [{tpr_box[0]:.3f}, {tpr_box[1]:.3f}]  (target's true TPR {true_tpr:.3f}: "
      f"{'inside' if inside(true_tpr, tpr_box) else 'OUTSIDE'})\n"
      f"  FPR [{fpr_box[0]:.3f}, {fpr_box[1]:.3f}]  (target's true FPR {true_fpr:.3f}: "
      f"{'inside' if inside(true_fpr, fpr_box) else 'OUTSIDE'})\n\n")
    w(table.render(truth=truth) + "\n")
    cm = table["cmle"]
    if cm.ok:
        w(f"cmle active constraints: {', '.join(cm.active) or 'none'}"
          f"{'' if cm.active else ' (the transferred boxes do not bind: cmle = umle here)'}\n")

    payload = {
        "dataset": "xstest", "model": args.model, "judge": args.judge, "n_items": n_items,
        "n_labeled": args.n_labeled, "seed": args.seed, "truth": truth,
        "true_tpr": true_tpr, "true_fpr": true_fpr, "tpr_box": list(tpr_box),
        "fpr_box": list(fpr_box), "per_model_rates": {k: list(v) for k, v in per_model.items()},
        "box_rule": "[min_k Wilson95_lo_k, max_k Wilson95_hi_k] over the other models k",
        **table.to_dict(),
    }
    for r in payload["results"]:
        r["covers_truth"] = (None if r["estimate"] is None
                             else bool(r["lower"] <= truth <= r["upper"]))
    json_path = os.path.join(out_dir, "demo.json")
    with open(json_path, "w") as fh:
        json.dump(payload, fh, indent=2, allow_nan=False)
    w(f"\nwrote {json_path}\n")
    if not args.no_plot:
        from jaxcert._plotting import forest_plot

        png = os.path.join(out_dir, "demo.png")
        try:
            forest_plot(table.rows, png, truth=truth,
                        truth_label=f"truth (all {n_items} human labels)",
                        title=f"XSTest {args.model}, judge {args.judge}: {args.n_labeled} "
                        f"human labels + {n_items - args.n_labeled} judge-only items")
            w(f"wrote {png}\n")
        except ImportError:
            w("note: matplotlib is not installed (pip install 'jaxcert[plot]'); plot skipped\n")
    return 0
