# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The Bayesian view of a judge-corrected failure rate, on real data (XSTest)
#
# An LLM judge labels every output; humans label only a few. The constrained MLE
# (CMLE) turns what you know about the judge (a box on its TPR and FPR) into a
# confidence bound. The Bayesian model turns the same knowledge into a *prior* and
# gives a posterior for the failure rate theta, whose 95% quantile is a credible
# bound. This notebook compares the two on XSTest (Röttger et al., NAACL 2024), shows
# how the choice of prior moves the bound, and pools the judge's quality across five
# models with a hierarchical model.
#
# Set `JAXCERT_QUICK=1` for a fast run (CI executes this notebook that way).

# %%
import os

import jax
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import jaxcert  # noqa: E402  (enables float64)
from jaxcert.bayes import (  # noqa: E402
    make_prior,
    posterior_summary,
    sample_hierarchical,
    theta_grid,
)
from jaxcert.datasets import XSTEST_MODELS, load_xstest  # noqa: E402

QUICK = os.environ.get("JAXCERT_QUICK", "0") == "1"
KEEP = 50  # human labels kept per model; the rest become judge-only items
WARMUP, SAMPLES, CHAINS = (150, 150, 2) if QUICK else (1000, 2000, 4)
rng = np.random.default_rng(0)
print(f"quick={QUICK}")

# %% [markdown]
# ## One model: hide most human labels
# `llama2orig` with the GPT-4 judge: 450 outputs, all human-labelled. We keep 50 human
# labels and treat the other 400 items as judge-only, so the full-label failure rate
# is a ground truth to check against.

# %%
data = load_xstest("gpt4", model="llama2orig")
human = data.human.copy()
human[rng.permutation(len(human))[KEEP:]] = np.nan
counts = jaxcert.Counts.from_labels(human, data.judge)
print(counts)
print(f"truth (all 450 human labels): {data.truth:.3f}")

# %% [markdown]
# ## CMLE interval vs posterior with the default prior
# Knowledge: TPR in [0.8, 1], FPR in [0, 0.2]. The default prior of `method="bayes"` is
# theta ~ U(0, 1), TPR ~ U(box), FPR ~ U(box). The posterior is computed exactly by
# quadrature (no sampling), so it is as cheap as the CMLE.

# %%
TPR_BOX, FPR_BOX = (0.8, 1.0), (0.0, 0.2)
cmle = jaxcert.profile_interval(counts, TPR_BOX, FPR_BOX, alpha=0.05, side="upper")
prior_box = make_prior(TPR_BOX, FPR_BOX)
post = posterior_summary(counts, prior_box, alpha=0.05, side="upper")
print(f"CMLE {float(cmle.estimate):.3f}, 95% upper bound {float(cmle.upper):.3f}")
print(f"posterior mean {float(post.mean):.3f}, median {float(post.median):.3f}, "
      f"95% credible bound {float(post.upper):.3f}")

# %% [markdown]
# ## Prior choice: transfer what another model taught us about the judge
# The GPT-4 judge was also run on `gpt4`'s outputs, all human-labelled. Its hits on
# those failures and false alarms on those passes are counts: `tpr_prior=(k, n)` gives
# TPR ~ Beta(1 + k, 1 + n - k), the posterior of a uniform prior after those counts.

# %%
other = load_xstest("gpt4", model="gpt4")
pos, neg = other.human == 1, other.human == 0
tpr_counts = (int(other.judge[pos].sum()), int(pos.sum()))
fpr_counts = (int(other.judge[neg].sum()), int(neg.sum()))
print(f"transferred: TPR {tpr_counts[0]}/{tpr_counts[1]}, FPR {fpr_counts[0]}/{fpr_counts[1]}")
priors = {
    "uniform on box": prior_box,
    "no judge knowledge": make_prior(),
    "transferred counts": make_prior(tpr_prior=tpr_counts, fpr_prior=fpr_counts),
}
grid_fn = jax.jit(theta_grid)
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, prior in priors.items():
    g = grid_fn(counts, prior)
    s = posterior_summary(counts, prior, alpha=0.05, side="upper")
    print(f"{name:>20}: mean {float(s.mean):.3f}, 95% bound {float(s.upper):.3f}")
    ax.plot(g.theta, g.density, label=name)
ax.axvline(data.truth, color="k", ls="--", label="truth")
ax.set_xlabel("failure rate theta")
ax.set_ylabel("posterior density")
ax.legend()
plt.show()

# %% [markdown]
# Transferring counts is only as good as the assumption that the judge behaves the
# same on both models. Here it does not quite: a judge's error rates depend on what it
# judges. The hierarchical model lets the data say how much they differ.
#
# ## Five models at once: partial pooling of the judge's TPR and FPR
# logit TPR_g ~ Normal(mu, tau) across the five models (same for FPR), theta_g ~ U(0, 1);
# 50 human labels per model. NUTS (numpyro); check R-hat and ESS before reading.

# %%
full = load_xstest("gpt4")
per = []
for m in XSTEST_MODELS:
    sel = full.model == m
    h = full.human[sel].copy()
    h[rng.permutation(sel.sum())[KEEP:]] = np.nan
    per.append(jaxcert.Counts.from_labels(h, full.judge[sel]))
grouped = jaxcert.Counts(*(np.array([float(getattr(c, f)) for c in per])
                           for f in jaxcert.Counts._fields))
res = sample_hierarchical(jax.random.key(0), grouped, num_warmup=WARMUP,
                          num_samples=SAMPLES, num_chains=CHAINS)
print(f"max R-hat {res.max_rhat:.3f}, min ESS {res.min_ess:.0f}, divergences {res.num_divergences}")
draws = res.samples["theta"].reshape(-1, len(XSTEST_MODELS))
alone = posterior_summary(grouped, make_prior(), alpha=0.1, side="two-sided")
print(f"{'model':>16} {'truth':>6} {'pooled':>7} {'pooled 90%':>16} {'alone':>6} {'alone 90%':>16}")
widths = []
for g, m in enumerate(XSTEST_MODELS):
    truth = full.human[full.model == m].mean()
    lo, hi = np.quantile(draws[:, g], [0.05, 0.95])
    widths.append((hi - lo) / float(alone.upper[g] - alone.lower[g]))
    print(f"{m:>16} {truth:6.3f} {draws[:, g].mean():7.3f}   [{lo:.3f}, {hi:.3f}] "
          f"{float(alone.mean[g]):6.3f}   "
          f"[{float(alone.lower[g]):.3f}, {float(alone.upper[g]):.3f}]")
print(f"pooled / alone interval width, mean over models: {np.mean(widths):.2f}")

# %% [markdown]
# Pooling lets the 250 human labels across all five models inform the judge's rates,
# which each model's 50 cannot pin down alone; how much it narrows the intervals depends
# on how alike the judge is across models (the width ratio above: on XSTest the gain is
# modest). The credible bound is a Bayesian statement: its frequentist coverage is
# measured in `benchmarks/bayes_coverage.py` (results in
# `benchmarks/results/bayes_coverage/`), side by side with the CMLE.
