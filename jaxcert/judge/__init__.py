"""Judge-corrected failure rates: constrained MLE, intervals, baselines, certify."""

from jaxcert.judge.baselines import classical, naive, ppi, ppi_plusplus, rogan_gladen
from jaxcert.judge.certify import CertifyResult, CertifyTable, certify
from jaxcert.judge.cmle_intervals import (
    bootstrap_interval,
    profile_interval,
    profile_loglik,
    wald_interval,
)
from jaxcert.judge.likelihood import fisher_information, loglik, umle
from jaxcert.judge.ppi import ppi_mean_ci, ppi_mean_pointestimate
from jaxcert.judge.solver import MLEResult, mle, mle_batched

__all__ = [
    "loglik",
    "umle",
    "fisher_information",
    "mle",
    "mle_batched",
    "MLEResult",
    "profile_interval",
    "profile_loglik",
    "wald_interval",
    "bootstrap_interval",
    "classical",
    "naive",
    "rogan_gladen",
    "ppi",
    "ppi_plusplus",
    "ppi_mean_ci",
    "ppi_mean_pointestimate",
    "certify",
    "CertifyResult",
    "CertifyTable",
]
