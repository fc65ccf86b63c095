"""Judge-corrected failure rates: constrained MLE, intervals, baselines, certify."""

from jaxcert.judge.baselines import classical, naive, ppi, ppi_plusplus, rogan_gladen
from jaxcert.judge.box_conflict import BoxCheck, BoxConflictError, box_check
from jaxcert.judge.calibration import calibrated_bound, calibrated_interval
from jaxcert.judge.cmle_intervals import (
    bootstrap_interval,
    profile_interval,
    profile_loglik,
    wald_interval,
)
from jaxcert.judge.design import DesignResult, design_labelling
from jaxcert.judge.front_door import CertifyResult, CertifyTable, certify
from jaxcert.judge.likelihood import fisher_information, loglik, umle
from jaxcert.judge.prediction_powered import ppi_mean_ci, ppi_mean_pointestimate
from jaxcert.judge.sensitivity import TippingBox, bound_sensitivity, tipping_box
from jaxcert.judge._batched import mle_batched
from jaxcert.judge.solver import MLEResult, mle

__all__ = [
    "loglik",
    "umle",
    "fisher_information",
    "mle",
    "mle_batched",
    "MLEResult",
    "calibrated_bound",
    "calibrated_interval",
    "profile_interval",
    "profile_loglik",
    "wald_interval",
    "bootstrap_interval",
    "box_check",
    "BoxCheck",
    "BoxConflictError",
    "classical",
    "naive",
    "rogan_gladen",
    "ppi",
    "ppi_plusplus",
    "ppi_mean_ci",
    "ppi_mean_pointestimate",
    "certify",
    "bound_sensitivity",
    "tipping_box",
    "TippingBox",
    "CertifyResult",
    "CertifyTable",
    "design_labelling",
    "DesignResult",
]
