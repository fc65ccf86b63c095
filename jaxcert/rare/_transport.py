"""Sending requests to a model server: one POST with retries, and a pool that sends each
distinct request once per run and stops fast on Ctrl-C.

Retries: timeouts, connection errors, HTTP 429/5xx and bodies that are not JSON are
*transient* (retried ``max_retries`` times with backoff ``backoff * 2**attempt``
seconds); other HTTP 4xx (bad model name, bad key, a request the server does not
support) are *permanent* and not retried. The backoff sleeps on the cancel event, so
Ctrl-C never waits for a retry schedule.

Why not a ``ThreadPoolExecutor``: its worker threads are joined at interpreter exit, so
an interrupted run would wait for every queued request to be sent. Here the workers are
daemon threads fed from a queue; :meth:`RequestPool.cancel` drops the queue at once,
and requests already on the wire (paid for) get a short grace to land in the cache.

Deduplication: a key is looked up in the cache and in the table of requests in flight
under one lock, and a finished job stores its record in the cache *before* it leaves
that table, so two concurrent callers (or one batch holding an input twice) never pay
twice for the same key.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import urllib.error
import urllib.request
from concurrent.futures import Future, wait

__all__ = ["Transient", "Permanent", "Cancelled", "post_json", "post_with_retries", "RequestPool"]


class Transient(Exception):
    """Worth retrying; ``str`` is the reason (``http_500``, ``timeout``...)."""


class Permanent(Exception):
    """Not worth retrying (HTTP 4xx other than 429); ``str`` is the reason."""


class Cancelled(Exception):
    """The run was cancelled (Ctrl-C) before this request was sent."""


def post_json(url: str, body: dict, api_key: str | None, timeout: float) -> dict:
    """POSTs ``body`` and returns the parsed JSON reply (raises Transient / Permanent)."""
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            payload = resp.read()
    except urllib.error.HTTPError as e:
        detail = ""
        try:
            detail = e.read(300).decode("utf-8", "replace").strip().splitlines()[0]
        except (OSError, IndexError):
            pass
        if e.code == 429 or e.code >= 500:
            raise Transient(f"http_{e.code}") from None
        raise Permanent(f"http_{e.code}" + (f" ({detail})" if detail else "")) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, socket.timeout) as e:
        reason = getattr(e, "reason", e)
        timed_out = isinstance(reason, (socket.timeout, TimeoutError)) or "timed out" in str(reason)
        raise Transient("timeout" if timed_out else "connection") from None
    except OSError:  # reset mid-read and the like
        raise Transient("connection") from None
    try:
        reply = json.loads(payload)
    except ValueError:
        raise Transient("malformed_response") from None
    if not isinstance(reply, dict):
        raise Transient("malformed_response")
    return reply


def post_with_retries(send, *, max_retries: int, backoff: float, cancel: threading.Event,
                      on_error=None):
    """Calls ``send()`` until it returns, retrying :class:`Transient` errors.

    Args:
      send: a zero-argument callable doing one request (and parsing it); it raises
        :class:`Transient` or :class:`Permanent`.
      max_retries, backoff: retries after the first try, base seconds of the backoff.
      cancel: when set, no new try starts (raises :class:`Cancelled`).
      on_error: ``on_error(reason)`` for every failed try (for counters).

    Returns:
      ``(value, attempts)`` on success.

    Raises:
      Permanent: carrying the last reason (retries exhausted, or a permanent error).
      Cancelled: the cancel event was set.
    """
    last = "error"
    for attempt in range(max_retries + 1):
        if attempt and cancel.wait(backoff * 2 ** (attempt - 1)):
            raise Cancelled()
        if cancel.is_set():
            raise Cancelled()
        try:
            return send(), attempt + 1
        except Transient as e:
            last = str(e)
            if on_error is not None:
                on_error(last)
        except Permanent as e:
            if on_error is not None:
                on_error(str(e).split(" ")[0])
            raise
    raise Permanent(last)


class RequestPool:
    """Daemon worker threads with per-key deduplication against a cache.

    Args:
      workers: number of concurrent requests.
      cache: an object with ``get(key) -> record | None`` (final records only).
    """

    def __init__(self, workers: int, cache):
        self.workers, self.cache = workers, cache
        self.cancelled = threading.Event()
        self._queue: queue.Queue = queue.Queue()
        self._inflight: dict[str, Future] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def _start(self):
        while len(self._threads) < self.workers:
            t = threading.Thread(target=self._work, daemon=True, name="jaxcert-request")
            t.start()
            self._threads.append(t)

    def _work(self):
        while True:
            key, job, fut = self._queue.get()
            try:
                if self.cancelled.is_set() or not fut.set_running_or_notify_cancel():
                    fut.cancel()
                    continue
                try:
                    fut.set_result(job())
                except BaseException as e:  # handed to the waiting caller
                    fut.set_exception(e)
            finally:
                with self._lock:
                    if self._inflight.get(key) is fut:
                        del self._inflight[key]

    def submit(self, key: str, job) -> tuple[Future, str]:
        """Future of ``job()`` for ``key``, and where it came from: cache | shared | new.

        ``job`` must store its final record in the cache before returning.
        """
        with self._lock:
            rec = self.cache.get(key)
            if rec is not None:
                fut: Future = Future()
                fut.set_result(rec)
                return fut, "cache"
            if key in self._inflight:
                return self._inflight[key], "shared"
            fut = Future()
            self._inflight[key] = fut
        self._start()
        self._queue.put((key, job, fut))
        return fut, "new"

    def wait_all(self, futures, progress=None, poll: float = 0.2, grace: float = 1.5) -> None:
        """Waits for ``futures``; on Ctrl-C cancels the queue and re-raises.

        Requests already on the wire are paid for: they get ``grace`` seconds to land
        in the cache (so a re-run does not send them again) before the interrupt
        propagates; a second Ctrl-C skips the wait.
        """
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=poll)
                if progress is not None and done:
                    progress.update(len(done))
        except KeyboardInterrupt:
            self.cancel()
            wait(pending, timeout=grace)
            raise

    def cancel(self) -> None:
        """Stops sending: queued requests are cancelled, workers take no new job."""
        self.cancelled.set()
        while True:
            try:
                key, _, fut = self._queue.get_nowait()
            except queue.Empty:
                break
            fut.cancel()
            with self._lock:
                if self._inflight.get(key) is fut:
                    del self._inflight[key]

    def resume(self) -> None:
        """Accepts requests again after :meth:`cancel` (the queue was emptied then)."""
        self.cancelled.clear()
