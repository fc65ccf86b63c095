"""Sample-size planning: how many human labels does a certificate need?

Question: with a judge of quality ``(TPR, FPR)`` and ``N`` judge-only labels, how
many human labels ``n`` are needed so that the one-sided upper bound at level
``1 - alpha`` certifies ``theta <= eps`` with probability at least ``power`` when
the true failure rate is ``theta_guess``?

For every candidate ``n`` on a grid, :func:`plan_sample_size` simulates ``R`` data
sets at ``(theta_guess, TPR, FPR, n, N)`` (the sweep kernel, vmapped), computes each
estimator's upper bound (CMLE with the box ``[TPR - w, TPR + w] x [FPR - w, FPR +
w]``; the baselines ignore the box) and estimates ``power(n) = P(U <= eps)`` with
SE ``sqrt(p (1 - p) / R)``. The human-only reference (exact Clopper-Pearson,
``"human_exact"``) is computed exactly, without simulation: ``U(k, n)`` increases in
``k``, so ``power(n) = P(K <= k*)`` with ``K ~ Bin(n, theta_guess)`` and ``k*`` the
largest ``k`` with ``U(k, n) <= eps``. The answer per estimator is the smallest ``n``
on the grid with ``power(n) >= power``; the label savings are relative to
``human_exact``. With ``N = 0`` there are no judge-only labels: given the human
labels, the judge's verdicts on the same items carry no information about ``theta``,
so no method can save labels and no savings are reported (differences between the
methods are then differences between their intervals, not data).
"""

from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np
from jax.scipy.special import betainc

from jaxcert._validate import check_alpha
from jaxcert.sim import runner as _run
from jaxcert.sim.registry import get_estimators

__all__ = ["PlanResult", "plan_sample_size", "human_exact_power", "default_n_grid"]

PLAN_ESTIMATORS = ("cmle_profile", "ppi", "ppi_plusplus")


class PlanResult(NamedTuple):
    """Outcome of :func:`plan_sample_size`.

    Attributes:
      n_grid: candidate ``n`` values ``(K,)``.
      power: dict estimator -> ``(K,)`` estimated power (``human_exact``: exact).
      power_se: dict estimator -> ``(K,)`` Monte-Carlo SE (0 for ``human_exact``).
      n_required: dict estimator -> smallest ``n`` on the grid reaching the target
        power, or ``None``.
      savings: dict estimator -> human labels saved vs ``human_exact`` (``None`` if
        either is unreached, and always ``None`` when ``N == 0``).
      theta_guess: the true failure rate assumed in the simulation.
      N: the number of judge-only labels assumed.
    """

    n_grid: np.ndarray
    power: dict
    power_se: dict
    n_required: dict
    savings: dict
    theta_guess: float | None = None
    N: int | None = None

    def to_pandas(self):
        """Power curves as a :class:`pandas.DataFrame`: one row per (method, n).

        Columns ``method, n, power, power_se, n_required, savings``.
        """
        from jaxcert.sim.results import table_to_pandas

        return table_to_pandas(self.columns())

    def columns(self) -> dict:
        """The power curves as a dict of NumPy columns (see :meth:`to_pandas`)."""
        names = list(self.power)
        K = self.n_grid.size
        opt = lambda d, m: np.nan if d[m] is None else float(d[m])  # noqa: E731
        return {
            "method": np.array([m for m in names for _ in range(K)], dtype=object),
            "n": np.tile(self.n_grid, len(names)),
            "power": np.concatenate([self.power[m] for m in names]),
            "power_se": np.concatenate([self.power_se[m] for m in names]),
            "n_required": np.repeat([opt(self.n_required, m) for m in names], K),
            "savings": np.repeat([opt(self.savings, m) for m in names], K),
        }


def default_n_grid(n_max: int, n_min: int = 5, num: int = 40) -> np.ndarray:
    """About ``num`` geometrically spaced integers from ``n_min`` to ``n_max``."""
    return np.unique(np.round(np.geomspace(n_min, n_max, num)).astype(np.int64))


def human_exact_power(eps, alpha, theta, n_grid) -> np.ndarray:
    """Exact ``P(U_CP(K, n) <= eps)``, ``K ~ Bin(n, theta)``, for each ``n`` (one-sided CP)."""
    ns = np.asarray(n_grid, dtype=np.int64)
    k = np.arange(int(ns.max()))[None, :]
    valid = k < ns[:, None]  # k = n has U = 1 > eps: never certifies
    # The CP upper end U solves P(Bin(n, U) <= k) = alpha and that CDF decreases in p, so
    # U <= eps  <=>  P(Bin(n, eps) <= k) = I_{1 - eps}(n - k, k + 1) <= alpha: one forward
    # incomplete-beta evaluation per (n, k) instead of a quantile inversion.
    cdf_eps = np.asarray(betainc(np.where(valid, ns[:, None] - k, 1).astype(float), k + 1.0,
                                 1.0 - eps))
    ok = valid & (cdf_eps <= alpha)
    kstar = np.where(ok.any(1), np.max(np.where(ok, k, -1), axis=1), -1).astype(float)
    # P(K <= k*) = I_{1 - theta}(n - k*, k* + 1) (regularised incomplete beta)
    cdf = np.asarray(betainc(np.maximum(ns - kstar, 1e-300), kstar + 1.0, 1.0 - theta))
    return np.where(kstar < 0, 0.0, np.where(kstar >= ns, 1.0, cdf))


def _check(eps, alpha, tpr, fpr, N, theta_guess, power, box_width, replicates):
    for name, v in (("eps", eps), ("tpr", tpr), ("fpr", fpr), ("theta_guess", theta_guess)):
        if not (np.isfinite(v) and 0 <= v <= 1):
            raise ValueError(f"{name} must be a number in [0, 1]; got {v!r}")
    if not 0 < eps < 1:
        raise ValueError(f"eps must be in (0, 1); got {eps!r}")
    check_alpha(alpha)
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1); got {power!r}")
    if theta_guess >= eps:
        raise ValueError(f"theta_guess ({theta_guess}) must be below eps ({eps}): a rate at or "
                         "above eps cannot be certified below it")
    if tpr <= fpr:
        raise ValueError(f"the judge must beat chance: need tpr > fpr; got tpr={tpr}, fpr={fpr}")
    if int(N) != N or N < 0:
        raise ValueError(f"N must be an integer >= 0; got {N!r}")
    if not (np.isfinite(box_width) and box_width >= 0):
        raise ValueError(f"box_width must be a finite number >= 0; got {box_width!r}")
    if int(replicates) != replicates or replicates < 10:
        raise ValueError(f"replicates must be an integer >= 10; got {replicates!r}")


def plan_sample_size(key, *, eps, alpha=0.05, tpr, fpr, N, theta_guess=None, power=0.8,
                     n_grid=None, n_max=2000, box_width=0.02, replicates=400,
                     estimators=PLAN_ESTIMATORS, chunk_size=2048,
                     progress: bool = False) -> PlanResult:
    """Smallest number of human labels certifying ``theta <= eps`` with given power.

    Args:
      key: PRNG key.
      eps: the failure-rate threshold to certify, in (0, 1).
      alpha: one-sided level (certificate at ``1 - alpha``).
      tpr, fpr: the judge's TPR and FPR (truth in the simulation; centre of the box).
      N: number of judge-only labels.
      theta_guess: assumed true failure rate (default ``eps / 2``); must be ``< eps``.
      power: target probability of certifying.
      n_grid: candidate ``n`` values (default :func:`default_n_grid` up to ``n_max``).
      n_max: largest ``n`` of the default grid.
      box_width: half-width ``w`` of the CMLE box around ``(tpr, fpr)``.
      replicates: simulated data sets per candidate ``n``.
      estimators: registered estimators to plan for (sides fixed to ``"upper"``).
      chunk_size: problems per compiled chunk.
      progress: show a tqdm bar (simulated data sets) on stderr.

    Returns:
      :class:`PlanResult`.

    Example:
      >>> import jax
      >>> r = plan_sample_size(jax.random.key(0), eps=0.05, tpr=0.9, fpr=0.05, N=10_000,
      ...                      theta_guess=0.02, replicates=100, estimators=["ppi"])
      >>> r.n_required["human_exact"] is not None
      True
    """
    theta = eps / 2 if theta_guess is None else float(theta_guess)
    _check(eps, alpha, tpr, fpr, N, theta, power, box_width, replicates)
    names = get_estimators(estimators)
    if n_grid is None and (int(n_max) != n_max or n_max < 5):
        raise ValueError(f"n_max must be an integer >= 5; got {n_max!r}")
    ns = default_n_grid(int(n_max)) if n_grid is None else np.asarray(n_grid, dtype=np.int64)
    if ns.ndim != 1 or ns.size == 0 or np.any(ns < 1):
        raise ValueError(f"n_grid must be a non-empty list of integers >= 1; got {n_grid!r}")
    R = int(replicates)
    sb = np.clip([tpr - box_width, tpr + box_width], 0.0, 1.0)
    fb = np.clip([fpr - box_width, fpr + box_width], 0.0, 1.0)
    total = ns.size * R
    chunk = min(_run.round_chunk(chunk_size), _run.round_chunk(total))
    hits = np.zeros((len(names), ns.size))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="plan", unit="data set", file=sys.stderr)
    for start in range(0, total, chunk):
        p = np.arange(start, min(start + chunk, total))
        row, rep = p // R, p % R
        P = p.size
        params = {
            "data_id": row, "rep": rep, "theta": np.full(P, theta), "tpr": np.full(P, tpr),
            "fpr": np.full(P, fpr), "n": ns[row].astype(float), "N": np.full(P, float(N)),
            "tpr_box": np.tile(sb, (P, 1)), "fpr_box": np.tile(fb, (P, 1)),
            "alpha": np.full(P, float(alpha)),
        }
        out = _run.run_problems(key, params, estimators=names, side="upper", chunk_size=chunk)
        with np.errstate(invalid="ignore"):
            ok = np.asarray(out.upper) <= eps  # NaN never certifies
        for e in range(len(names)):
            np.add.at(hits[e], row, ok[e])
        if bar is not None:
            bar.update(P)
    if bar is not None:
        bar.close()
    pw = {nm: hits[e] / R for e, nm in enumerate(names)}
    se = {nm: np.sqrt(p * (1 - p) / R) for nm, p in pw.items()}
    pw["human_exact"] = human_exact_power(eps, alpha, theta, ns)
    se["human_exact"] = np.zeros(ns.size)
    req = {}
    for nm, p in pw.items():
        idx = np.nonzero(p >= power)[0]
        req[nm] = int(ns[idx[0]]) if idx.size else None
    base = req["human_exact"]
    sav = {nm: (None if v is None or base is None or int(N) == 0 else base - v)
           for nm, v in req.items()}
    return PlanResult(ns, pw, se, req, sav, theta, int(N))


def format_plan(res: PlanResult, *, eps, alpha, power) -> str:
    """Human-readable summary table of a :class:`PlanResult`."""
    lines = [f"human labels needed to certify failure rate <= {eps:g} at level {1 - alpha:g} "
             f"with power {power:g}"]
    if res.theta_guess is not None:
        default = " (eps/2 by default)" if np.isclose(res.theta_guess, eps / 2) else ""
        lines[0] += (f", assuming a true failure rate of {res.theta_guess:g}{default}"
                     f" and N = {res.N} judge-only labels:")
    else:
        lines[0] += ":"
    lines.append(f"{'method':<16}{'n needed':>10}{'saved vs human-only':>22}")
    base = res.n_required["human_exact"]
    for nm in ["human_exact"] + [k for k in res.n_required if k != "human_exact"]:
        n = res.n_required[nm]
        ns = f"> {int(res.n_grid.max())}" if n is None else str(n)
        s = res.savings[nm]
        ss = "-" if s is None or nm == "human_exact" else f"{s} ({100 * s / base:.0f}%)"
        lines.append(f"{nm:<16}{ns:>10}{ss:>22}")
    if res.N == 0:
        lines.append("N = 0: without judge-only labels the judge adds no information about "
                     "the failure rate, so no labels can be saved (any difference above is "
                     "between interval methods, not data).")
    return "\n".join(lines)

