"""Confidence intervals for the failure rate around the constrained MLE.

Three methods, one ``side`` convention (``"two-sided" | "upper" | "lower"``, see
:mod:`jaxcert._validate`), traced ``alpha``, all returning
:class:`~jaxcert.Interval` ``(estimate, lower, upper, status)``:

* :func:`profile_interval` (recommended): inverts the profile likelihood-ratio test,
  ``{theta : 2 [l_hat - l_p(theta)] <= c}`` with ``l_p(theta) = max_{(s, r) in box}
  l(theta, s, r)``. ``l_p`` is concave (see :mod:`jaxcert.judge.likelihood`), so the
  set is an interval; each end is the root of a concave function, found by Newton on
  the signed root in logit theta, safeguarded by bisection, with closed-form inner
  solves (:mod:`jaxcert.judge._profile_bound`) and ``l_p'(theta) = dl/dtheta`` at the
  inner optimum (envelope theorem: the box in
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
from jaxcert._validate import check_alpha, check_side, is_concrete, tail_alphas
from jaxcert.counts import Counts
from jaxcert.judge import _profile_bound as _pb
from jaxcert.judge import solver as _s
from jaxcert.judge._lr_bound import bound_end, fit_sanitised
from jaxcert.judge.likelihood import fisher_information

__all__ = ["profile_loglik", "profile_interval", "profile_lr", "lr_bound", "wald_interval",
           "bootstrap_interval"]



def _counts_vector(counts):
    return jnp.stack([as_float(v) for v in counts])


_fit = fit_sanitised


def profile_lr(theta, counts: Counts, tpr_bounds, fpr_bounds) -> jax.Array:
    """Likelihood-ratio statistic ``2 [l_hat - l_p(theta)]`` of one trusted problem.

    Kernel (no validation): ``counts`` holds float scalars, the bounds are arrays of
    shape ``(2,)``; jit/vmap-able. ``l_hat`` is the exact CMLE, ``l_p`` the profile
    (closed-form inner solve, :mod:`jaxcert.judge._profile_bound`). ``+inf`` where
    ``theta`` is impossible; NaN for NONFINITE/INFEASIBLE input.
    """
    c = _counts_vector(counts)
    sb, fb = as_float(tpr_bounds), as_float(fpr_bounds)
    x, l_hat, _, ok = _fit(c, sb, fb)
    q_hat = x[0] * x[1] + (1.0 - x[0]) * x[2]
    lp = _pb.profile_loglik_at(jnp.where(ok, c, 1.0), jnp.where(ok, sb, jnp.array([0.0, 1.0])),
                         jnp.where(ok, fb, jnp.array([0.0, 1.0])), as_float(theta), q_hat)
    return jnp.where(ok, jnp.maximum(2.0 * (l_hat - lp), 0.0), jnp.nan)


def lr_bound(counts: Counts, tpr_bounds, fpr_bounds, crit, upper: bool, fit=None):
    """End of ``{theta : 2 [l_hat - l_p(theta)] <= crit}`` on one side, one problem.

    Kernel (no validation; inputs as :func:`profile_lr`). ``crit`` may be traced (a
    calibrated critical value never recompiles); ``upper`` (static) picks the side:
    the lower end is the upper end of the relabelled problem (``Y -> 1 - Y``).
    ``fit``: the problem's :func:`~jaxcert.judge.solver.mle_kernel` output when the
    caller has it (saves a second exact solve); computed here when ``None``.

    Returns:
      ``(bound, status)``: bound in [0, 1] (NaN for NONFINITE/INFEASIBLE input), int32
      :class:`~jaxcert.Status` (that of the CMLE, or ``MAX_STEPS`` if the end did
      not converge).
    """
    c = _counts_vector(counts)
    sb, fb = as_float(tpr_bounds), as_float(fpr_bounds)
    x, f, st = _s.mle_kernel(c, sb, fb) if fit is None else fit
    end, status = bound_end(c, sb, fb, as_float(crit), (x, f, st.astype(jnp.float64)), bool(upper))
    return end, status.astype(jnp.int32)


def _profile_one(c, sb, fb, alpha, side):
    x, f, status = _s.mle_kernel(c, sb, fb)
    cn = Counts(*c)
    a_lo, a_hi = tail_alphas(alpha, side)
    if side == "lower":
        upper, st_u = jnp.ones_like(f), status
    else:
        upper, st_u = lr_bound(cn, sb, fb, normal_quantile(1.0 - a_hi) ** 2, True, (x, f, status))
    if side == "upper":
        lower, st_l = jnp.zeros_like(f), status
    else:
        lower, st_l = lr_bound(cn, sb, fb, normal_quantile(1.0 - a_lo) ** 2, False, (x, f, status))
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
    if is_concrete(counts, tpr_bounds, fpr_bounds, alpha):
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
    def one(t1, c1, s1, f1):
        x, _, _, ok = _fit(c1, s1, f1)
        q_hat = x[0] * x[1] + (1.0 - x[0]) * x[2]
        return _pb.profile_loglik_at(c1, s1, f1, t1, q_hat)
    return jax.vmap(one)(t, c, sb, fb)


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
    if is_concrete(alpha):
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
    x, f, status = _s.mle_kernel(c, sb, fb)
    xs = jnp.clip(x, 0.0, 1.0)
    n, nn = jnp.sum(c[:4]), c[4] + c[5]
    keys = jax.random.split(key, num_boot)
    sims = jax.vmap(lambda k: _simulate(k, xs, n, nn))(keys)
    refit = jax.vmap(lambda cc: _s.mle_kernel(cc, sb, fb))(sims)
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
