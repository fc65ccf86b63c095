"""Checkpoint hardening (checksummed chunks, corrupt run.json) and DataFrame results."""

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxcert  # noqa: F401
from jaxcert._types import Interval
from jaxcert.sim import product_grid, read_table, register_estimator, run_sweep
from jaxcert.sim import results as _res
from jaxcert.sim.plan import PlanResult


def toy(counts, tpr_bounds, fpr_bounds, alpha, side):
    p = (counts.n11 + counts.n10) / counts.n
    return Interval(p, 0 * p, jnp.clip(p + 0.1 + 0 * tpr_bounds[0], 0, 1),
                    jnp.zeros((), jnp.int32))


register_estimator("toy_ckpt", toy, overwrite=True)
KW = dict(replicates=40, estimators=["toy_ckpt"], chunk_size=64)


def _grid():
    return product_grid(theta=[0.1, 0.3], n=[20, 40], N=[100], accuracy=[0.8], box=["+-0.05"])


def _tamper_sums(path):
    with np.load(path) as z:
        d = {k: z[k] for k in z.files}
    d["sums"] = d["sums"] + 1.0  # a plausible file whose numbers changed: checksum fails
    with open(path, "wb") as fh:
        np.savez(fh, **d)


def _truncate(path):
    with open(path, "rb") as fh:
        data = fh.read()
    with open(path, "wb") as fh:
        fh.write(data[: len(data) // 2])


def _garble(path):
    with np.load(path) as z:
        raw = z["sums"].tobytes()
    with open(path, "rb") as fh:
        data = bytearray(fh.read())
    at = data.find(raw)  # np.savez stores members uncompressed
    assert at > 0
    data[at + len(raw) // 2] ^= 0xFF  # one flipped bit pattern inside the stored sums
    with open(path, "wb") as fh:
        fh.write(bytes(data))


@pytest.mark.parametrize("damage", [_tamper_sums, _truncate, _garble])
def test_corrupt_chunk_is_detected_and_recomputed(tmp_path, damage):
    out = str(tmp_path / "run")
    full = run_sweep(jax.random.key(2), _grid(), out_dir=out, **KW)
    damage(_res.chunk_path(out, 1))
    with pytest.warns(_res.CorruptChunkWarning, match=r"chunk-000001.npz .*recomputing chunk 1"):
        again = run_sweep(jax.random.key(2), _grid(), out_dir=out, **KW)
    assert again.computed_chunks == 1
    np.testing.assert_array_equal(again.sums, full.sums)
    assert _res.read_chunk(_res.chunk_path(out, 1), _res.read_run_json(
        f"{out}/run.json")["fingerprint"])[0] == 1  # rewritten intact (chunk 1 starts at row 1)


def test_foreign_chunk_is_not_summed(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    run_sweep(jax.random.key(2), _grid(), out_dir=a, **KW)
    ref = run_sweep(jax.random.key(3), _grid(), out_dir=b, **KW)
    with open(_res.chunk_path(a, 0), "rb") as src, open(_res.chunk_path(b, 0), "wb") as dst:
        dst.write(src.read())
    with pytest.warns(_res.CorruptChunkWarning, match="belongs to another study"):
        again = run_sweep(jax.random.key(3), _grid(), out_dir=b, **KW)
    np.testing.assert_array_equal(again.sums, ref.sums)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"finished": true}', "\xff\xfe"])
def test_corrupt_run_json_names_the_file(tmp_path, text):
    out = tmp_path / "run"
    run_sweep(jax.random.key(2), _grid(), out_dir=str(out), **KW)
    (out / "run.json").write_bytes(text.encode("latin-1"))
    with pytest.raises(ValueError, match=r"run[/\\]run.json is corrupt"):
        run_sweep(jax.random.key(2), _grid(), out_dir=str(out), **KW)


def test_read_table_dataframe_and_dict(tmp_path, monkeypatch):
    pd = pytest.importorskip("pandas")
    out = str(tmp_path / "run")
    res = run_sweep(jax.random.key(2), _grid(), out_dir=out, **KW)
    df = read_table(out)
    assert isinstance(df, pd.DataFrame) and len(df) == 4
    np.testing.assert_array_equal(df["coverage"].to_numpy(), res.table["coverage"])
    assert df["estimator"].tolist() == ["toy_ckpt"] * 4
    assert df["box_covers_truth"].dtype == bool
    pd.testing.assert_frame_equal(res.to_pandas()[["coverage", "bias"]],
                                  df[["coverage", "bias"]])
    monkeypatch.setitem(sys.modules, "pandas", None)  # pandas absent: the dict as before
    cols = read_table(out)
    assert isinstance(cols, dict)
    np.testing.assert_array_equal(cols["coverage"], res.table["coverage"])
    with pytest.raises(ImportError, match="pip install pandas"):
        res.to_pandas()


def test_plan_to_pandas():
    pd = pytest.importorskip("pandas")
    r = PlanResult(np.array([20, 60]), {"ppi": np.array([0.3, 0.9]), "human_exact":
                                        np.array([0.1, 0.5])},
                   {"ppi": np.array([0.05, 0.03]), "human_exact": np.zeros(2)},
                   {"ppi": 60, "human_exact": None}, {"ppi": None, "human_exact": None},
                   0.02, 1000)
    df = r.to_pandas()
    assert isinstance(df, pd.DataFrame)
    assert df["method"].tolist() == ["ppi", "ppi", "human_exact", "human_exact"]
    assert df["n"].tolist() == [20, 60, 20, 60]
    assert df["power"].tolist() == [0.3, 0.9, 0.1, 0.5]
    assert df["power_se"].tolist() == [0.05, 0.03, 0.0, 0.0]
    assert df["n_required"].tolist()[:2] == [60, 60] and df["n_required"][2:].isna().all()
    assert df["savings"].isna().all()
