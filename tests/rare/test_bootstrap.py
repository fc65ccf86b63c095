"""CLT and stratified bootstrap-t intervals vs NumPy/scipy references, and coverage."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import jaxcert  # noqa: F401
from jaxcert.rare.bootstrap import bootstrap_t_interval, clt_interval, stratified_moments


def sample(seed, n=(200, 300)):
    rng = np.random.default_rng(seed)
    z = np.concatenate([rng.lognormal(0, 1.5, m) * (rng.uniform(size=m) < 0.3) for m in n])
    strata = np.concatenate([np.full(m, t) for t, m in enumerate(n)])
    return z, strata


def test_stratified_moments_closed_form():
    z, st = sample(0)
    mean, var = stratified_moments(jnp.asarray(z), jnp.asarray(st), 2)
    N = z.size
    ref = sum((st == t).sum() * z[st == t].var(ddof=1) for t in (0, 1)) / N**2
    assert float(mean) == pytest.approx(z.mean(), rel=1e-13)
    assert float(var) == pytest.approx(ref, rel=1e-12)


def test_clt_interval_matches_scipy_normal():
    z, st = sample(1)
    lo, up = clt_interval(jnp.asarray(z), jnp.asarray(st), 2, 0.025, 0.05, 100.0)
    _, var = stratified_moments(jnp.asarray(z), jnp.asarray(st), 2)
    se = np.sqrt(float(var))
    assert float(lo) == pytest.approx(z.mean() - stats.norm.ppf(0.975) * se, rel=1e-12)
    assert float(up) == pytest.approx(z.mean() + stats.norm.ppf(0.95) * se, rel=1e-12)


def test_bootstrap_t_matches_numpy_with_the_same_resamples():
    z, st = sample(2)
    key, B, N = jax.random.key(5), 400, z.size
    lo, up = bootstrap_t_interval(key, jnp.asarray(z), jnp.asarray(st), 2, 0.05, 0.05, 100.0, num_bootstrap=B)
    sizes = np.array([200, 300])
    start = np.array([0, 200])

    def strat_var(x):
        return sum(sizes[t] * x[st == t].var(ddof=1) for t in (0, 1)) / N**2

    se = np.sqrt(strat_var(z))
    T = []
    for k in jax.random.split(key, B):
        u = np.asarray(jax.random.uniform(k, (N,)))
        idx = (start[st] + np.floor(u * sizes[st])).astype(int)
        zb = z[idx]
        T.append((zb.mean() - z.mean()) / np.sqrt(strat_var(zb)))
    T = np.sort(T)
    q_hi, q_lo = T[int(np.ceil(0.95 * B)) - 1], T[int(np.floor(0.05 * B))]
    assert float(lo) == pytest.approx(max(z.mean() - q_hi * se, 0.0), rel=1e-9)
    assert float(up) == pytest.approx(z.mean() - q_lo * se, rel=1e-9)
    # right skew: bootstrap-t reaches further up than the CLT
    assert float(up) > float(clt_interval(jnp.asarray(z), jnp.asarray(st), 2, 0.05, 0.05, 100.0)[1])


@pytest.mark.parametrize("fn", ["clt", "boot"])
def test_all_zero_terms_give_the_exact_zero_failure_bound(fn):
    z, st = jnp.zeros(500), jnp.zeros(500, int)
    if fn == "clt":
        lo, up = clt_interval(z, st, 1, 0.025, 0.025, 10.0)
    else:
        lo, up = bootstrap_t_interval(jax.random.key(0), z, st, 1, 0.025, 0.025, 10.0, num_bootstrap=200)
    assert float(lo) == 0.0 and float(up) == pytest.approx(10.0 * (1 - 0.025 ** (1 / 500)), rel=1e-12)


@pytest.mark.slow
def test_bootstrap_t_covers_better_than_clt_on_a_heavy_skewed_mean():
    """Terms 0 w.p. 0.9 else lognormal(0, 1), n = 400 (about 40 hits): two-sided 90% coverage.

    (With lognormal(0, 1.5) and 20 hits both under-cover: 0.82 bootstrap-t, 0.71 CLT.)"""
    reps, n = 400, 400
    true = 0.1 * np.exp(1.0**2 / 2)
    keys = jax.random.split(jax.random.key(11), reps)

    def draw(k):
        k1, k2 = jax.random.split(k)
        return jnp.where(jax.random.uniform(k1, (n,)) < 0.1, jnp.exp(1.0 * jax.random.normal(k2, (n,))), 0.0)

    Z = jax.vmap(draw)(keys)
    st = jnp.zeros(n, int)
    b = jax.vmap(lambda k, z: bootstrap_t_interval(k, z, st, 1, 0.05, 0.05, 1e3, num_bootstrap=1000))(keys, Z)
    c = jax.vmap(lambda z: clt_interval(z, st, 1, 0.05, 0.05, 1e3))(Z)
    cov_b = np.mean((np.asarray(b[0]) <= true) & (true <= np.asarray(b[1])))
    cov_c = np.mean((np.asarray(c[0]) <= true) & (true <= np.asarray(c[1])))
    se = np.sqrt(0.1 * 0.9 / reps)
    assert cov_b >= 0.9 - 3 * se and cov_b > cov_c, (cov_b, cov_c)


def test_batched_resamples_give_the_same_interval_as_all_at_once(monkeypatch):
    """The resamples run in lax.map batches bounded by RESAMPLE_ELEMENTS; the batch size
    (here 3, with a remainder: 200 = 66 * 3 + 2) must not change a single resample."""
    import jaxcert.rare.bootstrap as boot

    z, st = sample(7, n=(40, 60))
    args = (jax.random.key(2), jnp.asarray(z), jnp.asarray(st), 2, 0.025, 0.05, 100.0, 200)
    eager = boot.bootstrap_t_interval.__wrapped__  # un-jitted: reads the constant per call
    monkeypatch.setattr(boot, "RESAMPLE_ELEMENTS", 10**9)
    whole = eager(*args)
    monkeypatch.setattr(boot, "RESAMPLE_ELEMENTS", 3 * z.size)
    batched = eager(*args)
    # same resamples; only the fusion of the sums may differ (last ulp)
    assert float(batched[0]) == pytest.approx(float(whole[0]), rel=1e-12, abs=0)
    assert float(batched[1]) == pytest.approx(float(whole[1]), rel=1e-12, abs=0)
    assert float(whole[0]) < z.mean() < float(whole[1])


@pytest.mark.slow
def test_bootstrap_memory_is_bounded_on_a_large_sample():
    """2000 resamples of 300,000 terms held at once need > 10 GB; batched, well under 2 GB."""
    import subprocess
    import sys

    code = (
        "import jax, jax.numpy as jnp; jax.config.update('jax_enable_x64', True)\n"
        "from jaxcert.rare.reliability import assess\n"
        "N = 300_000; z = jnp.where(jnp.arange(N) % 20_000 == 0, 1.0, 0.0)\n"
        "a = assess(jax.random.key(0), z, jnp.zeros(N, int), 1, 0.05, num_uniform=N)\n"
        "assert bool(a.bootstrap_t) and 0 < float(a.lower) < 5e-5 < float(a.upper)\n"
        # VmHWM is this process's own peak; ru_maxrss would carry the parent's over exec
        "print([ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, timeout=600, capture_output=True, text=True)
    peak_kb = int(out.stdout.split()[-1])
    assert peak_kb < 2 * 1024 * 1024, f"peak RSS {peak_kb / 1024:.0f} MB"
