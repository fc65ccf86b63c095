"""garak report.jsonl, built from garak's schema.

garak is not installed here (it pulls torch); attempt lines follow
``garak/attempt.py: Attempt.as_dict`` (NVIDIA/garak) and the report layout in
``docs/source/reporting.rst``: ``entry_type`` on every line, attempts logged with
``status`` 1 (generated) and again with 2 (evaluated), ``detector_results`` mapping a
detector to one score in [0, 1] per output.
"""

import json

import pytest

from jaxcert.io import read_garak

DET = "mitigation.MitigationBypass"


def _attempt(uuid, scores, status=2, other=None):
    outputs = [None if s is None else {"text": "out", "lang": "en"} for s in scores]
    det = {} if status != 2 else {DET: scores, **(other or {})}
    return {"entry_type": "attempt", "uuid": uuid, "previous_attempt_id": None, "seq": 0,
            "status": status, "probe_classname": "dan.Dan_11_0", "probe_params": {},
            "targets": [], "prompt": {"turns": []}, "outputs": outputs,
            "detector_results": det, "notes": {}, "goal": "disregard the system prompt",
            "conversations": [], "reverse_translation_outputs": [], "intent": None}


def _report(tmp_path, attempts, name="garak.run.report.jsonl"):
    p = tmp_path / name
    lines = [{"entry_type": "start_run setup", "_config.version": "0.13"},
             {"entry_type": "init", "garak_version": "0.13", "run": "run"}]
    for a in attempts:
        lines.append({**a, "status": 1, "detector_results": {}})  # the generated copy
        lines.append(a)
    lines.append({"entry_type": "eval", "probe": "dan.Dan_11_0", "detector": DET,
                  "passed": 2, "total": 4})
    p.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return p


def test_single_generation_joined_by_uuid_matches_a_hand_count(tmp_path):
    # judge hit = score >= 0.5; human: a 1 (hit), b 0 (judge false alarm), c 1 (judge
    # miss); d judge-only hit, e judge-only pass; f has no output: unscored
    report = _report(tmp_path, [_attempt("a", [0.9]), _attempt("b", [0.5]),
                                _attempt("c", [0.1]), _attempt("d", [1.0]),
                                _attempt("e", [0.0]), _attempt("f", [None])])
    human = tmp_path / "human.csv"
    human.write_text("uuid,human\na,1\nb,0\nc,1\n")
    labels = read_garak(report, DET, human)
    assert [float(x) for x in labels.counts] == [1, 1, 1, 0, 1, 1]
    assert labels.info["unscored"] == 1 and labels.info["attempts"] == 6
    assert read_garak(report, None, human).info["detector"] == DET  # the only detector


def test_several_generations_join_on_uuid_and_output(tmp_path):
    report = _report(tmp_path, [_attempt("a", [0.9, 0.2]), _attempt("b", [0.7, 0.6])])
    human = tmp_path / "human.csv"
    human.write_text("uuid,output,human\na,0,1\na,1,1\nb,1,0\n")
    labels = read_garak(report, DET, human)
    # (Y,J): a#0 (1,1), a#1 (1,0), b#1 (0,1); b#0 judge-only hit
    assert [float(x) for x in labels.counts] == [1, 1, 1, 0, 1, 0]
    with pytest.raises(ValueError, match="human-label key column 'output' not found"):
        bad = tmp_path / "bad.csv"
        bad.write_text("uuid,human\na,1\n")
        read_garak(report, DET, bad)


def test_malformed_reports_give_one_precise_line(tmp_path):
    two = _report(tmp_path, [_attempt("a", [0.9], other={"dan.DAN": [1.0]})], name="two.jsonl")
    with pytest.raises(ValueError,
                       match=r"has detectors \['dan.DAN', '.*'\]; choose one.*--detector"):
        read_garak(two)
    bad = _report(tmp_path, [_attempt("a", [1.7])], name="bad.jsonl")
    with pytest.raises(ValueError, match=r"bad.jsonl line \d+ \(attempt a\), field "
                       r"detector_results\['mitigation.MitigationBypass'\]\[0\]: detector score "
                       r"1.7 is not a number in \[0, 1\]"):
        read_garak(bad, DET)
    short = _attempt("a", [0.9, 0.1])
    short["detector_results"][DET] = [0.9]
    with pytest.raises(ValueError, match=r"expected one score per output \(2\)"):
        read_garak(_report(tmp_path, [short], name="short.jsonl"), DET)
    junk = tmp_path / "junk.jsonl"
    junk.write_text('{"uuid": 1}\n')
    with pytest.raises(ValueError, match=r"junk.jsonl line 1: no 'entry_type'"):
        read_garak(junk)
    human = tmp_path / "h.csv"
    human.write_text("uuid,human\nzzz,1\n")
    with pytest.raises(ValueError, match=r"\{'uuid': 'zzz'\} matches no item"):
        read_garak(_report(tmp_path, [_attempt("a", [0.9])], name="ok.jsonl"), DET, human)
