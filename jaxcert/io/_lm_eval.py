"""lm-evaluation-harness per-sample logs (``lm_eval ... --log_samples``).

Each line of ``samples_<task>_<date>.jsonl`` is one document under one filter:
``doc_id``, ``doc_hash``, ``filter``, ``metrics`` (the metric names) and one key per
metric with its value (lm_eval/evaluator.py, ``example`` built under ``log_samples``).

* **Judge** = a named metric key (e.g. a model-graded metric). Metrics are
  correctness scores: 1/True -> 0 = pass, 0/False -> 1 = failure; other values are
  an error unless ``judge_map`` maps them (e.g. ``{"1": 1, "0": 0}`` for a metric
  whose 1 means "harmful"). A line without the metric is unscored: dropped, counted.
* **One filter**: a file holding several filters needs ``filter=NAME``.
* **Human** labels come from a separate table joined on ``doc_hash`` (columns
  ``doc_hash`` + the human column) or on ``(task, doc_id)`` (columns ``task``,
  ``doc_id`` + the human column); the task name is taken from the file name
  ``samples_<task>_<date>.jsonl`` unless given.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import numpy as np

from jaxcert.io._files import iter_json_lines
from jaxcert.io._inspect import score_label
from jaxcert.io._join import join_human, read_human_table
from jaxcert.io._labels import LabelColumns, normalise_map
from jaxcert.io._text import check_file

__all__ = ["read_lm_eval"]

_NAME = re.compile(r"^samples_(?P<task>.+)_\d{4}-\d{2}-\d{2}T[\d\-.:]+\.jsonl$")


def _task_of(path: str) -> str | None:
    m = _NAME.match(os.path.basename(path))
    return m.group("task") if m else None


def _lines(path: str) -> list[tuple[int, dict]]:
    out = []
    name = os.path.basename(path)
    for lineno, obj in iter_json_lines(path, name):
        if not isinstance(obj, dict) or "doc_id" not in obj:
            raise ValueError(f"{name} line {lineno}: not an lm-eval sample (no 'doc_id'); "
                             "expected a samples_<task>_<date>.jsonl from --log_samples")
        out.append((lineno, obj))
    return out


def read_lm_eval(path, metric: str, human_labels=None, *, filter: str | None = None,  # noqa: A002
                 task: str | None = None, join_on: str = "doc_hash", human_col: str = "human",
                 judge_map: Mapping | None = None, human_map: Mapping | None = None,
                 nan_means_missing: bool = False) -> LabelColumns:
    """Reads judge verdicts from an lm-eval samples file, human labels from a table.

    Args:
      path: ``samples_<task>_<date>.jsonl``.
      metric: the metric key that is the judge.
      human_labels: CSV/JSONL/Parquet with the join key(s) and ``human_col``; ``None``:
        every item is judge-only (then no certificate can be computed from it alone).
      filter: the lm-eval filter to keep (required when the file has several).
      task: task name for the ``(task, doc_id)`` join (default: from the file name).
      join_on: ``"doc_hash"`` or ``"doc_id"`` (with ``task``).
      human_col, human_map, nan_means_missing: the human-label column and its rules.
      judge_map: value -> 0/1 overrides for the metric.

    Returns:
      :class:`LabelColumns`, ``ids`` = doc ids, ``info`` counting ``lines`` and
      ``unscored``.

    Raises:
      FileNotFoundError: no such file.
      ValueError: a line that is not JSON or not a sample (names the line); a metric
        value that is not a label (names the line and field); several filters and no
        ``filter``; an unknown metric, filter or join; a human label matching no doc.
    """
    path = os.fspath(path)
    check_file(path)
    name = os.path.basename(path)
    lines = _lines(path)
    if not lines:
        raise ValueError(f"{path!r} has no samples")
    filters = sorted({str(o.get("filter", "none")) for _, o in lines})
    if filter is None and len(filters) > 1:
        raise ValueError(f"{name} holds filters {filters}; choose one (filter=NAME, CLI --filter)")
    if filter is not None:
        if filter not in filters:
            raise ValueError(f"filter {filter!r} not in {name}; its filters: {filters}")
        lines = [(n, o) for n, o in lines if str(o.get("filter", "none")) == filter]
    metrics = sorted({k for _, o in lines for k in (o.get("metrics") or [])})
    if metric not in metrics and not any(metric in o for _, o in lines):
        raise ValueError(f"metric {metric!r} not in {name}; its metrics: {metrics}")
    jmap = normalise_map(judge_map, "judge_map")
    rows, unscored = [], 0
    for lineno, o in lines:
        if o.get(metric) is None:
            unscored += 1
            continue
        j = score_label(o[metric], jmap, what="judge", flag="--judge-map",
                        where=f"{name} line {lineno} (doc_id {o['doc_id']}), field {metric!r}")
        rows.append((o, j))
    if not rows:
        raise ValueError(f"{name}: no line has a value for metric {metric!r}")
    if join_on not in ("doc_hash", "doc_id"):
        raise ValueError(f"join_on must be 'doc_hash' or 'doc_id'; got {join_on!r}")
    if join_on == "doc_id":
        task = task or _task_of(path)
        if task is None:
            raise ValueError(f"cannot tell the task from the file name {name!r}; pass task=")
        keys, items = ("task", "doc_id"), [(task, str(o["doc_id"])) for o, _ in rows]
    else:
        keys, items = ("doc_hash",), [(str(o.get("doc_hash")),) for o, _ in rows]
    human = [float("nan")] * len(rows)
    if human_labels is not None:
        table = read_human_table(human_labels, keys, human_col, human_map=human_map,
                                 nan_means_missing=nan_means_missing)
        if join_on == "doc_id":  # a table may cover several tasks
            table = {k: v for k, v in table.items() if k[0] == task}
        human = join_human(items, table, source=name, keys=keys)
    info = {"format": "lm-eval", "lines": len(lines), "unscored": unscored, "metric": metric,
            "filter": filter or filters[0], "join_on": join_on}
    return LabelColumns(np.array(human, dtype=float), np.array([j for _, j in rows]), 0,
                        np.array([str(o["doc_id"]) for o, _ in rows]), info)
