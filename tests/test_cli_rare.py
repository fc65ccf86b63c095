"""``jaxcert rare``: end-to-end reports, errors as one line + exit 2, resume through the cache."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from rare.fake_openai_server import FakeOpenAIServer

from jaxcert.cli import _rare_report
from jaxcert.cli._main import main

SPACE = "gsm-alt:17"  # ~12k valid inputs: enumeration and planted rates are exact and fast


def test_synthetic_evaluator_report(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    plot = _rare_report.plot_proposal

    def plot_after_report(result, space, path):  # results are saved before the plot
        assert json.loads((out / "report.json").read_text())["plot"] is None
        return plot(result, space, path)

    monkeypatch.setattr(_rare_report, "plot_proposal", plot_after_report)
    rc = main(
        [
            "rare",
            "--space",
            SPACE,
            "--evaluator",
            "synthetic",
            "--mass",
            "1e-3",
            "--score",
            "logprob",
            "--budget",
            "1200",
            "--out",
            str(out),
            "--quick",
            "--no-progress",
            "--seed",
            "3",
        ]
    )
    assert rc == 0
    rep = json.loads((out / "report.json").read_text())
    r = rep["result"]
    assert rep["truth"] == pytest.approx(1e-3, rel=1e-6)
    assert r["inferences"] <= 1200 and r["budget"] == 1200
    assert 0 <= r["lower"] <= r["estimate"] <= r["upper"] <= 1
    for k in ("ess", "max_weight", "reduction", "proposal"):
        assert k in r
    ev = rep["evaluator"]
    assert ev["score"] == "logprob" and ev["cost_per_input"] == 1
    assert rep["ce_power"] == 1.0  # a failure probability: the zero-variance target p0 F
    assert ev["inferences_charged"] == ev["inputs_scored"] == r["inferences"]
    assert rep["plot"] == "proposal.png"
    assert rep["environment"]["x64"] is True and rep["environment"]["jax"]
    assert rep["config"]["space"] == SPACE and rep["space"]["id"] == SPACE
    assert (out / "report.md").read_text().startswith("# jaxcert rare: gsm-alt:17")
    assert (out / "proposal.png").stat().st_size > 1000
    printed = capsys.readouterr().out
    assert "report written to" in printed and "inside the finite-sample certificate" in printed
    assert f"{ev['inputs_scored']} inputs scored" in printed


@pytest.mark.parametrize(
    "argv, msg",
    [
        (["--space", "mmlu:1"], "--space must be varbench"),
        (["--space", "gsm-alt:999"], "index must be an int in [0, 250)"),
        (
            ["--space", SPACE, "--evaluator", "openai"],
            "--evaluator openai needs --base-url and --model",
        ),
        (["--space", SPACE, "--evaluator", "magic"], "--evaluator must be synthetic"),
        (["--space", "synthetic:abc:concentrated"], "mass must be a number"),
        (
            ["--space", "synthetic:1e-3:concentrated", "--evaluator", "openai"],
            "use --evaluator synthetic",
        ),
        (["--space", SPACE, "--evaluator", "python:no_such_module_xyz:f"], "No module named"),
        (["--space", SPACE, "--alpha", "2"], "alpha"),
        (["--space", SPACE, "--defensive", "0"], "--defensive must be in (0, 1]"),
        (["--space", SPACE, "--mass", "1e-9"], "is below what the corner of this space can carry"),
        (["--space", SPACE, "--score", "samples:1"], "--score must be 'binary', 'logprob'"),
        (["--space", SPACE, "--score", "exact"], "--score must be"),
        (["--space", "synthetic:1e-3:concentrated", "--score", "logprob"], "drop --score"),
        (["--space", SPACE, "--evaluator", "python:os:getcwd", "--score", "logprob"],
         "--score applies to --evaluator openai and synthetic"),
        (["--space", SPACE, "--max-retries", "-1"], "--max-retries must be >= 0"),
        (["--space", SPACE, "--power", "0"], "--power must be in (0, 1]"),
        (["--space", SPACE, "--evaluator", "openai", "--base-url", "http://127.0.0.1:9/v1",
          "--model", "m", "--score", "samples:4"], "with temperature 0 pays 4 times"),
    ],
)
def test_errors_are_one_line_exit_2(tmp_path, capsys, argv, msg):
    rc = main(
        ["rare", *argv, "--out", str(tmp_path / "o"), "--budget", "500", "--no-progress", "--quick"]
    )
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("jaxcert: error:") and msg in err and err.count("\n") == 1


def test_python_evaluator_resumes_from_cache(tmp_path, monkeypatch, capsys):
    mod = tmp_path / "mods"
    mod.mkdir()
    (mod / "h5_fake_model.py").write_text(
        textwrap.dedent(
            """
        import numpy as np
        CALLS = [0]

        def model(X, space):
            CALLS[0] += X.shape[0]
            v = space.values(X)
            return ((v["x"] >= 180) & (v["z"] >= 9)).astype(float)
        """
        )
    )
    monkeypatch.syspath_prepend(str(mod))
    import h5_fake_model

    argv = [
        "rare",
        "--space",
        SPACE,
        "--evaluator",
        "python:h5_fake_model:model",
        "--budget",
        "600",
        "--out",
        str(tmp_path / "run"),
        "--quick",
        "--no-progress",
    ]
    assert main(argv) == 0
    first = h5_fake_model.CALLS[0]
    rep1 = json.loads((tmp_path / "run" / "report.json").read_text())
    assert first > 0 and rep1["evaluator"]["calls"] == first
    assert main(argv) == 0  # same seed, same --out: every evaluation comes from the cache
    rep2 = json.loads((tmp_path / "run" / "report.json").read_text())
    assert h5_fake_model.CALLS[0] == first and rep2["evaluator"]["calls"] == 0
    assert rep2["evaluator"]["cache_hits"] == rep1["result"]["inferences"]
    assert rep2["result"]["estimate"] == rep1["result"]["estimate"]
    sys.modules.pop("h5_fake_model", None)
    capsys.readouterr()




def test_out_that_is_a_file_fails_before_any_work(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    rc = main(["rare", "--space", SPACE, "--out", str(f), "--budget", "500", "--quick"])
    err = capsys.readouterr().err
    assert rc == 2 and "exists and is not a directory" in err


@pytest.fixture
def server():
    s = FakeOpenAIServer()
    yield s
    s.close()


def _openai_argv(url, out, *extra):
    return ["rare", "--space", SPACE, "--evaluator", "openai", "--base-url", url,
            "--model", "fake", "--budget", "300", "--out", str(out), "--quick", "--no-progress",
            "--backoff", "0", *extra]  # fmt: skip


def test_openai_evaluator_end_to_end_and_resume(tmp_path, server, capsys):
    argv = _openai_argv(server.url, tmp_path / "run")
    assert main(argv) == 0
    rep = json.loads((tmp_path / "run" / "report.json").read_text())
    n, ev = rep["result"]["inferences"], rep["evaluator"]
    # repeated draws of one input are answered once: requests = distinct inputs
    assert server.total() == ev["requests"] == len(server.count) > 0
    assert ev["requests"] + ev["cache_hits"] == n and max(server.count.values()) == 1
    # '#### 0' is always wrong (answers are positive): the true rate is 1, and the
    # certificate must cover it
    assert rep["result"]["upper"] >= 0.999 and np.isfinite(rep["result"]["estimate"])
    assert main(argv) == 0  # resume: every call served from evaluations.jsonl
    rep2 = json.loads((tmp_path / "run" / "report.json").read_text())
    assert server.total() == ev["requests"] and rep2["evaluator"]["requests"] == 0
    assert rep2["evaluator"]["cache_hits"] == n
    capsys.readouterr()


def test_openai_logprob_score_end_to_end(tmp_path, server, capsys):
    assert main(_openai_argv(server.url, tmp_path / "run", "--score", "logprob")) == 0
    rep = json.loads((tmp_path / "run" / "report.json").read_text())
    ev = rep["evaluator"]
    assert ev["score"] == "logprob" and server.paths["/v1/completions"] == server.total()
    assert max(server.count.values()) == 1
    # the fake server's answer log-probability is -0.1 per digit: scores are graded, in (0, 1)
    assert 0 < ev["failure_score_sum"] < ev["inputs_scored"]
    capsys.readouterr()


def test_logprob_on_a_server_without_prompt_logprobs_is_one_line(tmp_path, capsys):
    s = FakeOpenAIServer(logprobs_mode="generated")
    try:
        rc = main(_openai_argv(s.url, tmp_path / "run", "--score", "logprob"))
    finally:
        s.close()
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "no prompt log-probabilities" in err
    assert s.total() == 1


@pytest.mark.slow  # a fresh interpreter imports JAX and compiles: 15-60 s depending on load
def test_ctrl_c_exits_130_fast_keeps_cache_and_resumes_without_repeats(tmp_path):
    server = FakeOpenAIServer(delay=0.2)
    out = tmp_path / "run"
    argv = _openai_argv(server.url, out, "--concurrency", "2")
    try:
        env = dict(os.environ, PYTHONWARNINGS="ignore")
        # A runner started in the background (`cmd &`) ignores SIGINT and its children
        # inherit that; a small launcher restores the default and execs the CLI, so Python
        # installs its Ctrl-C handler. (Not preexec_fn: that forks this JAX-threaded
        # process through the at-fork hooks, which JAX answers with a warning.)
        launcher = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                    "os.execv(sys.executable, [sys.executable, '-m', 'jaxcert', *sys.argv[1:]])")
        proc = subprocess.Popen([sys.executable, "-c", launcher, *argv], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        sent_at = []

        def ctrl_c(n):
            # Ctrl-C from the server thread when the 6th request arrives: the run is then
            # certainly waiting on requests (a polling loop could be outrun under load).
            if n == 6:
                sent_at.append(time.monotonic())
                proc.send_signal(signal.SIGINT)

        server.on_arrival = ctrl_c
        _, err = proc.communicate(timeout=180)
        server.on_arrival = None
        assert sent_at, err
        t_int = sent_at[0]
        elapsed = time.monotonic() - t_int
        assert proc.returncode == 130 and "interrupted" in err, err
        # queued requests are cancelled: none reaches the server 2 s after Ctrl-C (the
        # process exit itself, JAX teardown included, takes 1-3 s on a loaded machine)
        assert max(server.arrivals) < t_int + 2.0 and elapsed < 15.0
        sent = server.total()
        time.sleep(0.5)
        assert server.total() == sent  # nothing is sent after the exit
        cached = [json.loads(line) for line in (out / "evaluations.jsonl").read_text().splitlines()]
        assert len(cached) == sent and all(r["status"] == "ok" for r in cached)
        server.delay = 0.0
        assert main(argv) == 0  # resume to the end: no input asked twice over both runs
        assert max(server.count.values()) == 1
        rep = json.loads((out / "report.json").read_text())
        assert rep["evaluator"]["cache_hits"] >= sent
    finally:
        server.close()


def test_proposal_plot_labels_variable_values(tmp_path, monkeypatch):
    import types

    import matplotlib.pyplot as plt

    from jaxcert.rare.proposal import uniform_proposal
    from jaxcert.rare.templates import load_template

    space = load_template(SPACE)
    figs = []
    monkeypatch.setattr(plt, "close", lambda fig: figs.append(fig))
    result = types.SimpleNamespace(proposal=uniform_proposal(space))
    assert _rare_report.plot_proposal(result, space, tmp_path / "p.png") is None
    for ax, grid in zip(figs[0].axes, space.grids, strict=True):
        labels = [t.get_text() for t in ax.get_xticklabels()]
        ticks = [int(round(t)) for t in ax.get_xticks()]
        assert labels == [_rare_report.tick_label(float(grid[t])) for t in ticks]
        # the largest value, not an index
        assert labels[-1] == _rare_report.tick_label(float(grid[-1]))
    assert figs[0].axes[-1].get_xlabel() == "variable value"
    plt.close("all")


@pytest.mark.parametrize("space, score, power", [(SPACE, "logprob", 1.0), (SPACE, "binary", 0.5),
                                                 (SPACE, "samples:4", 0.5),
                                                 ("synthetic:1e-4:concentrated", "binary", 1.0)])
def test_default_power_follows_the_outcome(space, score, power):
    """p0 F (power 1) where the outcome is the failure probability; p0 sqrt(F) for 0/1
    and sampled outcomes (a synthetic space's landscape is graded whatever --score)."""
    import argparse

    from jaxcert.cli._rare import default_power
    from jaxcert.rare.scoring import parse_score

    assert default_power(argparse.Namespace(space=space), parse_score(score)) == power
