"""``jaxcert demo``: runs end to end, writes JSON + PNG, truth checked independently."""

import csv
import json
from importlib import resources

import jax
import numpy as np
import pytest
import scipy.stats

from jaxcert.cli import main
from jaxcert.cli._demo import transfer_box, wilson_interval
from jaxcert.datasets import load_xstest


def _truth_by_csv(model):
    path = resources.files("jaxcert.datasets").joinpath("data", "xstest_labels.csv")
    with path.open(newline="") as fh:
        fails = [int(r["human_fail"]) for r in csv.DictReader(fh) if r["model"] == model]
    return sum(fails) / len(fails)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    return tmp_path_factory.mktemp("demo")


def test_demo_end_to_end(demo_run, capsys, monkeypatch):
    import jaxcert._plotting as plotting

    seen, real = {}, plotting.forest_figure

    def spy(rows, **kw):
        # the results file is complete before any plotting starts
        seen["json"] = json.loads((demo_run / "demo.json").read_text())
        seen["fig"] = real(rows, **kw)
        return seen["fig"]

    monkeypatch.setattr(plotting, "forest_figure", spy)
    code = main(["demo", "--out", str(demo_run), "--n-labeled", "50", "--seed", "0"])
    out, err = capsys.readouterr()
    assert code == 0, err
    d = json.loads((demo_run / "demo.json").read_text())
    assert seen["json"] == d
    texts, title, _ = _legend_and_title(seen["fig"])
    assert title == ("XSTest llama2orig, judge strmatch: 50 human labels + 400 judge-only "
                     "items\n95% two-sided confidence intervals")
    assert texts[0] == "point estimate" and "interval covers the truth" in texts
    assert texts[-1] == f"truth (all 450 human labels) = {d['truth']:.4g}"
    assert d["truth"] == pytest.approx(_truth_by_csv("llama2orig"), rel=0, abs=1e-15)
    assert (d["model"], d["judge"], d["n_labeled"], d["n_items"]) == (
        "llama2orig", "strmatch", 50, 450)
    methods = [r["method"] for r in d["results"]]
    assert methods == ["classical", "naive", "rogan-gladen", "ppi", "ppi++", "umle", "cmle",
                       "bayes"]
    for r in d["results"]:
        assert r["n_labeled"] == 50 and r["n_unlabeled"] == 400
        if r["estimate"] is not None:
            assert r["covers_truth"] == (r["lower"] <= d["truth"] <= r["upper"])
    assert all(r["status"] == "converged" for r in d["results"])
    # classical row = exact Clopper-Pearson (scipy) on the 50 labels the seed selects
    data = load_xstest("strmatch", "llama2orig")
    keep = np.asarray(jax.random.permutation(jax.random.key(0), 450))[:50]
    k = int(data.human[keep].sum())
    lo, hi = scipy.stats.binomtest(k, 50).proportion_ci(0.95, method="exact")
    cl = d["results"][0]
    np.testing.assert_allclose([cl["estimate"], cl["lower"], cl["upper"]], [k / 50, lo, hi],
                               rtol=1e-9, atol=1e-12)
    png = demo_run / "demo.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "truth (all human labels)" in out and "TPR [" in out and "wrote" in out


def test_demo_no_plot_and_missing_matplotlib(tmp_path, capsys, monkeypatch):
    import jaxcert._plotting as plotting

    def _missing(*a, **k):
        raise ImportError("no matplotlib")

    monkeypatch.setattr(plotting, "require_matplotlib", _missing)
    code = main(["demo", "--out", str(tmp_path), "--n-labeled", "50"])
    out, _ = capsys.readouterr()
    assert code == 0 and "matplotlib is not installed" in out
    assert (tmp_path / "demo.json").exists() and not (tmp_path / "demo.png").exists()
    code = main(["demo", "--out", str(tmp_path / "np"), "--no-plot", "--n-labeled", "50"])
    assert code == 0 and not (tmp_path / "np" / "demo.png").exists()


def test_transfer_box_is_envelope_of_other_models_wilson():
    data = load_xstest("strmatch")
    tpr_box, fpr_box, per_model = transfer_box(data, "llama2orig")
    los, his = [], []
    for m in ("gpt4", "llama2new", "mistralguard", "mistralinstruct"):
        sel = (data.model == m) & (data.human == 1)
        lo, hi = wilson_interval(data.judge[sel].sum(), sel.sum())
        los.append(lo)
        his.append(hi)
    assert tpr_box == (min(los), max(his))
    # Wilson oracle: statsmodels
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(113, 149, alpha=0.05, method="wilson")
    assert wilson_interval(113, 149) == pytest.approx((lo, hi), rel=1e-12)
    assert per_model["llama2orig"][0] == pytest.approx(113 / 149)
    assert 0 <= fpr_box[0] < fpr_box[1] <= 1


@pytest.mark.parametrize("argv,match", [
    (["--n-labeled", "0"], "--n-labeled must be between 1 and 450"),
    (["--n-labeled", "451"], "--n-labeled must be between 1 and 450"),
    (["--alpha", "1.5"], "--alpha must be in (0, 1)"),
])
def test_demo_errors(tmp_path, capsys, argv, match):
    code = main(["demo", "--out", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert code == 2 and match in err and err.count("\n") == 1


def _legend_and_title(fig):
    ax = fig.axes[0]
    legend = fig.legends[0]
    return [t.get_text() for t in legend.get_texts()], ax.get_title(), ax


def test_forest_figure_legend_explains_every_mark_and_title_gives_level():
    from types import SimpleNamespace

    from jaxcert._plotting import forest_figure

    row = lambda m, e, lo, hi: SimpleNamespace(  # noqa: E731
        method=m, estimate=e, lower=lo, upper=hi, alpha=0.1, side="upper")
    rows = [row("classical", 0.2, 0.0, 0.4), row("naive", 0.05, 0.0, 0.08),
            row("umle", None, None, None)]
    fig = forest_figure(rows, truth=0.3, title="t", truth_label="truth (all labels)")
    texts, title, ax = _legend_and_title(fig)
    assert title == "t\n90% one-sided upper confidence bounds"
    assert texts == ["point estimate", "interval covers the truth",
                     "interval misses the truth", "truth (all labels) = 0.3",
                     "(no estimate): the method refused (status and reason in the output)"]
    # every drawn mark has its legend entry: one segment per finite row, coloured by coverage
    segs = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 2 and ln.get_linestyle() == "-"]
    assert sorted(ln.get_color() for ln in segs) == ["tab:blue", "tab:red"]
    ticks = [t.get_text() for t in ax.get_yticklabels()][::-1]
    assert ticks == ["classical: human labels only", "naive: mean judge verdict (biased)",
                     "umle: likelihood, no judge-rate boxes (no estimate)"]
    # without a truth there is nothing to cover: one neutral interval entry, no truth line
    texts, title, _ = _legend_and_title(forest_figure(rows[:1]))
    assert texts == ["point estimate", "confidence interval"]
    assert title == "90% one-sided upper confidence bounds"


def test_demo_out_is_a_file(tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("x")
    code = main(["demo", "--out", str(target)])
    err = capsys.readouterr().err
    assert code == 2 and "--out" in err and "not a directory" in err and err.count("\n") == 1
    assert target.read_text() == "x"


def test_demo_options_all_have_help():
    from jaxcert.cli._main import build_parser

    demo = build_parser()._subparsers._group_actions[0].choices["demo"]
    assert all(a.help for a in demo._actions), [a.dest for a in demo._actions if not a.help]
