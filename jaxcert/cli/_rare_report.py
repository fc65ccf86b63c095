"""The report of ``jaxcert rare``: ``report.json``, ``report.md``, the proposal plot, stdout.

The JSON report is the record of a run (result, evaluator counts, configuration,
environment); the markdown page and the printed summary are views of it, so a report
re-read from disk prints the same. The plot is optional and drawn last: a run without
matplotlib still leaves its results on disk.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform

import numpy as np


def build_report(args, result, space, truth, extra, meter, mode) -> dict:
    """The JSON-safe report of a run (``plot`` and ``notes`` filled in by the caller)."""
    import jax

    from jaxcert import __version__

    score = str(mode) if args.score is not None or "openai" in extra or "planted_lambda" in extra \
        else ("graded landscape" if args.space.startswith("synthetic") else "the function's")
    evaluator = {"kind": args.evaluator, "score": score}
    evaluator.update(meter.summary())
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
        "plot": None,
        "notes": [],
    }
    return clean(report)


def clean(obj):
    """JSON-safe copy: numpy -> Python, NaN/inf -> None."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return clean(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, (np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    return str(obj)


def tick_label(v: float) -> str:
    """An axis label for a variable's value: integers as such, others to 3 digits."""
    return f"{v:.0f}" if abs(v - round(v)) < 1e-9 and abs(v) < 1e6 else f"{v:.3g}"


def plot_proposal(result, space, path) -> str | None:
    """Draws the learned proposal against the nominal, per variable; a note if it cannot."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: proposal plot skipped (pip install jaxcert[plot])"
    probs, mask = np.asarray(result.proposal.probs), np.asarray(result.proposal.mask)
    grids = getattr(space, "grids", None)  # template spaces: the value of each category
    d = probs.shape[0]
    fig, axes = plt.subplots(d, 1, figsize=(7, 1.6 * d + 0.6), squeeze=False)
    for j, ax in enumerate(axes[:, 0]):
        p = probs[j][mask[j]]
        pos = np.arange(p.size)
        ax.bar(pos, p, width=1.0, color="tab:blue", label="CE proposal")
        ax.axhline(1.0 / p.size, color="tab:red", lw=1, ls="--", label="nominal (uniform)")
        ticks = np.unique(np.linspace(0, p.size - 1, min(p.size, 8)).round().astype(int))
        ax.set_xticks(ticks)
        if grids is not None:
            ax.set_xticklabels([tick_label(float(grids[j][t])) for t in ticks])
        ax.set_ylabel(space.names[j][:18], fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7, loc="upper left")
    axes[-1, 0].set_xlabel("variable value" if grids is not None else "category (no values)")
    fig.suptitle("Learned proposal vs nominal, per variable", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


_MD_ROWS = (("estimate", "estimate"), ("interval", "interval"), ("interval lower", "ci_lower"),
            ("interval upper", "ci_upper"), ("unreliable", "unreliable"),
            ("Pareto k-hat", "khat"), ("hidden-mass floor", "hidden_mass_floor"),
            ("estimated efficiency vs uniform", "efficiency_estimate"),
            ("certificate lower", "lower"), ("certificate upper", "upper"),
            ("inferences (training included)", "inferences"), ("budget", "budget"),
            ("uniform samples needed for the same bound", "uniform_needed"),
            ("reduction", "reduction"), ("ESS", "ess"), ("max weight", "max_weight"),
            ("uniform draws", "uniform_draws"), ("certificate set by", "certificate"))
_MD_EVALUATOR = (("score", "score"), ("inputs scored", "inputs_scored"),
                 ("inferences charged", "inferences_charged"),
                 ("failure-score sum", "failure_score_sum"),
                 ("inputs with a failure score > 0", "inputs_with_failure"),
                 ("requests sent", "requests"), ("cache hits", "cache_hits"))


def markdown(report) -> str:
    """``report.md``: one table of the result and evaluator counts, then environment and notes."""
    r, ev = report["result"], report["evaluator"]
    rows = [("alpha / side / bound", f"{r['alpha']} / {r['side']} / {r['bound']}")]
    rows += [(label, r[k]) for label, k in _MD_ROWS if k in r]
    rows += [(label, ev[k]) for label, k in _MD_EVALUATOR if k in ev]
    rows.append(("true failure rate (synthetic)", report.get("truth")))
    lines = [f"# jaxcert rare: {report['config']['space']}", "",
             "| quantity | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    env = report["environment"]
    lines += ["", f"jax {env['jax']}, x64 {env['x64']}, device {env['device']}, {env['date']}"]
    lines += [f"- note: {n}" for n in list(r.get("notes", [])) + report.get("notes", [])]
    if report.get("plot"):
        lines += ["", f"![proposal]({report['plot']})"]
    return "\n".join(lines) + "\n"


def write_reports(report, out) -> None:
    """Writes ``report.json`` and ``report.md`` into ``out`` (again after the plot)."""
    with open(os.path.join(out, "report.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(out, "report.md"), "w", encoding="utf-8") as f:
        f.write(markdown(report))


def summary_lines(report) -> list[str]:
    """What the evaluator saw, in words that hold for graded scores too."""
    ev, r = report["evaluator"], report["result"]
    lines = [
        f"  evaluator {ev['kind']}, score {ev['score']}: {ev['inputs_scored']} inputs scored, "
        f"{ev['inferences_charged']} inferences charged ({ev['cost_per_input']} per input), "
        f"failure-score sum {ev['failure_score_sum']:.4g} over {ev['inputs_with_failure']} "
        "inputs with a score > 0"
    ]
    if report.get("truth") is not None:
        t = report["truth"]
        where = [f"{'inside' if r['lower'] <= t <= r['upper'] else 'OUTSIDE'} the finite-sample "
                 "certificate"]
        if r.get("ci_lower") is not None and r.get("ci_upper") is not None:
            inside = r["ci_lower"] <= t <= r["ci_upper"]
            where.append(f"{'inside' if inside else 'OUTSIDE'} the "
                         f"{r.get('interval', 'asymptotic')} interval")
        lines.append(f"  true failure rate (planted): {t:.4g} ({', '.join(where)})")
    return lines
