"""Robustness margins: dU/d(bound) and the tipping box, checked by re-certifying."""

import numpy as np
import pytest

from jaxcert import Counts
from jaxcert.judge import certify

# A large judge-only set and a small calibration set: the boxes carry the certificate.
C = Counts.create(2, 0, 3, 45, m1=1200, m0=18800)
TPR, FPR = (0.85, 0.95), (0.02, 0.05)


def _upper(tpr, fpr, interval="calibrated"):
    return certify(C, tpr=tpr, fpr=fpr, side="upper", interval=interval).upper


@pytest.mark.slow
@pytest.mark.parametrize("interval", ["calibrated", "profile"])
def test_sensitivity_matches_central_differences_of_certify(interval):
    res = certify(C, tpr=TPR, fpr=FPR, side="upper", interval=interval, sensitivity=True)
    box = np.array(TPR + FPR)
    h = 1e-6
    for i, name in enumerate(("tpr_lo", "tpr_hi", "fpr_lo", "fpr_hi")):
        e = np.zeros(4)
        e[i] = h
        up, dn = box + e, box - e
        fd = (_upper(tuple(up[:2]), tuple(up[2:]), interval)
              - _upper(tuple(dn[:2]), tuple(dn[2:]), interval)) / (2 * h)
        assert abs(res.sensitivity[name] - fd) <= 1e-5 * max(abs(fd), 1e-2), (name, fd)
    # In this regime the lower TPR and FPR bounds hold the bound down.
    assert res.sensitivity["tpr_lo"] < 0 and res.sensitivity["fpr_lo"] < 0


# ~35 s of compiles on 2 cores: slow tier. The default tier keeps the edge cases below
# and the CLI --target test.
@pytest.mark.slow
def test_tipping_box_recertifies_at_the_target():
    eps = 0.06
    res = certify(C, tpr=TPR, fpr=FPR, side="upper", target=eps)
    tb = res.tipping
    assert tb["holds"] and res.upper <= eps
    moved = {k: v for k, v in tb["bounds"].items() if v is not None}
    assert "tpr_lo" in moved and moved["tpr_lo"] < TPR[0]
    for name, value in moved.items():
        box = {"tpr_lo": (value, TPR[1]), "tpr_hi": (TPR[0], value)}.get(name, TPR)
        fbox = {"fpr_lo": (value, FPR[1]), "fpr_hi": (FPR[0], value)}.get(name, FPR)
        assert abs(_upper(box, fbox) - eps) <= 1e-6, name
    d = tb["margin"]
    assert d is not None and d > 0
    wide = (max(TPR[0] - d, 0.0), min(TPR[1] + d, 1.0)), (max(FPR[0] - d, 0.0), FPR[1] + d)
    assert abs(_upper(*wide) - eps) <= 1e-6
    # Half-way to each tipping point the certificate still holds.
    half = (TPR[0] - 0.5 * (TPR[0] - moved["tpr_lo"]), TPR[1])
    assert _upper(half, FPR) < eps
    assert f"the TPR lower bound stays in [{moved['tpr_lo']:.4g}" in tb["summary"]
    # Both directions: every end of a range that is not its path's limit is a crossing.
    limits = {"tpr_lo": (0.0, TPR[1]), "tpr_hi": (TPR[0], 1.0), "fpr_lo": (0.0, FPR[1]),
              "fpr_hi": (FPR[0], 1.0)}
    checked = 0
    for name, ends in tb["ranges"].items():
        for value in ends:
            if min(abs(value - lim) for lim in limits[name]) < 1e-9:
                continue
            box = {"tpr_lo": (value, TPR[1]), "tpr_hi": (TPR[0], value)}.get(name, TPR)
            fbox = {"fpr_lo": (value, FPR[1]), "fpr_hi": (FPR[0], value)}.get(name, FPR)
            assert abs(_upper(box, fbox) - eps) <= 1e-6, (name, value)
            checked += 1
    assert checked >= 1


@pytest.mark.slow
def test_tightening_can_break_a_certificate():
    """U is not monotone in the box: a tighter FPR cap raises it here (the profile
    point sits on fpr_hi), so the tipping box also searches inward."""
    fpr = (0.0, 0.03)
    base = certify(C, tpr=TPR, fpr=fpr, side="upper", sensitivity=True)
    assert base.sensitivity["fpr_hi"] < 0
    eps = base.upper + 5e-4
    res = certify(C, tpr=TPR, fpr=fpr, side="upper", target=eps)
    lo, hi = res.tipping["ranges"]["fpr_hi"]
    assert 0.0 < lo < fpr[1] < hi
    assert abs(_upper(TPR, (0.0, lo)) - eps) <= 1e-6
    # Here loosening breaks it too, further out (U comes back up past fpr_hi ~ 0.035).
    assert res.tipping["bounds"]["fpr_hi"] == hi
    assert abs(_upper(TPR, (0.0, hi)) - eps) <= 1e-6


@pytest.mark.slow  # compile-bound (20-40 s on 2 cores): keeps the default tier under 10 min; CI runs both
def test_tipping_box_when_the_certificate_already_fails():
    res = certify(C, tpr=TPR, fpr=FPR, side="upper", target=0.01)
    assert not res.tipping["holds"]
    assert all(v is None for v in res.tipping["bounds"].values())
    assert "does not hold" in res.tipping["summary"]


def test_methods_without_boxes_say_so():
    res = certify(C, method="ppi", side="upper", target=0.05)
    assert res.tipping is None and res.sensitivity is None
    assert any("no robustness margins" in w for w in res.warnings)
    with pytest.raises(ValueError, match="target must be a number in"):
        certify(C, tpr=TPR, fpr=FPR, target=1.5)
