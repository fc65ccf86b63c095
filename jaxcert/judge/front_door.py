"""The front door for a judge-corrected failure-rate certificate (:func:`certify`).

One call takes per-item labels (human labels with ``None``/NaN for judge-only items,
judge verdicts for every item) or a :class:`~jaxcert.Counts`, optional boxes on the
judge's TPR ``s = P(J=1 | Y=1)`` and FPR ``r = P(J=1 | Y=0)``, and returns the point
estimate and confidence interval of the failure rate ``theta = P(Y=1)`` from one
estimator, or from every estimator side by side (``method="all"``).

Estimators (see ``docs/methods.md``):

* ``"cmle"``: constrained MLE with ``s in tpr``, ``r in fpr`` (:func:`~jaxcert.judge.
  solver.mle`), calibrated bound by default (:mod:`jaxcert.judge.calibration`;
  ``interval="profile"``, ``"wald"``, ``"logit"`` or ``"bootstrap"`` for the
  alternatives). Before fitting, the boxes are tested against the calibration data
  (:mod:`jaxcert.judge.box_conflict`): a rejected box raises
  :class:`~jaxcert.judge.box_conflict.BoxConflictError`, or is widened by the data's
  exact confidence interval with ``on_conflict="widen"``;
* ``"umle"``: the same with the unconstrained box ``[0, 1]^2``;
* ``"ppi"``, ``"ppi++"``: prediction-powered inference (Angelopoulos et al. 2023);
* ``"rogan-gladen"``: moment correction ``(q - r) / (s - r)`` with calibration rates;
* ``"classical"``: Clopper-Pearson on the human labels alone (ignores the judge);
* ``"naive"``: the judge's failure rate, taken at face value (biased);
* ``"bayes"``: posterior of ``theta`` with uniform priors on ``[0, 1]`` and on the
  boxes (:func:`jaxcert.bayes.posterior_summary`); estimate = posterior mean, the
  interval is a credible interval.

Identifiability needs a judge better than chance (``s > r``). When the box admits only
``s <= r``, or the fit lands there, ``cmle``/``umle``/``rogan-gladen`` raise a
``ValueError`` that says so and points to ``method="classical"``.

Validation happens here, once: labels/counts, boxes, alpha, side, method and interval
are checked eagerly, and trusted arrays go to the kernels (the fit and the interval
kernels never re-validate).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

from jaxcert._types import Status, status_name
from jaxcert._validate import check_alpha, check_box, check_side
from jaxcert.counts import Counts
from jaxcert.judge import baselines
from jaxcert.judge import cmle_intervals as ci
from jaxcert.judge import solver as _solver
from jaxcert.judge._render import CertifyResult, CertifyTable
from jaxcert.judge.box_conflict import BOX_ALPHA, BoxConflictError, box_check, widen_box
from jaxcert.judge.calibration import calibrated_trusted

__all__ = ["certify", "CertifyResult", "CertifyTable", "BoxConflictError", "METHODS",
           "INTERVALS"]

METHODS = ("cmle", "umle", "ppi", "ppi++", "rogan-gladen", "classical", "naive", "bayes")
#: Order of the rows of ``method="all"``: human-only first, then judge-based.
ALL_ORDER = ("classical", "naive", "rogan-gladen", "ppi", "ppi++", "umle", "cmle", "bayes")
INTERVALS = ("calibrated", "profile", "wald", "logit", "bootstrap")
ON_CONFLICT = ("error", "widen")
_BASELINE_INTERVAL = {  # short names: they appear in the certificate line
    "ppi": "clt",
    "ppi++": "clt",
    "rogan-gladen": "delta-method",
    "classical": "clopper-pearson",
    "naive": "clopper-pearson",
}
#: Estimates within this distance of 0 or 1 are on the boundary (Wald fallback).
BOUNDARY_TOL = 1e-9
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


def _fit(c: Counts, sb, fb):
    """The CMLE through the solver's trusted kernel (inputs validated by certify)."""
    arr = lambda b: jnp.asarray([0.0, 1.0] if b is None else b, jnp.float64)[None]  # noqa: E731
    cv = jnp.stack([jnp.asarray(v, jnp.float64) for v in c])[None]
    solver = "exact" if "exact" in getattr(_solver, "SOLVERS", ()) else "newton"
    out = _solver._mle_flat_jit(cv, arr(sb), arr(fb), jnp.float64(1e-10), jnp.float64(0.01),
                                solver=solver, max_steps=1 if solver == "exact" else 100)
    return _solver._to_result(out, ()), solver


def _check_box_conflict(c: Counts, method, sb, fb, box_alpha, on_conflict):
    """Box check; returns ``(sb, fb, check_dict, warnings)`` (boxes widened if asked)."""
    if method != "cmle" or (sb is None and fb is None):
        return sb, fb, None, []
    if on_conflict in ("stratified-error", "stratified-widen"):
        # calibration-only rates are biased under stratified labelling: full likelihood
        from jaxcert.judge._stratified_box import stratified_box_check

        bc = stratified_box_check(c, sb, fb, box_alpha=box_alpha)
        if bc.rejected:
            raise BoxConflictError(
                f"the data contradict the box bound {bc.contradicted} (full-likelihood "
                f"LR {bc.statistic:.3g}, p = {bc.p_value:.2g} <= box_alpha {box_alpha:g}; "
                "stratified labelling, chi2_2 reference); fix the box (widening by the "
                "labelled items' rates needs simple random labelling)", bc)
        return sb, fb, bc.to_dict(), []
    bc = box_check(c, sb, fb, box_alpha=box_alpha)
    if not bc.rejected:
        soft = [] if bc.contradicted is None else [
            f"the calibration-only estimates (TPR {_fmt_rate(c.n11, c.n11 + c.n10)}, FPR "
            f"{_fmt_rate(c.n01, c.n01 + c.n00)}) fall outside the box ({bc.contradicted} "
            f"is crossed) but the box check does not reject it (p = {bc.p_value:.2g}); the "
            "estimate is biased if the box is wrong"]
        return sb, fb, bc.to_dict(), soft
    why = (f"the calibration data contradict the box bound {bc.contradicted} "
           f"(calibration TPR {_fmt_rate(c.n11, c.n11 + c.n10)}, FPR "
           f"{_fmt_rate(c.n01, c.n01 + c.n00)}; box check LR {bc.statistic:.3g}, "
           f"p = {bc.p_value:.2g} <= box_alpha {box_alpha:g})")
    if on_conflict == "error":
        raise BoxConflictError(why + "; fix the box, or pass on_conflict='widen' (CLI: "
                               "--on-box-conflict widen) to widen it by the data's exact "
                               "confidence interval", bc)
    level = f"{100 * (1 - box_alpha):g}%"
    notes = [why]
    if bc.tpr_hat is not None and not sb[0] <= bc.tpr_hat <= sb[1]:
        new = widen_box(_f(c.n11), _f(c.n11 + c.n10), sb, box_alpha)
        notes.append(f"tpr box widened from [{sb[0]:g}, {sb[1]:g}] to [{new[0]:.4g}, "
                     f"{new[1]:.4g}] (hull with the {level} Clopper-Pearson interval)")
        sb = new
    if bc.fpr_hat is not None and not fb[0] <= bc.fpr_hat <= fb[1]:
        new = widen_box(_f(c.n01), _f(c.n01 + c.n00), fb, box_alpha)
        notes.append(f"fpr box widened from [{fb[0]:g}, {fb[1]:g}] to [{new[0]:.4g}, "
                     f"{new[1]:.4g}] (hull with the {level} Clopper-Pearson interval)")
        fb = new
    d = bc.to_dict()
    d["widened"] = True
    return sb, fb, d, notes


def _fmt_rate(k, n) -> str:
    k, n = _f(k), _f(n)
    return "n/a" if n <= 0 else f"{k:g}/{n:g} = {k / n:.3g}"


def _mle_method(c: Counts, method, tpr, fpr, alpha, side, interval, key, num_boot,
                box_alpha, on_conflict):
    sb, fb = (tpr, fpr) if method == "cmle" else (None, None)
    if sb is not None and fb is not None and sb[1] <= fb[0]:
        raise _chance_error(method, f"the boxes force TPR <= {sb[1]:g} <= {fb[0]:g} <= FPR")
    sb, fb, check, warnings = _check_box_conflict(c, method, sb, fb, box_alpha, on_conflict)
    fit, solver = _fit(c, sb, fb)
    s_hat, r_hat = _f(fit.tpr), _f(fit.fpr)
    if int(fit.status) == Status.UNIDENTIFIED or s_hat <= r_hat:
        raise _chance_error(method, f"fitted TPR {s_hat:.4g} <= FPR {r_hat:.4g}")
    if interval == "calibrated":
        iv = calibrated_trusted(c, sb, fb, alpha, side)
    elif interval == "profile":
        iv = ci.profile_interval(c, sb, fb, alpha=alpha, side=side)
    elif interval in ("wald", "logit"):
        iv = ci.wald_interval(c, sb, fb, alpha=alpha, side=side, kind=interval)
        iv, note = _wald_fallback(c, sb, fb, iv, alpha, side)
        warnings += note
    else:
        iv = ci.bootstrap_interval(key, c, sb, fb, alpha=alpha, side=side, num_boot=num_boot)
    names = ("theta", "tpr", "fpr")
    bounds = ((0.0, 1.0), sb or (0.0, 1.0), fb or (0.0, 1.0))
    act = np.asarray(fit.active)
    active = tuple(f"{names[i]}{'>=' if j == 0 else '<='}{bounds[i][j]:g}"
                   for i in range(3) for j in range(2) if act[i, j])
    if s_hat - r_hat < NEAR_CHANCE:
        warnings.append(f"judge near chance: fitted TPR - FPR = {s_hat - r_hat:.3g}; the "
                        "correction divides by it and the interval is wide")
    status = int(fit.status) or int(iv.status)
    if status != Status.CONVERGED:
        warnings.append(f"status {status_name(status)} (fit {status_name(fit.status)}, "
                        f"interval {status_name(iv.status)}): use the numbers with care")
    diag = {"nll": _f(fit.nll), "kkt_residual": _f(fit.kkt_residual),
            "num_steps": int(fit.num_steps), "solver": solver, "interval": interval,
            "fit_status": status_name(
                fit.status), "interval_status": status_name(iv.status), "warnings": warnings}
    return dict(estimate=_f(fit.theta), lower=_f(iv.lower), upper=_f(iv.upper), tpr_hat=s_hat,
                fpr_hat=r_hat, active=active, status=status_name(status), diagnostics=diag,
                interval=interval, tpr_box=sb, fpr_box=fb, box_check=check)


def _wald_fallback(c, sb, fb, iv, alpha, side):
    """A Wald interval at ``theta_hat`` 0 or 1 is replaced by the calibrated bound.

    There the Fisher information of theta is infinite, so the Wald standard error is 0
    (an interval of zero width, claiming certainty) and the logit-Wald one is ``[0, 1]``.
    """
    est = _f(iv.estimate)
    if BOUNDARY_TOL < est < 1.0 - BOUNDARY_TOL:
        return iv, []
    cal = calibrated_trusted(c, sb, fb, alpha, side)
    note = ("Wald standard error is 0 at an estimate on the boundary (a zero-width interval "
            "would claim certainty): calibrated likelihood bound used instead")
    return cal, [note]


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
    warnings = (["uncorrected: the interval is for the judge-positive rate, not the "
                 "failure rate (biased unless the judge is perfect)"] if method == "naive"
                else [])
    raw = _f(iv.estimate)
    interval_name = _BASELINE_INTERVAL[method]
    if method in ("ppi", "ppi++") and _ppi_fell_back(c, iv, alpha, side):
        interval_name = "clopper-pearson fallback"
        warnings.append(f"{method}: the CLT variance is degenerate here (no labelled failure, "
                        "one label, or no labelled disagreement) or its clipped interval is "
                        "impossible: exact Clopper-Pearson on the human labels used instead "
                        f"(raw estimate {raw:.4g})")
    return dict(estimate=min(max(raw, 0.0), 1.0), lower=_f(iv.lower), upper=_f(iv.upper),
                tpr_hat=s_cal if rg else None, fpr_hat=r_cal if rg else None, active=(),
                status=status_name(iv.status),
                diagnostics={"warnings": warnings, "estimate_raw": raw},
                interval=interval_name, tpr_box=None, fpr_box=None)


def _ppi_fell_back(c: Counts, iv, alpha, side) -> bool:
    """Whether the PPI interval is the human-only Clopper-Pearson one (for the note)."""
    cl = baselines.classical(c, alpha=alpha, side=side)
    return (_f(iv.lower), _f(iv.upper)) == (_f(cl.lower), _f(cl.upper))


def _bayes_method(c: Counts, tpr, fpr, alpha, side):
    from jaxcert.bayes import make_prior, posterior_summary

    post = posterior_summary(c, make_prior(tpr, fpr), alpha=alpha, side=side)
    return dict(estimate=_f(post.mean), lower=_f(post.lower), upper=_f(post.upper),
                active=(), status=status_name(post.status),
                diagnostics={"warnings": [], "posterior_median": _f(post.median),
                             "posterior_sd": _f(post.sd)},
                interval="credible", tpr_box=tpr, fpr_box=fpr)


LABELLINGS = ("random", "stratified")
#: Methods whose estimate or interval assumes simple random labelling (SRS).
SRS_ONLY = {"ppi": "its estimate and CLT variance treat the labelled items as a simple "
                   "random sample",
            "ppi++": "its estimate and CLT variance treat the labelled items as a simple "
                     "random sample",
            "classical": "the labelled items over-represent one judge stratum (its "
                         "stratified form, q_hat u_hat + (1 - q_hat) v_hat, is method='umle')",
            "rogan-gladen": "its TPR/FPR are read off the labelled items, which are not a "
                            "random sample"}
SRS_INTERVALS = {"wald": "the expected Fisher information", "logit": "the expected Fisher "
                 "information", "bootstrap": "the parametric resampling"}


def _check_labelling(method, interval, labelling):
    """Refuses what verdict-stratified labelling invalidates (likelihood methods stay valid)."""
    if labelling != "stratified":
        return
    if method in SRS_ONLY:
        raise ValueError(f"method={method!r} assumes simple random labelling and the data "
                         f"were labelled by judge stratum: {SRS_ONLY[method]}; use "
                         "method='cmle', 'umle' or 'bayes'")
    if method in ("cmle", "umle") and interval in SRS_INTERVALS:
        raise ValueError(f"interval={interval!r} assumes simple random labelling "
                         f"({SRS_INTERVALS[interval]}); use interval='calibrated' or 'profile'")


def _one(c, method, tpr, fpr, alpha, side, interval, key, num_boot, box_alpha,
         on_conflict, labelling="random") -> CertifyResult:
    _check_labelling(method, interval, labelling)
    if labelling == "stratified" and method == "cmle":
        on_conflict = f"stratified-{on_conflict}"  # full-likelihood box check
    if method == "bayes":
        out = _bayes_method(c, tpr, fpr, alpha, side)
    elif method in ("cmle", "umle"):
        out = _mle_method(c, method, tpr, fpr, alpha, side, interval, key, num_boot,
                          box_alpha, on_conflict)
    else:
        out = _baseline_method(c, method, alpha, side)
    if _f(c.N) == 0 and method not in ("classical", "naive"):
        out["diagnostics"]["warnings"].append(
            "no judge-only items: the judge adds information only through the calibration set")
    return CertifyResult(method=method, alpha=float(alpha), side=side, n_labeled=int(_f(c.n)),
                         n_unlabeled=int(_f(c.N)), **out)


def certify(human, judge: Sequence | None = None, *, tpr=None, fpr=None, alpha: float = 0.05,
            side: str = "two-sided", method: str = "cmle", interval: str = "calibrated",
            key=None, num_boot: int = 1000, box_alpha: float = BOX_ALPHA,
            on_conflict: str = "error", labelling: str = "random") -> CertifyResult | CertifyTable:
    """Certifies an LLM's failure rate from human labels and judge verdicts.

    Model: ``theta = P(Y=1)``, ``J | Y ~ Bernoulli(s^Y r^(1-Y))``; the human-labelled
    items give ``(Y, J)``, the judge-only items ``J``; the likelihood is in
    :mod:`jaxcert.judge.likelihood`. ``cmle`` maximises it subject to
    ``s in tpr``, ``r in fpr``; its default interval is the calibrated bound of
    :mod:`jaxcert.judge.calibration` (the profile-likelihood bound made exact where
    the information is discrete). With boxes, the calibration data first test them
    (:func:`~jaxcert.judge.box_conflict.box_check`, level ``box_alpha``).

    Args:
      human: per-item human labels, shape ``(R,)``, 0/1 with ``None``/NaN for
        judge-only items; or a scalar :class:`~jaxcert.Counts` (then ``judge=None``).
      judge: per-item judge verdicts, shape ``(R,)``, 0/1, none missing.
      tpr: ``(lo, hi)`` box on the judge TPR, or ``None`` (``[0, 1]``); cmle only.
      fpr: ``(lo, hi)`` box on the judge FPR, or ``None``; cmle only.
      alpha: 1 - confidence level, in (0, 1).
      side: ``"two-sided"``, ``"upper"`` (certificate ``theta <= U``) or ``"lower"``.
      method: one of :data:`METHODS`, or ``"all"`` for a :class:`CertifyTable`.
      interval: interval for cmle/umle: ``"calibrated"`` (default), ``"profile"``,
        ``"wald"``, ``"logit"``, ``"bootstrap"`` (needs ``key``).
      key: JAX PRNG key, used by ``interval="bootstrap"`` only.
      num_boot: bootstrap replicates.
      box_alpha: level of the box-conflict test, in (0, 1).
      on_conflict: ``"error"`` (raise :class:`BoxConflictError` when the calibration
        data reject a box) or ``"widen"`` (widen the contradicted box by the data's
        exact ``1 - box_alpha`` interval and say so in the warnings).
      labelling: ``"random"`` (the labelled items are a simple random sample) or
        ``"stratified"`` (chosen with rates that depend on the judge verdict, e.g. by
        :func:`jaxcert.judge.design.design_labelling`). The likelihood is unchanged by
        such selection, so cmle/umle (calibrated or profile interval) and bayes stay
        valid; ppi, ppi++, classical, rogan-gladen and the wald/logit/bootstrap
        intervals assume random labelling and raise (``method="all"`` lists them as
        failed rows with the reason); the box check uses the full likelihood
        (:mod:`jaxcert.judge._stratified_box`) and a rejected box always raises.

    Returns:
      :class:`CertifyResult` (or :class:`CertifyTable` for ``method="all"``), with
      ``.box_check`` (statistic, p-value, contradicted bound) and ``.warnings``.

    Raises:
      BoxConflictError: (a ``ValueError``) the calibration data reject a box at
        ``box_alpha`` and ``on_conflict="error"``.
      ValueError: bad labels or lengths, empty data, a bad box/alpha/side/method/
        interval, ``tpr``/``fpr`` given to a method that cannot use them, a judge no
        better than chance (cmle, umle, rogan-gladen).

    Example:
      >>> res = certify([1, 0, 0, None, None], [1, 0, 1, 1, 0], side="upper")
      >>> print(res.certificate)  # doctest: +SKIP
      failure rate <= 0.9 with 95% confidence (method cmle, calibrated interval)
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
    if labelling not in LABELLINGS:
        raise ValueError(f"labelling must be 'random' or 'stratified'; got {labelling!r}")
    if on_conflict not in ON_CONFLICT:
        raise ValueError(f"on_conflict must be 'error' or 'widen'; got {on_conflict!r}")
    if np.ndim(box_alpha) != 0 or not 0 < float(box_alpha) < 1:
        raise ValueError(f"box_alpha must be a number in (0, 1); got {box_alpha!r}")
    tpr, fpr = _box(tpr, "tpr"), _box(fpr, "fpr")
    if method not in ("cmle", "bayes", "all") and (tpr is not None or fpr is not None):
        raise ValueError(f"method={method!r} does not use tpr/fpr boxes; use method='cmle' "
                         "(or drop tpr/fpr)")
    if interval == "bootstrap" and key is None and method in ("cmle", "umle", "all"):
        raise ValueError("interval='bootstrap' needs a PRNG key: key=jax.random.key(seed)")
    if int(num_boot) < 2:
        raise ValueError(f"num_boot must be an integer >= 2; got {num_boot!r}")
    c = _counts(human, judge)
    args = (tpr, fpr, alpha, side, interval, key, num_boot, float(box_alpha), on_conflict,
            labelling)
    if method != "all":
        return _one(c, method, *args)
    rows = []
    for m in ALL_ORDER:
        try:
            rows.append(_one(c, m, *args))
        except ValueError as e:
            rows.append(CertifyResult.failed(m, str(e), alpha=alpha, side=side,
                                             n_labeled=int(_f(c.n)), n_unlabeled=int(_f(c.N))))
    return CertifyTable(tuple(rows))
