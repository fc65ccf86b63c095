"""The labelled table every reader returns, and the cell-value -> label maps.

A label table has one row per model output, a human label ``Y`` (1 = the output is a
failure; missing for a judge-only item) and a judge verdict ``J`` (1 = the judge calls
it a failure). Cell values are mapped to 0/1 by :data:`DEFAULT_LABELS`
(case-insensitive, surrounding blanks ignored):

==========  ===========================================================
1           ``1``, ``1.0``, ``true``, ``yes``, ``y``, ``fail``, ``failure``
0           ``0``, ``0.0``, ``false``, ``no``, ``n``, ``pass``, ``ok``
missing     empty cell, JSON ``null``, ``na``, ``n/a``, ``null``, ``none``
==========  ===========================================================

A literal ``NaN``/``nan`` in the human column is an error by default: it is what a
failed computation writes, and reading it as "no human label" silently moves an item
from the calibration set to the judge-only set. ``nan_means_missing=True`` (CLI
``--nan-means-missing``) reads it as missing. Any other value is an error unless
``human_map`` / ``judge_map`` maps it (a map value ``None`` means missing; user maps
are consulted before the defaults, so they may also override them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from jaxcert.counts import Counts

__all__ = ["DEFAULT_LABELS", "LabelColumns", "parse_label_map"]

_ONE = ("1", "1.0", "true", "yes", "y", "fail", "failure")
_ZERO = ("0", "0.0", "false", "no", "n", "pass", "ok")
_MISSING = ("", "na", "n/a", "null", "none")
NAN_WORD = "nan"
#: The default value -> label map (keys are lower-cased, stripped strings).
DEFAULT_LABELS: dict[str, float] = {
    **{k: 1.0 for k in _ONE},
    **{k: 0.0 for k in _ZERO},
    **{k: math.nan for k in _MISSING},
}
COUNT_FIELDS = ("n11", "n10", "n01", "n00", "m1", "m0")


class LabelColumns(NamedTuple):
    """Per-item labels read from a table or an evaluation log.

    Two forms: per-item arrays (``human``, ``judge``), or counts only, when a big CSV
    was reduced to counts while streaming (then ``human`` is the scalar
    :class:`~jaxcert.Counts` and ``judge`` is ``None``). Either way
    ``certify(labels.human, labels.judge, ...)`` accepts it, and :attr:`counts` gives
    the sufficient statistics.

    Attributes:
      human: float64 array ``(R,)``, 0/1, NaN for judge-only items (or a ``Counts``).
      judge: float64 array ``(R,)``, 0/1 (or ``None`` with counts).
      n_dropped: rows dropped for a missing judge verdict (``missing_judge="drop"``).
      ids: item identifiers ``(R,)`` (str), where the source has them, else ``None``.
      info: where the labels came from and what was dropped on the way, e.g.
        ``{"format": "inspect", "unscored": 2}`` (JSON-serialisable).
    """

    human: Any
    judge: Any
    n_dropped: int
    ids: np.ndarray | None = None
    info: dict | None = None

    @property
    def counts(self) -> Counts:
        """The six sufficient statistics (:class:`~jaxcert.Counts`)."""
        if isinstance(self.human, Counts):
            return self.human
        return Counts.from_labels(self.human, self.judge)

    @property
    def is_counts_only(self) -> bool:
        """True when only counts were kept (a streamed big file)."""
        return isinstance(self.human, Counts)

    def _columns(self) -> dict:
        if self.is_counts_only:
            return {k: [int(v)] for k, v in zip(COUNT_FIELDS, self.human, strict=True)}
        cols = {} if self.ids is None else {"id": np.asarray(self.ids)}
        cols["human"] = np.asarray(self.human, dtype=float)
        cols["judge"] = np.asarray(self.judge, dtype=float)
        return cols

    def to_pandas(self):
        """A pandas DataFrame: columns ``id`` (if known), ``human`` (NaN = judge-only),
        ``judge``; for counts-only labels, one row with ``n11 ... m0``.

        Raises:
          ImportError: pandas is not installed.
        """
        import pandas as pd

        return pd.DataFrame(self._columns())

    def to_polars(self):
        """The same table as :meth:`to_pandas`, as a polars DataFrame (human NaN ->
        null, polars' missing value).

        Raises:
          ImportError: polars is not installed.
        """
        import polars as pl

        df = pl.DataFrame(self._columns())
        return df.with_columns(pl.col("human").fill_nan(None)) if "human" in df.columns else df


def cell_key(v: Any) -> str | None:
    """Normalises a cell to a lower-case stripped string; None for null."""
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)) and math.isnan(v):
        return NAN_WORD
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return str(v).strip().lower()


def normalise_map(mapping: Mapping | None, name: str) -> dict[str, float]:
    """Checks a user value -> label map and returns it keyed like :func:`cell_key`."""
    out: dict[str, float] = {}
    for k, v in (mapping or {}).items():
        key = cell_key(k) or ""
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out[key] = math.nan
            continue
        if isinstance(v, str) and v.strip().lower() in (*_MISSING, NAN_WORD):
            out[key] = math.nan
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            f = -1.0
        if f not in (0.0, 1.0):
            raise ValueError(f"{name} maps {k!r} to {v!r}; map values must be 0, 1 or "
                             "None (missing)")
        out[key] = f
    return out


def parse_label_map(text: str | None, name: str = "label map") -> dict[str, float]:
    """Parses ``"model_b=1,model_a=0,tie=0"`` (CLI syntax) into a label map.

    A value ``na`` (or empty) maps the key to missing.

    Raises:
      ValueError: an entry without ``=`` or a value other than 0, 1, na.
    """
    if text is None:
        return {}
    out: dict[str, Any] = {}
    for part in (p for p in text.split(",") if p.strip()):
        if "=" not in part:
            raise ValueError(f"{name}: entry {part.strip()!r} is not KEY=VALUE "
                             "(expected e.g. 'model_b=1,model_a=0,tie=0')")
        k, v = part.rsplit("=", 1)
        out[k.strip()] = v.strip() or None
    return normalise_map(out, name)


def label_of(key: str | None, user_map: Mapping[str, float], *, what: str, flag: str,
             nan_ok: bool, where: str, raw: Any) -> float:
    """The 0/1/NaN label of one normalised cell; ``where`` locates it in errors."""
    if key is None:
        return math.nan
    if key in user_map:
        return user_map[key]
    if key in DEFAULT_LABELS:
        return DEFAULT_LABELS[key]
    if key == NAN_WORD:
        if nan_ok:
            return math.nan
        raise ValueError(
            f"{where}: value {raw!r} is a literal NaN, not a {what} label; if it means "
            f"'no {what} label' say so (nan_means_missing=True, CLI --nan-means-missing)")
    raise ValueError(
        f"{where}: value {raw!r} is not a known label (0/1, true/false, yes/no, "
        f"fail/pass); map it with {what}_map={{{key!r}: 0 or 1}} (CLI: {flag} {key}=0)")


def map_values(values, user_map, *, what: str, flag: str, nan_ok: bool, locate) -> np.ndarray:
    """Maps a column of cells to 0/1/NaN, once per distinct value (fast on big columns).

    ``locate(i)`` names row ``i`` in an error message.
    """
    out = np.empty(len(values), dtype=float)
    cache: dict = {}  # raw cell -> label: a column has few distinct values
    for i, raw in enumerate(values):
        try:
            out[i] = cache[(type(raw), raw)]
            continue
        except (KeyError, TypeError):  # TypeError: an unhashable cell (a JSON list)
            pass
        lab = label_of(cell_key(raw), user_map, what=what, flag=flag, nan_ok=nan_ok,
                       where=locate(i), raw=raw)
        try:
            cache[(type(raw), raw)] = lab
        except TypeError:
            pass
        out[i] = lab
    return out
