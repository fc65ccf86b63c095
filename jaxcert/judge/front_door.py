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

import numpy as np

from jaxcert._validate import check_alpha, check_box, check_side
from jaxcert.counts import Counts
from jaxcert.judge._certify_methods import (
    baseline_method,
    bayes_method,
    mle_method,
)
from jaxcert.judge._render import CertifyResult, CertifyTable
from jaxcert.judge.box_conflict import BOX_ALPHA, BoxConflictError

__all__ = ["certify", "CertifyResult", "CertifyTable", "BoxConflictError", "METHODS",
           "INTERVALS"]

METHODS = ("cmle", "umle", "ppi", "ppi++", "rogan-gladen", "classical", "naive", "bayes")
#: Order of the rows of ``method="all"``: human-only first, then judge-based.
ALL_ORDER = ("classical", "naive", "rogan-gladen", "ppi", "ppi++", "umle", "cmle", "bayes")
INTERVALS = ("calibrated", "profile", "wald", "logit", "bootstrap")
ON_CONFLICT = ("error", "widen", "hull")
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
         on_conflict, labelling="random", robustness=None) -> CertifyResult:
    _check_labelling(method, interval, labelling)
    if labelling == "stratified" and method == "cmle":
        on_conflict = f"stratified-{on_conflict}"  # full-likelihood box check
    if method == "bayes":
        out = bayes_method(c, tpr, fpr, alpha, side)
    elif method in ("cmle", "umle"):
        out = mle_method(c, method, tpr, fpr, alpha, side, interval, key, num_boot,
                          box_alpha, on_conflict)
    else:
        out = baseline_method(c, method, alpha, side)
    if _f(c.N) == 0 and method not in ("classical", "naive"):
        out["diagnostics"]["warnings"].append(
            "no judge-only items: the judge adds information only through the calibration set")
    if robustness is not None:
        out.update(_robustness(c, method, interval, alpha, side, out, *robustness))
    return CertifyResult(method=method, alpha=float(alpha), side=side, n_labeled=int(_f(c.n)),
                         n_unlabeled=int(_f(c.N)), **out)


def _robustness(c, method, interval, alpha, side, out, want_sensitivity, target):
    """``sensitivity`` and ``tipping`` fields (cmle with a calibrated/profile upper end)."""
    from jaxcert.judge.sensitivity import bound_sensitivity, tipping_box, tipping_sentence

    why = None
    if method != "cmle":
        why = f"method {method!r} does not use the boxes"
    elif interval not in ("calibrated", "profile"):
        why = f"interval {interval!r} has no implicit derivative (use calibrated or profile)"
    elif side == "lower":
        why = "side='lower' certifies no upper bound"
    if why is not None:
        out["diagnostics"]["warnings"].append(f"no robustness margins: {why}")
        return {}
    sb, fb = out["tpr_box"], out["fpr_box"]
    extra = {"sensitivity": bound_sensitivity(c, sb, fb, alpha=alpha, side=side,
                                              interval=interval)}
    if target is not None:
        tb = tipping_box(c, sb, fb, target, alpha=alpha, side=side, interval=interval)
        extra["tipping"] = {**tb._asdict(), "summary": tipping_sentence(tb)}
    return extra


def certify(human, judge: Sequence | None = None, *, tpr=None, fpr=None, alpha: float = 0.05,
            side: str = "two-sided", method: str = "cmle", interval: str = "calibrated",
            key=None, num_boot: int = 1000, box_alpha: float = BOX_ALPHA,
            on_conflict: str = "error", labelling: str = "random", sensitivity: bool = False,
            target: float | None = None) -> CertifyResult | CertifyTable:
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
        exact ``1 - box_alpha`` interval and say so in the warnings) or ``"hull"``
        (always hull both boxes with that interval: valid when either the box or the
        data's interval holds; use it when the box cannot be checked by few labels).
      labelling: ``"random"`` (the labelled items are a simple random sample) or
        ``"stratified"`` (chosen with rates that depend on the judge verdict, e.g. by
        :func:`jaxcert.judge.design.design_labelling`). The likelihood is unchanged by
        such selection, so cmle/umle (calibrated or profile interval) and bayes stay
        valid; ppi, ppi++, classical, rogan-gladen and the wald/logit/bootstrap
        intervals assume random labelling and raise (``method="all"`` lists them as
        failed rows with the reason); the box check uses the full likelihood
        (:mod:`jaxcert.judge._stratified_box`) and a rejected box always raises.

      sensitivity: also report ``.sensitivity``, ``dU/d(bound)`` for the four box
        bounds (cmle with the calibrated or profile interval, ``side`` upper or
        two-sided; exact implicit derivatives, :mod:`jaxcert.judge.sensitivity`).
        Costs one extra compilation (~10 s) per process.
      target: ``eps`` of the certificate ``U <= eps``: also report ``.tipping``, how
        far each box bound (and all four together) may move before it fails, and
        ``.sensitivity``.

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
        raise ValueError(f"on_conflict must be 'error', 'widen' or 'hull'; got {on_conflict!r}")
    if on_conflict == "hull" and labelling == "stratified":
        raise ValueError("on_conflict='hull' reads TPR/FPR intervals off the labelled items, "
                         "which needs simple random labelling; use on_conflict='error' with "
                         "labelling='stratified'")
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
    if target is not None and (np.ndim(target) != 0 or not 0 < float(target) < 1):
        raise ValueError(f"target must be a number in (0, 1); got {target!r}")
    robust = (True, None if target is None else float(target)) if (
        sensitivity or target is not None) else None
    args = (tpr, fpr, alpha, side, interval, key, num_boot, float(box_alpha), on_conflict,
            labelling, robust)
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
