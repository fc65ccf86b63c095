"""Template space internals: latent grids, the builder of one template, :class:`TemplateSpace`.

Private: the public names are re-exported by :mod:`jaxcert.rare.templates`, whose
docstring documents the domain and validity choices.
"""

from __future__ import annotations

import ast
import math
from typing import NamedTuple

import numpy as np

from jaxcert.rare import _safe_expr as se
from jaxcert.rare.space import ProductSpace

__all__ = ["TemplateSpace"]

MAX_ABS = 1e12
_MAX_CORNERS = 12


class _Latent(NamedTuple):
    name: str
    kind: str  # "range" (lo + step*k) | "float" | "choice"
    lo: float
    hi: float
    step: float
    decimals: int
    values: tuple  # for "choice"
    bounds: tuple  # (lo_tree, hi_tree, step) for dependent ranges, else ()
    original: float | None


def _grid(lat: _Latent, levels: int) -> np.ndarray:
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


def _fmt(v: float) -> str:
    if abs(v - round(v)) < 1e-9:
        return str(int(round(v)))
    return f"{v:.6f}".rstrip("0").rstrip(".")


def _is_int(v) -> bool:
    return v is not None and np.isfinite(v) and abs(v - round(v)) < 1e-9


class _Builder:
    """Collects latents, variables and constraints of one template."""

    def __init__(self, where):
        self.where, self.latents, self.exprs, self.ranges = where, [], {}, {}

    def latent_from_call(
        self, call: ast.Call, var: str, decimals: int, original, direct: bool
    ) -> ast.Name:
        fname = se._call_name(call)[7:]
        args = call.args
        deps = set().union(*[se.expression_names(a) for a in args]) if args else set()
        name = var if direct else f"{var}#{len(self.latents)}"
        if fname == "choice":
            if len(args) != 1 or not isinstance(args[0], ast.List) or not args[0].elts:
                raise ValueError(f"{self.where}: random.choice needs a non-empty literal list")
            vals = tuple(float(se.eval_expression(ast.Expression(e), {})) for e in args[0].elts)
            lat = _Latent(name, "choice", min(vals), max(vals), 1.0, 6, vals, (), original)
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
            lat = _Latent(name, kind, float(lo), float(hi), step, decimals, (), bounds, original)
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
            if isinstance(n, ast.Call) and se._call_name(n) == "round" and len(n.args) == 2:
                if isinstance(n.args[0], ast.Call) and isinstance(n.args[1], ast.Constant):
                    round_dec[id(n.args[0])] = int(n.args[1].value)
        builder = self

        class Sub(ast.NodeTransformer):
            def visit_Call(self, node):
                name = se._call_name(node) or ""
                if name.startswith("random."):
                    node = self.generic_visit(node)
                    b = tree.body
                    direct = (
                        node is b or (se._call_name(b) == "round" and b.args[0] is node)
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


def _order(deps: dict[str, set], where: str) -> list[str]:
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


class TemplateSpace(ProductSpace):
    """A template's input space: latent grids, validity, renderer and exact answer.

    Coordinates are the latents (``names``); ``values(X)`` maps a batch of index
    vectors ``(B, d)`` to variable values, ``render(x)`` gives the question text and
    ``answer(x)`` the exact answer. Build with :func:`load_template`.

    Example:
      >>> space = load_template("varbench:0")
      >>> x = space.original_index()
      >>> space.answer(x)
      18.0
    """

    def __init__(
        self,
        tid,
        text,
        placeholder,
        latents,
        exprs,
        answer_fn,
        constraints,
        original,
        original_answer,
        integer_answer,
        nonneg_answer,
        max_levels,
        float_levels,
        max_inputs,
    ):
        self.id, self.text, self._ph = tid, text, placeholder
        self._lat, self._exprs, self._answer_fn, self._constraints = (
            latents,
            exprs,
            answer_fn,
            constraints,
        )
        self.original, self.original_answer = dict(original), original_answer
        self.integer_answer, self.nonneg_answer = integer_answer, nonneg_answer
        levels = [max_levels if lt.kind == "range" else float_levels for lt in latents]
        grids = [_grid(lt, n) for lt, n in zip(latents, levels, strict=True)]
        frozen = [lt.kind == "choice" for lt in latents]
        while max_inputs and math.prod(len(g) for g in grids) > max_inputs and not all(frozen):
            j = int(np.argmax([0 if f else len(g) for g, f in zip(grids, frozen, strict=True)]))
            lv = int(len(grids[j]) * 0.8)
            new = _grid(latents[j], max(2, lv))
            while len(new) >= len(grids[j]) and lv > 2:
                lv -= 1
                new = _grid(latents[j], lv)
            if len(new) >= len(grids[j]):
                frozen[j] = True  # cannot shrink further (2 levels + the original value)
            else:
                grids[j] = new
        self.grids = grids
        deps = {v: se.expression_names(t) - {v} for v, t in exprs.items()}
        self._order = [v for v in _order(deps, tid) if v in exprs]
        super().__init__(
            [len(g) for g in grids], names=[lt.name for lt in latents], condition=self._valid
        )

    # -- values ------------------------------------------------------------------
    @property
    def variables(self) -> tuple[str, ...]:
        """Template variable names (in dependency order)."""
        return tuple(self._order)

    def values(self, X) -> dict[str, np.ndarray]:
        """Latent and variable values of a batch: ``{name: float64 (B,)}``."""
        X = np.asarray(X, dtype=np.int64)
        pairs = enumerate(zip(self._lat, self.grids, strict=True))
        env = {lt.name: g[X[:, j]] for j, (lt, g) in pairs}
        return self._derive(env)

    def _derive(self, env):
        env = {k: np.asarray(v, dtype=np.float64) for k, v in env.items()}
        for v in self._order:
            t = self._exprs[v].body
            if not (isinstance(t, ast.Name) and t.id == v):
                env[v] = np.round(se.eval_expression(self._exprs[v], env), 6)
        return env

    def answers(self, X) -> np.ndarray:
        """Exact answers ``float64 (B,)`` (``nan`` where undefined)."""
        return np.asarray(self._answer_fn(self.values(X)), dtype=np.float64)

    def answer(self, x) -> float:
        """Exact answer for one input index vector ``x`` ``(d,)``."""
        return float(self.answers(np.asarray(x).reshape(1, -1))[0])

    def answer_values(self, values: dict) -> float:
        """Exact answer for a dict of variable values (e.g. :attr:`original`)."""
        env = {k: np.array([float(v)]) for k, v in values.items()}
        for v in self._order:  # fill derived variables computable from the given ones
            if v not in env and se.expression_names(self._exprs[v]) <= set(env):
                env[v] = np.round(se.eval_expression(self._exprs[v], env), 6)
        return float(np.asarray(self._answer_fn(env)).reshape(-1)[0])

    def _valid(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.int64)
        env = self.values(X)
        ok = np.ones(X.shape[0], dtype=bool)
        with np.errstate(all="ignore"):
            for _j, lt in enumerate(self._lat):
                if lt.bounds:
                    lo_t, hi_t, fname, step = lt.bounds
                    v, lo, hi = (
                        env[lt.name],
                        se.eval_expression(lo_t, env),
                        se.eval_expression(hi_t, env),
                    )
                    if fname == "randint":
                        lo, hi = np.ceil(se._snap(lo)), np.floor(se._snap(hi))
                    if fname == "randrange":
                        ok &= (v >= lo) & (v < hi) & se._eq(se._mod(v - lo, step), 0.0)
                    else:
                        ok &= (v >= lo - 1e-9) & (v <= hi + 1e-9)
            for name, v in env.items():
                ok &= np.isfinite(v) & (np.abs(v) <= MAX_ABS)
                o = self.original.get(name)
                if o is not None and o > 0:
                    ok &= v > 0
                elif o is not None and o == 0:
                    ok &= v >= 0
            a = np.asarray(self._answer_fn(env), dtype=np.float64)
            ok &= np.isfinite(a) & (np.abs(a) <= MAX_ABS)
            if self.integer_answer:
                ok &= se._eq(a, np.round(a))
            if self.nonneg_answer:
                ok &= a >= -1e-9
            for c in self._constraints:
                ok &= np.broadcast_to(se.eval_expression(c, env) != 0, ok.shape)
        return ok

    # -- text --------------------------------------------------------------------
    def render(self, x) -> str:
        """Question text for one input index vector ``x`` ``(d,)``."""
        vals = {k: float(v[0]) for k, v in self.values(np.asarray(x).reshape(1, -1)).items()}
        return self._ph.sub(
            lambda m: _fmt(vals[m.group(1)]) if m.group(1) in vals else m.group(0), self.text
        )

    def original_index(self) -> np.ndarray | None:
        """Index vector of the original question's values (None if off the grids)."""
        idx = []
        for lt, g in zip(self._lat, self.grids, strict=True):
            o = lt.original if lt.original is not None else self.original.get(lt.name)
            hit = np.flatnonzero(np.abs(g - o) < 1e-9) if o is not None else []
            if len(hit) == 0:
                return None
            idx.append(int(hit[0]))
        return np.asarray(idx, dtype=np.int64)

    def describe(self) -> dict:
        """JSON-able summary (id, variables, grid ranges, sizes)."""
        return {
            "id": self.id,
            "latents": [
                {
                    "name": lt.name,
                    "kind": lt.kind,
                    "size": len(g),
                    "min": float(g[0]),
                    "max": float(g[-1]),
                    "dependent": bool(lt.bounds),
                }
                for lt, g in zip(self._lat, self.grids, strict=True)
            ],
            "size": self.size,
            "original_answer": self.original_answer,
        }
