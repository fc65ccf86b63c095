"""Scenario grids for simulation studies: data, not code.

A *scenario* fixes everything a replicate needs: the true failure rate ``theta``,
the judge's true ``(tpr, fpr)``, the calibration size ``n`` (human labels), the
judge-only size ``N``, the level ``alpha`` and the box ``[lo, hi]`` handed to the
constrained MLE for TPR and FPR. A :class:`Grid` is a table of scenarios (one row
each, NumPy columns); :func:`product_grid` builds the cartesian product of axes.

Judge accuracy axis: a judge of accuracy ``a`` is the *balanced* judge
``TPR = a, FPR = 1 - a`` (sensitivity = specificity = a, Youden index ``2a - 1``).

Box specs (one axis, applied to TPR and FPR alike):

* ``"exact"``: the point box ``[truth, truth]`` (judge quality known exactly);
* ``"none"``: ``[0, 1]`` (unconstrained MLE);
* ``"+-W"`` (or ``"±W"``): ``[truth - W, truth + W]`` clipped to [0, 1];
* ``"shifted"``, ``"shifted:DELTA"``, ``"shifted:DELTA:W"``: a misspecified box:
  TPR box centred at ``tpr - DELTA``, FPR box at ``fpr + DELTA``, half-width ``W``
  (defaults ``DELTA = 0.05``, ``W = 0.02``), clipped; with ``|DELTA| > W`` it excludes
  the truth. ``DELTA > 0`` claims a *worse* judge than the truth: more judge
  positives are blamed on false alarms, theta is biased down and upper bounds become
  anti-conservative (the harmful direction for a certificate). ``DELTA < 0`` claims
  a better judge (conservative for small theta);
* a table ``{tpr = [lo, hi], fpr = [lo, hi]}``: explicit bounds.

Example:
  >>> g = product_grid(theta=[0.05, 0.1], n=[50], N=[1000], accuracy=[0.9],
  ...                  box=["exact", "+-0.05"])
  >>> g.size, g.tpr_box[1].tolist()
  (4, [0.85, 0.95])
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

import numpy as np

__all__ = ["Scenario", "Grid", "product_grid", "box_bounds", "accuracy_to_rates"]

GRID_KEYS = ("theta", "n", "N", "accuracy", "tpr", "fpr", "box", "alpha")
SHIFT_DELTA, SHIFT_WIDTH = 0.05, 0.02


def accuracy_to_rates(accuracy):
    """Balanced judge of accuracy ``a``: returns ``(tpr, fpr) = (a, 1 - a)``."""
    a = np.asarray(accuracy, dtype=float)
    return a, 1.0 - a


def _box_error(spec, where):
    return ValueError(
        f"{where}: unknown box spec {spec!r}; expected 'exact', 'none', '+-W', "
        "'shifted[:DELTA[:W]]' or a table {tpr = [lo, hi], fpr = [lo, hi]}"
    )


def _explicit(pair, name, where):
    b = np.asarray(pair, dtype=float) if isinstance(pair, (list, tuple)) else None
    if b is None or b.shape != (2,) or not np.all(np.isfinite(b)):
        raise ValueError(f"{where}.{name} must be [lo, hi] (two finite numbers); got {pair!r}")
    if b[0] > b[1]:
        raise ValueError(f"{where}.{name} is infeasible: lo > hi in {pair!r}")
    if b[0] < 0 or b[1] > 1:
        raise ValueError(f"{where}.{name} must lie inside [0, 1]; got {pair!r}")
    return b


def box_label(spec) -> str:
    """Short label of a box spec for result tables."""
    if isinstance(spec, dict):
        t, f = spec["tpr"], spec["fpr"]
        return f"tpr[{t[0]:g},{t[1]:g}]/fpr[{f[0]:g},{f[1]:g}]"
    return str(spec)


def box_bounds(spec, tpr, fpr, where: str = "box"):
    """TPR and FPR boxes ``(..., 2)`` for one box spec around the truth ``(tpr, fpr)``.

    Args:
      spec: a box spec (see the module docstring).
      tpr, fpr: true rates, float arrays of a common shape ``(...)``.
      where: name used in error messages.

    Returns:
      ``(tpr_box, fpr_box)``, float64 arrays of shape ``(..., 2)``.

    Raises:
      ValueError: unknown spec, negative width, explicit box with ``lo > hi`` or
        outside [0, 1].
    """
    tpr, fpr = np.asarray(tpr, dtype=float), np.asarray(fpr, dtype=float)
    if isinstance(spec, dict):
        extra = set(spec) - {"tpr", "fpr"}
        if extra or len(spec) != 2:
            raise ValueError(f"{where}: an explicit box needs exactly the keys tpr and fpr; "
                             f"got {sorted(spec)}")
        sb, fb = _explicit(spec["tpr"], "tpr", where), _explicit(spec["fpr"], "fpr", where)
        return (np.broadcast_to(sb, tpr.shape + (2,)).copy(),
                np.broadcast_to(fb, fpr.shape + (2,)).copy())
    if not isinstance(spec, str):
        raise _box_error(spec, where)
    s = spec.strip().lower()
    if s == "exact":
        return np.stack([tpr, tpr], -1), np.stack([fpr, fpr], -1)
    if s == "none":
        one = np.broadcast_to(np.array([0.0, 1.0]), tpr.shape + (2,)).copy()
        return one, one.copy()
    if s.startswith("+-") or s.startswith("±"):
        w = _number(s[2:] if s.startswith("+-") else s[1:], spec, where)
        sc, fc, ws, wf = tpr, fpr, w, w
    elif s == "shifted" or s.startswith("shifted:"):
        parts = s.split(":")[1:]
        if len(parts) > 2:
            raise _box_error(spec, where)
        delta = _number(parts[0], spec, where, signed=True) if parts else SHIFT_DELTA
        w = _number(parts[1], spec, where) if len(parts) == 2 else SHIFT_WIDTH
        sc, fc, ws, wf = tpr - delta, fpr + delta, w, w
    else:
        raise _box_error(spec, where)
    # Rounded to 12 decimals: 1 - 0.95 - 0.05 is 4e-17, and a bound a rounding error
    # away from 0 or 1 is not the support bound the user meant.
    sb = np.clip(np.round(np.stack([sc - ws, sc + ws], -1), 12), 0.0, 1.0)
    fb = np.clip(np.round(np.stack([fc - wf, fc + wf], -1), 12), 0.0, 1.0)
    return sb, fb


def _number(text, spec, where, signed=False) -> float:
    try:
        v = float(text)
    except ValueError:
        raise _box_error(spec, where) from None
    if not np.isfinite(v) or (v < 0 and not signed):
        raise ValueError(f"{where}: box width must be a finite number >= 0 "
                         f"(shift: finite); got {spec!r}")
    return v


class Scenario(dict):
    """One row of a :class:`Grid` (a dict of Python scalars plus the two boxes)."""


@dataclasses.dataclass(frozen=True)
class Grid:
    """A table of scenarios (NumPy columns of length ``size``).

    Attributes:
      theta, tpr, fpr, accuracy, n, N, alpha: float64 arrays ``(S,)`` (``accuracy`` is
        NaN when tpr/fpr were given directly).
      tpr_box, fpr_box: float64 arrays ``(S, 2)`` of ``[lo, hi]`` boxes.
      box: tuple of ``S`` box labels.
      data_id: int64 ``(S,)``; scenarios sharing ``(theta, tpr, fpr, n, N)`` share
        it, and so share their simulated data (common random numbers: a box's
        effect is measured on identical replicates).
    """

    theta: np.ndarray
    tpr: np.ndarray
    fpr: np.ndarray
    accuracy: np.ndarray
    n: np.ndarray
    N: np.ndarray
    alpha: np.ndarray
    tpr_box: np.ndarray
    fpr_box: np.ndarray
    box: tuple
    data_id: np.ndarray

    @property
    def size(self) -> int:
        """Number of scenarios ``S``."""
        return int(self.theta.shape[0])

    def scenario(self, i: int) -> Scenario:
        """Row ``i`` as a :class:`Scenario`."""
        return Scenario({f.name: (getattr(self, f.name)[i] if f.name != "box" else self.box[i])
                         for f in dataclasses.fields(self)})

    def columns(self) -> dict:
        """Flat columns for a results table (boxes split into lo/hi)."""
        return {
            "scenario": np.arange(self.size), "theta": self.theta, "accuracy": self.accuracy,
            "tpr": self.tpr, "fpr": self.fpr, "n": self.n, "N": self.N, "alpha": self.alpha,
            "box": np.array(self.box, dtype=object),
            "tpr_lo": self.tpr_box[:, 0], "tpr_hi": self.tpr_box[:, 1],
            "fpr_lo": self.fpr_box[:, 0], "fpr_hi": self.fpr_box[:, 1],
            "box_covers_truth": ((self.tpr_box[:, 0] <= self.tpr) & (self.tpr <= self.tpr_box[:, 1])
                                 & (self.fpr_box[:, 0] <= self.fpr)
                                 & (self.fpr <= self.fpr_box[:, 1])),
        }


def _axis(values, name, where, *, integer=False, lo=None, hi=None, open_=False):
    vals = list(values) if isinstance(values, (list, tuple, np.ndarray)) else [values]
    if not vals:
        raise ValueError(f"{where}.{name} is empty; give at least one value")
    out = []
    for v in vals:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise ValueError(f"{where}.{name} must hold numbers; got {v!r}")
        f = float(v)
        if not np.isfinite(f):
            raise ValueError(f"{where}.{name} must be finite; got {v!r}")
        if integer and f != round(f):
            raise ValueError(f"{where}.{name} must hold integers; got {v!r}")
        if lo is not None and (f <= lo if open_ else f < lo):
            raise ValueError(f"{where}.{name} must be {'>' if open_ else '>='} {lo:g}; got {v!r}")
        if hi is not None and (f >= hi if open_ else f > hi):
            raise ValueError(f"{where}.{name} must be {'<' if open_ else '<='} {hi:g}; got {v!r}")
        out.append(f)
    return out


def product_grid(*, theta, n, N, accuracy=None, tpr=None, fpr=None, box=("exact",),
                 alpha=(0.05,), where: str = "grid") -> Grid:
    """Cartesian product of scenario axes (the last axis varies fastest).

    Axis order: judge (``accuracy``, or ``tpr`` x ``fpr``), ``n``, ``theta``, ``N``,
    ``box``, ``alpha``. Scalars are one-value axes.

    Args:
      theta: true failure rates in [0, 1].
      n: calibration sizes, integers >= 1.
      N: judge-only sizes, integers >= 0.
      accuracy: balanced judge accuracies in [0, 1] (``tpr = a``, ``fpr = 1 - a``);
        give either this or both ``tpr`` and ``fpr``.
      tpr, fpr: judge true/false positive rates in [0, 1].
      box: box specs (module docstring).
      alpha: levels in (0, 1).
      where: name used in error messages.

    Returns:
      :class:`Grid`.

    Raises:
      ValueError: with the offending axis and value.
    """
    if accuracy is not None and (tpr is not None or fpr is not None):
        raise ValueError(f"{where}: give either accuracy or tpr and fpr, not both")
    if accuracy is None and (tpr is None or fpr is None):
        raise ValueError(f"{where}: the judge is unspecified; give accuracy or both tpr and fpr")
    if accuracy is not None:
        acc = _axis(accuracy, "accuracy", where, lo=0.0, hi=1.0)
        judges = [(a, a, 1.0 - a) for a in acc]
    else:
        judges = [(np.nan, s, r) for s, r in itertools.product(
            _axis(tpr, "tpr", where, lo=0.0, hi=1.0), _axis(fpr, "fpr", where, lo=0.0, hi=1.0))]
    ns = _axis(n, "n", where, integer=True, lo=1.0)
    thetas = _axis(theta, "theta", where, lo=0.0, hi=1.0)
    Ns = _axis(N, "N", where, integer=True, lo=0.0)
    alphas = _axis(alpha, "alpha", where, lo=0.0, hi=1.0, open_=True)
    boxes = list(box) if isinstance(box, (list, tuple)) else [box]
    if not boxes:
        raise ValueError(f"{where}.box is empty; give at least one box spec")
    for i, b in enumerate(boxes):  # validate each spec once, eagerly
        box_bounds(b, 0.5, 0.5, where=f"{where}.box[{i}]")
    rows = list(itertools.product(judges, ns, thetas, Ns, range(len(boxes)), alphas))
    a_, s_, r_ = (np.array([j[k] for j, *_ in rows]) for k in range(3))
    n_ = np.array([x[1] for x in rows])
    t_ = np.array([x[2] for x in rows])
    N_ = np.array([x[3] for x in rows])
    b_ = np.array([x[4] for x in rows])
    al_ = np.array([x[5] for x in rows])
    sb = np.empty((len(rows), 2))
    fb = np.empty((len(rows), 2))
    for i, spec in enumerate(boxes):
        m = b_ == i
        sb[m], fb[m] = box_bounds(spec, s_[m], r_[m], where=f"{where}.box[{i}]")
    key = np.stack([t_, s_, r_, n_, N_], -1)
    _, data_id = np.unique(key, axis=0, return_inverse=True)
    return Grid(theta=t_, tpr=s_, fpr=r_, accuracy=a_, n=n_, N=N_, alpha=al_, tpr_box=sb,
                fpr_box=fb, box=tuple(box_label(boxes[i]) for i in b_),
                data_id=np.asarray(data_id, dtype=np.int64).reshape(-1))


def concat_grids(grids: Sequence[Grid]) -> Grid:
    """Stacks grids row-wise (``data_id`` recomputed over the union)."""
    cols = {f.name: [getattr(g, f.name) for g in grids] for f in dataclasses.fields(Grid)}
    out = {k: (tuple(itertools.chain(*v)) if k == "box" else np.concatenate(v))
           for k, v in cols.items()}
    key = np.stack([out["theta"], out["tpr"], out["fpr"], out["n"], out["N"]], -1)
    out["data_id"] = np.unique(key, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)
    return Grid(**out)
