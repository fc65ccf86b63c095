"""Reading label tables: CSV / JSONL / Parquet, label maps, precise errors."""

import json
import math

import numpy as np
import pytest

from jaxcert import Counts
from jaxcert.io import DEFAULT_LABELS, counts_from_table, parse_label_map, read_labels

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
    human, judge, dropped, *_ = read_labels(csv_file, "h", "j")
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
    human, judge, *_ = read_labels(p, "h", "j")
    np.testing.assert_array_equal(human[:4], [1, 0, 1, 0])
    assert math.isnan(human[4])
    np.testing.assert_array_equal(judge, [1, 0, 1, 0, 1])
    assert DEFAULT_LABELS["fail"] == 1.0 and DEFAULT_LABELS["pass"] == 0.0


def test_user_maps_and_cli_map_syntax(tmp_path):
    p = _write_csv(tmp_path / "m.csv", ["h", "j"],
                   [("model_b", "model_b"), ("model_a", "tie"), ("tie", "model_a"), ("", "tie")])
    m = parse_label_map("model_b=1, model_a=0,tie=0")
    human, judge, *_ = read_labels(p, "h", "j", human_map=m, judge_map=m)
    np.testing.assert_array_equal(human[:3], [1, 0, 0])
    assert math.isnan(human[3])
    np.testing.assert_array_equal(judge, [1, 0, 0, 0])
    # a user map can override a default and map a value to missing
    h2, *_ = read_labels(p, "h", "j", human_map={"model_b": 1, "model_a": None, "tie": 0},
                           judge_map=m)
    assert math.isnan(h2[1])


def test_where_filter(tmp_path):
    p = _write_csv(tmp_path / "f.csv", ["model", "h", "j"],
                   [("a", 1, 1), ("b", 0, 0), ("a", 0, 1), ("c", 1, 0)])
    human, judge, *_ = read_labels(p, "h", "j", where={"model": ["a", "c"]})
    np.testing.assert_array_equal(human, [1, 0, 1])
    with pytest.raises(ValueError, match="no row has model"):
        read_labels(p, "h", "j", where={"model": "zzz"})
    with pytest.raises(ValueError, match="where column 'nope' not found"):
        read_labels(p, "h", "j", where={"nope": "a"})


def test_missing_judge_error_or_drop(tmp_path):
    p = _write_csv(tmp_path / "mj.csv", ["h", "j"], [(1, 1), (0, ""), (0, 0)])
    with pytest.raises(ValueError, match=r"data row 2: missing judge verdict.*drop-missing-judge"):
        read_labels(p, "h", "j")
    human, judge, dropped, *_ = read_labels(p, "h", "j", missing_judge="drop")
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


def test_literal_nan_in_human_column_is_an_error_unless_opted_in(tmp_path):
    p = _write_csv(tmp_path / "n.csv", ["h", "j"], [(1, 1), ("NaN", 1), ("", 0)])
    with pytest.raises(ValueError, match=r"human column 'h', data row 2: value 'NaN' is a "
                       r"literal NaN.*nan_means_missing=True, CLI --nan-means-missing"):
        read_labels(p, "h", "j")
    human, judge, *_ = read_labels(p, "h", "j", nan_means_missing=True)
    assert human[0] == 1 and np.isnan(human[1:]).all()
    # a float NaN from JSON is the same literal NaN
    q = tmp_path / "n.jsonl"
    q.write_text('{"h": 1, "j": 1}\n{"h": NaN, "j": 0}\n')
    with pytest.raises(ValueError, match="data row 2: value nan is a literal NaN"):
        read_labels(q, "h", "j")


def test_no_human_label_at_all(tmp_path):
    p = _write_csv(tmp_path / "n.csv", ["h", "j"], [("", 1), ("na", 0)])
    human, judge, *_ = read_labels(p, "h", "j")
    assert np.isnan(human).all()
    with pytest.raises(ValueError, match="no human-labelled item"):
        counts_from_table(p, "h", "j")


def test_duplicate_column_names_are_an_error(tmp_path):
    p = _write_csv(tmp_path / "d.csv", ["id", "h", "j", "h"], [(1, 1, 1, 0)])
    with pytest.raises(ValueError, match=r"d.csv'?: duplicate column name 'h' \(columns 2 and 4\)"):
        read_labels(p, "h", "j")


def test_duplicate_parquet_columns_are_an_error(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    p = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_arrays([pa.array([1]), pa.array([1]), pa.array([0])],
                                        names=["h", "j", "h"]), p)
    with pytest.raises(ValueError, match="duplicate column name 'h'"):
        read_labels(p, "h", "j")


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le-bom", "utf-16-be-bom"])
def test_bom_and_utf16_files_are_read(tmp_path, csv_file, encoding):
    text = csv_file.read_text()
    p = tmp_path / "enc.csv"
    if encoding == "utf-16-le-bom":
        p.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    elif encoding == "utf-16-be-bom":
        p.write_bytes(b"\xfe\xff" + text.encode("utf-16-be"))
    else:
        p.write_bytes(text.encode(encoding))
    _same_counts(counts_from_table(p, "h", "j"), _expected())
    q = tmp_path / "enc.jsonl"
    q.write_bytes('{"h": 1, "j": 1}\n{"h": null, "j": 0}\n'.encode("utf-16"))
    human, judge, *_ = read_labels(q, "h", "j")
    np.testing.assert_array_equal(judge, [1, 0])


def test_undecodable_files_name_the_file_and_a_fix(tmp_path, csv_file):
    p = tmp_path / "nobom.csv"
    p.write_bytes(csv_file.read_text().encode("utf-16-le"))
    with pytest.raises(ValueError, match=r"nobom.csv'? looks like UTF-16 text without a "
                       r"byte-order mark.*iconv -f UTF-16LE -t UTF-8 nobom.csv"):
        read_labels(p, "h", "j")
    q = tmp_path / "latin.csv"
    q.write_bytes("h,j,note\n1,1,caf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin.csv'? is not valid UTF-8 text \(byte 0xe9.*"
                       r"iconv -f LATIN1 -t UTF-8 latin.csv"):
        read_labels(q, "h", "j")


def test_label_table_to_pandas_and_counts(csv_file):
    pd = pytest.importorskip("pandas")
    labels = read_labels(csv_file, "h", "j")
    df = labels.to_pandas()
    assert isinstance(df, pd.DataFrame) and list(df.columns) == ["human", "judge"]
    assert len(df) == len(HUMAN) and int(df["human"].isna().sum()) == HUMAN.count(None)
    np.testing.assert_array_equal(df["judge"].to_numpy(), JUDGE)
    _same_counts(labels.counts, _expected())
    assert not labels.is_counts_only


def test_label_table_to_polars(csv_file):
    pl = pytest.importorskip("polars")
    df = read_labels(csv_file, "h", "j").to_polars()
    assert isinstance(df, pl.DataFrame) and df["human"].null_count() == HUMAN.count(None)


def test_tables_shim_still_exports_the_reader():
    import importlib

    shim = importlib.import_module("jaxcert._tables")
    assert shim.read_labels is read_labels and shim.counts_from_table is counts_from_table
