"""Batched while loops that do not make every lane wait for the slowest one.

``vmap`` of a ``lax.while_loop`` runs the body on the whole batch until the last lane
is done: a root search that takes 5 iterations on most problems and 23 on a few costs
23 for all. :func:`batched_while` runs ``warm_steps`` masked iterations on the whole
batch, then (optional ``rounds``) a fixed number of masked iterations on the pending
lanes gathered into ever smaller blocks, then gathers what is still pending into
blocks of static size ``block``, finishes each block with its own batched while loop
and scatters the results back. Results are identical to the plain vmapped loop (each
lane runs the same iterations); only the schedule changes.

:func:`compacted_loop` wraps a per-lane loop in ``jax.custom_batching.custom_vmap``
so that kernels keep their one-problem form and get the compacted schedule whenever
a caller vmaps them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["batched_while", "compacted_loop"]


def _where(mask, new, old):
    return jax.tree.map(
        lambda n, o: jnp.where(mask.reshape(mask.shape + (1,) * (n.ndim - 1)), n, o), new, old)


def batched_while(pending, step, consts, state, *, warm_steps: int, block: int, rounds=()):
    """``vmap(lambda k, s: while_loop(partial(pending, k), partial(step, k), s))(consts, state)``.

    ``pending(k, s) -> bool`` and ``step(k, s) -> s`` are per-lane; ``consts`` and
    ``state`` are pytrees with a leading batch axis. ``pending`` must eventually turn
    false on every lane (an iteration cap in the state). ``rounds`` is a sequence of
    ``(block_size, steps)``: after the warm steps, each round gathers up to
    ``block_size`` pending lanes and runs ``steps`` masked iterations on them only
    (lanes that do not fit wait for a later round or the final blocks).
    """
    size = jax.tree.leaves(state)[0].shape[0]
    block = max(1, min(block, size))
    v_pending, v_step = jax.vmap(pending), jax.vmap(step)

    def warm(_, st):
        return _where(v_pending(consts, st), v_step(consts, st), st)

    state = jax.lax.fori_loop(0, warm_steps, warm, state)

    def gather(st, width):
        idx = jnp.nonzero(v_pending(consts, st), size=width, fill_value=size)[0]
        take = lambda x: jnp.take(x, idx, axis=0, mode="clip")  # noqa: E731
        return idx, idx < size, jax.tree.map(take, consts), jax.tree.map(take, st)

    def scatter(st, idx, sub):
        return jax.tree.map(lambda full, part: full.at[idx].set(part, mode="drop"), st, sub)

    for width, steps in rounds:
        idx, valid, sub_k, sub_s = gather(state, max(1, min(int(width), size)))

        def masked(_, s, valid=valid, sub_k=sub_k):
            return _where(valid & jax.vmap(pending)(sub_k, s), jax.vmap(step)(sub_k, s), s)

        state = scatter(state, idx, jax.lax.fori_loop(0, int(steps), masked, sub_s))

    def finish_block(st):
        idx, valid, sub_k, sub_s = gather(st, block)

        def one(ok, k, s):
            return jax.lax.while_loop(lambda s: ok & pending(k, s), lambda s: step(k, s), s)

        return scatter(st, idx, jax.vmap(one)(valid, sub_k, sub_s))

    return jax.lax.while_loop(lambda st: jnp.any(v_pending(consts, st)), finish_block, state)


#: Batches smaller than this keep the plain vmapped loop: compaction saves nothing
#: there and its larger program costs compile time on every eager call.
MIN_COMPACTED_BATCH = 64


def compacted_loop(pending, step, *, warm_steps: int, block_divisor: int, rounds=(),
                   rounds_min_batch: int = 0):
    """A per-lane ``while_loop(pending, step)`` over ``(consts, state)`` whose vmap is
    :func:`batched_while` with blocks of ``ceil(batch / block_divisor)`` lanes (batches
    of at least :data:`MIN_COMPACTED_BATCH`); ``rounds`` as ``(divisor, steps)`` pairs,
    the round's block being ``ceil(batch / divisor)`` lanes, taken on batches of at
    least ``rounds_min_batch`` lanes (each round compiles one more copy of ``step``)."""

    def plain(consts, state):
        return jax.lax.while_loop(lambda s: pending(consts, s), lambda s: step(consts, s), state)

    loop = jax.custom_batching.custom_vmap(plain)

    @loop.def_vmap
    def _batched(axis_size, in_batched, consts, state):
        def full(x, batched):
            return x if batched else jnp.broadcast_to(x, (axis_size,) + jnp.shape(x))

        consts = jax.tree.map(full, consts, in_batched[0])
        state = jax.tree.map(full, state, in_batched[1])
        if axis_size < MIN_COMPACTED_BATCH:
            out = jax.vmap(plain)(consts, state)
        else:
            out = batched_while(pending, step, consts, state, warm_steps=warm_steps,
                                block=-(-axis_size // block_divisor),
                                rounds=[(-(-axis_size // d), k) for d, k in rounds
                                        if axis_size >= rounds_min_batch])
        return out, jax.tree.map(lambda _: True, out)

    return loop
