"""examples/labels.csv: derived from the bundled XSTest labels, and the README command runs."""

import csv
import json
import re
import shlex
from importlib import resources
from pathlib import Path

import pytest

from jaxcert.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "labels.csv"


def _bundled_gpt4_rows():
    src = resources.files("jaxcert.datasets").joinpath("data", "xstest_labels.csv")
    with src.open(newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["model"] == "gpt4"]


def test_example_is_the_bundled_xstest_gpt4_rows_with_labels_hidden():
    with open(EXAMPLE, newline="") as fh:
        rows = list(csv.DictReader(fh))
    bundled = _bundled_gpt4_rows()
    assert len(rows) == len(bundled) == 450
    for r, b in zip(rows, bundled, strict=True):
        assert (r["id"], r["type"], r["judge"]) == (b["id"], b["type"], b["gpt4_fail"])
        assert r["human"] in ("", b["human_fail"])
    assert sum(r["human"] != "" for r in rows) == 150


def _readme_estimate_command():
    text = (ROOT / "README.md").read_text()
    m = re.search(r"^jaxcert estimate --data (examples/)?labels\.csv.*?(?<!\\)$", text,
                  re.M | re.S)
    assert m, "README has no 'jaxcert estimate --data [examples/]labels.csv' example"
    return shlex.split(m.group(0).replace("\\\n", " "))


@pytest.mark.slow  # method all compiles every estimator: ~15 s quiet, ~60 s contended
def test_readme_estimate_example_runs_verbatim(monkeypatch, capsys):
    argv = _readme_estimate_command()
    assert argv[:2] == ["jaxcert", "estimate"]
    monkeypatch.chdir(ROOT if argv[3].startswith("examples/") else EXAMPLE.parent)
    assert main(argv[1:]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_labeled"] == 150 and out["n_unlabeled"] == 300
