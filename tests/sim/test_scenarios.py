"""Scenario grids: product order, box specs, validation (no JAX compilation)."""

import numpy as np
import pytest

import jaxcert.sim as sim
from jaxcert.sim.config import parse_config
from jaxcert.sim.scenarios import box_bounds, product_grid


def test_public_names_frozen():
    assert sorted(sim.__all__) == sorted([
        "DEFAULT_ESTIMATORS", "ESTIMATORS", "Grid", "PlanResult", "SUM_FIELDS", "Scenario",
        "StudyConfig", "format_plan", "plan_sample_size",
        "SweepResult", "accuracy_to_rates", "box_bounds", "build_chunk_fn", "cell_probabilities",
        "get_estimators", "load_config", "maybe_initialize_distributed", "parse_config",
        "product_grid", "register_estimator", "run_problems", "run_sweep", "simulate_counts",
        "summarize", "initialize_distributed", "merge_sweeps", "read_table", "DesignCheck",
        "check_design"])


def test_product_order_and_accuracy_mapping():
    g = product_grid(theta=[0.1, 0.2], n=[10, 20, 30], N=[0, 100], accuracy=[0.7, 0.9],
                     box=["exact", "+-0.05"])
    assert g.size == 2 * 3 * 2 * 2 * 2
    # judge slowest, box fastest (alpha has one value)
    np.testing.assert_array_equal(g.accuracy[:24], 0.7)
    assert g.box[:2] == ("exact", "+-0.05")
    np.testing.assert_allclose(g.tpr, g.accuracy)
    np.testing.assert_allclose(g.fpr, 1 - g.accuracy)
    # scenarios differing only by box share their data id
    assert g.data_id[0] == g.data_id[1] and g.data_id[0] != g.data_id[2]
    assert len(np.unique(g.data_id)) == g.size // 2
    row = g.scenario(1)
    np.testing.assert_allclose(row["tpr_box"], [0.65, 0.75])


@pytest.mark.parametrize("spec, sb, fb", [
    ("exact", [0.9, 0.9], [0.1, 0.1]),
    ("none", [0.0, 1.0], [0.0, 1.0]),
    ("+-0.05", [0.85, 0.95], [0.05, 0.15]),
    ("±0.2", [0.7, 1.0], [0.0, 0.3]),  # clipped to [0, 1]
    ("shifted", [0.83, 0.87], [0.13, 0.17]),  # worse judge claimed: tpr - 0.05, fpr + 0.05
    ("shifted:-0.05:0.01", [0.94, 0.96], [0.04, 0.06]),
    ({"tpr": [0.8, 0.99], "fpr": [0.0, 0.2]}, [0.8, 0.99], [0.0, 0.2]),
])
def test_box_specs(spec, sb, fb):
    s, f = box_bounds(spec, 0.9, 0.1)
    np.testing.assert_allclose(s, sb, atol=1e-12)
    np.testing.assert_allclose(f, fb, atol=1e-12)


def test_shifted_excludes_truth():
    g = product_grid(theta=0.1, n=10, N=10, accuracy=[0.6, 0.95], box=["shifted", "+-0.02"])
    cov = g.columns()["box_covers_truth"]
    assert cov.tolist() == [False, True, False, True]


@pytest.mark.parametrize("kwargs, match", [
    (dict(n=[0]), r"grid\.n must be >= 1; got 0"),
    (dict(n=[2.5]), r"grid\.n must hold integers"),
    (dict(theta=[1.5]), r"grid\.theta must be <= 1; got 1.5"),
    (dict(theta=[-0.1]), r"grid\.theta must be >= 0"),
    (dict(N=[-1]), r"grid\.N must be >= 0; got -1"),
    (dict(alpha=[1.0]), r"grid\.alpha must be < 1"),
    (dict(theta=[]), r"grid\.theta is empty"),
    (dict(theta=["a"]), r"grid\.theta must hold numbers"),
    (dict(box=["wide"]), r"grid\.box\[0\]: unknown box spec 'wide'"),
    (dict(box=["+-x"]), r"unknown box spec"),
    (dict(box=["+--0.1"]), r"box width must be a finite number >= 0"),
    (dict(box=[{"tpr": [0.9, 0.8], "fpr": [0, 0.1]}]), r"tpr is infeasible: lo > hi"),
    (dict(box=[{"tpr": [0.8, 1.2], "fpr": [0, 0.1]}]), r"tpr must lie inside \[0, 1\]"),
    (dict(box=[{"tpr": [0.8, 0.9]}]), r"exactly the keys tpr and fpr"),
    (dict(tpr=[0.9]), r"either accuracy or tpr and fpr"),
])
def test_grid_validation(kwargs, match):
    base = dict(theta=[0.1], n=[10], N=[100], accuracy=[0.9])
    base.update(kwargs)
    with pytest.raises(ValueError, match=match):
        product_grid(**base)


def test_config_unknown_keys_and_grids():
    ok = {"study": {"replicates": 5}, "grid": {"theta": 0.1, "n": 10, "N": 0, "tpr": 0.9,
                                                 "fpr": [0.05, 0.1]}}
    cfg = parse_config(ok)
    assert cfg.grid.size == 2 and cfg.replicates == 5 and cfg.side == "upper"
    with pytest.raises(ValueError, match=r"\[study\]: unknown key\(s\) \['replicate'\]"):
        parse_config({"study": {"replicate": 5}, "grid": ok["grid"]})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['thetas'\]"):
        parse_config({"grid": {**ok["grid"], "thetas": 1}})
    with pytest.raises(ValueError, match=r"missing required key 'n'"):
        parse_config({"grid": {"theta": 0.1, "N": 1, "accuracy": 0.9}})
    with pytest.raises(ValueError, match=r"unknown estimator\(s\) \['cmle'\]"):
        parse_config({"study": {"estimators": ["cmle"]}, "grid": ok["grid"]})
    with pytest.raises(ValueError, match=r"side must be one of"):
        parse_config({"study": {"side": "up"}, "grid": ok["grid"]})
    two = parse_config({"grids": [ok["grid"], {**ok["grid"], "n": 20}]})
    assert two.grid.size == 4 and len(np.unique(two.grid.data_id)) == 4
