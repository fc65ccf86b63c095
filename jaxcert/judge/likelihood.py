"""Log-likelihood, closed-form UMLE and Fisher information of the judge model.

Model (methods.md §1): ``theta = P(Y=1)`` (failure rate), ``s = P(J=1 | Y=1)`` (judge
TPR), ``r = P(J=1 | Y=0)`` (judge FPR) and the judge-positive rate
``q = theta s + (1 - theta) r``. With calibration cells ``n11, n10, n01, n00`` (first
index Y, second J) and judge-only counts ``m1, m0``::

    l(theta, s, r) = n11 log(theta s) + n10 log(theta (1-s))
                   + n01 log((1-theta) r) + n00 log((1-theta)(1-r))
                   + m1 log q + m0 log(1 - q)

(multinomial and binomial coefficients dropped).

Structural fact used throughout :mod:`jaxcert.judge`: in the cell-probability
coordinates ``a = theta s = P(Y=1, J=1)`` and ``b = (1-theta) r = P(Y=0, J=1)``::

    l = n11 log a + n10 log(theta - a) + n01 log b + n00 log(1 - theta - b)
      + m1 log(a + b) + m0 log(1 - a - b)

is a sum of logs of affine maps, hence jointly concave in ``(theta, a, b)``, and the
box ``s in [s_lo, s_hi]``, ``r in [r_lo, r_hi]`` becomes the linear constraints
``s_lo theta <= a <= s_hi theta``, ``r_lo (1-theta) <= b <= r_hi (1-theta)``. The
constrained MLE is therefore a convex problem: every KKT point is a global maximum,
and the profile ``l_p(theta) = max_{(s, r) in box} l`` is concave in ``theta``.

References:
  Tenenbein, A. (1970). A double sampling scheme for estimating from binomial data
  with misclassifications. JASA 65(331), 1350-1361.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxcert._numerics import as_float, xlog1py, xlogy
from jaxcert.counts import Counts

__all__ = ["loglik", "umle", "fisher_information"]


def loglik(theta, tpr, fpr, counts: Counts) -> jax.Array:
    """Log-likelihood ``l(theta, s, r)`` of the calibration + judge-only counts.

    Uses ``xlogy`` so that a zero count times ``log 0`` is 0 (e.g. ``n10 = 0`` with
    ``s = 1`` is finite). Broadcasts over any common batch shape.

    Args:
      theta: failure rate ``P(Y=1)``, float64 array of shape ``(...)``.
      tpr: judge TPR ``s = P(J=1 | Y=1)``, shape ``(...)``.
      fpr: judge FPR ``r = P(J=1 | Y=0)``, shape ``(...)``.
      counts: :class:`~jaxcert.Counts` with fields of shape ``(...)``.

    Returns:
      float64 array of shape ``(...)`` (``-inf`` where a positive count has zero
      probability).

    Example:
      >>> c = Counts.create(3, 1, 2, 44, m1=60, m0=940)
      >>> float(loglik(0.08, 0.75, 0.04, c)) < 0
      True
    """
    t, s, r = as_float(theta), as_float(tpr), as_float(fpr)
    c = counts
    q = t * s + (1.0 - t) * r
    return (
        xlogy(c.n11, t * s)
        + xlogy(c.n10, t * (1.0 - s))
        + xlogy(c.n01, (1.0 - t) * r)
        + xlogy(c.n00, (1.0 - t) * (1.0 - r))
        + xlogy(c.m1, q)
        + xlog1py(c.m0, -q)
    )


def umle(counts: Counts) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Closed-form unconstrained MLE (double sampling, Tenenbein 1970).

    ``q_hat = (n11 + n01 + m1) / (n + N)``; with the calibration conditionals
    ``P(Y=1 | J=1) = n11 / n.1`` and ``P(Y=1 | J=0) = n10 / n.0``::

        theta_hat = P(Y=1 | J=1) q_hat + P(Y=1 | J=0) (1 - q_hat)
        s_hat = P(Y=1 | J=1) q_hat / theta_hat
        r_hat = P(Y=0 | J=1) q_hat / (1 - theta_hat)

    It maximises :func:`loglik` over ``[0, 1]^3`` whenever ``n.1 = n11 + n01 > 0``
    and ``n.0 = n10 + n00 > 0``; otherwise a conditional is 0/0 and the result is NaN.

    Args:
      counts: :class:`~jaxcert.Counts` with fields of shape ``(...)``.

    Returns:
      ``(theta, tpr, fpr)``, float64 arrays of shape ``(...)``.

    Example:
      >>> theta, s, r = umle(Counts.create(3, 1, 2, 44, m1=60, m0=940))
    """
    c = counts
    n, nn = c.n, c.N
    q = (c.n11 + c.n01 + c.m1) / (n + nn)
    p1_j1 = c.n11 / (c.n11 + c.n01)
    p1_j0 = c.n10 / (c.n10 + c.n00)
    theta = p1_j1 * q + p1_j0 * (1.0 - q)
    tpr = p1_j1 * q / theta
    fpr = (1.0 - p1_j1) * q / (1.0 - theta)
    return theta, tpr, fpr


def fisher_information(theta, tpr, fpr, n, N) -> jax.Array:
    """Expected Fisher information of ``(theta, s, r)`` (3x3, closed form).

    The calibration cells factor as ``Y ~ Bernoulli(theta)``, ``J | Y`` Bernoulli, so
    they contribute ``n diag(1 / (theta (1-theta)), theta / (s (1-s)),
    (1-theta) / (r (1-r)))``; the judge-only count ``m1 ~ Binomial(N, q)`` adds
    ``N g g^T / (q (1-q))`` with ``g = dq/d(theta, s, r) = (s - r, theta, 1 - theta)``.

    Args:
      theta, tpr, fpr: parameters, float64 arrays of shape ``(...)``.
      n: calibration size, shape ``(...)``.
      N: judge-only size, shape ``(...)``.

    Returns:
      float64 array of shape ``(..., 3, 3)`` (infinite entries where a parameter sits
      at 0 or 1 and its information is unbounded).

    Example:
      >>> info = fisher_information(0.1, 0.9, 0.05, 50, 1000)
      >>> info.shape
      (3, 3)
    """
    t, s, r, n, nn = (as_float(x) for x in (theta, tpr, fpr, n, N))
    t, s, r, n, nn = jnp.broadcast_arrays(t, s, r, n, nn)
    q = t * s + (1.0 - t) * r
    diag = jnp.stack(
        [n / (t * (1.0 - t)), n * t / (s * (1.0 - s)), n * (1.0 - t) / (r * (1.0 - r))], -1
    )
    g = jnp.stack([s - r, t, 1.0 - t], -1)
    w = jnp.where(nn > 0, nn / jnp.where(nn > 0, q * (1.0 - q), 1.0), 0.0)
    judge = w[..., None, None] * g[..., :, None] * g[..., None, :]
    return judge + jnp.where(jnp.eye(3, dtype=bool), diag[..., :, None], 0.0)


# ---------------------------------------------------------------- solver internals
def _sdiv(num, den):
    """``num / den`` with ``0 / 0 = 0`` (a zero count contributes nothing)."""
    nz = num != 0
    return jnp.where(nz, num / jnp.where(nz, den, 1.0), 0.0)


def _nll_derivs(c, x, scale):
    """Value, gradient (3,) and PSD curvature (3, 3) of ``-l(x) / scale``, one problem.

    ``c`` is the (6,) vector ``(n11, n10, n01, n00, m1, m0)``, ``x = (theta, s, r)``.
    Analytic, with ``0 log 0 = 0`` and ``0 / 0 = 0`` for zero counts.

    The curvature is ``J^T (-H_g) J``: the Hessian of the concave cell-coordinate
    log-likelihood ``g(theta, a, b)`` pulled back through the Jacobian ``J`` of
    ``(theta, s, r) -> (theta, theta s, (1 - theta) r)``. It is positive
    semi-definite everywhere and differs from the true Hessian of ``-l`` only by the
    terms ``dg/da`` (at (theta, s)) and ``-dg/db`` (at (theta, r)), which vanish
    wherever ``s`` (resp. ``r``) is free at a stationary point: a Gauss-Newton-like
    matrix that keeps Newton's local quadratic convergence.
    """
    n11, n10, n01, n00, m1, m0 = c
    t, s, r = x
    q = t * s + (1.0 - t) * r
    n1, n0 = n11 + n10, n01 + n00
    f = -loglik(t, s, r, Counts(n11, n10, n01, n00, m1, m0))
    w = _sdiv(m1, q) - _sdiv(m0, 1.0 - q)
    v = _sdiv(m1, q * q) + _sdiv(m0, (1.0 - q) ** 2)
    d = s - r
    ls = _sdiv(n11, s) - _sdiv(n10, 1.0 - s)  # calibration part of dl/ds
    lr = _sdiv(n01, r) - _sdiv(n00, 1.0 - r)
    g = jnp.stack([_sdiv(n1, t) - _sdiv(n0, 1.0 - t) + d * w, ls + t * w, lr + (1.0 - t) * w])
    mtt = _sdiv(n1, t * t) + _sdiv(n0, (1.0 - t) ** 2) + d * d * v
    mss = _sdiv(n11, s * s) + _sdiv(n10, (1.0 - s) ** 2) + t * t * v
    mrr = _sdiv(n01, r * r) + _sdiv(n00, (1.0 - r) ** 2) + (1.0 - t) ** 2 * v
    mts = d * t * v + _sdiv(ls, t)
    mtr = d * (1.0 - t) * v - _sdiv(lr, 1.0 - t)
    msr = t * (1.0 - t) * v
    m = jnp.stack([jnp.stack([mtt, mts, mtr]), jnp.stack([mts, mss, msr]),
                   jnp.stack([mtr, msr, mrr])])
    return f / scale, -g / scale, m / scale
