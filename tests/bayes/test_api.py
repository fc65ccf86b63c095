"""The public names of jaxcert.bayes (a change here is an API change: review it)."""

import jaxcert.bayes as bayes

PUBLIC = {
    "JudgePrior", "make_prior", "beta_from_counts", "check_prior",
    "PosteriorSummary", "posterior_summary", "bayes_interval",
    "ThetaGrid", "theta_grid", "grid_cdf", "grid_quantile",
    "single_group_model", "hierarchical_model",
    "MCMCResult", "sample_single_group", "sample_hierarchical", "to_arviz",
}


def test_public_names_are_frozen():
    assert set(bayes.__all__) == PUBLIC
    assert all(callable(getattr(bayes, name)) for name in PUBLIC)
