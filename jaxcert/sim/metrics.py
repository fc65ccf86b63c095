"""Monte-Carlo metrics with standard errors, from additive per-scenario sums.

Per replicate ``i`` of a scenario with truth ``theta`` and an estimator returning
``(estimate, lower, upper, status)``, let ``d_i = estimate_i - theta``. The runner
keeps only additive sums per (scenario, estimator) (:data:`SUM_FIELDS`), so chunks
combine exactly and a resumed sweep gives bit-identical results. From them, over
``R`` replicates (``R_f`` with a finite estimate):

* bias ``= mean(d)``, SE ``sd(d) / sqrt(R_f)``;
* variance ``= m2`` (central, ddof 1), SE ``sqrt((m4 - m2^2) / R_f)`` (large-sample);
* RMSE ``= sqrt(mean(d^2))``, SE by the delta method ``sd(d^2) / (2 RMSE sqrt(R_f))``;
* coverage ``= P(lower <= theta <= upper)``, SE ``sqrt(p (1 - p) / R)``; also the
  one-sided ``coverage_upper = P(theta <= upper)`` and ``coverage_lower``;
* mean width ``upper - lower`` and mean ``upper`` (the certificate), SE ``sd / sqrt(R)``;
* ``mean_estimate`` (SE ``sd / sqrt(R_f)``): for the ``box_check`` estimator, whose
  estimate is its 0/1 rejection, the detection rate on a wrong box and the
  false-alarm rate on a correct one;
* status counts (``n_converged`` ... ``n_unidentified``).

Every replicate counts: a non-converged fit keeps its (best-iterate) numbers and is
counted in ``n_max_steps``; a NaN end never covers (counted as a miss); a NaN
estimate is left out of bias/variance/RMSE only (``n_finite`` says how many remain).
"""

from __future__ import annotations

import numpy as np

from jaxcert._types import Status

__all__ = ["SUM_FIELDS", "replicate_sums", "summarize"]

SUM_FIELDS = (
    "count", "finite", "d1", "d2", "d3", "d4", "cover", "cover_upper", "cover_lower",
    "finite_iv", "width", "width2", "upper", "upper2", "est", "est2",
) + tuple(f"status_{s.name.lower()}" for s in Status)
_F = {k: i for i, k in enumerate(SUM_FIELDS)}


def replicate_sums(theta, est, lower, upper, status, scenario, num_scenarios, first=0):
    """Sums per (scenario, estimator) of one chunk of replicates (NumPy, host side).

    Args:
      theta: (P,) truth of each replicate.
      est, lower, upper, status: (E, P) estimator outputs.
      scenario: (P,) int scenario index of each replicate; ``-1`` = padding.
      num_scenarios: number of scenario rows in the output.
      first: scenario index of output row 0.

    Returns:
      float64 array ``(num_scenarios, E, len(SUM_FIELDS))``.
    """
    keep = scenario >= 0
    theta, scen = theta[keep], scenario[keep] - first
    est, lower, upper, status = (np.asarray(a)[:, keep] for a in (est, lower, upper, status))
    fin = np.isfinite(est)
    d = np.where(fin, est - theta, 0.0)
    with np.errstate(invalid="ignore"):
        cov_u = upper >= theta
        cov_l = lower <= theta
    fin_iv = np.isfinite(lower) & np.isfinite(upper)
    w = np.where(fin_iv, upper - lower, 0.0)
    u = np.where(fin_iv, upper, 0.0)
    cols = [np.ones_like(d), fin, d, d**2, d**3, d**4, cov_u & cov_l, cov_u, cov_l, fin_iv,
            w, w**2, u, u**2, np.where(fin, est, 0.0), np.where(fin, est, 0.0) ** 2] + [
                status == int(s) for s in Status]
    per = np.stack([np.asarray(c, dtype=np.float64) for c in cols], -1)  # (E, P', K)
    out = np.zeros((num_scenarios,) + per.shape[0:1] + per.shape[2:])
    np.add.at(out, scen, np.moveaxis(per, 0, 1))
    return out


def _safe(num, den):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def summarize(sums) -> dict:
    """Metrics and Monte-Carlo SEs from ``sums`` ``(..., len(SUM_FIELDS))``.

    Returns:
      dict of float arrays of shape ``(...)`` (see module docstring for names).
    """
    g = {k: sums[..., i] for k, i in _F.items()}
    R, Rf = g["count"], g["finite"]
    e1, e2, e3, e4 = (_safe(g[f"d{k}"], Rf) for k in (1, 2, 3, 4))
    m2 = np.maximum(e2 - e1**2, 0.0)
    m4 = np.maximum(e4 - 4 * e1 * e3 + 6 * e1**2 * e2 - 3 * e1**4, 0.0)
    var = _safe(m2 * Rf, Rf - 1)
    rmse = np.sqrt(e2)
    out = {
        "replicates": R, "n_finite": Rf,
        "bias": e1, "bias_se": np.sqrt(_safe(m2, Rf)),
        "variance": var, "variance_se": np.sqrt(_safe(np.maximum(m4 - m2**2, 0.0), Rf)),
        "rmse": rmse,
        "rmse_se": _safe(np.sqrt(_safe(np.maximum(e4 - e2**2, 0.0), Rf)), 2 * rmse),
    }
    for name in ("cover", "cover_upper", "cover_lower"):
        p = _safe(g[name], R)
        key = name.replace("cover", "coverage")
        out[key], out[key + "_se"] = p, np.sqrt(_safe(p * (1 - p), R))
    Ri = g["finite_iv"]
    for name in ("width", "upper"):
        mu = _safe(g[name], Ri)
        sd2 = np.maximum(_safe(g[name + "2"], Ri) - mu**2, 0.0)
        out[name if name == "width" else "upper_mean"] = mu
        out[(name if name == "width" else "upper_mean") + "_se"] = np.sqrt(_safe(sd2, Ri))
    me = _safe(g["est"], Rf)
    out["mean_estimate"] = me
    out["mean_estimate_se"] = np.sqrt(_safe(np.maximum(_safe(g["est2"], Rf) - me**2, 0.0), Rf))
    for s in Status:
        out[f"n_{s.name.lower()}"] = g[f"status_{s.name.lower()}"]
    return out
