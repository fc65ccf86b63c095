"""The failure rates that maximise the likelihood: a point, or a segment on a flat ridge.

In the cell coordinates ``y = (theta, a = theta s, b = (1 - theta) r)`` the
log-likelihood is a sum of strictly concave functions of five linear forms, one per
kind of count that is present::

    a (n11),   theta - a (n10),   b (n01),   theta + b (n00, as 1 - theta - b),
    a + b (m1 + m0, the judge-positive rate q)

At any two maximisers each present form takes the same value (else their midpoint,
feasible because the box is convex in ``y``, would be strictly better), and any
feasible ``y`` with those values is a maximiser. So the maximisers are the box cut by
those equations, and their ``theta`` range follows from the fitted point alone.

It is a segment whenever the data leave a direction with a ``theta`` component free:

* no labelled item with ``J = 0`` (``n10 = n00 = 0``): ``P(Y=1 | J=0)`` is free
  (direction ``(1, 0, 0)``);
* no labelled item with ``J = 1`` (``n11 = n01 = 0``): ``P(Y=1 | J=1)`` is free
  (direction ``(1, 1, -1)``). Example: counts ``(0, 0, 0, 25, 154, 846)`` with
  TPR in ``[0.85, 1]`` and FPR in ``[0, 0.15]`` fit every ``theta`` in
  ``[0.00029, 0.150]`` equally well;
* only ``n11, n00`` or only ``n10, n01`` with no judge-only items;
* a single kind of count, or none.

Then only the box decides where ``theta`` lies in the segment, and a point estimate
is a convention: the solver returns the segment's midpoint (:func:`recentre`), and
the result carries the segment so that reports can say the data do not identify
``theta`` (a bound is then driven by the box, not by the data).

Method: with the present equations, ``a`` and ``b`` are affine in ``theta`` (or
free), and the box ``s_lo theta <= a <= s_hi theta``, ``r_lo (1 - theta) <= b <=
r_hi (1 - theta)`` becomes at most four affine inequalities in ``theta``: the range is
their intersection with ``[0, 1]``. Element-wise, no loop, any batch layout.
"""

from __future__ import annotations

import jax.numpy as jnp

__all__ = ["theta_range", "recentre", "same_forms"]


def _affine(c, x):
    """``a(theta) = a0 + a1 theta`` and ``b(theta)``, each with a known flag; pinned flag.

    ``c`` (6, ...) counts, ``x`` (3, ...) a maximiser in ``(theta, s, r)``.
    """
    n11, n10, n01, n00, m1, m0 = c
    t, s, r = x
    a, b = t * s, (1.0 - t) * r
    has = [n > 0 for n in (n11, n10, n01, n00)] + [m1 + m0 > 0]
    h11, h10, h01, h00, hm = has
    # Two independent equations with a theta component fix theta outright.
    pinned = (h11 & h10) | (h01 & h00) | (hm & ((h11 & h00) | (h10 & h01)))
    a_direct = h11 | h10
    b_direct = h01 | h00
    # a from n11 (a = const) or n10 (a = theta - (t - a)); b likewise.
    a0 = jnp.where(h11, a, -(t - a))
    a1 = jnp.where(h11, 0.0, 1.0)
    b0 = jnp.where(h01, b, t + b)
    b1 = jnp.where(h01, 0.0, -1.0)
    # Through q = a + b when only one of them is tied directly.
    a0 = jnp.where(~a_direct & b_direct & hm, (a + b) - b0, a0)
    a1 = jnp.where(~a_direct & b_direct & hm, -b1, a1)
    b0 = jnp.where(~b_direct & a_direct & hm, (a + b) - a0, b0)
    b1 = jnp.where(~b_direct & a_direct & hm, -a1, b1)
    a_known = a_direct | (b_direct & hm)
    b_known = b_direct | (a_direct & hm)
    return (a0, a1, a_known), (b0, b1, b_known), hm & ~a_known & ~b_known, pinned


def _clip_range(lo, hi, g0, g1, on):
    """Intersects ``[lo, hi]`` with ``{theta: g0 + g1 theta >= 0}`` where ``on``."""
    root = -g0 / jnp.where(g1 != 0, g1, 1.0)
    lo = jnp.where(on & (g1 > 0), jnp.maximum(lo, root), lo)
    hi = jnp.where(on & (g1 < 0), jnp.minimum(hi, root), hi)
    return lo, hi


def theta_range(c, x, lo, hi):
    """``(theta_lo, theta_hi)``: the range of ``theta`` over all maximisers.

    Args:
      c: (6, ...) counts (trusted).
      x: (3, ...) a maximiser ``(theta, s, r)`` (any solver's).
      lo, hi: (3, ...) the box in ``(theta, s, r)``.

    Returns:
      Two arrays of the batch shape, ``theta_lo <= x[0] <= theta_hi`` (equal when the
      data and box pin ``theta``).
    """
    return _range(x, lo, hi, _affine(c, x))


def _range(x, lo, hi, affine):
    """:func:`theta_range` from the affine forms of :func:`_affine`."""
    t = x[0]
    (a0, a1, ak), (b0, b1, bk), sum_only, pinned = affine
    s_lo, s_hi, r_lo, r_hi = lo[1], hi[1], lo[2], hi[2]
    t_lo, t_hi = jnp.maximum(lo[0], 0.0), jnp.minimum(hi[0], 1.0)
    # s_lo theta <= a(theta) <= s_hi theta
    t_lo, t_hi = _clip_range(t_lo, t_hi, a0, a1 - s_lo, ak)
    t_lo, t_hi = _clip_range(t_lo, t_hi, -a0, s_hi - a1, ak)
    # r_lo (1 - theta) <= b(theta) <= r_hi (1 - theta)
    t_lo, t_hi = _clip_range(t_lo, t_hi, b0 - r_lo, b1 + r_lo, bk)
    t_lo, t_hi = _clip_range(t_lo, t_hi, r_hi - b0, -r_hi - b1, bk)
    # Judge-only items alone: the box must reach q = a + b at theta.
    q = t * x[1] + (1.0 - t) * x[2]
    t_lo, t_hi = _clip_range(t_lo, t_hi, q - r_lo, r_lo - s_lo, sum_only)
    t_lo, t_hi = _clip_range(t_lo, t_hi, r_hi - q, s_hi - r_hi, sum_only)
    # Rounding in x can put the ends a hair inside the fitted theta.
    t_lo = jnp.where(pinned, t, jnp.minimum(t_lo, t))
    t_hi = jnp.where(pinned, t, jnp.maximum(t_hi, t))
    return t_lo, t_hi


def recentre(c, x, lo, hi):
    """The maximiser whose ``theta`` is the midpoint of :func:`theta_range`.

    Same likelihood as ``x`` (the maximisers are convex in cell coordinates); the
    caller keeps ``x`` where rounding made the new point worse. Where ``a`` (``b``)
    is free, ``s`` (``r``) keeps its value in ``x``; with judge-only items alone,
    ``(s, r)`` moves along the box diagonal to keep ``q``.
    """
    t, s, r = x
    affine = _affine(c, x)
    (a0, a1, ak), (b0, b1, bk), sum_only, _ = affine
    t_lo, t_hi = _range(x, lo, hi, affine)
    tm = 0.5 * (t_lo + t_hi)
    inner_t, inner_1t = tm > 0, tm < 1
    s_new = jnp.where(ak & inner_t, (a0 + a1 * tm) / jnp.where(inner_t, tm, 1.0), s)
    r_new = jnp.where(bk & inner_1t, (b0 + b1 * tm) / jnp.where(inner_1t, 1.0 - tm, 1.0), r)
    # Judge-only items alone: s = s_lo + w ds, r = r_lo + w dr with tm s + (1-tm) r = q.
    q = t * s + (1.0 - t) * r
    ds, dr = hi[1] - lo[1], hi[2] - lo[2]
    den = tm * ds + (1.0 - tm) * dr
    w = jnp.clip((q - tm * lo[1] - (1.0 - tm) * lo[2]) / jnp.where(den > 0, den, 1.0), 0.0, 1.0)
    s_new = jnp.where(sum_only, lo[1] + w * ds, s_new)
    r_new = jnp.where(sum_only, lo[2] + w * dr, r_new)
    return jnp.stack([tm, jnp.clip(s_new, lo[1], hi[1]), jnp.clip(r_new, lo[2], hi[2])])


def same_forms(c, x, y, rtol=1e-12):
    """True where ``x`` and ``y`` give every present count's cell form the same value."""
    n11, n10, n01, n00, m1, m0 = c
    ax, bx, ay, by = x[0] * x[1], (1.0 - x[0]) * x[2], y[0] * y[1], (1.0 - y[0]) * y[2]
    pairs = ((n11, ax, ay), (n10, x[0] - ax, y[0] - ay), (n01, bx, by),
             (n00, x[0] + bx, y[0] + by), (m1 + m0, ax + bx, ay + by))
    ok = jnp.ones_like(ax, dtype=bool)
    for n, u, v in pairs:
        ok = ok & ((n <= 0) | (jnp.abs(u - v) <= rtol * jnp.maximum(jnp.abs(u), 1e-300) + 1e-15))
    return ok
