"""Matplotlib helpers (optional extra ``jaxcert[plot]``), imported lazily.

Figures are drawn on a :class:`matplotlib.figure.Figure` with the Agg canvas, never
through ``pyplot``: no global backend or figure state is touched.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["require_matplotlib", "forest_plot"]


def require_matplotlib():
    """Imports matplotlib or raises ``ImportError`` with the install hint."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError("plotting needs matplotlib: pip install 'jaxcert[plot]'") from e
    return Figure, FigureCanvasAgg


def forest_plot(rows: Sequence, path, *, truth: float | None = None, title: str = "",
                xlabel: str = "failure rate"):
    """Saves a forest plot (one interval per estimator) as an image file.

    Args:
      rows: objects with ``method, estimate, lower, upper`` (e.g. the rows of a
        :class:`~jaxcert.judge.CertifyTable`); rows with ``estimate is None`` are
        listed as "failed".
      path: output file (format from the extension, e.g. ``.png``).
      truth: draws a vertical reference line (e.g. the full-label failure rate).
      title: figure title.

    Returns:
      ``path``.
    """
    Figure, FigureCanvasAgg = require_matplotlib()
    fig = Figure(figsize=(7.0, 0.45 * len(rows) + 1.4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    labels = []
    for i, r in enumerate(rows):
        y = len(rows) - 1 - i
        ok = r.estimate is not None and all(math.isfinite(v) for v in (r.lower, r.upper))
        labels.append(r.method if ok else f"{r.method} (failed)")
        if not ok:
            continue
        covers = truth is None or r.lower <= truth <= r.upper
        color = "tab:blue" if covers else "tab:red"
        ax.plot([r.lower, r.upper], [y, y], color=color, lw=2.5, solid_capstyle="butt")
        ax.plot([r.estimate], [y], "o", color="black", ms=5)
    if truth is not None:
        ax.axvline(truth, color="tab:green", ls="--", lw=1.5, label=f"truth {truth:.3f}")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(labels[::-1])
    ax.set_xlabel(xlabel)
    ax.set_xlim(left=max(0.0, ax.get_xlim()[0]))
    ax.grid(axis="x", alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
