"""Study configuration files (TOML): strict parsing, precise errors.

Example ``study.toml``::

    [study]
    replicates = 1000          # per scenario
    seed = 0
    side = "upper"             # "two-sided" | "upper" | "lower"
    estimators = ["cmle_profile", "ppi", "ppi_plusplus", "classical"]
    chunk_size = 2048

    [grid]                     # cartesian product of the axes
    accuracy = [0.7, 0.9]      # balanced judge: tpr = a, fpr = 1 - a (or tpr/fpr)
    n = [50, 200]
    theta = [0.05, 0.1]
    N = [1000, 10000]
    box = ["exact", "+-0.05", "shifted"]
    alpha = 0.05

Several grids can be unioned with ``[[grids]]`` tables instead of one ``[grid]``.
Unknown tables or keys are rejected (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import tomllib
from typing import NamedTuple

from jaxcert._validate import check_side
from jaxcert.sim.registry import get_estimators
from jaxcert.sim.scenarios import GRID_KEYS, Grid, concat_grids, product_grid

__all__ = ["StudyConfig", "load_config", "parse_config"]

STUDY_KEYS = ("replicates", "seed", "side", "estimators", "chunk_size", "name", "description")
TOP_KEYS = ("study", "grid", "grids")


class StudyConfig(NamedTuple):
    """A parsed study: the grid plus run settings (and the raw dict for run.json)."""

    grid: Grid
    replicates: int
    seed: int
    side: str
    estimators: tuple
    chunk_size: int
    raw: dict


def _int(v, name, lo):
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise ValueError(f"{name} must be an integer >= {lo}; got {v!r}")
    return v


def _unknown(d, allowed, where):
    bad = sorted(set(d) - set(allowed))
    if bad:
        raise ValueError(f"{where}: unknown key(s) {bad}; allowed: {list(allowed)}")


def parse_config(raw: dict, *, source: str = "config") -> StudyConfig:
    """Validates a configuration dict (as read from TOML) and builds the grid.

    Raises:
      ValueError: unknown table or key, missing grid, bad value (the message names
        the key, the value and what was expected).
    """
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: expected a table at the top level")
    _unknown(raw, TOP_KEYS, source)
    study = raw.get("study", {})
    if not isinstance(study, dict):
        raise ValueError(f"{source}: [study] must be a table")
    _unknown(study, STUDY_KEYS, f"{source} [study]")
    if ("grid" in raw) == ("grids" in raw):
        raise ValueError(f"{source}: give exactly one of [grid] or [[grids]]")
    tables = [raw["grid"]] if "grid" in raw else raw["grids"]
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise ValueError(
            f"{source}: [grid] must be a table ([[grids]] a non-empty array of tables)")
    grids = []
    for i, t in enumerate(tables):
        where = f"{source} grid" if "grid" in raw else f"{source} grids[{i}]"
        _unknown(t, GRID_KEYS, where)
        for req in ("theta", "n", "N"):
            if req not in t:
                raise ValueError(f"{where}: missing required key {req!r}")
        grids.append(product_grid(where=where, **t))
    grid = grids[0] if len(grids) == 1 else concat_grids(grids)
    side = study.get("side", "upper")
    try:
        check_side(side)
    except ValueError as e:
        raise ValueError(f"{source} [study].{e}") from None
    est = study.get("estimators")
    if est is not None and (not isinstance(est, list) or not all(isinstance(e, str) for e in est)):
        raise ValueError(f"{source} [study].estimators must be a list of names; got {est!r}")
    return StudyConfig(
        grid=grid,
        replicates=_int(study.get("replicates", 1000), f"{source} [study].replicates", 1),
        seed=_int(study.get("seed", 0), f"{source} [study].seed", 0),
        side=side,
        estimators=get_estimators(est),
        chunk_size=_int(study.get("chunk_size", 2048), f"{source} [study].chunk_size", 1),
        raw=raw,
    )


def load_config(path) -> StudyConfig:
    """Reads and validates a TOML study file (see module docstring).

    Raises:
      FileNotFoundError: no such file.
      ValueError: not valid TOML, or an invalid configuration.
    """
    with open(path, "rb") as fh:
        try:
            raw = tomllib.load(fh)
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"{path}: not valid TOML: {e}") from None
    return parse_config(raw, source=str(path))
