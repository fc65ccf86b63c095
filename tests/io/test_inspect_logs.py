"""Inspect logs: real .eval/.json files written by inspect-ai's own log API."""

import json
import zipfile

import numpy as np
import pytest

pytest.importorskip("zstandard")
log_api = pytest.importorskip("inspect_ai.log")
scorer_api = pytest.importorskip("inspect_ai.scorer")

from jaxcert import Counts  # noqa: E402
from jaxcert.io import read_inspect  # noqa: E402

Score = scorer_api.Score


def _sample(sid, epoch=1, error=None, **scores):
    return log_api.EvalSample(
        id=sid, epoch=epoch, input="q", target="a",
        scores={k: Score(value=v) for k, v in scores.items()},
        error=None if error is None else log_api.EvalError(message=error, traceback="",
                                                           traceback_ansi=""))


def _write(tmp_path, samples, name="log", edits=()):
    spec = log_api.EvalSpec(created="2026-01-01T00:00:00+00:00", task="t",
                            dataset=log_api.EvalDataset(), model="mockllm/model",
                            config=log_api.EvalConfig())
    log = log_api.EvalLog(eval=spec, samples=samples, status="success")
    for sid, scorer, value, author in edits:
        prov = None if author is None else log_api.ProvenanceData(author=author, reason="review")
        log_api.edit_score(log, sid, scorer, scorer_api.ScoreEdit(value=value, provenance=prov),
                           recompute_metrics=False)
    paths = tmp_path / f"{name}.eval", tmp_path / f"{name}.json"
    for p in paths:
        log_api.write_eval_log(log, str(p))
    return paths


def _counts(labels):
    return [float(x) for x in labels.counts]


# hand count: n11 = id 2, n10 = id 1, n01 = id 6 ("N" = no answer = failure),
# n00 = id 3, m1 = id 4, m0 = id 5; id 7 errored, ids 8 and 9 unscored
SAMPLES = [
    (1, {"judge": "C", "human": "I"}), (2, {"judge": "I", "human": "I"}),
    (3, {"judge": "C", "human": "C"}), (4, {"judge": "I"}), (5, {"judge": "C"}),
    (6, {"judge": "N", "human": "C"}), (8, {}), (9, {"human": "I"}),
]


def test_two_scorers_eval_and_json_match_a_hand_count(tmp_path):
    samples = [_sample(i, **s) for i, s in SAMPLES]
    samples.append(_sample(7, error="model timed out", judge="C", human="C"))
    ev, js = _write(tmp_path, samples)
    # the archive really is zstd (zip method 93), which zipfile cannot read before 3.14
    assert {i.compress_type for i in zipfile.ZipFile(ev).infolist()} == {93}
    for path in (ev, js):
        labels = read_inspect(path, "judge", "human")
        assert _counts(labels) == [1, 1, 1, 1, 1, 1]
        assert labels.info["errored"] == 1 and labels.info["unscored"] == 2
        assert sorted(labels.ids.tolist()) == ["1", "2", "3", "4", "5", "6"]


def test_human_labels_from_score_edits_with_provenance(tmp_path):
    samples = [_sample(i, judge=v) for i, v in [(1, "C"), (2, "C"), (3, "I"), (4, "I")]]
    edits = [(1, "judge", "I", "alice"),      # human 1, judge 0
             (2, "judge", "I", None),         # an edit without provenance is not a human label
             (3, "judge", "C", "bob"), (3, "judge", "I", "carol"),  # latest wins: human 1
             ]
    ev, js = _write(tmp_path, samples, edits=edits)
    for path in (ev, js):
        labels = read_inspect(path, "judge")
        order = np.argsort(labels.ids.astype(int))
        np.testing.assert_array_equal(labels.judge[order], [0, 0, 1, 1])
        np.testing.assert_array_equal(np.isnan(labels.human[order]), [False, True, False, True])
        assert labels.human[order][0] == 1 and labels.human[order][2] == 1


def test_epochs_need_a_choice(tmp_path):
    judge = {1: ["I", "I", "C"], 2: ["C", "C", "I"], 3: ["I", "C", "I"]}
    samples = [_sample(i, epoch=e + 1, judge=v[e], **({"human": "I"} if i == 1 else {}))
               for i, v in judge.items() for e in range(3)]
    ev, _ = _write(tmp_path, samples)
    with pytest.raises(ValueError, match=r"has 3 epochs \(1..3\); choose one.*--epoch"):
        read_inspect(ev, "judge", "human")
    e2 = read_inspect(ev, "judge", "human", epoch=2)
    assert _counts(e2) == [1, 0, 0, 0, 0, 2]
    maj = read_inspect(ev, "judge", "human", epoch="majority")
    assert _counts(maj) == [1, 0, 0, 0, 1, 1]
    with pytest.raises(ValueError, match="epoch 5 not in"):
        read_inspect(ev, "judge", "human", epoch=5)


def test_partial_credit_is_an_error_unless_mapped(tmp_path):
    ev, js = _write(tmp_path, [_sample(1, judge="C", human="I"), _sample(2, judge="P")])
    with pytest.raises(ValueError, match=r"log.eval: sample id 2 epoch 1, field "
                       r"scores\['judge'\].value: value 'P' \(partial credit\).*--judge-map P=1"):
        read_inspect(ev, "judge", "human")
    labels = read_inspect(js, "judge", "human", judge_map={"P": 1})
    assert _counts(labels) == [0, 1, 0, 0, 1, 0]


def test_numeric_scores_and_overrides(tmp_path):
    ev, _ = _write(tmp_path, [_sample(1, judge=1.0, human=0), _sample(2, judge=0, human=0)])
    # correctness scores: 1 = correct = pass, 0 = failure
    assert _counts(read_inspect(ev, "judge", "human")) == [1, 1, 0, 0, 0, 0]
    # a scorer whose 1 means "unsafe": map it
    flipped = read_inspect(ev, "judge", "human", judge_map={"1": 1, "0": 0},
                           human_map={"1": 1, "0": 0})
    assert _counts(flipped) == [0, 0, 1, 1, 0, 0]


def test_malformed_logs_give_one_precise_line(tmp_path):
    bad = tmp_path / "bad.eval"
    bad.write_text("not a zip")
    with pytest.raises(ValueError, match="not an Inspect .eval archive"):
        read_inspect(bad, "judge")
    notlog = tmp_path / "x.json"
    notlog.write_text(json.dumps({"samples": []}))
    with pytest.raises(ValueError, match="no 'eval' field"):
        read_inspect(notlog, "judge")
    ev, _ = _write(tmp_path, [_sample(1, judge="C")])
    with pytest.raises(ValueError, match=r"judge scorer 'grader' not in .*its scorers: 'judge'"):
        read_inspect(ev, "grader")
    ev2, _ = _write(tmp_path, [_sample(1, judge="C"), _sample(2, judge=["C", "I"])], name="l2")
    with pytest.raises(ValueError, match=r"sample id 2 epoch 1, field scores\['judge'\].value: "
                       r"value .* is a list"):
        read_inspect(ev2, "judge")
    with pytest.raises(FileNotFoundError):
        read_inspect(tmp_path / "none.eval", "judge")


def test_counts_feed_certify(tmp_path):
    from jaxcert.judge import certify

    ev, _ = _write(tmp_path, [_sample(i, **s) for i, s in SAMPLES])
    labels = read_inspect(ev, "judge", "human")
    res = certify(labels.human, labels.judge, method="classical")
    assert res.n_labeled == 4
    assert Counts.from_labels(labels.human, labels.judge).N == 2
