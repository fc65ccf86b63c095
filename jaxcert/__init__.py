"""jaxcert: defensible LLM failure-rate certificates in JAX.

Importing jaxcert enables float64 in JAX (``jax_enable_x64``): the binomial tails and
rare-event weights that certificates rest on are wrong in float32.

Sub-packages: :mod:`jaxcert.judge` (constrained MLE, PPI/PPI++ baselines, certify),
:mod:`jaxcert.intervals` (exact binomial intervals), :mod:`jaxcert.rare` (five-nines
CEM + importance sampling), :mod:`jaxcert.sim` (simulation studies),
:mod:`jaxcert.datasets` (bundled real data), :mod:`jaxcert.cli`.
"""

import jax as _jax

_jax.config.update("jax_enable_x64", True)

from jaxcert import datasets, intervals, judge, rare, sim  # noqa: E402
from jaxcert._types import Interval, Status  # noqa: E402
from jaxcert.counts import Counts  # noqa: E402
from jaxcert.intervals import clopper_pearson, uniform_samples_needed, wilson  # noqa: E402
from jaxcert.judge import (  # noqa: E402
    BoxConflictError,
    CertifyResult,
    MLEResult,
    bootstrap_interval,
    calibrated_interval,
    certify,
    classical,
    mle,
    naive,
    ppi,
    ppi_mean_ci,
    ppi_plusplus,
    profile_interval,
    rogan_gladen,
    umle,
    wald_interval,
)

__version__ = "0.1.0"

__all__ = [
    "Counts",
    "Interval",
    "Status",
    "certify",
    "CertifyResult",
    "BoxConflictError",
    "calibrated_interval",
    "mle",
    "MLEResult",
    "umle",
    "profile_interval",
    "wald_interval",
    "bootstrap_interval",
    "clopper_pearson",
    "wilson",
    "uniform_samples_needed",
    "classical",
    "naive",
    "rogan_gladen",
    "ppi",
    "ppi_plusplus",
    "ppi_mean_ci",
    "datasets",
    "intervals",
    "judge",
    "rare",
    "sim",
    "__version__",
]
