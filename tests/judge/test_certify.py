"""``certify``: same numbers as the underlying estimators, validation, rendering."""

import json
import math

import jax
import numpy as np
import pytest
import scipy.stats

from jaxcert import Counts
from jaxcert.judge import cmle_intervals as ci
from jaxcert.judge import front_door
from jaxcert.judge.calibration import calibrated_interval
from jaxcert.judge.front_door import ALL_ORDER, CertifyResult, CertifyTable, certify
from jaxcert.judge.likelihood import umle
from jaxcert.judge.solver import mle

EXACT = dict(rtol=0, atol=0)  # same function, same inputs: bit-identical
ORACLE = dict(rtol=1e-9, atol=1e-12)  # independent closed form / scipy

# 40 human-labelled items (TPR 10/12, FPR 3/28) and 200 judge-only (60 judge positives).
C = Counts.create(10, 2, 3, 25, m1=60, m0=140)
TPR_BOX, FPR_BOX = (0.75, 0.95), (0.02, 0.12)


def _labels(c: Counts):
    """Per-item labels reproducing counts ``c`` (human NaN = judge-only)."""
    n11, n10, n01, n00, m1, m0 = (int(v) for v in c)
    human = [1] * (n11 + n10) + [0] * (n01 + n00) + [None] * (m1 + m0)
    judge = [1] * n11 + [0] * n10 + [1] * n01 + [0] * n00 + [1] * m1 + [0] * m0
    return human, judge


HUMAN, JUDGE = _labels(C)


@pytest.fixture(scope="module")
def cmle_two_sided():
    return certify(HUMAN, JUDGE, tpr=TPR_BOX, fpr=FPR_BOX)


def test_cmle_equals_solver_and_calibrated_bound(cmle_two_sided):
    r = cmle_two_sided
    fit = mle(C, TPR_BOX, FPR_BOX)
    iv = calibrated_interval(C, TPR_BOX, FPR_BOX, alpha=0.05, side="two-sided")
    np.testing.assert_allclose(r.estimate, float(fit.theta), **EXACT)
    np.testing.assert_allclose([r.lower, r.upper], [float(iv.lower), float(iv.upper)], **EXACT)
    np.testing.assert_allclose([r.tpr_hat, r.fpr_hat], [float(fit.tpr), float(fit.fpr)], **EXACT)
    assert r.lower < r.estimate < r.upper
    assert (r.method, r.n_labeled, r.n_unlabeled, r.status) == ("cmle", 40, 200, "converged")
    assert r.diagnostics["kkt_residual"] <= 1e-8 and r.diagnostics["solver"] in ("exact", "newton")
    assert r.interval == "calibrated"
    assert r.box_check["rejected"] is False and r.box_check["contradicted"] is None


# ~40 s of compiles on 2 cores: slow tier (profile_interval itself is checked in
# test_cmle_intervals).
@pytest.mark.slow
def test_profile_interval_stays_available():
    r = certify(C, tpr=TPR_BOX, fpr=FPR_BOX, interval="profile", side="upper")
    iv = ci.profile_interval(C, TPR_BOX, FPR_BOX, alpha=0.05, side="upper")
    np.testing.assert_allclose(r.upper, float(iv.upper), **EXACT)
    assert r.interval == "profile"
    # the calibrated bound is never below the profile bound
    assert certify(C, tpr=TPR_BOX, fpr=FPR_BOX, side="upper").upper >= r.upper


def test_counts_input_equals_label_input(cmle_two_sided):
    assert certify(C, tpr=TPR_BOX, fpr=FPR_BOX).to_dict() == cmle_two_sided.to_dict()


@pytest.mark.slow  # compile-bound (20-40 s on 2 cores): keeps the default tier under 10 min; CI runs both
def test_upper_certificate_and_json():
    r = certify(HUMAN, JUDGE, tpr=TPR_BOX, fpr=FPR_BOX, side="upper", alpha=0.1)
    iv = calibrated_interval(C, TPR_BOX, FPR_BOX, alpha=0.1, side="upper")
    np.testing.assert_allclose(r.upper, float(iv.upper), **EXACT)
    assert r.lower == 0.0
    assert r.certificate == (f"failure rate <= {r.upper:.4g} with 90% confidence "
                             "(method cmle, calibrated interval)")
    d = json.loads(r.to_json())
    for k in ("method", "estimate", "lower", "upper", "alpha", "side", "n_labeled",
              "n_unlabeled", "tpr_hat", "fpr_hat", "active", "status", "diagnostics",
              "box_check", "warnings"):
        assert k in d
    assert d["side"] == "upper" and d["alpha"] == 0.1
    assert "failure rate <=" in str(r)


@pytest.mark.parametrize("kind", ["wald", "logit"])
def test_wald_kinds_equal_wald_interval(kind):
    r = certify(C, tpr=TPR_BOX, fpr=FPR_BOX, interval=kind)
    iv = ci.wald_interval(C, TPR_BOX, FPR_BOX, alpha=0.05, side="two-sided", kind=kind)
    np.testing.assert_allclose([r.estimate, r.lower, r.upper],
                               [float(iv.estimate), float(iv.lower), float(iv.upper)], **EXACT)


@pytest.mark.slow  # compile-bound (20-40 s on 2 cores): keeps the default tier under 10 min; CI runs both
def test_bootstrap_uses_the_key():
    key = jax.random.key(3)
    r = certify(C, tpr=TPR_BOX, fpr=FPR_BOX, interval="bootstrap", key=key, num_boot=64)
    iv = ci.bootstrap_interval(key, C, TPR_BOX, FPR_BOX, alpha=0.05, num_boot=64)
    np.testing.assert_allclose([r.lower, r.upper], [float(iv.lower), float(iv.upper)], **EXACT)
    with pytest.raises(ValueError, match="needs a PRNG key"):
        certify(C, interval="bootstrap")


def test_umle_matches_closed_form():
    r = certify(C, method="umle")
    theta, s, f = umle(C)  # Tenenbein's closed form: an independent oracle
    np.testing.assert_allclose([r.estimate, r.tpr_hat, r.fpr_hat],
                               [float(theta), float(s), float(f)], **ORACLE)
    assert r.tpr_box is None and r.active == ()
    with pytest.raises(ValueError, match="method='umle' does not use tpr/fpr"):
        certify(C, method="umle", tpr=TPR_BOX)


def test_active_constraint_and_box_warning():
    # calibration TPR is 10/12 = 0.83: a box [0.9, 0.95] binds at its lower end
    r = certify(C, tpr=(0.9, 0.95))
    assert r.active == ("tpr>=0.9",)
    # 10/12 = 0.833 < 0.9 is not evidence enough against the box at level 0.01
    assert r.box_check["contradicted"] == "tpr >= 0.9" and not r.box_check["rejected"]
    assert any("fall outside the box (tpr >= 0.9 is crossed)" in w for w in r.warnings)
    assert "active constraints: tpr>=0.9" in str(r)


def test_classical_equals_clopper_pearson_oracle():
    r = certify(C, method="classical")
    lo, hi = scipy.stats.binomtest(12, 40).proportion_ci(0.95, method="exact")
    np.testing.assert_allclose([r.estimate, r.lower, r.upper], [12 / 40, lo, hi], **ORACLE)


def test_zero_failures_give_finite_upper_bounds():
    c0 = Counts.create(0, 0, 2, 38, m1=5, m0=195)
    up = certify(c0, method="classical", side="upper", alpha=0.05)
    np.testing.assert_allclose(up.upper, 1 - 0.05 ** (1 / 40), **ORACLE)
    cm = certify(c0, tpr=TPR_BOX, fpr=FPR_BOX, side="upper")
    assert cm.estimate == pytest.approx(0.0, abs=1e-9)
    assert math.isfinite(cm.upper) and 0 < cm.upper < 1
    assert "theta>=0" in cm.active


@pytest.mark.parametrize("method", ["ppi", "ppi++", "rogan-gladen", "naive"])
def test_baselines_pass_through(method):
    from jaxcert.judge import baselines

    fn = {"ppi": baselines.ppi, "ppi++": baselines.ppi_plusplus,
          "rogan-gladen": baselines.rogan_gladen, "naive": baselines.naive}[method]
    iv = fn(C, alpha=0.05, side="two-sided")
    r = certify(HUMAN, JUDGE, method=method)
    np.testing.assert_allclose([r.estimate, r.lower, r.upper],
                               [float(iv.estimate), float(iv.lower), float(iv.upper)], **EXACT)


def test_ppi_point_estimate_closed_form():
    # PPI: mean(J_unlabelled) - mean(J_cal - Y) (methods.md)
    r = certify(C, method="ppi")
    np.testing.assert_allclose(r.estimate, 60 / 200 - (13 / 40 - 12 / 40), **ORACLE)


def test_all_table(cmle_two_sided):
    t = certify(HUMAN, JUDGE, tpr=TPR_BOX, fpr=FPR_BOX, method="all")
    assert isinstance(t, CertifyTable)
    assert tuple(r.method for r in t.rows) == ALL_ORDER
    assert t["cmle"].to_dict() == cmle_two_sided.to_dict()
    assert t["umle"].tpr_box is None  # umle is the unconstrained fit by definition
    d = json.loads(t.to_json())
    assert [r["method"] for r in d["results"]] == list(ALL_ORDER)
    assert d["n_labeled"] == 40 and d["n_unlabeled"] == 200
    text = t.render(truth=0.3)
    assert "covers" in text and "truth (all human labels): 0.3000" in text
    for m in ALL_ORDER:
        assert m in text


# ----------------------------------------------------------------- chance-level judges
def test_box_forcing_chance_raises():
    with pytest.raises(ValueError, match=r"no better than chance.*method='classical'"):
        certify(C, tpr=(0.1, 0.2), fpr=(0.3, 0.4))


def test_fitted_chance_raises_and_all_records_it():
    bad = Counts.create(2, 8, 7, 3, m1=50, m0=50)  # calibration TPR 0.2 < FPR 0.7
    for method in ("umle", "cmle", "rogan-gladen"):
        with pytest.raises(ValueError, match=r"no better than chance.*method='classical'"):
            certify(bad, method=method)
    t = certify(bad, method="all")
    for m in ("umle", "cmle", "rogan-gladen"):
        assert t[m].status == "error" and t[m].estimate is None
        assert "no better than chance" in t[m].diagnostics["error"]
    assert t["classical"].ok
    json.loads(t.to_json())  # still valid JSON


# ----------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "args,kwargs,match",
    [
        (([1, 0], [1]), {}, "different lengths"),
        (([1, "maybe"], [1, 0]), {}, r"human label at row 1 is 'maybe'"),
        (([], []), {}, "empty"),
        (([None, None], [1, 0]), {}, "no human-labelled item"),
        (([1, 0], [1, None]), {}, "judge label at row 1 is missing"),
        (([1, 0], None), {}, "judge labels are missing"),
        ((C, [1, 0]), {}, "pass either Counts"),
        ((C,), {"tpr": (0.9, 0.8)}, r"tpr is infeasible: lo > hi"),
        ((C,), {"fpr": (-0.1, 0.2)}, r"fpr must lie inside \[0, 1\]"),
        ((C,), {"tpr": (0.1, 0.2, 0.3)}, r"tpr must have shape"),
        ((C,), {"tpr": [(0.1, 0.2), (0.3, 0.4)]}, r"tpr must be one \(lo, hi\) pair"),
        ((C,), {"alpha": 1.5}, r"alpha must be in \(0, 1\)"),
        ((C,), {"alpha": [0.1, 0.2]}, r"alpha must be a single number"),
        ((C,), {"side": "both"}, "side must be one of"),
        ((C,), {"method": "mle"}, "method must be one of"),
        ((C,), {"interval": "exact"}, "interval must be one of"),
        ((C,), {"method": "ppi", "fpr": (0, 0.1)}, "does not use tpr/fpr"),
        ((Counts.create([1, 2], 1, 1, 1),), {}, "certify takes one data set"),
        ((Counts.create(0, 0, 0, 0, 5, 5),), {}, "calibration set is empty"),
    ],
)
def test_validation_errors(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        certify(*args, **kwargs)


def test_failed_row_renders():
    r = CertifyResult.failed("cmle", "boom", alpha=0.05, side="upper", n_labeled=1,
                             n_unlabeled=0)
    assert r.certificate.startswith("no certificate (method cmle): boom")
    assert r.to_dict()["estimate"] is None and r.width is None


def test_new_data_alpha_and_boxes_do_not_recompile(cmle_two_sided):
    from jaxcert.judge import calibration, solver

    sizes = lambda: (calibration._calibrated_jit._cache_size(),  # noqa: E731
                     solver._mle_jit._cache_size())
    before = sizes()
    certify(Counts.create(11, 2, 3, 24, m1=61, m0=139), tpr=(0.6, 0.95), fpr=None, alpha=0.1)
    assert sizes() == before


@pytest.mark.slow
@pytest.mark.parametrize("model", ["llama2orig", "mistralguard"])
def test_xstest_hidden_label_coverage(model):
    """Real-data realism check: hide all but 50 labels (200 seeds), cover the truth,
    with narrower intervals than the human labels alone.

    The truth is the finite-population rate of the 450 items, so nominal intervals
    are, if anything, conservative; the tolerance is 3 Monte-Carlo standard errors.
    """
    from jaxcert.cli._demo import transfer_box
    from jaxcert.datasets import load_xstest

    data = load_xstest("strmatch")
    tpr_box, fpr_box, _ = transfer_box(data, model)
    d = data.subset(data.model == model)
    reps, covered, widths, classical_widths = 200, 0, [], []
    for seed in range(reps):
        keep = np.asarray(jax.random.permutation(jax.random.key(seed), len(d)))[:50]
        human = np.full(len(d), np.nan)
        human[keep] = d.human[keep]
        r = certify(human, d.judge, tpr=tpr_box, fpr=fpr_box)
        covered += r.lower <= d.truth <= r.upper
        widths.append(r.width)
        classical_widths.append(certify(human, d.judge, method="classical").width)
    se = math.sqrt(0.95 * 0.05 / reps)
    assert covered / reps >= 0.95 - 3 * se
    # the judge-only items must buy precision over the 50 human labels alone
    assert np.mean(widths) < np.mean(classical_widths)


def test_public_names():
    assert sorted(front_door.__all__) == ["BoxConflictError", "CertifyResult", "CertifyTable",
                                          "INTERVALS", "METHODS", "certify"]
    assert set(ALL_ORDER) == set(front_door.METHODS)
    # no module shares its name with a function (issue 9, item 5)
    import pkgutil

    import jaxcert.judge as judge

    modules = {m.name for m in pkgutil.iter_modules(judge.__path__)}
    assert not modules & set(judge.__all__)


def test_unconverged_fit_is_reported(monkeypatch):
    from jaxcert.judge import _certify_methods

    real = _certify_methods._fit

    def fake(*a, **k):
        fit, solver = real(*a, **k)
        return fit._replace(status=np.int32(1)), solver

    monkeypatch.setattr(_certify_methods, "_fit", fake)
    r = certify(C, tpr=TPR_BOX, fpr=FPR_BOX)
    assert r.status == "max-steps"
    assert any(w.startswith("status max-steps") for w in r.diagnostics["warnings"])


def test_box_is_validated_once(monkeypatch):
    """One front door: the box goes through check_box exactly once per certify call."""
    from jaxcert import _validate

    calls = []
    real = _validate.check_box

    def counting(b, name):
        calls.append(name)
        return real(b, name)

    for mod in (front_door, solver_module()):
        if hasattr(mod, "check_box"):
            monkeypatch.setattr(mod, "check_box", counting)
    certify(C, tpr=TPR_BOX, fpr=FPR_BOX, interval="calibrated")
    assert calls == ["tpr", "fpr"]


def solver_module():
    from jaxcert.judge import solver

    return solver


def test_bayes_method_equals_posterior_summary():
    from jaxcert.bayes import make_prior, posterior_summary

    r = certify(C, tpr=TPR_BOX, fpr=FPR_BOX, method="bayes", side="upper")
    post = posterior_summary(C, make_prior(TPR_BOX, FPR_BOX), alpha=0.05, side="upper")
    np.testing.assert_allclose([r.estimate, r.lower, r.upper],
                               [float(post.mean), float(post.lower), float(post.upper)],
                               **EXACT)
    assert r.interval == "credible" and r.tpr_box == TPR_BOX
