"""A restricted, vectorised interpreter for template expressions and solution functions.

Template data is data, not trusted code: VarBench's ``func``/``input_range`` and
GSM-ALT's ``abstracted_final_answer``/``constraints`` are Python source written by
others. Nothing here calls ``eval``/``exec``. Source is parsed with :mod:`ast`, every
node is checked against a whitelist, and the tree is interpreted by a small
interpreter over NumPy ``float64`` arrays of shape ``(B,)``, so one call evaluates a
whole batch of inputs.

Whitelist
---------
Expressions: numbers and ``True``/``False``, names, ``+ - * / // % **``, unary
``+ - not``, comparisons (chained), ``and``/``or`` (as element-wise logical and/or),
``a if c else b``, and calls to ``int float round abs min max`` and
``math.floor ceil sqrt pow exp log log10 fabs trunc`` (``math.pi``, ``math.e``).
Functions (``def solution(a, b): ...``): assignments to names, augmented
assignments, ``return``, ``if``/``elif``/``else``, ``for v in range(...)`` with at
most :data:`MAX_LOOP` iterations, ``pass``, docstrings, and ``import math`` (ignored).
Anything else raises ``ValueError("<where>: unsupported construct <Node> at line L")``.

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
from typing import NamedTuple

import numpy as np

__all__ = [
    "MAX_EXPONENT",
    "MAX_LOOP",
    "MAX_STEPS",
    "MAX_SECONDS",
    "SNAP_RTOL",
    "Function",
    "parse_expression",
    "parse_function",
    "eval_expression",
    "call_function",
    "expression_names",
]

MAX_EXPONENT = 64
MAX_LOOP = 10_000
MAX_STEPS = 200_000
MAX_SECONDS = 30.0
MAX_SOURCE_CHARS = 20_000
SNAP_RTOL = 1e-9

_BINOPS = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.true_divide,
}
_CMPOPS = {
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
}
_FUNCS = {"int", "float", "round", "abs", "min", "max"}
_MATH = {"floor", "ceil", "sqrt", "pow", "exp", "log", "log10", "fabs", "trunc"}
_MATH_CONST = {"pi": np.pi, "e": np.e}
_RANDOM = {"randint", "uniform", "choice", "random", "randrange"}


def _snap(x):
    """Rounds values within SNAP_RTOL (relative) of an integer onto it."""
    r = np.round(x)
    return np.where(np.abs(x - r) <= SNAP_RTOL * np.maximum(1.0, np.abs(x)), r, x)


def _eq(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.abs(a - b) <= SNAP_RTOL * np.maximum(1.0, np.maximum(np.abs(a), np.abs(b)))


def _pow(a, b):
    ok = np.abs(b) <= MAX_EXPONENT
    return np.where(ok, np.power(a, np.where(ok, b, 0.0)), np.nan)


def _floordiv(a, b):
    return np.floor(_snap(np.true_divide(a, b)))


def _mod(a, b):
    return a - b * _floordiv(a, b)


def _round(x, n=None):
    if n is None:
        return np.round(x)
    n = np.asarray(n)
    if n.ndim == 0:
        return np.round(x, int(n))
    return np.round(x * 10.0**n) / 10.0**n


_CALLS = {
    "int": lambda x: np.trunc(_snap(x)),
    "float": lambda x: x,
    "round": _round,
    "abs": np.abs,
    "min": lambda *a: np.minimum.reduce(np.broadcast_arrays(*a)),
    "max": lambda *a: np.maximum.reduce(np.broadcast_arrays(*a)),
    "math.floor": lambda x: np.floor(_snap(x)),
    "math.ceil": lambda x: np.ceil(_snap(x)),
    "math.trunc": lambda x: np.trunc(_snap(x)),
    "math.sqrt": np.sqrt,
    "math.pow": _pow,
    "math.exp": np.exp,
    "math.log": lambda x, b=None: np.log(x) if b is None else np.log(x) / np.log(b),
    "math.log10": np.log10,
    "math.fabs": np.abs,
}


def _fail(where: str, node: ast.AST, what: str | None = None) -> ValueError:
    name = what or type(node).__name__
    return ValueError(f"{where}: unsupported construct {name} at line {getattr(node, 'lineno', 1)}")


def _call_name(node: ast.Call) -> str | None:
    f = node.func
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
        return f"{f.value.id}.{f.attr}"
    return None


def _check_expr(node: ast.AST, where: str, allow_random: bool) -> None:
    """Raises ValueError unless every node of ``node`` is whitelisted."""
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or isinstance(node.value, (int, float)):
            if isinstance(node.value, int) and abs(node.value) > 10**15:
                raise _fail(where, node, f"integer literal {node.value} (too large)")
            return
        raise _fail(where, node, f"constant {node.value!r}")
    if isinstance(node, ast.Name):
        if node.id.startswith("__"):
            raise _fail(where, node, f"name {node.id}")
        return
    if isinstance(node, ast.Attribute):
        if (
            isinstance(node.value, ast.Name)
            and node.value.id == "math"
            and node.attr in _MATH_CONST
        ):
            return
        raise _fail(where, node, f"attribute {ast.unparse(node)}")
    if isinstance(node, ast.BinOp):
        if not isinstance(node.op, (*_BINOPS, ast.FloorDiv, ast.Mod, ast.Pow)):
            raise _fail(where, node, type(node.op).__name__)
        if isinstance(node.op, ast.Pow):
            e = node.right
            if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.USub):
                e = e.operand
            if isinstance(e, ast.Constant) and abs(e.value) > MAX_EXPONENT:
                raise _fail(where, node, f"exponent {e.value} (|e| > {MAX_EXPONENT})")
        _check_expr(node.left, where, allow_random)
        _check_expr(node.right, where, allow_random)
        return
    if isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.UAdd, ast.USub, ast.Not)):
            raise _fail(where, node, type(node.op).__name__)
        _check_expr(node.operand, where, allow_random)
        return
    if isinstance(node, ast.Compare):
        for op in node.ops:
            if not isinstance(op, (*_CMPOPS, ast.Eq, ast.NotEq)):
                raise _fail(where, node, type(op).__name__)
        for sub in [node.left, *node.comparators]:
            _check_expr(sub, where, allow_random)
        return
    if isinstance(node, ast.BoolOp):
        for sub in node.values:
            _check_expr(sub, where, allow_random)
        return
    if isinstance(node, ast.IfExp):
        for sub in (node.test, node.body, node.orelse):
            _check_expr(sub, where, allow_random)
        return
    if isinstance(node, ast.Call):
        name = _call_name(node)
        if node.keywords:
            raise _fail(where, node, f"keyword arguments in call to {name}")
        if name in _CALLS:
            for a in node.args:
                _check_expr(a, where, allow_random)
            return
        if allow_random and name is not None and name.startswith("random.") and name[7:] in _RANDOM:
            for a in node.args:
                if isinstance(a, ast.List) and name == "random.choice":
                    for el in a.elts:
                        _check_expr(el, where, False)
                else:
                    _check_expr(a, where, allow_random)
            return
        raise _fail(where, node, f"call to {name or ast.unparse(node.func)}")
    raise _fail(where, node)


def _check_size(src: str, where: str) -> None:
    if len(src) > MAX_SOURCE_CHARS:
        raise ValueError(f"{where}: source has {len(src)} characters (> {MAX_SOURCE_CHARS})")


def parse_expression(
    src: str, where: str = "expression", allow_random: bool = False
) -> ast.Expression:
    """Parses ``src`` into a whitelisted expression tree.

    Args:
      src: Python expression source (e.g. ``"(z / p * q) / (y - x)"``).
      where: prefix of error messages (e.g. ``"template varbench:0"``).
      allow_random: accept ``random.randint/uniform/choice/random/randrange`` calls;
        they are *never executed* here: the template loader replaces them by latent
        variables (domain descriptions).

    Returns:
      The ``ast.Expression``; evaluate it with :func:`eval_expression`.
    """
    if not isinstance(src, str):
        src = str(src)
    try:
        _check_size(src, where)
        tree = ast.parse(src.strip(), mode="eval")
    except (RecursionError, MemoryError):
        raise ValueError(f"{where}: expression too deeply nested") from None
    except SyntaxError as e:
        raise ValueError(f"{where}: cannot parse expression {src!r} ({e.msg})") from None
    _check_expr(tree.body, where, allow_random)
    return tree


class Function(NamedTuple):
    """A parsed, whitelisted ``def name(args): body`` (see :func:`parse_function`)."""

    name: str
    args: tuple[str, ...]
    body: tuple[ast.stmt, ...]
    where: str
    defaults: dict = {}


def _check_stmts(stmts, where: str) -> None:
    for s in stmts:
        if isinstance(s, ast.Assign):
            if len(s.targets) != 1 or not isinstance(s.targets[0], ast.Name):
                raise _fail(where, s, "assignment to a non-name target")
            _check_expr(s.value, where, False)
        elif isinstance(s, ast.AugAssign):
            if not isinstance(s.target, ast.Name):
                raise _fail(where, s, "augmented assignment to a non-name target")
            _check_expr(ast.BinOp(s.target, s.op, s.value, lineno=s.lineno), where, False)
        elif isinstance(s, ast.Return):
            if s.value is None:
                raise _fail(where, s, "bare return")
            _check_expr(s.value, where, False)
        elif isinstance(s, ast.If):
            _check_expr(s.test, where, False)
            _check_stmts(s.body, where)
            _check_stmts(s.orelse, where)
        elif isinstance(s, ast.For):
            it = s.iter
            if (
                not isinstance(s.target, ast.Name)
                or s.orelse
                or not isinstance(it, ast.Call)
                or _call_name(it) != "range"
                or not 1 <= len(it.args) <= 3
                or it.keywords
            ):
                raise _fail(where, s, "for-loop other than 'for name in range(...)'")
            if len(it.args) == 3 and not (
                isinstance(it.args[2], ast.Constant)
                and isinstance(it.args[2].value, int)
                and it.args[2].value > 0
            ):
                raise _fail(where, s, "range step other than a positive integer literal")
            for a in it.args:
                _check_expr(a, where, False)
            _check_stmts(s.body, where)
        elif isinstance(s, ast.Pass):
            pass
        elif (
            isinstance(s, ast.Expr)
            and isinstance(s.value, ast.Constant)
            and isinstance(s.value.value, str)
        ):
            pass  # docstring
        elif (
            isinstance(s, ast.Import)
            and [a.name for a in s.names] == ["math"]
            and s.names[0].asname is None
        ):
            pass
        else:
            raise _fail(where, s)


def parse_function(src: str, where: str = "function") -> Function:
    """Parses ``def f(a, b, ...): ...`` source into a whitelisted :class:`Function`.

    ``import math`` lines (inside or before the ``def``) are ignored; positional
    parameters only (numeric defaults allowed; no ``*args`` or keywords); one function per source.
    """
    try:
        _check_size(str(src), where)
        mod = ast.parse(str(src))
    except (RecursionError, MemoryError):
        raise ValueError(f"{where}: function too deeply nested") from None
    except SyntaxError as e:
        raise ValueError(f"{where}: cannot parse function ({e.msg} at line {e.lineno})") from None
    defs = [s for s in mod.body if isinstance(s, ast.FunctionDef)]
    rest = [s for s in mod.body if not isinstance(s, ast.FunctionDef)]
    _check_stmts([s for s in rest if not isinstance(s, ast.Import)], where)
    for s in rest:
        if isinstance(s, ast.Import):
            _check_stmts([s], where)
    if len(defs) != 1:
        raise ValueError(f"{where}: expected exactly one function definition; found {len(defs)}")
    fn = defs[0]
    a = fn.args
    if a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs or fn.decorator_list:
        raise _fail(where, fn, "function signature other than plain positional parameters")
    for d in a.defaults:
        if not (isinstance(d, ast.Constant) and isinstance(d.value, (int, float))):
            raise _fail(where, fn, "parameter default other than a number")
    _check_stmts(fn.body, where)
    names = tuple(x.arg for x in a.args)
    defaults = {
        n: float(d.value)
        for n, d in zip(names[len(names) - len(a.defaults) :], a.defaults, strict=True)
    }
    return Function(fn.name, names, tuple(fn.body), where, defaults)


def expression_names(tree: ast.AST) -> set[str]:
    """Variable names read by a tree (excluding ``math``/``random`` modules)."""
    out = set()
    funcs = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and n.id not in ("math", "random") and id(n) not in funcs:
            if not (isinstance(getattr(n, "ctx", None), ast.Store)):
                out.add(n.id)
    return out


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
        return np.float64(_MATH_CONST[node.attr])
    if isinstance(node, ast.BinOp):
        a = np.asarray(_ev(node.left, env), dtype=np.float64)
        b = np.asarray(_ev(node.right, env), dtype=np.float64)
        op = type(node.op)
        if op in _BINOPS:
            return _BINOPS[op](a, b)
        if op is ast.FloorDiv:
            return _floordiv(a, b)
        if op is ast.Mod:
            return _mod(a, b)
        return _pow(a, b)
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
                r = _eq(left, right)
            elif isinstance(op, ast.NotEq):
                r = ~_eq(left, right)
            else:
                r = _CMPOPS[type(op)](left, right)
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
        name = _call_name(node)
        return _CALLS[name](*[_ev(a, env) for a in node.args])
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
            start, stop = np.trunc(_snap(start)), np.trunc(_snap(stop))
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
