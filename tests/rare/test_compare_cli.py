"""``jaxcert rare compare`` (parser and runner of jaxcert/cli/_rare_compare.py)."""

import json

import pytest

import jaxcert  # noqa: F401
from jaxcert.cli._rare_compare import build_compare_parser


def run(argv):
    args = build_compare_parser().parse_args(argv)
    return args.func(args)


def test_synthetic_pair_writes_report_with_truth(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert run(["--space", "synthetic:1e-4:concentrated", "--mass-b", "2.4e-4", "--budget", "3000", "--quick",
                "--out", str(out)]) == 0
    rep = json.loads((out / "comparison.json").read_text())
    assert rep["truth"]["ratio"] == pytest.approx(2.4, rel=1e-6)
    r = rep["result"]
    assert r["inferences"] == 3000 and r["ratio_lower"] <= r["ratio"] <= r["ratio_upper"]
    assert "ratio B/A" in (out / "comparison.md").read_text() and "true ratio" in capsys.readouterr().out


@pytest.mark.parametrize("argv, match", [
    (["--outcome", "samples:x"], "--outcome"),
    (["--alpha", "0"], "alpha"),
    (["--space", "synthetic:abc:concentrated"], "mass must be a number"),
])
def test_bad_options_raise_value_error(tmp_path, argv, match):
    base = ["--space", "synthetic:1e-4:concentrated", "--mass-b", "2e-4", "--budget", "1000", "--quick",
            "--out", str(tmp_path / "o")]
    with pytest.raises(ValueError, match=match):
        run(base + argv)


def test_out_that_is_a_file_is_rejected(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        run(["--space", "synthetic:1e-4:concentrated", "--mass-b", "2e-4", "--out", str(f)])
