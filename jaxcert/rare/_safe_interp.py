"""Vectorised interpreter of whitelisted template trees over float64 arrays ``(B,)``.

Trees come from :mod:`jaxcert.rare._safe_expr`, checked against its whitelist before
they get here, so this module trusts their shape. One call evaluates a whole batch.

Semantics (documented deviations from Python)
---------------------------------------------
* All numbers are ``float64``; ``/`` is true division; non-finite results (division
  by zero, overflow) propagate as ``nan``/``inf``, and callers treat them as invalid.
* Integer snapping: ``int``, ``floor``, ``ceil``, ``//``, ``%`` and ``==``/``!=`` treat a
  value within :data:`SNAP_RTOL` (relative) of an integer as that integer, so that
  ``int((1 - 2/5) * 2000 * 2/5)`` is 480 (Python says 479 because of rounding).
* Branches are executed under masks (both sides of an ``if`` run on the rows that
  take them), so every construct is vectorised; per-row results equal Python's.
* DoS limits: a constant exponent must satisfy ``|e| <= MAX_EXPONENT`` (checked at
  parse time; a data-dependent exponent above it gives ``nan``), loops are capped at
  :data:`MAX_LOOP` iterations and a call at :data:`MAX_STEPS` statement executions and
  :data:`MAX_SECONDS` seconds; sources at :data:`MAX_SOURCE_CHARS` characters;
  float arithmetic cannot blow up memory or time the way Python big ints can.
"""

from __future__ import annotations

import ast
import time
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the parser imports this module: no runtime cycle
    from jaxcert.rare._safe_expr import Function

__all__ = ["MAX_EXPONENT", "MAX_LOOP", "MAX_STEPS", "MAX_SECONDS", "SNAP_RTOL", "BINOPS",
           "CMPOPS", "CALLS", "MATH_CONST", "RANDOM", "snap", "equal", "mod", "call_name",
           "eval_expression", "call_function"]

MAX_LOOP = 10_000
MAX_STEPS = 200_000
MAX_SECONDS = 30.0
MAX_EXPONENT = 64
SNAP_RTOL = 1e-9

BINOPS = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.true_divide,
}
CMPOPS = {
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
}
MATH_CONST = {"pi": np.pi, "e": np.e}
RANDOM = {"randint", "uniform", "choice", "random", "randrange"}


def snap(x):
    """Rounds values within SNAP_RTOL (relative) of an integer onto it."""
    r = np.round(x)
    return np.where(np.abs(x - r) <= SNAP_RTOL * np.maximum(1.0, np.abs(x)), r, x)


def equal(a, b):
    """``==`` up to SNAP_RTOL (relative)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.abs(a - b) <= SNAP_RTOL * np.maximum(1.0, np.maximum(np.abs(a), np.abs(b)))


def power(a, b):
    """``a ** b``; ``nan`` where ``|b| > MAX_EXPONENT``."""
    ok = np.abs(b) <= MAX_EXPONENT
    return np.where(ok, np.power(a, np.where(ok, b, 0.0)), np.nan)


def floordiv(a, b):
    """``a // b`` with the quotient snapped first."""
    return np.floor(snap(np.true_divide(a, b)))


def mod(a, b):
    """Python's ``a % b`` (sign of ``b``) on snapped quotients."""
    return a - b * floordiv(a, b)


def round_half_even(x, n=None):
    """Python's ``round(x[, n])`` (ties to even), vectorised over ``n`` too."""
    if n is None:
        return np.round(x)
    n = np.asarray(n)
    if n.ndim == 0:
        return np.round(x, int(n))
    return np.round(x * 10.0**n) / 10.0**n


CALLS = {
    "int": lambda x: np.trunc(snap(x)),
    "float": lambda x: x,
    "round": round_half_even,
    "abs": np.abs,
    "min": lambda *a: np.minimum.reduce(np.broadcast_arrays(*a)),
    "max": lambda *a: np.maximum.reduce(np.broadcast_arrays(*a)),
    "math.floor": lambda x: np.floor(snap(x)),
    "math.ceil": lambda x: np.ceil(snap(x)),
    "math.trunc": lambda x: np.trunc(snap(x)),
    "math.sqrt": np.sqrt,
    "math.pow": power,
    "math.exp": np.exp,
    "math.log": lambda x, b=None: np.log(x) if b is None else np.log(x) / np.log(b),
    "math.log10": np.log10,
    "math.fabs": np.abs,
}


def call_name(node: ast.Call) -> str | None:
    """``"f"`` or ``"module.f"`` for a call node (``None`` for anything else)."""
    f = node.func
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
        return f"{f.value.id}.{f.attr}"
    return None


def _ev(node, env):
    if isinstance(node, ast.Expression):
        return _ev(node.body, env)
    if isinstance(node, ast.Constant):
        return np.float64(node.value)
    if isinstance(node, ast.Name):
        try:
            return env[node.id]
        except KeyError:
            raise ValueError(f"unknown variable {node.id!r} at line {node.lineno}") from None
    if isinstance(node, ast.Attribute):
        return np.float64(MATH_CONST[node.attr])
    if isinstance(node, ast.BinOp):
        a = np.asarray(_ev(node.left, env), dtype=np.float64)
        b = np.asarray(_ev(node.right, env), dtype=np.float64)
        op = type(node.op)
        if op in BINOPS:
            return BINOPS[op](a, b)
        if op is ast.FloorDiv:
            return floordiv(a, b)
        if op is ast.Mod:
            return mod(a, b)
        return power(a, b)
    if isinstance(node, ast.UnaryOp):
        v = _ev(node.operand, env)
        if isinstance(node.op, ast.USub):
            return -np.asarray(v, dtype=np.float64)
        if isinstance(node.op, ast.Not):
            return np.logical_not(v != 0)
        return v
    if isinstance(node, ast.Compare):
        left, out = _ev(node.left, env), True
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = _ev(comp, env)
            if isinstance(op, ast.Eq):
                r = equal(left, right)
            elif isinstance(op, ast.NotEq):
                r = ~equal(left, right)
            else:
                r = CMPOPS[type(op)](left, right)
            out = np.logical_and(out, r)
            left = right
        return out
    if isinstance(node, ast.BoolOp):
        vals = [np.asarray(_ev(v, env)) != 0 for v in node.values]
        f = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        return f.reduce(np.broadcast_arrays(*vals))
    if isinstance(node, ast.IfExp):
        return np.where(_ev(node.test, env) != 0, _ev(node.body, env), _ev(node.orelse, env))
    if isinstance(node, ast.Call):
        name = call_name(node)
        return CALLS[name](*[_ev(a, env) for a in node.args])
    raise ValueError(f"unsupported construct {type(node).__name__}")  # unreachable after checks


def eval_expression(tree: ast.Expression, env: dict) -> np.ndarray:
    """Evaluates a parsed expression on arrays.

    Args:
      tree: output of :func:`parse_expression` (without random calls).
      env: ``{name: float64 array (B,) or scalar}``.

    Returns:
      ``float64`` (or ``bool``) array broadcast to the inputs' shape.
    """
    with np.errstate(all="ignore"):
        return np.asarray(_ev(tree, {k: np.asarray(v, dtype=np.float64) for k, v in env.items()}))


class _Run:
    def __init__(self, shape, where):
        self.result = np.full(shape, np.nan)
        self.done = np.zeros(shape, dtype=bool)
        self.steps = 0
        self.where = where
        self.deadline = time.monotonic() + MAX_SECONDS

    def tick(self, node):
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise ValueError(
                f"{self.where}: step budget of {MAX_STEPS} statements exceeded "
                f"at line {node.lineno}"
            )
        if time.monotonic() > self.deadline:
            raise ValueError(
                f"{self.where}: time budget of {MAX_SECONDS} s exceeded at line {node.lineno}"
            )


def _assign(env, name, value, active):
    old = env.get(name)
    value = np.asarray(value, dtype=np.float64)
    env[name] = value if old is None else np.where(active, value, old)


def _exec(stmts, env, active, run: _Run):
    for s in stmts:
        active = active & ~run.done
        if not active.any():
            return
        run.tick(s)
        if isinstance(s, ast.Assign):
            _assign(env, s.targets[0].id, _ev(s.value, env), active)
        elif isinstance(s, ast.AugAssign):
            _assign(env, s.target.id, _ev(ast.BinOp(s.target, s.op, s.value), env), active)
        elif isinstance(s, ast.Return):
            v = np.asarray(_ev(s.value, env), dtype=np.float64)
            hit = active & ~run.done
            run.result = np.where(hit, v, run.result)
            run.done = run.done | hit
        elif isinstance(s, ast.If):
            t = np.asarray(_ev(s.test, env)) != 0
            _exec(s.body, env, active & t, run)
            _exec(s.orelse, env, active & ~t, run)
        elif isinstance(s, ast.For):
            args = [np.broadcast_to(_ev(a, env), active.shape) for a in s.iter.args]
            step = int(s.iter.args[2].value) if len(args) == 3 else 1
            start, stop = (
                (np.zeros(active.shape), args[0]) if len(args) == 1 else (args[0], args[1])
            )
            start, stop = np.trunc(snap(start)), np.trunc(snap(stop))
            counts = np.where(active, np.ceil((stop - start) / step), 0)
            n = int(np.nanmax(counts, initial=0)) if np.isfinite(counts).all() else MAX_LOOP + 1
            if n > MAX_LOOP:
                raise ValueError(
                    f"{run.where}: loop at line {s.lineno} exceeds {MAX_LOOP} iterations"
                )
            for it in range(n):
                a_it = active & (it < counts) & ~run.done
                if not a_it.any():
                    break
                _assign(env, s.target.id, start + it * step, a_it)
                _exec(s.body, env, a_it, run)
        # Pass, docstrings and `import math` are no-ops.


def call_function(fn: Function, env: dict) -> np.ndarray:
    """Runs a parsed function on arrays of arguments (vectorised, masked branches).

    Args:
      fn: output of :func:`parse_function`.
      env: ``{param: float64 array (B,) or scalar}`` holding every parameter.

    Returns:
      ``float64 (B,)``: the returned value per row (``nan`` where no ``return`` ran).

    Example:
      >>> from jaxcert.rare._safe_expr import parse_function
      >>> f = parse_function("def s(a, b):\\n    c = a - b\\n    return c * 2")
      >>> call_function(f, {"a": np.array([5.0]), "b": np.array([2.0])})
      array([6.])
    """
    env = {**fn.defaults, **env}
    missing = [a for a in fn.args if a not in env]
    if missing:
        raise ValueError(f"{fn.where}: missing argument(s) {missing} for {fn.name}{fn.args}")
    vals = {a: np.asarray(env[a], dtype=np.float64) for a in fn.args}
    shape = np.broadcast_shapes(*(v.shape for v in vals.values())) if vals else ()
    vals = {k: np.broadcast_to(v, shape) for k, v in vals.items()}
    run = _Run(shape, fn.where)
    with np.errstate(all="ignore"):
        _exec(fn.body, vals, np.ones(shape, dtype=bool), run)
    return run.result
