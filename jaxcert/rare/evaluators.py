"""Evaluators ``X (B, d) int -> failure score (B,) in [0, 1]`` for :func:`estimate`.

* :func:`python_evaluator`: a batched Python callable with shape/range checks.
* :func:`cached_evaluator`: any evaluator behind the on-disk cache (resume for free;
  each distinct input evaluated once, duplicates within a batch included).
* :func:`planted_evaluator`, :func:`planted_corner_evaluator`: synthetic "models" over
  a :class:`TemplateSpace` with exact failure rates by enumeration.
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
    "planted_evaluator",
    "planted_corner_evaluator",
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


def _check_out(out, B, who) -> np.ndarray:
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
            _check_out(fn(X[s : s + step]), min(step, X.shape[0] - s), name)
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
            vals = _check_out(evaluate(X[todo]), len(todo), "evaluate")
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
        X = check_inputs(X, space.d)
        out = np.asarray(failure(space.values(X)), dtype=np.float64).reshape(X.shape[0])
        return _check_out(out, X.shape[0], "failure")

    evaluate.cost_per_input = 1
    valid = space.enumerate(valid_only=True)
    if valid.shape[0] == 0:
        raise ValueError(f"space {getattr(space, 'id', space)!r} has no valid input")
    mu = float(np.mean(evaluate(valid)))
    return evaluate, mu


def _hashed_uniforms(flat: np.ndarray, draw: int, seed: int) -> np.ndarray:
    """Uniforms in [0, 1) fixed by (input, draw, seed): a model's answers do not change
    when it is asked again (splitmix64 of the flat input index)."""
    z = flat.astype(np.uint64) * np.uint64(1_000_003) + np.uint64(draw * 7919 + seed * 104_729)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def planted_corner_evaluator(space, mass: float = 1e-4, samples: int | None = None, *,
                             score: str | None = None, seed: int = 0):
    """A synthetic model whose failures concentrate at the "all variables large" corner.

    With normalised distances ``u_j = (K_j - 1 - x_j) / (K_j - 1)`` from the top of each
    (sorted) latent grid, the model's failure probability is ``p(x) = exp(-lam sum_j u_j)``:
    1 at the corner, decaying away from it (the analogue of
    :func:`jaxcert.rare.synthetic.planted_landscape` "concentrated"). ``lam`` is solved by
    bisection so that the exact mean of ``p`` over the valid inputs equals ``mass``.
    What the evaluator returns follows the score modes of :mod:`jaxcert.rare.scoring`:

    * ``score="logprob"`` (or ``None`` with ``samples=None``): ``p(x)`` itself, as
      teacher forcing would give; cost 1.
    * ``score="binary"``: ``1{U(x) < p(x)}`` with a uniform ``U`` fixed per input (and
      ``seed``), like greedy decoding failing on some inputs of a hard region; cost 1.
    * ``score="samples:K"``: the fraction of K such fixed draws that fail; cost K.
    * ``samples=K`` (legacy, no ``score``): the deterministic quantisation
      ``floor(K p(x)) / K``, exactly 0 far from the corner (then the closest rate at or
      below ``mass`` is reached); cost K.

    Returns:
      ``(evaluate, mu)``: the evaluator (with ``cost_per_input`` and ``lam``) and the
      exact failure rate of what it returns, by enumeration of the valid inputs.
    """
    from jaxcert.rare.scoring import parse_score

    if not (0.0 < mass < 1.0):
        raise ValueError(f"mass must be in (0, 1); got {mass!r}")
    if samples is not None and (not isinstance(samples, int) or samples < 1):
        raise ValueError(f"samples must be a positive int or None; got {samples!r}")
    if samples is not None and score is not None:
        raise ValueError("give samples (legacy quantisation) or score, not both")
    mode = parse_score(score) if score is not None else None
    valid = space.enumerate(valid_only=True)
    if valid.shape[0] == 0:
        raise ValueError(f"space {getattr(space, 'id', space)!r} has no valid input")
    den = np.maximum(np.asarray(space.sizes, dtype=np.float64) - 1.0, 1.0)
    top = np.asarray(space.sizes) - 1
    dist = np.sum((top - valid) / den, axis=1)

    def prob(dist, lam):
        if samples is None:
            return np.exp(-lam * dist)
        return np.floor(samples * np.exp(-lam * dist) + 1e-12) / samples

    def mean(lam):
        return float(np.mean(prob(dist, lam)))

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
    draws = 0 if mode is None or mode.kind == "logprob" else mode.samples

    def evaluate(X):
        X = check_inputs(X, space.d)
        p = prob(np.sum((top - X) / den, axis=1), lam)
        if not draws:
            return p
        flat = np.ravel_multi_index(X.T, space.sizes)
        hits = [_hashed_uniforms(flat, k, seed) < p for k in range(draws)]
        return np.mean(hits, axis=0)

    evaluate.lam = lam
    evaluate.cost_per_input = draws or (1 if samples is None else samples)
    return evaluate, float(np.mean(evaluate(valid)))


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
