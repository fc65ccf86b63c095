"""Bayesian judge model: exact single-group posteriors and NUTS for pooled groups.

* :func:`make_prior`, :class:`JudgePrior`: Beta priors on theta and the judge's rates,
  uniform on boxes by default or built from transferred counts.
* :func:`posterior_summary`: exact posterior of theta (quadrature; jit/vmap-able), with
  the credible bound; :func:`bayes_interval` is the sim-registry form.
* :func:`sample_single_group`, :func:`sample_hierarchical`: NUTS (numpyro) for the
  single-group model (a cross-check) and for a judge's rates partially pooled across
  groups; :func:`to_arviz` (needs ``arviz``).
"""

from jaxcert.bayes.mcmc import (
    MCMCResult,
    hierarchical_model,
    sample_hierarchical,
    sample_single_group,
    single_group_model,
    to_arviz,
)
from jaxcert.bayes.posterior import PosteriorSummary, bayes_interval, posterior_summary
from jaxcert.bayes.priors import JudgePrior, beta_from_counts, check_prior, make_prior
from jaxcert.bayes.quadrature import ThetaGrid, grid_cdf, grid_quantile, theta_grid

__all__ = [
    "JudgePrior",
    "make_prior",
    "beta_from_counts",
    "check_prior",
    "PosteriorSummary",
    "posterior_summary",
    "bayes_interval",
    "ThetaGrid",
    "theta_grid",
    "grid_cdf",
    "grid_quantile",
    "single_group_model",
    "hierarchical_model",
    "MCMCResult",
    "sample_single_group",
    "sample_hierarchical",
    "to_arviz",
]
