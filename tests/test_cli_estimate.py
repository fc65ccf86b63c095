"""``jaxcert estimate``: in-process CLI runs, JSON output, one-line errors (exit 2)."""

import json

import numpy as np
import pytest

from jaxcert import Counts
from jaxcert.cli import main
from jaxcert.judge.front_door import certify

ROWS = ([(1, 1)] * 10 + [(1, 0)] * 2 + [(0, 1)] * 3 + [(0, 0)] * 25
        + [("", 1)] * 60 + [("", 0)] * 140)
C = Counts.create(10, 2, 3, 25, m1=60, m0=140)
BOX = ["--tpr", "0.75:0.95", "--fpr", "0.02:0.12"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    p = tmp_path_factory.mktemp("est") / "labels.csv"
    with open(p, "w") as fh:
        fh.write("item,human,judge,arena\n")
        for i, (h, j) in enumerate(ROWS):
            arena = {1: "model_b", 0: "model_a", "": ""}[h]
            fh.write(f"{i},{h},{j},{arena}\n")
    return str(p)


def _run(capsys, *argv):
    code = main(["estimate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _base(data):
    return ["--data", data, "--human-col", "human", "--judge-col", "judge"]


def test_json_matches_certify(data, capsys):
    code, out, err = _run(capsys, *_base(data), *BOX, "--side", "upper", "--format", "json")
    assert code == 0 and err == ""
    d = json.loads(out)
    for k in ("method", "estimate", "lower", "upper", "alpha", "side", "n_labeled", "n_unlabeled"):
        assert k in d
    want = certify(C, tpr=(0.75, 0.95), fpr=(0.02, 0.12), side="upper")
    np.testing.assert_allclose([d["estimate"], d["upper"]], [want.estimate, want.upper],
                               rtol=0, atol=0)
    assert (d["n_labeled"], d["n_unlabeled"], d["side"]) == (40, 200, "upper")
    assert d["data"]["rows_dropped"] == 0


def test_text_output_has_certificate(data, capsys):
    code, out, _ = _run(capsys, *_base(data), *BOX, "--side", "upper")
    assert code == 0
    assert out.startswith("failure rate <= ") and "with 95% confidence (method cmle" in out


def test_human_map_column(data, capsys):
    code, out, _ = _run(capsys, "--data", data, "--human-col", "arena", "--judge-col", "judge",
                        "--human-map", "model_b=1,model_a=0", "--method", "umle",
                        "--format", "json")
    assert code == 0
    want = certify(C, method="umle")
    assert json.loads(out)["estimate"] == want.estimate


def test_all_methods_json(data, capsys):
    code, out, _ = _run(capsys, *_base(data), *BOX, "--method", "all", "--format", "json")
    assert code == 0
    d = json.loads(out)
    assert [r["method"] for r in d["results"]] == [
        "classical", "naive", "rogan-gladen", "ppi", "ppi++", "umle", "cmle", "bayes"]
    for r in d["results"]:
        assert {"method", "estimate", "lower", "upper", "alpha", "side", "n_labeled",
                "n_unlabeled"} <= set(r)


@pytest.mark.parametrize(
    "extra,match",
    [
        (["--human-col", "H"], "human column 'H' not found; available columns: 'item', 'human'"),
        (["--tpr", "0.9"], "--tpr must be LO:HI"),
        (["--tpr", "a:b"], "--tpr must be two numbers"),
        (["--fpr", "0.3:0.1"], "--fpr is infeasible: lo > hi"),
        (["--tpr", "0.5:1.5"], "--tpr must lie inside [0, 1]"),
        (["--alpha", "1.5"], "--alpha must be in (0, 1)"),
        (["--alpha", "x"], "--alpha must be a number"),
        (["--human-map", "tie"], "--human-map: entry 'tie' is not KEY=VALUE"),
        (["--method", "umle", "--tpr", "0.8:0.9"], "does not use tpr/fpr"),
        (["--where", "model"], "--where must be COLUMN=VALUE"),
    ],
)
def test_one_line_errors(data, capsys, extra, match):
    argv = _base(data)
    if "--human-col" in extra:  # override, not duplicate
        argv = ["--data", data, "--judge-col", "judge"]
    code, out, err = _run(capsys, *argv, *extra)
    assert code == 2 and out == ""
    assert err.startswith("jaxcert: error: ") and err.count("\n") == 1
    assert match in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "content,match",
    [
        ("", "is empty"),
        ("human,judge\n", "has no data rows"),
        ("human,judge\n1,1\nmaybe,0\n", "value 'maybe' is not a known label"),
        ("human,judge\n1,1\n0,\n", "missing judge verdict"),
        ("human,judge\n,1\n,0\n", "no human-labelled item"),
        ("human,judge\nnan,1\n1,0\n0,1\n", "is a literal NaN"),
    ],
)
def test_bad_files(tmp_path, capsys, content, match):
    p = tmp_path / "bad.csv"
    p.write_text(content)
    code, out, err = _run(capsys, "--data", str(p), "--human-col", "human", "--judge-col", "judge",
                          "--method", "umle")
    assert code == 2 and err.count("\n") == 1 and match in err


def test_missing_file_and_drop_missing_judge(tmp_path, capsys):
    code, _, err = _run(capsys, "--data", str(tmp_path / "none.csv"), "--human-col", "h",
                        "--judge-col", "j")
    assert code == 2 and "data file not found" in err
    p = tmp_path / "mj.csv"
    p.write_text("human,judge\n1,1\n0,0\n1,\n0,0\n,1\n")
    code, out, _ = _run(capsys, "--data", str(p), "--human-col", "human", "--judge-col", "judge",
                        "--method", "classical", "--drop-missing-judge", "--format", "json")
    assert code == 0
    d = json.loads(out)
    assert d["data"]["rows_dropped"] == 1 and d["n_labeled"] == 3


def test_argparse_errors_exit_2(data, capsys):
    with pytest.raises(SystemExit) as e:
        main(["estimate", *_base(data), "--side", "both"])
    assert e.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_jsonl_input_with_where(tmp_path, capsys):
    p = tmp_path / "labels.jsonl"
    with open(p, "w") as fh:
        for h, j in ROWS:
            fh.write(json.dumps({"model": "a", "human": None if h == "" else h, "judge": j}) + "\n")
            fh.write(json.dumps({"model": "b", "human": 1, "judge": 0}) + "\n")
    code, out, _ = _run(capsys, "--data", str(p), "--human-col", "human", "--judge-col", "judge",
                        "--where", "model=a", "--method", "classical", "--format", "json")
    assert code == 0
    d = json.loads(out)
    assert (d["n_labeled"], d["n_unlabeled"]) == (40, 200)
    assert d["estimate"] == certify(C, method="classical").estimate


def _always_positive_judge(tmp_path):
    """Issue 9: judge always 1, 60 human labels with a 0.25 failure rate."""
    p = tmp_path / "always1.csv"
    rows = [(1, 1)] * 15 + [(0, 1)] * 45 + [("", 1)] * 240
    p.write_text("human,judge\n" + "".join(f"{h},{j}\n" for h, j in rows))
    return str(p)


def test_box_conflict_exits_3_naming_the_bound(tmp_path, capsys):
    code, out, err = _run(capsys, "--data", _always_positive_judge(tmp_path), "--human-col",
                          "human", "--judge-col", "judge", "--tpr", "0.7:1", "--fpr", "0:0.3")
    assert code == 3 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "box conflict" in err and "fpr <= 0.3" in err and "--on-box-conflict widen" in err


def test_box_conflict_widen_flag(tmp_path, capsys):
    p = tmp_path / "shifted.csv"
    rows = ([(1, 1)] * 12 + [(1, 0)] * 3 + [(0, 1)] * 15 + [(0, 0)] * 30 + [("", 1)] * 100
            + [("", 0)] * 200)
    p.write_text("human,judge\n" + "".join(f"{h},{j}\n" for h, j in rows))
    argv = ["--data", str(p), "--human-col", "human", "--judge-col", "judge", "--tpr", "0.7:1",
            "--fpr", "0:0.1", "--side", "upper"]
    code, _, err = _run(capsys, *argv)
    assert code == 3 and "fpr <= 0.1" in err
    code, out, _ = _run(capsys, *argv, "--on-box-conflict", "widen", "--format", "json")
    assert code == 0
    d = json.loads(out)
    assert d["box_check"]["widened"] and d["box_check"]["contradicted"] == "fpr <= 0.1"
    assert any("fpr box widened" in w for w in d["warnings"])
    assert d["interval"] == "calibrated"


@pytest.mark.slow
def test_target_prints_the_tipping_box(data, capsys):
    code, out, err = _run(capsys, *_base(data), *BOX, "--side", "upper", "--target", "0.5",
                          "--format", "json")
    assert code == 0, err
    got = json.loads(out)
    ref = certify(C, tpr=(0.75, 0.95), fpr=(0.02, 0.12), side="upper", target=0.5)
    assert got["tipping"]["summary"] == ref.tipping["summary"]
    assert set(got["sensitivity"]) == {"tpr_lo", "tpr_hi", "fpr_lo", "fpr_hi"}
    code, out, err = _run(capsys, *_base(data), *BOX, "--side", "upper", "--target", "0.5")
    assert code == 0 and "robustness: U <= 0.5 holds" in out
    for bad in ("abc", "0", "1.5"):
        code, out, err = _run(capsys, *_base(data), *BOX, "--target", bad)
        assert code == 2 and err.count("\n") == 1 and "--target" in err


def test_compilation_cache_directory_from_the_environment(tmp_path, monkeypatch):
    import jax

    from jaxcert.cli._main import enable_compilation_cache, host_key

    before = jax.config.jax_compilation_cache_dir
    try:
        monkeypatch.setenv("JAXCERT_XLA_CACHE", "")
        assert enable_compilation_cache() is None  # turned off
        blocker = tmp_path / "a-file"
        blocker.write_text("x")
        monkeypatch.setenv("JAXCERT_XLA_CACHE", str(blocker / "xla"))
        assert enable_compilation_cache() is None  # cannot be created: skipped, no error
        monkeypatch.delenv("JAXCERT_XLA_CACHE")
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        want = tmp_path / "cache" / "jaxcert" / "xla" / host_key()
        assert enable_compilation_cache() == str(want)
        assert jax.config.jax_compilation_cache_dir == str(want)
        assert want.is_dir() and (want.stat().st_mode & 0o077) == 0  # owner only
    finally:
        jax.config.update("jax_compilation_cache_dir", before)


def test_host_key_separates_cpu_generations(monkeypatch):
    """Executables compiled for one CPU's instruction set must not be loaded on another:
    the cache subdirectory changes with the CPU flags, not with the number of cores."""
    import builtins
    import io

    from jaxcert.cli._main import host_key

    real_open = builtins.open

    def fake(cpuinfo):
        def opener(path, *a, **k):
            return io.StringIO(cpuinfo) if path == "/proc/cpuinfo" else real_open(path, *a, **k)
        return opener

    core = "processor\t: {i}\nmodel name\t: X\nflags\t\t: fpu sse2 avx2{extra}\n\n"
    keys = {}
    for label, cores, extra in (("two", 2, ""), ("eight", 8, ""), ("avx512", 2, " avx512f")):
        monkeypatch.setattr(builtins, "open", fake("".join(core.format(i=i, extra=extra) for i in range(cores))))
        keys[label] = host_key()
    monkeypatch.setattr(builtins, "open", real_open)
    assert keys["two"] == keys["eight"]
    assert keys["two"] != keys["avx512"]
    assert keys["two"].startswith("jaxlib-")
