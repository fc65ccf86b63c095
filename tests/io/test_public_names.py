"""Frozen public names of jaxcert.io (an API change shows up in review)."""

import jaxcert.io


def test_public_names():
    assert sorted(jaxcert.io.__all__) == sorted([
        "LabelColumns", "DEFAULT_LABELS", "FORMATS", "STREAM_MIN_BYTES", "parse_label_map",
        "read_labels", "counts_from_table", "stream_counts", "read_inspect", "read_promptfoo",
        "read_lm_eval", "read_garak"])
    for name in jaxcert.io.__all__:
        assert getattr(jaxcert.io, name) is not None
