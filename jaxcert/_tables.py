"""Reading human/judge label columns from CSV, JSONL and Parquet files.

A label table has one row per model output, a human-label column (``Y``: 1 = the
output is a failure) and a judge-verdict column (``J``: 1 = the judge calls it a
failure). An empty human cell marks a judge-only item. Cell values are mapped to 0/1
by :data:`DEFAULT_LABELS` (case-insensitive, surrounding blanks ignored):

==========  ===========================================================
1           ``1``, ``1.0``, ``true``, ``yes``, ``y``, ``fail``, ``failure``
0           ``0``, ``0.0``, ``false``, ``no``, ``n``, ``pass``, ``ok``
missing     empty cell, JSON ``null``, NaN, ``na``, ``n/a``, ``nan``, ``null``, ``none``
==========  ===========================================================

Any other value is an error unless ``human_map`` / ``judge_map`` maps it, e.g.
``{"model_b": 1, "model_a": 0, "tie": 0}`` (a map value ``None`` means missing; user
maps are consulted before the defaults, so they may also override them).

Missing judge verdicts: an error by default (a judge-only item without a judge
verdict carries no information, and a labelled item without one changes the
calibration set silently); ``missing_judge="drop"`` (CLI ``--drop-missing-judge``)
drops those rows and reports how many in :attr:`LabelColumns.n_dropped`.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from jaxcert.counts import Counts

__all__ = [
    "DEFAULT_LABELS",
    "LabelColumns",
    "read_labels",
    "counts_from_table",
    "parse_label_map",
]

_ONE = ("1", "1.0", "true", "yes", "y", "fail", "failure")
_ZERO = ("0", "0.0", "false", "no", "n", "pass", "ok")
_MISSING = ("", "na", "n/a", "nan", "null", "none")
#: The default value -> label map (keys are lower-cased, stripped strings).
DEFAULT_LABELS: dict[str, float] = {
    **{k: 1.0 for k in _ONE},
    **{k: 0.0 for k in _ZERO},
    **{k: math.nan for k in _MISSING},
}
FORMATS = ("csv", "jsonl", "parquet")
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet",
               ".pq": "parquet"}


class LabelColumns(NamedTuple):
    """Per-item labels read from a table (unpacks as ``human, judge, n_dropped``).

    Attributes:
      human: float64 array of shape ``(R,)``, 0/1, NaN for judge-only items.
      judge: float64 array of shape ``(R,)``, 0/1.
      n_dropped: rows dropped for a missing judge verdict (``missing_judge="drop"``).
    """

    human: np.ndarray
    judge: np.ndarray
    n_dropped: int


def _key(v: Any) -> str | None:
    """Normalises a cell to a lower-case stripped string; None for null/NaN."""
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)) and math.isnan(v):
        return None
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return str(v).strip().lower()


def _normalise_map(mapping: Mapping | None, name: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in (mapping or {}).items():
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out[_key(k) or ""] = math.nan
            continue
        if isinstance(v, str) and v.strip().lower() in _MISSING:
            out[_key(k) or ""] = math.nan
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            f = -1.0
        if f not in (0.0, 1.0):
            raise ValueError(f"{name} maps {k!r} to {v!r}; map values must be 0, 1 or "
                             "None (missing)")
        out[_key(k) or ""] = f
    return out


def parse_label_map(text: str | None, name: str = "label map") -> dict[str, float]:
    """Parses ``"model_b=1,model_a=0,tie=0"`` (CLI syntax) into a label map.

    A value ``na`` (or empty) maps the key to missing.

    Raises:
      ValueError: an entry without ``=`` or a value other than 0, 1, na.
    """
    if text is None:
        return {}
    out: dict[str, float] = {}
    for part in (p for p in text.split(",") if p.strip()):
        if "=" not in part:
            raise ValueError(f"{name}: entry {part.strip()!r} is not KEY=VALUE "
                             "(expected e.g. 'model_b=1,model_a=0,tie=0')")
        k, v = part.rsplit("=", 1)
        out[k.strip()] = v.strip() or None  # type: ignore[assignment]
    return _normalise_map(out, name)


def _detect_format(path: str, fmt: str | None) -> str:
    if fmt is not None:
        f = fmt.lower()
        if f not in FORMATS:
            raise ValueError(f"fmt must be one of {', '.join(FORMATS)}; got {fmt!r}")
        return f
    ext = os.path.splitext(path)[1].lower()
    if ext not in _EXTENSIONS:
        raise ValueError(f"cannot tell the format of {path!r} from its extension {ext!r}; "
                         f"use a .csv, .jsonl or .parquet file or pass fmt (one of {FORMATS})")
    return _EXTENSIONS[ext]


def _read_csv(path: str) -> tuple[list[str], list[dict]]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        fields = list(reader.fieldnames or [])
    if not fields:
        raise ValueError(f"{path!r} is empty: expected a header line with column names")
    return fields, rows


def _read_jsonl(path: str) -> tuple[list[str], list[dict]]:
    rows, fields = [], {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path!r} line {lineno} is not valid JSON: {e.msg}") from None
            if not isinstance(obj, dict):
                raise ValueError(f"{path!r} line {lineno} is not a JSON object")
            fields.update(dict.fromkeys(obj))
            rows.append(obj)
    return list(fields), rows


def _read_parquet(path: str) -> tuple[list[str], list[dict]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is installed in the test env
        raise ValueError("reading Parquet needs pyarrow: pip install 'jaxcert[parquet]'") from None
    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises its own error types on a bad file
        raise ValueError(f"{path!r} could not be read as Parquet: {e}") from None
    return list(table.column_names), table.to_pylist()


def _read_rows(path, fmt) -> tuple[list[str], list[dict]]:
    path = os.fspath(path)
    kind = _detect_format(path, fmt)
    if not os.path.exists(path):
        raise FileNotFoundError(f"data file not found: {path!r}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"data path is a directory, not a file: {path!r}")
    fields, rows = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}[kind](path)
    if not rows:
        raise ValueError(f"{path!r} has no data rows")
    return fields, rows


def _check_column(col: str, fields: Sequence[str], what: str) -> None:
    if col not in fields:
        raise ValueError(f"{what} column {col!r} not found; available columns: "
                         f"{', '.join(map(repr, fields))}")


def _map_column(rows, col, user_map, what, flag) -> np.ndarray:
    out = np.empty(len(rows), dtype=float)
    for i, row in enumerate(rows):
        k = _key(row.get(col))
        if k is None:
            out[i] = math.nan
        elif k in user_map:
            out[i] = user_map[k]
        elif k in DEFAULT_LABELS:
            out[i] = DEFAULT_LABELS[k]
        else:
            raise ValueError(
                f"{what} column {col!r}, data row {i + 1}: value {row.get(col)!r} is not a "
                f"known label (0/1, true/false, yes/no, fail/pass); map it with "
                f"{what}_map={{{k!r}: 0 or 1}} (CLI: {flag} {k}=0)")
    return out


def read_labels(path, human_col: str, judge_col: str, *, human_map: Mapping | None = None,
                judge_map: Mapping | None = None, fmt: str | None = None,
                where: Mapping[str, Any] | None = None,
                missing_judge: str = "error") -> LabelColumns:
    """Reads a human-label column and a judge-verdict column from a table file.

    Args:
      path: a ``.csv``, ``.jsonl``/``.ndjson`` or ``.parquet`` file (or any path with
        ``fmt`` given). Parquet needs pyarrow (extra ``jaxcert[parquet]``).
      human_col: column with the human label (1 = failure); an empty/null cell marks
        a judge-only item.
      judge_col: column with the judge verdict (1 = judge says failure).
      human_map, judge_map: extra value -> 0/1/None maps (see module docstring).
      fmt: ``"csv"``, ``"jsonl"`` or ``"parquet"``; default from the extension.
      where: keep only rows whose column equals a value (or is in a list of values),
        compared as strings, e.g. ``{"model": "llama2orig"}``.
      missing_judge: ``"error"`` (default) or ``"drop"`` rows without a judge verdict.

    Returns:
      :class:`LabelColumns` ``(human, judge, n_dropped)``, arrays of shape ``(R,)``
      that :meth:`jaxcert.Counts.from_labels` accepts.

    Raises:
      FileNotFoundError: no such file.
      ValueError: unknown format, empty file, missing column (lists the available
        ones), unmapped value (says which, where, and how to map it), missing judge
        verdict, no row left after ``where``.

    Example:
      >>> h, j, _ = read_labels("labels.csv", "human_fail", "judge_fail")  # doctest: +SKIP
    """
    if missing_judge not in ("error", "drop"):
        raise ValueError(f"missing_judge must be 'error' or 'drop'; got {missing_judge!r}")
    fields, rows = _read_rows(path, fmt)
    _check_column(human_col, fields, "human")
    _check_column(judge_col, fields, "judge")
    for col, want in (where or {}).items():
        _check_column(col, fields, "where")
        allowed = {str(w) for w in (want if isinstance(want, (list, tuple, set)) else [want])}
        rows = [r for r in rows if str(r.get(col)) in allowed]
        if not rows:
            raise ValueError(f"no row has {col} in {sorted(allowed)}")
    human = _map_column(rows, human_col, _normalise_map(human_map, "human_map"), "human",
                        "--human-map")
    judge = _map_column(rows, judge_col, _normalise_map(judge_map, "judge_map"), "judge",
                        "--judge-map")
    bad = np.isnan(judge)
    n_dropped = 0
    if bad.any():
        if missing_judge == "error":
            i = int(np.argmax(bad))
            raise ValueError(
                f"judge column {judge_col!r}, data row {i + 1}: missing judge verdict "
                f"({int(bad.sum())} rows in all); every row needs one (or drop them: "
                "missing_judge='drop', CLI --drop-missing-judge)")
        human, judge, n_dropped = human[~bad], judge[~bad], int(bad.sum())
        if judge.size == 0:
            raise ValueError(f"every row lacks a judge verdict in column {judge_col!r}")
    return LabelColumns(human, judge, n_dropped)


def counts_from_table(path, human_col: str, judge_col: str, **kwargs) -> Counts:
    """:class:`~jaxcert.Counts` from a label table (arguments as :func:`read_labels`).

    Example:
      >>> c = counts_from_table("labels.csv", "human_fail", "judge_fail")  # doctest: +SKIP
    """
    human, judge, _ = read_labels(path, human_col, judge_col, **kwargs)
    return Counts.from_labels(human, judge)
