"""``certify``: the front door for a judge-corrected failure-rate certificate.

One call takes per-item labels (human labels with ``None``/NaN for judge-only items,
judge verdicts for every item) or a :class:`~jaxcert.Counts`, optional boxes on the
judge's TPR ``s = P(J=1 | Y=1)`` and FPR ``r = P(J=1 | Y=0)``, and returns the point
estimate and confidence interval of the failure rate ``theta = P(Y=1)`` from one
estimator, or from every estimator side by side (``method="all"``).

Estimators (see ``docs/methods.md``):

* ``"cmle"``: constrained MLE with ``s in tpr``, ``r in fpr`` (:func:`~jaxcert.judge.
  solver.mle`), profile-likelihood interval by default (``interval="wald"``,
  ``"logit"`` or ``"bootstrap"`` for the alternatives);
* ``"umle"``: the same with the unconstrained box ``[0, 1]^2``;
* ``"ppi"``, ``"ppi++"``: prediction-powered inference (Angelopoulos et al. 2023);
* ``"rogan-gladen"``: moment correction ``(q - r) / (s - r)`` with calibration rates;
* ``"classical"``: Clopper-Pearson on the human labels alone (ignores the judge);
* ``"naive"``: the judge's failure rate, taken at face value (biased).

Identifiability needs a judge better than chance (``s > r``). When the box admits only
``s <= r``, or the fit lands there, ``cmle``/``umle``/``rogan-gladen`` raise a
``ValueError`` that says so and points to ``method="classical"``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jaxcert._types import Status, status_name
from jaxcert._validate import check_alpha, check_box, check_side
from jaxcert.counts import Counts
from jaxcert.judge import baselines
from jaxcert.judge import cmle_intervals as ci
from jaxcert.judge._render import CertifyResult, CertifyTable
from jaxcert.judge.solver import mle

__all__ = ["certify", "CertifyResult", "CertifyTable", "METHODS", "INTERVALS"]

METHODS = ("cmle", "umle", "ppi", "ppi++", "rogan-gladen", "classical", "naive")
#: Order of the rows of ``method="all"``: human-only first, then judge-based.
ALL_ORDER = ("classical", "naive", "rogan-gladen", "ppi", "ppi++", "umle", "cmle")
INTERVALS = ("profile", "wald", "logit", "bootstrap")
_BASELINE_INTERVAL = {  # short names: they appear in the certificate line
    "ppi": "clt",
    "ppi++": "clt",
    "rogan-gladen": "delta-method",
    "classical": "clopper-pearson",
    "naive": "clopper-pearson",
}
#: Fitted Youden index ``s - r`` below which a "judge near chance" warning is given.
NEAR_CHANCE = 0.1


def _f(x) -> float:
    return float(np.asarray(x, dtype=float))


def _box(b, name) -> tuple[float, float] | None:
    if b is None:
        return None
    arr = check_box(b, name)
    if arr.shape != (2,):
        raise ValueError(f"{name} must be one (lo, hi) pair; got shape {arr.shape}")
    return float(arr[0]), float(arr[1])


def _counts(human, judge) -> Counts:
    if isinstance(human, Counts):
        if judge is not None:
            raise ValueError("pass either Counts (and no judge labels) or human and judge labels")
        if np.shape(human.n11) != ():
            raise ValueError(f"certify takes one data set; got Counts of batch shape "
                             f"{np.shape(human.n11)} (use the batched solvers for many)")
        return Counts.create(*human).validate()
    if judge is None:
        raise ValueError("judge labels are missing: certify(human, judge, ...)")
    return Counts.from_labels(human, judge).validate()


def _chance_error(method: str, why: str) -> ValueError:
    return ValueError(f"method={method!r}: the judge is no better than chance ({why}), so the "
                      "judge-corrected failure rate is not identified; use method='classical' "
                      "(human labels only)")


def _rate(k, n) -> float | None:
    return None if n <= 0 else k / n


def _mle_method(c: Counts, method, tpr, fpr, alpha, side, interval, key, num_boot):
    sb, fb = (tpr, fpr) if method == "cmle" else (None, None)
    if sb is not None and fb is not None and sb[1] <= fb[0]:
        raise _chance_error(method, f"the boxes force TPR <= {sb[1]:g} <= {fb[0]:g} <= FPR")
    fit = mle(c, sb, fb)
    s_hat, r_hat = _f(fit.tpr), _f(fit.fpr)
    if int(fit.status) == Status.UNIDENTIFIED or s_hat <= r_hat:
        raise _chance_error(method, f"fitted TPR {s_hat:.4g} <= FPR {r_hat:.4g}")
    if interval == "profile":
        iv = ci.profile_interval(c, sb, fb, alpha=alpha, side=side)
    elif interval in ("wald", "logit"):
        iv = ci.wald_interval(c, sb, fb, alpha=alpha, side=side, kind=interval)
    else:
        iv = ci.bootstrap_interval(key, c, sb, fb, alpha=alpha, side=side, num_boot=num_boot)
    names = ("theta", "tpr", "fpr")
    bounds = ((0.0, 1.0), sb or (0.0, 1.0), fb or (0.0, 1.0))
    act = np.asarray(fit.active)
    active = tuple(f"{names[i]}{'>=' if j == 0 else '<='}{bounds[i][j]:g}"
                   for i in range(3) for j in range(2) if act[i, j])
    warnings = []
    for name, box, k, n in (("tpr", sb, c.n11, c.n11 + c.n10), ("fpr", fb, c.n01, c.n01 + c.n00)):
        cal = _rate(_f(k), _f(n))
        if box is not None and cal is not None and not box[0] <= cal <= box[1]:
            warnings.append(f"the {name} box [{box[0]:g}, {box[1]:g}] excludes the "
                            f"calibration-only estimate of {name.upper()} ({cal:.3g}); the "
                            "estimate is biased if the box is wrong")
    if s_hat - r_hat < NEAR_CHANCE:
        warnings.append(f"judge near chance: fitted TPR - FPR = {s_hat - r_hat:.3g}; the "
                        "correction divides by it and the interval is wide")
    status = int(fit.status) or int(iv.status)
    if status != Status.CONVERGED:
        warnings.append(f"status {status_name(status)} (fit {status_name(fit.status)}, "
                        f"interval {status_name(iv.status)}): use the numbers with care")
    diag = {"nll": _f(fit.nll), "kkt_residual": _f(fit.kkt_residual),
            "num_steps": int(fit.num_steps), "solver": "newton", "interval": interval,
            "fit_status": status_name(
                fit.status), "interval_status": status_name(iv.status), "warnings": warnings}
    return dict(estimate=_f(fit.theta), lower=_f(iv.lower), upper=_f(iv.upper), tpr_hat=s_hat,
                fpr_hat=r_hat, active=active, status=status_name(status), diagnostics=diag,
                interval=interval, tpr_box=sb, fpr_box=fb)


def _baseline_method(c: Counts, method, alpha, side):
    s_cal, r_cal = _rate(_f(c.n11), _f(c.n11 + c.n10)), _rate(_f(c.n01), _f(c.n01 + c.n00))
    if method == "rogan-gladen":
        if s_cal is None or r_cal is None:
            raise ValueError("method='rogan-gladen' needs human-labelled failures and passes "
                             "to estimate the judge's TPR and FPR; use method='cmle' with "
                             "tpr/fpr boxes, or method='classical'")
        if s_cal <= r_cal:
            raise _chance_error(method, f"calibration TPR {s_cal:.4g} <= FPR {r_cal:.4g}")
    fn = {"ppi": baselines.ppi, "ppi++": baselines.ppi_plusplus,
          "rogan-gladen": baselines.rogan_gladen, "classical": baselines.classical,
          "naive": baselines.naive}[method]
    iv = fn(c, alpha=alpha, side=side)
    if method == "rogan-gladen" and int(iv.status) == Status.UNIDENTIFIED:
        raise _chance_error(method, "calibration TPR <= FPR")
    rg = method == "rogan-gladen"
    return dict(estimate=_f(iv.estimate), lower=_f(iv.lower), upper=_f(iv.upper),
                tpr_hat=s_cal if rg else None, fpr_hat=r_cal if rg else None, active=(),
                status=status_name(iv.status), diagnostics={"warnings": [
                    "uncorrected: the interval is for the judge-positive rate, not the "
                    "failure rate (biased unless the judge is perfect)"] if method == "naive"
                    else []},
                interval=_BASELINE_INTERVAL[method], tpr_box=None, fpr_box=None)


def _one(c, method, tpr, fpr, alpha, side, interval, key, num_boot) -> CertifyResult:
    if method in ("cmle", "umle"):
        out = _mle_method(c, method, tpr, fpr, alpha, side, interval, key, num_boot)
    else:
        out = _baseline_method(c, method, alpha, side)
    if _f(c.N) == 0 and method not in ("classical", "naive"):
        out["diagnostics"]["warnings"].append(
            "no judge-only items: the judge adds information only through the calibration set")
    return CertifyResult(method=method, alpha=float(alpha), side=side, n_labeled=int(_f(c.n)),
                         n_unlabeled=int(_f(c.N)), **out)


def certify(human, judge: Sequence | None = None, *, tpr=None, fpr=None, alpha: float = 0.05,
            side: str = "two-sided", method: str = "cmle", interval: str = "profile",
            key=None, num_boot: int = 1000) -> CertifyResult | CertifyTable:
    """Certifies an LLM's failure rate from human labels and judge verdicts.

    Model: ``theta = P(Y=1)``, ``J | Y ~ Bernoulli(s^Y r^(1-Y))``; the human-labelled
    items give ``(Y, J)``, the judge-only items ``J``; the likelihood is in
    :mod:`jaxcert.judge.likelihood`. ``cmle`` maximises it subject to
    ``s in tpr``, ``r in fpr`` and inverts the profile-likelihood ratio
    ``2 [l_hat - l_p(theta)] <= chi2_1(1 - alpha)`` (two-sided) for the interval.

    Args:
      human: per-item human labels, shape ``(R,)``, 0/1 with ``None``/NaN for
        judge-only items; or a scalar :class:`~jaxcert.Counts` (then ``judge=None``).
      judge: per-item judge verdicts, shape ``(R,)``, 0/1, none missing.
      tpr: ``(lo, hi)`` box on the judge TPR, or ``None`` (``[0, 1]``); cmle only.
      fpr: ``(lo, hi)`` box on the judge FPR, or ``None``; cmle only.
      alpha: 1 - confidence level, in (0, 1).
      side: ``"two-sided"``, ``"upper"`` (certificate ``theta <= U``) or ``"lower"``.
      method: one of :data:`METHODS`, or ``"all"`` for a :class:`CertifyTable`.
      interval: interval for cmle/umle: ``"profile"``, ``"wald"``, ``"logit"``,
        ``"bootstrap"`` (needs ``key``).
      key: JAX PRNG key, used by ``interval="bootstrap"`` only.
      num_boot: bootstrap replicates.

    Returns:
      :class:`CertifyResult` (or :class:`CertifyTable` for ``method="all"``).

    Raises:
      ValueError: bad labels or lengths, empty data, a bad box/alpha/side/method/
        interval, ``tpr``/``fpr`` given to a method that cannot use them, a judge no
        better than chance (cmle, umle, rogan-gladen).

    Example:
      >>> res = certify([1, 0, 0, None, None], [1, 0, 1, 1, 0], side="upper")
      >>> print(res.certificate)  # doctest: +SKIP
      failure rate <= 0.7273 with 95% confidence (method cmle, profile interval)
    """
    check_alpha(alpha)
    if np.ndim(alpha) != 0:
        raise ValueError(f"alpha must be a single number; got shape {np.shape(alpha)}")
    alpha = float(alpha)
    check_side(side)
    if method not in METHODS + ("all",):
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS + ('all',)))}; "
                         f"got {method!r}")
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {', '.join(map(repr, INTERVALS))}; "
                         f"got {interval!r}")
    tpr, fpr = _box(tpr, "tpr"), _box(fpr, "fpr")
    if method not in ("cmle", "all") and (tpr is not None or fpr is not None):
        raise ValueError(f"method={method!r} does not use tpr/fpr boxes; use method='cmle' "
                         "(or drop tpr/fpr)")
    if interval == "bootstrap" and key is None and method in ("cmle", "umle", "all"):
        raise ValueError("interval='bootstrap' needs a PRNG key: key=jax.random.key(seed)")
    if int(num_boot) < 2:
        raise ValueError(f"num_boot must be an integer >= 2; got {num_boot!r}")
    c = _counts(human, judge)
    if method != "all":
        return _one(c, method, tpr, fpr, alpha, side, interval, key, num_boot)
    rows = []
    for m in ALL_ORDER:
        try:
            rows.append(_one(c, m, tpr, fpr, alpha, side, interval, key, num_boot))
        except ValueError as e:
            rows.append(CertifyResult.failed(m, str(e), alpha=alpha, side=side,
                                             n_labeled=int(_f(c.n)), n_unlabeled=int(_f(c.N))))
    return CertifyTable(tuple(rows))
