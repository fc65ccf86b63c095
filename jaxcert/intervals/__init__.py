"""Confidence intervals for proportions: exact Clopper-Pearson, Wilson, beta quantiles."""

from jaxcert.intervals._betaincinv import betaincinv
from jaxcert.intervals.binomial import clopper_pearson, uniform_samples_needed, wilson

__all__ = ["betaincinv", "clopper_pearson", "uniform_samples_needed", "wilson"]
