"""lm-evaluation-harness --log_samples files, built from the harness's schema.

lm-eval is not installed here (it pulls torch); the lines follow the dict that
``lm_eval/evaluator.py`` logs under ``log_samples`` (EleutherAI/lm-evaluation-harness):
``doc_id, doc, target, arguments, resps, filtered_resps, filter, metrics, doc_hash,
prompt_hash, target_hash`` plus one key per metric, ``doc_hash`` being the SHA-256 of
``json.dumps(doc, indent=2, ensure_ascii=False)``.
"""

import hashlib
import json

import pytest

from jaxcert.io import read_lm_eval

TASK = "gsm8k"
NAME = f"samples_{TASK}_2026-01-01T00-00-00.000000.jsonl"


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _line(doc_id, value, flt="none"):
    doc = {"question": f"q{doc_id}", "answer": str(doc_id)}
    line = {"doc_id": doc_id, "doc": doc, "target": str(doc_id),
            "arguments": [[f"q{doc_id}", {"until": ["\n"]}]], "resps": [["x"]],
            "filtered_resps": ["x"], "filter": flt, "metrics": ["exact_match"],
            "doc_hash": _hash(json.dumps(doc, indent=2, ensure_ascii=False)),
            "prompt_hash": _hash(f"q{doc_id}"), "target_hash": _hash(str(doc_id))}
    if value is not None:
        line["exact_match"] = value
    return line


# exact_match 1 = correct = pass; doc 5 has no metric value (unscored)
VALUES = {0: 1.0, 1: 0.0, 2: 1.0, 3: 0.0, 4: 1.0, 5: None}
HUMAN = {0: "0", 1: "1", 2: "1", 3: ""}  # doc 3 blank, doc 4 absent: judge-only


def _files(tmp_path, filters=("none",)):
    samples = tmp_path / NAME
    with open(samples, "w") as fh:
        for flt in filters:
            for d, v in VALUES.items():
                fh.write(json.dumps(_line(d, v, flt)) + "\n")
    by_hash = tmp_path / "human_by_hash.csv"
    by_hash.write_text("doc_hash,human\n" + "".join(
        f"{_line(d, 0)['doc_hash']},{h}\n" for d, h in HUMAN.items()))
    by_id = tmp_path / "human_by_id.csv"
    by_id.write_text("task,doc_id,human\n" + "".join(f"{TASK},{d},{h}\n" for d, h in HUMAN.items())
                     + "other_task,99,1\n")
    return samples, by_hash, by_id


def test_join_on_doc_hash_and_on_task_doc_id_match_a_hand_count(tmp_path):
    samples, by_hash, by_id = _files(tmp_path)
    # (Y,J): doc0 (0,0), doc1 (1,1), doc2 (1,0); doc3 J=1 and doc4 J=0 judge-only
    want = [1, 1, 0, 1, 1, 1]
    a = read_lm_eval(samples, "exact_match", by_hash)
    assert [float(x) for x in a.counts] == want
    assert a.info["unscored"] == 1 and a.info["lines"] == 6
    b = read_lm_eval(samples, "exact_match", by_id, join_on="doc_id")
    assert [float(x) for x in b.counts] == want


def test_filters_need_a_choice(tmp_path):
    samples, by_hash, _ = _files(tmp_path, filters=("strict-match", "flexible-extract"))
    with pytest.raises(ValueError, match=r"holds filters \['flexible-extract', 'strict-match'\]; "
                       r"choose one.*--filter"):
        read_lm_eval(samples, "exact_match", by_hash)
    labels = read_lm_eval(samples, "exact_match", by_hash, filter="strict-match")
    assert float(labels.counts.n) == 3
    with pytest.raises(ValueError, match="filter 'none' not in"):
        read_lm_eval(samples, "exact_match", by_hash, filter="none")


def test_malformed_files_give_one_precise_line(tmp_path):
    samples, by_hash, _ = _files(tmp_path)
    with pytest.raises(ValueError, match=r"metric 'acc' not in .*its metrics: \['exact_match'\]"):
        read_lm_eval(samples, "acc", by_hash)
    lines = samples.read_text().splitlines()
    bad = json.loads(lines[2])
    bad["exact_match"] = 0.5
    samples.write_text("\n".join([*lines[:2], json.dumps(bad), *lines[3:]]) + "\n")
    with pytest.raises(ValueError, match=rf"{NAME} line 3 \(doc_id 2\), field 'exact_match': "
                       r"value 0.5 is not a known label.*--judge-map"):
        read_lm_eval(samples, "exact_match", by_hash)
    samples.write_text(lines[0] + "\n{oops\n")
    with pytest.raises(ValueError, match=rf"{NAME} line 2 is not valid JSON"):
        read_lm_eval(samples, "exact_match", by_hash)
    samples.write_text('{"x": 1}\n')
    with pytest.raises(ValueError, match=r"line 1: not an lm-eval sample \(no 'doc_id'\)"):
        read_lm_eval(samples, "exact_match", by_hash)


def test_human_labels_that_match_nothing_are_an_error(tmp_path):
    samples, by_hash, _ = _files(tmp_path)
    typo = tmp_path / "typo.csv"
    typo.write_text("doc_hash,human\ndeadbeef,1\n")
    with pytest.raises(ValueError, match=r"human label for \{'doc_hash': 'deadbeef'\} matches no "
                       rf"item of '{NAME}'"):
        read_lm_eval(samples, "exact_match", typo)
    twice = tmp_path / "twice.csv"
    h = _line(0, 0)["doc_hash"]
    twice.write_text(f"doc_hash,human\n{h},1\n{h},0\n")
    with pytest.raises(ValueError, match=r"twice.csv, data row 2: .* is labelled twice"):
        read_lm_eval(samples, "exact_match", twice)
