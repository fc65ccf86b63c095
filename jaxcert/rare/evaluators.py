"""Evaluators ``X (B, d) int -> failure score (B,) in [0, 1]`` for :func:`estimate`.

* :func:`python_evaluator`: a batched Python callable with shape/range checks.
* :func:`cached_evaluator`: any evaluator behind the on-disk cache (resume for free;
  each distinct input evaluated once, duplicates within a batch included).
* :func:`import_evaluator`: ``"module:function"`` from the command line, checked.
* :func:`metered_evaluator`: counts what an estimate asked, for reports.
* Synthetic "models" with exact failure rates: :mod:`jaxcert.rare.synthetic`.
* Real endpoints: :class:`jaxcert.rare.endpoints.OpenAIEvaluator`.

Every evaluator carries ``cost_per_input``: the inferences one input costs (1 for a 0/1
outcome or an exact failure probability, K for the wrong fraction of K sampled
answers). The estimation side reads ``getattr(evaluate, "cost_per_input", 1)``.
"""

from __future__ import annotations

import inspect

import numpy as np

from jaxcert.rare._cache import EvalCache, cache_key

__all__ = [
    "EvaluationError",
    "check_inputs",
    "python_evaluator",
    "cached_evaluator",
    "import_evaluator",
    "metered_evaluator",
]


class EvaluationError(ValueError):
    """Some model calls failed after all retries (completed calls are cached)."""


def check_inputs(X, d=None) -> np.ndarray:
    """``X`` as int64 ``(B, d)``, or a ValueError naming the expected shape or dtype."""
    X = np.asarray(X)
    if X.ndim != 2 or (d is not None and X.shape[1] != d):
        raise ValueError(f"X must be an int array of shape (B, {d if d is not None else 'd'}); "
                         f"got shape {X.shape}")
    if X.size and not np.issubdtype(X.dtype, np.integer):
        raise ValueError(f"X must hold integer category indices; got dtype {X.dtype}")
    return X.astype(np.int64)


def check_scores(out, B, who) -> np.ndarray:
    """``out`` as float64 ``(B,)`` in ``[0, 1]``, or a ValueError naming ``who`` returned what."""
    out = np.asarray(out, dtype=np.float64)
    out = out.reshape(-1) if out.ndim else out
    if out.shape != (B,):
        raise ValueError(f"{who} must return one failure value per input, shape ({B},); "
                         f"got shape {np.shape(out)}")
    if not np.all(np.isfinite(out)) or np.any(out < 0) or np.any(out > 1):
        lo, hi = (np.nanmin(out), np.nanmax(out)) if out.size else (0, 0)
        raise ValueError(f"{who} must return finite failure fractions in [0, 1]; got values "
                         f"in [{lo}, {hi}]")
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
        X = check_inputs(X, d)
        step = batch_size or max(X.shape[0], 1)
        parts = [
            check_scores(fn(X[s : s + step]), min(step, X.shape[0] - s), name)
            for s in range(0, X.shape[0], step)
        ]
        return np.concatenate(parts) if parts else np.zeros(0)

    evaluate.cost_per_input = getattr(fn, "cost_per_input", 1)
    return evaluate


def cached_evaluator(evaluate, cache: EvalCache, namespace: str, template: str = ""):
    """Puts an evaluator behind :class:`EvalCache`: each distinct input is evaluated once.

    Returns an evaluator with attributes ``calls`` (distinct inputs sent to
    ``evaluate``), ``hits`` (inputs answered without a call: the cache, or a repeat
    within the batch) and ``cost_per_input`` (taken from ``evaluate``, default 1).
    """

    def wrapped(X):
        X = check_inputs(X)
        keys = [cache_key(namespace, template, x) for x in X]
        out = np.empty(X.shape[0])
        first: dict[str, int] = {}  # key -> first row needing a call
        for i, k in enumerate(keys):
            rec = cache.get(k)
            if rec is not None:
                out[i] = rec["fail"]
            elif k not in first:
                first[k] = i
        todo = list(first.values())
        wrapped.hits += X.shape[0] - len(todo)
        if todo:
            vals = check_scores(evaluate(X[todo]), len(todo), "evaluate")
            wrapped.calls += len(todo)
            for i, v in zip(todo, vals, strict=True):
                cache.put(keys[i], {"status": "value", "namespace": namespace,
                                    "template": template, "x": X[i].tolist(), "fail": float(v)})
            for i, k in enumerate(keys):
                if k in first:
                    out[i] = cache.get(k)["fail"]
        return out

    wrapped.calls, wrapped.hits = 0, 0
    wrapped.cost_per_input = getattr(evaluate, "cost_per_input", 1)
    return wrapped


def import_evaluator(spec: str, space):
    """A checked evaluator from ``"module:function"``; ``function(X)`` or ``function(X, space)``.

    Raises:
      ValueError: a malformed spec, a module that does not import, a missing function.
    """
    import importlib

    mod_name, _, fn_name = str(spec).partition(":")
    if not mod_name or not fn_name:
        raise ValueError(f"--evaluator python:module:function expected; got 'python:{spec}'")
    try:
        module = importlib.import_module(mod_name)
    except ImportError as e:
        raise ValueError(f"--evaluator: cannot import module {mod_name!r} ({e})") from None
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise ValueError(f"--evaluator: module {mod_name!r} has no function {fn_name!r}")
    inner = (lambda X: fn(X, space)) if _accepts_space(fn) else fn
    return python_evaluator(inner, d=space.d)


def metered_evaluator(evaluate):
    """Wraps an evaluator to count what an estimate asked of it, for reports.

    The wrapper keeps ``cost_per_input`` and has ``summary()``: inputs scored,
    inferences charged (inputs x cost), the sum of the failure scores, and the number
    of inputs with a score above 0 (for graded scores this is not a failure count).
    """
    counts = {"inputs_scored": 0, "failure_score_sum": 0.0, "inputs_with_failure": 0}
    cost = getattr(evaluate, "cost_per_input", 1)

    def metered(X):
        out = evaluate(X)
        f = np.asarray(out, dtype=np.float64)
        counts["inputs_scored"] += int(f.size)
        counts["failure_score_sum"] += float(np.sum(f))
        counts["inputs_with_failure"] += int(np.sum(f > 0))
        return out

    def summary() -> dict:
        return {**counts, "cost_per_input": cost,
                "inferences_charged": counts["inputs_scored"] * cost}

    metered.cost_per_input, metered.summary = cost, summary
    return metered


def _accepts_space(fn) -> bool:
    try:
        return len(inspect.signature(fn).parameters) >= 2
    except (TypeError, ValueError):
        return False
