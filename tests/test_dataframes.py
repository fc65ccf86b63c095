"""Tabular results become pandas DataFrames with the same numbers as their dict form."""

import numpy as np
import pytest

pd = pytest.importorskip("pandas")


def test_certify_table_to_pandas_matches_rows():
    import jaxcert

    c = jaxcert.Counts.create(n11=5, n10=1, n01=3, n00=41, m1=1030, m0=8970)
    table = jaxcert.certify(c, None, method="all", side="upper", interval="profile")
    df = table.to_pandas()
    assert list(df.index) == [r.method for r in table.rows]
    for r in table.rows:
        if r.ok:
            assert df.loc[r.method, "upper"] == pytest.approx(r.upper, abs=0)
            assert df.loc[r.method, "estimate"] == pytest.approx(r.estimate, abs=0)
    assert np.all(df["lower"].dropna() <= df["upper"].dropna())
