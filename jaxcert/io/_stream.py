"""Big CSV files reduced to counts while streaming, in bounded memory.

A certificate needs only the six counts ``(n11, n10, n01, n00, m1, m0)``, so a label
table of tens of millions of rows never has to be held in memory: pyarrow reads only
the needed columns in blocks as dictionary arrays, each block's distinct cell values
are mapped to labels once, and a 3x3 table of (human, judge) codes is accumulated.
Memory is a few blocks whatever the file size; a tqdm progress bar on stderr shows
the bytes read.
"""

from __future__ import annotations

import csv
import ctypes
import io
import math
import os
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

from jaxcert.counts import Counts
from jaxcert.io._files import check_column, check_header, check_missing_judge, one_line
from jaxcert.io._labels import LabelColumns, cell_key, label_of, normalise_map
from jaxcert.io._text import check_file, open_text

__all__ = ["stream_counts", "STREAM_MIN_BYTES"]

#: ``jaxcert estimate`` streams CSV files at least this big (when pyarrow is installed).
STREAM_MIN_BYTES = 64 * 2**20
_ARROW_ENCODING = {"utf-8": "utf8", "utf-8-sig": "utf8", "utf-16": "utf-16", "utf-32": "utf-32"}


class _CountingReader(io.RawIOBase):
    """A binary file that counts the bytes handed out (for the progress bar)."""

    def __init__(self, path: str):
        self._fh = open(path, "rb")
        self.pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = self._fh.readinto(buf)
        self.pos += n or 0
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


def _codes(column, user_map, *, what, col, flag, nan_ok, locate, name) -> np.ndarray:
    """Label codes 0/1/2 (2 = missing) of one block's column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    enc = column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column)
    idx = enc.indices.to_numpy(zero_copy_only=False)
    table = np.empty(len(enc.dictionary), dtype=np.int8)
    for k, raw in enumerate(enc.dictionary.to_pylist()):
        key = cell_key(raw)
        try:
            lab = label_of(key, user_map, what=what, flag=flag, nan_ok=nan_ok, where="", raw=raw)
        except ValueError:
            row = locate(np.argmax(idx == k))
            label_of(key, user_map, what=what, flag=flag, nan_ok=nan_ok, raw=raw,
                     where=f"{name}: {what} column {col!r}, data row {row}")
        table[k] = 2 if math.isnan(lab) else int(lab)
    return table[idx]


def _progress_bar(progress: bool | None, total: int, path: str):
    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # the bar is optional
        return None
    return tqdm(total=total, unit="B", unit_scale=True, file=sys.stderr,
                desc=os.path.basename(path), leave=False)


def _open_reader(pcsv, pa, source, path, cols, block_size, encoding):
    """pyarrow's streaming CSV reader over ``cols``, read as dictionary arrays."""
    try:
        return pcsv.open_csv(
            source,
            read_options=pcsv.ReadOptions(
                block_size=block_size, encoding=_ARROW_ENCODING.get(encoding.lower(), encoding)),
            convert_options=pcsv.ConvertOptions(
                include_columns=cols,
                column_types={c: pa.dictionary(pa.int32(), pa.string()) for c in cols}))
    except pa.ArrowInvalid as e:
        raise ValueError(f"{path!r} could not be parsed as CSV: {one_line(e)}") from None


def _batches(reader, path, pa):
    """The reader's record batches; a parse error becomes a one-line ValueError."""
    while True:
        try:
            yield reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as e:
            raise ValueError(f"{path!r} could not be parsed as CSV: {one_line(e)}") from None


def _filter(batch, where, pa, pc):
    """Rows of ``batch`` passing ``where`` and their positions (None: all rows kept)."""
    if not where:
        return batch, None
    mask = None
    for col, allowed in where.items():
        m = pc.is_in(batch.column(col).cast(pa.string()), value_set=pa.array(allowed))
        mask = m if mask is None else pc.and_(mask, m)
    return batch.filter(mask), np.flatnonzero(mask.to_numpy(zero_copy_only=False))


def _return_memory(pa) -> None:
    """Hands the blocks' memory back to the OS before the certificate's compile needs its own.

    Arrow's pool keeps freed blocks, and glibc's heap keeps the holes the per-block NumPy
    arrays leave (about 100 MB after 18M rows); a first run compiles the certificate next
    (a transient ~300 MB), and the peak is the sum of the two.
    """
    pa.default_memory_pool().release_unused()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc (musl): nothing to trim
            pass


def stream_counts(path, human_col: str, judge_col: str, *, human_map: Mapping | None = None,
                  judge_map: Mapping | None = None, where: Mapping[str, Any] | None = None,
                  missing_judge: str = "error", nan_means_missing: bool = False,
                  progress: bool | None = None, block_size: int = 4 * 2**20) -> LabelColumns:
    """Reads a CSV label table in blocks and keeps only the counts.

    Same arguments, label rules and errors as :func:`jaxcert.io.read_labels` (CSV only).

    Args:
      progress: tqdm bar on stderr (``None``: when stderr is a terminal; needs tqdm).
      block_size: bytes per block; memory use is a small multiple of it.

    Returns:
      counts-only :class:`LabelColumns` (``human`` is the :class:`~jaxcert.Counts`,
      ``judge`` is ``None``), ``info["rows"]`` the number of data rows read.

    Raises:
      ValueError: as :func:`~jaxcert.io.read_labels`; also a row the CSV parser
        cannot split (with pyarrow's message).
      ImportError: pyarrow is not installed (extra ``jaxcert[parquet]``).

    Example:
      >>> labels = stream_counts("big.csv", "human", "judge")  # doctest: +SKIP
      >>> labels.counts.N  # doctest: +SKIP
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    check_missing_judge(missing_judge)
    path = os.fspath(path)
    name = os.path.basename(path)
    check_file(path)
    with open_text(path, newline="") as fh:
        encoding = fh.encoding
        fields = next(csv.reader(fh), [])
    check_header(path, fields)
    check_column(human_col, fields, "human")
    check_column(judge_col, fields, "judge")
    where = {c: [str(v) for v in (w if isinstance(w, (list, tuple, set)) else [w])]
             for c, w in (where or {}).items()}
    for col in where:
        check_column(col, fields, "where")
    cols = list(dict.fromkeys([human_col, judge_col, *where]))
    hmap, jmap = normalise_map(human_map, "human_map"), normalise_map(judge_map, "judge_map")
    source = _CountingReader(path)
    bar = _progress_bar(progress, os.path.getsize(path), path)
    try:
        reader = _open_reader(pcsv, pa, source, path, cols, block_size, encoding)
        table, rows, kept = np.zeros(9, dtype=np.int64), 0, 0
        for batch in _batches(reader, path, pa):
            start, rows = rows, rows + batch.num_rows
            batch, pos = _filter(batch, where, pa, pc)

            def locate(i, start=start, pos=pos):
                return start + int(i if pos is None else pos[i]) + 1

            h = _codes(batch.column(human_col), hmap, what="human", col=human_col,
                       flag="--human-map", nan_ok=nan_means_missing, locate=locate, name=name)
            j = _codes(batch.column(judge_col), jmap, what="judge", col=judge_col,
                       flag="--judge-map", nan_ok=True, locate=locate, name=name)
            if missing_judge == "error" and (j == 2).any():
                raise ValueError(
                    f"{name}: judge column {judge_col!r}, data row {locate(np.argmax(j == 2))}: "
                    "missing judge verdict; every row needs one (or drop them: "
                    "missing_judge='drop', CLI --drop-missing-judge)")
            table += np.bincount(h.astype(np.int64) * 3 + j, minlength=9)
            kept += batch.num_rows
            if bar is not None:
                bar.update(source.pos - bar.n)
    finally:
        source.close()
        if bar is not None:
            bar.close()
        _return_memory(pa)
    if rows == 0:
        raise ValueError(f"{path!r} has no data rows")
    if kept == 0:
        raise ValueError(f"no row has {', '.join(f'{c} in {sorted(v)}' for c, v in where.items())}")
    t = table.reshape(3, 3)  # [human code, judge code], code 2 = missing
    n_dropped = int(t[:, 2].sum())
    if n_dropped == kept:
        raise ValueError(f"every row lacks a judge verdict in judge column {judge_col!r}")
    counts = Counts.create(n11=t[1, 1], n10=t[1, 0], n01=t[0, 1], n00=t[0, 0], m1=t[2, 1],
                           m0=t[2, 0])
    if float(counts.n) == 0:
        raise ValueError("no human-labelled item: at least one row needs a human label")
    return LabelColumns(counts, None, n_dropped, None,
                        {"format": "csv", "streamed": True, "rows": rows})
