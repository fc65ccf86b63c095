"""``jaxcert rare compare``: ratio of two models' rare failure rates on the same inputs.

Examples::

    jaxcert rare compare --space synthetic:1e-4:concentrated --mass-b 2.4e-4 --budget 8000 --out runs/cmp
    jaxcert rare compare --space synthetic:1e-4:concentrated --mass-b 2.4e-4 --outcome samples:4 \\
        --budget 32000 --out runs/cmp4
    jaxcert rare compare --space varbench:0 --evaluator-a synthetic --mass-a 1e-4 \\
        --evaluator-b synthetic --mass-b 2.4e-4 --budget 8000 --out runs/vb0

Trains one proposal on the union score, evaluates BOTH models on every input and
reports ``mu_B / mu_A`` with a paired delta-method interval
(:func:`jaxcert.rare.compare`). Writes ``comparison.json`` and ``comparison.md``.
On a synthetic space the two planted models share their failure corner (B fails
wherever A does, and more); ``--outcome`` picks what a call returns: ``graded`` (the
failure probability, deterministic per input), ``binary`` (one sampled answer) or
``samples:K`` (wrong fraction of K answers, charged K inferences); with ``binary``
and ``samples:K`` the CE training stages read the graded failure probability (as a
log-probability signal would give, one inference per input).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os

import numpy as np

__all__ = ["build_compare_parser", "run_compare"]


def build_compare_parser(parser_class=argparse.ArgumentParser, prog: str = "jaxcert rare compare"):
    """The ``jaxcert rare compare`` parser; ``args.func`` is :func:`run_compare`."""
    p = parser_class(prog=prog, description=__doc__.split("\n\n")[0])
    p.add_argument("--space", required=True,
                   help="synthetic:<mass_a>:<concentration> | varbench:<i> | gsm-alt:<i>")
    p.add_argument("--mass-a", type=float, default=None, help="planted failure rate of model A (template spaces)")
    p.add_argument("--mass-b", type=float, required=True, help="planted failure rate of model B")
    p.add_argument("--evaluator-a", default="synthetic", help="synthetic | python:module:function | openai")
    p.add_argument("--evaluator-b", default="synthetic")
    p.add_argument("--model-a", default=None)
    p.add_argument("--model-b", default=None)
    p.add_argument("--base-url", default=None)
    p.add_argument("--outcome", default="graded", help="synthetic spaces: graded | binary | samples:K")
    p.add_argument("--budget", type=int, default=8000, help="inferences of both models, training included")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="smaller synthetic space")
    p.add_argument("--out", required=True)
    p.set_defaults(func=run_compare)
    return p


class _Outcome:
    """A planted landscape observed as graded / binary / K-sample outcomes."""

    def __init__(self, landscape, outcome, seed):
        from jaxcert.rare.synthetic import landscape_evaluator

        self.f = landscape_evaluator(landscape)
        self.rng = np.random.default_rng(seed)
        kind, _, k = outcome.partition(":")
        if kind == "graded":
            self.K = 0
        elif kind == "binary":
            self.K = 1
        elif kind == "samples" and k.isdigit() and int(k) >= 1:
            self.K = int(k)
        else:
            raise ValueError(f"--outcome must be graded, binary or samples:K (K >= 1); got {outcome!r}")
        self.cost_per_input = max(self.K, 1)

    def __call__(self, X):
        F = self.f(X)
        return F if self.K == 0 else self.rng.binomial(self.K, F) / self.K


def _synthetic(args, key):
    from jaxcert.rare.space import ProductSpace
    from jaxcert.rare.synthetic import landscape_mu, planted_landscape

    _, _, rest = args.space.partition(":")
    mass_s, _, conc = rest.partition(":")
    try:
        mass_a = float(mass_s)
    except ValueError:
        raise ValueError(f"--space synthetic:<mass_a>:<concentration>: mass must be a number; got {mass_s!r}") from None
    sizes = (10,) * (5 if args.quick else 6)
    # the same key plants the same corner: B decays more slowly, so F_B >= F_A
    la = planted_landscape(key, sizes, mass_a, conc or "concentrated")
    lb = planted_landscape(key, sizes, args.mass_b, conc or "concentrated")
    ea, eb = _Outcome(la, args.outcome, args.seed), _Outcome(lb, args.outcome, args.seed + 1)
    return ProductSpace(sizes), ea, eb, (landscape_mu(la), landscape_mu(lb))


def _templates(args, key):
    from jaxcert.cli import _rare

    built = []
    for side, mass in (("a", args.mass_a if args.mass_a is not None else 1e-4), ("b", args.mass_b)):
        ns = copy.copy(args)
        ns.evaluator, ns.model, ns.mass = getattr(args, f"evaluator_{side}"), getattr(args, f"model_{side}"), mass
        ns.out = os.path.join(args.out, f"model_{side}")  # separate caches per model
        for name, default in (("concurrency", 8), ("samples", 1), ("temperature", 0.0), ("timeout", 60.0)):
            if not hasattr(ns, name):
                setattr(ns, name, default)
        os.makedirs(ns.out, exist_ok=True)
        built.append(_rare._build(ns, key))
    (space, ea, ta, _), (_, eb, tb, _) = built
    return space, ea, eb, (ta, tb)


def run_compare(args) -> int:
    """Runs the comparison, writes ``comparison.{json,md}``; returns 0."""
    import jax

    from jaxcert import __version__
    from jaxcert._validate import check_alpha
    from jaxcert.cli._output import prepare_out_dir
    from jaxcert.rare.paired import compare

    check_alpha(args.alpha)
    if args.budget < 2:
        raise ValueError(f"--budget must be >= 2; got {args.budget}")
    if not 0 < args.mass_b < 1:
        raise ValueError(f"--mass-b must be in (0, 1); got {args.mass_b}")
    prepare_out_dir(args.out)
    key_space, key_run = jax.random.split(jax.random.key(args.seed))
    build = _synthetic if args.space.startswith("synthetic") else _templates
    space, ea, eb, truth = build(args, key_space)
    train = {}
    if getattr(ea, "K", 0):  # synthetic 0/1 or K-sample outcomes: graded training signal
        train = dict(train_evaluate_a=ea.f, train_evaluate_b=eb.f)
    res = compare(key_run, space, ea, eb, args.budget, alpha=args.alpha, **train)
    true_ratio = truth[1] / truth[0] if None not in truth and truth[0] else None
    report = {
        "result": res.to_dict(),
        "truth": {"mu_a": truth[0], "mu_b": truth[1], "ratio": true_ratio},
        "config": {k: v for k, v in vars(args).items() if k != "func"},
        "environment": {"jax": jax.__version__, "jaxcert": __version__, "x64": bool(jax.config.jax_enable_x64),
                        "device": str(jax.devices()[0].platform),
                        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")},
    }
    text = json.dumps(report, indent=2, default=lambda o: None)
    with open(os.path.join(args.out, "comparison.json"), "w", encoding="utf-8") as f:
        f.write(text.replace("Infinity", "null").replace("NaN", "null"))
    md = [f"# jaxcert rare compare: {args.space}", "", "```", str(res), "```"]
    if true_ratio is not None:
        md.append(f"\ntrue ratio (planted): {true_ratio:.4g}")
    with open(os.path.join(args.out, "comparison.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(md) + "\n")
    print(res)
    if true_ratio is not None:
        print(f"  true ratio (planted): {true_ratio:.4g}")
    return 0
