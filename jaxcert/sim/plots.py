"""The standard figures of a sweep (matplotlib, imported lazily).

* ``rmse_ratio``: RMSE of each judge-based estimator divided by PPI's RMSE, against
  judge accuracy (or TPR), one panel per ``theta``, one line per ``n`` (largest ``N``,
  the tightest box that contains the truth; < 1 means better than PPI); a red cross
  marks a scenario where the estimator was unidentified (judge no better than chance
  within the box) in at least one replicate;
* ``coverage``: coverage against judge accuracy, one panel per estimator, scenarios
  whose TPR/FPR bounds contain the true rates only, with the nominal ``1 - alpha``
  and a 3-SE band;
* ``box_effect``: coverage and bias of the CMLE per box spec, one line per ``theta``
  (averaged over the other axes): what a misspecified box costs.
"""

from __future__ import annotations

import os

import numpy as np

from jaxcert.sim.results import read_columns

__all__ = ["plot_standard"]


def _plt():
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ValueError("plotting needs matplotlib: pip install 'jaxcert[plot]'") from None
    return plt


def _save(plt, fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _xaxis(t):
    acc = t["accuracy"].astype(float)
    return ("judge accuracy", acc) if np.all(np.isfinite(acc)) else ("judge TPR", t["tpr"])


def _mean_by(x, y, keys):
    ux = np.unique(x)
    return ux, np.array([np.nanmean(y[(x == v) & keys]) if np.any((x == v) & keys) else np.nan
                         for v in ux])


def _tight_box(t):
    """Rows of the narrowest box containing the truth (width 0 = exact comes first)."""
    cover = t["box_covers_truth"].astype(bool)
    width = (t["tpr_hi"] - t["tpr_lo"]).astype(float)
    boxes = [b for b in dict.fromkeys(t["box"][cover])]
    if not boxes:
        return cover, "none"
    # prefer the narrowest non-point box (a point box is an idealisation), else exact
    med = {b: np.median(width[t["box"] == b]) for b in boxes}
    nonpoint = [b for b in boxes if med[b] > 0]
    best = min(nonpoint, key=med.get) if nonpoint else boxes[0]
    return t["box"] == best, best


def rmse_ratio_figure(t, path):
    plt = _plt()
    xl, x = _xaxis(t)
    sel, box = _tight_box(t)
    sel = sel & (t["N"] == np.max(t["N"]))
    est = [e for e in dict.fromkeys(t["estimator"]) if e not in ("ppi", "classical", "naive")]
    thetas = np.unique(t["theta"])
    unid = t.get("n_unidentified", np.zeros(len(t["theta"]))).astype(float)
    fig, axes = plt.subplots(len(est), len(thetas), figsize=(3 * len(thetas), 2.6 * len(est)),
                             squeeze=False, sharex=True, sharey="row")
    for i, e in enumerate(est):
        for j, th in enumerate(thetas):
            ax = axes[i, j]
            for nv in np.unique(t["n"]):
                m = sel & (t["theta"] == th) & (t["n"] == nv)
                me, mp = m & (t["estimator"] == e), m & (t["estimator"] == "ppi")
                if not me.any() or not mp.any():
                    continue
                order = np.argsort(x[me])
                ratio = t["rmse"][me][order] / t["rmse"][mp][np.argsort(x[mp])]
                ax.plot(x[me][order], ratio, marker="o", ms=3, label=f"n={int(nv)}")
                bad = unid[me][order] > 0
                if bad.any():
                    ax.plot(x[me][order][bad], ratio[bad], ls="none", marker="x", ms=7,
                            color="red", label="unidentified in some replicates")
            ax.axhline(1.0, color="k", lw=0.8, ls="--")
            ax.set_title(f"{e}, theta={th:g}", fontsize=8)
            if j == 0:
                ax.set_ylabel("RMSE / RMSE(PPI)")
            if i == len(est) - 1:
                ax.set_xlabel(xl)
    handles = {lab: h for ax in axes.flat for h, lab in zip(*ax.get_legend_handles_labels(),
                                                            strict=True)}
    axes[0, -1].legend(list(handles.values()), list(handles.keys()), fontsize=6)
    fig.suptitle(f"RMSE ratio to PPI (TPR/FPR bounds {box}, N={int(np.max(t['N']))})",
                 fontsize=10)
    _save(plt, fig, path)


def coverage_figure(t, path):
    plt = _plt()
    xl, x = _xaxis(t)
    cover = t["box_covers_truth"].astype(bool)
    est = list(dict.fromkeys(t["estimator"]))
    fig, axes = plt.subplots(1, len(est), figsize=(3 * len(est), 2.8), squeeze=False,
                             sharey=True)
    nominal = 1 - float(np.median(t["alpha"]))
    R = float(np.median(t["replicates"]))
    band = 3 * np.sqrt(nominal * (1 - nominal) / R)
    for j, e in enumerate(est):
        ax = axes[0, j]
        for nv in np.unique(t["n"]):
            m = cover & (t["estimator"] == e) & (t["n"] == nv)
            ux, cy = _mean_by(x[m], t["coverage"][m], np.ones(m.sum(), bool))
            ax.plot(ux, cy, marker="o", ms=3, label=f"n={int(nv)}")
        ax.axhline(nominal, color="k", lw=0.8)
        ax.axhspan(nominal - band, nominal + band, color="grey", alpha=0.2)
        ax.set_title(e, fontsize=9)
        ax.set_xlabel(xl)
    axes[0, 0].set_ylabel("coverage")
    axes[0, -1].legend(fontsize=6)
    fig.suptitle(f"coverage vs nominal {nominal:g} where the TPR/FPR bounds contain the true "
                 f"rates (grey: +-3 MC SE at R={int(R)}; mean over the other axes)", fontsize=9)
    _save(plt, fig, path)


def box_effect_figure(t, path, estimator="cmle_profile"):
    plt = _plt()
    m0 = t["estimator"] == (estimator if np.any(t["estimator"] == estimator)
                            else t["estimator"][0])
    boxes = list(dict.fromkeys(t["box"]))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.2))
    for th in np.unique(t["theta"]):
        m = m0 & (t["theta"] == th)
        cov = [np.mean(t["coverage"][m & (t["box"] == b)]) for b in boxes]
        bias = [np.mean(t["bias"][m & (t["box"] == b)]) for b in boxes]
        a1.plot(boxes, cov, marker="o", label=f"theta={th:g}")
        a2.plot(boxes, bias, marker="o", label=f"theta={th:g}")
    a1.axhline(1 - float(np.median(t["alpha"])), color="k", lw=0.8)
    a1.set_ylabel("coverage")
    a2.axhline(0.0, color="k", lw=0.8)
    a2.set_ylabel("bias")
    for a in (a1, a2):
        a.set_xlabel("box")
        a.tick_params(axis="x", labelrotation=30, labelsize=7)
    a2.legend(fontsize=6)
    fig.suptitle(f"{estimator}: effect of the TPR/FPR box (mean over other axes)", fontsize=10)
    _save(plt, fig, path)


def plot_standard(run_dir, *, out_dir=None, fmt="png") -> list[str]:
    """Draws the three standard figures of ``run_dir/results.csv``; returns their paths.

    Raises:
      FileNotFoundError: no results table in ``run_dir``.
      ValueError: matplotlib missing.

    The RMSE-ratio figure is drawn only when the table holds PPI and at least one
    judge-based estimator to compare with it.
    """
    t = read_columns(run_dir)
    out_dir = out_dir or os.path.join(run_dir, "figures")
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    judged = set(t["estimator"]) - {"ppi", "classical", "naive"}
    if np.any(t["estimator"] == "ppi") and judged:  # a ratio needs PPI and something to compare
        paths.append(os.path.join(out_dir, f"rmse_ratio.{fmt}"))
        rmse_ratio_figure(t, paths[-1])
    paths.append(os.path.join(out_dir, f"coverage.{fmt}"))
    coverage_figure(t, paths[-1])
    paths.append(os.path.join(out_dir, f"box_effect.{fmt}"))
    box_effect_figure(t, paths[-1])
    return paths
