"""Model evaluators ``X (B, d) int -> failure fraction (B,) in [0, 1]`` for :func:`estimate`.

* :func:`python_evaluator`: a batched Python callable with shape/range checks.
* :func:`cached_evaluator`: any evaluator behind the on-disk cache (resume for free).
* :func:`planted_evaluator`: a synthetic "model" over a :class:`TemplateSpace` that fails
  exactly on a planted set of inputs, with the exact failure rate by enumeration.
* :class:`OpenAIChatEvaluator`: any OpenAI-compatible ``/v1/chat/completions`` server
  (vLLM, llama.cpp server, Ollama, hosted APIs), standard library only.

Answer extraction (documented rule)
-----------------------------------
Take the text after the last ``####`` if present, else the content of the last
``\\boxed{...}``, else the whole reply; in it, the **last** number (``-?`` digits with
optional thousands commas and decimals; commas removed). A reply with no number is a
*model failure* with status ``"no_answer"``. The extracted number ``y`` is correct iff
``|y - a| <= atol + rtol |a|`` for the exact answer ``a`` (defaults 1e-6, 1e-6).

Error policy (never a silent pass)
----------------------------------
Timeouts, connection errors, HTTP 429/5xx and malformed JSON are retried
``max_retries`` times with exponential backoff ``backoff * 2**attempt`` seconds. A call
still failing is recorded in the cache with status ``"error"`` (not final), the rest of
the batch completes and is cached, and then :class:`EvaluationError` (a ``ValueError``)
is raised: the estimate stops instead of counting the input as pass or fail; re-running
resumes from the cache and retries only the failed calls. HTTP 4xx other than 429
(bad model name, bad key) are not retried. ``errors`` counts all of these.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from jaxcert.rare._cache import EvalCache, cache_key

__all__ = [
    "EvaluationError",
    "python_evaluator",
    "cached_evaluator",
    "planted_evaluator",
    "planted_corner_evaluator",
    "extract_answer",
    "OpenAIChatEvaluator",
    "DEFAULT_SYSTEM_PROMPT",
]

DEFAULT_SYSTEM_PROMPT = (
    "Solve the math word problem. Reason step by step, then write the final answer as a "
    "single number on the last line in the form '#### <number>'."
)
_NUM_RE = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


class EvaluationError(ValueError):
    """Some model calls failed after all retries (completed calls are cached)."""


def _check_X(X, d=None) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2 or (d is not None and X.shape[1] != d):
        raise ValueError(
            f"X must be an int array of shape (B, {d if d is not None else 'd'}); "
            f"got shape {X.shape}"
        )
    if X.size and not np.issubdtype(X.dtype, np.integer):
        raise ValueError(f"X must hold integer category indices; got dtype {X.dtype}")
    return X.astype(np.int64)


def _check_out(out, B, who) -> np.ndarray:
    out = (
        np.asarray(out, dtype=np.float64).reshape(-1)
        if np.ndim(out)
        else np.asarray(out, dtype=np.float64)
    )
    if out.shape != (B,):
        raise ValueError(
            f"{who} must return one failure value per input, shape ({B},); "
            f"got shape {np.shape(out)}"
        )
    if not np.all(np.isfinite(out)) or np.any(out < 0) or np.any(out > 1):
        raise ValueError(
            f"{who} must return finite failure fractions in [0, 1]; got values in "
            f"[{np.nanmin(out) if out.size else 0}, {np.nanmax(out) if out.size else 0}]"
        )
    return out


def python_evaluator(fn, batch_size: int | None = None, *, d: int | None = None):
    """Wraps a batched callable ``fn(X) -> (B,)`` failures into a checked evaluator.

    Args:
      fn: callable taking an int64 array ``(B, d)``; returns failures in ``[0, 1]``
        (bools allowed) of shape ``(B,)``.
      batch_size: call ``fn`` on chunks of at most this many rows (``None``: one call).
      d: expected number of columns (checked when given).

    Returns:
      ``evaluate(X) -> float64 (B,)``.

    Example:
      >>> ev = python_evaluator(lambda X: X[:, 0] == 3, batch_size=2)
      >>> ev(np.array([[3], [1], [3]])).tolist()
      [1.0, 0.0, 1.0]
    """
    if not callable(fn):
        raise ValueError(f"fn must be callable X -> failures; got {fn!r}")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be a positive int or None; got {batch_size!r}")
    name = getattr(fn, "__name__", "fn")

    def evaluate(X):
        X = _check_X(X, d)
        step = batch_size or max(X.shape[0], 1)
        parts = [
            _check_out(fn(X[s : s + step]), min(step, X.shape[0] - s), name)
            for s in range(0, X.shape[0], step)
        ]
        return np.concatenate(parts) if parts else np.zeros(0)

    return evaluate


def cached_evaluator(evaluate, cache: EvalCache, namespace: str, template: str = ""):
    """Puts an evaluator behind :class:`EvalCache`: each input is evaluated at most once.

    Returns an evaluator with attributes ``calls`` (inputs sent to ``evaluate``) and
    ``hits`` (inputs answered from the cache).
    """

    def wrapped(X):
        X = _check_X(X)
        keys = [cache_key(namespace, template, x) for x in X]
        out = np.empty(X.shape[0])
        todo = []
        for i, k in enumerate(keys):
            rec = cache.get(k)
            if rec is None:
                todo.append(i)
            else:
                out[i] = rec["fail"]
        wrapped.hits += X.shape[0] - len(todo)
        if todo:
            vals = _check_out(evaluate(X[todo]), len(todo), "evaluate")
            wrapped.calls += len(todo)
            for i, v in zip(todo, vals, strict=True):
                out[i] = v
                cache.put(
                    keys[i],
                    {
                        "status": "value",
                        "namespace": namespace,
                        "template": template,
                        "x": X[i].tolist(),
                        "fail": float(v),
                    },
                )
        return out

    wrapped.calls, wrapped.hits = 0, 0
    return wrapped


def planted_evaluator(space, failure):
    """A synthetic model over a template space with a planted failure function.

    Args:
      space: a :class:`jaxcert.rare.templates.TemplateSpace`.
      failure: ``failure(values) -> (B,)`` bool or fraction in ``[0, 1]`` (e.g. the
        fraction of wrong sampled answers), with ``values = space.values(X)``
        (``{variable: float64 (B,)}``), e.g. ``lambda v: (v["x"] > 150) & (v["y"] % 2 == 1)``.

    Returns:
      ``(evaluate, mu)``: the evaluator and the exact failure rate under the nominal
      distribution (uniform over valid inputs), by enumeration of the space.
    """

    def evaluate(X):
        X = _check_X(X, space.d)
        out = np.asarray(failure(space.values(X)), dtype=np.float64).reshape(X.shape[0])
        return _check_out(out, X.shape[0], "failure")

    valid = space.enumerate(valid_only=True)
    if valid.shape[0] == 0:
        raise ValueError(f"space {getattr(space, 'id', space)!r} has no valid input")
    mu = float(np.mean(evaluate(valid)))
    return evaluate, mu


def planted_corner_evaluator(space, mass: float = 1e-4, samples: int | None = None):
    """A synthetic model whose failures concentrate at the "all variables large" corner.

    With normalised distances ``u_j = (K_j - 1 - x_j) / (K_j - 1)`` from the top of each
    (sorted) latent grid, the failure fraction is the fraction of ``samples`` sampled
    answers that are wrong, ``F(x) = floor(samples * exp(-lam sum_j u_j)) / samples``:
    1 at the corner, decaying away from it, and exactly 0 far from it (like a model that
    is reliable except around a hard setting). ``samples=None`` (default) keeps the
    unquantised ``exp(-lam sum_j u_j)`` (positive everywhere, so CEM always has a signal;
    the analogue of :func:`jaxcert.rare.synthetic.planted_landscape` "concentrated").
    ``lam`` is solved by bisection so that the exact mean of ``F`` over the valid inputs
    (enumeration) equals ``mass`` (quantised ``F`` is a step function of ``lam``: then the
    closest rate at or below ``mass`` is reached, and the realised rate is returned).

    Returns:
      ``(evaluate, mu)``: the evaluator and the exact realised failure rate.
    """
    if not (0.0 < mass < 1.0):
        raise ValueError(f"mass must be in (0, 1); got {mass!r}")
    valid = space.enumerate(valid_only=True)
    if valid.shape[0] == 0:
        raise ValueError(f"space {getattr(space, 'id', space)!r} has no valid input")
    den = np.maximum(np.asarray(space.sizes, dtype=np.float64) - 1.0, 1.0)
    top = np.asarray(space.sizes) - 1
    dist = np.sum((top - valid) / den, axis=1)

    if samples is not None and (not isinstance(samples, int) or samples < 1):
        raise ValueError(f"samples must be a positive int or None; got {samples!r}")

    def score(dist, lam):
        if samples is None:
            return np.exp(-lam * dist)
        return np.floor(samples * np.exp(-lam * dist) + 1e-12) / samples

    def mean(lam):
        return float(np.mean(score(dist, lam)))

    lo, hi = 0.0, 1.0
    while mean(hi) > mass and hi < 1e6:
        hi *= 2.0
    if mean(hi) > mass:
        raise ValueError(
            f"mass={mass} is below what the corner of this space can carry ({mean(hi):.3g})"
        )
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if mean(mid) > mass else (lo, mid)
    lam = hi

    def evaluate(X):
        X = _check_X(X, space.d)
        return score(np.sum((top - X) / den, axis=1), lam)

    evaluate.lam = lam
    return evaluate, mean(lam)


def extract_answer(text: str) -> float | None:
    """The final number of a reply (rule in the module docstring); ``None`` if none."""
    if not isinstance(text, str):
        return None
    if "####" in text:
        seg = text.rsplit("####", 1)[1]
    else:
        boxes = re.findall(r"\\boxed\{([^{}]*)\}", text)
        seg = boxes[-1] if boxes else text
    nums = _NUM_RE.findall(seg)
    if not nums:
        return None
    try:
        return float(nums[-1].replace(",", ""))
    except ValueError:  # pragma: no cover - regex guarantees a number
        return None


class _Transient(Exception):
    pass


class OpenAIChatEvaluator:
    """Evaluates a chat model on rendered template questions via an OpenAI-compatible API.

    For each input ``x`` and sample ``s < samples_per_input`` the question
    ``space.render(x)`` is sent to ``{base_url}/chat/completions``; the failure value of
    ``x`` is the fraction of its samples whose extracted answer is wrong (see module
    docstring for extraction, tolerance and the error policy). Every completed call is
    appended to ``{cache_dir}/evaluations.jsonl`` keyed by (model, template, input,
    sample, prompt hash), so a killed run resumes without paying twice.

    Args:
      space: a :class:`TemplateSpace` (``render``, ``answers``, ``id``).
      base_url: e.g. ``"http://localhost:8000/v1"``.
      model: model name sent in the request.
      api_key: bearer token; default ``$OPENAI_API_KEY`` (may be unset for local servers).
      concurrency: parallel requests (threads).
      timeout: seconds per request; max_retries: retries after the first try;
      backoff: base seconds of the exponential backoff.
      temperature, max_tokens: sampling options; samples_per_input: K answers per input.
      system_prompt: system message; rtol, atol: answer tolerance.
      cache_dir: directory of the JSONL cache (``None``: in memory only).

    Attributes:
      requests: HTTP requests sent; hits: evaluations served from the cache;
      errors: ``Counter`` of statuses/errors (``no_answer``, ``http_500``, ``timeout``...).

    Example:
      >>> ev = OpenAIChatEvaluator(space, "http://localhost:8000/v1", "qwen2.5-math-7b",
      ...                          cache_dir="runs/qwen")            # doctest: +SKIP
      >>> estimate(jax.random.key(0), space, ev, 3000)               # doctest: +SKIP
    """

    def __init__(
        self,
        space,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 1.0,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        samples_per_input: int = 1,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        rtol: float = 1e-6,
        atol: float = 1e-6,
        cache_dir=None,
    ):
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"base_url must be an http(s) URL such as 'http://localhost:8000/v1'; "
                f"got {base_url!r}"
            )
        if not isinstance(model, str) or not model:
            raise ValueError(f"model must be a non-empty string; got {model!r}")
        for name, v in (("concurrency", concurrency), ("samples_per_input", samples_per_input)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int; got {v!r}")
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be an int >= 0; got {max_retries!r}")
        if not (timeout > 0 and backoff >= 0 and rtol >= 0 and atol >= 0):
            raise ValueError("timeout must be > 0 and backoff, rtol, atol >= 0")
        self.space, self.model = space, model
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.concurrency, self.timeout, self.max_retries, self.backoff = (
            concurrency,
            timeout,
            max_retries,
            backoff,
        )
        self.temperature, self.max_tokens, self.samples = temperature, max_tokens, samples_per_input
        self.system_prompt, self.rtol, self.atol = system_prompt, rtol, atol
        path = (
            None if cache_dir is None else os.path.join(os.fspath(cache_dir), "evaluations.jsonl")
        )
        self.cache = EvalCache(path)
        self.requests, self.hits, self.errors = 0, 0, Counter()
        self._lock = threading.Lock()
        self._template = str(getattr(space, "id", "space"))

    # -- one call --------------------------------------------------------------
    def _post(self, question: str, sample: int) -> str:
        body = {
            "model": self.model,
            "temperature": self.temperature,
            "messages": [
                {"role": "system", "content": self.system_prompt},
                {"role": "user", "content": question},
            ],
        }
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        if self.samples > 1:
            body["seed"] = sample
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(
            self.url, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        with self._lock:
            self.requests += 1
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                payload = resp.read()
        except urllib.error.HTTPError as e:
            if e.code == 429 or e.code >= 500:
                raise _Transient(f"http_{e.code}") from None
            raise RuntimeError(f"http_{e.code}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            reason = getattr(e, "reason", e)
            kind = (
                "timeout"
                if isinstance(reason, (socket.timeout, TimeoutError)) or "timed out" in str(reason)
                else "connection"
            )
            raise _Transient(kind) from None
        try:
            return json.loads(payload)["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            raise _Transient("malformed_response") from None

    def _count(self, what):
        with self._lock:
            self.errors[what] += 1

    def _job(self, key, x, sample, question, expected):
        last = "error"
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                text = self._post(question, sample)
            except _Transient as e:
                last = str(e)
                self._count(last)
                continue
            except RuntimeError as e:
                last = str(e)
                self._count(last)
                break
            y = extract_answer(text)
            if y is None:
                self._count("no_answer")
                rec = {"status": "no_answer", "fail": 1.0, "reply": text, "extracted": None}
            else:
                wrong = not abs(y - expected) <= self.atol + self.rtol * abs(expected)
                rec = {"status": "ok", "fail": float(wrong), "reply": text, "extracted": y}
            rec.update(
                model=self.model,
                template=self._template,
                x=[int(v) for v in x],
                sample=sample,
                expected=expected,
                attempts=attempt + 1,
            )
            self.cache.put(key, rec)
            return rec
        rec = {
            "status": "error",
            "error": last,
            "model": self.model,
            "template": self._template,
            "x": [int(v) for v in x],
            "sample": sample,
        }
        self.cache.put(key, rec)
        return rec

    # -- a batch -----------------------------------------------------------------
    def __call__(self, X) -> np.ndarray:
        X = _check_X(X, getattr(self.space, "d", None))
        answers = np.asarray(self.space.answers(X), dtype=np.float64)
        fails = np.zeros((X.shape[0], self.samples))
        jobs = []
        for i, x in enumerate(X):
            question = self.space.render(x)
            phash = hashlib.sha256((self.system_prompt + "\n" + question).encode()).hexdigest()[:16]
            for s in range(self.samples):
                key = cache_key(self.model, self._template, x, s, phash)
                rec = self.cache.get(key)
                if rec is not None:
                    self.hits += 1
                    fails[i, s] = rec["fail"]
                else:
                    jobs.append((i, s, key, x, question))
        failed = []
        if jobs:
            with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                futs = [
                    (i, s, pool.submit(self._job, key, x, s, q, float(answers[i])))
                    for i, s, key, x, q in jobs
                ]
                for i, s, f in futs:
                    rec = f.result()
                    if rec["status"] == "error":
                        failed.append(rec["error"])
                    else:
                        fails[i, s] = rec["fail"]
        if failed:
            raise EvaluationError(
                f"{len(failed)} of {len(jobs)} model calls failed after {self.max_retries} retries "
                f"({dict(Counter(failed))}); completed calls are cached, re-run to resume"
            )
        return fails.mean(axis=1)

    def summary(self) -> dict:
        """Counts for reports: requests, cache hits, cached evaluations, errors."""
        return {
            "requests": self.requests,
            "cache_hits": self.hits,
            "cached": len(self.cache),
            "errors": dict(self.errors),
        }


def _accepts_space(fn) -> bool:
    try:
        return len(inspect.signature(fn).parameters) >= 2
    except (TypeError, ValueError):
        return False
