"""The middle root of a bracketed cubic, without trigonometric functions.

Each KKT candidate of the exact solver (:mod:`jaxcert.judge._exact`) is the root of a
cubic that lies between its other two roots. Viete's trigonometric formula gives it as
``2 m cos(arccos(w) / 3 - 2 pi / 3) - a2 / 3``, where the cosine term is the middle
root of the Chebyshev cubic ``4 y^3 - 3 y = w``, equal to ``-sin(arcsin(w) / 3)``.

XLA:CPU vectorises ``log``, ``exp`` and ``sqrt`` in float64 (about 1-1.5 ns per
element on this project's 2-core CI machine) but not the trigonometric functions:
``arccos`` costs about 19 ns and ``cos`` 7 ns per element, a quarter of a whole exact
solve. So :func:`chebyshev_middle` evaluates ``-sin(arcsin(w) / 3)`` by series on
reduced ranges, only multiplications, additions and one square root:

* ``arcsin`` on ``[0, 1/2]`` by its Taylor series, 24 terms (the first neglected term
  is below 1e-18 at 1/2), and on ``[1/2, 1]`` through
  ``arcsin z = pi/2 - 2 arcsin(sqrt((1 - z) / 2))``, whose argument is at most 1/2;
* ``sin`` on ``[-pi/6, pi/6]`` by its Taylor series to ``x^17`` (remainder below 1e-19).

The result agrees with the trigonometric form to a few ulps (tested), including at
``w = +-1``, where the middle root merges with another one and a Newton polish from a
rough start would converge only linearly.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

__all__ = ["chebyshev_middle", "cubic_value", "middle_root", "safe_div"]

NUM_POLISH = 3  # bracket-guarded Newton steps on each cubic

# arcsin z = sum_k C_k z^(2k+1), C_k = (2k)! / (4^k (k!)^2 (2k + 1)).
_ASIN = tuple(math.comb(2 * k, k) / (4.0 ** k * (2 * k + 1)) for k in range(24))
# sin x = sum_k (-1)^k x^(2k+1) / (2k+1)!
_SIN = tuple((-1.0) ** k / math.factorial(2 * k + 1) for k in range(9))


def _odd_series(coefs, x):
    """``sum_k coefs[k] x^(2k+1)`` by Horner's rule in ``x^2``."""
    x2 = x * x
    acc = jnp.full_like(x, coefs[-1])
    for ck in coefs[-2::-1]:
        acc = acc * x2 + ck
    return acc * x


def chebyshev_middle(w):
    """The root in ``[-1/2, 1/2]`` of ``4 y^3 - 3 y = w`` for ``w`` in ``[-1, 1]``."""
    z = jnp.abs(w)
    far = z > 0.5
    half = jnp.where(far, jnp.sqrt(jnp.maximum(0.5 * (1.0 - z), 0.0)), z)
    small = _odd_series(_ASIN, half)
    phi = jnp.where(far, 0.5 * jnp.pi - 2.0 * small, small)
    return -jnp.sign(w) * _odd_series(_SIN, phi / 3.0)


def safe_div(num, den, default=0.0):
    """``num / den``, and ``default`` where ``den == 0`` (no NaN in either branch)."""
    ok = den != 0
    return jnp.where(ok, num / jnp.where(ok, den, 1.0), default)


def cubic_value(c, x):
    """``(P(x), P'(x))`` for ``P = c3 x^3 + c2 x^2 + c1 x + c0``, ``c = (c3, c2, c1, c0)``."""
    c3, c2, c1, c0 = c
    return ((c3 * x + c2) * x + c1) * x + c0, (3.0 * c3 * x + 2.0 * c2) * x + c1


def middle_root(c, lo, hi, num_polish=NUM_POLISH):
    """Root in ``[lo, hi]`` of ``c3 x^3 + c2 x^2 + c1 x + c0`` given ``P(lo) >= 0 >= P(hi)``.

    ``c3 >= 0``; with ``c3 > 0`` the other two roots lie outside the bracket, so this
    is the middle one (Viete); with ``c3 ~ 0`` the quadratic's root in the bracket is
    used as the start. Then ``num_polish`` bracket-guarded Newton steps.
    """
    c3, c2, c1, c0 = c
    a2, a1, a0 = safe_div(c2, c3), safe_div(c1, c3), safe_div(c0, c3)
    p = a1 - a2 * a2 / 3.0
    qq = (2.0 * a2 * a2 * a2 / 27.0 - a2 * a1 / 3.0) + a0
    m = jnp.sqrt(jnp.maximum(-p / 3.0, 0.0))
    arg = jnp.clip(safe_div(-qq, 2.0 * m * m * m), -1.0, 1.0)
    x_v = 2.0 * m * chebyshev_middle(arg) - a2 / 3.0
    # Quadratic / linear start (small leading coefficient: Viete cancels there).
    disc = jnp.sqrt(jnp.maximum(c1 * c1 - 4.0 * c2 * c0, 0.0))
    w = -0.5 * (c1 + jnp.where(c1 >= 0, disc, -disc))
    r1, r2 = safe_div(w, c2, jnp.inf), safe_div(c0, w, 0.5 * (lo + hi))
    mid = 0.5 * (lo + hi)
    x_q = jnp.where(jnp.abs(r1 - mid) < jnp.abs(r2 - mid), r1, r2)
    x_v, x_q = jnp.clip(x_v, lo, hi), jnp.clip(x_q, lo, hi)
    x_v = jnp.where(jnp.isfinite(x_v), x_v, mid)
    x_q = jnp.where(jnp.isfinite(x_q), x_q, mid)
    x = jnp.where(jnp.abs(cubic_value(c, x_v)[0]) <= jnp.abs(cubic_value(c, x_q)[0]), x_v, x_q)

    # A loop, not unrolled steps: XLA:CPU fused the unrolled polish into each consumer
    # of the root (eight copies; the faces were 3x slower).
    def step(_, state):
        x, lo, hi = state
        f, df = cubic_value(c, x)
        lo = jnp.where(f > 0, x, lo)
        hi = jnp.where(f < 0, x, hi)
        # df = 0 gives an infinite or NaN step, which fails the bracket test (a
        # guarded division here kept XLA:CPU from vectorising the polish).
        xn = x - f / df
        good = (xn >= lo) & (xn <= hi)
        return jnp.where(f == 0, x, jnp.where(good, xn, 0.5 * (lo + hi))), lo, hi
    return jax.lax.fori_loop(0, num_polish, step, (x, lo, hi))[0]
