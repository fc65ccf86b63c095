"""The latent variables of one template: finite grids, and the builder that finds them.

A template variable whose range is a ``random.*`` call becomes one latent coordinate
(:class:`Latent`) with a finite grid; dependent ranges (bounds that name other
variables) take the hull of their bound over the corners of the referenced ranges, and
the exact dependency is left to the space's validity condition. The rules are documented
in :mod:`jaxcert.rare.templates`.
"""

from __future__ import annotations

import ast
import math
from typing import NamedTuple

import numpy as np

from jaxcert.rare import _safe_expr as se

__all__ = ["Latent", "Builder", "latent_grid", "format_value", "is_integral", "dependency_order"]

_MAX_CORNERS = 12


class Latent(NamedTuple):
    """One latent coordinate: its kind, static range, grid step or listed values."""

    name: str
    kind: str  # "range" (lo + step*k) | "float" | "choice"
    lo: float
    hi: float
    step: float
    decimals: int
    values: tuple  # for "choice"
    bounds: tuple  # (lo_tree, hi_tree, step) for dependent ranges, else ()
    original: float | None


def latent_grid(lat: Latent, levels: int) -> np.ndarray:
    """Sorted grid of at most ``levels`` values (plus the original value when in range)."""
    if lat.kind == "choice":
        return np.unique(np.asarray(lat.values, dtype=np.float64))
    if lat.kind == "range":
        n = int(math.floor((lat.hi - lat.lo) / lat.step + 1e-9)) + 1
        k = (
            np.unique(np.round(np.linspace(0, n - 1, min(n, levels))))
            if n > levels
            else np.arange(n)
        )
        g = lat.lo + lat.step * k
    else:
        g = np.round(np.linspace(lat.lo, lat.hi, levels), lat.decimals)
    if lat.original is not None and np.isfinite(lat.original) and lat.lo <= lat.original <= lat.hi:
        g = np.append(g, lat.original)
    return np.unique(np.round(g, 9))


def format_value(v: float) -> str:
    """A value as the question text shows it: integers without ``.0``."""
    if abs(v - round(v)) < 1e-9:
        return str(int(round(v)))
    return f"{v:.6f}".rstrip("0").rstrip(".")


def is_integral(v) -> bool:
    """Finite and within 1e-9 of an integer."""
    return v is not None and np.isfinite(v) and abs(v - round(v)) < 1e-9


class Builder:
    """Collects latents, variables and constraints of one template."""

    def __init__(self, where):
        self.where, self.latents, self.exprs, self.ranges = where, [], {}, {}

    def latent_from_call(
        self, call: ast.Call, var: str, decimals: int, original, direct: bool
    ) -> ast.Name:
        fname = se.call_name(call)[7:]
        args = call.args
        deps = set().union(*[se.expression_names(a) for a in args]) if args else set()
        name = var if direct else f"{var}#{len(self.latents)}"
        if fname == "choice":
            if len(args) != 1 or not isinstance(args[0], ast.List) or not args[0].elts:
                raise ValueError(f"{self.where}: random.choice needs a non-empty literal list")
            vals = tuple(float(se.eval_expression(ast.Expression(e), {})) for e in args[0].elts)
            lat = Latent(name, "choice", min(vals), max(vals), 1.0, 6, vals, (), original)
        else:
            if fname == "random":
                args = [ast.Constant(0.0), ast.Constant(1.0)]
            if len(args) not in (2, 3) or (len(args) == 3 and fname != "randrange"):
                raise ValueError(
                    f"{self.where}: random.{fname} with {len(args)} arguments is not supported"
                )
            step = float(se.eval_expression(ast.Expression(args[2]), {})) if len(args) == 3 else 1.0
            lo, hi = (self.hull(ast.Expression(a)) for a in args[:2])
            kind = "float" if fname in ("uniform", "random") else "range"
            if kind == "range":
                lo, hi = (
                    math.ceil(lo[0] - 1e-9),
                    math.floor(hi[1] + 1e-9) - (1 if fname == "randrange" else 0),
                )
            else:
                lo, hi = lo[0], hi[1]
            if not (np.isfinite(lo) and np.isfinite(hi)) or hi < lo:
                raise ValueError(f"{self.where}: empty or unbounded range for {var}: [{lo}, {hi}]")
            bounds = (ast.Expression(args[0]), ast.Expression(args[1]), fname, step) if deps else ()
            lat = Latent(name, kind, float(lo), float(hi), step, decimals, (), bounds, original)
        self.latents.append(lat)
        self.ranges[name] = (lat.lo, lat.hi)
        return ast.Name(id=name, ctx=ast.Load())

    def hull(self, tree) -> tuple[float, float]:
        """(min, max) of an expression over the corners of its variables' ranges."""
        names = sorted(se.expression_names(tree))
        missing = [n for n in names if n not in self.ranges]
        if missing:
            raise ValueError(
                f"{self.where}: range refers to undefined or cyclic variable(s) {missing}"
            )
        if len(names) > _MAX_CORNERS:
            raise ValueError(
                f"{self.where}: range depends on {len(names)} variables (> {_MAX_CORNERS})"
            )
        if names:
            corners = np.array(
                np.meshgrid(*[self.ranges[n] for n in names], indexing="ij")
            ).reshape(len(names), -1)
        else:
            corners = np.zeros((0, 1))
        v = np.broadcast_to(
            se.eval_expression(tree, dict(zip(names, corners, strict=True))), (corners.shape[1],)
        ).ravel()
        v = v[np.isfinite(v)]
        if v.size == 0:
            raise ValueError(f"{self.where}: range bound {ast.unparse(tree)!r} is not finite")
        return float(v.min()), float(v.max())

    def add_var(self, var: str, src: str, original) -> None:
        tree = se.parse_expression(src, self.where, allow_random=True)
        round_dec = {}
        for n in ast.walk(tree):  # round(random.uniform(a, b), n): grid with n decimals
            if isinstance(n, ast.Call) and se.call_name(n) == "round" and len(n.args) == 2:
                if isinstance(n.args[0], ast.Call) and isinstance(n.args[1], ast.Constant):
                    round_dec[id(n.args[0])] = int(n.args[1].value)
        builder = self

        class Sub(ast.NodeTransformer):
            def visit_Call(self, node):
                name = se.call_name(node) or ""
                if name.startswith("random."):
                    node = self.generic_visit(node)
                    b = tree.body
                    direct = (
                        node is b or (se.call_name(b) == "round" and b.args[0] is node)
                        if isinstance(b, ast.Call)
                        else node is b
                    )
                    dec = round_dec.get(id(node), 2)
                    return builder.latent_from_call(
                        node, var, dec, original if direct else None, direct
                    )
                return self.generic_visit(node)

        tree = ast.fix_missing_locations(Sub().visit(tree))
        self.exprs[var] = tree
        self.ranges[var] = self.hull(tree)


def dependency_order(deps: dict[str, set], where: str) -> list[str]:
    """Topological order of ``{variable: variables it reads}`` (ValueError on a cycle)."""
    out, state = [], {}

    def visit(n):
        if state.get(n) == 1:
            raise ValueError(f"{where}: cyclic dependency through variable {n!r}")
        if state.get(n) == 2:
            return
        state[n] = 1
        for m in sorted(deps.get(n, ())):
            if m in deps:
                visit(m)
        state[n] = 2
        out.append(n)

    for n in deps:
        visit(n)
    return out
