"""Planted-failure landscapes with exact failure rates (tests, benchmarks, notebooks).

On the product ``X = prod_j {0..K_j-1}`` (uniform nominal ``p0``, ``N = prod K_j``) a
landscape is the failure-fraction function

    F(x) = (1 - beta) prod_j f_j(x_j) + beta 1[x in S],

* concentrated part: ``f_j(k) = r_j^{pi_j(k)}`` with a random permutation ``pi_j``
  (a product-aligned "corner" where ``F = 1``, decaying geometrically away from it,
  like the fraction of wrong answers around a hard template setting); ``r_j`` is
  solved so that ``mean_k f_j(k) = mass^{1/d}`` (when ``mass^{1/d} < 1/K_j`` the
  factor is ``K_j mass^{1/d}`` on one category and 0 elsewhere);
* diffuse part: ``S`` is ``round(mass N)`` inputs scattered uniformly at random.

Both parts have mean ``mass``, so ``mu = E_{p0}[F] = mass`` for every ``beta``
(``beta = 0`` "concentrated", ``0.5`` "intermediate", ``1`` "diffuse").
:func:`landscape_mu` returns the exact value of the realised landscape (float64,
no sampling); tests check it against brute-force enumeration.

``F`` is a pure JAX function of ``(landscape, X)``: use it inside
:func:`jaxcert.rare.cem.cem_run` (vmapped over landscapes of equal sizes) or wrap it
with :func:`landscape_evaluator` for :func:`jaxcert.rare.estimate`.

Over a :class:`jaxcert.rare.templates.TemplateSpace` (real questions, valid inputs
only) the same idea gives synthetic "models" in NumPy: :func:`planted_evaluator` for
any failure rule on the variable values, and :func:`planted_corner_evaluator` for
failures concentrated at the "all variables large" corner. Their exact failure rate
comes from enumerating the valid inputs, so a test or the ``jaxcert rare`` command
can say whether a certificate holds.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxcert._numerics import DTYPE
from jaxcert.rare.evaluators import check_inputs, check_scores
from jaxcert.rare.scoring import parse_score

__all__ = [
    "Landscape",
    "CONCENTRATIONS",
    "planted_landscape",
    "landscape_score",
    "landscape_mu",
    "landscape_evaluator",
    "planted_evaluator",
    "planted_corner_evaluator",
]

#: Named concentrations -> beta (weight of the diffuse part).
CONCENTRATIONS = {"concentrated": 0.0, "intermediate": 0.5, "diffuse": 1.0}


class Landscape(NamedTuple):
    """A planted landscape (arrays only; stack several of equal sizes to vmap).

    Attributes:
      factors: float64 ``(d, K_max)`` per-variable factors ``f_j`` (0 on padding).
      table: bool ``(N,)`` membership of the diffuse set ``S`` by flat C-order index.
      beta: float64 scalar, weight of the diffuse part.
      strides: int64 ``(d,)`` C-order strides for flattening inputs.
    """

    factors: jax.Array
    table: jax.Array
    beta: jax.Array
    strides: jax.Array


def _factor_row(K: int, t: float) -> np.ndarray:
    """Row ``f`` on ``0..K-1`` with ``f[0] = 1`` decaying geometrically and mean ``t``."""
    if t * K <= 1.0:
        row = np.zeros(K)
        row[0] = t * K
        return row
    lo, hi = 0.0, 1.0
    for _ in range(200):  # bisection on r: mean(r^k) is increasing in r
        r = 0.5 * (lo + hi)
        if np.mean(r ** np.arange(K)) < t:
            lo = r
        else:
            hi = r
    r = 0.5 * (lo + hi)
    return r ** np.arange(K)


def planted_landscape(
    key: jax.Array,
    sizes: Sequence[int] = (10,) * 6,
    mass: float = 1e-4,
    concentration: str | float = "concentrated",
) -> Landscape:
    """Builds a planted landscape with failure rate ``mass``.

    Args:
      key: PRNG key (corner location and scattered set).
      sizes: category counts ``K_j``; the space must have at most 2e7 inputs.
      mass: failure rate in ``(0, 1)``; ``mass * N`` should be >= 1 for the diffuse
        part to exist (it is rounded to an integer count).
      concentration: "concentrated" | "intermediate" | "diffuse", or ``beta`` in [0, 1].

    Example:
      >>> L = planted_landscape(jax.random.key(0), (10,) * 5, 1e-3, "intermediate")
      >>> abs(landscape_mu(L) - 1e-3) < 1e-12
      True
    """
    sizes = tuple(int(k) for k in sizes)
    N = math.prod(sizes)
    if N > 20_000_000:
        raise ValueError(f"sizes give {N} inputs; planted landscapes need at most 2e7 (enumerable)")
    if not (0.0 < mass < 1.0):
        raise ValueError(f"mass must be in (0, 1); got {mass!r}")
    beta = CONCENTRATIONS.get(concentration, concentration) if isinstance(concentration, str) else concentration
    if isinstance(beta, str) or not (0.0 <= float(beta) <= 1.0):
        raise ValueError(f"concentration must be one of {list(CONCENTRATIONS)} or a number in [0, 1]; got {concentration!r}")
    n_pts = int(round(mass * N))
    if float(beta) > 0 and n_pts < 1:
        raise ValueError(f"mass * N = {mass * N:.3g} < 0.5: the diffuse part would be empty; use a larger space")
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel())
    d, K = len(sizes), max(sizes)
    t = mass ** (1.0 / d)
    factors = np.zeros((d, K))
    for j, Kj in enumerate(sizes):
        factors[j, :Kj] = _factor_row(Kj, t)[rng.permutation(Kj)]
    table = np.zeros(N, dtype=bool)
    table[rng.choice(N, size=n_pts, replace=False)] = True
    strides = np.array([math.prod(sizes[j + 1 :]) for j in range(d)], dtype=np.int64)
    return Landscape(jnp.asarray(factors, DTYPE), jnp.asarray(table), jnp.asarray(float(beta), DTYPE), jnp.asarray(strides))


def landscape_score(landscape: Landscape, X) -> jax.Array:
    """Failure fractions ``F(x)`` in ``[0, 1]`` for a batch ``X`` ``(B, d)`` -> ``(B,)``."""
    X = jnp.asarray(X)
    d = landscape.factors.shape[0]
    prod = jnp.prod(landscape.factors[jnp.arange(d)[None, :], X], axis=-1)
    flat = jnp.sum(X * landscape.strides, axis=-1)
    return (1.0 - landscape.beta) * prod + landscape.beta * landscape.table[flat].astype(DTYPE)


def landscape_mu(landscape: Landscape) -> float:
    """Exact ``E_{p0}[F]`` of a realised landscape (closed form, float64)."""
    f = np.asarray(landscape.factors)
    K_j = np.asarray(landscape.table).size // np.asarray(landscape.strides)[0]
    sizes = np.concatenate([[K_j], np.asarray(landscape.strides)[:-1] // np.asarray(landscape.strides)[1:]])
    prod = np.prod(f.sum(-1) / sizes)
    beta = float(landscape.beta)
    return (1.0 - beta) * prod + beta * float(np.mean(np.asarray(landscape.table)))


def landscape_evaluator(landscape: Landscape, samples: int | None = None, seed: int = 0):
    """A NumPy evaluator ``X -> F(X)`` for :func:`jaxcert.rare.estimate`.

    ``samples=K``: the fraction of K sampled answers that fail, ``Binomial(K, F) / K``
    with fresh draws on every call (``numpy`` generator seeded by ``seed``), charged K
    inferences per input (``cost_per_input``). Batches are zero-padded to a power of
    two so that varying batch sizes (invalid draws removed) reuse a few compiled shapes.
    """
    if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int) or samples < 1):
        raise ValueError(f"samples must be a positive int or None; got {samples!r}")
    score, rng = jax.jit(landscape_score), np.random.default_rng(seed)

    def evaluate(X):
        X = np.asarray(X, dtype=np.int64)
        n = X.shape[0]
        pad = 1 << max(n - 1, 0).bit_length()  # power-of-two buckets: few compiles
        Xp = np.zeros((pad, X.shape[1]), np.int64)
        Xp[:n] = X
        F = np.asarray(score(landscape, jnp.asarray(Xp)))[:n]
        return F if samples is None else rng.binomial(samples, F) / samples

    evaluate.cost_per_input = samples or 1
    return evaluate


# --- planted models over template spaces (NumPy; exact rates by enumeration) --------


def planted_evaluator(space, failure):
    """A synthetic model over a template space with a planted failure function.

    Args:
      space: a :class:`jaxcert.rare.templates.TemplateSpace`.
      failure: ``failure(values) -> (B,)`` bool or fraction in ``[0, 1]`` (e.g. the
        fraction of wrong sampled answers), with ``values = space.values(X)``
        (``{variable: float64 (B,)}``), e.g. ``lambda v: (v["x"] > 150) & (v["y"] % 2 == 1)``.

    Returns:
      ``(evaluate, mu)``: the evaluator and the exact failure rate under the nominal
      distribution (uniform over valid inputs), by enumeration of the space.
    """

    def evaluate(X):
        X = check_inputs(X, space.d)
        out = np.asarray(failure(space.values(X)), dtype=np.float64).reshape(X.shape[0])
        return check_scores(out, X.shape[0], "failure")

    evaluate.cost_per_input = 1
    valid = space.enumerate(valid_only=True)
    if valid.shape[0] == 0:
        raise ValueError(f"space {getattr(space, 'id', space)!r} has no valid input")
    mu = float(np.mean(evaluate(valid)))
    return evaluate, mu


def _hashed_uniforms(flat: np.ndarray, draw: int, seed: int) -> np.ndarray:
    """Uniforms in [0, 1) fixed by (input, draw, seed): a model's answers do not change
    when it is asked again (splitmix64 of the flat input index)."""
    z = flat.astype(np.uint64) * np.uint64(1_000_003) + np.uint64(draw * 7919 + seed * 104_729)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def planted_corner_evaluator(space, mass: float = 1e-4, samples: int | None = None, *,
                             score: str | None = None, seed: int = 0):
    """A synthetic model whose failures concentrate at the "all variables large" corner.

    With normalised distances ``u_j = (K_j - 1 - x_j) / (K_j - 1)`` from the top of each
    (sorted) latent grid, the model's failure probability is ``p(x) = exp(-lam sum_j u_j)``:
    1 at the corner, decaying away from it (the analogue of
    :func:`jaxcert.rare.synthetic.planted_landscape` "concentrated"). ``lam`` is solved by
    bisection so that the exact mean of ``p`` over the valid inputs equals ``mass``.
    What the evaluator returns follows the score modes of :mod:`jaxcert.rare.scoring`:

    * ``score="logprob"`` (or ``None`` with ``samples=None``): ``p(x)`` itself, as
      teacher forcing would give; cost 1.
    * ``score="binary"``: ``1{U(x) < p(x)}`` with a uniform ``U`` fixed per input (and
      ``seed``), like greedy decoding failing on some inputs of a hard region; cost 1.
    * ``score="samples:K"``: the fraction of K such fixed draws that fail; cost K.
    * ``samples=K`` (legacy, no ``score``): the deterministic quantisation
      ``floor(K p(x)) / K``, exactly 0 far from the corner (then the closest rate at or
      below ``mass`` is reached); cost K.

    Returns:
      ``(evaluate, mu)``: the evaluator (with ``cost_per_input`` and ``lam``) and the
      exact failure rate of what it returns, by enumeration of the valid inputs.
    """
    if not (0.0 < mass < 1.0):
        raise ValueError(f"mass must be in (0, 1); got {mass!r}")
    if samples is not None and (not isinstance(samples, int) or samples < 1):
        raise ValueError(f"samples must be a positive int or None; got {samples!r}")
    if samples is not None and score is not None:
        raise ValueError("give samples (legacy quantisation) or score, not both")
    mode = parse_score(score) if score is not None else None
    valid = space.enumerate(valid_only=True)
    if valid.shape[0] == 0:
        raise ValueError(f"space {getattr(space, 'id', space)!r} has no valid input")
    den = np.maximum(np.asarray(space.sizes, dtype=np.float64) - 1.0, 1.0)
    top = np.asarray(space.sizes) - 1
    dist = np.sum((top - valid) / den, axis=1)

    def prob(dist, lam):
        if samples is None:
            return np.exp(-lam * dist)
        return np.floor(samples * np.exp(-lam * dist) + 1e-12) / samples

    def mean(lam):
        return float(np.mean(prob(dist, lam)))

    lo, hi = 0.0, 1.0
    while mean(hi) > mass and hi < 1e6:
        hi *= 2.0
    if mean(hi) > mass:
        raise ValueError(
            f"mass={mass} is below what the corner of this space can carry ({mean(hi):.3g})"
        )
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if mean(mid) > mass else (lo, mid)
    lam = hi
    draws = 0 if mode is None or mode.kind == "logprob" else mode.samples

    def evaluate(X):
        X = check_inputs(X, space.d)
        p = prob(np.sum((top - X) / den, axis=1), lam)
        if not draws:
            return p
        flat = np.ravel_multi_index(X.T, space.sizes)
        hits = [_hashed_uniforms(flat, k, seed) < p for k in range(draws)]
        return np.mean(hits, axis=0)

    evaluate.lam = lam
    evaluate.cost_per_input = draws or (1 if samples is None else samples)
    return evaluate, float(np.mean(evaluate(valid)))
