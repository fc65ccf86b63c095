"""Splitting a sweep: two jax.distributed CPU processes, and shards merged, == one run.

Both compare bit for bit (sums and the results CSV text) against one unsplit run:
replicate keys come from ``fold_in`` and the chunk sums are added in chunk order, so
how the work is split must not change a single bit.
"""

import os
import socket
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest

import jaxcert  # noqa: F401
from jaxcert.sim import distributed as _dist
from jaxcert.sim import merge_sweeps, product_grid, register_estimator, run_sweep

# The stand-in estimator (cheap to compile); the same source runs in the subprocesses.
TOY = textwrap.dedent("""
    import jax.numpy as jnp
    from jaxcert._types import Interval

    def toy_split(counts, sb, fb, alpha, side):
        p = (counts.n11 + counts.n10 + 0.5 * counts.m1 / jnp.maximum(counts.N, 1)) / counts.n
        return Interval(p, p - sb[0] * 0.01, p + 0.1 * alpha, jnp.zeros((), jnp.int32))
""")
# 4 scenarios x 30 replicates in chunks of 48: 3 chunks spanning 2, 3 and 1 scenario rows,
# so the two processes own different numbers of chunks of different shapes.
GRID = dict(theta=[0.05, 0.2], n=[30, 70], N=[500], accuracy=[0.85], box=["+-0.05"])
R, CHUNK = 30, 48

namespace = {}
exec(TOY, namespace)
register_estimator("toy_split", namespace["toy_split"], overwrite=True)

WORKER = TOY + textwrap.dedent("""
    import sys
    import numpy as np
    import jaxcert
    from jaxcert.sim import distributed, initialize_distributed, product_grid
    from jaxcert.sim import register_estimator, run_sweep

    port, pid, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    initialize_distributed(f"127.0.0.1:{port}", 2, pid, timeout_s=60)
    import jax
    distributed.GATHER_BYTES = 1  # one chunk per collective: exercises the gather rounds
    register_estimator("toy_split", toy_split)
    g = product_grid(**GRID)
    res = run_sweep(jax.random.key(7), g, replicates=R, estimators=["toy_split"],
                    chunk_size=CHUNK, out_dir=out)
    np.save(f"{out}/sums-{pid}.npy", res.sums)
    print("process", jax.process_index(), "of", jax.process_count(), "computed",
          res.computed_chunks)
    jax.distributed.shutdown()
""").replace("GRID)", f"{GRID!r})").replace("=R,", f"={R},").replace("=CHUNK,", f"={CHUNK},")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _single(out):
    g = product_grid(**GRID)
    return run_sweep(jax.random.key(7), g, replicates=R, estimators=["toy_split"],
                     chunk_size=CHUNK, out_dir=str(out))


def _read(path):
    with open(path) as fh:
        return fh.read()


def test_two_processes_equal_one_process(tmp_path):
    out = tmp_path / "two"
    out.mkdir()
    # One device per process, compiled like this process (the comparison is bitwise).
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if "device_count" not in f]
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=" ".join(flags))
    port = str(_free_port())
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, port, str(i), str(out)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    deadline, logs = time.monotonic() + 120, []
    try:
        for p in procs:
            so, se = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
            logs.append(so + se[-3000:])
            assert p.returncode == 0, "\n".join(logs)
    finally:
        for p in procs:  # never leave a peer waiting on a dead coordinator
            if p.poll() is None:
                p.kill()
                p.wait()
    computed = sorted(int(log.split("computed ")[1].split()[0]) for log in logs)
    assert computed == [1, 2]  # each process computed only its own chunks
    ref = _single(tmp_path / "one")
    for pid in range(2):  # every process ends with every chunk
        np.testing.assert_array_equal(np.load(out / f"sums-{pid}.npy"), ref.sums)
    assert _read(out / "results.csv") == _read(tmp_path / "one" / "results.csv")
    assert sorted(os.listdir(out / "chunks")) == sorted(os.listdir(tmp_path / "one" / "chunks"))


def test_shards_merged_equal_one_run(tmp_path):
    g = product_grid(**GRID)
    ref = _single(tmp_path / "one")
    kw = dict(replicates=R, estimators=["toy_split"], chunk_size=CHUNK)
    a = run_sweep(jax.random.key(7), g, out_dir=str(tmp_path / "a"), shard="0/2", **kw)
    b = run_sweep(jax.random.key(7), g, out_dir=str(tmp_path / "b"), shard=(1, 2), **kw)
    assert (a.computed_chunks, b.computed_chunks) == (2, 1)
    assert a.table is None and str(a.shard) == "0/2"
    assert not (tmp_path / "a" / "results.csv").exists()
    with pytest.raises(ValueError, match="merge the shards"):
        a.to_pandas()
    merged = merge_sweeps([tmp_path / "b", tmp_path / "a"], tmp_path / "m")
    np.testing.assert_array_equal(merged.sums, ref.sums)
    assert _read(tmp_path / "m" / "results.csv") == _read(tmp_path / "one" / "results.csv")
    # the merged directory is a complete sweep: re-running the study there computes nothing
    again = run_sweep(jax.random.key(7), g, out_dir=str(tmp_path / "m"), **kw)
    assert again.computed_chunks == 0
    np.testing.assert_array_equal(again.sums, ref.sums)


def test_merge_refuses_other_study_and_missing_shards(tmp_path):
    g = product_grid(**GRID)
    kw = dict(replicates=R, estimators=["toy_split"], chunk_size=CHUNK)
    run_sweep(jax.random.key(7), g, out_dir=str(tmp_path / "a"), shard="0/2", **kw)
    run_sweep(jax.random.key(8), g, out_dir=str(tmp_path / "x"), shard="1/2", **kw)
    with pytest.raises(ValueError, match="holds a different study"):
        merge_sweeps([tmp_path / "a", tmp_path / "x"], tmp_path / "m")
    with pytest.raises(ValueError, match=r"1 of 3 chunks are missing \(shard\(s\) 1/2 not given"):
        merge_sweeps([tmp_path / "a"], tmp_path / "m")
    with pytest.raises(ValueError, match="no run.json"):
        merge_sweeps([tmp_path], tmp_path / "m")
    assert not (tmp_path / "m" / "results.csv").exists()


@pytest.mark.parametrize("spec", ["2/2", "-1/2", "a/b", "1/0", "1", (0, 0), "1/2/3", 3])
def test_bad_shard_spec(spec):
    with pytest.raises(ValueError, match="--shard must be I/K with integers 0 <= I < K"):
        _dist.parse_shard(spec)


def test_ownership_partitions_every_chunk():
    for k in (1, 2, 3):
        for P in (1, 2, 4):
            got = [c for i in range(k) for p in range(P) for c in _dist.owned_chunks(
                11, _dist.parse_shard(f"{i}/{k}"), p, P)]
            assert sorted(got) == list(range(11))


def test_importing_jaxcert_leaves_the_backend_uninitialised():
    """jax.distributed.initialize must come before any backend use: no module of the
    package may create a device array at import time."""
    code = ("import jaxcert, jaxcert.judge.sensitivity, jaxcert.judge.design\n"
            "from jax._src import xla_bridge\n"
            "assert not xla_bridge.backends_are_initialized()\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
