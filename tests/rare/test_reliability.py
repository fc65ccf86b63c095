"""The reliability verdict and default interval of jaxcert.rare.reliability.assess."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxcert  # noqa: F401
from jaxcert.rare import estimate
from jaxcert.rare import reliability as R

N = 1000
ST = jnp.zeros(N, int)


def test_plenty_of_light_tailed_hits_is_reliable_and_uses_clt():
    z = jax.random.exponential(jax.random.key(0), (N,)) * 1e-3
    a = R.assess(jax.random.key(1), z, ST, 1, 0.05, num_uniform=200)
    assert not bool(a.unreliable) and int(a.reasons) == 0 and not bool(a.bootstrap_t)
    assert float(a.lower) < float(a.estimate) < float(a.upper)
    assert float(a.hidden_mass_floor) == pytest.approx(0.6 / 200)


def test_few_hits_set_the_reason_and_switch_to_bootstrap_t():
    z = jnp.zeros(N).at[:7].set(jnp.arange(1.0, 8.0))
    a = R.assess(jax.random.key(1), z, ST, 1, 0.05, num_uniform=100)
    assert bool(a.unreliable) and bool(a.bootstrap_t) and int(a.hits) == 7
    assert R.REASONS[2] in R.reason_names(a.reasons)


def test_binary_outcomes_widen_the_bootstrap_t_to_contain_the_gamma_interval():
    w = jnp.where(jnp.arange(N) < 9, jnp.linspace(1.0, 20.0, N), 0.0)  # 9 hits, unequal weights
    y = (w > 0).astype(float)
    a = R.assess(jax.random.key(1), w, ST, 1, 0.05, num_uniform=100, outcomes=y, inputs=N)
    boot = R.bootstrap_t_interval(jax.random.key(1), w, ST, 1, 0.025, 0.025, 1.0)
    gam = R.gamma_interval(w, 0.025, 0.025, 1.0)
    assert bool(a.bootstrap_t) and bool(a.gamma)
    assert float(a.lower) == min(float(boot[0]), float(gam[0])) and float(a.upper) == max(float(boot[1]), float(gam[1]))
    # graded outcomes are not event counts; a forced interval is what was asked for
    graded = R.assess(jax.random.key(1), w, ST, 1, 0.05, num_uniform=100, outcomes=y * 0.5, inputs=N)
    forced = R.assess(jax.random.key(1), w, ST, 1, 0.05, num_uniform=100, outcomes=y, inputs=N,
                      interval="bootstrap-t")
    for b in (graded, forced):
        assert not bool(b.gamma) and (float(b.lower), float(b.upper)) == (float(boot[0]), float(boot[1]))


def test_heavy_tail_sets_khat_reason():
    z = jax.random.pareto(jax.random.key(2), 0.8, (N,))  # infinite mean tail: k = 1.25
    a = R.assess(jax.random.key(1), z, ST, 1, 0.05, num_uniform=100)
    assert float(a.khat) > 0.7 and int(a.reasons) & 1


def test_forced_interval_kinds_and_no_recompilation_across_alpha():
    z = jax.random.exponential(jax.random.key(0), (N,))
    a_clt = R.assess(jax.random.key(1), z, ST, 1, 0.05, num_uniform=10, interval="clt")
    a_bt = R.assess(jax.random.key(1), z, ST, 1, 0.05, num_uniform=10, interval="bootstrap-t")
    assert not bool(a_clt.bootstrap_t) and bool(a_bt.bootstrap_t)
    n = R.assess._cache_size()
    for alpha in (0.1, 0.01):
        R.assess(jax.random.key(1), z, ST, 1, alpha, num_uniform=10, interval="clt")
    assert R.assess._cache_size() == n
    np.testing.assert_array_less(0.0, np.asarray(a_clt.upper))


def test_khat_from_a_tiny_tail_is_reported_but_not_a_reason():
    z = jnp.zeros(N).at[:40].set(jax.random.pareto(jax.random.key(4), 0.8, (40,)))  # 40 heavy hits
    a = R.assess(jax.random.key(1), z, ST, 1, 0.05, num_uniform=100)
    assert np.isfinite(float(a.khat)) and not int(a.reasons) & 1  # tail of 8 terms < MIN_TAIL
    big = jax.random.pareto(jax.random.key(4), 0.8, (N,))
    assert int(R.assess(jax.random.key(1), big, ST, 1, 0.05, num_uniform=100).reasons) & 1


def test_efficiency_reason_fires_when_a_few_heavy_defensive_hits_carry_the_estimate():
    """0/1 outcomes: 200 favoured hits of weight 0.01 and 3 defensive hits of weight 10.

    Efficiency = (mean(F z) - mean(z)^2) / inputs / Var(mean z), checked against NumPy;
    the favoured hits alone are far better than uniform sampling (no reason 5)."""
    F = np.zeros(N)
    F[:203] = 1.0
    w = np.full(N, 0.01)
    w[200:203] = 10.0
    z = F * w
    a = R.assess(jax.random.key(1), jnp.asarray(z), ST, 1, 0.05, num_uniform=100, outcomes=jnp.asarray(F), inputs=N)
    ref = (np.mean(F * z) - z.mean() ** 2) / N / (z.var(ddof=1) / N)
    assert float(a.efficiency) == pytest.approx(ref, rel=1e-12) and ref < 1.0
    assert int(a.reasons) & 16 and R.REASONS[16] in R.reason_names(a.reasons)
    good = np.where(np.arange(N) < 200, 0.01, 0.0)
    b = R.assess(jax.random.key(1), jnp.asarray(good), ST, 1, 0.05, num_uniform=100,
                 outcomes=jnp.asarray((good > 0) * 1.0), inputs=N)
    assert float(b.efficiency) > 50 and not int(b.reasons) & 16
    c = R.assess(jax.random.key(1), jnp.asarray(z), ST, 1, 0.05, num_uniform=100)  # no outcomes: no reason 5
    assert np.isnan(float(c.efficiency)) and not int(c.reasons) & 16


def test_good_graded_runs_on_a_template_space_are_not_flagged():
    """Regression: a largest-term-over-mean rule (graded, ratio > 20) flagged 6 of 8 good
    runs like this one (coverage 1.00, ~3,000x efficiency): a product proposal cannot
    fit a planted corner of a template space term by term. Seed 0 was one of them."""
    import argparse

    from jaxcert.cli._rare import _build
    from jaxcert.rare.scoring import parse_score

    args = argparse.Namespace(space="varbench:0", evaluator="synthetic", mass=1e-4, score="logprob",
                              out="unused", seed=0)
    key_space, key_run = jax.random.split(jax.random.key(0))
    space, evaluate, mu, _ = _build(args, key_space, parse_score("logprob"))
    r = estimate(key_run, space, evaluate, 30_000, power=1.0)
    assert r.ci_lower <= mu <= r.ci_upper and r.efficiency_estimate > 100
    assert not r.unreliable, r.reasons


def test_outcomes_without_inputs_is_rejected():
    z = jnp.ones(N)
    with pytest.raises(ValueError, match="together"):
        R.assess(jax.random.key(1), z, ST, 1, 0.05, num_uniform=100, outcomes=z)


def _repeated(rng, values, top, lam, n=2000):
    """Terms of a fresh stage on a finite space: each value once, the ``top`` largest drawn again ~``lam`` times."""
    v = np.sort(values)
    m = np.ones(v.size, int)
    m[-top:] += rng.poisson(lam, top)
    z = np.repeat(v, m)
    return np.concatenate([z, np.zeros(n - z.size)])


def test_khat_reads_one_term_per_distinct_input():
    """Light tail whose favoured inputs repeat: the raw fit reads the atoms as a heavy tail, assess does not.

    Oracle: pareto_khat of NumPy's unique positive values (zero-padded)."""
    rng = np.random.default_rng(0)
    st = jnp.zeros(2000, int)
    raw_flags = 0
    for _ in range(20):
        z = _repeated(rng, rng.lognormal(0.0, 0.3, 500), top=10, lam=80)
        a = R.assess(jax.random.key(1), jnp.asarray(z), st, 1, 0.05, num_uniform=100)
        u = np.unique(z[z > 0])
        oracle = R.pareto_khat(jnp.asarray(np.concatenate([u, np.zeros(2000 - u.size)])))
        assert float(a.khat) == pytest.approx(float(oracle), rel=1e-12, abs=1e-12)
        assert not int(a.reasons) & 1
        raw_flags += float(R.pareto_khat(jnp.asarray(z))) > 0.7
    assert raw_flags >= 15  # the fit on the repeated terms flags most of them (19 of 20 at this seed)


def test_heavy_tail_with_repeats_still_sets_khat_reason():
    rng = np.random.default_rng(1)
    z = _repeated(rng, rng.pareto(0.8, 900) + 1.0, top=50, lam=5)  # k = 1.25, some inputs drawn again
    a = R.assess(jax.random.key(1), jnp.asarray(z), jnp.zeros(2000, int), 1, 0.05, num_uniform=100)
    assert float(a.khat) > 0.7 and int(a.reasons) & 1
