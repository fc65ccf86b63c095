"""``jaxcert plan --design`` and ``jaxcert estimate --labelling``: output, JSON, errors."""

import json
import os

import pytest

import jaxcert  # noqa: F401
from jaxcert.cli._main import main
from jaxcert.judge.design import design_labelling

BASE = ["plan", "--design", "--budget", "120", "--tpr", "0.9", "--fpr", "0.1",
        "--theta-guess", "0.05", "--N", "3000"]


@pytest.mark.slow  # compiles the vmapped calibrated bound (~30 s on 2 cores)
def test_plan_design_table_and_json(tmp_path, capsys):
    out = str(tmp_path / "d")
    assert main(BASE + ["--replicates", "60", "--out", out]) == 0
    text = capsys.readouterr().out
    d = design_labelling(budget=120, tpr=0.9, fpr=0.1, theta_guess=0.05, N=3000,
                         tpr_bounds=(0.88, 0.92), fpr_bounds=(0.08, 0.12))
    row = next(line for line in text.splitlines() if line.startswith("design"))
    assert row.split()[1:3] == [str(d.n_flagged), str(d.n_unflagged)]
    assert "labels saved" in text and "--labelling stratified" in text
    with open(os.path.join(out, "design.json")) as fh:
        doc = json.load(fh)
    assert doc["design"]["n_flagged"] + doc["design"]["n_unflagged"] == 120
    chk = doc["check"]
    assert 0 <= chk["coverage"] <= 1 and chk["replicates"] == 60
    assert chk["srs_budgets"] == sorted(chk["srs_budgets"]) and 120 in chk["srs_budgets"]
    if chk["labels_saved"] is not None:
        assert chk["labels_saved"] == pytest.approx(chk["srs_equivalent"] - 120)


@pytest.mark.parametrize("argv,msg", [
    (["plan", "--design", "--tpr", "0.9", "--fpr", "0.1", "--theta-guess", "0.05",
      "--N", "100"], "--design needs --budget"),
    (["plan", "--design", "--budget", "100", "--tpr", "0.9", "--fpr", "0.1", "--N", "100"],
     "--design needs --theta-guess"),
    (BASE + ["--eps", "0.1"], "does not use --eps"),
    (["plan", "--design", "--budget", "100", "--tpr", "0.3", "--fpr", "0.4",
      "--theta-guess", "0.05", "--N", "100"], "beat chance"),
    (["plan", "--tpr", "0.9", "--fpr", "0.1", "--N", "100"], "plan needs --eps"),
])
def test_plan_design_errors_are_one_line(argv, msg, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1 and "Traceback" not in err


def test_plan_design_bad_out_costs_nothing(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(BASE + ["--out", str(f)]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_estimate_labelling_flag(tmp_path, capsys):
    rows = ["human,judge"] + ["1,1"] * 8 + ["1,0"] * 2 + ["0,1"] * 12 + ["0,0"] * 28
    rows += [",1"] * 100 + [",0"] * 900
    data = tmp_path / "labels.csv"
    data.write_text("\n".join(rows) + "\n")
    base = ["estimate", "--data", str(data), "--human-col", "human", "--judge-col", "judge",
            "--side", "upper"]
    assert main(base + ["--method", "ppi", "--labelling", "stratified"]) == 2
    assert "assumes simple random labelling" in capsys.readouterr().err
    assert main(base + ["--labelling", "stratified", "--format", "json"]) == 0
    strat = json.loads(capsys.readouterr().out)
    assert main(base + ["--format", "json"]) == 0
    srs = json.loads(capsys.readouterr().out)
    assert strat["upper"] == srs["upper"] and strat["method"] == "cmle"
