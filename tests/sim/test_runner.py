"""Runner invariants: vmap == loop, no recompilation, resume reproduces exactly."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxcert  # noqa: F401
from jaxcert._numerics import normal_quantile
from jaxcert._types import Interval
from jaxcert.sim import product_grid, register_estimator, run_sweep
from jaxcert.sim import runner as _run
from jaxcert.sim import sweep as _sweep
from jaxcert.sim.simulate import simulate_one

CHUNK = 64


def toy(counts, tpr_bounds, fpr_bounds, alpha, side):
    """Stand-in estimator: human-only Wald upper bound (cheap to compile)."""
    p = (counts.n11 + counts.n10) / counts.n
    up = p + normal_quantile(1 - alpha) * jnp.sqrt(p * (1 - p) / counts.n) + 0 * tpr_bounds[0]
    return Interval(p, jnp.zeros_like(p), jnp.clip(up, 0, 1), jnp.zeros((), jnp.int32))


register_estimator("toy_runner", toy, overwrite=True)


def _grid(theta=(0.1, 0.3)):
    return product_grid(theta=list(theta), n=[20, 40], N=[100], accuracy=[0.8], box=["+-0.05"])


def test_vmap_equals_loop():
    g, R = _grid(), 9
    p = np.arange(g.size * R)
    params = _sweep.grid_params(g, p // R, p % R)
    key = jax.random.key(3)
    out = _run.run_problems(key, params, estimators=["toy_runner"], side="upper", chunk_size=CHUNK)
    for i in range(0, p.size, 7):
        k = jax.random.fold_in(jax.random.fold_in(key, params["data_id"][i]), params["rep"][i])
        c = simulate_one(k, *(params[f][i] for f in ("theta", "tpr", "fpr", "n", "N")))
        ref = toy(c, params["tpr_box"][i], params["fpr_box"][i], 0.05, "upper")
        np.testing.assert_allclose(out.estimate[0, i], ref.estimate, rtol=1e-15)
        np.testing.assert_allclose(out.upper[0, i], ref.upper, rtol=1e-15)


def test_no_recompile_on_new_grid_values():
    kw = dict(replicates=40, estimators=["toy_runner"], chunk_size=CHUNK)
    run_sweep(jax.random.key(0), _grid(), **kw)
    before = _run.TRACE_COUNT["chunk"]
    res = run_sweep(jax.random.key(1), _grid((0.02, 0.5)), **kw)
    assert _run.TRACE_COUNT["chunk"] == before
    assert res.table["replicates"].tolist() == [40.0] * 4


def test_resume_after_kill_is_identical(tmp_path, monkeypatch):
    g, key = _grid(), jax.random.key(5)
    full = run_sweep(key, g, replicates=50, estimators=["toy_runner"], chunk_size=CHUNK,
                     out_dir=str(tmp_path / "a"))
    calls = []
    real = _sweep._compute_chunk

    def killed(*a, **k):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(_sweep, "_compute_chunk", killed)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(key, g, replicates=50, estimators=["toy_runner"], chunk_size=CHUNK,
                  out_dir=str(tmp_path / "b"))
    counted = []
    monkeypatch.setattr(_sweep, "_compute_chunk",
                        lambda *a, **k: counted.append(1) or real(*a, **k))
    res = run_sweep(key, g, replicates=50, estimators=["toy_runner"], chunk_size=CHUNK,
                    out_dir=str(tmp_path / "b"))
    num_chunks = -(-g.size * 50 // CHUNK)
    assert len(counted) == num_chunks - 2 == res.computed_chunks
    np.testing.assert_array_equal(res.sums, full.sums)
    # a different study in the same directory is refused
    with pytest.raises(ValueError, match="holds a different study"):
        run_sweep(key, g, replicates=51, estimators=["toy_runner"], chunk_size=CHUNK,
                  out_dir=str(tmp_path / "b"))
