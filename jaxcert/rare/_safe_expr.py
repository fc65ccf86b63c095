"""A restricted, vectorised interpreter for template expressions and solution functions.

Template data is data, not trusted code: VarBench's ``func``/``input_range`` and
GSM-ALT's ``abstracted_final_answer``/``constraints`` are Python source written by
others. Nothing here calls ``eval``/``exec``. Source is parsed with :mod:`ast`, every
node is checked against a whitelist, and the tree is interpreted by a small
interpreter over NumPy ``float64`` arrays of shape ``(B,)``, so one call evaluates a
whole batch of inputs.

This module is the front door: it parses and checks source against the whitelist
below; :mod:`jaxcert.rare._safe_interp` evaluates the checked trees (float64 semantics,
integer snapping, execution limits: documented there).

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
Sources are capped at :data:`MAX_SOURCE_CHARS` characters and a constant exponent at
``|e| <= MAX_EXPONENT`` (checked here, at parse time).
"""

from __future__ import annotations

import ast
from typing import NamedTuple

from jaxcert.rare._safe_interp import (
    BINOPS,
    CALLS,
    CMPOPS,
    MATH_CONST,
    MAX_EXPONENT,
    MAX_LOOP,
    MAX_SECONDS,
    MAX_STEPS,
    RANDOM,
    SNAP_RTOL,
    call_function,
    call_name,
    eval_expression,
)

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
    "call_name",
    "expression_names",
]

MAX_SOURCE_CHARS = 20_000


def _fail(where: str, node: ast.AST, what: str | None = None) -> ValueError:
    name = what or type(node).__name__
    return ValueError(f"{where}: unsupported construct {name} at line {getattr(node, 'lineno', 1)}")


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
            and node.attr in MATH_CONST
        ):
            return
        raise _fail(where, node, f"attribute {ast.unparse(node)}")
    if isinstance(node, ast.BinOp):
        if not isinstance(node.op, (*BINOPS, ast.FloorDiv, ast.Mod, ast.Pow)):
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
            if not isinstance(op, (*CMPOPS, ast.Eq, ast.NotEq)):
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
        name = call_name(node)
        if node.keywords:
            raise _fail(where, node, f"keyword arguments in call to {name}")
        if name in CALLS:
            for a in node.args:
                _check_expr(a, where, allow_random)
            return
        if allow_random and name is not None and name.startswith("random.") and name[7:] in RANDOM:
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
                or call_name(it) != "range"
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
