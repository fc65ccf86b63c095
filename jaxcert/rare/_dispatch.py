"""Sends each distinct request once per run, concurrently, and stops fast on Ctrl-C.

Why not a ``ThreadPoolExecutor``: its worker threads are joined at interpreter exit, so
an interrupted run would wait for every queued request to be sent. Here the workers are
daemon threads fed from a queue; :meth:`RequestPool.cancel` drops the queue at once,
and requests already on the wire finish (and are cached) only if the process lives on.

Deduplication: a key is looked up in the cache and in the table of requests in flight
under one lock, and a finished job stores its record in the cache *before* it leaves
that table, so two concurrent callers (or one batch holding an input twice) never pay
twice for the same key.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future, wait

__all__ = ["RequestPool"]


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
