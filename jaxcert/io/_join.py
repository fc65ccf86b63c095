"""Human labels kept in a separate table, joined to an evaluation log on an item key.

Evaluation tools log the judge (a metric, a detector); the human labels live in a
small table the reviewers filled in: key column(s) + a human-label column (values as
in :mod:`jaxcert.io._labels`, 1 = failure). Every labelled key must match an item of
the log: a key that matches nothing is almost always a typo or the wrong file, and
silently turning it into nothing would shrink the calibration set.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

from jaxcert.io._files import check_column, read_rows
from jaxcert.io._labels import map_values, normalise_map

__all__ = ["read_human_table", "join_human"]


def read_human_table(path, keys: Sequence[str], human_col: str, *,
                     human_map: Mapping | None = None,
                     nan_means_missing: bool = False) -> dict[tuple, float]:
    """``{key tuple (as strings): 0/1}`` from a human-label table; blank labels skipped.

    Raises:
      ValueError: a missing column, an unknown label, a key labelled twice.
    """
    path = os.fspath(path)
    fields, rows = read_rows(path, None)
    for k in keys:
        check_column(k, fields, "human-label key")
    check_column(human_col, fields, "human")
    name = os.path.basename(path)
    labels = map_values([r.get(human_col) for r in rows], normalise_map(human_map, "human_map"),
                        what="human", flag="--human-map", nan_ok=nan_means_missing,
                        locate=lambda i: f"{name}, data row {i + 1}, column {human_col!r}")
    out: dict[tuple, float] = {}
    for i, (row, lab) in enumerate(zip(rows, labels, strict=True)):
        if math.isnan(lab):
            continue
        key = tuple(str(row.get(k)) for k in keys)
        if key in out:
            raise ValueError(f"{name}, data row {i + 1}: {dict(zip(keys, key, strict=True))} is "
                             "labelled twice; keep one human label per item")
        out[key] = lab
    return out


def join_human(items: Sequence[tuple], table: dict[tuple, float], *, source: str,
               keys: Sequence[str]) -> list[float]:
    """Human label per item key (NaN = judge-only); every table key must match an item."""
    present = set(items)
    for key in table:
        if key not in present:
            raise ValueError(f"human label for {dict(zip(keys, key, strict=True))} matches no "
                             f"item of {source!r} (wrong file, or a typo in the key?)")
    return [table.get(k, math.nan) for k in items]
