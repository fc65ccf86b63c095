"""Append-only JSONL cache of model evaluations (a killed run resumes for free).

One JSON object per line, written and flushed as soon as a call completes, keyed by
``sha256(json([namespace, template, input, sample, prompt_hash]))``. The namespace of
an endpoint (:func:`endpoint_namespace`) hashes everything that changes the answer:
model, base URL, temperature, max tokens, system prompt, score mode and prompt format,
so changing any of them never reuses an answer given under other settings.

A final record (status ``ok``, ``no_answer`` or ``value``) is never replaced: a later
``error`` line for the same key (another process, a retry after a kill) is ignored on
load and on write. Error records are kept for the record but are not final: a re-run
retries them. A truncated last line (the process was killed mid-write) is skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time

__all__ = ["EvalCache", "cache_key", "endpoint_namespace", "FINAL_STATUSES"]

#: Statuses that end an evaluation (``"error"`` is retried on the next run).
FINAL_STATUSES = ("ok", "no_answer", "value")


def cache_key(namespace: str, template: str, x, sample: int = 0, prompt_hash: str = "") -> str:
    """Stable hex key of one evaluation (model/evaluator, template, input, sample, prompt)."""
    payload = json.dumps(
        [str(namespace), str(template), [int(v) for v in x], int(sample), str(prompt_hash)]
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def endpoint_namespace(**settings) -> str:
    """A short stable hash of an endpoint's settings (every one that changes answers)."""
    payload = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:24]


def _final(rec) -> bool:
    return rec is not None and rec.get("status") in FINAL_STATUSES


class EvalCache:
    """Thread-safe append-only JSONL cache.

    Args:
      path: file to read (if it exists) and append to; ``None`` keeps it in memory.

    Example:
      >>> c = EvalCache(None)
      >>> c.put("k", {"status": "ok", "fail": 0.0})
      >>> c.put("k", {"status": "error", "error": "http_500"})
      >>> c.get("k")["fail"]
      0.0
    """

    def __init__(self, path: str | os.PathLike | None):
        self.path = None if path is None else os.fspath(path)
        self._lock = threading.Lock()
        self._data: dict[str, dict] = {}
        self.skipped_lines = 0
        if self.path is None:
            return
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        if not os.path.exists(self.path):
            return
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                    key = rec["key"]
                except (ValueError, KeyError, TypeError):
                    self.skipped_lines += 1
                    continue
                if not (_final(self._data.get(key)) and not _final(rec)):
                    self._data[key] = rec
        if os.path.getsize(self.path) > 0:
            with open(self.path, "rb") as f:
                f.seek(-1, os.SEEK_END)
                truncated = f.read(1) != b"\n"
            if truncated:  # killed mid-write: start a fresh line
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write("\n")

    def get(self, key: str) -> dict | None:
        """The final record for ``key`` (``None`` if absent or only errors)."""
        rec = self._data.get(key)
        return rec if _final(rec) else None

    def put(self, key: str, record: dict) -> None:
        """Stores and appends one record, unless it is an error for a key already final."""
        rec = {"key": key, "time": time.time(), **record}
        line = json.dumps(rec, sort_keys=True)
        with self._lock:
            if _final(self._data.get(key)) and not _final(rec):
                return
            self._data[key] = rec
            if self.path is not None:
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(line + "\n")

    def __len__(self) -> int:
        return sum(1 for r in self._data.values() if _final(r))

    def close(self) -> None:
        """No-op kept for symmetry: every record is written and closed by :meth:`put`."""
