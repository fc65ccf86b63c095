"""Result types of :func:`jaxcert.judge.certify` and their text/JSON renderings.

Plain Python values only (floats, ints, strings, tuples): a certificate is a report,
not a pytree. ``to_dict`` is JSON-safe (NaN and inf become ``None``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CertifyResult", "CertifyTable"]

_KEYS = ("method", "estimate", "lower", "upper", "width", "alpha", "side", "n_labeled",
         "n_unlabeled", "tpr_hat", "fpr_hat", "tpr_box", "fpr_box", "interval", "active",
         "status", "certificate", "box_check", "sensitivity", "tipping", "warnings",
         "diagnostics")


def _clean(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def _num(x, digits=4) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _level(alpha: float) -> str:
    return f"{100 * (1 - alpha):.10g}%"


@dataclass(frozen=True)
class CertifyResult:
    """A failure-rate estimate with its confidence interval and how it was obtained.

    Attributes:
      method: estimator name (``"cmle"``, ``"ppi"``, ...).
      estimate, lower, upper: point estimate and interval (``None`` if the method
        failed, see ``status``/``diagnostics["error"]``). Under ``side="upper"``
        ``lower`` is 0 and ``upper`` is the certificate.
      alpha, side: the confidence level ``1 - alpha`` and the side convention.
      n_labeled, n_unlabeled: human-labelled and judge-only item counts.
      tpr_hat, fpr_hat: fitted judge rates (``None`` where not estimated).
      active: active constraints at the fit, e.g. ``("tpr>=0.85",)``.
      status: status name (``"converged"``, ``"max-steps"``, ..., or ``"error"``).
      diagnostics: solver details (nll, kkt residual, steps) and ``warnings``.
      interval: interval construction (``"profile"``, ``"Clopper-Pearson ..."``, ...).
      tpr_box, fpr_box: the boxes the estimator used (``None`` = unconstrained; a
        widened box after ``on_conflict="widen"``).
      box_check: the box-conflict test of the calibration data against the boxes
        (dict: statistic, p_value, contradicted, tpr_hat, fpr_hat, rejected,
        box_alpha, and ``widened`` when the box was widened), ``None`` without boxes.
      sensitivity: ``{tpr_lo, tpr_hi, fpr_lo, fpr_hi: dU/d(bound)}`` (exact implicit
        derivatives of the certified upper end), with ``certify(sensitivity=True)``
        or ``target``; else ``None``.
      tipping: with ``certify(target=eps)``: ``target, upper, holds``, ``bounds``
        (each bound's value at which ``U = eps``, ``None`` if it never gets there),
        ``margin`` (all four moved outward together), ``widening`` and ``summary``
        (one line); see :mod:`jaxcert.judge.sensitivity`.
    """

    method: str
    estimate: float | None
    lower: float | None
    upper: float | None
    alpha: float
    side: str
    n_labeled: int
    n_unlabeled: int
    tpr_hat: float | None = None
    fpr_hat: float | None = None
    active: tuple[str, ...] = ()
    status: str = "converged"
    diagnostics: dict[str, Any] = field(default_factory=dict)
    interval: str = ""
    tpr_box: tuple[float, float] | None = None
    fpr_box: tuple[float, float] | None = None
    box_check: dict[str, Any] | None = None
    sensitivity: dict[str, float] | None = None
    tipping: dict[str, Any] | None = None

    @classmethod
    def failed(cls, method: str, error: str, **kw) -> CertifyResult:
        """A row for an estimator that could not run (``status="error"``)."""
        return cls(method=method, estimate=None, lower=None, upper=None, status="error",
                   diagnostics={"error": error, "warnings": []}, **kw)

    @property
    def ok(self) -> bool:
        return self.estimate is not None

    @property
    def warnings(self) -> tuple[str, ...]:
        """Human-readable warnings (box conflicts, fallbacks, a judge near chance, ...)."""
        return tuple(self.diagnostics.get("warnings", ()))

    @property
    def width(self) -> float | None:
        return None if not self.ok else self.upper - self.lower

    @property
    def certificate(self) -> str:
        """One line stating the result, e.g. ``failure rate <= U with 95% confidence``."""
        how = f"(method {self.method}, {self.interval} interval)"
        if not self.ok:
            return f"no certificate (method {self.method}): {self.diagnostics.get('error')}"
        lvl = _level(self.alpha)
        if self.side == "upper":
            return f"failure rate <= {self.upper:.4g} with {lvl} confidence {how}"
        if self.side == "lower":
            return f"failure rate >= {self.lower:.4g} with {lvl} confidence {how}"
        return (f"failure rate in [{self.lower:.4g}, {self.upper:.4g}] with {lvl} confidence "
                f"(estimate {self.estimate:.4g}) {how}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (keys: method, estimate, lower, upper, alpha, side, ...)."""
        d = {k: getattr(self, k) for k in _KEYS}
        return _clean(d)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def __str__(self) -> str:
        lines = [self.certificate]
        if self.ok:
            lines.append(f"  estimate {self.estimate:.4f}, interval [{self.lower:.4f}, "
                         f"{self.upper:.4f}] ({self.side}, alpha={self.alpha:g})")
        lines.append(f"  data: {self.n_labeled} human-labelled, {self.n_unlabeled} judge-only")
        if self.tpr_hat is not None:
            box = "".join(f", {n} box [{b[0]:g}, {b[1]:g}]" for n, b in
                          (("tpr", self.tpr_box), ("fpr", self.fpr_box)) if b is not None)
            lines.append(f"  judge: TPR {self.tpr_hat:.4f}, FPR {self.fpr_hat:.4f}{box}")
        if self.active:
            lines.append(f"  active constraints: {', '.join(self.active)}")
        if self.sensitivity:
            lines.append("  dU/d(bound): " + ", ".join(
                f"{k} {v:+.4g}" for k, v in self.sensitivity.items()))
        if self.tipping:
            lines.append(f"  robustness: {self.tipping['summary']}")
        lines.append(f"  status: {self.status}")
        lines += [f"  warning: {w}" for w in self.diagnostics.get("warnings", [])]
        return "\n".join(lines)


@dataclass(frozen=True)
class CertifyTable:
    """Every estimator on the same data (``certify(..., method="all")``)."""

    rows: tuple[CertifyResult, ...]

    def __getitem__(self, method: str) -> CertifyResult:
        for r in self.rows:
            if r.method == method:
                return r
        raise KeyError(f"no row for method {method!r}; rows: {[r.method for r in self.rows]}")

    def to_dict(self) -> dict[str, Any]:
        first = self.rows[0]
        return {"alpha": first.alpha, "side": first.side, "n_labeled": first.n_labeled,
                "n_unlabeled": first.n_unlabeled, "results": [r.to_dict() for r in self.rows]}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def to_pandas(self):
        """One row per method (``method, estimate, lower, upper, width, status, interval,
        tpr_hat, fpr_hat, error``), indexed by method; needs pandas."""
        import pandas as pd

        cols = ("estimate", "lower", "upper", "width", "status", "interval", "tpr_hat",
                "fpr_hat")
        rows = [{"method": r.method, **{c: getattr(r, c, None) for c in cols},
                 "error": (r.diagnostics or {}).get("error")} for r in self.rows]
        return pd.DataFrame(rows).set_index("method")

    def render(self, truth: float | None = None) -> str:
        """Text table; with ``truth`` adds whether each interval covers it."""
        first = self.rows[0]
        head = (f"{first.n_labeled} human-labelled + {first.n_unlabeled} judge-only items; "
                f"{_level(first.alpha)} {first.side} intervals")
        cols = f"{'method':<13}{'estimate':>9}{'lower':>9}{'upper':>9}{'width':>9}"
        cols += f"{'covers':>8}" if truth is not None else ""
        lines = [head, cols + "  status", "-" * (len(cols) + 12)]
        for r in self.rows:
            line = (f"{r.method:<13}{_num(r.estimate):>9}{_num(r.lower):>9}{_num(r.upper):>9}"
                    f"{_num(r.width):>9}")
            if truth is not None:
                line += f"{('yes' if r.lower <= truth <= r.upper else 'NO') if r.ok else '-':>8}"
            lines.append(line + f"  {r.status}")
        if truth is not None:
            lines.append(f"truth (all human labels): {truth:.4f}")
        notes: dict[str, list[str]] = {}  # message -> methods (said once)
        for r in self.rows:
            for msg in ([r.diagnostics["error"]] if not r.ok else []) + list(
                    r.diagnostics.get("warnings", [])):
                notes.setdefault(msg, []).append(r.method)
        lines += [f"note: {', '.join(ms)}: {msg}" for msg, ms in notes.items()]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()
