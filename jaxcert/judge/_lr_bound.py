"""The profile likelihood-ratio bound as one differentiable kernel.

:func:`bound_end` is the end of ``{theta : 2 [l_hat - l_p(theta)] <= crit}`` on one
side (the root search is :func:`~jaxcert.judge._profile_bound.profile_upper_end`;
the lower end is the upper end of the relabelled problem). Its derivative with
respect to the counts, the four box bounds and ``crit`` is implicit
(:mod:`jaxcert.judge._implicit`): ``dU = (d l_hat - d l_p(U) - dcrit / 2) / l_p'(U)``,
both maxima differentiated by the envelope theorem, so no loop is unrolled and a
gradient costs one extra inner profile solve at the returned end.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxcert._types import Status
from jaxcert.judge import _profile_bound as _pb
from jaxcert.judge import solver as _s
from jaxcert.judge._implicit import envelope_tangent, newton_polish, score

__all__ = ["bound_end", "fit_sanitised"]

_UNIT = (0.0, 1.0)
#: The profile maximises over (s, r) at fixed theta.
_PROFILE_COORDS = np.array([False, True, True])


def _sanitise(x, f, status):
    ok = (status != Status.NONFINITE) & (status != Status.INFEASIBLE)
    return jnp.where(ok, x, 0.5), jnp.where(ok, -f, 0.0), status, ok


def fit_sanitised(c, sb, fb):
    """Exact CMLE on a sanitised problem: ``(x, l_hat, status, ok)``."""
    return _sanitise(*_s.mle_kernel(c, sb, fb))


def _parts(c, sb, fb, crit, fit, upper):
    x, l_hat, status, ok = _sanitise(fit[0], fit[1], fit[2].astype(jnp.int32))
    c_ok = jnp.where(ok, c, 1.0)
    sb_ok, fb_ok = jnp.where(ok, sb, jnp.array(_UNIT)), jnp.where(ok, fb, jnp.array(_UNIT))
    xs = x
    cs, ss, fs = c_ok, sb_ok, fb_ok
    if not upper:
        cs, ss, fs = _pb.swap_labels(c_ok, sb_ok, fb_ok)
        xs = jnp.stack([1.0 - x[0], x[2], x[1]])
    end, conv = _pb.profile_upper_end(cs, ss, fs, xs, l_hat, crit)
    end = end if upper else 1.0 - end
    status = jnp.where((status == Status.CONVERGED) & ~conv, Status.MAX_STEPS, status)
    return jnp.where(ok, end, jnp.nan), status, x, ok & conv, (c_ok, sb_ok, fb_ok)


@functools.partial(jax.custom_jvp, nondiff_argnums=(5,))
def bound_end(c, sb, fb, crit, fit, upper):
    """``(end, status)`` of one trusted problem (status as float64, for custom_jvp).

    ``c`` (6,) counts, ``sb``/``fb`` (2,) boxes, ``crit`` scalar (traced), ``fit`` the
    problem's :func:`~jaxcert.judge.solver.mle_kernel` output ``(x, nll, status)`` with
    the status as float64 (the caller has it already; solving again here cost 0.3 s of
    compile and 0.3 s of tracing in the sweep kernel, no measurable run time), ``upper``
    static. NaN end for NONFINITE/INFEASIBLE input; status that of the CMLE, or
    ``MAX_STEPS`` if the end did not converge. ``fit``'s tangent is ignored: the
    derivative comes from the counts and the box alone (envelope theorem).
    """
    end, status = _parts(c, sb, fb, crit, fit, upper)[:2]
    return end, status.astype(jnp.float64)


@bound_end.defjvp
def _bound_end_jvp(upper, primals, tangents):
    c, sb, fb, crit, fit = primals
    dc, dsb, dfb, dcrit, _ = tangents
    end, status, x, good, (c_ok, sb_ok, fb_ok) = _parts(c, sb, fb, crit, fit, upper)
    lo, hi = jnp.stack([0.0, sb[0], fb[0]]), jnp.stack([1.0, sb[1], fb[1]])
    dlo, dhi = jnp.stack([0.0, dsb[0], dfb[0]]), jnp.stack([0.0, dsb[1], dfb[1]])
    dl_hat = envelope_tangent(c, lo, hi, x, dc, dlo, dhi, jnp.ones(3, bool))
    interior = good & (end > 0.0) & (end < 1.0)
    t_end = jnp.where(interior, end, 0.5)
    q_hat = x[0] * x[1] + (1.0 - x[0]) * x[2]
    _, s_p, r_p = _pb.profile_solution(c_ok, sb_ok, fb_ok, t_end, q_hat)
    xp = newton_polish(c, jnp.stack([t_end, s_p, r_p]), lo, hi, _PROFILE_COORDS)
    dl_p = envelope_tangent(c, lo, hi, xp, dc, dlo, dhi, _PROFILE_COORDS)
    slope = score(c, xp)[0]
    num = dl_hat - dl_p - 0.5 * dcrit
    use = interior & (slope != 0) & jnp.isfinite(slope)  # primal masks only (linear rule)
    dend = jnp.where(use, num / jnp.where(use, slope, 1.0), 0.0)
    return (end, status.astype(jnp.float64)), (dend, jnp.zeros_like(end))
