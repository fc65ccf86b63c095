"""A template's input space: latent grids, validity, question text and exact answer.

:class:`TemplateSpace` is a :class:`~jaxcert.rare.space.ProductSpace` over latent
coordinates (:mod:`jaxcert.rare._template_latents`); the loaders of
:mod:`jaxcert.rare.template_sources` describe a template once, as a
:class:`TemplateSpec`, and the grid sizes once, as :class:`GridOptions`.
"""

from __future__ import annotations

import ast
import math
from typing import Callable, NamedTuple

import numpy as np

from jaxcert.rare import _safe_expr as se
from jaxcert.rare._safe_interp import equal, mod, snap
from jaxcert.rare._template_latents import Latent, dependency_order, format_value, latent_grid
from jaxcert.rare.space import ENUMERATION_LIMIT, ProductSpace

__all__ = ["TemplateSpace", "TemplateSpec", "GridOptions", "MAX_LEVELS", "FLOAT_LEVELS"]

MAX_ABS = 1e12
MAX_LEVELS = 1000
FLOAT_LEVELS = 100


class GridOptions(NamedTuple):
    """Grid sizes: most points of an integer range / of a float range, and the cap on
    the number of inputs (grids shrink, largest first, until the product fits)."""

    max_levels: int = MAX_LEVELS
    float_levels: int = FLOAT_LEVELS
    max_inputs: int | None = ENUMERATION_LIMIT

    def checked(self) -> GridOptions:
        for name in ("max_levels", "float_levels"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 2:
                raise ValueError(f"{name} must be an int >= 2; got {v!r}")
        return self


class TemplateSpec(NamedTuple):
    """What a loader learned about one template (text, latents, answer, validity)."""

    tid: str
    text: str
    placeholder: object  # compiled regex of the variable placeholders in ``text``
    latents: list[Latent]
    exprs: dict[str, ast.Expression]
    answer_fn: Callable[[dict], np.ndarray]
    constraints: list[ast.Expression]
    original: dict[str, float]
    original_answer: float | None
    integer_answer: bool
    nonneg_answer: bool


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

    def __init__(self, spec: TemplateSpec, grid: GridOptions):
        self.id, self.text, self._ph = spec.tid, spec.text, spec.placeholder
        self._lat, self._exprs = spec.latents, spec.exprs
        self._answer_fn, self._constraints = spec.answer_fn, spec.constraints
        self.original, self.original_answer = dict(spec.original), spec.original_answer
        self.integer_answer, self.nonneg_answer = spec.integer_answer, spec.nonneg_answer
        latents, max_levels, float_levels = spec.latents, grid.max_levels, grid.float_levels
        max_inputs, tid, exprs = grid.max_inputs, spec.tid, spec.exprs
        levels = [max_levels if lt.kind == "range" else float_levels for lt in latents]
        grids = [latent_grid(lt, n) for lt, n in zip(latents, levels, strict=True)]
        frozen = [lt.kind == "choice" for lt in latents]
        while max_inputs and math.prod(len(g) for g in grids) > max_inputs and not all(frozen):
            j = int(np.argmax([0 if f else len(g) for g, f in zip(grids, frozen, strict=True)]))
            lv = int(len(grids[j]) * 0.8)
            new = latent_grid(latents[j], max(2, lv))
            while len(new) >= len(grids[j]) and lv > 2:
                lv -= 1
                new = latent_grid(latents[j], lv)
            if len(new) >= len(grids[j]):
                frozen[j] = True  # cannot shrink further (2 levels + the original value)
            else:
                grids[j] = new
        self.grids = grids
        deps = {v: se.expression_names(t) - {v} for v, t in exprs.items()}
        self._order = [v for v in dependency_order(deps, tid) if v in exprs]
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
                        lo, hi = np.ceil(snap(lo)), np.floor(snap(hi))
                    if fname == "randrange":
                        ok &= (v >= lo) & (v < hi) & equal(mod(v - lo, step), 0.0)
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
                ok &= equal(a, np.round(a))
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
            lambda m: format_value(vals[m.group(1)]) if m.group(1) in vals else m.group(0), self.text
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
