"""Results of a sweep on disk: tidy table (CSV, Parquet), ``run.json``, chunk files.

Layout of an output directory ``DIR``::

    DIR/run.json                 config, fingerprint, jax version, devices, x64, seed
    DIR/chunks/chunk-000123.npz  additive sums of chunk 123 (written as it finishes)
    DIR/results.csv              one row per (scenario, estimator)
    DIR/results.parquet          same table (if pyarrow is installed)

Files are written atomically (temporary name, then rename) and only by JAX process 0.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import json
import os
import platform
import subprocess

import jax
import numpy as np

__all__ = ["write_table", "read_table", "environment", "fingerprint", "write_json",
           "chunk_path", "save_chunk", "load_chunk"]


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


def chunk_path(out_dir, index: int) -> str:
    return os.path.join(out_dir, "chunks", f"chunk-{index:06d}.npz")


def save_chunk(out_dir, index: int, first: int, sums, fp: str) -> None:
    """Saves the sums of chunk ``index`` (scenario rows ``first ...``), atomically."""
    if not is_writer():
        return
    path = chunk_path(out_dir, index)

    def write(tmp):
        with open(tmp, "wb") as fh:
            np.savez(fh, sums=sums, first=np.int64(first), fingerprint=np.str_(fp))

    _atomic(path, write)


def load_chunk(out_dir, index: int, fp: str):
    """``(first, sums)`` of a finished chunk, or ``None`` if absent or from another study."""
    path = chunk_path(out_dir, index)
    if not os.path.exists(path):
        return None
    try:
        with np.load(path) as z:
            if str(z["fingerprint"]) != fp:
                return None
            return int(z["first"]), np.array(z["sums"])
    except (OSError, ValueError, KeyError, EOFError):  # a truncated file: recompute it
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


def read_table(out_dir, name: str = "results") -> dict:
    """Reads ``DIR/results.csv`` back into a dict of NumPy columns (floats where possible)."""
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
