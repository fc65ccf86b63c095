"""``jaxcert sweep|plot|plan``: end-to-end run with a stand-in estimator, bad input -> exit 2."""

import json
import os

import jax.numpy as jnp
import numpy as np
import pytest

import jaxcert  # noqa: F401
from jaxcert._types import Interval
from jaxcert.cli._main import main
from jaxcert.sim import register_estimator


def _toy(counts, tpr_bounds, fpr_bounds, alpha, side):
    p = (counts.n11 + counts.n10) / counts.n
    up = jnp.clip(p + 1.645 * jnp.sqrt(p * (1 - p) / counts.n), 0, 1)
    return Interval(p, jnp.zeros_like(p), up, jnp.zeros((), jnp.int32))


register_estimator("toy_cli", _toy, overwrite=True)

GOOD = """
[study]
replicates = 32
seed = 3
estimators = ["toy_cli"]
chunk_size = 64
[grid]
accuracy = [0.8, 0.9]
n = [20]
theta = [0.1]
N = [100]
box = ["exact", "shifted"]
"""


def _read(path):
    with open(path) as fh:
        return fh.read()


def _write(tmp_path, text, name="c.toml"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_sweep_resume_and_plot(tmp_path, capsys):
    cfg, out = _write(tmp_path, GOOD), str(tmp_path / "run")
    assert main(["sweep", cfg, "--out", out, "--no-progress"]) == 0
    run = json.loads(_read(os.path.join(out, "run.json")))
    assert run["finished"] and run["config"]["study"]["seed"] == 3
    assert run["environment"]["x64"] is True and run["environment"]["devices"]
    first = _read(os.path.join(out, "results.csv"))
    assert first.count("\n") == 1 + 4  # header + 4 scenarios x 1 estimator
    assert main(["sweep", cfg, "--out", out, "--no-progress"]) == 0  # resume: nothing to do
    assert "0 chunks computed" in capsys.readouterr().out
    assert _read(os.path.join(out, "results.csv")) == first
    pytest.importorskip("matplotlib")
    assert main(["plot", out]) == 0
    assert os.path.exists(os.path.join(out, "figures", "coverage.png"))


@pytest.mark.parametrize("edit, msg", [
    (("n = [20]", "n = [0]"), "n must be >= 1; got 0"),
    (("theta = [0.1]", "theta = [1.2]"), "theta must be <= 1; got 1.2"),
    (("box = [\"exact\", \"shifted\"]", "box = [{tpr = [0.9, 0.8], fpr = [0, 0.1]}]"),
     "lo > hi"),
    (("seed = 3", "seed = 3\nsede = 4"), "unknown key(s) ['sede']"),
    (("[grid]", "[grid_]"), "unknown key(s) ['grid_']"),
    (("replicates = 32", "replicates = 0"), "replicates must be an integer >= 1"),
    (("N = [100]", "N = [-5]"), "N must be >= 0"),
    (("[study]", "[study\n"), "not valid TOML"),
])
def test_bad_config_exit_2_one_line(tmp_path, capsys, edit, msg):
    cfg = _write(tmp_path, GOOD.replace(*edit))
    assert main(["sweep", cfg, "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("jaxcert: error:") and msg in err


def test_missing_config_and_bad_plan(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "nope.toml"), "--out", str(tmp_path)]) == 2
    assert main(["plan", "--eps", "0.01", "--tpr", "0.9", "--fpr", "0.05", "--N", "1000",
                 "--theta-guess", "0.02"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "theta_guess (0.02) must be below eps" in err[1]
    assert main(["plan", "--eps", "0.05", "--tpr", "0.4", "--fpr", "0.5", "--N", "10"]) == 2
    assert "need tpr > fpr" in capsys.readouterr().err


def test_plan_success_json_human_only_matches_scipy(capsys):
    from scipy import stats

    eps, alpha, theta, power = 0.1, 0.05, 0.04, 0.8
    assert main(["plan", "--eps", str(eps), "--tpr", "0.9", "--fpr", "0.05", "--N", "2000",
                 "--theta-guess", str(theta), "--replicates", "64", "--n-max", "400",
                 "--estimators", "ppi", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    grid = np.array(out["n_grid"])
    # human-only power by exhaustive enumeration of k with scipy's Clopper-Pearson
    exact = []
    for n in grid:
        k = np.arange(n + 1)
        upper = np.where(k < n, stats.beta.ppf(1 - alpha, k + 1, np.maximum(n - k, 1)), 1.0)
        exact.append(stats.binom.pmf(k, n, theta)[upper <= eps].sum())
    np.testing.assert_allclose(out["power"]["human_exact"], exact, atol=1e-9)
    first = int(grid[np.nonzero(np.array(exact) >= power)[0][0]])
    assert out["n_required"]["human_exact"] == first
    p = np.array(out["power"]["ppi"])
    assert np.all((0 <= p) & (p <= 1)) and p[-1] > p[0]
    n_ppi = out["n_required"]["ppi"]
    assert out["savings"]["ppi"] == (None if n_ppi is None else first - n_ppi)


def _one_line(capsys, *keys):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("jaxcert: error:"), err
    for k in keys:
        assert k in err, err
    return err


def test_shard_and_merge_equal_one_run(tmp_path, capsys):
    cfg = _write(tmp_path, GOOD.replace("replicates = 32", "replicates = 50"))
    one, a, b, m = (str(tmp_path / d) for d in ("one", "a", "b", "m"))
    assert main(["sweep", cfg, "--out", one, "--no-progress"]) == 0
    assert main(["sweep", cfg, "--out", a, "--shard", "0/2", "--no-progress"]) == 0
    assert "shard 0/2" in capsys.readouterr().out and not os.path.exists(f"{a}/results.csv")
    assert main(["sweep", cfg, "--out", b, "--shard", "1/2", "--no-progress"]) == 0
    assert json.loads(_read(f"{b}/run.json"))["shard"] == "1/2"
    assert main(["sweep", "merge", a, b, "--out", m]) == 0
    assert "merged 2 directories" in capsys.readouterr().out
    assert _read(f"{m}/results.csv") == _read(f"{one}/results.csv")
    # user errors: one line, exit 2
    assert main(["sweep", "merge", a, "--out", str(tmp_path / "m2")]) == 2
    _one_line(capsys, "chunks are missing", "shard(s) 1/2 not given")
    other = _write(tmp_path, GOOD.replace("seed = 3", "seed = 4"), "other.toml")
    assert main(["sweep", other, "--out", str(tmp_path / "x"), "--shard", "1/2",
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["sweep", "merge", a, str(tmp_path / "x"), "--out", str(tmp_path / "m3")]) == 2
    _one_line(capsys, "holds a different study", "merge only shards of one config")
    assert main(["sweep", "merge", "--out", str(tmp_path / "m4")]) == 2
    _one_line(capsys, "needs at least one shard directory")
    assert main(["sweep", "merge", a, b, "--out", str(tmp_path / "m5"), "--shard", "0/2"]) == 2
    _one_line(capsys, "takes only shard directories and --out; got --shard")
    assert main(["sweep", "merge", str(tmp_path / "nope"), "--out", str(tmp_path / "m6")]) == 2
    _one_line(capsys, "is not a directory")


@pytest.mark.parametrize("spec", ["2/2", "x", "1/0", "0/-1"])
def test_bad_shard_spec_exit_2(tmp_path, capsys, spec):
    cfg = _write(tmp_path, GOOD)
    assert main(["sweep", cfg, "--out", str(tmp_path / "o"), "--shard", spec]) == 2
    _one_line(capsys, "--shard must be I/K")
    assert not os.path.exists(tmp_path / "o")


def test_corrupt_run_json_exit_2_names_file(tmp_path, capsys):
    cfg, out = _write(tmp_path, GOOD), str(tmp_path / "run")
    assert main(["sweep", cfg, "--out", out, "--no-progress"]) == 0
    with open(os.path.join(out, "run.json"), "w") as fh:
        fh.write('{"fingerprint": "ab')
    capsys.readouterr()
    assert main(["sweep", cfg, "--out", out, "--no-progress"]) == 2
    _one_line(capsys, os.path.join(out, "run.json"), "is corrupt")
    assert main(["sweep", "merge", out, "--out", str(tmp_path / "m")]) == 2
    _one_line(capsys, os.path.join(out, "run.json"), "is corrupt")


def test_out_that_is_a_file_or_unwritable_exit_2(tmp_path, capsys):
    cfg = _write(tmp_path, GOOD)
    f = tmp_path / "afile"
    f.write_text("x")
    plan = ["plan", "--eps", "0.05", "--tpr", "0.9", "--fpr", "0.05", "--N", "100",
            "--replicates", "10", "--n-max", "10", "--estimators", "toy_cli", "--no-progress"]
    for out, key in ((str(f), "exists and is not a directory"),
                     (str(f / "sub"), "is not writable")):
        assert main(["sweep", cfg, "--out", out]) == 2
        _one_line(capsys, "--out", key)
        assert main(["sweep", "merge", str(tmp_path), "--out", out]) == 2
        _one_line(capsys, "--out", key)
        assert main(["plot", str(tmp_path), "--out", out]) == 2
        _one_line(capsys)  # no results.csv here: refused before any figure
        assert main(plan + ["--out", out]) == 2
        _one_line(capsys, "--out", key)
    run = str(tmp_path / "run")
    assert main(["sweep", cfg, "--out", run, "--no-progress"]) == 0
    assert main(["plot", run, "--out", str(f)]) == 2
    _one_line(capsys, "--out", "exists and is not a directory")


def test_plan_reports_assumed_rate_progress_and_no_savings_without_judge_data(tmp_path,
                                                                             capsys):
    # same shapes as the test above (64 replicates, n up to 400): nothing new to compile
    base = ["plan", "--eps", "0.1", "--tpr", "0.9", "--fpr", "0.05", "--replicates", "64",
            "--n-max", "400", "--estimators", "toy_cli"]
    assert main(base + ["--N", "0", "--out", str(tmp_path / "p")]) == 0
    cap = capsys.readouterr()
    assert "assuming a true failure rate of 0.05 (eps/2 by default)" in cap.out
    assert "N = 0: without judge-only labels" in cap.out
    assert "plan:" in cap.err and "100%" in cap.err  # the progress bar
    saved = json.loads(_read(tmp_path / "p" / "plan.json"))
    assert saved["N"] == 0 and set(saved["savings"].values()) == {None}
    # both reached the target, so a difference of n would have been claimed as savings
    assert None not in saved["n_required"].values()
    assert _read(tmp_path / "p" / "plan.csv").startswith("method,n,power,power_se")
    assert main(base + ["--N", "1000", "--theta-guess", "0.02", "--json", "--no-progress"]) == 0
    cap = capsys.readouterr()
    out = json.loads(cap.out)
    assert out["theta_guess"] == 0.02 and out["N"] == 1000 and cap.err == ""
    need = out["n_required"]
    assert need["human_exact"] is not None and need["toy_cli"] is not None
    assert out["savings"]["toy_cli"] == need["human_exact"] - need["toy_cli"]
