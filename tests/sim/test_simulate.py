"""The count simulator: exact multinomial/binomial moments, traced n, large N."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxcert  # noqa: F401  (float64)
from jaxcert.sim.simulate import cell_probabilities, simulate_counts

R = 20_000


@jax.jit
def _draw(key, theta, tpr, fpr, n, N):
    b = jnp.full(R, 1.0)
    return simulate_counts(key, theta * b, tpr * b, fpr * b, n * b, N * b)


@pytest.mark.parametrize("theta, tpr, fpr, n, N", [
    (0.1, 0.85, 0.08, 60, 1_000_000),  # large N: BTRS path
    (0.02, 0.6, 0.4, 25, 3),           # small counts: inversion path
])
def test_moments_match_multinomial(theta, tpr, fpr, n, N):
    c = _draw(jax.random.key(11), theta, tpr, fpr, n, N)
    cells = np.stack([np.asarray(f) for f in c[:4]], -1)
    m1 = np.asarray(c.m1)
    np.testing.assert_array_equal(cells.sum(-1), n)
    np.testing.assert_array_equal(np.asarray(c.N), N)
    p, q = (np.asarray(a) for a in cell_probabilities(theta, tpr, fpr))
    # Multinomial(n, p): E = n p, Cov = n (diag(p) - p p^T)
    mean, cov = n * p, n * (np.diag(p) - np.outer(p, p))
    se_mean = np.sqrt(np.diag(cov) / R)
    assert np.all(np.abs(cells.mean(0) - mean) <= 5 * se_mean + 1e-12)
    emp_cov = np.cov(cells.T)
    # SE of a sample (co)variance ~ sqrt((var_i var_j + cov_ij^2) / R)
    se_cov = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / R)
    assert np.all(np.abs(emp_cov - cov) <= 5 * se_cov + 1e-9)
    v = N * q * (1 - q)
    assert abs(m1.mean() - N * q) <= 5 * np.sqrt(v / R)
    assert abs(m1.var(ddof=1) - v) <= 5 * v * np.sqrt(2 / R)


def test_traced_sizes_and_no_recompile():
    traces = []

    @jax.jit
    def f(key, n, N):
        traces.append(1)
        return simulate_counts(key, 0.1, 0.9, 0.1, n, N)

    a = f(jax.random.key(0), jnp.array([10.0, 500.0]), jnp.array([0.0, 1e6]))
    b = f(jax.random.key(0), jnp.array([7.0, 3.0]), jnp.array([5.0, 2e5]))
    assert len(traces) == 1
    np.testing.assert_array_equal(np.asarray(a.n), [10, 500])
    np.testing.assert_array_equal(np.asarray(b.N), [5, 2e5])
    # degenerate probabilities give degenerate counts
    c = simulate_counts(jax.random.key(1), 0.0, 1.0, 0.0, 50, 100)
    assert float(c.n11 + c.n10 + c.n01) == 0.0 and float(c.m1) == 0.0
