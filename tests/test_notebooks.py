"""Executes every notebook in notebooks/ (jupytext percent .py) in quick mode."""

import pathlib

import pytest

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
TIMEOUT_S = 300
#: Every notebook's quick mode is dominated by one-off compilations (30-80 s each on 2
#: cores): they run in the slow tier, which CI also runs, to keep the default suite short.
SLOW = {"judge_robustness.py", "simulation_study.py", "bayesian_judge.py", "five_nines.py"}
PARAMS = [pytest.param(p, marks=pytest.mark.slow) if p.name in SLOW else p for p in NOTEBOOKS]


@pytest.mark.parametrize("path", PARAMS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes_in_quick_mode(path, monkeypatch, tmp_path):
    monkeypatch.setenv("JAXCERT_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = jupytext.read(path)
    client = nbclient.NotebookClient(
        nb,
        timeout=TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors


def test_notebooks_found():
    assert any(p.name == "five_nines.py" for p in NOTEBOOKS)
