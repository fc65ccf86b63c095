"""``jaxcert rare``: five-nines certificate of a model on a template space (CEM + IS).

Examples::

    jaxcert rare --space varbench:0 --evaluator synthetic --mass 1e-4 --budget 4000 --out runs/vb0
    jaxcert rare --space synthetic:1e-5:concentrated --budget 20000 --out runs/syn
    jaxcert rare --space gsm-alt:17 --evaluator openai --base-url http://localhost:8000/v1 \\
        --model qwen2.5-math-7b --budget 3000 --out runs/qwen

Writes ``report.json``, ``report.md`` and ``proposal.png`` into ``--out``. Model calls
of the ``openai`` and ``python:`` evaluators are cached in ``--out/evaluations.jsonl``:
re-running with the same ``--out`` (and seed) resumes without paying twice.
"""

from __future__ import annotations

import datetime
import importlib
import json
import math
import os
import platform
import sys

import numpy as np

_QUICK_MAX_INPUTS = 200_000


def register(sub) -> None:
    """Adds the ``rare`` sub-command."""
    p = sub.add_parser(
        "rare",
        help="five-nines failure-rate certificate (CEM + importance sampling) on a template space",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument(
        "--space",
        required=True,
        help="varbench:<index> | gsm-alt:<index> | synthetic:<mass>:<concentration>",
    )
    p.add_argument(
        "--evaluator", default="synthetic", help="synthetic | python:module:function | openai"
    )
    p.add_argument(
        "--mass",
        type=float,
        default=1e-4,
        help="planted failure rate of the synthetic evaluator on a template space (default 1e-4)",
    )
    p.add_argument(
        "--base-url", default=None, help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1"
    )
    p.add_argument("--model", default=None, help="model name for --evaluator openai")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument(
        "--samples", type=int, default=1, help="answers per input (failure = wrong fraction)"
    )
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--budget", type=int, default=20_000, help="model calls (training + estimation)")
    p.add_argument("--out", required=True, help="output directory (created; reused for resume)")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--defensive", type=float, default=0.1, help="defensive mixture weight l (weights <= 1/l)"
    )
    p.add_argument(
        "--bound",
        default="betting",
        help="finite-sample bound of the IS mean (see jaxcert.rare.BOUNDS)",
    )
    p.add_argument(
        "--no-uniform-check",
        action="store_true",
        help="do not also certify from the uniform draws (exact Clopper-Pearson, alpha/2 each)",
    )
    p.add_argument("--quick", action="store_true", help="small space and budget (demo / CI)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _build(args, key):
    """Returns (space, evaluate, truth, extra) for the command-line choices."""
    from jaxcert.rare import evaluators as ev
    from jaxcert.rare._cache import EvalCache

    kind, _, rest = args.space.partition(":")
    if kind == "synthetic":
        from jaxcert.rare.space import ProductSpace
        from jaxcert.rare.synthetic import landscape_evaluator, landscape_mu, planted_landscape

        mass_s, _, conc = rest.partition(":")
        try:
            mass = float(mass_s)
        except ValueError:
            raise ValueError(
                f"--space synthetic:<mass>:<concentration>: mass must be a number; got {mass_s!r}"
            ) from None
        if args.evaluator != "synthetic":
            raise ValueError(
                "--space synthetic:... has no question text: use --evaluator synthetic"
            )
        sizes = (10,) * (5 if args.quick else 6)
        land = planted_landscape(key, sizes, mass, conc or "concentrated")
        return ProductSpace(sizes), landscape_evaluator(land), float(landscape_mu(land)), {}
    if kind not in ("varbench", "gsm-alt"):
        raise ValueError(
            f"--space must be varbench:<i>, gsm-alt:<i> or synthetic:<mass>:<conc>; "
            f"got {args.space!r}"
        )
    from jaxcert.rare.templates import load_template

    space = load_template(args.space, max_inputs=_QUICK_MAX_INPUTS if args.quick else 2_000_000)
    if args.evaluator == "synthetic":
        evaluate, mu = ev.planted_corner_evaluator(space, args.mass)
        return space, evaluate, mu, {"planted_lambda": evaluate.lam}
    if args.evaluator.startswith("python:"):
        mod_name, _, fn_name = args.evaluator[7:].partition(":")
        if not mod_name or not fn_name:
            raise ValueError(f"--evaluator python:module:function expected; got {args.evaluator!r}")
        try:
            module = importlib.import_module(mod_name)
        except ImportError as e:
            raise ValueError(f"--evaluator: cannot import module {mod_name!r} ({e})") from None
        fn = getattr(module, fn_name, None)
        if fn is None:
            raise ValueError(f"--evaluator: module {mod_name!r} has no attribute {fn_name!r}")
        inner = (lambda X: fn(X, space)) if ev._accepts_space(fn) else fn
        cache = EvalCache(os.path.join(args.out, "evaluations.jsonl"))
        wrapped = ev.cached_evaluator(
            ev.python_evaluator(inner, d=space.d), cache, args.evaluator, space.id
        )
        return space, wrapped, None, {"cache": cache, "wrapped": wrapped}
    if args.evaluator == "openai":
        if not args.base_url or not args.model:
            raise ValueError("--evaluator openai needs --base-url and --model")
        o = ev.OpenAIChatEvaluator(
            space,
            args.base_url,
            args.model,
            concurrency=args.concurrency,
            timeout=args.timeout,
            samples_per_input=args.samples,
            temperature=args.temperature,
            cache_dir=args.out,
        )
        return space, o, None, {"openai": o}
    raise ValueError(
        f"--evaluator must be synthetic, python:module:function or openai; got {args.evaluator!r}"
    )


def _clean(obj):
    """JSON-safe copy: numpy -> Python, NaN/inf -> None."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, (np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    return str(obj)


def _plot(result, space, path) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: proposal plot skipped (pip install jaxcert[plot])"
    probs, mask = np.asarray(result.proposal.probs), np.asarray(result.proposal.mask)
    d = probs.shape[0]
    fig, axes = plt.subplots(d, 1, figsize=(7, 1.6 * d + 0.6), squeeze=False)
    for j, ax in enumerate(axes[:, 0]):
        p = probs[j][mask[j]]
        ax.bar(np.arange(p.size), p, width=1.0, color="tab:blue", label="CE proposal")
        ax.axhline(1.0 / p.size, color="tab:red", lw=1, ls="--", label="nominal (uniform)")
        ax.set_ylabel(space.names[j][:18], fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7, loc="upper left")
    axes[-1, 0].set_xlabel("category index")
    fig.suptitle("Learned proposal vs nominal, per variable", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def _markdown(report) -> str:
    r = report["result"]
    rows = [
        ("estimate", r["estimate"]),
        ("lower", r["lower"]),
        ("upper", r["upper"]),
        ("alpha / side / bound", f"{r['alpha']} / {r['side']} / {r['bound']}"),
        ("inferences (training included)", r["inferences"]),
        ("budget", r["budget"]),
        ("uniform samples needed for the same bound", r["uniform_needed"]),
        ("reduction", r["reduction"]),
        ("ESS", r["ess"]),
        ("max weight", r["max_weight"]),
        ("failures seen", r["failures_seen"]),
        ("uniform draws / their failures", f"{r.get('uniform_draws', 0)} / {r.get('uniform_failures', 0)}"),
        ("upper end set by", r.get("certificate", "importance")),
        ("true failure rate (synthetic)", report.get("truth")),
    ]
    lines = [
        f"# jaxcert rare: {report['config']['space']}",
        "",
        "| quantity | value |",
        "|---|---|",
    ] + [f"| {k} | {v} |" for k, v in rows]
    lines += [
        "",
        f"jax {report['environment']['jax']}, x64 {report['environment']['x64']}, "
        f"device {report['environment']['device']}, {report['environment']['date']}",
    ]
    lines += [f"- note: {n}" for n in r.get("notes", []) + report.get("notes", [])]
    if report.get("plot"):
        lines += ["", f"![proposal]({report['plot']})"]
    return "\n".join(lines) + "\n"


def run(args) -> int:
    """Runs the certificate and writes the report; returns 0."""
    import jax

    from jaxcert import __version__
    from jaxcert._validate import check_alpha
    from jaxcert.rare.estimate import estimate

    if args.budget < 2:
        raise ValueError(f"--budget must be >= 2; got {args.budget}")
    check_alpha(args.alpha)
    if not 0 < args.defensive <= 1:
        raise ValueError(f"--defensive must be in (0, 1]; got {args.defensive}")
    if args.quick:
        args.budget = min(args.budget, 4000)
    os.makedirs(args.out, exist_ok=True)
    key_space, key_est = jax.random.split(jax.random.key(args.seed))
    space, evaluate, truth, extra = _build(args, key_space)
    result = estimate(
        key_est,
        space,
        evaluate,
        args.budget,
        alpha=args.alpha,
        defensive=args.defensive,
        bound=args.bound,
        progress=not args.no_progress,
        uniform_check=not args.no_uniform_check,
    )
    notes = []
    plot_note = _plot(result, space, os.path.join(args.out, "proposal.png"))
    if plot_note:
        notes.append(plot_note)
    evaluator = {"kind": args.evaluator}
    if "openai" in extra:
        evaluator.update(extra["openai"].summary())
    if "wrapped" in extra:
        evaluator.update(calls=extra["wrapped"].calls, cache_hits=extra["wrapped"].hits)
    report = {
        "result": result.to_dict(),
        "truth": truth,
        "space": space.describe() if hasattr(space, "describe") else {"sizes": list(space.sizes)},
        "evaluator": evaluator,
        "config": {k: v for k, v in vars(args).items() if k != "func"},
        "planted": {k: v for k, v in extra.items() if k == "planted_lambda"},
        "environment": {
            "jax": jax.__version__,
            "jaxcert": __version__,
            "x64": bool(jax.config.jax_enable_x64),
            "device": str(jax.devices()[0].platform),
            "python": platform.python_version(),
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        },
        "plot": None if plot_note else "proposal.png",
        "notes": notes,
    }
    report = _clean(report)
    with open(os.path.join(args.out, "report.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(args.out, "report.md"), "w", encoding="utf-8") as f:
        f.write(_markdown(report))
    print(result)
    if truth is not None:
        print(f"  true failure rate (planted): {truth:.4g}")
    print(f"report written to {os.path.join(args.out, 'report.json')}", file=sys.stdout)
    return 0
