"""The trigonometry-free cubic root and the blocked exact batch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcert import Counts
from jaxcert.judge import mle_batched
from jaxcert.judge import solver as S
from jaxcert.judge._cubic import chebyshev_middle, middle_root


def test_chebyshev_middle_matches_the_trigonometric_form_to_a_few_ulps():
    """Oracle: numpy's cos(arccos(w)/3 - 2 pi/3), dense on [-1, 1] and near both ends
    (where the root merges with another and the series switch range at 1/2)."""
    ends = 1.0 - np.logspace(-17, -1, 200)
    w = np.concatenate([np.linspace(-1.0, 1.0, 20_001), ends, -ends,
                        np.nextafter(0.5, [0.0, 1.0]), -np.nextafter(0.5, [0.0, 1.0])])
    y = np.asarray(jax.jit(chebyshev_middle)(jnp.asarray(w)))
    assert np.max(np.abs(y - np.cos(np.arccos(w) / 3.0 - 2.0 * np.pi / 3.0))) < 4e-15
    assert np.all(np.abs(y) <= 0.5) and np.max(np.abs(4.0 * y**3 - 3.0 * y - w)) < 4e-15


@pytest.mark.parametrize("seed", [0, 1])
def test_middle_root_against_numpy_roots(seed):
    """Cubics with three real roots, bracket around the middle one: numpy.roots oracle."""
    rng = np.random.default_rng(seed)
    roots = np.sort(rng.normal(size=(500, 3)) * rng.choice([1e-3, 1.0, 1e3], (500, 1)), axis=1)
    scale = rng.uniform(0.1, 10.0, 500)
    coef = np.stack([scale, -scale * roots.sum(1),
                     scale * (roots[:, 0] * roots[:, 1] + roots[:, 0] * roots[:, 2]
                              + roots[:, 1] * roots[:, 2]), -scale * roots.prod(1)])
    # P(x) = scale (x - r0)(x - r1)(x - r2) > 0 just right of r0, < 0 just left of r2.
    lo = roots[:, 0] + 0.5 * (roots[:, 1] - roots[:, 0])
    hi = roots[:, 1] + 0.5 * (roots[:, 2] - roots[:, 1])
    got = np.asarray(middle_root(tuple(jnp.asarray(coef)), jnp.asarray(lo), jnp.asarray(hi)))
    want = np.array([np.sort(np.roots(c).real)[1] for c in coef.T])
    spread = np.abs(roots).max(1)
    assert np.max(np.abs(got - want) / spread) < 1e-9


def test_large_exact_batches_are_blocked_with_identical_results():
    """Above 2 blocks the exact batch runs block by block in a loop: same numbers as
    solving the same problems in separate small calls."""
    rng = np.random.default_rng(3)
    n = 2 * S.EXACT_BLOCK + 77
    c = rng.integers(0, 60, (n, 6)).astype(float)
    c[:, 4:] *= rng.choice([0.0, 1.0, 100.0], (n, 1))
    sb = np.stack([np.full(n, 0.7), np.full(n, 0.95)], 1)
    fb = np.stack([np.full(n, 0.01), rng.uniform(0.05, 0.3, n)], 1)
    whole = S.mle(Counts.create(*c.T), sb, fb)
    step = 5000
    parts = [S.mle(Counts.create(*c[i:i + step].T), sb[i:i + step], fb[i:i + step])
             for i in range(0, n, step)]
    one_chunk = mle_batched(Counts.create(*c.T), sb, fb, chunk_size=n)  # blocked inside too
    for name, got in zip(whole._fields, whole):
        want = np.concatenate([np.asarray(getattr(p, name)) for p in parts])
        np.testing.assert_array_equal(np.asarray(got), want, err_msg=name)
        np.testing.assert_array_equal(np.asarray(getattr(one_chunk, name)), want, err_msg=name)
