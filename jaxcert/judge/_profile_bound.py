"""Fast profile-likelihood bound: closed-form inner solves, Newton on the signed root.

At fixed ``theta`` the profile ``l_p(theta) = max_{(s, r) in box} l`` is a concave
problem in ``(a, b) = (theta s, (1 - theta) r)`` coupled only through
``q = a + b`` (methods.md, "Fast profile bound"). With ``w = m1/q - m0/(1-q)`` the
optimal ``a`` is the root in ``[0, theta]`` of ``w a^2 + (n1 - w theta) a - n11 theta``
clipped to ``[s_lo theta, s_hi theta]`` (``b`` alike with ``n0, n01, 1 - theta``), and
``q`` solves the monotone equation ``a*(w(q)) + b*(w(q)) = q`` on
``[s_lo theta + r_lo (1-theta), s_hi theta + r_hi (1-theta)]``: a few bracket-guarded
Newton steps, warm-started from the previous outer iterate (so inner steps accumulate
across the outer loop). Every evaluated ``(a, b)`` is feasible, so ``l_p`` is never
over-estimated.

The outer root search is Newton on the signed root ``sqrt(2 (l_hat - l_p)) - sqrt(c)``
in ``logit theta`` (nearly linear there), with the envelope-theorem derivative
``l_p' = n1/theta - n0/(1-theta) + (s - r) w`` (the box in ``(s, r)`` does not depend
on ``theta``), safeguarded by bisection of the bracket. The lower end is the upper end
of the relabelled problem (``Y -> 1 - Y`` swaps ``theta <-> 1 - theta``, ``s <-> r``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.special import logit

from jaxcert._numerics import xlog1py, xlogy
from jaxcert._straggler import compacted_loop

__all__ = ["inner_profile", "profile_loglik_at", "profile_solution", "profile_upper_end",
           "q_range", "swap_labels"]

INNER_STEPS = 2  # guarded Newton steps on the q-equation per outer iterate
OUTER_STEPS = 100  # cap on outer iterations (typically 4-8)
ROOT_TOL = 1e-10  # |l_hat - l_p(end) - c/2| at a returned end (loglik units)
INNER_TOL = 1e-10  # relative Newton step on q at which an inner solve counts as settled


def _sdiv(num, den, default=0.0):
    ok = den != 0
    return jnp.where(ok, num / jnp.where(ok, den, 1.0), default)


def swap_labels(c, sb, fb):
    """The relabelled problem ``Y -> 1 - Y``: theta -> 1 - theta, TPR <-> FPR."""
    return jnp.stack([c[2], c[3], c[0], c[1], c[4], c[5]]), fb, sb


def _cell(k1, k0, t, w, lo, hi):
    """Maximiser in ``[lo, hi]`` of ``k1 log a + k0 log(t - a) + w a`` and its slope in w."""
    k = k1 + k0
    bq = k - w * t
    den = bq + jnp.sqrt(jnp.maximum(bq * bq + 4.0 * w * k1 * t, 0.0))
    a = jnp.where(den > 0, _sdiv(2.0 * k1 * t, den), jnp.clip(_sdiv(-bq, w, 0.5 * t), 0.0, t))
    # With k0 = 0 and w >= 0 the objective increases on [0, t]: the maximiser is the end
    # t itself, pinned (zero slope). The quadratic's root there is t only up to rounding,
    # and a box reaching s = 1 (hi = t) would take it as interior, with a slope that
    # slowed the q-equation's Newton to linear convergence.
    pinned = (k0 <= 0) & (w >= 0)
    a = jnp.where(pinned, t, a)
    curv = _sdiv(k1, a * a) + _sdiv(k0, (t - a) ** 2)
    slope = jnp.where((a > lo) & (a < hi) & ~pinned, _sdiv(1.0, curv), 0.0)
    return jnp.clip(a, lo, hi), slope


def _loglik_tab(c, t, a, b):
    n11, n10, n01, n00, m1, m0 = (c[i] for i in range(6))
    q = a + b
    ll = (xlogy(n11, a) + xlogy(n10, t - a) + xlogy(n01, b) + xlogy(n00, 1.0 - t - b)
          + xlogy(m1, q) + xlog1py(m0, -q))
    return jnp.where(jnp.isnan(ll), -jnp.inf, ll)


def q_range(c, sb, fb, t):
    """Bracket of the q-equation's root at fixed ``t`` on which it is smooth.

    The clip of ``a*`` or ``b*`` switches at four values of ``w`` (closed form), i.e.
    at four values of ``q``; Newton is run only inside the piece holding the root
    (across a kink, a flat piece next to a steep one makes it bounce).
    """
    n11, n10, n01, n00, m1, m0 = (c[i] for i in range(6))
    u = 1.0 - t
    nn = m1 + m0
    lo, hi = sb[0] * t + fb[0] * u, sb[1] * t + fb[1] * u
    k1 = jnp.stack([n11, n11, n01, n01])
    k0 = jnp.stack([n10, n10, n00, n00])
    tt = jnp.stack([t, t, u, u])
    p = jnp.stack([sb[0], sb[1], fb[0], fb[1]])
    w = (jnp.where(k0 > 0, _sdiv(k0, tt * (1.0 - p), jnp.inf), 0.0)
         - jnp.where(k1 > 0, _sdiv(k1, tt * p, jnp.inf), 0.0))
    wn = w + nn
    den = wn + jnp.sqrt(jnp.maximum(wn * wn - 4.0 * w * m1, 0.0))
    qk = jnp.clip(_sdiv(2.0 * m1, den, 1.0), lo, hi)
    f = _equation(c, sb, fb, t, qk)[3]
    lo = jnp.maximum(lo, jnp.max(jnp.where((f >= 0) & (nn > 0), qk, lo)))
    hi = jnp.minimum(hi, jnp.min(jnp.where((f <= 0) & (nn > 0), qk, hi)))
    return lo, jnp.maximum(hi, lo)


def _equation(c, sb, fb, t, q):
    """``(a*, b*, w, F(q), F'(q))`` of the q-equation ``F(q) = a* + b* - q`` at ``t``."""
    n11, n10, n01, n00, m1, m0 = (c[i] for i in range(6))
    u = 1.0 - t
    w = _sdiv(m1, q) - _sdiv(m0, 1.0 - q)
    a, da = _cell(n11, n10, t, w, sb[0] * t, sb[1] * t)
    b, db = _cell(n01, n00, u, w, fb[0] * u, fb[1] * u)
    dw = -_sdiv(m1, q * q) - _sdiv(m0, (1.0 - q) ** 2)
    return a, b, w, a + b - q, (da + db) * dw - 1.0


def inner_profile(c, sb, fb, t, q, lo, hi, num_steps=INNER_STEPS):
    """``num_steps`` guarded Newton steps on the q-equation at fixed ``t``.

    ``[lo, hi]`` brackets the root (``q_range`` for a fresh ``t``; carried over when the
    same ``t`` is refined further). Returns ``(l_p, l_p', q, lo, hi, unsettled)``:
    ``l_p`` is the log-likelihood of a feasible ``(s, r)``, so never above the true
    profile; ``unsettled`` says the q-equation is not yet solved to ``INNER_TOL``.
    """
    n11, n10, n01, n00, m1, m0 = (c[i] for i in range(6))
    u = 1.0 - t
    a_lo, a_hi, b_lo, b_hi = sb[0] * t, sb[1] * t, fb[0] * u, fb[1] * u

    def cells(q):
        return _equation(c, sb, fb, t, q)

    # A calibration row with no items (n1 = 0 or n0 = 0) leaves its cell free where
    # w = 0: the q-equation then jumps at q = m1/N and its root may be the jump.
    q_w = _sdiv(m1, m1 + m0, -1.0)
    a_w = q_w - _cell(n01, n00, u, 0.0, b_lo, b_hi)[0]
    b_w = q_w - _cell(n11, n10, t, 0.0, a_lo, a_hi)[0]
    jump_a = (n11 + n10 == 0) & (q_w >= 0) & (a_w >= a_lo) & (a_w <= a_hi)
    jump_b = (n01 + n00 == 0) & (q_w >= 0) & (b_w >= b_lo) & (b_w <= b_hi)
    jump = jump_a | jump_b
    q = jnp.where(jump, q_w, jnp.clip(q, lo, hi))

    def step(_, st):
        q, lo, hi, _ = st
        _, _, _, f, df = cells(q)
        lo, hi = jnp.where(f > 0, q, lo), jnp.where(f < 0, q, hi)
        qn = q - _sdiv(f, df, jnp.inf)
        good = jnp.isfinite(qn) & (qn >= lo) & (qn <= hi)
        q_new = jnp.where((f == 0) | jump, q, jnp.where(good, qn, 0.5 * (lo + hi)))
        return q_new, lo, hi, q

    # Unrolled steps, not a fori_loop: with the loop (faster to compile and run: XLA:CPU
    # inlines the unrolled chains into every consumer), jax.vmap(jax.jacfwd(...)) of the
    # bound over ~100+ problems returned wrong derivatives in some lanes on one CPU (the
    # JVP's q_range bracket differed from the same lane computed alone; values were
    # right). Correct first: tests/judge/test_implicit.py (slow tier) holds the cases.
    st = (q, lo, hi, q)
    for i in range(num_steps):
        st = step(i, st)
    q, lo, hi, q_prev = st
    a, b, w, f, df = cells(q)
    a, b = jnp.where(jump_a, a_w, a), jnp.where(jump_b, b_w, b)
    f = jnp.where(jump, 0.0, f)
    s, r = _sdiv(a, t, sb[1]), _sdiv(b, u, fb[0])
    dlp = _sdiv(n11 + n10, t) - _sdiv(n01 + n00, u) + (s - r) * w
    # Settled: the next Newton step would move q by less than INNER_TOL relative
    # (F can be very steep: |F| itself need not get small in float64).
    # A last step that left q unchanged cannot be improved on in float64 either.
    unsettled = (jnp.abs(f) > INNER_TOL * q * jnp.abs(df)) & (hi - lo > 1e-15 * hi)
    unsettled = unsettled & (q != q_prev)
    return _loglik_tab(c, t, a, b), dlp, q, lo, hi, unsettled, s, r


def _root_pending(k, st):
    i, _, h, _, _, _, _, _, a, b, unsettled = st
    all_in = k[7]
    return (i < OUTER_STEPS) & ((jnp.abs(h) > ROOT_TOL) | unsettled) & ~all_in & (b > a)


def _root_step(k, st):
    c, sb, fb, _, l_hat, target, z, _ = k
    i, t, h, dlp, q, qlo, qhi, lp, a, b, unsettled = st
    # Bracket (settled points only): a inside (h >= 0), b outside (h < 0).
    a = jnp.where(~unsettled & (h >= 0), t, a)
    b = jnp.where(~unsettled & (h < 0), t, b)
    # Newton on the signed root rho = sqrt(2 (l_hat - l_p)) - z in logit theta;
    # bisection (geometric while the bracket spans orders of magnitude) if it
    # leaves the bracket. An unsettled inner solve is refined at the same t.
    gap = jnp.sqrt(2.0 * jnp.maximum(l_hat - lp, 0.0))
    drho = _sdiv(-dlp * t * (1.0 - t), gap, jnp.inf)
    t_nw = jax.nn.sigmoid(logit(t) - _sdiv(gap - z, drho, jnp.inf))
    mid = jnp.where((a > 0) & (b > 4.0 * a), jnp.sqrt(a * b), 0.5 * (a + b))
    t_nw = jnp.where((t_nw > a) & (t_nw < b), t_nw, mid)
    t_new = jnp.where(unsettled, t, t_nw)
    lo, hi = q_range(c, sb, fb, t_new)
    qlo, qhi = jnp.where(unsettled, qlo, lo), jnp.where(unsettled, qhi, hi)
    lp, dlp, q, qlo, qhi, unsettled = inner_profile(c, sb, fb, t_new, q, qlo, qhi)[:6]
    return i + 1, t_new, lp - target, dlp, q, qlo, qhi, lp, a, b, unsettled


# Most problems settle in 3-7 outer iterations and a few need up to ~25 (bench_mle's
# problems: 23% pending after 6, 6% after 10, 2% after 14): under vmap the stragglers
# get 4 more steps in a quarter-size block, 4 in a 1/16 block, then finish in blocks of
# 1/64 (+20% throughput over one quarter-size block finishing everything).
# Rounds pay on large batches only: +20% bounds/s at 16k problems (bench_mle), but at
# the reproduction grid's 2,048-problem chunks they added ~14 s of XLA:CPU compile
# (24 -> 38 s for the calibrated sweep kernel) and no run-time gain (calibrated sweep,
# 1,000 replicates, loaded machine: 142.6 s with rounds, 122.2 s without).
_root_loop = compacted_loop(_root_pending, _root_step, warm_steps=6, block_divisor=64,
                            rounds=((4, 4), (16, 4)), rounds_min_batch=8192)


def profile_upper_end(c, sb, fb, x_hat, l_hat, crit):
    """Upper end of ``{t >= theta_hat : 2 (l_hat - l_p(t)) <= crit}``: ``(end, ok)``.

    ``x_hat`` is the constrained MLE ``(theta, s, r)`` and ``l_hat`` its log-likelihood.
    """
    n0 = c[2] + c[3]
    t_hat = x_hat[0]
    target = l_hat - 0.5 * crit
    z = jnp.sqrt(jnp.maximum(crit, 0.0))
    q_hat = x_hat[0] * x_hat[1] + (1.0 - x_hat[0]) * x_hat[2]
    # theta = 1 is accepted iff l_p(1) >= target (-inf when n0 > 0).
    one = jnp.ones_like(t_hat)
    a1 = jnp.clip(_sdiv(c[0] + c[4], c[0] + c[1] + c[4] + c[5], sb[1]), sb[0], sb[1])
    lp1 = _loglik_tab(c, one, a1, 0.0 * a1)
    all_in = (t_hat >= 1.0) | ((n0 == 0) & (lp1 >= target))
    # Start: a Wald-like step outside theta_hat (curvature of the calibration part).
    t_info = _sdiv(c[0] + c[1], t_hat * t_hat) + _sdiv(n0, (1.0 - t_hat) ** 2)
    step = jnp.where(t_info > 0, jnp.sqrt(_sdiv(crit, t_info, 1.0)), 0.5)
    t0 = jnp.clip(t_hat + step, 1e-12, 1.0 - 1e-12)
    t0 = jnp.where(t0 > t_hat, t0, 0.5 * (t_hat + 1.0))
    lo, hi = q_range(c, sb, fb, t0)
    lp, dlp, q, lo, hi, uns = inner_profile(c, sb, fb, t0, q_hat, lo, hi)[:6]
    consts = (c, sb, fb, t_hat, l_hat, target, z, all_in)
    st = (jnp.zeros((), jnp.int32), t0, lp - target, dlp, q, lo, hi, lp, t_hat, one, uns)
    _, t, h, _, _, _, _, _, a, b, unsettled = _root_loop(consts, st)
    ok = all_in | ((jnp.abs(h) <= ROOT_TOL) & ~unsettled) | (b - a <= 1e-15 * b)
    return jnp.where(all_in, 1.0, t), ok


def profile_solution(c, sb, fb, t, q0):
    """``(l_p(t), s, r)``: the profile and its maximiser, the inner equation solved to
    tolerance (a while loop)."""
    def cond(st):
        return (st[0] < OUTER_STEPS) & st[5]

    def body(st):
        lp, _, q, lo, hi, uns, s, r = inner_profile(c, sb, fb, t, st[2], st[3], st[4])
        return st[0] + 1, lp, q, lo, hi, uns, s, r

    lo, hi = q_range(c, sb, fb, t)
    lp, _, q, lo, hi, uns, s, r = inner_profile(c, sb, fb, t, q0, lo, hi)
    out = jax.lax.while_loop(cond, body, (0, lp, q, lo, hi, uns, s, r))
    return out[1], out[6], out[7]


def profile_loglik_at(c, sb, fb, t, q0):
    """``l_p(t)`` with the inner equation solved to tolerance (a while loop)."""
    return profile_solution(c, sb, fb, t, q0)[0]
