"""Reading a human-label column and a judge-verdict column from CSV, JSONL or Parquet.

Accepted cell values and the NaN rule: :mod:`jaxcert.io._labels`. Missing judge
verdicts are an error by default (a judge-only item without a judge verdict carries no
information, and a labelled item without one changes the calibration set silently);
``missing_judge="drop"`` (CLI ``--drop-missing-judge``) drops those rows and reports
how many in :attr:`LabelColumns.n_dropped`.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jaxcert.counts import Counts
from jaxcert.io._labels import LabelColumns, map_values, normalise_map
from jaxcert.io._text import check_file, open_text

__all__ = ["read_labels", "counts_from_table", "FORMATS"]

FORMATS = ("csv", "jsonl", "parquet")
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet",
               ".pq": "parquet"}


def detect_format(path: str, fmt: str | None) -> str:
    """``fmt`` checked, or the format from the file extension."""
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


def one_line(err: Exception) -> str:
    """A library's error message on one line (CLI errors are one line)."""
    return " ".join(str(err).split())


def check_header(path: str, fields: Sequence[str]) -> None:
    """Rejects an empty header and duplicate column names (a reader would keep one)."""
    if not fields:
        raise ValueError(f"{path!r} is empty: expected a header line with column names")
    seen: dict[str, int] = {}
    for i, name in enumerate(fields, start=1):
        if name in seen:
            raise ValueError(f"{path!r}: duplicate column name {name!r} (columns {seen[name]} "
                             f"and {i}); rename one so it is clear which to read")
        seen[name] = i


def _read_csv(path: str) -> tuple[list[str], list[dict]]:
    with open_text(path, newline="") as fh:
        reader = csv.reader(fh)
        fields = next(reader, [])
        check_header(path, fields)
        rows = [dict(zip(fields, r, strict=False)) for r in reader if r]
    return fields, rows


def iter_json_lines(path: str, label: str):
    """Yields ``(line number, value)`` for every non-blank line of a JSON-lines file.

    Every importer of a JSONL format reads through here, so a bad line is reported the
    same way everywhere: ``"<label> line N is not valid JSON: ..."``.
    """
    with open_text(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{label} line {lineno} is not valid JSON: {e.msg}") from None


def _read_jsonl(path: str) -> tuple[list[str], list[dict]]:
    rows, fields = [], {}
    for lineno, obj in iter_json_lines(path, repr(path)):
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
        check_header(path, pq.ParquetFile(path).schema_arrow.names)
        table = pq.read_table(path)
    except ValueError as e:
        if "duplicate column" in str(e):
            raise
        raise ValueError(f"{path!r} could not be read as Parquet: {one_line(e)}") from None
    except Exception as e:  # pyarrow raises its own error types on a bad file
        raise ValueError(f"{path!r} could not be read as Parquet: {one_line(e)}") from None
    return list(table.column_names), table.to_pylist()


def read_rows(path, fmt: str | None) -> tuple[list[str], list[dict]]:
    """Column names and rows (dicts) of a CSV/JSONL/Parquet file."""
    path = os.fspath(path)
    kind = detect_format(path, fmt)
    check_file(path)
    fields, rows = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}[kind](path)
    if not rows:
        raise ValueError(f"{path!r} has no data rows")
    return fields, rows


def check_column(col: str, fields: Sequence[str], what: str) -> None:
    """Raises a ValueError listing the available columns when ``col`` is not one."""
    if col not in fields:
        raise ValueError(f"{what} column {col!r} not found; available columns: "
                         f"{', '.join(map(repr, fields))}")


def finish_labels(human, judge, *, judge_name: str, missing_judge: str, ids=None,
                  info=None) -> LabelColumns:
    """Applies the missing-judge rule and builds the :class:`LabelColumns`."""
    bad = np.isnan(judge)
    n_dropped = 0
    if bad.any():
        if missing_judge == "error":
            i = int(np.argmax(bad))
            raise ValueError(
                f"{judge_name}, data row {i + 1}: missing judge verdict "
                f"({int(bad.sum())} rows in all); every row needs one (or drop them: "
                "missing_judge='drop', CLI --drop-missing-judge)")
        human, judge, n_dropped = human[~bad], judge[~bad], int(bad.sum())
        ids = None if ids is None else np.asarray(ids)[~bad]
        if judge.size == 0:
            raise ValueError(f"every row lacks a judge verdict in {judge_name}")
    return LabelColumns(human, judge, n_dropped, ids, info)


def check_missing_judge(missing_judge: str) -> None:
    if missing_judge not in ("error", "drop"):
        raise ValueError(f"missing_judge must be 'error' or 'drop'; got {missing_judge!r}")


def read_labels(path, human_col: str, judge_col: str, *, human_map: Mapping | None = None,
                judge_map: Mapping | None = None, fmt: str | None = None,
                where: Mapping[str, Any] | None = None, missing_judge: str = "error",
                nan_means_missing: bool = False) -> LabelColumns:
    """Reads a human-label column and a judge-verdict column from a table file.

    Args:
      path: a ``.csv``, ``.jsonl``/``.ndjson`` or ``.parquet`` file (or any path with
        ``fmt`` given); UTF-8, UTF-8 with BOM, or UTF-16/32 with BOM. Parquet needs
        pyarrow (extra ``jaxcert[parquet]``).
      human_col: column with the human label (1 = failure); an empty/null cell marks
        a judge-only item.
      judge_col: column with the judge verdict (1 = judge says failure).
      human_map, judge_map: extra value -> 0/1/None maps (see :mod:`jaxcert.io`).
      fmt: ``"csv"``, ``"jsonl"`` or ``"parquet"``; default from the extension.
      where: keep only rows whose column equals a value (or is in a list of values),
        compared as strings, e.g. ``{"model": "llama2orig"}``.
      missing_judge: ``"error"`` (default) or ``"drop"`` rows without a judge verdict.
      nan_means_missing: read a literal ``NaN`` in the human column as "no human
        label" instead of rejecting it.

    Returns:
      :class:`LabelColumns` with arrays of shape ``(R,)``.

    Raises:
      FileNotFoundError: no such file.
      ValueError: unknown format, empty file, a file that is not UTF-8/UTF-16 text,
        duplicate column names, missing column (lists the available ones), unmapped
        value or literal NaN (says which, where, and how to map it), missing judge
        verdict, no row left after ``where``.

    Example:
      >>> labels = read_labels("labels.csv", "human", "judge")  # doctest: +SKIP
    """
    check_missing_judge(missing_judge)
    fields, rows = read_rows(path, fmt)
    name = os.path.basename(os.fspath(path))
    check_column(human_col, fields, "human")
    check_column(judge_col, fields, "judge")
    for col, want in (where or {}).items():
        check_column(col, fields, "where")
        allowed = {str(w) for w in (want if isinstance(want, (list, tuple, set)) else [want])}
        rows = [r for r in rows if str(r.get(col)) in allowed]
        if not rows:
            raise ValueError(f"no row has {col} in {sorted(allowed)}")
    human = map_values([r.get(human_col) for r in rows], normalise_map(human_map, "human_map"),
                       what="human", flag="--human-map", nan_ok=nan_means_missing,
                       locate=lambda i: f"{name}: human column {human_col!r}, data row {i + 1}")
    judge = map_values([r.get(judge_col) for r in rows], normalise_map(judge_map, "judge_map"),
                       what="judge", flag="--judge-map", nan_ok=True,
                       locate=lambda i: f"{name}: judge column {judge_col!r}, data row {i + 1}")
    return finish_labels(human, judge, judge_name=f"{name}: judge column {judge_col!r}",
                         missing_judge=missing_judge,
                         info={"format": detect_format(os.fspath(path), fmt)})


def counts_from_table(path, human_col: str, judge_col: str, **kwargs) -> Counts:
    """:class:`~jaxcert.Counts` from a label table (arguments as :func:`read_labels`).

    A CSV is reduced to counts while streaming when pyarrow is installed
    (:func:`jaxcert.io.stream_counts`: bounded memory whatever the file size).

    Example:
      >>> c = counts_from_table("labels.csv", "human", "judge")  # doctest: +SKIP
    """
    fmt = kwargs.pop("fmt", None)
    if detect_format(os.fspath(path), fmt) == "csv":
        try:
            import pyarrow.csv  # noqa: F401
        except ImportError:
            pass
        else:
            from jaxcert.io._stream import stream_counts

            return stream_counts(path, human_col, judge_col, progress=False, **kwargs).counts
    return read_labels(path, human_col, judge_col, fmt=fmt, **kwargs).counts
