"""Box-conflict check: do the calibration data contradict the TPR/FPR boxes?

A CMLE certificate is only as good as its boxes on the judge's TPR ``s`` and FPR
``r``: a box that misses the truth drops the coverage of the bound to 0.54 on
average (0.00 at worst) in the reproduction grid. The human-labelled items carry
their own evidence about ``(s, r)``, and this module tests ``H0: s in [s_lo, s_hi]
and r in [r_lo, r_hi]`` with it.

Statistic. On the calibration cells alone the likelihood separates into
``n11 ~ Bin(n1, s)`` and ``n01 ~ Bin(n0, r)`` (the ``theta`` factor is unconstrained
and cancels), so the likelihood ratio of the boxed against the unboxed fit is

    T = T_s + T_r,   T_s = 2 n1 KL(s_hat || clip(s_hat, s_lo, s_hi))

(``KL``: Bernoulli Kullback-Leibler divergence; ``T_r`` alike), 0 when the
calibration estimate lies in the box.

Null distribution, exact. The p-value is ``sup over the box of P(T >= t_obs)``,
computed by enumerating the binomial lattice of ``(n11, n01)`` given the class sizes
(:mod:`jaxcert.judge._box_exact`); the supremum sits at a corner of the box, so the
test has size at most ``box_alpha`` at every point of the box, at any sample size.
It replaced the asymptotic reference below, whose size on a point box with 25 labels
was 0.020 at level 0.01; that reference remains the fallback for classes too large for the
lattice (traced kernels: about ``n s (1 - s) > 250``; eager calls enumerate up to
65,535 labels per class), where it is accurate.

Asymptotic reference. ``T`` is largest in distribution when the
truth sits on a corner of the box (the least favourable point). There, per component
with ``Z`` standard normal and ``delta = width / se`` (box width over the standard
error of the estimate at the box), ``T_j > 0`` exactly when ``Z < 0`` (crossing the
near end) or ``Z > delta`` (crossing the far end), so ``P(T_j > 0) = w_j = 1/2 +
Phi(-delta)``, and given ``T_j > 0`` it is ``chi2_1`` or stochastically smaller. The
reference is the chi-bar-squared mixture

    P(T > t) = w_s w_r P(chi2_2 > t) + [w_s (1 - w_r) + w_r (1 - w_s)] P(chi2_1 > t)

which is ``1/4 chi2_0 + 1/2 chi2_1 + 1/4 chi2_2`` for wide boxes (``w = 1/2``),
``chi2_2`` for point boxes (``w = 1``), and conservative in between. ``w_j = 1/2``
when one end of the box is a support end (0 or 1: only one side can be crossed), and
``w_j = 0`` for an unconstrained or unlabelled component. ``se`` is taken at the
point of the box nearest 1/2 (the largest binomial standard error: conservative).

Widening (``on_conflict="widen"``): each contradicted box (``T_j > 0``) is replaced
by its hull with the calibration data's exact two-sided Clopper-Pearson interval at
level ``1 - box_alpha``. This repairs a box the data can see is wrong; a wrong box
the data cannot detect (few labels) still breaks the certificate.

Hull (``on_conflict="hull"``): both boxes are always replaced by their hull with that
interval (``[0, 1]`` for a rate without calibration items), whatever the test says.
The certificate then holds when either the box or the data's interval contains the
judge's rates (probability ``>= 1 - 2 box_alpha`` for the data alone): it trades the
box's narrowing for validity when the box cannot be checked.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr

from jaxcert._numerics import as_float
from jaxcert.intervals.binomial import _cp
from jaxcert.judge._box_exact import LATTICE, exact_p_value, lr_statistic

__all__ = ["BoxCheck", "BoxConflictError", "box_check", "box_check_stats", "widen_box"]

#: Default level of the box-conflict test.
BOX_ALPHA = 0.01


class BoxConflictError(ValueError):
    """The calibration data reject the TPR/FPR boxes (a ``ValueError``).

    Attributes:
      box_check: the :class:`BoxCheck` that failed.
    """

    def __init__(self, message: str, box_check: BoxCheck):
        super().__init__(message)
        self.box_check = box_check


class BoxCheck(NamedTuple):
    """Result of :func:`box_check` (plain Python values).

    Attributes:
      statistic: the likelihood-ratio statistic ``T`` (``inf`` if a box excludes an
        observed rate of exactly 0 or 1 that its own end forbids).
      p_value: exact p-value of ``H0: (s, r) in box`` (chi-bar-squared beyond 65,535
        labels per class).
      contradicted: the bound the data contradict most, e.g. ``"fpr <= 0.3"``, or
        ``None`` when the estimates lie inside the boxes.
      tpr_hat, fpr_hat: calibration-only estimates ``n11/n1`` and ``n01/n0``
        (``None`` without labelled failures / passes).
      rejected: ``p_value <= box_alpha``.
      box_alpha: the level used.
    """

    statistic: float
    p_value: float
    contradicted: str | None
    tpr_hat: float | None
    fpr_hat: float | None
    rejected: bool
    box_alpha: float

    def to_dict(self) -> dict:
        d = self._asdict()
        if not np.isfinite(d["statistic"]):
            d["statistic"] = None
        return d


def _component(k, m, lo, hi):
    """``(T_j, w_j, side)``: LR statistic, chi-bar weight, crossed side (-1, 0, +1)."""
    has = m > 0
    p = jnp.where(has, k / jnp.where(has, m, 1.0), 0.5)
    b = jnp.clip(p, lo, hi)
    t = jnp.where(has, lr_statistic(k, m, lo, hi), 0.0)
    centre = jnp.clip(0.5, lo, hi)
    se = jnp.sqrt(centre * (1.0 - centre) / jnp.where(has, m, 1.0))
    delta = (hi - lo) / jnp.maximum(se, 1e-300)
    two_ends = (lo > 0.0) & (hi < 1.0)
    one_end = (lo > 0.0) | (hi < 1.0)
    w = jnp.where(two_ends, 0.5 + ndtr(-delta), jnp.where(one_end, 0.5, 0.0))
    w = jnp.where(has, w, 0.0)
    side = jnp.where(p < b, -1, jnp.where(p > b, 1, 0))
    return t, w, side


def box_check_stats(n11, n10, n01, n00, tpr_bounds, fpr_bounds, lattice=LATTICE):
    """Traced kernel: ``(statistic, p_value, t_tpr, t_fpr, side_tpr, side_fpr)``.

    Pure and jit/vmap-able (trusted inputs: counts as floats, ``(2,)`` boxes). The
    p-value is exact (:mod:`jaxcert.judge._box_exact`) when each class fits a lattice of
    ``lattice`` points (static) around its mode, and chi-bar-squared otherwise.
    """
    sb, fb = as_float(tpr_bounds), as_float(fpr_bounds)
    if sb.shape != (2,) or fb.shape != (2,):
        raise ValueError(f"box_check_stats takes (2,) boxes; got {sb.shape} and {fb.shape}")
    n11, n10, n01, n00 = (as_float(v) for v in (n11, n10, n01, n00))
    ts, ws, ss = _component(n11, n11 + n10, sb[0], sb[1])
    tr, wr, sr = _component(n01, n01 + n00, fb[0], fb[1])
    t = ts + tr
    tail1 = jax.scipy.special.erfc(jnp.sqrt(jnp.maximum(t, 0.0) / 2.0))  # P(chi2_1 > t)
    tail2 = jnp.exp(-t / 2.0)  # P(chi2_2 > t)
    p = ws * wr * tail2 + (ws * (1 - wr) + wr * (1 - ws)) * tail1
    p_exact, covered = exact_p_value(t, n11 + n10, n01 + n00, sb, fb, lattice)
    p = jnp.where(covered, p_exact, p)
    p = jnp.where(t > 0, jnp.clip(p, 0.0, 1.0), 1.0)
    return t, p, ts, tr, ss, sr


_stats_jit = jax.jit(box_check_stats, static_argnames="lattice")


def box_check(counts, tpr_bounds, fpr_bounds, *, box_alpha=BOX_ALPHA) -> BoxCheck:
    """Tests whether the calibration data contradict the TPR/FPR boxes.

    Args:
      counts: a scalar :class:`~jaxcert.Counts` (only the calibration cells are used).
      tpr_bounds, fpr_bounds: ``(lo, hi)`` boxes or ``None`` ([0, 1]); trusted
        (validated by the caller, :func:`jaxcert.certify`).
      box_alpha: test level in (0, 1).

    Returns:
      :class:`BoxCheck`.

    Example:
      >>> from jaxcert import Counts
      >>> bc = box_check(Counts.create(15, 0, 45, 0), (0.7, 1.0), (0.0, 0.3))
      >>> bc.contradicted, bc.rejected
      ('fpr <= 0.3', True)
    """
    sb = (0.0, 1.0) if tpr_bounds is None else tuple(float(v) for v in tpr_bounds)
    fb = (0.0, 1.0) if fpr_bounds is None else tuple(float(v) for v in fpr_bounds)
    n11, n10, n01, n00 = (float(np.asarray(v)) for v in tuple(counts)[:4])
    # eagerly the lattice can hold every outcome (powers of two bound the recompiles)
    largest = max(n11 + n10, n01 + n00)
    size = min(max(LATTICE, 2 ** math.ceil(math.log2(largest + 1.0))), 2 ** 16)
    t, p, ts, tr, ss, sr = (float(v) for v in _stats_jit(n11, n10, n01, n00, np.array(sb),
                                                         np.array(fb), lattice=size))
    contradicted = None
    if t > 0:
        name, box, side = (("tpr", sb, ss) if ts >= tr else ("fpr", fb, sr))
        contradicted = f"{name} >= {box[0]:g}" if side < 0 else f"{name} <= {box[1]:g}"
    rate = lambda k, m: None if m <= 0 else k / m  # noqa: E731
    return BoxCheck(statistic=t, p_value=p, contradicted=contradicted,
                    tpr_hat=rate(n11, n11 + n10), fpr_hat=rate(n01, n01 + n00),
                    rejected=bool(p <= box_alpha), box_alpha=float(box_alpha))


def widen_box(k, m, box, box_alpha=BOX_ALPHA) -> tuple[float, float]:
    """Hull of ``box`` and the two-sided exact interval for ``k`` of ``m`` at ``1 - box_alpha``.

    Returns ``box`` unchanged when ``m = 0`` (no calibration evidence).
    """
    lo, hi = (0.0, 1.0) if box is None else (float(box[0]), float(box[1]))
    if m <= 0:
        return lo, hi
    iv = _cp(float(k), float(m), float(box_alpha), "two-sided")
    return min(lo, float(iv.lower)), max(hi, float(iv.upper))


def hull_box(k, m, box, box_alpha=BOX_ALPHA) -> tuple[float, float]:
    """Hull of ``box`` and the exact interval for ``k`` of ``m`` (``[0, 1]`` when ``m = 0``)."""
    return (0.0, 1.0) if m <= 0 else widen_box(k, m, box, box_alpha)


def hull_kernel(counts, tpr_bounds, fpr_bounds, box_alpha):
    """Traced ``on_conflict="hull"``: both boxes hulled with the data's exact interval."""
    n11, n10, n01, n00 = (as_float(v) for v in tuple(counts)[:4])

    def hull(k, m, box):
        iv = _cp(k, jnp.maximum(m, 1.0), box_alpha, "two-sided")
        new = jnp.stack([jnp.minimum(box[0], iv.lower), jnp.maximum(box[1], iv.upper)])
        return jnp.where(m > 0, new, jnp.array([0.0, 1.0]))

    return hull(n11, n11 + n10, as_float(tpr_bounds)), hull(n01, n01 + n00, as_float(fpr_bounds))


def widen_kernel(counts, tpr_bounds, fpr_bounds, box_alpha):
    """Traced ``on_conflict="widen"``: ``(tpr_box, fpr_box, rejected, p_value)``.

    When the test rejects at ``box_alpha``, each crossed box is replaced by its hull
    with the two-sided Clopper-Pearson interval of its calibration rate at level
    ``1 - box_alpha`` (as :func:`widen_box`); otherwise the boxes are returned as is.
    """
    n11, n10, n01, n00 = (as_float(v) for v in tuple(counts)[:4])
    sb, fb = as_float(tpr_bounds), as_float(fpr_bounds)
    _, p, ts, tr, _, _ = box_check_stats(n11, n10, n01, n00, sb, fb)
    rejected = p <= box_alpha

    def hull(k, m, box, crossed):
        iv = _cp(k, jnp.maximum(m, 1.0), box_alpha, "two-sided")
        new = jnp.stack([jnp.minimum(box[0], iv.lower), jnp.maximum(box[1], iv.upper)])
        return jnp.where(rejected & crossed & (m > 0), new, box)

    return (hull(n11, n11 + n10, sb, ts > 0), hull(n01, n01 + n00, fb, tr > 0), rejected, p)
