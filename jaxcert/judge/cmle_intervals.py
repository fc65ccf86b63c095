"""Confidence intervals for the failure rate around the constrained MLE.

Three methods, one ``side`` convention (``"two-sided" | "upper" | "lower"``, see
:mod:`jaxcert._validate`), traced ``alpha``, all returning
:class:`~jaxcert.Interval` ``(estimate, lower, upper, status)``:

* :func:`profile_interval` (recommended): inverts the profile likelihood-ratio test,
  ``{theta : 2 [l_hat - l_p(theta)] <= c}`` with ``l_p(theta) = max_{(s, r) in box}
  l(theta, s, r)``. ``l_p`` is concave (see :mod:`jaxcert.judge.likelihood`), so the
  set is an interval; each end is the root of a concave function, found by Newton
  from the outside (monotone for a concave function) safeguarded by bisection, with
  ``l_p'(theta) = dl/dtheta`` at the inner optimum (envelope theorem: the box in
  ``(s, r)`` does not depend on theta). Two-sided: ``c = chi2_1(1 - alpha) =
  z_{1-alpha/2}^2`` on both sides. One-sided at level ``alpha`` (signed-root test):
  ``c = z_{1-alpha}^2 = chi2_1(1 - 2 alpha)`` on the relevant side only, the other
  end being the support bound (0 or 1). It is finite when no failure was observed
  and respects both the box and ``theta in [0, 1]``.
* :func:`wald_interval`: ``theta_hat +- z se`` from the expected Fisher information
  at the CMLE (``kind="wald"``, clipped to [0, 1]), or on the logit scale and
  back-transformed (``kind="logit"``). Wald treats ``(s, r)`` as free: it ignores
  active bounds, and it degenerates when ``theta_hat`` is 0 (``se = 0``).
* :func:`bootstrap_interval`: parametric bootstrap, percentile interval.

References:
  Venzon, D. J. and Moolgavkar, S. H. (1988). A method for computing
  profile-likelihood-based confidence intervals. Applied Statistics 37(1), 87-94.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from jax.scipy.special import expit, logit

from jaxcert._numerics import PROB_EPS, as_float, normal_quantile
from jaxcert._types import Interval, Status
from jaxcert._validate import check_alpha, check_side, tail_alphas
from jaxcert.counts import Counts
from jaxcert.judge import solver as _s
from jaxcert.judge._kkt_newton import newton_solve, start_point
from jaxcert.judge.likelihood import _nll_derivs, fisher_information

__all__ = ["profile_loglik", "profile_interval", "profile_lr", "lr_bound", "wald_interval",
           "bootstrap_interval"]

_ROOT_STEPS = 100  # cap on safeguarded Newton/bisection steps per interval end
_ROOT_TOL = 1e-10  # |2 (l_hat - l_p) - c| / 2 at the returned end (loglik units)
_INNER_STEPS = 100
_INNER_TOL = 1e-10  # KKT residual (per observation) at which an inner solve stops
_INNER_OK = 1e-8  # KKT residual an inner solve must reach to count as converged


def _inner(c, sb, fb, t, x0):
    """l_p(t), dl_p/dt, the inner optimum (t, s, r) and whether it converged, from x0."""
    lo = jnp.array([t, sb[0], fb[0]])
    hi = jnp.array([t, sb[1], fb[1]])
    x0 = jnp.clip(x0.at[0].set(t), lo, hi)
    x, f, _, _, kkt = newton_solve(c, lo, hi, x0, _INNER_STEPS, _INNER_TOL)
    _, g, _ = _nll_derivs(c, x, 1.0)
    lp = jnp.where(jnp.isfinite(f), -f, -jnp.inf)
    return lp, -g[0], x, kkt <= _INNER_OK


def _end(c, sb, fb, x_hat, l_hat, crit, bound):
    """End of {t : 2 (l_hat - l_p(t)) <= crit} between theta_hat and ``bound``.

    ``h(t) = l_p(t) - l_hat + crit / 2`` is concave, ``>= 0`` at theta_hat. Start: the
    Wald-type guess ``t0 = theta_hat +- sqrt(crit / i_tt)`` (``i_tt``: curvature in
    theta at the MLE with ``(s, r)`` held, so ``t0`` tends to fall inside). If ``t0``
    is inside and ``h'(t0)`` points outwards, one Newton step from ``t0`` lands
    outside (a concave function lies below its tangents); otherwise the bound is the
    outside point. Then Newton from the outside (monotone for a concave function),
    safeguarded by bisection of the bracket ``[a, b]`` (``a`` inside, ``b`` outside).

    Every inner solve is warm-started from the inner optimum at the inside point
    ``a``, never from an outside point: outside, the optimum can sit against a bound
    where the log-likelihood is nearly singular (``r ~ 0`` with ``n01 > 0``), and
    Newton leaves such a point only by doubling its distance to the bound per step.
    Returns ``(end, ok)``; ``ok`` is False if the root was not bracketed
    to tolerance or an inner solve that decides the end did not converge.
    """
    target = l_hat - 0.5 * crit
    t_hat = x_hat[0]
    sgn = jnp.sign(bound - t_hat)
    _, _, m_hat = _nll_derivs(c, x_hat, 1.0)
    t0 = t_hat + sgn * jnp.sqrt(crit / m_hat[0, 0])
    ok0 = jnp.isfinite(t0) & ((t0 - t_hat) * (t0 - bound) < 0)
    t0 = jnp.where(ok0, t0, 0.5 * (t_hat + bound))
    h0, d0, x0, c0 = _inner(c, sb, fb, t0, x_hat)
    h0 = h0 - target
    in0 = h0 >= 0
    t1 = t0 - h0 / d0
    ok1 = in0 & jnp.isfinite(t1) & ((t1 - t0) * (t1 - bound) < 0)
    t1 = jnp.where(in0 & ~ok1, bound, t1)
    h1, d1, _, c1 = _inner(c, sb, fb, t1, jnp.where(in0, x0, x_hat))
    h1 = h1 - target
    # A Newton point still inside (only by rounding or an inexact inner solve, by
    # concavity): bracket [t1, bound] with an unknown h(bound) (bisection first).
    miss = ok1 & (h1 > _ROOT_TOL)
    a = jnp.where(in0, jnp.where(miss, t1, t0), t_hat)
    h_a = jnp.where(in0, jnp.where(miss, h1, h0), 0.5 * crit)
    x_a = jnp.where(in0, x0, x_hat)
    b = jnp.where(in0, jnp.where(miss, bound, t1), t0)
    h_b = jnp.where(in0, jnp.where(miss, -jnp.inf, h1), h0)
    d_b = jnp.where(in0, d1, d0)
    ok_b = jnp.where(in0, c1, c0)

    def cond(carry):
        i, a, h_a, _, b, h_b, _, _ = carry
        return ((i < _ROOT_STEPS) & (h_b < -_ROOT_TOL) & (h_a > _ROOT_TOL)
                & (jnp.abs(b - a) > 1e-15))

    def step(carry):
        i, a, h_a, x_a, b, h_b, d_b, ok_b = carry
        t_newton = b - h_b / d_b
        inside = jnp.isfinite(t_newton) & ((t_newton - a) * (t_newton - b) < 0)
        t = jnp.where(inside, t_newton, 0.5 * (a + b))
        h_t, d_t, x_t, ok_t = _inner(c, sb, fb, t, x_a)
        h_t = h_t - target
        go_in = h_t >= 0
        a, h_a = jnp.where(go_in, t, a), jnp.where(go_in, h_t, h_a)
        x_a = jnp.where(go_in, x_t, x_a)
        b, h_b = jnp.where(go_in, b, t), jnp.where(go_in, h_b, h_t)
        d_b, ok_b = jnp.where(go_in, d_b, d_t), jnp.where(go_in, ok_b, ok_t)
        return i + 1, a, h_a, x_a, b, h_b, d_b, ok_b

    init = (0, a, h_a, x_a, b, h_b, d_b, ok_b)
    _, a, h_a, _, b, h_b, _, ok_b = jax.lax.while_loop(cond, step, init)
    # h(bound) >= 0: the bound itself is in the acceptance region, the end is the bound;
    # otherwise the end is whichever bracket point is within tolerance of the root.
    inside_all = h_b > _ROOT_TOL
    found_a = (h_a <= _ROOT_TOL) & (h_b < -_ROOT_TOL)
    ok = (inside_all | found_a | (jnp.abs(h_b) <= _ROOT_TOL) | (jnp.abs(b - a) <= 1e-15))
    ok = ok & (found_a | ok_b)
    end = jnp.where(inside_all, bound, jnp.where(found_a, a, b))
    return end, ok


def _counts_vector(counts):
    return jnp.stack([as_float(v) for v in counts])


def profile_lr(theta, counts: Counts, tpr_bounds, fpr_bounds) -> jax.Array:
    """Likelihood-ratio statistic ``2 [l_hat - l_p(theta)]`` of one trusted problem.

    Kernel (no validation): ``counts`` holds float scalars, the bounds are arrays of
    shape ``(2,)``. jit/vmap-able. ``+inf`` where ``theta`` is impossible.
    """
    c = _counts_vector(counts)
    sb, fb = as_float(tpr_bounds), as_float(fpr_bounds)
    x, f, _, _, _, _ = _s._solve_one(c, sb, fb, "newton", 100, 1e-10, 0.0)
    lp = _inner(c, sb, fb, as_float(theta), x)[0]
    return jnp.maximum(2.0 * (-f - lp), 0.0)


def lr_bound(counts: Counts, tpr_bounds, fpr_bounds, crit, upper: bool):
    """End of ``{theta : 2 [l_hat - l_p(theta)] <= crit}`` on one side, one problem.

    Kernel (no validation; inputs as :func:`profile_lr`). ``crit`` may be traced (a
    calibrated critical value never recompiles); ``upper`` (static) picks the side.

    Returns:
      ``(bound, status)``: bound in [0, 1] (NaN for NONFINITE/INFEASIBLE input), int32
      :class:`~jaxcert.Status` (that of the CMLE, or ``MAX_STEPS`` if the end did
      not converge).
    """
    c = _counts_vector(counts)
    sb, fb = as_float(tpr_bounds), as_float(fpr_bounds)
    x, f, status, _, _, _ = _s._solve_one(c, sb, fb, "newton", 100, 1e-10, 0.0)
    end, ok = _end(c, sb, fb, x, -f, as_float(crit), 1.0 if upper else 0.0)
    status = jnp.where((status == Status.CONVERGED) & ~ok, Status.MAX_STEPS, status)
    bad = (status == Status.NONFINITE) | (status == Status.INFEASIBLE)
    return jnp.where(bad, jnp.nan, end), status.astype(jnp.int32)


def _profile_one(c, sb, fb, alpha, side):
    x, f, status, _, _, _ = _s._solve_one(c, sb, fb, "newton", 100, 1e-10, 0.0)
    cn = Counts(*c)
    a_lo, a_hi = tail_alphas(alpha, side)
    if side == "lower":
        upper, st_u = jnp.ones_like(f), status
    else:
        upper, st_u = lr_bound(cn, sb, fb, normal_quantile(1.0 - a_hi) ** 2, True)
    if side == "upper":
        lower, st_l = jnp.zeros_like(f), status
    else:
        lower, st_l = lr_bound(cn, sb, fb, normal_quantile(1.0 - a_lo) ** 2, False)
    worse = (status == Status.CONVERGED) & ((st_u == Status.MAX_STEPS) | (st_l == Status.MAX_STEPS))
    status = jnp.where(worse, Status.MAX_STEPS, status)
    bad = (status == Status.NONFINITE) | (status == Status.INFEASIBLE)
    lower, upper = jnp.where(bad, jnp.nan, lower), jnp.where(bad, jnp.nan, upper)
    return x[0], lower, upper, status.astype(jnp.int32)


def _profile_flat(c, sb, fb, alpha, side):
    return jax.vmap(lambda *a: _profile_one(*a, side))(c, sb, fb, alpha)


_profile_jit = jax.jit(_profile_flat, static_argnames=("side",))


def _flatten(counts, tpr_bounds, fpr_bounds, alpha, side):
    check_side(side)
    if _s.is_concrete(counts, tpr_bounds, fpr_bounds, alpha):
        _s._validate(Counts.create(*counts), tpr_bounds, fpr_bounds)
        check_alpha(alpha)
    a = as_float(alpha)
    c, sb, fb, batch = _s._prepare(counts, tpr_bounds, fpr_bounds, a.shape)
    return c, sb, fb, jnp.broadcast_to(a, batch).reshape(-1), batch


def profile_interval(counts: Counts, tpr_bounds=None, fpr_bounds=None, *, alpha=0.05,
                     side: str = "two-sided") -> Interval:
    """Profile-likelihood interval for the failure rate under box constraints.

    ``{theta in [0, 1] : 2 [l_hat - l_p(theta)] <= z_{1-a}^2}`` where ``a`` is the
    tail mass of each computed end (``alpha / 2`` two-sided, ``alpha`` one-sided)
    and ``l_p`` maximises over ``(s, r)`` in the box (module docstring).

    Args:
      counts: :class:`~jaxcert.Counts`, fields of shape ``(...)``.
      tpr_bounds, fpr_bounds: ``(..., 2)`` boxes ``[lo, hi]``; ``None`` = [0, 1].
      alpha: miscoverage in (0, 1), scalar or ``(...)`` (traced: no recompilation).
      side: ``"two-sided"``, ``"upper"`` (``[0, U]``) or ``"lower"`` (``[L, 1]``).

    Returns:
      :class:`~jaxcert.Interval` with the CMLE as estimate; status as
      :func:`~jaxcert.judge.solver.mle`, or ``MAX_STEPS`` if an end did not converge.

    Example:
      >>> ci = profile_interval(Counts.create(0, 0, 3, 47, m1=40, m0=960),
      ...                       [0.85, 0.95], [0.02, 0.08], alpha=0.05, side="upper")
      >>> 0 < float(ci.upper) < 1
      True
    """
    c, sb, fb, a, batch = _flatten(counts, tpr_bounds, fpr_bounds, alpha, side)
    out = _profile_jit(c, sb, fb, a, side=side)
    return Interval(*(v.reshape(batch) for v in out))


def profile_loglik(theta, counts: Counts, tpr_bounds=None, fpr_bounds=None) -> jax.Array:
    """Profile log-likelihood ``l_p(theta) = max_{(s, r) in box} l(theta, s, r)``.

    Args:
      theta: failure rate(s), shape ``(...)``, broadcast with counts and bounds.
      counts, tpr_bounds, fpr_bounds: as in :func:`profile_interval`.

    Returns:
      float64 array of shape ``(...)`` (``-inf`` where the data are impossible).
    """
    t = as_float(theta)
    c, sb, fb, batch = _s._prepare(counts, tpr_bounds, fpr_bounds, t.shape)
    return _profile_loglik_jit(jnp.broadcast_to(t, batch).reshape(-1), c, sb, fb).reshape(batch)


@jax.jit
def _profile_loglik_jit(t, c, sb, fb):
    fn = lambda t1, c1, s1, f1: _inner(c1, s1, f1, t1, start_point(c1, 0.0, 1.0))[0]  # noqa: E731
    return jax.vmap(fn)(t, c, sb, fb)


def _z_tails(alpha, side):
    a_lo, a_hi = tail_alphas(as_float(alpha), side)
    return normal_quantile(1.0 - a_lo), normal_quantile(1.0 - a_hi)


def wald_interval(counts: Counts, tpr_bounds=None, fpr_bounds=None, *, alpha=0.05,
                  side: str = "two-sided", kind: str = "wald") -> Interval:
    """Wald or logit-Wald interval from the expected Fisher information at the CMLE.

    ``se^2 = [I(theta, s, r)^{-1}]_{theta theta}`` (:func:`fisher_information`, with
    ``s, r`` clamped to ``[1e-12, 1 - 1e-12]``). ``kind="wald"``: ``theta_hat +- z se``
    clipped to [0, 1]. ``kind="logit"``: ``expit(logit(theta_hat) +- z se /
    (theta_hat (1 - theta_hat)))`` (delta method). Both ignore active bounds (they
    treat ``s, r`` as free) and degenerate at ``theta_hat = 0``: prefer
    :func:`profile_interval`.

    Args:
      counts, tpr_bounds, fpr_bounds, alpha, side: as in :func:`profile_interval`.
      kind: ``"wald"`` or ``"logit"`` (static).

    Returns:
      :class:`~jaxcert.Interval`.
    """
    if kind not in ("wald", "logit"):
        raise ValueError(f"kind must be 'wald' or 'logit'; got {kind!r}")
    check_side(side)
    if _s.is_concrete(alpha):
        check_alpha(alpha)
    res = _s.mle(counts, tpr_bounds, fpr_bounds)
    c = Counts.create(*counts)
    t = jnp.clip(res.theta, PROB_EPS, 1 - PROB_EPS)
    info = fisher_information(t, jnp.clip(res.tpr, PROB_EPS, 1 - PROB_EPS),
                              jnp.clip(res.fpr, PROB_EPS, 1 - PROB_EPS), c.n, c.N)
    ixx = info[..., 1:, 1:]
    det = ixx[..., 0, 0] * ixx[..., 1, 1] - ixx[..., 0, 1] ** 2
    i0x = info[..., 0, 1:]
    quad = (i0x[..., 0] ** 2 * ixx[..., 1, 1] - 2 * i0x[..., 0] * i0x[..., 1] * ixx[..., 0, 1]
            + i0x[..., 1] ** 2 * ixx[..., 0, 0]) / det
    se = jnp.sqrt(1.0 / jnp.maximum(info[..., 0, 0] - quad, 1e-300))
    z_lo, z_hi = _z_tails(alpha, side)
    if kind == "wald":
        lower, upper = res.theta - z_lo * se, res.theta + z_hi * se
    else:
        se_l = se / (t * (1 - t))
        lower, upper = expit(logit(t) - z_lo * se_l), expit(logit(t) + z_hi * se_l)
    lower = jnp.zeros_like(lower) if side == "upper" else jnp.clip(lower, 0.0, 1.0)
    upper = jnp.ones_like(upper) if side == "lower" else jnp.clip(upper, 0.0, 1.0)
    status = jnp.where(jnp.isfinite(se) | (res.status != Status.CONVERGED), res.status,
                       Status.NONFINITE)
    return Interval(res.theta, lower, upper, status.astype(jnp.int32))


def _simulate(key, x, n, nn):
    """One parametric-bootstrap replicate of the counts (numpyro distributions)."""
    t, s, r = x
    n, nn = jnp.round(n).astype(jnp.int64), jnp.round(nn).astype(jnp.int64)
    k1, k2, k3, k4 = jax.random.split(key, 4)
    y1 = dist.BinomialProbs(t, total_count=n).sample(k1)
    n11 = dist.BinomialProbs(s, total_count=y1).sample(k2)
    n01 = dist.BinomialProbs(r, total_count=n - y1).sample(k3)
    m1 = dist.BinomialProbs(t * s + (1 - t) * r, total_count=nn).sample(k4)
    return jnp.stack([n11, y1 - n11, n01, n - y1 - n01, m1, nn - m1]).astype(jnp.float64)


def _boot_one(key, c, sb, fb, alpha, side, num_boot):
    x, f, status, _, _, _ = _s._solve_one(c, sb, fb, "newton", 100, 1e-10, 0.0)
    xs = jnp.clip(x, 0.0, 1.0)
    n, nn = jnp.sum(c[:4]), c[4] + c[5]
    keys = jax.random.split(key, num_boot)
    sims = jax.vmap(lambda k: _simulate(k, xs, n, nn))(keys)
    refit = jax.vmap(lambda cc: _s._solve_one(cc, sb, fb, "newton", 100, 1e-10, 0.0))(sims)
    thetas, st = refit[0][:, 0], refit[2]
    a_lo, a_hi = tail_alphas(alpha, side)
    lower = jnp.quantile(thetas, a_lo) if side != "upper" else 0.0
    upper = jnp.quantile(thetas, 1.0 - a_hi) if side != "lower" else 1.0
    bad_refit = jnp.any((st != Status.CONVERGED) & (st != Status.UNIDENTIFIED))
    status = jnp.where((status == Status.CONVERGED) & bad_refit, Status.MAX_STEPS, status)
    return x[0], jnp.asarray(lower, jnp.float64), jnp.asarray(upper, jnp.float64), status


_boot_jit = jax.jit(
    lambda keys, c, sb, fb, a, side, num_boot: jax.vmap(
        lambda *z: _boot_one(*z, side, num_boot))(keys, c, sb, fb, a),
    static_argnames=("side", "num_boot"),
)


def bootstrap_interval(key, counts: Counts, tpr_bounds=None, fpr_bounds=None, *, alpha=0.05,
                       side: str = "two-sided", num_boot: int = 1000) -> Interval:
    """Parametric-bootstrap percentile interval around the CMLE (vmapped refits).

    Simulates ``num_boot`` count vectors from the fitted ``(theta, s, r)`` with the
    same ``n`` and ``N`` (``Y ~ Binomial(n, theta)``, ``J | Y`` binomial, ``m1 ~
    Binomial(N, q)``; sampled with ``numpyro.distributions.BinomialProbs``), refits
    each with the same box, and returns the ``a_lo`` and ``1 - a_hi`` quantiles of
    the refitted theta (``a_lo, a_hi`` from the side convention).

    Args:
      key: PRNG key (first argument, never hidden).
      counts, tpr_bounds, fpr_bounds, alpha, side: as in :func:`profile_interval`.
      num_boot: number of bootstrap replicates (static).

    Returns:
      :class:`~jaxcert.Interval`; status ``MAX_STEPS`` if a refit did not converge.
    """
    if int(num_boot) < 2:
        raise ValueError(f"num_boot must be an integer >= 2; got {num_boot!r}")
    c, sb, fb, a, batch = _flatten(counts, tpr_bounds, fpr_bounds, alpha, side)
    keys = jax.random.split(key, c.shape[0])
    out = _boot_jit(keys, c, sb, fb, a, side=side, num_boot=int(num_boot))
    return Interval(*(v.reshape(batch) for v in out))
