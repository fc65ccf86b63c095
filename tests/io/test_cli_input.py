"""``jaxcert estimate --from ...`` and the hardened table options, through the real CLI."""

import json
import math
from pathlib import Path

import pytest

from jaxcert.cli import main

PROMPTFOO = Path(__file__).parent / "data" / "promptfoo" / "out.json"
ROWS = [(1, 1)] * 6 + [(1, 0)] * 2 + [(0, 1)] * 3 + [(0, 0)] * 19 + [("", 1)] * 20 + [("", 0)] * 50


def _run(capsys, *argv):
    code = main(["estimate", "--method", "classical", "--format", "json", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code, err, *words):
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, (w, err)


@pytest.fixture
def table(tmp_path):
    p = tmp_path / "labels.csv"
    p.write_text("human,judge\n" + "".join(f"{h},{j}\n" for h, j in ROWS))
    return p


def test_table_needs_its_columns(table, capsys):
    code, _, err = _run(capsys, "--data", str(table))
    _one_line_error(code, err, "--human-col and --judge-col are required", "--from inspect")


def test_streamed_and_in_memory_give_the_same_certificate(table, capsys, monkeypatch):
    base = ["--data", str(table), "--human-col", "human", "--judge-col", "judge"]
    outs = []
    for mode in ("never", "always"):
        code, out, _ = _run(capsys, *base, "--stream", mode)
        assert code == 0
        outs.append(json.loads(out))
    assert outs[1]["data"]["streamed"] is True and "streamed" not in outs[0]["data"]
    for k in ("estimate", "lower", "upper", "n_labeled", "n_unlabeled"):
        assert outs[0][k] == outs[1][k]
    # auto streams files at least STREAM_MIN_BYTES big
    import jaxcert.io

    monkeypatch.setattr(jaxcert.io, "STREAM_MIN_BYTES", 10)
    code, out, _ = _run(capsys, *base)
    assert code == 0 and json.loads(out)["data"]["streamed"] is True


@pytest.mark.parametrize("content,extra,words", [
    ("human,judge,human\n1,1,0\n", [], ["duplicate column name 'human'"]),
    ("human,judge\n1,1\nNaN,0\n", [], ["data row 2", "literal NaN", "--nan-means-missing"]),
    ("human,judge\n1,1\nnan,0\n", ["--stream", "always"], ["literal NaN"]),
    (b"human,judge\n1,1\ncaf\xe9,0\n", [], ["is not valid UTF-8", "iconv -f LATIN1"]),
    ("human,judge\n1,1\n".encode("utf-16-le"), [], ["without a byte-order mark"]),
])
def test_hardened_inputs_exit_2_with_one_line(tmp_path, capsys, content, extra, words):
    p = tmp_path / "bad.csv"
    (p.write_bytes if isinstance(content, bytes) else p.write_text)(content)
    code, _, err = _run(capsys, "--data", str(p), "--human-col", "human", "--judge-col", "judge",
                        *extra)
    _one_line_error(code, err, "bad.csv", *words)


def test_nan_opt_in_and_utf16_accepted(tmp_path, capsys):
    p = tmp_path / "nan.csv"
    p.write_text("human,judge\n1,1\n0,0\nNaN,0\n")
    code, out, _ = _run(capsys, "--data", str(p), "--human-col", "human", "--judge-col", "judge",
                        "--nan-means-missing")
    assert code == 0 and json.loads(out)["n_unlabeled"] == 1
    q = tmp_path / "u16.csv"
    q.write_bytes("human,judge\n1,1\n0,0\n,1\n".encode("utf-16"))
    code, out, _ = _run(capsys, "--data", str(q), "--human-col", "human", "--judge-col", "judge")
    assert code == 0 and json.loads(out)["n_labeled"] == 2


def test_promptfoo_one_certificate_per_provider(capsys, tmp_path):
    doc = json.loads(PROMPTFOO.read_text())
    for r in doc["results"]["results"][:3]:
        if r.get("gradingResult"):
            r["gradingResult"]["componentResults"].append(
                {"pass": False, "score": 0, "reason": "Manual result",
                 "assertion": {"type": "human"}})
    p = tmp_path / "out.json"
    p.write_text(json.dumps(doc))
    base = ["--data", str(p), "--from", "promptfoo", "--judge-assertion", "icontains"]
    code, out, err = _run(capsys, *base)
    assert code == 0, err
    both = json.loads(out)["providers"]
    assert [d["provider"] for d in both] == ["echo-a", "upper-b"]
    code, out, err = _run(capsys, *base, "--provider", "upper-b")
    assert code == 0, err
    d = json.loads(out)
    assert d["data"]["provider"] == "upper-b" and d["data"]["errored"] == 1
    assert "dropped 1 errored" in err
    code, _, err = _run(capsys, *base, "--provider", "nope")
    _one_line_error(code, err, "provider 'nope' not in")


def test_inspect_from_the_cli(tmp_path, capsys):
    log_api = pytest.importorskip("inspect_ai.log")
    pytest.importorskip("zstandard")
    from inspect_ai.scorer import Score

    spec = log_api.EvalSpec(created="2026-01-01T00:00:00+00:00", task="t",
                            dataset=log_api.EvalDataset(), model="mockllm/model",
                            config=log_api.EvalConfig())
    vals = [("C", "C"), ("I", "I"), ("I", "C"), ("C", None), ("I", None), ("P", "I")]
    samples = [log_api.EvalSample(id=i, epoch=e, input="q", target="a", scores={
        "judge": Score(value=j), **({} if h is None else {"human": Score(value=h)})})
        for e in (1, 2) for i, (j, h) in enumerate(vals)]
    path = tmp_path / "run.eval"
    log_api.write_eval_log(log_api.EvalLog(eval=spec, samples=samples, status="success"),
                           str(path))
    base = ["--data", str(path), "--from", "inspect"]
    code, _, err = _run(capsys, *base)
    _one_line_error(code, err, "--judge-scorer is required with --from inspect")
    code, _, err = _run(capsys, *base, "--judge-scorer", "judge", "--human-scorer", "human")
    _one_line_error(code, err, "2 epochs", "--epoch")
    code, _, err = _run(capsys, *base, "--judge-scorer", "judge", "--human-scorer", "human",
                        "--epoch", "1")
    _one_line_error(code, err, "sample id 5 epoch 1", "'P'", "--judge-map P=1")
    code, out, err = _run(capsys, *base, "--judge-scorer", "judge", "--human-scorer", "human",
                          "--epoch", "1", "--judge-map", "P=1")
    assert code == 0, err
    d = json.loads(out)
    assert (d["n_labeled"], d["n_unlabeled"]) == (4, 2) and d["data"]["from"] == "inspect"
    # classical on the 4 labelled items: failures = human I on items 1 and 5
    assert math.isclose(d["estimate"], 2 / 4)
    code, _, err = _run(capsys, *base, "--judge-scorer", "judge", "--epoch", "two")
    _one_line_error(code, err, "--epoch must be an epoch number or 'majority'")


def test_lm_eval_and_garak_from_the_cli(tmp_path, capsys):
    samples = tmp_path / "samples_t_2026-01-01T00-00-00.jsonl"
    samples.write_text("".join(json.dumps({"doc_id": d, "doc_hash": f"h{d}", "filter": "none",
                                           "metrics": ["acc"], "acc": float(d % 2)}) + "\n"
                               for d in range(6)))
    human = tmp_path / "human.csv"
    human.write_text("task,doc_id,label\nt,0,1\nt,1,0\nt,2,0\n")
    code, _, err = _run(capsys, "--data", str(samples), "--from", "lm-eval")
    _one_line_error(code, err, "--metric is required with --from lm-eval")
    code, out, err = _run(capsys, "--data", str(samples), "--from", "lm-eval", "--metric", "acc",
                          "--human-labels", str(human), "--human-col", "label",
                          "--join-on", "doc_id")
    assert code == 0, err
    assert (json.loads(out)["n_labeled"], json.loads(out)["n_unlabeled"]) == (3, 3)
    report = tmp_path / "garak.report.jsonl"
    report.write_text("".join(json.dumps({
        "entry_type": "attempt", "uuid": f"u{i}", "status": 2, "outputs": [{"text": "x"}],
        "detector_results": {"d.D": [i / 5]}}) + "\n" for i in range(6)))
    gh = tmp_path / "gh.csv"
    gh.write_text("uuid,human\nu0,0\nu5,1\n")
    code, out, err = _run(capsys, "--data", str(report), "--from", "garak",
                          "--human-labels", str(gh))
    assert code == 0, err
    assert json.loads(out)["data"]["detector"] == "d.D"
    code, _, err = _run(capsys, "--data", str(report), "--from", "garak", "--detector", "x.Y")
    _one_line_error(code, err, "detector 'x.Y' not in")
