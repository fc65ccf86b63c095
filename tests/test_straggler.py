"""Compacted while loops give exactly the plain vmapped loop's results.

Oracle: ``vmap`` of ``lax.while_loop`` (every lane runs until its own stop). The
per-lane loop here counts Collatz steps, whose iteration counts vary from 0 to over
100 across lanes, so every schedule path is exercised: lanes finished during the warm
steps, in a round, lanes that do not fit a round's block, and the final blocks.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcert._straggler import batched_while, compacted_loop


def _pending(cap, st):
    n, i = st
    return (n != 1) & (i < cap)


def _step(cap, st):
    n, i = st
    return jnp.where(n % 2 == 0, n // 2, 3 * n + 1), i + 1


def _plain(caps, start):
    one = lambda k, s: jax.lax.while_loop(lambda s: _pending(k, s), lambda s: _step(k, s), s)  # noqa: E731
    return jax.vmap(one)(caps, start)


@pytest.mark.parametrize("warm, block, rounds", [
    (0, 7, ()), (3, 50, ()), (5, 16, ((64, 10), (20, 20))), (2, 1, ((1000, 3), (3, 50))),
])
def test_batched_while_matches_the_plain_loop(warm, block, rounds):
    n = jnp.arange(1, 301, dtype=jnp.int64)
    caps = jnp.where(n % 7 == 0, 40, 1000)  # some lanes stop at the cap instead
    start = (n, jnp.zeros_like(n))
    want = _plain(caps, start)
    got = jax.jit(lambda k, s: batched_while(_pending, _step, k, s, warm_steps=warm, block=block,
                                             rounds=rounds))(caps, start)
    steps = np.asarray(want[1])
    assert steps.min() == 0 and steps.max() > 100  # the schedule paths are all used
    for w, g in zip(want, got, strict=True):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))


def test_compacted_loop_under_vmap_matches_the_plain_loop():
    loop = compacted_loop(_pending, _step, warm_steps=4, block_divisor=32, rounds=((4, 5), (16, 10)))
    n = jnp.arange(1, 513, dtype=jnp.int64)
    caps = jnp.full_like(n, 1000)
    start = (n, jnp.zeros_like(n))
    got = jax.jit(jax.vmap(loop))(caps, start)
    for w, g in zip(_plain(caps, start), got, strict=True):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))


def test_rounds_are_skipped_below_their_minimum_batch():
    loop = compacted_loop(_pending, _step, warm_steps=4, block_divisor=32, rounds=((4, 5),),
                          rounds_min_batch=1024)

    def scatters(n):
        n = jnp.arange(1, n + 1, dtype=jnp.int64)
        jaxpr = jax.make_jaxpr(jax.vmap(loop))(jnp.full_like(n, 1000), (n, jnp.zeros_like(n)))
        return str(jaxpr).count("scatter")  # each round scatters its block back

    assert scatters(512) < scatters(1024)
    got = jax.jit(jax.vmap(loop))(jnp.full(512, 1000), (jnp.arange(1, 513), jnp.zeros(512, int)))
    want = _plain(jnp.full(512, 1000), (jnp.arange(1, 513), jnp.zeros(512, int)))
    for w, g in zip(want, got, strict=True):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))
