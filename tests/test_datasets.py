"""Bundled data: loaders agree with an independent csv-module read of the files."""

import csv
from importlib import resources

import numpy as np
import pytest

import jaxcert.datasets as ds

DATA = resources.files("jaxcert.datasets").joinpath("data")


def _csv(name):
    with DATA.joinpath(name).open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_public_names():
    assert sorted(ds.__all__) == sorted([
        "JudgeDataset", "load_xstest", "load_mtbench", "XSTEST_MODELS", "XSTEST_JUDGES",
        "XSTEST_CITATION", "MTBENCH_CATEGORIES", "MTBENCH_CITATION"])


def test_files_and_licenses_ship_in_package():
    names = {p.name for p in DATA.iterdir()}
    assert {"xstest_labels.csv", "mtbench_human_vs_gpt4_pair.csv", "LICENSE-CC-BY-4.0.txt",
            "LICENSE-MIT-Human-Aligned-LLM-Evaluation-Audit.txt", "PROVENANCE.md"} <= names
    assert "Attribution 4.0 International" in DATA.joinpath("LICENSE-CC-BY-4.0.txt").read_text()


@pytest.mark.parametrize("judge", ds.XSTEST_JUDGES)
@pytest.mark.parametrize("model", (None,) + ds.XSTEST_MODELS)
def test_xstest_matches_csv(judge, model):
    rows = [r for r in _csv("xstest_labels.csv") if model is None or r["model"] == model]
    valid = [r for r in rows if r[f"{judge}_label"] != "INVALID"]
    d = ds.load_xstest(judge=judge, model=model)
    assert len(d) == len(valid)
    assert d.metadata["n_dropped"] == len(rows) - len(valid)
    np.testing.assert_array_equal(d.human, [int(r["human_fail"]) for r in valid])
    np.testing.assert_array_equal(d.judge, [int(r[f"{judge}_fail"]) for r in valid])
    assert d.truth == pytest.approx(sum(int(r["human_fail"]) for r in valid) / len(valid))


def test_xstest_known_figures_from_provenance():
    # Figures published in shared/data/xstest/PROVENANCE.md (computed there independently).
    c = ds.load_xstest("strmatch", "llama2orig").counts()
    assert [float(v) for v in c] == [113, 36, 12, 289, 0, 0]
    assert len(ds.load_xstest("gpt4")) == 2239
    assert "Röttger" in ds.load_xstest().citation


def test_mtbench_matches_csv_and_filters():
    rows = _csv("mtbench_human_vs_gpt4_pair.csv")
    d = ds.load_mtbench()
    assert len(d) == len(rows) == 1751
    np.testing.assert_array_equal(d.human, [int(r["human_fail"]) for r in rows])
    np.testing.assert_array_equal(d.judge, [int(r["gpt4_fail"]) for r in rows])
    c = d.counts()
    assert [float(v) for v in c[:4]] == [859, 181, 285, 426]  # PROVENANCE.md table
    math_t2 = ds.load_mtbench(category="math", turn=2)
    want = [r for r in rows if r["category"] == "math" and r["turn"] == "2"]
    assert len(math_t2) == len(want) > 0
    assert "Zheng" in d.citation


def test_loader_errors():
    with pytest.raises(ValueError, match="judge must be one of"):
        ds.load_xstest(judge="llama")
    with pytest.raises(ValueError, match="model must be one of"):
        ds.load_xstest(model="gpt5")
    with pytest.raises(ValueError, match="category must be one of"):
        ds.load_mtbench(category="poetry")
    with pytest.raises(ValueError, match="turn must be one of"):
        ds.load_mtbench(turn=3)


def test_subset():
    d = ds.load_xstest("strmatch")
    sub = d.subset(d.model == "gpt4")
    assert len(sub) == 450 and set(sub.model) == {"gpt4"}


def test_dataset_to_pandas_and_polars():
    pd = pytest.importorskip("pandas")
    d = ds.load_xstest("strmatch", model="llama2orig")
    df = d.to_pandas()
    assert isinstance(df, pd.DataFrame) and list(df.columns) == ["model", "item", "human", "judge"]
    assert len(df) == len(d) and df["human"].mean() == d.truth
    assert (df["model"] == "llama2orig").all()
    pl = pytest.importorskip("polars")
    pf = d.to_polars()
    assert isinstance(pf, pl.DataFrame) and pf.shape == (len(d), 4)
    assert pf["judge"].sum() == d.judge.sum()
