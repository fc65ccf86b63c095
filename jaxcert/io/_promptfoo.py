"""promptfoo results files (``promptfoo eval --output out.json``, results version 3).

Fields read, per entry of ``results.results[]``: ``provider`` (``label``, else ``id``),
``failureReason`` (2 = the provider errored), ``testIdx``/``promptIdx``/``id``, and
``gradingResult.componentResults[]`` with ``assertion.type`` (and ``assertion.metric``)
and ``pass``.

* **Judge** = the component whose ``assertion.type`` (or ``metric``) is the judge
  assertion (default ``llm-rubric``); failure = not ``pass``. A result without it is
  unscored: dropped and counted.
* **Human** = the last component of type ``human`` (what promptfoo's viewer writes
  when a reviewer rates an output: ``{"pass": ..., "score": ...,
  "reason": "Manual result (overrides all other grading results)",
  "assertion": {"type": "human"}}``); failure = not ``pass``; none = judge-only.
* **Errored** rows (``failureReason == 2``) are dropped and counted.
* One label table **per provider**: a certificate is about one system.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from jaxcert.io._labels import LabelColumns
from jaxcert.io._text import check_file

__all__ = ["read_promptfoo"]

_ERROR = 2
HUMAN_TYPE = "human"


def _results(path: str) -> list:
    try:
        with open(path, encoding="utf-8-sig") as fh:
            doc = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path!r} is not a valid promptfoo results JSON file: {e}") from None
    res = doc.get("results") if isinstance(doc, dict) else None
    if not isinstance(res, dict) or not isinstance(res.get("results"), list):
        raise ValueError(f"{path!r} is not a promptfoo results file: no 'results.results' list "
                         "(write it with promptfoo eval --output out.json)")
    if res.get("version") != 3:
        raise ValueError(f"{path!r}: results version {res.get('version')!r} is not supported "
                         "(expected 3, promptfoo >= 0.60)")
    return res["results"]


def _provider(r: dict) -> str:
    p = r.get("provider")
    if isinstance(p, dict):
        return str(p.get("label") or p.get("id"))
    return str(p)


def _pass_label(comp: dict, where: str) -> float:
    ok = comp.get("pass")
    if not isinstance(ok, bool):
        raise ValueError(f"{where}.pass: expected true/false, got {ok!r}")
    return 0.0 if ok else 1.0


def _labels_of(r: dict, judge_assertion: str, rec: str):
    """(human, judge) of one result; judge None when the judge did not grade it."""
    grading = r.get("gradingResult") or {}
    comps = grading.get("componentResults") or []
    if not isinstance(comps, list):
        raise ValueError(f"{rec}, field gradingResult.componentResults: expected a list")
    judge, human = None, math.nan
    for k, c in enumerate(comps):
        a = (c or {}).get("assertion") or {}
        where = f"{rec}, field gradingResult.componentResults[{k}]"
        if a.get("type") == HUMAN_TYPE:
            human = _pass_label(c, where)
        elif judge_assertion in (a.get("type"), a.get("metric")):
            if judge is not None:
                raise ValueError(f"{where}: a second {judge_assertion!r} assertion; name the "
                                 "judge by its metric (judge_assertion='METRIC')")
            judge = _pass_label(c, where)
    return human, judge


def read_promptfoo(path, judge_assertion: str = "llm-rubric") -> dict[str, LabelColumns]:
    """Reads judge and human labels from a promptfoo results file, one table per provider.

    Args:
      path: the ``--output`` JSON file (results version 3).
      judge_assertion: the assertion type (e.g. ``llm-rubric``, ``model-graded-closedqa``)
        or assertion ``metric`` name that is the judge.

    Returns:
      ``{provider: LabelColumns}`` (provider label, else id), in file order; ``ids`` are
      ``test<testIdx>/prompt<promptIdx>``; ``info`` counts ``results``, ``errored``
      and ``unscored`` per provider.

    Raises:
      FileNotFoundError: no such file.
      ValueError: not a version-3 results file; a component without a boolean
        ``pass`` or a repeated judge assertion (names the result and field); no
        graded result left.
    """
    path = os.fspath(path)
    check_file(path)
    groups: dict[str, dict] = {}
    for i, r in enumerate(_results(path)):
        if not isinstance(r, dict):
            raise ValueError(f"{os.path.basename(path)}: results.results[{i}] is not an object")
        g = groups.setdefault(_provider(r), {"rows": [], "errored": 0, "unscored": 0, "n": 0})
        g["n"] += 1
        if r.get("failureReason") == _ERROR:
            g["errored"] += 1
            continue
        rec = f"{os.path.basename(path)}: results.results[{i}] (provider {_provider(r)!r})"
        human, judge = _labels_of(r, judge_assertion, rec)
        if judge is None:
            g["unscored"] += 1
            continue
        g["rows"].append((f"test{r.get('testIdx')}/prompt{r.get('promptIdx')}", human, judge))
    out = {}
    for name, g in groups.items():
        info = {"format": "promptfoo", "provider": name, "results": g["n"],
                "errored": g["errored"], "unscored": g["unscored"]}
        if not g["rows"]:
            continue
        ids, human, judge = zip(*g["rows"], strict=True)
        out[name] = LabelColumns(np.array(human, dtype=float), np.array(judge, dtype=float), 0,
                                 np.array(ids), info)
    if not out:
        raise ValueError(f"{path!r}: no result graded by a {judge_assertion!r} assertion "
                         "(errored or unscored); name the judge with judge_assertion "
                         "(CLI --judge-assertion)")
    return out
