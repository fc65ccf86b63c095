"""Evaluating a model behind an OpenAI-compatible server (vLLM, llama.cpp, Ollama, hosted).

:class:`OpenAIEvaluator` is an evaluator ``X (B, d) int -> failure score (B,) in [0, 1]``
for :func:`jaxcert.rare.estimate`, with the score modes of :mod:`jaxcert.rare.scoring`:

* ``"binary"`` and ``"samples:K"`` send the rendered question to ``/chat/completions``.
* ``"logprob"`` sends prompt + reference answer to ``/completions`` with
  ``echo=true, logprobs=1, max_tokens=0`` and scores ``1 - exp(sum answer logprobs)``.
  Servers: vLLM returns prompt log-probabilities this way (the OpenAI legacy
  completions API did too); llama.cpp's ``llama-server`` rejects ``echo`` or returns
  log-probabilities of generated tokens only, and Ollama's OpenAI endpoint has no
  ``echo``: on those the first request fails with one clear line, before the rest of
  the batch is sent.

Every call costs what ``cost_per_input`` says (K for ``samples:K``, else 1), and the
estimation side reads that attribute to count inferences honestly.

Error policy (never a silent pass): transient failures (timeouts, connection errors,
HTTP 429/5xx, bodies that are not JSON or lack the answer field) are retried
``max_retries`` times with exponential backoff; a call still failing is cached with
status ``"error"`` (not final), the rest of the batch completes and is cached, and then
:class:`~jaxcert.rare.evaluators.EvaluationError` (a ``ValueError``) is raised. A re-run
resumes from the cache and retries only the failed calls. Ctrl-C cancels every queued
request at once (see :mod:`jaxcert.rare._transport`); completed calls are already on disk.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from collections import Counter

import numpy as np

from jaxcert.rare._cache import EvalCache, cache_key, endpoint_namespace
from jaxcert.rare._transport import (
    Permanent,
    RequestPool,
    Transient,
    post_json,
    post_with_retries,
)
from jaxcert.rare.evaluators import EvaluationError, check_inputs
from jaxcert.rare.scoring import (
    MalformedReply,
    answer_is_correct,
    answer_logprob,
    extract_answer,
    parse_score,
    teacher_forcing_prompt,
)

__all__ = ["OpenAIEvaluator", "DEFAULT_SYSTEM_PROMPT"]

DEFAULT_SYSTEM_PROMPT = (
    "Solve the math word problem. Reason step by step, then write the final answer as a "
    "single number on the last line in the form '#### <number>'."
)
_UNSUPPORTED = (
    "the server at {url} returned no prompt log-probabilities for echo=true "
    "(--score logprob needs them: vLLM supports it; llama.cpp server and Ollama do not); "
    "use --score binary or samples:K"
)


class OpenAIEvaluator:
    """Failure scores of a model on rendered template questions via an OpenAI-style API.

    Args:
      space: a :class:`~jaxcert.rare.templates.TemplateSpace` (``render``, ``answers``, ``id``).
      base_url: e.g. ``"http://localhost:8000/v1"``; model: model name sent in requests.
      score: ``"binary"`` | ``"samples:K"`` | ``"logprob"`` (:mod:`jaxcert.rare.scoring`).
      api_key: bearer token; default ``$OPENAI_API_KEY`` (may be unset for local servers).
      concurrency: parallel requests; timeout: seconds per request.
      max_retries, backoff: retries after the first try, base seconds of the backoff.
      temperature, max_tokens, system_prompt: request options (all part of the cache key).
      rtol, atol: answer tolerance; cache_dir: folder of ``evaluations.jsonl`` (``None``:
        memory only); progress: a progress bar over the requests of each batch.

    Attributes:
      cost_per_input: inferences paid per input; requests: HTTP requests sent (retries
        included); hits: evaluations answered without a request (cache, or a duplicate
        of a request in flight); errors: ``Counter`` of statuses and error reasons.

    Example:
      >>> ev = OpenAIEvaluator(space, "http://localhost:8000/v1", "qwen2.5-math-7b",
      ...                      score="logprob", cache_dir="runs/qwen")   # doctest: +SKIP
      >>> estimate(jax.random.key(0), space, ev, 3000)                   # doctest: +SKIP
    """

    def __init__(self, space, base_url: str, model: str, *, score="binary",
                 api_key: str | None = None, concurrency: int = 8, timeout: float = 60.0,
                 max_retries: int = 3, backoff: float = 1.0, temperature: float = 0.0,
                 max_tokens: int | None = None, system_prompt: str = DEFAULT_SYSTEM_PROMPT,
                 rtol: float = 1e-6, atol: float = 1e-6, cache_dir=None, progress: bool = False):
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL such as "
                             f"'http://localhost:8000/v1'; got {base_url!r}")
        if not isinstance(model, str) or not model:
            raise ValueError(f"model must be a non-empty string; got {model!r}")
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be a positive int; got {concurrency!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be an int >= 0; got {max_retries!r}")
        if not (timeout > 0 and math.isfinite(backoff) and backoff >= 0):
            raise ValueError(f"timeout must be > 0 and backoff >= 0; got {timeout!r}, {backoff!r}")
        if not (rtol >= 0 and atol >= 0):
            raise ValueError(f"rtol and atol must be >= 0; got {rtol!r}, {atol!r}")
        if not (math.isfinite(temperature) and temperature >= 0):
            raise ValueError(f"temperature must be >= 0; got {temperature!r}")
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
            raise ValueError(f"max_tokens must be a positive int or None; got {max_tokens!r}")
        self.mode = parse_score(score)
        if self.mode.kind == "samples" and temperature == 0:
            raise ValueError(f"score={str(self.mode)!r} with temperature 0 pays "
                             f"{self.mode.samples} times for the same greedy answer; "
                             "set a temperature > 0")
        self.space, self.model, self.base_url = space, model, base_url.rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.timeout, self.max_retries, self.backoff = timeout, max_retries, backoff
        self.temperature, self.max_tokens, self.system_prompt = temperature, max_tokens, system_prompt
        self.rtol, self.atol, self.progress = rtol, atol, progress
        self.cost_per_input = self.mode.cost_per_input
        self._template = str(getattr(space, "id", "space"))
        self.namespace = endpoint_namespace(
            model=model, base_url=self.base_url, temperature=temperature, max_tokens=max_tokens,
            system_prompt=system_prompt, score=str(self.mode), prompt_format="v1")
        path = None if cache_dir is None else os.path.join(os.fspath(cache_dir), "evaluations.jsonl")
        self.cache = EvalCache(path)
        self.pool = RequestPool(concurrency, self.cache)
        self.requests, self.hits, self.errors = 0, 0, Counter()
        self._lock = threading.Lock()
        self._logprobs_checked = False

    # -- one request ---------------------------------------------------------------
    def _count(self, what: str, n: int = 1) -> None:
        with self._lock:
            self.errors[what] += n

    def _post(self, path: str, body: dict) -> dict:
        with self._lock:
            self.requests += 1
        return post_json(self.base_url + path, body, self.api_key, self.timeout)

    def _chat(self, question: str, sample: int) -> str:
        body = {"model": self.model, "temperature": self.temperature,
                "messages": [{"role": "system", "content": self.system_prompt},
                             {"role": "user", "content": question}]}
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        if self.mode.kind == "samples":
            body["seed"] = sample
        reply = self._post("/chat/completions", body)
        try:
            text = reply["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise Transient("malformed_response") from None
        if not isinstance(text, str):
            raise Transient("malformed_response")
        return text

    def _teacher_forced(self, text: str) -> dict:
        body = {"model": self.model, "prompt": text, "echo": True, "logprobs": 1,
                "max_tokens": 0, "temperature": 0.0}
        return self._post("/completions", body)

    def _job(self, key: str, x, sample: int, question: str, expected: float) -> dict:
        meta = {"model": self.model, "base_url": self.base_url, "score": str(self.mode),
                "template": self._template, "x": [int(v) for v in x], "sample": sample,
                "expected": expected}
        logprob = self.mode.kind == "logprob"
        if logprob:
            text, start = teacher_forcing_prompt(self.system_prompt, question, expected)
            send = lambda: self._teacher_forced(text)  # noqa: E731
        else:
            send = lambda: self._chat(question, sample)  # noqa: E731
        try:
            reply, attempts = post_with_retries(send, max_retries=self.max_retries,
                                                backoff=self.backoff, cancel=self.pool.cancelled,
                                                on_error=self._count)
            if logprob:
                lp = answer_logprob(reply, text, start)
                rec = {"status": "ok", "fail": float(-math.expm1(lp)), "logprob": lp}
            else:
                y = extract_answer(reply)
                wrong = y is None or not answer_is_correct(y, expected, self.rtol, self.atol)
                rec = {"status": "ok" if y is not None else "no_answer", "fail": float(wrong),
                       "reply": reply, "extracted": y}
                if y is None:
                    self._count("no_answer")
            rec.update(meta, attempts=attempts)
        except (Permanent, MalformedReply) as e:
            if isinstance(e, MalformedReply):
                self._count(str(e))
            rec = {"status": "error", "error": str(e), **meta}
        self.cache.put(key, rec)
        return rec

    # -- a batch -------------------------------------------------------------------
    def __call__(self, X) -> np.ndarray:
        X = check_inputs(X, getattr(self.space, "d", None))
        self.pool.resume()  # a batch after an interrupted one (e.g. in a notebook) runs again
        answers = np.asarray(self.space.answers(X), dtype=np.float64)
        futures = np.empty((X.shape[0], self.mode.samples), dtype=object)
        new = []
        for i, x in enumerate(X):
            question = self.space.render(x)
            phash = hashlib.sha256((self.system_prompt + "\n" + question).encode()).hexdigest()[:16]
            for s in range(self.mode.samples):
                key = cache_key(self.namespace, self._template, x, s, phash)
                job = (lambda k=key, x=x, s=s, q=question, a=float(answers[i]):
                       self._job(k, x, s, q, a))
                if self.mode.kind == "logprob" and not self._logprobs_checked:
                    self._check_logprobs(key, job)
                fut, origin = self.pool.submit(key, job)
                futures[i, s] = fut
                if origin == "new":
                    new.append(fut)
                else:
                    with self._lock:
                        self.hits += 1
        bar = None
        if self.progress and new:
            from tqdm import tqdm

            bar = tqdm(total=len(new), desc="model calls", leave=False)
        try:
            self.pool.wait_all(new, bar)
        finally:
            if bar is not None:
                bar.close()
        fails, failed = np.zeros(futures.shape), Counter()
        for idx, fut in np.ndenumerate(futures):
            rec = fut.result()
            if rec["status"] == "error":
                failed[rec["error"]] += 1
            else:
                fails[idx] = rec["fail"]
        if failed:
            n = sum(failed.values())
            raise EvaluationError(
                f"{n} of {futures.size} model calls failed after {self.max_retries} retries "
                f"({dict(failed)}); completed calls are cached, re-run to resume")
        return fails.mean(axis=1)

    def _check_logprobs(self, key: str, job) -> None:
        """Sends one teacher-forced request alone first: an unsupported server costs one call."""
        fut, origin = self.pool.submit(key, job)
        self.pool.wait_all([fut])
        rec = fut.result()
        if rec["status"] == "error":
            if rec["error"] == "no_prompt_logprobs":
                raise EvaluationError(_UNSUPPORTED.format(url=self.base_url))
            raise EvaluationError(f"the first teacher-forced call to {self.base_url} failed after "
                                  f"{self.max_retries} retries ({rec['error']}); re-run to resume")
        self._logprobs_checked = True
        if origin == "new":
            with self._lock:
                self.hits -= 1  # the submit in __call__ finds this record in the cache

    def summary(self) -> dict:
        """Counts for reports: requests, cache hits, cached evaluations, errors, cost."""
        return {"requests": self.requests, "cache_hits": self.hits, "cached": len(self.cache),
                "errors": dict(self.errors), "score": str(self.mode),
                "cost_per_input": self.cost_per_input}
