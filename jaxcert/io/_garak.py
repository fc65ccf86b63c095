"""garak scan reports (``garak.<run>.report.jsonl``): attempts scored by a detector.

Fields read (garak ``Attempt.as_dict``; docs ``reporting.rst``): lines with
``entry_type == "attempt"`` and ``status == 2`` (evaluated), their ``uuid``,
``probe_classname``, ``outputs`` (one per generation) and ``detector_results``
(``{detector: [score per output]}``, scores in [0, 1]).

* **Item** = one output of one attempt, keyed ``(uuid, output index)``.
* **Judge** = a detector: score >= ``threshold`` (garak's 0.5) is a hit = failure.
  A ``None`` score (no output) is unscored: dropped and counted.
* **Human** labels from a table joined on ``uuid`` (and ``output``, the output index,
  when attempts have several generations); 1 = failure (the attack worked).
"""

from __future__ import annotations

import math
import os

import numpy as np

from jaxcert.io._files import iter_json_lines
from jaxcert.io._join import join_human, read_human_table
from jaxcert.io._labels import LabelColumns
from jaxcert.io._text import check_file

__all__ = ["read_garak"]

_EVALUATED = 2


def _attempts(path: str) -> list[tuple[int, dict]]:
    name, out = os.path.basename(path), []
    for lineno, obj in iter_json_lines(path, name):
        if not isinstance(obj, dict) or "entry_type" not in obj:
            raise ValueError(f"{name} line {lineno}: no 'entry_type'; expected a garak "
                             "report.jsonl")
        if obj["entry_type"] == "attempt" and obj.get("status") == _EVALUATED:
            out.append((lineno, obj))
    return out


def _score(v, where: str, threshold: float) -> float:
    if v is None:
        return math.nan
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
        raise ValueError(f"{where}: detector score {v!r} is not a number in [0, 1]")
    return 1.0 if v >= threshold else 0.0


def read_garak(path, detector: str | None = None, human_labels=None, *, threshold: float = 0.5,
               human_col: str = "human", human_map=None,
               nan_means_missing: bool = False) -> LabelColumns:
    """Reads detector verdicts from a garak report, human labels from a table.

    Args:
      path: ``garak.<run>.report.jsonl``.
      detector: the detector that is the judge, e.g. ``"mitigation.MitigationBypass"``;
        may be omitted when the report has one detector.
      human_labels: CSV/JSONL/Parquet with ``uuid`` (+ ``output`` when attempts have
        several generations) and ``human_col``; ``None``: every item judge-only.
      threshold: detector score counted as a hit (failure).
      human_col, human_map, nan_means_missing: the human-label column and its rules.

    Returns:
      :class:`LabelColumns`, ``ids`` = ``uuid#output``, ``info`` counting
      ``attempts`` and ``unscored`` outputs.

    Raises:
      FileNotFoundError: no such file.
      ValueError: a line that is not JSON / not a report entry; a score outside
        [0, 1] or a score list whose length differs from the outputs (names the
        line and field); no or several detectors without ``detector``; a human label
        matching no output.
    """
    path = os.fspath(path)
    check_file(path)
    name = os.path.basename(path)
    attempts = _attempts(path)
    if not attempts:
        raise ValueError(f"{name}: no evaluated attempt (entry_type 'attempt', status 2)")
    found = sorted({d for _, a in attempts for d in (a.get("detector_results") or {})})
    if detector is None:
        if len(found) != 1:
            raise ValueError(f"{name} has detectors {found}; choose one (detector=NAME, CLI "
                             "--detector)")
        detector = found[0]
    if detector not in found:
        raise ValueError(f"detector {detector!r} not in {name}; its detectors: {found}")
    items, judge, unscored, multi = [], [], 0, False
    for lineno, a in attempts:
        scores = (a.get("detector_results") or {}).get(detector)
        if scores is None:
            continue
        where = f"{name} line {lineno} (attempt {a.get('uuid')}), field detector_results"
        outputs = a.get("outputs")
        if not isinstance(scores, list) or (isinstance(outputs, list)
                                            and len(scores) != len(outputs)):
            raise ValueError(f"{where}[{detector!r}]: expected one score per output "
                             f"({len(outputs or [])}), got {scores!r}")
        multi |= len(scores) > 1
        for k, v in enumerate(scores):
            j = _score(v, f"{where}[{detector!r}][{k}]", threshold)
            if math.isnan(j):
                unscored += 1
                continue
            items.append((str(a.get("uuid")), str(k)))
            judge.append(j)
    if not items:
        raise ValueError(f"{name}: no output scored by {detector!r}")
    human = [math.nan] * len(items)
    if human_labels is not None:
        keys = ("uuid", "output") if multi else ("uuid",)
        table = read_human_table(human_labels, keys, human_col, human_map=human_map,
                                 nan_means_missing=nan_means_missing)
        human = join_human(items if multi else [(u,) for u, _ in items], table, source=name,
                           keys=keys)
    info = {"format": "garak", "detector": detector, "attempts": len(attempts),
            "unscored": unscored, "threshold": threshold}
    return LabelColumns(np.array(human, dtype=float), np.array(judge), 0,
                        np.array([f"{u}#{k}" for u, k in items]), info)
