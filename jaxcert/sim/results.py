"""Results of a sweep on disk: tidy table (CSV, Parquet), ``run.json``, chunk files.

Layout of an output directory ``DIR``::

    DIR/run.json                 config, fingerprint, jax version, devices, x64, seed
    DIR/chunks/chunk-000123.npz  additive sums of chunk 123 (written as it finishes)
    DIR/results.csv              one row per (scenario, estimator)
    DIR/results.parquet          same table (if pyarrow is installed)

Files are written atomically (temporary name, then rename). Each chunk file carries a
SHA-256 checksum of its contents and the study fingerprint, so a damaged or foreign
chunk is never summed: :func:`load_chunk` warns (:class:`CorruptChunkWarning`) and the
sweep recomputes it. Chunk files are written by whichever process computed them;
``run.json`` and the tables by JAX process 0 only.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import json
import os
import platform
import subprocess
import warnings

import jax
import numpy as np

__all__ = ["write_table", "read_table", "read_columns", "table_to_pandas", "environment",
           "fingerprint", "write_json", "read_run_json", "chunk_path", "save_chunk", "load_chunk",
           "read_chunk", "ChunkError", "CorruptChunkWarning"]


class CorruptChunkWarning(UserWarning):
    """A checkpointed chunk was unreadable, damaged or foreign; it is recomputed."""


class ChunkError(ValueError):
    """A chunk file that cannot be trusted (unreadable, bad checksum, other study)."""


def is_writer() -> bool:
    """True on the process that writes files (process 0)."""
    return jax.process_index() == 0


def _atomic(path, write):
    tmp = f"{path}.tmp-{os.getpid()}"
    write(tmp)
    os.replace(tmp, path)


def write_json(path, obj) -> None:
    """Writes ``obj`` as indented JSON, atomically (process 0 only)."""
    if not is_writer():
        return

    def write(tmp):
        with open(tmp, "w") as fh:
            fh.write(json.dumps(obj, indent=2, default=_jsonable))

    _atomic(path, write)


def _jsonable(x):
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.integer, np.floating, np.bool_)):
        return x.item()
    return str(x)


def code_version() -> str:
    """jaxcert version plus the git commit (and ``+dirty``) when available."""
    from jaxcert import __version__

    try:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        rev = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return f"{__version__}+g{rev}{'.dirty' if dirty else ''}" if rev else __version__
    except (OSError, subprocess.SubprocessError):  # pragma: no cover
        return __version__


def environment() -> dict:
    """What is needed to re-run a study exactly (versions, devices, precision)."""
    return {
        "jax_version": jax.__version__,
        "jaxcert_version": code_version(),
        "python": platform.python_version(),
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "process_count": jax.process_count(),
        "x64": bool(jax.config.jax_enable_x64),
        "cpu_count": os.cpu_count(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def fingerprint(obj) -> str:
    """SHA-256 (first 16 hex digits) of a JSON-able description of a study."""
    text = json.dumps(obj, sort_keys=True, default=_jsonable)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_run_json(path) -> dict:
    """Reads a sweep's ``run.json``.

    Raises:
      FileNotFoundError: no such file.
      ValueError: not valid JSON or not a JSON object (the message names the file).
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as fh:
            obj = json.load(fh)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is corrupt (not valid JSON: {e}); delete it to start the "
                         "study afresh (matching chunks are re-used) or choose another --out"
                         ) from None
    if not isinstance(obj, dict) or "fingerprint" not in obj:
        raise ValueError(f"{path} is corrupt (no study fingerprint); delete it to start the "
                         "study afresh (matching chunks are re-used) or choose another --out")
    return obj


def chunk_path(out_dir, index: int) -> str:
    return os.path.join(out_dir, "chunks", f"chunk-{index:06d}.npz")


def _checksum(first: int, sums: np.ndarray, fp: str) -> str:
    h = hashlib.sha256()
    h.update(f"{fp}|{int(first)}|{sums.dtype.str}|{sums.shape}|".encode())
    h.update(np.ascontiguousarray(sums).tobytes())
    return h.hexdigest()


def save_chunk(out_dir, index: int, first: int, sums, fp: str) -> None:
    """Saves the sums of chunk ``index`` (scenario rows ``first ...``) with a checksum."""
    path = chunk_path(out_dir, index)
    sums = np.asarray(sums, dtype=np.float64)

    def write(tmp):
        with open(tmp, "wb") as fh:
            np.savez(fh, sums=sums, first=np.int64(first), fingerprint=np.str_(fp),
                     checksum=np.str_(_checksum(first, sums, fp)))

    _atomic(path, write)


def read_chunk(path, fp: str):
    """``(first, sums)`` of the chunk file ``path``, verified against its checksum.

    Raises:
      ChunkError: unreadable, checksum mismatch, or fingerprint other than ``fp``.
    """
    try:
        with open(path, "rb") as fh, np.load(fh) as z:
            first, sums = int(z["first"]), np.array(z["sums"], dtype=np.float64)
            stored_fp, checksum = str(z["fingerprint"]), str(z["checksum"])
    except Exception as e:  # zipfile.BadZipFile, pickle/format errors, truncation...
        raise ChunkError(f"{path} is unreadable ({type(e).__name__}: {e})") from None
    if stored_fp != fp:
        raise ChunkError(f"{path} belongs to another study (fingerprint {stored_fp} != {fp})")
    if checksum != _checksum(first, sums, fp):
        raise ChunkError(f"{path} fails its checksum (damaged on disk)")
    return first, sums


def load_chunk(out_dir, index: int, fp: str):
    """``(first, sums)`` of a finished chunk, or ``None`` if absent or untrustworthy.

    An untrustworthy file (see :func:`read_chunk`) raises a :class:`CorruptChunkWarning`
    and is reported as absent, so the caller recomputes it.
    """
    path = chunk_path(out_dir, index)
    if not os.path.exists(path):
        return None
    try:
        return read_chunk(path, fp)
    except ChunkError as e:
        warnings.warn(f"{e}; recomputing chunk {index}", CorruptChunkWarning, stacklevel=2)
        return None


def write_table(table: dict, out_dir, name: str = "results") -> list[str]:
    """Writes ``table`` (dict of equal-length columns) to CSV and, if possible, Parquet.

    Returns:
      The paths written (Parquet is skipped silently when pyarrow is missing).
    """
    if not is_writer():
        return []
    cols = list(table)
    nrows = len(table[cols[0]]) if cols else 0
    path = os.path.join(out_dir, f"{name}.csv")

    def write(tmp):
        with open(tmp, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(cols)
            for i in range(nrows):
                w.writerow([_cell(table[c][i]) for c in cols])

    _atomic(path, write)
    paths = [path]
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return paths
    arrays = {c: pa.array([_cell(v) for v in table[c]]) for c in cols}
    pq_path = os.path.join(out_dir, f"{name}.parquet")
    _atomic(pq_path, lambda p: pq.write_table(pa.table(arrays), p))
    return paths + [pq_path]


def _cell(v):
    if isinstance(v, (np.floating, float)):
        return float(v)
    if isinstance(v, (np.integer, np.bool_)):
        return v.item()
    return v


def read_columns(out_dir, name: str = "results") -> dict:
    """Reads ``DIR/results.csv`` into a dict of NumPy columns (floats where possible)."""
    path = os.path.join(out_dir, f"{name}.csv")
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise ValueError(f"{path} is empty")
    head, body = rows[0], rows[1:]
    out = {}
    for j, c in enumerate(head):
        vals = [r[j] for r in body]
        try:
            out[c] = np.array([float(v) if v not in ("True", "False") else v == "True"
                               for v in vals])
        except ValueError:
            out[c] = np.array(vals, dtype=object)
    return out


def table_to_pandas(table: dict):
    """A dict of equal-length columns as a :class:`pandas.DataFrame`.

    Raises:
      ImportError: pandas is not installed (the message says how to get it).
    """
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("DataFrames need pandas: pip install pandas") from None
    return pd.DataFrame({k: np.asarray(v) for k, v in table.items()})


def read_table(out_dir, name: str = "results"):
    """Reads ``DIR/results.csv``: a :class:`pandas.DataFrame` when pandas is importable.

    Without pandas, the dict of NumPy columns of :func:`read_columns` (as before).
    """
    cols = read_columns(out_dir, name)
    try:
        return table_to_pandas(cols)
    except ImportError:
        return cols
