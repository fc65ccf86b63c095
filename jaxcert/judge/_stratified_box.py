"""Box check for verdict-stratified labelling: a full-likelihood ratio test.

The default box check (:mod:`jaxcert.judge.box_conflict`) reads the judge's TPR and
FPR off the labelled items alone (``n11 / (n11 + n10)``, ``n01 / (n01 + n00)``). Under
labelling stratified by the verdict those rates are biased: a design that labels 90
flagged and 10 unflagged items sees almost every labelled failure flagged and most
labelled passes flagged too, and would "contradict" a correct box. The full
likelihood (labelled and judge-only counts) is unchanged by such selection, so its
likelihood ratio

    LR = 2 [max over [0, 1]^2 of l  -  max over the box of l]

tests ``H0: (s, r) in box`` validly. Under ``H0`` its limit is a chi-bar-squared mixture
of chi2_0, chi2_1 and chi2_2 (two constrained parameters); we use the chi2_2 tail
``exp(-LR / 2)``, which bounds every such mixture's tail (conservative: the test rejects
less often than ``box_alpha``).
"""

from __future__ import annotations

import numpy as np

from jaxcert.counts import Counts
from jaxcert.judge.box_conflict import BoxCheck
from jaxcert.judge.solver import mle

__all__ = ["stratified_box_check"]


def _contradicted(free, sb, fb) -> str | None:
    """The box end the unconstrained fit lies beyond farthest (``None`` if inside)."""
    worst, name = 0.0, None
    for label, x, (lo, hi) in (("tpr", free.tpr, sb), ("fpr", free.fpr, fb)):
        if lo - x > worst:
            worst, name = lo - x, f"{label} >= {lo:g}"
        if x - hi > worst:
            worst, name = x - hi, f"{label} <= {hi:g}"
    return name


def stratified_box_check(counts: Counts, tpr_bounds, fpr_bounds, *, box_alpha) -> BoxCheck:
    """Full-likelihood box check, valid when labels were chosen by judge verdict.

    Args:
      counts: a scalar :class:`~jaxcert.Counts`.
      tpr_bounds, fpr_bounds: ``(lo, hi)`` boxes or ``None`` (``[0, 1]``).
      box_alpha: test level in (0, 1).

    Returns:
      :class:`~jaxcert.judge.box_conflict.BoxCheck`; ``tpr_hat``/``fpr_hat`` are the
      unconstrained MLE of ``(s, r)`` (not the calibration-only rates).

    Example:
      >>> from jaxcert import Counts
      >>> c = Counts.create(29.0, 0.0, 61.0, 10.0, m1=1324.0, m0=8676.0)
      >>> stratified_box_check(c, (0.85, 0.95), (0.05, 0.15), box_alpha=0.01).rejected
      False
    """
    sb = (0.0, 1.0) if tpr_bounds is None else tuple(float(v) for v in tpr_bounds)
    fb = (0.0, 1.0) if fpr_bounds is None else tuple(float(v) for v in fpr_bounds)
    free, boxed = mle(counts), mle(counts, np.array(sb), np.array(fb))
    lr = max(2.0 * (float(boxed.nll) - float(free.nll)), 0.0)
    p = float(np.exp(-lr / 2.0)) if lr > 0 else 1.0
    name = _contradicted(free, sb, fb) if lr > 0 else None
    return BoxCheck(statistic=lr, p_value=p, contradicted=name, tpr_hat=float(free.tpr),
                    fpr_hat=float(free.fpr), rejected=bool(p <= box_alpha),
                    box_alpha=float(box_alpha))
