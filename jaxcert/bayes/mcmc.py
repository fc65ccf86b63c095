"""NUTS for the judge models (numpyro), with R-hat and ESS; optional ArviZ export.

:func:`sample_single_group` cross-checks the exact quadrature of
:mod:`jaxcert.bayes.posterior` (their quantiles agree within Monte-Carlo error, tested);
:func:`sample_hierarchical` is the only way to fit the pooled model of
:func:`~jaxcert.bayes.hierarchical_model`. Keys come first; chains run vectorised on
one device (``chain_method="vectorized"``), so results do not depend on how many
devices the host shows. Diagnostics are numpyro's split R-hat and effective sample size
(Gelman et al. 2013, BDA3 §11.4-11.5) per site; check ``max_rhat`` (< 1.01 is the
usual bar) and ``min_ess`` before using the draws.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
from numpyro.diagnostics import effective_sample_size, split_gelman_rubin
from numpyro.infer import MCMC, NUTS

from jaxcert.bayes.models import hierarchical_model, single_group_model
from jaxcert.bayes.priors import JudgePrior, check_prior, make_prior
from jaxcert.counts import Counts

__all__ = ["MCMCResult", "sample_single_group", "sample_hierarchical", "to_arviz"]


class MCMCResult(NamedTuple):
    """NUTS draws and diagnostics.

    Attributes:
      samples: dict site -> array ``(chains, draws, ...)``.
      r_hat: dict site -> split R-hat, shape of the site (``(G,)`` for group sites).
      ess: dict site -> effective sample size, same shapes.
      num_divergences: total divergent transitions after warm-up.
    """

    samples: dict
    r_hat: dict
    ess: dict
    num_divergences: int

    @property
    def max_rhat(self) -> float:
        """Largest R-hat over every site and element."""
        return float(max(np.max(v) for v in self.r_hat.values()))

    @property
    def min_ess(self) -> float:
        """Smallest effective sample size over every site and element."""
        return float(min(np.min(v) for v in self.ess.values()))


def _check_run(num_warmup, num_samples, num_chains) -> None:
    for name, v in (("num_warmup", num_warmup), ("num_samples", num_samples),
                    ("num_chains", num_chains)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive integer; got {v!r}")
    if num_chains < 2:
        raise ValueError(f"num_chains must be >= 2 to compute R-hat; got {num_chains}")


def _run(key, model, num_warmup, num_samples, num_chains, **kwargs) -> MCMCResult:
    mcmc = MCMC(NUTS(model, target_accept_prob=0.9), num_warmup=num_warmup,
                num_samples=num_samples, num_chains=num_chains,
                chain_method="vectorized", progress_bar=False)
    mcmc.run(key, extra_fields=("diverging",), **kwargs)
    samples = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
    r_hat = {k: np.asarray(split_gelman_rubin(v)) for k, v in samples.items()}
    ess = {k: np.asarray(effective_sample_size(v)) for k, v in samples.items()}
    div = int(np.sum(np.asarray(mcmc.get_extra_fields()["diverging"])))
    return MCMCResult(samples, r_hat, ess, div)


def sample_single_group(key, counts: Counts, prior: JudgePrior | None = None, *,
                        num_warmup: int = 500, num_samples: int = 1000,
                        num_chains: int = 4) -> MCMCResult:
    """NUTS draws of ``(theta, tpr, fpr)`` in the single-group model.

    Args:
      key: PRNG key.
      counts: :class:`~jaxcert.Counts` with scalar fields.
      prior: :class:`~jaxcert.bayes.JudgePrior` with ``(2,)`` fields; ``None`` =
        uniform. Boxes must have positive width (NUTS samples a continuum).
      num_warmup, num_samples, num_chains: NUTS settings (``num_chains >= 2``).

    Returns:
      :class:`MCMCResult` with sites ``theta``, ``tpr``, ``fpr``.

    Raises:
      ValueError: bad counts or prior, a point box, non-scalar counts, bad settings.
    """
    counts = Counts.create(*counts).validate()
    if counts.shape != ():
        raise ValueError(f"sample_single_group takes one problem (scalar counts); got shape {counts.shape}")
    prior = check_prior(make_prior() if prior is None else prior)
    for name in ("tpr_box", "fpr_box"):
        box = np.asarray(getattr(prior, name), dtype=float)
        if box.shape != (2,) or not box[0] < box[1]:
            raise ValueError(f"prior.{name} must be one box [lo, hi] with lo < hi for NUTS; got {box.tolist()}")
    _check_run(num_warmup, num_samples, num_chains)
    return _run(key, single_group_model, num_warmup, num_samples, num_chains,
                counts=counts, prior=prior)


def sample_hierarchical(key, counts: Counts, *, theta_ab=(1.0, 1.0), mu_scale: float = 1.5,
                        tau_scale: float = 1.0, num_warmup: int = 500, num_samples: int = 1000,
                        num_chains: int = 4) -> MCMCResult:
    """NUTS draws of the hierarchical model (judge rates pooled across G groups).

    Args:
      key: PRNG key.
      counts: :class:`~jaxcert.Counts` with fields of shape ``(G,)``, ``G >= 2``.
      theta_ab, mu_scale, tau_scale: priors, see :func:`~jaxcert.bayes.hierarchical_model`.
      num_warmup, num_samples, num_chains: NUTS settings (``num_chains >= 2``).

    Returns:
      :class:`MCMCResult`; ``samples["theta"]`` has shape ``(chains, draws, G)``.

    Raises:
      ValueError: bad counts (every group needs a human label), fewer than 2 groups,
        non-positive scales, Beta parameters below 1, bad settings.
    """
    counts = Counts.create(*counts).validate()
    if len(counts.shape) != 1 or counts.shape[0] < 2:
        raise ValueError(f"sample_hierarchical needs counts of shape (G,) with G >= 2; got {counts.shape}")
    ab = np.asarray(theta_ab, dtype=float)
    if ab.shape != (2,) or not np.all(np.isfinite(ab)) or np.any(ab < 1):
        raise ValueError(f"theta_ab must be two finite Beta parameters >= 1; got {theta_ab!r}")
    for name, v in (("mu_scale", mu_scale), ("tau_scale", tau_scale)):
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a positive number; got {v!r}")
    _check_run(num_warmup, num_samples, num_chains)
    return _run(key, hierarchical_model, num_warmup, num_samples, num_chains, counts=counts,
                theta_ab=tuple(float(x) for x in ab), mu_scale=float(mu_scale),
                tau_scale=float(tau_scale))


def to_arviz(result: MCMCResult):
    """The draws as an ``arviz.InferenceData`` (needs the optional ``arviz`` package).

    Raises:
      ImportError: arviz is not installed (``pip install arviz``).
    """
    try:
        with warnings.catch_warnings():  # arviz announces its refactor on import
            warnings.simplefilter("ignore", FutureWarning)
            import arviz as az
    except ImportError:
        raise ImportError(
            "to_arviz needs the optional package arviz: pip install 'jaxcert[bayes]' "
            "(or pip install arviz)"
        ) from None
    return az.from_dict(posterior=dict(result.samples))

