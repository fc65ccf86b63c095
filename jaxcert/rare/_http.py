"""One JSON POST to an OpenAI-compatible server, with retries that a cancel can cut short.

Error classes decide what is retried: timeouts, connection errors, HTTP 429/5xx and
bodies that are not JSON are *transient* (retried ``max_retries`` times with backoff
``backoff * 2**attempt`` seconds); other HTTP 4xx (bad model name, bad key, a request
the server does not support) are *permanent* and not retried. The backoff sleeps on the
cancel event, so Ctrl-C never waits for a retry schedule.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request

__all__ = ["Transient", "Permanent", "Cancelled", "post_json", "post_with_retries"]


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
