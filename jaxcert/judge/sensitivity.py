"""How much a certificate depends on the assumed judge quality.

A CMLE certificate ``theta <= U`` rests on the boxes given for the judge's TPR and
FPR. Two questions a release reviewer asks, answered with the exact (implicit)
derivatives of the bound (:mod:`jaxcert.judge._implicit`):

* **sensitivity**: ``dU / d(bound)`` for each of the four box bounds;
* **tipping box** for a target ``eps``: how far each bound may move before
  ``U <= eps`` fails, loosening the box (``tpr_lo`` down, ``tpr_hi`` up, ``fpr_lo``
  down, ``fpr_hi`` up) and tightening it (each bound onto the other end of its box:
  ``U`` is not monotone in the box, e.g. a tighter FPR cap can raise it), and how far
  all four may move outward together (the margin ``delta``, reported also as the
  factor by which each box widens).

Each tipping point is the first crossing ``U = eps`` along its path: ``U`` is
evaluated on a fixed grid of the path (vmapped; geometric near the given box), and
the bracketing cell is refined by Newton steps on the exact derivative, safeguarded
by bisection (a kink where an active set changes only costs a bisection step). A
crossing inside one grid cell that comes back below ``eps`` in the same cell is not
seen; with 33 points that needs a bound that is non-monotone on a scale below
``1e-4`` of the path, which the profile bound is not in practice. ``None`` means
``U`` stays below ``eps`` along the whole path (that bound alone cannot break it).

Only the one-sided upper end matters for ``U <= eps``: a two-sided interval's upper
end uses the tail ``alpha / 2``, which is what the kernels here are given.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxcert._numerics import normal_quantile
from jaxcert.counts import Counts
from jaxcert.judge.calibration import calibrated_bound
from jaxcert.judge.cmle_intervals import lr_bound

__all__ = ["BOUND_NAMES", "TippingBox", "upper_end", "bound_sensitivity", "tipping_box"]

BOUND_NAMES = ("tpr_lo", "tpr_hi", "fpr_lo", "fpr_hi")
#: Where each bound goes when the box is loosened, and the direction of "outward".
_LIMITS = np.array([0.0, 1.0, 0.0, 1.0])
_OUTWARD = np.array([-1.0, 1.0, -1.0, 1.0])
#: Path grid: 0, then geometric from 1e-4 to 1 of the path.
_GRID = np.concatenate([[0.0], np.geomspace(1e-4, 1.0, 32)])
_REFINE_STEPS = 40
_NUM_PATHS = 9


class TippingBox(NamedTuple):
    """Where ``U <= target`` stops holding (see the module docstring).

    Attributes:
      target: the ``eps`` of the certificate ``U <= eps``.
      upper: ``U`` at the given boxes; ``holds`` is ``upper <= target``.
      holds: whether the certificate holds at the given boxes.
      bounds: ``{name: value}``: the value of that bound, loosened alone (the others
        as given), at which ``U = target``; ``None`` if ``U`` stays below ``target``
        all the way (or ``holds`` is False).
      ranges: ``{name: (low, high)}``: the values of that bound alone, in both
        directions (loosening to its limit, tightening onto the other end of its box),
        on which ``U <= target`` still holds; empty when ``holds`` is False. ``U`` is
        not monotone in the box: tightening ``fpr_hi`` can raise it.
      margin: the distance ``delta`` by which all four bounds may move outward
        together (clipped to [0, 1]); ``None`` as above.
      widening: ``(tpr, fpr)`` factor by which each box's width grows at ``margin``
        (``None`` for a point box or no margin).
    """

    target: float
    upper: float
    holds: bool
    bounds: dict
    ranges: dict
    margin: float | None
    widening: tuple | None


def upper_end(c, box, a_tail, interval: str):
    """``U`` of one trusted problem: ``c`` (6,), ``box`` (4,) = tpr lo/hi, fpr lo/hi."""
    cn, sb, fb = Counts(*c), box[:2], box[2:]
    if interval == "profile":
        return lr_bound(cn, sb, fb, normal_quantile(1.0 - a_tail) ** 2, True)[0]
    return calibrated_bound(cn, sb, fb, a_tail, "upper").upper


#: Rows per call of the batched kernel: one shape, one compilation for everything.
_ROWS = _GRID.size


def _directional(c, boxes, a_tail, dirs, interval):
    """``(U, dU)`` at each row of ``boxes`` (rows, 4) along ``dirs`` (exact JVP)."""
    one = lambda b, d: jax.jvp(lambda z: upper_end(c, z, a_tail, interval), (b,), (d,))  # noqa: E731
    return jax.vmap(one)(boxes, dirs)


_directional_jit = jax.jit(_directional, static_argnames=("interval",))


def _batch(c, boxes, a_tail, dirs, interval):
    """Runs the kernel on up to ``_ROWS`` rows (padded: every call has the same shape)."""
    k = boxes.shape[0]
    pad = lambda x: np.concatenate([x, np.repeat(x[:1], _ROWS - k, 0)])  # noqa: E731
    u, du = _directional_jit(c, jnp.asarray(pad(boxes)), a_tail, jnp.asarray(pad(dirs)),
                             interval=interval)
    return np.asarray(u)[:k], np.asarray(du)[:k]


def _inward_limits(box):
    """Where each bound goes when its box is tightened: onto the other end of its box,
    never past the identification limit ``tpr > fpr``."""
    eps = 1e-9
    return np.array([box[1], max(box[0], box[2] + eps), min(box[3], box[1] - eps), box[2]])


def _path(box, tau, path):
    """Box and its direction at position ``tau`` of a path: 0-3 move one bound out to
    its limit, 4 moves all four outward by ``tau`` (clipped to [0, 1]), 5-8 move one
    bound inward onto the other end of its box."""
    if path < 4 or path > 4:
        i, end = (path, _LIMITS) if path < 4 else (path - 5, _inward_limits(box))
        d = np.where(np.arange(4) == i, end - box, 0.0)
        return box + tau * d, d
    moved = box + tau * _OUTWARD
    return np.clip(moved, 0.0, 1.0), np.where((moved > 0.0) & (moved < 1.0), _OUTWARD, 0.0)


def _crossings(c, box, a_tail, target, interval):
    """First ``tau`` on each of the 9 paths with ``U(tau) = target`` (NaN if none)."""
    out = np.full(_NUM_PATHS, np.nan)
    brackets = []
    for p in range(_NUM_PATHS):
        rows = [_path(box, t, p) for t in _GRID]
        u, _ = _batch(c, np.stack([r[0] for r in rows]), a_tail, np.stack([r[1] for r in rows]),
                      interval)
        above = np.flatnonzero(u > target)
        if above.size and above[0] > 0:
            brackets.append((p, _GRID[above[0] - 1], _GRID[above[0]]))
    if not brackets:
        return out
    paths = [b[0] for b in brackets]
    lo, hi = np.array([b[1] for b in brackets]), np.array([b[2] for b in brackets])
    tau = 0.5 * (lo + hi)
    for _ in range(_REFINE_STEPS):
        rows = [_path(box, t, p) for t, p in zip(tau, paths)]
        u, du = _batch(c, np.stack([r[0] for r in rows]), a_tail, np.stack([r[1] for r in rows]),
                       interval)
        g = u - target
        lo, hi = np.where(g <= 0, tau, lo), np.where(g > 0, tau, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = tau - g / du
        ok = np.isfinite(newton) & (newton > lo) & (newton < hi)
        tau = np.where(g == 0, tau, np.where(ok, newton, 0.5 * (lo + hi)))
    out[paths] = tau
    return out


def _arrays(counts, tpr, fpr, alpha, side):
    c = jnp.asarray([float(np.asarray(v)) for v in counts], jnp.float64)
    box = np.asarray(list(tpr or (0.0, 1.0)) + list(fpr or (0.0, 1.0)), np.float64)
    a_tail = alpha / 2.0 if side == "two-sided" else alpha
    return c, box, jnp.asarray(a_tail, jnp.float64)


def bound_sensitivity(counts: Counts, tpr, fpr, *, alpha: float, side: str = "upper",
                      interval: str = "calibrated") -> dict:
    """``{name: dU/d(bound)}`` for the four box bounds (trusted inputs: front door).

    Args:
      counts: scalar :class:`~jaxcert.Counts`.
      tpr, fpr: ``(lo, hi)`` boxes (``None`` = [0, 1]).
      alpha, side: the certificate's level and side (two-sided: the upper end at
        ``alpha / 2``).
      interval: ``"calibrated"`` or ``"profile"``.
    """
    c, box, a_tail = _arrays(counts, tpr, fpr, alpha, side)
    _, grad = _batch(c, np.repeat(box[None], 4, 0), a_tail, np.eye(4), interval)
    return {name: float(g) for name, g in zip(BOUND_NAMES, grad)}


def tipping_box(counts: Counts, tpr, fpr, target: float, *, alpha: float, side: str = "upper",
                interval: str = "calibrated") -> TippingBox:
    """Where ``U <= target`` stops holding as the boxes loosen (module docstring).

    Args: as :func:`bound_sensitivity`, plus ``target`` in (0, 1).
    """
    c, b, a_tail = _arrays(counts, tpr, fpr, alpha, side)
    upper = float(_batch(c, b[None], a_tail, np.zeros((1, 4)), interval)[0][0])
    holds = upper <= target
    taus = (_crossings(c, b, a_tail, float(target), interval) if holds
            else np.full(_NUM_PATHS, np.nan))
    inner = _inward_limits(b)
    bounds, ranges = {}, {}
    for i, name in enumerate(BOUND_NAMES):
        out = b[i] + taus[i] * (_LIMITS[i] - b[i]) if np.isfinite(taus[i]) else None
        inw = b[i] + taus[5 + i] * (inner[i] - b[i]) if np.isfinite(taus[5 + i]) else None
        bounds[name] = None if out is None else float(out)
        if holds:
            ends = (_LIMITS[i] if out is None else out, inner[i] if inw is None else inw)
            ranges[name] = (float(min(ends)), float(max(ends)))
    margin = float(taus[4]) if holds and np.isfinite(taus[4]) else None
    widening = None
    if margin is not None and b[1] > b[0] and b[3] > b[2]:
        grown = np.clip(b + margin * _OUTWARD, 0.0, 1.0)
        widening = (float((grown[1] - grown[0]) / (b[1] - b[0])),
                    float((grown[3] - grown[2]) / (b[3] - b[2])))
    return TippingBox(float(target), upper, holds, bounds, ranges, margin, widening)


def tipping_sentence(tb: TippingBox) -> str:
    """One human line, e.g. ``U <= 0.05 holds while the TPR lower bound stays in
    [0.81, 0.9] ...``."""
    if not tb.holds:
        return (f"U = {tb.upper:.4g} > {tb.target:g}: the certificate U <= {tb.target:g} "
                "does not hold with these boxes")
    names = {"tpr_lo": "the TPR lower bound", "tpr_hi": "the TPR upper bound",
             "fpr_lo": "the FPR lower bound", "fpr_hi": "the FPR upper bound"}
    parts = []
    for k, (lo, hi) in tb.ranges.items():
        full = (min(_LIMITS[BOUND_NAMES.index(k)], lo), max(_LIMITS[BOUND_NAMES.index(k)], hi))
        if tb.bounds[k] is not None or lo > full[0] or hi < full[1]:
            parts.append(f"{names[k]} stays in [{lo:.4g}, {hi:.4g}]")
    line = f"U <= {tb.target:g} holds"
    line += (" while " + " and ".join(parts) + " (one bound moved at a time)") if parts else \
        " whatever any single bound is"
    if tb.margin is not None:
        line += f"; all four bounds may move outward together by {tb.margin:.3g}"
        if tb.widening:
            line += f" (boxes {tb.widening[0]:.2g}x and {tb.widening[1]:.2g}x as wide)"
    else:
        line += "; it survives moving all four bounds outward to [0, 1]"
    return line
