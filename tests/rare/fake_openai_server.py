"""A fake OpenAI-compatible server for tests: 127.0.0.1, a free port, every request counted
(per question or prompt in ``count``, per path in ``paths``, arrival times in ``arrivals``).

Chat (``POST /v1/chat/completions``): the reply to a question is taken from ``script``
(``{question: [action, ...]}``, consumed in order, the last one repeated) or ``default``.
An action is the reply text, or ``"500"``/``"429"``/``"400"`` (that HTTP status),
``"badjson"`` (a body that is not JSON), ``"nocontent"`` (a reply without the message
content), or ``"sleep:<s>:<action>"``.

Completions (``POST /v1/completions`` with ``echo``): the prompt is tokenised into
whitespace-led words (``\\s*\\S+``, so the tokens tile the text), and token ``t`` gets
log-probability ``token_logprob(t)``. ``logprobs_mode`` imitates servers that do not
return prompt log-probabilities: ``"null"`` (``logprobs: null``), ``"generated"``
(one generated token only, as llama.cpp does), ``"nan"`` (a NaN in the answer span).

Bounded: ``max_requests`` requests at most (then 503), a socket timeout per handler, and
the fixture shuts the server down and closes its socket.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_TOKEN = re.compile(r"\s*\S+")


def default_token_logprob(token: str) -> float:
    """-0.1 per character of the token, leading spaces excluded."""
    return -0.1 * len(token.strip())


class FakeOpenAIServer:
    """See module docstring. ``count`` holds requests per question / prompt."""

    def __init__(self, *, default="#### 0", delay=0.0, logprobs_mode="ok",
                 token_logprob=default_token_logprob, max_requests=5000):
        self.script, self.default, self.delay = {}, default, delay
        self.logprobs_mode, self.token_logprob = logprobs_mode, token_logprob
        self.max_requests, self.count, self.paths = max_requests, Counter(), Counter()
        self.arrivals: list[float] = []  # time.monotonic() of every request
        self.on_arrival = None  # optional hook called (outside the lock) with the arrival count
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer._serve(self, self.path, body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def total(self) -> int:
        with self.lock:
            return sum(self.count.values())

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- replies ---------------------------------------------------------------------
    def _send(self, h, status, payload=None):
        h.send_response(status)
        if payload is not None:
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        if payload is not None:
            h.wfile.write(payload)

    def _serve(self, h, path, body):
        chat = path.endswith("/chat/completions")
        key = body["messages"][-1]["content"] if chat else body.get("prompt", "")
        with self.lock:
            self.paths[path] += 1
            self.arrivals.append(time.monotonic())
            if sum(self.count.values()) >= self.max_requests:
                return self._send(h, 503)
            self.count[key] += 1
            todo = self.script.get(key, [self.default])
            act = todo.pop(0) if len(todo) > 1 else todo[0]
            arrived = len(self.arrivals)
        if self.on_arrival is not None:
            self.on_arrival(arrived)
        if self.delay:
            time.sleep(self.delay)
        if act.startswith("sleep:"):
            _, secs, act = act.split(":", 2)
            time.sleep(float(secs))
        if act in ("500", "429", "400", "503"):
            return self._send(h, int(act))
        if act == "badjson":
            return self._send(h, 200, b"{not json")
        if chat:
            msg = {"role": "assistant"} if act == "nocontent" else {"role": "assistant",
                                                                      "content": act}
            return self._send(h, 200, json.dumps({"choices": [{"message": msg}]}).encode())
        return self._send(h, 200, json.dumps(self._completion(body)).encode())

    def _completion(self, body):
        text = body["prompt"]
        toks = [(m.group(), m.start()) for m in _TOKEN.finditer(text)]
        lps = [None] + [self.token_logprob(t) for t, _ in toks[1:]]
        if self.logprobs_mode == "null":
            return {"choices": [{"text": text if body.get("echo") else "", "logprobs": None}]}
        if self.logprobs_mode == "generated":
            lp = {"tokens": [" 7"], "token_logprobs": [-0.5], "text_offset": [len(text)]}
            return {"choices": [{"text": text + " 7", "logprobs": lp}]}
        if self.logprobs_mode == "nan":
            lps[-1] = math.nan
        lp = {"tokens": [t for t, _ in toks], "token_logprobs": lps,
              "text_offset": [o for _, o in toks], "top_logprobs": None}
        return {"choices": [{"text": text, "logprobs": lp}]}
