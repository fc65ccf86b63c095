"""Counts.validate on batches: one bad entry anywhere in a broadcast batch is caught."""

import numpy as np
import pytest

from jaxcert import Counts


def _batch(n=1001):
    rng = np.random.default_rng(0)
    return [rng.integers(1, 50, n).astype(float) for _ in range(4)] + [np.float64(7.0), np.float64(90.0)]


@pytest.mark.parametrize("field, value, message", [
    (0, np.nan, "finite"), (3, -np.inf, "finite"), (2, -1.0, "non-negative"),
    (5, np.inf, "finite"), (4, -2.0, "non-negative"),
])
def test_one_bad_entry_in_a_broadcast_batch_is_reported(field, value, message):
    fields = _batch()
    fields[field] = np.broadcast_to(np.asarray(fields[field], float), (1001,)).copy()
    fields[field][517] = value
    Counts.create(*_batch()).validate()  # the clean batch passes
    with pytest.raises(ValueError, match=message):
        Counts.create(*fields).validate()


def test_one_empty_calibration_lane_is_reported_and_empty_batches_pass():
    fields = _batch()
    for f in fields[:4]:
        f[300] = 0.0
    with pytest.raises(ValueError, match="calibration set is empty"):
        Counts.create(*fields).validate()
    fields[1][300] = 1.0
    Counts.create(*fields).validate()
    Counts.create(*(np.zeros(0) for _ in range(6))).validate()
