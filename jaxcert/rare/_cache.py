"""Append-only JSONL cache of model evaluations (a killed run resumes for free).

One JSON object per line, written and flushed as soon as a call completes, keyed by
``sha256(json([namespace, template, input, sample, prompt_hash]))``. When a key
appears several times the last line wins. A truncated last line (the process was
killed mid-write) is skipped on load. Records whose ``status`` is ``"error"``
(transport failure after retries) are kept for the record but are *not* final: a
re-run retries them.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time

__all__ = ["EvalCache", "cache_key", "FINAL_STATUSES"]

#: Statuses that end an evaluation (``"error"`` is retried on the next run).
FINAL_STATUSES = ("ok", "no_answer", "value")


def cache_key(namespace: str, template: str, x, sample: int = 0, prompt_hash: str = "") -> str:
    """Stable hex key of one evaluation (model/evaluator, template, input, sample, prompt)."""
    payload = json.dumps(
        [str(namespace), str(template), [int(v) for v in x], int(sample), str(prompt_hash)]
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class EvalCache:
    """Thread-safe append-only JSONL cache.

    Args:
      path: file to read (if it exists) and append to; ``None`` keeps it in memory.

    Example:
      >>> c = EvalCache(None)
      >>> c.put("k", {"status": "ok", "fail": 0.0})
      >>> c.get("k")["fail"]
      0.0
    """

    def __init__(self, path: str | os.PathLike | None):
        self.path = None if path is None else os.fspath(path)
        self._lock = threading.Lock()
        self._data: dict[str, dict] = {}
        self.skipped_lines = 0
        if self.path is not None:
            parent = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(parent, exist_ok=True)
            if os.path.exists(self.path):
                with open(self.path, encoding="utf-8") as f:
                    for line in f:
                        try:
                            rec = json.loads(line)
                            self._data[rec["key"]] = rec
                        except (ValueError, KeyError, TypeError):
                            self.skipped_lines += 1
            if os.path.exists(self.path) and os.path.getsize(self.path) > 0:
                with open(self.path, "rb") as f:
                    f.seek(-1, os.SEEK_END)
                    truncated = f.read(1) != b"\n"
                if truncated:  # killed mid-write: start a fresh line
                    with open(self.path, "a", encoding="utf-8") as f:
                        f.write("\n")

    def get(self, key: str) -> dict | None:
        """The final record for ``key`` (``None`` if absent or only errors)."""
        rec = self._data.get(key)
        return rec if rec is not None and rec.get("status") in FINAL_STATUSES else None

    def put(self, key: str, record: dict) -> None:
        """Stores and (with a file) appends one record; the file is closed (flushed) at once."""
        rec = {"key": key, "time": time.time(), **record}
        line = json.dumps(rec, sort_keys=True)
        with self._lock:
            self._data[key] = rec
            if self.path is not None:
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(line + "\n")

    def __len__(self) -> int:
        return sum(1 for r in self._data.values() if r.get("status") in FINAL_STATUSES)

    def close(self) -> None:
        """No-op kept for symmetry: every record is written and closed by :meth:`put`."""
