"""The estimator registry: name -> interval function, so estimators plug into sweeps.

Every entry is a function ``f(counts, tpr_bounds, fpr_bounds, alpha, side) ->
Interval`` on ONE problem (scalar count fields, ``(2,)`` boxes, scalar traced
``alpha``, static ``side``); the runner ``jax.vmap``\\ s it over replicates and
scenarios. Baselines ignore the boxes. Add your own with :func:`register_estimator`.

Built-in names:

* ``cmle_calibrated``: constrained MLE, calibrated bound (the default;
  :mod:`jaxcert.judge.calibration`);
* ``cmle_widen``: ``cmle_calibrated`` after the box check, with a box the calibration
  data reject (level 0.01) widened by their exact interval (``on_conflict="widen"``);
* ``cmle_hull``: ``cmle_calibrated`` with both boxes always hulled with the data's
  exact 99% interval (``on_conflict="hull"``);
* ``box_check``: the box-conflict test (:mod:`jaxcert.judge.box_conflict`) as an
  "estimator": ``estimate`` is 1 when it rejects the box at level 0.01 (so the
  ``mean_estimate`` metric is the detection rate on a wrong box and the false-alarm
  rate on a correct one), ``lower = upper`` the p-value;
* ``cmle_profile``: constrained MLE, profile-likelihood interval (chi-square calibrated);
* ``cmle_wald``, ``cmle_logit``: constrained MLE, Wald / logit-Wald interval; at
  ``theta_hat`` 0 or 1 (Wald standard error 0) the calibrated bound is used;
* ``umle_profile``: profile interval with the box ``[0, 1]`` (no judge knowledge);
* ``classical``: human labels only, exact Clopper-Pearson;
* ``naive``: judge positive rate (biased by design);
* ``rogan_gladen``, ``ppi``, ``ppi_plusplus``: see :mod:`jaxcert.judge.baselines`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax.numpy as jnp

from jaxcert._types import Interval

__all__ = ["ESTIMATORS", "register_estimator", "get_estimators", "DEFAULT_ESTIMATORS"]

EstimatorFn = Callable[..., Interval]

#: Estimators compared by default in a sweep.
DEFAULT_ESTIMATORS = ("cmle_calibrated", "ppi", "ppi_plusplus", "classical")


def _cmle_calibrated(counts, tpr_bounds, fpr_bounds, alpha, side):
    from jaxcert.judge.calibration import calibrated_bound

    return calibrated_bound(counts, tpr_bounds, fpr_bounds, alpha, side)


def _cmle_widen(counts, tpr_bounds, fpr_bounds, alpha, side):
    from jaxcert.judge.box_conflict import BOX_ALPHA, widen_kernel
    from jaxcert.judge.calibration import calibrated_bound

    sb, fb, _, _ = widen_kernel(counts, tpr_bounds, fpr_bounds, BOX_ALPHA)
    return calibrated_bound(counts, sb, fb, alpha, side)


def _cmle_hull(counts, tpr_bounds, fpr_bounds, alpha, side):
    from jaxcert.judge.box_conflict import BOX_ALPHA, hull_kernel
    from jaxcert.judge.calibration import calibrated_bound

    sb, fb = hull_kernel(counts, tpr_bounds, fpr_bounds, BOX_ALPHA)
    return calibrated_bound(counts, sb, fb, alpha, side)


def _box_check(counts, tpr_bounds, fpr_bounds, alpha, side):
    from jaxcert._types import Status
    from jaxcert.judge.box_conflict import BOX_ALPHA, box_check_stats

    _, p, _, _, _, _ = box_check_stats(*tuple(counts)[:4], tpr_bounds, fpr_bounds)
    hit = (p <= BOX_ALPHA).astype(jnp.float64)
    return Interval(hit, p, p, jnp.asarray(Status.CONVERGED, jnp.int32))


def _cmle_profile(counts, tpr_bounds, fpr_bounds, alpha, side):
    from jaxcert.judge.cmle_intervals import profile_interval

    return profile_interval(counts, tpr_bounds, fpr_bounds, alpha=alpha, side=side)


def _umle_profile(counts, tpr_bounds, fpr_bounds, alpha, side):
    from jaxcert.judge.cmle_intervals import profile_interval

    unit = jnp.array([0.0, 1.0])
    return profile_interval(counts, unit, unit, alpha=alpha, side=side)


def _wald(kind):
    def fn(counts, tpr_bounds, fpr_bounds, alpha, side):
        from jaxcert.judge.calibration import calibrated_bound
        from jaxcert.judge.cmle_intervals import wald_interval

        iv = wald_interval(counts, tpr_bounds, fpr_bounds, alpha=alpha, side=side, kind=kind)
        # theta_hat at 0 or 1: se = 0 (zero width) or a [0, 1] logit interval; calibrated.
        degenerate = (iv.estimate <= 1e-9) | (iv.estimate >= 1.0 - 1e-9)
        cal = calibrated_bound(counts, tpr_bounds, fpr_bounds, alpha, side)
        return Interval(*(jnp.where(degenerate, b, a) for a, b in zip(iv, cal, strict=True)))

    return fn


def _baseline(name):
    def fn(counts, tpr_bounds, fpr_bounds, alpha, side):
        from jaxcert.judge import baselines

        return getattr(baselines, name)(counts, alpha=alpha, side=side)

    fn.__name__ = name
    return fn


#: The registry (a plain dict: name -> function).
ESTIMATORS: dict[str, EstimatorFn] = {
    "cmle_calibrated": _cmle_calibrated,
    "cmle_widen": _cmle_widen,
    "cmle_hull": _cmle_hull,
    "box_check": _box_check,
    "cmle_profile": _cmle_profile,
    "cmle_wald": _wald("wald"),
    "cmle_logit": _wald("logit"),
    "umle_profile": _umle_profile,
    "classical": _baseline("classical"),
    "naive": _baseline("naive"),
    "rogan_gladen": _baseline("rogan_gladen"),
    "ppi": _baseline("ppi"),
    "ppi_plusplus": _baseline("ppi_plusplus"),
}


def register_estimator(name: str, fn: EstimatorFn, *, overwrite: bool = False) -> None:
    """Adds ``fn(counts, tpr_bounds, fpr_bounds, alpha, side) -> Interval`` as ``name``.

    ``fn`` must be traceable (no Python control flow on its array arguments) and
    take one problem (scalar count fields); it is vmapped by the runner.

    Raises:
      ValueError: ``name`` is empty or taken (unless ``overwrite``), or ``fn`` is not
        callable.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"estimator name must be a non-empty string; got {name!r}")
    if not callable(fn):
        raise ValueError(f"estimator {name!r} must be callable; got {type(fn).__name__}")
    if name in ESTIMATORS and not overwrite:
        raise ValueError(f"estimator {name!r} is already registered (pass overwrite=True)")
    ESTIMATORS[name] = fn


def get_estimators(names: Sequence[str] | None = None) -> tuple[str, ...]:
    """Validates estimator names (``None`` = :data:`DEFAULT_ESTIMATORS`); returns them.

    Raises:
      ValueError: an unknown or duplicated name (the message lists the known names).
    """
    names = tuple(DEFAULT_ESTIMATORS if names is None else names)
    if not names:
        raise ValueError("estimators is empty; give at least one estimator name")
    unknown = [n for n in names if n not in ESTIMATORS]
    if unknown:
        raise ValueError(f"unknown estimator(s) {unknown}; known: {sorted(ESTIMATORS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"estimators contains duplicates: {list(names)}")
    return names
