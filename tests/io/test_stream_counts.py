"""Streaming a CSV to counts agrees with the in-memory reader, block by block."""

import numpy as np
import pytest

pytest.importorskip("pyarrow")

from jaxcert import Counts  # noqa: E402
from jaxcert.io import read_labels, stream_counts  # noqa: E402

WORDS_H = ["1", "0", "", "yes", "no", "fail", "pass", "NA", "tie"]
WORDS_J = ["1", "0", "true", "false", "y", "n"]


def _table(tmp_path, n, seed=0, missing_judge=False):
    rng = np.random.default_rng(seed)
    h = rng.choice(WORDS_H, size=n)
    j = rng.choice(WORDS_J, size=n)
    if missing_judge:
        j[rng.choice(n, size=5, replace=False)] = ""
    model = rng.choice(["a", "b", "c"], size=n)
    p = tmp_path / "big.csv"
    with open(p, "w") as fh:
        fh.write("id,model,human,judge,extra\n")
        for i in range(n):
            fh.write(f"{i},{model[i]},{h[i]},{j[i]},\"x, y\"\n")
    return p


def _same(a: Counts, b: Counts):
    np.testing.assert_array_equal(np.stack(a), np.stack(b))


@pytest.mark.parametrize("block_size", [1 << 12, 1 << 20])
def test_stream_equals_in_memory_reader(tmp_path, block_size):
    p = _table(tmp_path, 3000)
    kw = {"human_map": {"tie": 0}, "where": {"model": ["a", "c"]}}
    streamed = stream_counts(p, "human", "judge", block_size=block_size, progress=False, **kw)
    assert streamed.is_counts_only and streamed.judge is None
    assert streamed.info["rows"] == 3000 and streamed.info["streamed"]
    _same(streamed.counts, read_labels(p, "human", "judge", **kw).counts)
    # hand count of one cell, independent of both readers
    rows = [line.split(",") for line in p.read_text().splitlines()[1:]]
    n11 = sum(r[1] in "ac" and r[2] in ("1", "yes", "fail") and r[3] in ("1", "true", "y")
              for r in rows)
    assert float(streamed.counts.n11) == n11


def test_stream_errors_name_the_row_across_blocks(tmp_path):
    p = _table(tmp_path, 3000)
    with pytest.raises(ValueError, match=r"human column 'human', data row \d+: value 'tie' is "
                       r"not a known label.*--human-map tie=0"):
        stream_counts(p, "human", "judge", block_size=1 << 12, progress=False)
    lines = p.read_text().splitlines()
    first_tie = next(i for i, line in enumerate(lines[1:], 1) if line.split(",")[2] == "tie")
    with pytest.raises(ValueError, match=rf"data row {first_tie}:"):
        stream_counts(p, "human", "judge", block_size=1 << 12, progress=False)


def test_stream_missing_judge_error_and_drop(tmp_path):
    p = _table(tmp_path, 2000, seed=1, missing_judge=True)
    with pytest.raises(ValueError, match="missing judge verdict.*--drop-missing-judge"):
        stream_counts(p, "human", "judge", human_map={"tie": 0}, progress=False)
    s = stream_counts(p, "human", "judge", human_map={"tie": 0}, missing_judge="drop",
                      block_size=1 << 12, progress=False)
    r = read_labels(p, "human", "judge", human_map={"tie": 0}, missing_judge="drop")
    assert s.n_dropped == r.n_dropped == 5
    _same(s.counts, r.counts)


def test_stream_header_checks_and_nan_rule(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("h,j,h\n1,1,0\n")
    with pytest.raises(ValueError, match="duplicate column name 'h'"):
        stream_counts(p, "h", "j", progress=False)
    q = tmp_path / "n.csv"
    q.write_text("h,j\n1,1\nnan,0\n0,0\n")
    with pytest.raises(ValueError, match="data row 2: value 'nan' is a literal NaN"):
        stream_counts(q, "h", "j", progress=False)
    c = stream_counts(q, "h", "j", nan_means_missing=True, progress=False).counts
    assert (float(c.n11), float(c.n00), float(c.m0)) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="human column 'x' not found"):
        stream_counts(q, "x", "j", progress=False)


def test_stream_reads_utf16(tmp_path):
    p = tmp_path / "u.csv"
    p.write_bytes("h,j\n1,1\n,0\n0,1\n".encode("utf-16"))
    c = stream_counts(p, "h", "j", progress=False).counts
    assert (float(c.n11), float(c.n01), float(c.m0)) == (1.0, 1.0, 1.0)


def test_progress_bar_goes_to_stderr(tmp_path, capsys):
    pytest.importorskip("tqdm")
    p = _table(tmp_path, 500)
    stream_counts(p, "human", "judge", human_map={"tie": 0}, progress=True)
    out, err = capsys.readouterr()
    assert out == "" and "big.csv" in err


def test_counts_only_labels_to_pandas(tmp_path):
    pytest.importorskip("pandas")
    p = _table(tmp_path, 200)
    df = stream_counts(p, "human", "judge", human_map={"tie": 0}, progress=False).to_pandas()
    assert list(df.columns) == ["n11", "n10", "n01", "n00", "m1", "m0"] and len(df) == 1
    assert int(df.to_numpy().sum()) == 200


def test_stream_reports_a_parse_error_in_one_line(tmp_path):
    p = tmp_path / "q.csv"
    p.write_text('h,j\n1,1\n"a,b\n')
    with pytest.raises(ValueError, match=r"q.csv' could not be parsed as CSV: CSV parse") as e:
        stream_counts(p, "h", "j", progress=False)
    assert "\n" not in str(e.value)
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbfh,j\n1,1\n,0\n")
    c = stream_counts(bom, "h", "j", progress=False).counts
    assert (float(c.n11), float(c.m0)) == (1.0, 1.0)
