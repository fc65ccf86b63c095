"""Matplotlib helpers (optional extra ``jaxcert[plot]``), imported lazily.

Figures are drawn on a :class:`matplotlib.figure.Figure` with the Agg canvas, never
through ``pyplot``: no global backend or figure state is touched.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["require_matplotlib", "forest_figure", "forest_plot", "level_text", "METHOD_NOTES"]

#: What each estimator of :func:`jaxcert.certify` is, in a few words (plot labels).
METHOD_NOTES = {
    "classical": "human labels only",
    "naive": "mean judge verdict (biased)",
    "rogan-gladen": "judge corrected by fitted TPR/FPR",
    "ppi": "prediction-powered inference",
    "ppi++": "PPI, power-tuned",
    "umle": "likelihood, no judge-rate boxes",
    "cmle": "likelihood inside TPR/FPR boxes",
}

_COVERS, _MISSES, _TRUTH = "tab:blue", "tab:red", "tab:green"


def require_matplotlib():
    """Imports matplotlib or raises ``ImportError`` with the install hint."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError("plotting needs matplotlib: pip install 'jaxcert[plot]'") from e
    return Figure, FigureCanvasAgg


def level_text(alpha: float, side: str) -> str:
    """``"95% two-sided confidence intervals"``, ``"95% upper confidence bounds"``, ..."""
    level = f"{100 * (1 - alpha):.6g}%"
    if side == "two-sided":
        return f"{level} two-sided confidence intervals"
    return f"{level} one-sided {side} confidence bounds"


def _finite(r) -> bool:
    return r.estimate is not None and all(
        v is not None and math.isfinite(v) for v in (r.estimate, r.lower, r.upper))


def forest_figure(rows: Sequence, *, truth: float | None = None, title: str = "",
                  truth_label: str = "truth", xlabel: str = "failure rate"):
    """A forest plot (one interval per estimator) as a :class:`matplotlib.figure.Figure`.

    Every mark is in the legend: the point estimate, the interval (coloured by whether
    it covers ``truth``), the truth line, and, where a method returned nothing, what
    "(no estimate)" means. Each y label names the method and what it is
    (:data:`METHOD_NOTES`). The title's last line states the confidence level and side,
    read from the rows (``alpha``, ``side``).

    Args:
      rows: objects with ``method, estimate, lower, upper`` and optionally ``alpha,
        side, status`` (e.g. the rows of a :class:`~jaxcert.judge.CertifyTable`); rows
        with ``estimate is None`` are labelled "(no estimate)".
      truth: draws a vertical reference line (e.g. the full-label failure rate).
      title: first title line(s); the level line is appended.
      truth_label: what the truth line is, for the legend.
      xlabel: x-axis label.
    """
    Figure, FigureCanvasAgg = require_matplotlib()
    from matplotlib.lines import Line2D

    height = 0.45 * len(rows) + 2.6
    fig = Figure(figsize=(8.0, height))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    labels, colors_used, failed = [], set(), False
    for i, r in enumerate(rows):
        y = len(rows) - 1 - i
        note = METHOD_NOTES.get(r.method)
        label = f"{r.method}: {note}" if note else r.method
        if not _finite(r):
            failed = True
            labels.append(f"{label} (no estimate)")
            continue
        labels.append(label)
        covers = truth is None or r.lower <= truth <= r.upper
        color = _COVERS if covers else _MISSES
        colors_used.add(color)
        ax.plot([r.lower, r.upper], [y, y], color=color, lw=2.5, solid_capstyle="butt")
        ax.plot([r.estimate], [y], "o", color="black", ms=5)
    handles = [Line2D([], [], ls="none", marker="o", color="black", ms=5,
                      label="point estimate")]
    if truth is None:
        handles.append(Line2D([], [], color=_COVERS, lw=2.5, label="confidence interval"))
    else:
        ax.axvline(truth, color=_TRUTH, ls="--", lw=1.5)
        # Only the colours drawn get an entry: the legend explains what is on the plot.
        handles += [Line2D([], [], color=c, lw=2.5, label=f"interval {what} the truth")
                    for c, what in ((_COVERS, "covers"), (_MISSES, "misses"))
                    if c in colors_used]
        handles.append(Line2D([], [], color=_TRUTH, ls="--", lw=1.5,
                              label=f"{truth_label} = {truth:.4g}"))
    if failed:
        handles.append(Line2D([], [], ls="none", label="(no estimate): the method refused "
                              "(status and reason in the output)"))
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=8, frameon=False)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(labels[::-1], fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_xlim(left=max(0.0, ax.get_xlim()[0]))
    ax.grid(axis="x", alpha=0.3)
    first = rows[0] if rows else None
    level = (level_text(first.alpha, first.side)
             if first is not None and hasattr(first, "alpha") and hasattr(first, "side") else "")
    ax.set_title("\n".join(t for t in (title, level) if t), fontsize=10)
    legend_rows = math.ceil(len(handles) / 2)
    fig.tight_layout(rect=(0, (0.22 * legend_rows + 0.1) / height, 1, 1))
    return fig


def forest_plot(rows: Sequence, path, *, truth: float | None = None, title: str = "",
                truth_label: str = "truth", xlabel: str = "failure rate"):
    """Saves :func:`forest_figure` as an image file (format from the extension).

    Returns:
      ``path``.
    """
    fig = forest_figure(rows, truth=truth, title=title, truth_label=truth_label,
                        xlabel=xlabel)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path
