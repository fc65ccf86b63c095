"""Reading label tables: CSV / JSONL / Parquet, label maps, precise errors."""

import json
import math

import numpy as np
import pytest

from jaxcert import Counts
from jaxcert._tables import DEFAULT_LABELS, counts_from_table, parse_label_map, read_labels

HUMAN = [1, 0, 0, None, None, 1]
JUDGE = [1, 0, 1, 1, 0, 0]


def _write_csv(path, header, rows):
    with open(path, "w") as fh:
        fh.write(",".join(header) + "\n")
        for r in rows:
            fh.write(",".join("" if v is None else str(v) for v in r) + "\n")
    return path


@pytest.fixture
def csv_file(tmp_path):
    return _write_csv(tmp_path / "labels.csv", ["id", "h", "j"],
                      [(i, h, j) for i, (h, j) in enumerate(zip(HUMAN, JUDGE, strict=True))])


def _expected():
    return Counts.from_labels(HUMAN, JUDGE)


def _same_counts(a, b):
    np.testing.assert_array_equal(np.stack(a), np.stack(b))


def test_csv_roundtrip(csv_file):
    human, judge, dropped = read_labels(csv_file, "h", "j")
    assert dropped == 0
    np.testing.assert_array_equal(np.isnan(human), [h is None for h in HUMAN])
    np.testing.assert_array_equal(judge, JUDGE)
    _same_counts(counts_from_table(csv_file, "h", "j"), _expected())


def test_jsonl_roundtrip_with_bools_and_nulls(tmp_path):
    p = tmp_path / "labels.jsonl"
    with open(p, "w") as fh:
        for h, j in zip(HUMAN, JUDGE, strict=True):
            fh.write(json.dumps({"h": None if h is None else bool(h), "j": j}) + "\n")
        fh.write("\n")  # blank lines are ignored
    _same_counts(counts_from_table(p, "h", "j"), _expected())


def test_parquet_roundtrip(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    p = tmp_path / "labels.parquet"
    pq.write_table(pa.table({"h": [None if h is None else float(h) for h in HUMAN],
                             "j": JUDGE}), p)
    _same_counts(counts_from_table(p, "h", "j"), _expected())


def test_fmt_overrides_extension(tmp_path, csv_file):
    p = tmp_path / "labels.txt"
    p.write_text(csv_file.read_text())
    _same_counts(counts_from_table(p, "h", "j", fmt="csv"), _expected())


def test_default_label_words(tmp_path):
    words = [("Yes", "fail"), (" no ", "PASS"), ("TRUE", "1.0"), ("false", "0"), ("NA", "y")]
    p = _write_csv(tmp_path / "w.csv", ["h", "j"], words)
    human, judge, _ = read_labels(p, "h", "j")
    np.testing.assert_array_equal(human[:4], [1, 0, 1, 0])
    assert math.isnan(human[4])
    np.testing.assert_array_equal(judge, [1, 0, 1, 0, 1])
    assert DEFAULT_LABELS["fail"] == 1.0 and DEFAULT_LABELS["pass"] == 0.0


def test_user_maps_and_cli_map_syntax(tmp_path):
    p = _write_csv(tmp_path / "m.csv", ["h", "j"],
                   [("model_b", "model_b"), ("model_a", "tie"), ("tie", "model_a"), ("", "tie")])
    m = parse_label_map("model_b=1, model_a=0,tie=0")
    human, judge, _ = read_labels(p, "h", "j", human_map=m, judge_map=m)
    np.testing.assert_array_equal(human[:3], [1, 0, 0])
    assert math.isnan(human[3])
    np.testing.assert_array_equal(judge, [1, 0, 0, 0])
    # a user map can override a default and map a value to missing
    h2, _, _ = read_labels(p, "h", "j", human_map={"model_b": 1, "model_a": None, "tie": 0},
                           judge_map=m)
    assert math.isnan(h2[1])


def test_where_filter(tmp_path):
    p = _write_csv(tmp_path / "f.csv", ["model", "h", "j"],
                   [("a", 1, 1), ("b", 0, 0), ("a", 0, 1), ("c", 1, 0)])
    human, judge, _ = read_labels(p, "h", "j", where={"model": ["a", "c"]})
    np.testing.assert_array_equal(human, [1, 0, 1])
    with pytest.raises(ValueError, match="no row has model"):
        read_labels(p, "h", "j", where={"model": "zzz"})
    with pytest.raises(ValueError, match="where column 'nope' not found"):
        read_labels(p, "h", "j", where={"nope": "a"})


def test_missing_judge_error_or_drop(tmp_path):
    p = _write_csv(tmp_path / "mj.csv", ["h", "j"], [(1, 1), (0, ""), (0, 0)])
    with pytest.raises(ValueError, match=r"data row 2: missing judge verdict.*drop-missing-judge"):
        read_labels(p, "h", "j")
    human, judge, dropped = read_labels(p, "h", "j", missing_judge="drop")
    assert dropped == 1
    np.testing.assert_array_equal(human, [1, 0])
    with pytest.raises(ValueError, match="missing_judge must be"):
        read_labels(p, "h", "j", missing_judge="ignore")


@pytest.mark.parametrize(
    "header,rows,kwargs,match",
    [
        (["h", "j"], [(1, 1)], {"human_col": "human"},
         r"human column 'human' not found; available columns: 'h', 'j'"),
        (["h", "j"], [(1, 1)], {"judge_col": "J"}, r"judge column 'J' not found"),
        (["h", "j"], [(1, 1), ("maybe", 0)], {},
         r"human column 'h', data row 2: value 'maybe' is not a known label.*--human-map maybe=0"),
        (["h", "j"], [(1, 2)], {}, r"judge column 'j', data row 1: value '2'"),
        (["h", "j"], [(1, "0.5")], {}, r"value '0.5' is not a known label"),
        (["h", "j"], [], {}, r"has no data rows"),
    ],
)
def test_precise_errors(tmp_path, header, rows, kwargs, match):
    p = _write_csv(tmp_path / "e.csv", header, rows)
    kw = {"human_col": "h", "judge_col": "j", **kwargs}
    with pytest.raises(ValueError, match=match):
        read_labels(p, kw.pop("human_col"), kw.pop("judge_col"), **kw)


def test_file_level_errors(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="is empty: expected a header"):
        read_labels(empty, "h", "j")
    with pytest.raises(FileNotFoundError, match="data file not found"):
        read_labels(tmp_path / "nope.csv", "h", "j")
    with pytest.raises(ValueError, match="cannot tell the format"):
        read_labels(tmp_path / "x.xlsx", "h", "j")
    with pytest.raises(ValueError, match="fmt must be one of"):
        read_labels(empty, "h", "j", fmt="excel")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"h": 1, "j": 1}\n{"h": 1,\n')
    with pytest.raises(ValueError, match="line 2 is not valid JSON"):
        read_labels(bad, "h", "j")
    badpq = tmp_path / "bad.parquet"
    badpq.write_text("not parquet")
    with pytest.raises(ValueError, match="could not be read as Parquet"):
        read_labels(badpq, "h", "j")


def test_label_map_errors():
    with pytest.raises(ValueError, match=r"entry 'tie' is not KEY=VALUE"):
        parse_label_map("model_b=1,tie", "--human-map")
    with pytest.raises(ValueError, match="map values must be 0, 1 or None"):
        parse_label_map("tie=2", "--human-map")
    assert math.isnan(parse_label_map("x=na")["x"])


def test_nan_cells_and_no_human_label(tmp_path):
    p = _write_csv(tmp_path / "n.csv", ["h", "j"], [("nan", 1), ("", 0)])
    human, judge, _ = read_labels(p, "h", "j")
    assert np.isnan(human).all()
    with pytest.raises(ValueError, match="no human-labelled item"):
        counts_from_table(p, "h", "j")
