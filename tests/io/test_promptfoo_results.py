"""promptfoo results: a real `promptfoo eval --output` file (see data/promptfoo/README.md)."""

import copy
import json
from pathlib import Path

import pytest

from jaxcert.io import read_promptfoo

DATA = Path(__file__).parent / "data" / "promptfoo" / "out.json"


def _human(passed: bool) -> dict:
    """A reviewer's rating as promptfoo's viewer stores it."""
    return {"pass": passed, "score": float(passed), "comment": "",
            "reason": "Manual result (overrides all other grading results)",
            "assertion": {"type": "human"}}


def _rated(tmp_path, ratings, drop_judge=()):
    doc = json.loads(DATA.read_text())
    for r in doc["results"]["results"]:
        key = (r["provider"]["label"], r["testIdx"])
        comps = (r.get("gradingResult") or {}).get("componentResults")
        if key in ratings:
            comps.append(_human(ratings[key]))
        if key in drop_judge:
            comps[:] = [c for c in comps if c["assertion"]["type"] == "human"]
    p = tmp_path / "rated.json"
    p.write_text(json.dumps(doc))
    return p


def _counts(labels):
    return [float(x) for x in labels.counts]


def test_one_table_per_provider_matches_a_hand_count(tmp_path):
    # judge (icontains "hello"): tests 0, 2, 3 pass, test 1 fails; upper-b errors on test 2
    ratings = {("echo-a", 0): False, ("echo-a", 1): False, ("echo-a", 2): True,
               ("upper-b", 1): True}
    p = _rated(tmp_path, ratings, drop_judge={("upper-b", 3)})
    groups = read_promptfoo(p, "icontains")
    assert list(groups) == ["echo-a", "upper-b"]
    a, b = groups["echo-a"], groups["upper-b"]
    assert _counts(a) == [1, 1, 0, 1, 0, 1]  # (Y,J) = (1,0), (1,1), (0,0); test 3 judge-only
    assert _counts(b) == [0, 0, 1, 0, 0, 1]  # test 1 (0,1); test 0 judge-only
    assert (a.info["errored"], a.info["unscored"]) == (0, 0)
    assert (b.info["errored"], b.info["unscored"], b.info["results"]) == (1, 1, 4)
    # the judge named by its metric works the same
    assert _counts(read_promptfoo(p, "safety")["echo-a"]) == _counts(a)


def test_the_last_human_rating_wins(tmp_path):
    doc = json.loads(DATA.read_text())
    first = doc["results"]["results"][0]
    first["gradingResult"]["componentResults"] += [_human(True), _human(False)]
    p = tmp_path / "twice.json"
    p.write_text(json.dumps(doc))
    labels = read_promptfoo(p, "icontains")[first["provider"]["label"]]
    assert float(labels.counts.n10) == 1  # human fail, judge pass


def test_no_graded_result_names_the_judge_option(tmp_path):
    with pytest.raises(ValueError, match=r"no result graded by a 'llm-rubric' assertion.*"
                       r"--judge-assertion"):
        read_promptfoo(DATA)


@pytest.mark.parametrize("mutate,match", [
    (lambda d: d["results"].update(version=2), r"results version 2 is not supported"),
    (lambda d: d.pop("results"), r"no 'results.results' list"),
    (lambda d: d["results"]["results"][1]["gradingResult"]["componentResults"][0].update(
        {"pass": "yes"}),
     r"out.json: results.results\[1\] \(provider '.*'\), field "
     r"gradingResult.componentResults\[0\].pass: expected true/false, got 'yes'"),
    (lambda d: d["results"]["results"][0]["gradingResult"]["componentResults"].append(
        copy.deepcopy(d["results"]["results"][0]["gradingResult"]["componentResults"][0])),
     r"results.results\[0\].*componentResults\[1\]: a second 'icontains' assertion"),
])
def test_malformed_results_give_one_precise_line(tmp_path, mutate, match):
    doc = json.loads(DATA.read_text())
    mutate(doc)
    p = tmp_path / "out.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=match):
        read_promptfoo(p, "icontains")


def test_not_json(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("{")
    with pytest.raises(ValueError, match="not a valid promptfoo results JSON file"):
        read_promptfoo(p)
