"""numpyro models of the judge and NUTS for them, with R-hat and ESS; optional ArviZ export.

Single group (:func:`single_group_model`), the prior of :mod:`jaxcert.bayes.priors`::

    theta ~ Beta(a_theta, b_theta),  s ~ Beta(a_s, b_s) | box,  r ~ Beta(a_r, b_r) | box

A truncated Beta is written as ``Uniform(box)`` plus the Beta log-kernel as a factor:
the truncation constant does not depend on any parameter, so the posterior is exact.

Hierarchical (:func:`hierarchical_model`): G groups (models, domains) judged by the same
judge, with counts per group. The judge's rates are partially pooled on the logit scale
(non-centred, so NUTS does not meet Neal's funnel when the groups agree)::

    mu_s, mu_r ~ Normal(0, mu_scale)         tau_s, tau_r ~ HalfNormal(tau_scale)
    logit s_g = mu_s + tau_s z_g,  logit r_g = mu_r + tau_r w_g,  z_g, w_g ~ Normal(0, 1)
    theta_g ~ Beta(a_theta, b_theta)
    counts_g | theta_g, s_g, r_g ~ the judge likelihood

Small ``tau`` = one judge quality everywhere (full pooling); large ``tau`` = a separate
judge per group (no pooling); the data choose. The likelihood enters as a
``numpyro.factor`` of :func:`jaxcert.judge.likelihood.loglik` (multinomial constants
dropped: they do not change the posterior).

Sampling. :func:`sample_single_group` cross-checks the exact quadrature of
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

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.nn import sigmoid
from numpyro.diagnostics import effective_sample_size, split_gelman_rubin
from numpyro.infer import MCMC, NUTS

from jaxcert.bayes.priors import JudgePrior, check_prior, log_beta_kernel, make_prior
from jaxcert.counts import Counts
from jaxcert.judge.likelihood import loglik

__all__ = [
    "single_group_model",
    "hierarchical_model",
    "MCMCResult",
    "sample_single_group",
    "sample_hierarchical",
    "to_arviz",
]


def _boxed_rate(name: str, ab, box):
    """A Beta(ab) rate truncated to ``box`` (``box[0] < box[1]``)."""
    x = numpyro.sample(name, dist.Uniform(box[0], box[1]))
    numpyro.factor(f"{name}_prior", log_beta_kernel(x, ab))
    return x


def single_group_model(counts: Counts, prior: JudgePrior) -> None:
    """numpyro model of one group: Beta priors, boxed judge rates, judge likelihood.

    Args:
      counts: :class:`~jaxcert.Counts` with scalar fields.
      prior: :class:`~jaxcert.bayes.JudgePrior` with ``(2,)`` fields and boxes of
        positive width (NUTS needs a continuous parameter space).

    Sites: ``theta``, ``tpr``, ``fpr`` (and factors ``tpr_prior``, ``fpr_prior``,
    ``loglik``).
    """
    theta = numpyro.sample("theta", dist.Beta(prior.theta_ab[0], prior.theta_ab[1]))
    tpr = _boxed_rate("tpr", prior.tpr_ab, prior.tpr_box)
    fpr = _boxed_rate("fpr", prior.fpr_ab, prior.fpr_box)
    numpyro.factor("loglik", loglik(theta, tpr, fpr, counts))


def hierarchical_model(counts: Counts, *, theta_ab=(1.0, 1.0), mu_scale: float = 1.5,
                       tau_scale: float = 1.0) -> None:
    """numpyro model of G groups sharing a judge whose TPR/FPR are partially pooled.

    Args:
      counts: :class:`~jaxcert.Counts` with fields of shape ``(G,)``.
      theta_ab: Beta parameters of each group's failure rate (default uniform).
      mu_scale: prior scale of the mean logit TPR / FPR (``Normal(0, mu_scale)``).
      tau_scale: prior scale of the between-group spread (``HalfNormal(tau_scale)``).

    Sites: ``mu_tpr``, ``mu_fpr``, ``tau_tpr``, ``tau_fpr``, ``z_tpr``, ``z_fpr``,
    ``theta`` (G,), and the deterministic ``tpr``, ``fpr`` (G,).
    """
    groups = jnp.shape(counts.n11)[0]
    mu_s = numpyro.sample("mu_tpr", dist.Normal(0.0, mu_scale))
    mu_r = numpyro.sample("mu_fpr", dist.Normal(0.0, mu_scale))
    tau_s = numpyro.sample("tau_tpr", dist.HalfNormal(tau_scale))
    tau_r = numpyro.sample("tau_fpr", dist.HalfNormal(tau_scale))
    with numpyro.plate("groups", groups):
        z_s = numpyro.sample("z_tpr", dist.Normal(0.0, 1.0))
        z_r = numpyro.sample("z_fpr", dist.Normal(0.0, 1.0))
        theta = numpyro.sample("theta", dist.Beta(theta_ab[0], theta_ab[1]))
    tpr = numpyro.deterministic("tpr", sigmoid(mu_s + tau_s * z_s))
    fpr = numpyro.deterministic("fpr", sigmoid(mu_r + tau_r * z_r))
    numpyro.factor("loglik", jnp.sum(loglik(theta, tpr, fpr, counts)))


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
        raise ValueError("sample_single_group takes one problem (scalar counts); "
                         f"got shape {counts.shape}")
    prior = check_prior(make_prior() if prior is None else prior)
    for name in ("tpr_box", "fpr_box"):
        box = np.asarray(getattr(prior, name), dtype=float)
        if box.shape != (2,) or not box[0] < box[1]:
            raise ValueError(f"prior.{name} must be one box [lo, hi] with lo < hi for NUTS; "
                             f"got {box.tolist()}")
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
        raise ValueError("sample_hierarchical needs counts of shape (G,) with G >= 2; "
                         f"got {counts.shape}")
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

