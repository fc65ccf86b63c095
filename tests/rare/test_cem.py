"""Tests for jaxcert.rare.cem: the update vs brute force, vmap, no recompiles, runs."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxcert  # noqa: F401
from jaxcert.rare import cem as C
from jaxcert.rare import proposal as P
from jaxcert.rare import synthetic as S

SIZES = (3, 4, 6)
B = 64
RTOL = 1e-12


def batch(seed, sharp=1.0):
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    mask = P.uniform_proposal(SIZES).mask
    probs = jnp.where(mask, jnp.exp(sharp * jax.random.normal(k1, mask.shape)), 0.0)
    q = P.Proposal(probs / probs.sum(-1, keepdims=True), mask)
    X = P.sample(k2, q, B)
    scores = jnp.round(jax.random.uniform(k3, (B,)) ** 3, 1)  # graded, many zeros, ties
    return q, X, scores


def numpy_update(q, X, scores, rho, a, f, valid=None, power=0.5):
    """Independent NumPy implementation of the documented CEM update."""
    probs, mask = np.asarray(q.probs), np.asarray(q.mask)
    X, s = np.asarray(X), np.asarray(scores, float)
    valid = np.ones(len(s), bool) if valid is None else np.asarray(valid)
    sizes = mask.sum(-1)
    sv = np.sort(s[valid])[::-1]
    n_el = max(int(np.ceil(rho * valid.sum())), 1)
    gamma = max(min(sv[n_el - 1], 1.0), 0.0)
    elite = valid & (s >= gamma) & (s > 0)
    logq = np.array([np.sum(np.log(probs[np.arange(len(sizes)), x])) for x in X])
    w = np.exp(-np.sum(np.log(sizes)) - logq) * np.where(elite, s, 1.0) ** power * elite
    new = probs.copy()
    if w.sum() > 0:
        new = np.zeros_like(probs)
        for i in np.flatnonzero(elite):
            new[np.arange(len(sizes)), X[i]] += w[i]
        new /= w.sum()
    v = a * new + (1 - a) * probs
    ff = np.minimum(f, 1.0 / sizes)[:, None]
    return np.where(mask, ff + (1 - sizes[:, None] * ff) * v, 0.0), gamma, elite.sum()


@pytest.mark.parametrize(
    "seed, rho, a, f, power",
    [(0, 0.1, 0.7, 1e-3, 0.0), (1, 0.3, 0.5, 1e-2, 0.5), (2, 0.02, 1.0, 1e-4, 1.0), (3, 1.0, 0.7, 1e-3, 0.5)],
)
def test_update_equals_bruteforce(seed, rho, a, f, power):
    q, X, s = batch(seed)
    state, info = C.cem_step(jax.random.key(0), C.cem_init(SIZES, q), X, s, rho=rho, smoothing=a, floor=f, power=power)
    ref, gamma, n_el = numpy_update(q, X, s, rho, a, f, power=power)
    np.testing.assert_allclose(state.proposal.probs, ref, rtol=RTOL, atol=1e-15)
    assert float(info.level) == pytest.approx(gamma) and int(info.num_elite) == n_el
    assert int(state.step) == 1


def test_update_with_mask_and_binary_failures():
    q, X, s = batch(3)
    s01 = (s >= 0.5).astype(float)  # fewer than rho*B failures -> elite = all failures
    valid = jnp.arange(B) % 3 != 0
    state, info = C.cem_step(jax.random.key(0), C.cem_init(SIZES, q), X, s01, rho=0.5, smoothing=0.7, mask=valid)
    ref, _, n_el = numpy_update(q, X, s01, 0.5, 0.7, 1e-3, valid)
    np.testing.assert_allclose(state.proposal.probs, ref, rtol=RTOL, atol=1e-15)
    assert int(info.num_elite) == int(np.sum(np.asarray(s01 > 0) & np.asarray(valid)))


@pytest.mark.parametrize("min_ess", [0.05, 0.2, 0.5])
def test_tempered_power_is_the_largest_exponent_meeting_the_ess_target(min_ess):
    rng = np.random.default_rng(3)
    n = 200
    log_iw = rng.normal(0.0, 1.0, n)
    log_s = np.log(rng.uniform(1e-6, 1.0, n) ** 4)  # very uneven scores
    elite = rng.uniform(size=n) < 0.8

    def ess(p):  # independent NumPy Kish ESS on the elite
        w = np.exp(np.where(elite, log_iw + p * log_s, -np.inf) - np.max((log_iw + p * log_s)[elite]))
        return w.sum() ** 2 / (w**2).sum()

    target = min_ess * elite.sum()
    grid = np.linspace(0.0, 1.0, 20001)
    ok = np.array([ess(p) >= target for p in grid])
    expected = grid[ok].max() if ok.any() else 0.0
    got = float(C.tempered_power(jnp.asarray(log_iw), jnp.asarray(log_s), jnp.asarray(elite),
                                 jnp.asarray(1.0), jnp.asarray(min_ess)))
    assert abs(got - expected) <= 1e-4
    assert ess(got) >= target * (1 - 1e-9) or got == 0.0
    # min_ess = 0 leaves the exponent alone; an ESS already above target keeps ``power``
    assert float(C.tempered_power(jnp.asarray(log_iw), jnp.asarray(log_s), jnp.asarray(elite),
                                  jnp.asarray(1.0), jnp.asarray(0.0))) == 1.0


def test_all_zero_scores_keep_proposal():
    q, X, _ = batch(4)
    state, info = C.cem_step(jax.random.key(0), C.cem_init(SIZES, q), X, jnp.zeros(B), floor=1e-3)
    assert not bool(info.updated)
    np.testing.assert_allclose(state.proposal.probs, P.apply_floor(q, 1e-3).probs, rtol=RTOL)


def test_vmap_equals_loop():
    qs, Xs, ss = zip(*[batch(s) for s in range(4)])
    stack = lambda *a: jnp.stack(a)  # noqa: E731
    states = C.cem_init(SIZES, jax.tree.map(stack, *qs))
    rhos = jnp.array([0.05, 0.1, 0.2, 0.4])
    step = lambda st, X, s, r: C.cem_step(jax.random.key(0), st, X, s, rho=r, smoothing=0.6)  # noqa: E731
    vs, vi = jax.vmap(step)(C.CEMState(states.proposal, jnp.zeros(4, jnp.int32)), jnp.stack(Xs), jnp.stack(ss), rhos)
    for i in range(4):
        ls, li = step(C.cem_init(SIZES, qs[i]), Xs[i], ss[i], rhos[i])
        np.testing.assert_allclose(vs.proposal.probs[i], ls.proposal.probs, rtol=RTOL, atol=1e-15)
        assert int(vi.num_elite[i]) == int(li.num_elite)


def test_no_recompilation_for_new_hyperparameters():
    q, X, s = batch(5)
    state = C.cem_init(SIZES, q)
    C.cem_step(jax.random.key(0), state, X, s, rho=0.1, smoothing=0.7, floor=1e-3)
    n = C._cem_step._cache_size()
    for rho, a, f, pw in [(0.2, 0.5, 1e-4, 0.0), (0.05, 0.9, 2e-3, 1.0), (0.5, 1.0, 1e-2, 0.25)]:
        C.cem_step(jax.random.key(0), state, X, s, rho=rho, smoothing=a, floor=f, power=pw)
    assert C._cem_step._cache_size() == n


LANDSCAPE_SIZES = (8,) * 4


@partial(jax.jit, static_argnames=("num_stages", "batch_size"))
def _run(key, landscape, num_stages, batch_size):
    st = C.cem_init(LANDSCAPE_SIZES)
    return C.cem_run(key, st, partial(S.landscape_score, landscape), num_stages=num_stages, batch_size=batch_size)


def test_cem_run_finds_concentrated_corner_and_vmaps():
    Ls = [S.planted_landscape(jax.random.key(s), LANDSCAPE_SIZES, 1e-3, "concentrated") for s in range(3)]
    Lst = jax.tree.map(lambda *a: jnp.stack(a), *Ls)
    keys = jax.random.split(jax.random.key(1), 3)
    vstate, vinfo = jax.vmap(lambda k, L: _run(k, L, 6, 256))(keys, Lst)
    assert vinfo.level.shape == (3, 6)
    for i, L in enumerate(Ls):
        st, _ = _run(keys[i], L, 6, 256)
        np.testing.assert_allclose(vstate.proposal.probs[i], st.proposal.probs, rtol=1e-10, atol=1e-14)
        corner = np.argmax(np.asarray(L.factors), axis=1)  # F = 1 at the corner
        assert np.all(np.argmax(np.asarray(st.proposal.probs), axis=1) == corner)


def test_score_weighted_update_targets_p0_sqrt_F_on_enumerated_draws():
    """Weights (p0/q) S^(1/2) over every input once, each with q = p0: the unsmoothed
    update is the product of the marginals of p0 sqrt(F), computed here by brute force."""
    L = S.planted_landscape(jax.random.key(3), (4, 5, 3), 0.05, "concentrated")
    X = np.stack(np.unravel_index(np.arange(60), (4, 5, 3)), axis=1)
    F = np.asarray(S.landscape_score(L, X))
    q0 = P.uniform_proposal((4, 5, 3))
    log_q = np.full(60, -np.log(60.0))
    state, _ = C.cem_step(jax.random.key(0), C.cem_init((4, 5, 3), q0), X, F, rho=1.0, power=0.5, smoothing=1.0,
                          floor=1e-12, log_q=log_q)
    g = np.sqrt(F) / np.sqrt(F).sum()
    for j, K in enumerate((4, 5, 3)):
        marg = np.bincount(X[:, j], weights=g, minlength=K)
        np.testing.assert_allclose(np.asarray(state.proposal.probs)[j, :K], marg, rtol=1e-9, atol=1e-11)


def test_cem_run_with_defensive_stages_vmaps_over_powers():
    L = S.planted_landscape(jax.random.key(0), LANDSCAPE_SIZES, 1e-3, "concentrated")

    @jax.jit
    def run(power, lam):
        return C.cem_run(jax.random.key(1), C.cem_init(LANDSCAPE_SIZES), partial(S.landscape_score, L),
                         num_stages=4, batch_size=128, power=power, defensive=lam)[0].proposal.probs

    out = jax.vmap(run)(jnp.array([0.5, 1.0]), jnp.array([0.1, 0.2]))
    np.testing.assert_allclose(out[1], run(1.0, 0.2), rtol=1e-10, atol=1e-14)
    corner = np.argmax(np.asarray(L.factors), axis=1)
    assert np.all(np.argmax(np.asarray(out[0]), axis=1) == corner)
