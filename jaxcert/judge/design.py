"""Designed labelling: split a human-label budget between judge-flagged and unflagged items.

Why a design is allowed. Items are chosen for human labelling with a probability
``pi(J)`` that depends only on the judge's verdict, which is observed for every
item. Each labelled item then contributes ``P(Y, J) pi(J)`` to the likelihood and
each unlabelled one ``P(J) (1 - pi(J))``; the ``pi`` factors are free of
``(theta, s, r)``, so the CMLE, the profile and the calibrated bounds are computed
from :class:`~jaxcert.Counts` exactly as under simple random labelling (SRS). This
stays true when the design adapts to the observed verdicts (e.g. labels moved to the
other stratum when too few items were flagged): selection depends on observed data.

Objective. In the cell coordinates ``q = P(J=1)``, ``u = P(Y=1 | J=1)``,
``v = P(Y=1 | J=0)`` the log-likelihood separates into three binomials
(``docs/methods.md`` section 4). With ``n1`` labels among flagged items, ``n0``
among unflagged ones and ``T = n1 + n0 + N`` verdicts in all, the expected Fisher
information is diagonal there,

    D = diag(T / (q (1-q)),  n1 / (u (1-u)),  n0 / (v (1-v))),

and in ``(theta, s, r)`` it is ``I = G^T D G`` with ``G = d(q, u, v) / d(theta, s, r)``
(``theta = q u + (1-q) v``, ``s = q u / theta``, ``r = q (1-u) / (1-theta)``). Without
a box, ``var(theta_hat) = [I^{-1}]_{theta theta}`` is the delta-method variance

    q^2 u (1-u) / n1 + (1-q)^2 v (1-v) / n0 + (u - v)^2 q (1-q) / T,

minimised over ``n1 + n0 = B`` (``T`` fixed) by the Neyman allocation
``n1 : n0 = q sqrt(u (1-u)) : (1-q) sqrt(v (1-v))``. SRS labels each stratum in
proportion, ``n1 = q B`` on average (its expected information is the same formula).

Boxes. A box the CMLE is held in acts like knowledge of that parameter: a tight box
makes it known, a box of width 1 adds almost nothing. We add the box's information as
the precision ``12 / width^2`` of a uniform on the box to the ``(s, r)`` block and
take the Schur complement,
``var = 1 / (I_tt - I_te (I_ee + P)^{-1} I_et)``: a smooth, differentiable stand-in
for "active boxes are known parameters" (a heuristic: a box is a constraint, not a
prior). ``None`` means no box (``P = 0``).

Smoothed expected bound (``objective="bound"``, the default). The variance misjudges
a stratum with rare failures: with ``k = 0`` of ``n`` the upper bound on its rate is
about ``3 / n``, not ``z sqrt(p (1-p) / n)``. Replacing each stratum's ``(n, p)`` by
the Agresti-Coull pseudo-counts ``n~ = n + z^2``, ``p~ = (n p + z^2 / 2) / n~``
(whose one-sided bound at ``p = 0`` is about ``3.3 / n``) in ``D`` gives ``V~``, and the
expected certified bound is approximated as

    E[U] ~ theta + w . (0, u~ - u, v~ - v) + z sqrt(V~),

where ``w = e_theta^T (I~ + P)^{-1} G^T D~`` is the first-order response of the
(boxed) estimator to the pseudo-count shift of ``(q, u, v)``; it is
``(u - v, q, 1 - q)`` without a box and shrinks as a box pins ``(s, r)`` down.
``objective="variance"`` minimises ``V`` itself (Neyman without box).

Optimiser. ``n1 = lo + (hi - lo) sigmoid(z)``, with ``lo, hi`` from the floor of
``min_per_stratum`` labels per stratum and the caps ``n1 <= q T``, ``n0 <= (1-q) T``
(no more flagged items can be labelled than exist); ``z`` is fitted by optax Adam on
the log of the objective (variance, or bound
minus ``theta``) for a fixed number of steps under ``jax.lax.scan``; every numeric
hyper-parameter is traced. The floor is there because a stratum with no labels leaves
its failure rate (``u`` or ``v``) unidentified except through the box, and a wrong
guess of ``(theta, s, r)`` could otherwise starve the stratum that matters.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxcert._numerics import as_float

__all__ = ["DesignResult", "design_labelling", "stratified_information", "theta_variance",
           "expected_bound", "neyman_share"]

#: Narrowest box width used for its precision (a point box is a known parameter).
_MIN_WIDTH = 1e-9


class DesignResult(NamedTuple):
    """A designed split of the label budget (see :func:`design_labelling`).

    Attributes:
      n_flagged: human labels to draw among judge-flagged items (``J = 1``).
      n_unflagged: human labels among unflagged items (``J = 0``).
      share: the optimiser's continuous flagged share ``n1 / budget``.
      srs_share: the flagged share of simple random labelling (``q``).
      variance: asymptotic ``var(theta_hat)`` of the integer design.
      srs_variance: the same under simple random labelling with the same budget.
      efficiency: ``srs_variance / variance`` (about the SRS budget ratio needed).
      bound, srs_bound: smoothed expected upper bound of the design and of SRS.
      objective: what was minimised, ``"bound"`` or ``"variance"``.
    """

    n_flagged: int
    n_unflagged: int
    share: float
    srs_share: float
    variance: float
    srs_variance: float
    efficiency: float
    bound: float
    srs_bound: float
    objective: str


def _cells(theta, s, r):
    q = theta * s + (1 - theta) * r
    return jnp.stack([q, theta * s / q, theta * (1 - s) / (1 - q)])


def stratified_information(theta, tpr, fpr, n1, n0, N):
    """Expected Fisher information ``G^T D G`` of ``(theta, s, r)`` (3x3) under a stratified design.

    Args:
      theta, tpr, fpr: guesses of the failure rate and the judge's TPR / FPR (scalars).
      n1, n0: labels among flagged / unflagged items (real-valued allowed).
      N: unlabelled (judge-only) items.

    Returns:
      ``(3, 3)`` float64 array.

    Example:
      >>> stratified_information(0.1, 0.9, 0.05, 30.0, 70.0, 1000.0).shape
      (3, 3)
    """
    theta, s, r, n1, n0, N = (as_float(x) for x in (theta, tpr, fpr, n1, n0, N))
    q, u, v = _cells(theta, s, r)
    d = jnp.stack([(n1 + n0 + N) / (q * (1 - q)), n1 / (u * (1 - u)), n0 / (v * (1 - v))])
    G = jax.jacfwd(lambda x: _cells(*x))(jnp.stack([theta, s, r]))
    return G.T @ (d[:, None] * G)


def theta_variance(theta, tpr, fpr, n1, n0, N, tpr_precision=0.0, fpr_precision=0.0):
    """Asymptotic ``var(theta_hat)``: Schur complement of the ``(s, r)`` block + box precision."""
    info = stratified_information(theta, tpr, fpr, n1, n0, N)
    ee = info[1:, 1:] + jnp.diag(jnp.stack([as_float(tpr_precision), as_float(fpr_precision)]))
    te = info[0, 1:]
    return 1.0 / (info[0, 0] - te @ jnp.linalg.solve(ee, te))


def neyman_share(theta, tpr, fpr):
    """Closed-form optimal flagged share without box or floor: ``q sqrt(u(1-u)) / (...)``."""
    q, u, v = _cells(*(as_float(x) for x in (theta, tpr, fpr)))
    a, c = q * jnp.sqrt(u * (1 - u)), (1 - q) * jnp.sqrt(v * (1 - v))
    return a / (a + c)


def expected_bound(theta, tpr, fpr, n1, n0, N, tpr_precision=0.0, fpr_precision=0.0,
                   z=1.6448536269514722):
    """Smoothed expected upper bound ``E[U]`` of a stratified design (module docstring)."""
    theta, s, r, n1, n0, N, z = (as_float(x) for x in (theta, tpr, fpr, n1, n0, N, z))
    q, u, v = _cells(theta, s, r)
    n1t, n0t = n1 + z**2, n0 + z**2
    ut, vt = (n1 * u + z**2 / 2) / n1t, (n0 * v + z**2 / 2) / n0t
    d = jnp.stack([(n1 + n0 + N) / (q * (1 - q)), n1t / (ut * (1 - ut)), n0t / (vt * (1 - vt))])
    G = jax.jacfwd(lambda x: _cells(*x))(jnp.stack([theta, s, r]))
    prec = jnp.stack([0.0, as_float(tpr_precision), as_float(fpr_precision)])
    row = jnp.linalg.solve(G.T @ (d[:, None] * G) + jnp.diag(prec), jnp.eye(3)[0])
    w = (G @ row) * d  # e_theta^T (I + P)^{-1} G^T D (the matrix is symmetric)
    return theta + w @ jnp.stack([0.0, ut - u, vt - v]) + z * jnp.sqrt(row[0])


def _limits(q, budget, N, floor):
    T = budget + N
    return jnp.maximum(floor, budget - (1 - q) * T), jnp.minimum(budget - floor, q * T)


@partial(jax.jit, static_argnames=("steps", "objective"))
def design_kernel(theta, tpr, fpr, budget, N, tpr_precision, fpr_precision, floor,
                  learning_rate, z_alpha=1.6448536269514722, *, steps: int = 400,
                  objective: str = "bound"):
    """Optimal continuous ``n1`` (pure, jittable; all numeric arguments traced).

    Returns:
      ``(n1, log_loss)``: the fitted flagged label count and the log objective there
      (``log var``, or ``log(E[U] - theta)`` for ``objective="bound"``).
    """
    q = _cells(as_float(theta), as_float(tpr), as_float(fpr))[0]
    lo, hi = _limits(q, as_float(budget), as_float(N), as_float(floor))

    def n1_of(z):
        return lo + (hi - lo) * jax.nn.sigmoid(z)

    def loss(z):
        n1 = n1_of(z)
        args = (theta, tpr, fpr, n1, budget - n1, N, tpr_precision, fpr_precision)
        if objective == "variance":
            return jnp.log(theta_variance(*args))
        return jnp.log(expected_bound(*args, z_alpha) - as_float(theta))

    # start from SRS's share (clipped into the feasible range)
    p0 = jnp.clip((q * budget - lo) / jnp.maximum(hi - lo, 1e-12), 1e-3, 1 - 1e-3)
    z0 = jnp.log(p0) - jnp.log1p(-p0)
    opt = optax.adam(learning_rate)

    def step(carry, _):
        z, state = carry
        g = jax.grad(loss)(z)
        upd, state = opt.update(g, state, z)
        return (optax.apply_updates(z, upd), state), None

    (z, _), _ = jax.lax.scan(step, (z0, opt.init(z0)), None, length=steps)
    return n1_of(z), loss(z)


def _precision(box, name):
    if box is None:
        return 0.0
    lo, hi = (float(b) for b in box)
    if not 0.0 <= lo <= hi <= 1.0:
        raise ValueError(f"{name} must be [lo, hi] with 0 <= lo <= hi <= 1; got {box!r}")
    return 12.0 / max(hi - lo, _MIN_WIDTH) ** 2


def _check(budget, tpr, fpr, theta_guess, N, min_per_stratum):
    for name, v in (("tpr", tpr), ("fpr", fpr), ("theta_guess", theta_guess)):
        if not (np.isfinite(v) and 0 < v < 1):
            raise ValueError(f"{name} must be a number strictly between 0 and 1; got {v!r}")
    if tpr <= fpr:
        raise ValueError(f"the judge must beat chance: need tpr > fpr; got tpr={tpr}, fpr={fpr}")
    if int(N) != N or N < 0:
        raise ValueError(f"N must be an integer >= 0; got {N!r}")
    if int(min_per_stratum) != min_per_stratum or min_per_stratum < 1:
        raise ValueError(f"min_per_stratum must be an integer >= 1; got {min_per_stratum!r}")
    if int(budget) != budget or budget < 2 * min_per_stratum:
        raise ValueError(f"budget must be an integer >= 2 * min_per_stratum = "
                         f"{2 * min_per_stratum}; got {budget!r}")


def design_labelling(*, budget, tpr, fpr, theta_guess, N, tpr_bounds=None, fpr_bounds=None,
                     min_per_stratum=10, objective="bound", alpha=0.05, learning_rate=0.05,
                     steps=400) -> DesignResult:
    """Splits ``budget`` human labels between judge-flagged and unflagged items.

    Minimises the asymptotic variance of the CMLE of ``theta`` (module docstring) by
    Adam on the logit of the flagged share, then keeps the best of the two integer
    roundings and the two ends of the feasible range. The guesses ``(theta_guess, tpr,
    fpr)`` come from a pilot or a previous evaluation; a wrong guess costs efficiency,
    not validity (the bound is computed from the data by the CMLE, whatever the design).

    Args:
      budget: total human labels ``B`` (integer).
      tpr, fpr: guessed judge TPR and FPR, in (0, 1), ``tpr > fpr``.
      theta_guess: guessed failure rate, in (0, 1).
      N: items that will carry only a judge verdict (the pool holds ``B + N``).
      tpr_bounds, fpr_bounds: the CMLE boxes ``(lo, hi)`` that will be used, or
        ``None`` (no box).
      min_per_stratum: floor of labels in each stratum (module docstring: why).
      objective: ``"bound"`` (smoothed expected upper bound at level ``1 - alpha``) or
        ``"variance"`` (asymptotic variance; the Neyman allocation without a box).
      alpha: one-sided level of the certificate (``objective="bound"``).
      learning_rate, steps: Adam step size (traced) and number of steps (static).

    Returns:
      :class:`DesignResult`.

    Raises:
      ValueError: a guess outside (0, 1), ``tpr <= fpr``, a budget below
        ``2 * min_per_stratum`` or too few flagged/unflagged items to honour the floor.

    Example:
      >>> d = design_labelling(budget=200, tpr=0.9, fpr=0.05, theta_guess=0.05, N=10_000)
      >>> d.n_flagged + d.n_unflagged
      200
    """
    _check(budget, tpr, fpr, theta_guess, N, min_per_stratum)
    if objective not in ("bound", "variance"):
        raise ValueError(f"objective must be 'bound' or 'variance'; got {objective!r}")
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5); got {alpha!r}")
    z = float(jax.scipy.stats.norm.ppf(1 - alpha))
    ps, pf = _precision(tpr_bounds, "tpr_bounds"), _precision(fpr_bounds, "fpr_bounds")
    B = float(budget)
    q = theta_guess * tpr + (1 - theta_guess) * fpr
    lo, hi = (float(x) for x in _limits(q, B, float(N), float(min_per_stratum)))
    if lo > hi:
        raise ValueError(f"a pool of {int(B + N)} items has about {q * (B + N):.0f} flagged "
                         f"ones: too few to put {min_per_stratum} labels in each stratum; "
                         "lower min_per_stratum or enlarge N")
    n1, _ = design_kernel(theta_guess, tpr, fpr, B, float(N), ps, pf, float(min_per_stratum),
                          float(learning_rate), z, steps=int(steps), objective=objective)
    n1 = float(n1)
    args = lambda k: (theta_guess, tpr, fpr, k, B - k, float(N), ps, pf)  # noqa: E731
    var = lambda k: float(theta_variance(*args(k)))  # noqa: E731
    bnd = lambda k: float(expected_bound(*args(k), z))  # noqa: E731
    loss = var if objective == "variance" else bnd
    # the sigmoid only approaches the ends of [lo, hi]: compare them as candidates too
    near = {int(np.floor(n1)), int(np.ceil(n1)), int(np.ceil(lo - 1e-9)), int(np.floor(hi + 1e-9))}
    cands = [k for k in near if lo - 1e-9 <= k <= hi + 1e-9]
    k = min(cands or [int(np.round(n1))], key=loss)
    srs = var(q * B)
    return DesignResult(k, int(B) - k, n1 / B, q, var(k), srs, srs / var(k), bnd(k),
                        bnd(q * B), objective)
