"""numpyro models of the judge: one group with boxed priors, and groups pooled by a judge.

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
"""

from __future__ import annotations

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from jax.nn import sigmoid

from jaxcert.bayes.priors import JudgePrior, log_beta_kernel
from jaxcert.counts import Counts
from jaxcert.judge.likelihood import loglik

__all__ = ["single_group_model", "hierarchical_model"]


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
