"""Sharded over 4 fake CPU devices == one device (a subprocess: device count is fixed at start)."""

import os
import subprocess
import sys
import textwrap

import numpy as np

SCRIPT = textwrap.dedent("""
    import sys, jax, numpy as np
    import jax.numpy as jnp
    import jaxcert
    from jaxcert._types import Interval
    from jaxcert.sim import product_grid, register_estimator, run_sweep

    def toy(counts, sb, fb, alpha, side):
        p = (counts.n11 + counts.n10 + 0.5 * counts.m1 / jnp.maximum(counts.N, 1)) / counts.n
        return Interval(p, p - sb[0] * 0.01, p + 0.1 * alpha, jnp.zeros((), jnp.int32))

    register_estimator("toy_shard", toy)
    g = product_grid(theta=[0.05, 0.2], n=[30, 70], N=[500], accuracy=[0.85], box=["+-0.05"])
    res = run_sweep(jax.random.key(7), g, replicates=30, estimators=["toy_shard"], chunk_size=48)
    np.save(sys.argv[1], res.sums)
    print(jax.device_count())
""")


def _run(tmp_path, devices):
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
               JAX_PLATFORMS="cpu")
    out = str(tmp_path / f"sums{devices}.npy")
    r = subprocess.run([sys.executable, "-c", SCRIPT, out], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == str(devices)
    return np.load(out)


def test_sharded_equals_single_device(tmp_path):
    one, four = _run(tmp_path, 1), _run(tmp_path, 4)
    assert one[..., 0].sum() == 4 * 30
    np.testing.assert_array_equal(four, one)
