"""Confidence intervals for proportions: exact Clopper-Pearson, Wilson, beta and gamma quantiles."""

from jaxcert.intervals._betaincinv import betaincinv
from jaxcert.intervals._gammaincinv import chi2_quantile, gamma_quantile
from jaxcert.intervals.binomial import clopper_pearson, uniform_samples_needed, wilson

__all__ = ["betaincinv", "chi2_quantile", "gamma_quantile", "clopper_pearson", "uniform_samples_needed", "wilson"]
