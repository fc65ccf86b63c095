"""Result types and status codes shared by every estimator.

Solvers never raise from traced code: they return a ``status`` array holding one of
the :class:`Status` codes, so a batch of a million fits can report the ten that did
not converge instead of failing (or returning NaN) as a whole.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

import jax

__all__ = ["Status", "Interval", "status_name"]


class Status(enum.IntEnum):
    """Outcome of a solve or interval computation (stored as int32 arrays)."""

    CONVERGED = 0  #: tolerance met (KKT residual / bracket width below tol)
    MAX_STEPS = 1  #: ran out of steps; the result is the best iterate, usable with care
    NONFINITE = 2  #: a NaN/inf appeared; the result is not usable
    INFEASIBLE = 3  #: the constraint box is empty or outside [0, 1]
    UNIDENTIFIED = 4  #: judge no better than chance (TPR <= FPR): theta not identified


def status_name(code) -> str:
    """Human-readable name of a status code, e.g. ``"converged"``."""
    return Status(int(code)).name.lower().replace("_", "-")


class Interval(NamedTuple):
    """A point estimate with a confidence interval (a pytree; fields may be batched).

    Under ``side="upper"`` the ``lower`` field is the support minimum (0 for a
    rate) and ``upper`` is the one-sided certificate; ``side="lower"`` mirrors it.
    """

    estimate: jax.Array
    lower: jax.Array
    upper: jax.Array
    status: jax.Array
