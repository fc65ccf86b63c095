"""``jaxcert rare``: five-nines certificate of a model on a template space (CEM + IS).

Examples::

    jaxcert rare --space varbench:0 --evaluator synthetic --mass 1e-4 --budget 4000 --out runs/vb0
    jaxcert rare --space synthetic:1e-5:concentrated --budget 20000 --out runs/syn
    jaxcert rare --space gsm-alt:17 --evaluator openai --base-url http://localhost:8000/v1 \\
        --model qwen2.5-math-7b --budget 3000 --out runs/qwen

Writes ``report.json`` and ``report.md`` into ``--out`` (then ``proposal.png``, the
learned proposal over each variable's values). Model calls of the ``openai`` and
``python:`` evaluators are cached in ``--out/evaluations.jsonl``: re-running with the same
``--out`` (and seed) resumes without paying twice, and Ctrl-C stops sending at once
(exit 130, every answer received kept). ``--score`` picks the failure signal:
``binary`` (one answer, right or wrong), ``samples:K`` (wrong fraction of K sampled
answers, charged K inferences) or ``logprob`` (1 - P(reference answer) by teacher
forcing; needs a server returning prompt log-probabilities, e.g. vLLM).
"""

from __future__ import annotations

import argparse
import os
import sys

_QUICK_MAX_INPUTS = 200_000


def register(sub) -> None:
    """Adds the ``rare`` sub-command."""
    p = sub.add_parser(
        "rare",
        help="five-nines failure-rate certificate (CEM + importance sampling) on a template space",
        description=__doc__.split("\n\n")[0],
    )
    add = p.add_argument
    add("--space", required=True,
        help="varbench:<index> | gsm-alt:<index> | synthetic:<mass>:<concentration>")
    add("--evaluator", default="synthetic", help="synthetic | python:module:function | openai")
    add("--mass", type=float, default=1e-4,
        help="planted failure rate of the synthetic evaluator on a template space (default 1e-4)")
    add("--base-url", default=None, help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1")
    add("--model", default=None, help="model name for --evaluator openai")
    add("--concurrency", type=int, default=8, help="parallel requests (openai)")
    add("--score", default=None,
        help="failure signal: binary (default) | samples:K | logprob (openai and synthetic)")
    add("--temperature", type=float, default=None,
        help="sampling temperature (default 0; samples:K needs > 0)")
    add("--max-tokens", type=int, default=None, help="answer length limit (openai)")
    add("--timeout", type=float, default=60.0, help="seconds per request (openai)")
    add("--max-retries", type=int, default=3,
        help="retries of a failed request (timeouts, HTTP 429/5xx; default 3)")
    add("--backoff", type=float, default=1.0,
        help="base seconds of the exponential backoff between retries (default 1)")
    add("--budget", type=int, default=20_000, help="model calls (training + estimation)")
    add("--out", required=True, help="output directory (created; reused for resume)")
    add("--alpha", type=float, default=0.05, help="error level (default 0.05)")
    add("--seed", type=int, default=0, help="random seed (default 0)")
    add("--defensive", type=float, default=0.1, help="defensive mixture weight l (weights <= 1/l)")
    add("--power", type=float, default=None,
        help="CE score exponent: the proposal targets p0 F^power (default 1 when the outcome is a "
             "failure probability: --score logprob or a synthetic space; else 0.5)")
    add("--bound", default="betting", help="finite-sample bound of the IS mean (see jaxcert.rare.BOUNDS)")
    add("--no-uniform-check", action="store_true",
        help="do not also certify from the uniform draws (exact Clopper-Pearson, alpha/2 each)")
    add("--quick", action="store_true", help="small space and budget (demo / CI)")
    add("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _build(args, key, mode=None):
    """Returns (space, evaluate, truth, extra) for the command-line choices.

    Also used by ``jaxcert rare compare`` with its own namespace: options it lacks take
    this command's defaults, and ``mode`` defaults to ``args.score`` (else binary).
    """
    from jaxcert.rare import evaluators as ev
    from jaxcert.rare._cache import EvalCache
    from jaxcert.rare.scoring import parse_score

    defaults = {"score": None, "max_retries": 3, "backoff": 1.0, "max_tokens": None,
                "temperature": None, "no_progress": True, "quick": False, "seed": 0,
                "concurrency": 8, "timeout": 60.0, "base_url": None, "model": None}
    args = argparse.Namespace(**{**defaults, **vars(args)})
    if mode is None:
        mode = parse_score(args.score if args.score is not None else "binary")

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
        if args.score is not None:
            raise ValueError("--space synthetic:... has a fixed graded landscape: drop --score")
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
        from jaxcert.rare.synthetic import planted_corner_evaluator

        evaluate, mu = planted_corner_evaluator(space, args.mass, score=str(mode), seed=args.seed)
        return space, evaluate, mu, {"planted_lambda": evaluate.lam}
    if args.evaluator.startswith("python:"):
        if args.score is not None:
            raise ValueError("--score applies to --evaluator openai and synthetic; a python "
                             "evaluator returns its own failure scores")
        cache = EvalCache(os.path.join(args.out, "evaluations.jsonl"))
        wrapped = ev.cached_evaluator(ev.import_evaluator(args.evaluator[7:], space), cache,
                                      args.evaluator, space.id)
        return space, wrapped, None, {"wrapped": wrapped}
    if args.evaluator == "openai":
        from jaxcert.rare.endpoints import OpenAIEvaluator

        if not args.base_url or not args.model:
            raise ValueError("--evaluator openai needs --base-url and --model")
        o = OpenAIEvaluator(
            space, args.base_url, args.model, score=mode, concurrency=args.concurrency,
            timeout=args.timeout, max_retries=args.max_retries, backoff=args.backoff,
            temperature=args.temperature or 0.0, max_tokens=args.max_tokens,
            cache_dir=args.out, progress=not args.no_progress,
        )
        return space, o, None, {"openai": o}
    raise ValueError(
        f"--evaluator must be synthetic, python:module:function or openai; got {args.evaluator!r}"
    )


def default_power(args, mode) -> float:
    """1 when the outcome is the failure probability itself (``--score logprob``, or a
    synthetic space's graded landscape): ``p0 F`` is then the zero-variance proposal
    (5-10x more efficient than 0.5 on ``benchmarks/bench_cem.py``'s landscapes) and the
    setting in which the ``unreliable`` flag was calibrated. Otherwise 0.5, the
    variance-optimal target ``p0 sqrt(F)`` for 0/1 outcomes."""
    return 1.0 if args.space.startswith("synthetic:") or mode.kind == "logprob" else 0.5


def run(args) -> int:
    """Runs the certificate and writes the report; returns 0."""
    import jax

    from jaxcert._validate import check_alpha
    from jaxcert.cli import _rare_report
    from jaxcert.cli._output import prepare_out_dir
    from jaxcert.rare import evaluators as ev
    from jaxcert.rare.pipeline import estimate
    from jaxcert.rare.scoring import parse_score

    if args.budget < 2:
        raise ValueError(f"--budget must be >= 2; got {args.budget}")
    check_alpha(args.alpha)
    if not 0 < args.defensive <= 1:
        raise ValueError(f"--defensive must be in (0, 1]; got {args.defensive}")
    if args.max_retries < 0 or not args.backoff >= 0:
        raise ValueError("--max-retries must be >= 0 and --backoff >= 0")
    if args.power is not None and not 0 < args.power <= 1:
        raise ValueError(f"--power must be in (0, 1]; got {args.power}")
    try:
        mode = parse_score(args.score if args.score is not None else "binary")
    except ValueError as e:
        raise ValueError(f"--{e}") from None
    if args.quick:
        args.budget = min(args.budget, 4000)
    prepare_out_dir(args.out)
    key_space, key_est = jax.random.split(jax.random.key(args.seed))
    space, evaluate, truth, extra = _build(args, key_space, mode)
    meter = ev.metered_evaluator(evaluate)
    power = args.power if args.power is not None else default_power(args, mode)
    result = estimate(
        key_est,
        space,
        meter,
        args.budget,
        alpha=args.alpha,
        defensive=args.defensive,
        bound=args.bound,
        power=power,
        progress=not args.no_progress,
        uniform_check=not args.no_uniform_check,
    )
    report = _rare_report.build_report(args, result, space, truth, extra, meter, mode)
    report["ce_power"] = power
    _rare_report.write_reports(report, args.out)  # results first: the plot is optional
    plot_note = _rare_report.plot_proposal(result, space, os.path.join(args.out, "proposal.png"))
    report["plot"] = None if plot_note else "proposal.png"
    if plot_note:
        report["notes"].append(plot_note)
    _rare_report.write_reports(report, args.out)
    print(result)
    print("\n".join(_rare_report.summary_lines(report)))
    print(f"report written to {os.path.join(args.out, 'report.json')}", file=sys.stdout)
    return 0
