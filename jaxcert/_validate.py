"""Eager validation of user input, done once at the library boundary.

Traced code never raises: these helpers run on concrete (NumPy-convertible) values
before anything is jitted, and raise a precise :class:`ValueError`. The CLI turns
each of these errors into one line on stderr and exit status 2.
"""

from __future__ import annotations

from typing import Literal

import jax
import numpy as np

__all__ = ["SIDES", "Side", "check_side", "check_alpha", "check_box", "check_box_shapes",
           "tail_alphas"]

Side = Literal["two-sided", "upper", "lower"]
#: The one ``side`` convention used everywhere in jaxcert.
#: ``"upper"``: a one-sided upper confidence bound (the certificate "rate <= U");
#: the interval is ``[support minimum, U]`` with all of alpha in the upper tail.
#: ``"lower"``: ``[L, support maximum]``. ``"two-sided"``: alpha/2 in each tail.
SIDES: tuple[str, ...] = ("two-sided", "upper", "lower")


def is_concrete(*trees) -> bool:
    """True when no leaf of ``trees`` is a JAX tracer (eager validation possible)."""
    return not any(isinstance(v, jax.core.Tracer) for v in jax.tree_util.tree_leaves(trees))


def check_side(side: str) -> str:
    """Returns ``side`` if it is one of :data:`SIDES`, else raises ``ValueError``."""
    if side not in SIDES:
        raise ValueError(f"side must be one of {', '.join(map(repr, SIDES))}; got {side!r}")
    return side


def check_alpha(alpha) -> float:
    """Checks that every alpha is a finite number in (0, 1); returns it unchanged."""
    a = np.asarray(alpha, dtype=float)
    if not np.all(np.isfinite(a)) or np.any(a <= 0) or np.any(a >= 1):
        raise ValueError(f"alpha must be in (0, 1); got {alpha!r}")
    return alpha


def tail_alphas(alpha, side: str):
    """Splits ``alpha`` into (lower-tail, upper-tail) mass under the side convention.

    A tail with mass 0 means that end of the interval is the support bound.
    """
    check_side(side)
    if side == "two-sided":
        return alpha / 2, alpha / 2
    if side == "upper":
        return 0.0 * alpha, alpha
    return alpha, 0.0 * alpha


def check_box(bounds, name: str) -> np.ndarray:
    """Validates a (..., 2) array of [lo, hi] probability bounds.

    ``None`` means the unconstrained box ``[0, 1]``. A pair ``(lo, hi)`` must satisfy
    ``0 <= lo <= hi <= 1`` with finite entries.
    """
    if bounds is None:
        return np.array([0.0, 1.0])
    b = np.asarray(bounds, dtype=float)
    if b.ndim == 0 or b.shape[-1] != 2:
        raise ValueError(f"{name} must have shape (..., 2) = [lo, hi]; got shape {b.shape}")
    if not np.all(np.isfinite(b)):
        raise ValueError(f"{name} must be finite; got {bounds!r}")
    lo, hi = b[..., 0], b[..., 1]
    if np.any(lo < 0) or np.any(hi > 1):
        raise ValueError(f"{name} must lie inside [0, 1]; got {bounds!r}")
    if np.any(lo > hi):
        raise ValueError(f"{name} is infeasible: lo > hi in {bounds!r}")
    return b


def check_box_shapes(tpr_bounds, fpr_bounds, batch=None) -> None:
    """Rejects boxes that are not ``(..., 2)`` (shapes are static: works under jit).

    A scalar is not silently broadcast to the point box ``[x, x]``. With ``batch``
    given, the boxes must be exactly ``batch + (2,)``.
    """
    for name, b in (("tpr_bounds", tpr_bounds), ("fpr_bounds", fpr_bounds)):
        if b is None:
            continue
        shape = tuple(np.shape(b))
        if not shape or shape[-1] != 2 or (batch is not None and shape != tuple(batch) + (2,)):
            want = "(..., 2)" if batch is None else str(tuple(batch) + (2,))
            raise ValueError(f"{name} must have shape {want} = [lo, hi]; got shape {shape} "
                             "(a scalar is not a box: write [x, x] for a point box)")
