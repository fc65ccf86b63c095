"""The estimators behind :func:`jaxcert.judge.front_door.certify`, one worker each.

Every worker takes trusted inputs (validated once by ``certify``) and returns the
fields of a :class:`~jaxcert.judge._render.CertifyResult`: the CMLE/UMLE with its
interval and box check, the baselines with their degenerate-variance fallbacks, and
the Bayesian posterior.
"""

from __future__ import annotations

import numpy as np

from jaxcert._types import Status, status_name
from jaxcert.counts import Counts
from jaxcert.judge import baselines
from jaxcert.judge import cmle_intervals as ci
from jaxcert.judge import solver as _solver
from jaxcert.judge.box_conflict import BoxConflictError, box_check, hull_box, widen_box
from jaxcert.judge.calibration import calibrated_trusted

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


def _chance_error(method: str, why: str) -> ValueError:
    return ValueError(f"method={method!r}: the judge is no better than chance ({why}), so the "
                      "judge-corrected failure rate is not identified; use method='classical' "
                      "(human labels only)")


def _rate(k, n) -> float | None:
    return None if n <= 0 else k / n


def _fit(c: Counts, sb, fb):
    """The CMLE through the solver's trusted entry (inputs validated by certify)."""
    return _solver.mle_trusted(c, sb, fb), "exact"


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
    if on_conflict == "hull":
        return _hull(c, sb, fb, bc, box_alpha)
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


def _hull(c: Counts, sb, fb, bc, box_alpha):
    """``on_conflict="hull"``: both boxes hulled with the data's exact interval, always."""
    level = f"{100 * (1 - box_alpha):g}%"
    new_sb = hull_box(_f(c.n11), _f(c.n11 + c.n10), sb, box_alpha)
    new_fb = hull_box(_f(c.n01), _f(c.n01 + c.n00), fb, box_alpha)
    notes = [f"boxes hulled with the calibration data's {level} Clopper-Pearson intervals "
             f"(on_conflict='hull'): tpr [{new_sb[0]:.4g}, {new_sb[1]:.4g}], fpr "
             f"[{new_fb[0]:.4g}, {new_fb[1]:.4g}]; the certificate holds if either the "
             "given box or the data's interval contains the judge's rates"]
    if bc.rejected:
        notes.insert(0, f"the calibration data contradict the box bound {bc.contradicted} "
                        f"(p = {bc.p_value:.2g} <= box_alpha {box_alpha:g})")
    d = bc.to_dict()
    d["widened"] = True
    return new_sb, new_fb, d, notes


def _fmt_rate(k, n) -> str:
    k, n = _f(k), _f(n)
    return "n/a" if n <= 0 else f"{k:g}/{n:g} = {k / n:.3g}"


#: Width of the maximisers' theta range above which a report says theta is not identified.
RIDGE_WIDTH = 1e-9


def _ridge_reason(c: Counts) -> str:
    if _f(c.n11 + c.n01) == 0:
        return "no labelled item the judge flagged"
    if _f(c.n10 + c.n00) == 0:
        return "no labelled item the judge passed"
    return "too few kinds of labelled items"


def mle_method(c: Counts, method, tpr, fpr, alpha, side, interval, key, num_boot,
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
    t_lo, t_hi = _f(fit.theta_lo), _f(fit.theta_hi)
    if t_hi - t_lo > RIDGE_WIDTH:
        warnings.append(
            f"the data do not identify the failure rate: every value in [{t_lo:.4g}, "
            f"{t_hi:.4g}] fits them equally well ({_ridge_reason(c)}); the estimate is the "
            "midpoint and the interval rests on the TPR/FPR box, not on the data")
    status = int(fit.status) or int(iv.status)
    if status != Status.CONVERGED:
        warnings.append(f"status {status_name(status)} (fit {status_name(fit.status)}, "
                        f"interval {status_name(iv.status)}): use the numbers with care")
    diag = {"nll": _f(fit.nll), "kkt_residual": _f(fit.kkt_residual), "theta_range": [t_lo, t_hi],
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


def baseline_method(c: Counts, method, alpha, side):
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


def bayes_method(c: Counts, tpr, fpr, alpha, side):
    from jaxcert.bayes import make_prior, posterior_summary

    post = posterior_summary(c, make_prior(tpr, fpr), alpha=alpha, side=side)
    return dict(estimate=_f(post.mean), lower=_f(post.lower), upper=_f(post.upper),
                active=(), status=status_name(post.status),
                diagnostics={"warnings": [], "posterior_median": _f(post.median),
                             "posterior_sd": _f(post.sd)},
                interval="credible", tpr_box=tpr, fpr_box=fpr)
