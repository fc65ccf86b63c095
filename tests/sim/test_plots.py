"""The standard figures: what their labels say and what they mark (synthetic table)."""

import numpy as np
import pytest

from jaxcert.sim import plots
from jaxcert.sim.results import write_table


def _table():
    acc = np.array([0.6, 0.8, 0.9])
    rows = [(a, e) for a in acc for e in ("cmle_x", "ppi")]
    a = np.array([r[0] for r in rows])
    est = np.array([r[1] for r in rows], dtype=object)
    k = len(rows)
    cmle = est == "cmle_x"
    return {
        "scenario": np.repeat(np.arange(3), 2), "theta": np.full(k, 0.1), "accuracy": a,
        "tpr": a, "fpr": 1 - a, "n": np.full(k, 50.0), "N": np.full(k, 1000.0),
        "alpha": np.full(k, 0.05), "box": np.array(["+-0.05"] * k, dtype=object),
        "tpr_lo": a - 0.05, "tpr_hi": a + 0.05, "fpr_lo": 0.95 - a, "fpr_hi": 1.05 - a,
        "box_covers_truth": np.ones(k, bool), "estimator": est,
        "rmse": np.where(cmle, 0.02, 0.04), "coverage": np.full(k, 0.95),
        "bias": np.zeros(k), "replicates": np.full(k, 100.0),
        # the CMLE was unidentified in some replicates of the accuracy-0.6 scenario only
        "n_unidentified": np.where(cmle & (a == 0.6), 3.0, 0.0),
    }


@pytest.fixture
def figures(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    got = {}

    def keep(plt, fig, path):
        got[path.rsplit("/", 1)[-1].split(".")[0]] = fig

    monkeypatch.setattr(plots, "_save", keep)
    write_table(_table(), str(tmp_path))
    paths = plots.plot_standard(str(tmp_path), out_dir=str(tmp_path / "f"))
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["rmse_ratio.png", "coverage.png",
                                                     "box_effect.png"]
    yield got
    import matplotlib.pyplot as plt

    plt.close("all")


def test_coverage_axis_label_does_not_say_box(figures):
    fig = figures["coverage"]
    label = fig.axes[0].get_ylabel()
    assert label == "coverage" and "box" not in label
    assert "TPR/FPR bounds contain the true rates" in fig._suptitle.get_text()


def test_rmse_ratio_marks_unidentified_scenarios(figures):
    ax = figures["rmse_ratio"].axes[0]
    crosses = [ln for ln in ax.get_lines() if ln.get_marker() == "x"]
    assert len(crosses) == 1
    np.testing.assert_allclose(crosses[0].get_xdata(), [0.6])  # only that scenario
    np.testing.assert_allclose(crosses[0].get_ydata(), [0.5])  # at its RMSE ratio
    assert "unidentified in some replicates" in [t.get_text() for t in
                                                 ax.get_legend().get_texts()]
