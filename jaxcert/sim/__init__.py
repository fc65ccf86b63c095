"""Simulation studies: scenario grids, vmapped/sharded/multi-process sweeps, metrics, planning,
checking a labelling design."""

from jaxcert.sim.config import StudyConfig, load_config, parse_config
from jaxcert.sim.design_check import DesignCheck, check_design
from jaxcert.sim.distributed import initialize_distributed
from jaxcert.sim.merge import merge_sweeps
from jaxcert.sim.metrics import SUM_FIELDS, summarize
from jaxcert.sim.plan import PlanResult, format_plan, plan_sample_size
from jaxcert.sim.registry import DEFAULT_ESTIMATORS, ESTIMATORS, get_estimators, register_estimator
from jaxcert.sim.results import read_table
from jaxcert.sim.runner import build_chunk_fn, maybe_initialize_distributed, run_problems
from jaxcert.sim.scenarios import Grid, Scenario, accuracy_to_rates, box_bounds, product_grid
from jaxcert.sim.simulate import cell_probabilities, simulate_counts
from jaxcert.sim.sweep import SweepResult, run_sweep

__all__ = [
    "DEFAULT_ESTIMATORS",
    "DesignCheck",
    "ESTIMATORS",
    "Grid",
    "PlanResult",
    "SUM_FIELDS",
    "Scenario",
    "StudyConfig",
    "SweepResult",
    "accuracy_to_rates",
    "box_bounds",
    "build_chunk_fn",
    "check_design",
    "cell_probabilities",
    "format_plan",
    "get_estimators",
    "initialize_distributed",
    "load_config",
    "maybe_initialize_distributed",
    "merge_sweeps",
    "parse_config",
    "plan_sample_size",
    "product_grid",
    "read_table",
    "register_estimator",
    "run_problems",
    "run_sweep",
    "simulate_counts",
    "summarize",
]
