"""Finite product input spaces with optional validity conditions.

An input is a vector of category indices ``x = (x_1, ..., x_d)`` with
``x_j in {0, ..., K_j - 1}``; a batch is an integer array of shape ``(B, d)``.

Nominal distribution and conditions
-----------------------------------
The nominal distribution ``P`` is **uniform over the valid inputs**. Let ``p0`` be
the uniform distribution on the full product (``p0(x) = 1 / prod_j K_j``) and
``Z = P_{p0}(valid)`` the valid fraction. Then ``P(x) = p0(x) 1_valid(x) / Z`` and the
failure rate is the ratio

    mu = E_P[F] = E_{p0}[F 1_valid] / Z.

jaxcert handles a condition as follows (see :mod:`jaxcert.rare.pipeline`): proposals
sample the full product; invalid draws are discarded *without* calling the model and
count zero in ``F 1_valid``; the numerator ``E_q[F 1_valid p0 / q]`` is estimated by
importance sampling and divided by ``Z``. ``Z`` is exact (enumeration) when the
space has at most :data:`ENUMERATION_LIMIT` inputs; otherwise it is a Monte-Carlo
estimate from validity checks only (zero model calls) with a confidence interval,
and the front door splits alpha between the two (Bonferroni).
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple, Sequence

import jax
import numpy as np

__all__ = ["ProductSpace", "ValidFraction", "ENUMERATION_LIMIT"]

#: Spaces with at most this many inputs are enumerated for exact valid fractions.
ENUMERATION_LIMIT = 2_000_000


class ValidFraction(NamedTuple):
    """Fraction ``Z`` of valid inputs, with a confidence interval.

    ``exact`` is True when ``Z`` was computed by enumeration (then
    ``lower == estimate == upper``); otherwise ``num`` uniform draws were checked and
    ``[lower, upper]`` is a two-sided Hoeffding interval at level ``1 - alpha``.
    """

    estimate: float
    lower: float
    upper: float
    exact: bool
    num: int
    alpha: float


class ProductSpace:
    """A product of finite variables, optionally restricted by a validity condition.

    Args:
      sizes: sequence of ``d`` positive ints, the number of categories ``K_j`` of
        each variable.
      names: optional ``d`` variable names (default ``x0, x1, ...``).
      condition: optional vectorised callable ``valid(X) -> bool array (B,)`` taking an
        int array ``(B, d)`` (NumPy; JAX-compatible code also works). Validity is
        free: it never costs a model call.

    Example:
      >>> space = ProductSpace([3, 4], condition=lambda X: X[:, 0] != X[:, 1])
      >>> space.size, space.valid_fraction().estimate
      (12, 0.75)
    """

    def __init__(
        self,
        sizes: Sequence[int],
        names: Sequence[str] | None = None,
        condition: Callable[[np.ndarray], np.ndarray] | None = None,
    ):
        try:
            sizes_arr = np.asarray(sizes)
        except Exception as e:  # pragma: no cover - defensive
            raise ValueError(f"sizes must be a sequence of positive ints; got {sizes!r}") from e
        if sizes_arr.ndim != 1 or sizes_arr.size == 0:
            raise ValueError(f"sizes must be a non-empty 1-d sequence of ints; got {sizes!r}")
        if not np.issubdtype(sizes_arr.dtype, np.integer):
            if not np.all(np.equal(np.mod(sizes_arr, 1), 0)):
                raise ValueError(f"sizes must be integers; got {sizes!r}")
        if np.any(sizes_arr <= 0):
            bad = [i for i, k in enumerate(sizes_arr.tolist()) if k <= 0]
            raise ValueError(
                f"sizes must all be >= 1 (an empty variable makes the space empty); "
                f"variables {bad} have sizes {[int(sizes_arr[i]) for i in bad]}"
            )
        self.sizes: tuple[int, ...] = tuple(int(k) for k in sizes_arr.tolist())
        self.d: int = len(self.sizes)
        if names is None:
            names = [f"x{j}" for j in range(self.d)]
        names = tuple(str(n) for n in names)
        if len(names) != self.d:
            raise ValueError(f"names must have {self.d} entries (one per variable); got {len(names)}")
        self.names: tuple[str, ...] = names
        if condition is not None and not callable(condition):
            raise ValueError(f"condition must be a callable X -> bool array (B,); got {condition!r}")
        self.condition = condition

    # -- size -----------------------------------------------------------------
    @property
    def size(self) -> int:
        """Number of inputs in the full product (a Python int, possibly huge)."""
        return math.prod(self.sizes)

    @property
    def log_size(self) -> float:
        """``log prod_j K_j`` (finite even when the size overflows a float)."""
        return float(sum(math.log(k) for k in self.sizes))

    @property
    def max_size(self) -> int:
        """``K_max = max_j K_j``, the padded width of proposal tables."""
        return max(self.sizes)

    def __repr__(self) -> str:
        cond = "" if self.condition is None else ", condition=..."
        return f"ProductSpace(sizes={list(self.sizes)}, names={list(self.names)}{cond})"

    # -- validity -------------------------------------------------------------
    def check_inputs(self, X, name: str = "X") -> np.ndarray:
        """Validates a batch of inputs; returns it as an int64 ``(B, d)`` array."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.d:
            raise ValueError(f"{name} must have shape (B, {self.d}); got {X.shape}")
        if X.size and not np.issubdtype(X.dtype, np.integer):
            raise ValueError(f"{name} must hold integer category indices; got dtype {X.dtype}")
        X = X.astype(np.int64)
        if X.size and (np.any(X < 0) or np.any(X >= np.asarray(self.sizes))):
            raise ValueError(f"{name} has category indices outside [0, sizes[j]) for sizes {self.sizes}")
        return X

    def is_valid(self, X) -> np.ndarray:
        """Boolean ``(B,)`` validity of a batch (all True without a condition)."""
        X = np.asarray(X)
        if self.condition is None:
            return np.ones(X.shape[0], dtype=bool)
        v = np.asarray(self.condition(X))
        if v.shape != (X.shape[0],):
            raise ValueError(
                f"condition must return a bool array of shape ({X.shape[0]},); got shape {v.shape}"
            )
        return v.astype(bool)

    # -- enumeration ----------------------------------------------------------
    def enumerate(self, max_size: int = ENUMERATION_LIMIT, valid_only: bool = False) -> np.ndarray:
        """All inputs of the product in C order, an int64 ``(size, d)`` array.

        Raises ``ValueError`` if ``size > max_size``.
        """
        if self.size > max_size:
            raise ValueError(f"space has {self.size} inputs, more than max_size={max_size}; cannot enumerate")
        X = np.stack(np.unravel_index(np.arange(self.size), self.sizes), axis=1).astype(np.int64)
        return X[self.is_valid(X)] if valid_only else X

    def ravel(self, X) -> np.ndarray:
        """Flat C-order index of each input (only meaningful for enumerable spaces)."""
        return np.ravel_multi_index(tuple(np.asarray(X).T), self.sizes)

    def uniform(self, key: jax.Array, num: int) -> np.ndarray:
        """``num`` draws from ``p0`` (uniform on the full product), int64 ``(num, d)``."""
        keys = jax.random.split(key, self.d)
        cols = [np.asarray(jax.random.randint(k, (num,), 0, K)) for k, K in zip(keys, self.sizes)]
        return np.stack(cols, axis=1).astype(np.int64)

    def valid_fraction(self, key: jax.Array | None = None, num: int = 1_000_000, alpha: float = 1e-3) -> ValidFraction:
        """Fraction ``Z`` of valid inputs; exact when enumerable, else Monte Carlo.

        Monte Carlo draws ``num`` inputs from ``p0`` and checks validity only (no model
        call); the interval is Hoeffding's ``Z_hat +- sqrt(log(2/alpha) / (2 num))``,
        clipped to ``[0, 1]``, valid at level ``1 - alpha`` for any ``num``.

        Args:
          key: PRNG key, required when the space is too large to enumerate.
          num: number of validity checks for the Monte-Carlo estimate.
          alpha: error level of the Monte-Carlo interval.
        """
        if self.condition is None:
            return ValidFraction(1.0, 1.0, 1.0, True, self.size, 0.0)
        if self.size <= ENUMERATION_LIMIT:
            z = float(np.mean(self.is_valid(self.enumerate())))
            return ValidFraction(z, z, z, True, self.size, 0.0)
        if key is None:
            raise ValueError(
                f"key is required: the space has {self.size} inputs (> {ENUMERATION_LIMIT}), so the "
                "valid fraction is estimated by Monte Carlo"
            )
        if not (0.0 < alpha < 1.0):
            raise ValueError(f"alpha must be in (0, 1); got {alpha!r}")
        hits, done, chunk = 0, 0, 200_000
        for k in jax.random.split(key, -(-num // chunk)):
            m = min(chunk, num - done)
            hits += int(np.sum(self.is_valid(self.uniform(k, m))))
            done += m
        z = hits / num
        h = math.sqrt(math.log(2.0 / alpha) / (2.0 * num))
        return ValidFraction(z, max(0.0, z - h), min(1.0, z + h), False, num, float(alpha))
