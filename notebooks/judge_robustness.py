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
# # How robust is a judge-corrected certificate? Sensitivity, tipping box, design, Bayes
#
# A CMLE certificate `failure rate <= U` combines a few human labels, many LLM-judge
# verdicts and an assumption: a box on the judge's true-positive rate (TPR) and
# false-positive rate (FPR). A release reviewer then asks three questions, which this
# notebook answers on real data (XSTest, Röttger et al., NAACL 2024):
#
# 1. **How much does `U` depend on the box?** `certify(..., target=eps)` reports the
#    exact derivatives `dU/d(bound)` and the *tipping box*: how far each bound may
#    move before `U <= eps` fails (sections 2-3; the derivatives are `jax.grad` of the
#    bound kernel, checked against finite differences).
# 2. **Where should the next human labels go?** A labelling design that splits the
#    budget between judge-flagged and unflagged items, checked by simulation against
#    simple random labelling (section 4).
# 3. **What does a Bayesian make of the same data?** The posterior credible bound next
#    to the certificate, and a hierarchical model that learns the judge's rates from
#    several models at once (section 5).
#
# Set `JAXCERT_QUICK=1` for a fast run (CI executes this notebook that way).

# %%
import os
import time

import jax
import jax.numpy as jnp
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
from jaxcert.judge import certify, design_labelling  # noqa: E402
from jaxcert.judge.calibration import calibrated_bound  # noqa: E402
from jaxcert.sim.design_check import check_design  # noqa: E402

QUICK = os.environ.get("JAXCERT_QUICK", "0") == "1"
KEEP = 100  # human labels kept; the other items become judge-only
TPR_BOX, FPR_BOX = (0.7, 0.9), (0.02, 0.10)  # what we assume about the judge
EPS = 0.10  # release criterion: certify failure rate <= 10% at 95% confidence
GRID = 7 if QUICK else 17  # tpr_lo values re-certified for the plot
REPLICATES = 100 if QUICK else 1000  # simulated data sets per design (section 4)
WARMUP, SAMPLES, CHAINS = (100, 100, 2) if QUICK else (1000, 2000, 4)
T0 = time.perf_counter()
rng = np.random.default_rng(0)
print(f"jax {jax.__version__}, {jax.devices()[0].platform}, quick={QUICK}")

# %% [markdown]
# ## 1. Real data: hide most human labels
# XSTest: 450 prompts (250 safe, 200 unsafe) sent to GPT-4; a *failure* is refusing a
# safe prompt or complying with an unsafe one. Every output carries a human label and
# a verdict of the paper's GPT-4 classifier (the judge). We keep a random 100 human
# labels (the calibration set) and treat the other 350 items as judge-only, so the
# full-label values below are a ground truth the certificate never sees.

# %%
data = load_xstest("gpt4", model="gpt4")
print(data.citation)
print("failure:", data.metadata["failure"])
human = data.human.copy()
human[rng.permutation(len(data))[KEEP:]] = np.nan
counts = jaxcert.Counts.from_labels(human, data.judge)
print(counts)


def judge_rates(d):
    """TPR and FPR of the judge against every human label of a data set."""
    return d.judge[d.human == 1].mean(), d.judge[d.human == 0].mean()


TRUE_TPR, TRUE_FPR = judge_rates(data)
print(f"full-label truth (all {len(data)} human labels): failure rate {data.truth:.4f}, "
      f"judge TPR {TRUE_TPR:.3f}, FPR {TRUE_FPR:.3f}")
other_tpr = {m: judge_rates(load_xstest("gpt4", model=m))[0]
             for m in XSTEST_MODELS if m != "gpt4"}
print("the same judge's TPR on the other models' outputs:",
      ", ".join(f"{m} {v:.2f}" for m, v in other_tpr.items()))

# %% [markdown]
# ## 2. The certificate, its sensitivity and its tipping box
# We assume TPR in [0.7, 0.9] and FPR in [0.02, 0.10] (say, from a validation of the
# judge on similar data) and ask for the certificate `U <= 0.10`. `target=EPS` adds
# `.sensitivity` and `.tipping` to the result.

# %%
res = certify(human, data.judge, tpr=TPR_BOX, fpr=FPR_BOX, side="upper", target=EPS)
print(res)
print("sensitivity dU/d(bound):", {k: round(v, 4) for k, v in res.sensitivity.items()})
tip = res.tipping
print(f"tipping: holds={tip['holds']}, U={tip['upper']:.4f}, bounds={tip['bounds']}, "
      f"margin={tip['margin']:.4f}, widening={tuple(round(float(w), 2) for w in tip['widening'])}")
print("ranges on which U <= target holds, one bound moved at a time:",
      {k: tuple(round(v, 4) for v in r) for k, r in tip["ranges"].items()})

# %% [markdown]
# How to read this for a release decision:
#
# * **`U`** is the certified 95% upper bound on the failure rate; the criterion
#   `U <= 0.10` holds (`holds=True`), by a small gap (`U` is about 0.095).
# * **Sensitivity.** Only the active constraint matters: the fit sits at `TPR = 0.7`,
#   the lower end of the TPR box (`active constraints: tpr>=0.7`), so
#   `dU/d(tpr_lo)` is negative (a weaker judge assumed means a higher bound) and the
#   other three derivatives are exactly 0. Lowering `tpr_lo` by 0.05 raises `U` by
#   about `0.05 x 0.062 = 0.003`, to first order.
# * **Tipping box.** `bounds["tpr_lo"]` is the TPR lower bound at which `U` reaches
#   0.10 (the other bounds as given): the decision holds only while we believe the
#   judge's TPR is at least about 0.63. The other bounds never break it when
#   loosened alone (`None`). `ranges` searches both directions: `U` is not monotone
#   in the box, and *tightening* a bound can break the certificate too (here a lower
#   FPR cap raises `U`: a judge assumed to make fewer false alarms turns more of its
#   flags into failures), so each range is the set of values of that bound, the others
#   as given, on which `U <= 0.10` still holds. The `margin` is how far all four
#   bounds may move outward *together* (`widening`: each box then is that many times
#   as wide).
# * **Is 0.63 safe?** The full-label TPR on these outputs is 0.77, inside the box.
#   But the calibration set saw only 6 human-labelled failures, of which the judge
#   flagged 3 (the warning above), and the same judge reaches only 0.54-0.65 TPR on
#   the other four models' outputs: three of the four below the tipping point. The certificate is
#   only as good as the belief that TPR >= 0.63 on *these* outputs: that is the
#   assumption a reviewer must sign off, or buy more labels to replace.
#
# The derivative is local; the tipping point is global. Re-certifying on a grid of
# `tpr_lo` values shows both.

# %%
tpr_grid = np.linspace(0.45, 0.85, GRID)
u_grid = [certify(human, data.judge, tpr=(lo, TPR_BOX[1]), fpr=FPR_BOX, side="upper").upper
          for lo in tpr_grid]
slope = res.sensitivity["tpr_lo"]
tangent = np.array([0.6, 0.8])
fig, ax = plt.subplots(figsize=(8, 4.5))
ax.plot(tpr_grid, u_grid, "o-", color="C0", label="certified U (re-certified at each tpr_lo)")
ax.axhline(EPS, color="C3", ls="--", label=f"release target eps = {EPS}")
ax.plot(TPR_BOX[0], res.upper, "s", color="k", ms=8, label=f"assumed box: tpr_lo = {TPR_BOX[0]}")
ax.plot(tangent, res.upper + slope * (tangent - TPR_BOX[0]), ":", color="k",
        label=f"tangent from sensitivity dU/d(tpr_lo) = {slope:.3f}")
ax.plot(tip["bounds"]["tpr_lo"], EPS, "*", color="C3", ms=14,
        label=f"tipping point tpr_lo = {tip['bounds']['tpr_lo']:.3f}")
ax.axvline(TRUE_TPR, color="C2", ls="-.", label=f"full-label judge TPR here ({TRUE_TPR:.2f})")
ax.axvspan(min(other_tpr.values()), max(other_tpr.values()), color="C1", alpha=0.2,
           label="judge TPR on the other 4 models")
ax.set_xlabel("assumed lower bound on the judge's TPR (tpr_lo)")
ax.set_ylabel("95% upper bound U on the failure rate")
ax.set_title("XSTest / GPT-4 outputs: certificate vs assumed judge quality")
ax.legend(fontsize=8, loc="lower left")
fig.tight_layout()
plt.show()

# %% [markdown]
# Left of the star the certificate fails. The derivative is the slope of this curve at
# the square, and it is not "the fit's" derivative: `U` is where the profile
# likelihood (the best fit with the failure rate held at `theta`) has dropped by the
# critical value. At `theta = U` the best-fitting judge has its TPR at the lower bound
# (a higher failure rate with the same number of flags means a judge that misses more),
# so `tpr_lo` moves `U` whether or not the point estimate sits on it; the three other
# bounds are active neither at the fit nor at the profile end, and their derivatives
# are exactly 0.
#
# ## 3. The same derivatives with `jax.grad`, and `jax.vmap` over boxes
# `certify` computes `.sensitivity` from the bound kernel
# `jaxcert.judge.calibration.calibrated_bound` (one problem: scalar counts, boxes of
# shape `(2,)`), which is pure and differentiable: the CMLE, the profile-likelihood end
# and the Beta quantile carry exact implicit derivatives (implicit function theorem at
# each optimum). So the gradient of `U` with respect to the box bounds is `jax.grad`
# of a three-line function, and `jax.vmap` maps it over many boxes. We compile the
# vmapped value-and-gradient once and evaluate, in one call, the assumed box, its two
# finite-difference neighbours in `tpr_lo`, and a few alternative boxes (compilation
# is the expensive part: one kernel for everything).

# %%
def upper(sb, fb, alpha=0.05):
    """Calibrated 95% upper bound U of our counts for a TPR box ``sb`` and FPR box ``fb``."""
    return calibrated_bound(counts, sb, fb, alpha, "upper").upper


# One problem: U and (dU/d tpr box, dU/d fpr box); jax.value_and_grad is jax.grad that
# also returns the value.
grad_upper = jax.value_and_grad(upper, argnums=(0, 1))
# Many problems: the same function mapped over a batch of boxes, (K, 2) each.
value_and_grads = jax.jit(jax.vmap(grad_upper))

h = 1e-5  # finite-difference step in tpr_lo
alternatives = {  # label: (tpr box, fpr box)
    "tpr_lo 0.60": ((0.60, 0.90), FPR_BOX),
    "tpr_lo 0.80": ((0.80, 0.90), FPR_BOX),
    "fpr_hi 0.04": (TPR_BOX, (0.00, 0.04)),
    "tpr_hi 0.55": ((0.40, 0.55), FPR_BOX),
    "no box": ((0.0, 1.0), (0.0, 1.0)),
}
rows = [(TPR_BOX, FPR_BOX), ((TPR_BOX[0] + h, TPR_BOX[1]), FPR_BOX),
        ((TPR_BOX[0] - h, TPR_BOX[1]), FPR_BOX), *alternatives.values()]
sbs, fbs = (jnp.array([r[i] for r in rows]) for i in (0, 1))
u_b, (gs_b, gf_b) = value_and_grads(sbs, fbs)

print("jax.grad  dU/d(tpr box) =", np.round(np.asarray(gs_b[0]), 5),
      " dU/d(fpr box) =", np.round(np.asarray(gf_b[0]), 5))
print("certify   .sensitivity  =", {k: round(v, 5) for k, v in res.sensitivity.items()})
fd = (float(u_b[1]) - float(u_b[2])) / (2 * h)
print(f"dU/d(tpr_lo): jax.grad {float(gs_b[0, 0]):.7f}, central difference (h={h:g}) "
      f"{fd:.7f}, relative difference {abs(float(gs_b[0, 0]) / fd - 1):.1e}")

# %%
print(f"{'box':<16}{'tpr box':>14}{'fpr box':>14}{'U':>8}{'dU/dtpr_lo':>11}{'dU/dtpr_hi':>11}"
      f"{'dU/dfpr_lo':>11}{'dU/dfpr_hi':>11}")
for k, name in enumerate(["assumed", "+h", "-h", *alternatives], start=0):
    if name in ("+h", "-h"):
        continue
    s, f = np.asarray(sbs[k]), np.asarray(fbs[k])
    print(f"{name:<16}  [{s[0]:.2f}, {s[1]:.2f}]  [{f[0]:.2f}, {f[1]:.2f}]{float(u_b[k]):8.4f}"
          + "".join(f"{float(x):11.4f}" for x in (*gs_b[k], *gf_b[k])))

# %% [markdown]
# Reading the table:
#
# * raising `tpr_lo` lowers `U` at a nearly constant rate (about -0.06 per unit here);
# * a *tighter* FPR box is not a safer one: capping the FPR at 0.04 (below the
#   calibration set's 6/94 = 0.064) forces more of the judge's flags to be real
#   failures, so `U` goes *up*, and `dU/d(fpr_hi)` is large and negative;
# * a box that contains the unconstrained fit and the profile end (TPR in [0.4, 0.55])
#   changes nothing: `U` equals the no-box bound and every derivative is exactly 0.
#
# ## 4. Where should the next 100 human labels go?
# Every item has a judge verdict, so humans need not label a random sample: labelling
# judge-flagged (`J = 1`) and unflagged (`J = 0`) items at different rates leaves the
# likelihood, hence the CMLE and its bound, unchanged (the selection depends only on
# observed verdicts; `docs/guide/design.md`). `design_labelling` picks the split that
# minimises a smoothed expected upper bound, from *guesses* of the failure rate and the
# judge's rates; here we take them from this round's certificate. `check_design` then
# simulates the design and simple random labelling (SRS) with the same budget, at the
# full-label truth (a wrong guess costs efficiency, not validity), and reports the
# mean bound, its coverage and the labels saved.
#
# We plan the next evaluation of the same size (450 items, 100 labels), with and
# without the box, and, for contrast, with a judge of MT-Bench quality (TPR 0.83, FPR
# 0.40, failure rate 0.59, the bundled MT-Bench full-label rates).

# %%
B, N_NEXT = 100, len(data) - 100
guess = dict(theta_guess=res.estimate, tpr=0.5 * sum(TPR_BOX), fpr=res.fpr_hat)
truth = dict(theta=data.truth, tpr=TRUE_TPR, fpr=TRUE_FPR)
mtb = dict(theta=0.594, tpr=0.826, fpr=0.401)  # load_mtbench() full-label rates
factors = np.array([0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0]) if QUICK else \
    np.geomspace(0.5, 8.0, 13)
cases = [  # name, guesses, truth for the simulation, boxes
    ("XSTest, with box", guess, truth, TPR_BOX, FPR_BOX),
    ("XSTest, no box", guess, truth, None, None),
    ("MT-Bench-like, box", dict(theta_guess=mtb["theta"], tpr=mtb["tpr"], fpr=mtb["fpr"]),
     mtb, (mtb["tpr"] - 0.05, mtb["tpr"] + 0.05), (mtb["fpr"] - 0.05, mtb["fpr"] + 0.05)),
]
print(f"budget {B} labels, {N_NEXT} judge-only items, {REPLICATES} simulated data sets")
print(f"{'case':<20}{'flagged/unfl.':>14}{'SRS share':>10}{'mean U':>9}{'SRS U':>8}"
      f"{'coverage':>15}{'SRS cov.':>10}{'saved':>7}")
checks = {}
for i, (name, g, tr, sbox, fbox) in enumerate(cases):
    d = design_labelling(budget=B, N=N_NEXT, tpr_bounds=sbox, fpr_bounds=fbox, **g)
    chk = check_design(jax.random.key(i), **tr, n_flagged=d.n_flagged,
                       n_unflagged=d.n_unflagged, N=N_NEXT, tpr_bounds=sbox,
                       fpr_bounds=fbox, replicates=REPLICATES,
                       srs_budgets=np.round(B * factors).astype(int))
    checks[name] = chk
    saved = "beyond" if chk.beyond_grid else f"{chk.labels_saved:.0f}"
    print(f"{name:<20}{f'{d.n_flagged}/{d.n_unflagged}':>14}{d.srs_share:10.2f}"
          f"{chk.mean_upper:9.4f}{chk.srs_mean_upper:8.4f}"
          f"{f'{chk.coverage:.3f}+-{chk.coverage_se:.3f}':>15}{chk.srs_coverage:10.3f}"
          f"{saved:>7}")

# %%
fig, axes = plt.subplots(1, len(checks), figsize=(11, 3.6))
for i, (ax, (name, chk)) in enumerate(zip(axes, checks.items())):
    ax.plot(chk.srs_budgets, chk.srs_curve, "o-", color=f"C{i}", ms=4,
            label="simple random labelling (SRS)")
    ax.plot(chk.budget, chk.mean_upper, "*", color="k", ms=14,
            label=f"designed split, {chk.budget} labels")
    if np.isfinite(chk.srs_equivalent):
        ax.axvline(chk.srs_equivalent, color="k", ls=":",
                   label=f"SRS budget matching it ({chk.srs_equivalent:.0f})")
    ax.set_xlabel("human labels")
    ax.set_title(name, fontsize=10)
    ax.legend(fontsize=7)
axes[0].set_ylabel("mean 95% upper bound U (simulated)")
fig.tight_layout()
plt.show()

# %% [markdown]
# Reading the table and the plot (a star below the SRS curve means the design beats
# SRS with the same budget; the dotted line is the SRS budget that matches it, and
# "saved" is that budget minus 100):
#
# * **With a box** the planner labels about every flagged item the pool is expected to
#   hold (SRS would label only a tenth of its budget there): the box pins the judge's
#   rates, so the unflagged stratum's failure rate is mostly known through the judge,
#   and the labels are best spent checking the flags. This is where designs pay: a
#   good judge, rare failures, a box (127 labels saved: SRS needs about 227 labels to
#   match the designed 100).
# * **Without a box** the unflagged stratum must be labelled too (its failure rate is
#   unidentified otherwise), and the gain shrinks to a few tens of labels (18 in the
#   full run with 1,000 data sets per design).
# * **A weak judge and common failures** (MT-Bench-like) leave SRS close to optimal
#   (2 labels saved in the full run): the verdict says little about the human label,
#   so stratifying by it buys little.
#
# Coverage is reported next to SRS's: under strong stratification without a box the
# calibrated bound can be slightly anti-conservative (docs/guide/design.md, "coverage
# caveat"), so read it before adopting a design. A stratified sample must be certified
# with `certify(..., labelling="stratified")`.
#
# ## 5. The Bayesian view
# `method="bayes"` puts uniform priors on the failure rate and on the boxes and reports
# the posterior mean and the 95% credible bound, computed exactly by quadrature.
# It answers a different question (the certificate holds for every judge in the box;
# the credible bound averages over the box), so it is typically below `U`.

# %%
bay = certify(human, data.judge, tpr=TPR_BOX, fpr=FPR_BOX, side="upper", method="bayes")
print(bay)
prior = make_prior(TPR_BOX, FPR_BOX)
post = posterior_summary(counts, prior, alpha=0.05, side="upper")
print(f"posterior mean {float(post.mean):.4f}, median {float(post.median):.4f}, sd "
      f"{float(post.sd):.4f}, 95% credible bound {float(post.upper):.4f}")
print(f"CMLE certificate U = {res.upper:.4f}; truth {data.truth:.4f}; target {EPS}")

g = theta_grid(counts, prior)
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.plot(g.theta, g.density, color="C0", label="posterior density (uniform priors on boxes)")
ax.axvline(float(post.upper), color="C0", ls="--",
           label=f"95% credible bound {float(post.upper):.3f}")
ax.axvline(res.upper, color="k", ls="-", label=f"CMLE certificate U = {res.upper:.3f}")
ax.axvline(EPS, color="C3", ls=":", label=f"release target {EPS}")
ax.axvline(data.truth, color="C2", ls="-.", label=f"full-label truth {data.truth:.3f}")
ax.set_xlim(0.0, 0.2)
ax.set_xlabel("failure rate theta")
ax.set_ylabel("posterior density")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Learning the judge's rates from several models at once
# The tipping point said the decision hinges on the judge's TPR. Rather than assume a
# box, the hierarchical model (`jaxcert.bayes.sample_hierarchical`, NUTS) lets the
# judge's TPR and FPR vary across the five XSTest models around a common mean
# (logit-normal, partial pooling), with 100 human labels per model and no box: the
# other models' labels inform the judge's TPR on GPT-4's outputs. Check R-hat (near 1)
# and ESS before reading the numbers (the quick mode runs very short chains).

# %%
full = load_xstest("gpt4")
per = []
for m in XSTEST_MODELS:
    sel = full.model == m
    h_m = full.human[sel].copy()
    if m == "gpt4":
        h_m = human  # the same calibration set as above
    else:
        h_m[rng.permutation(sel.sum())[KEEP:]] = np.nan
    per.append(jaxcert.Counts.from_labels(h_m, full.judge[sel]))
grouped = jaxcert.Counts(*(np.array([float(getattr(c, f)) for c in per])
                           for f in jaxcert.Counts._fields))
hier = sample_hierarchical(jax.random.key(0), grouped, num_warmup=WARMUP,
                           num_samples=SAMPLES, num_chains=CHAINS)
print(f"max R-hat {hier.max_rhat:.3f}, min ESS {hier.min_ess:.0f}, "
      f"divergences {hier.num_divergences}")
th = hier.samples["theta"].reshape(-1, len(XSTEST_MODELS))
tp = hier.samples["tpr"].reshape(-1, len(XSTEST_MODELS))
print(f"{'model':>16} {'truth':>6} {'pooled mean':>11} {'95% bound':>9} {'pooled TPR':>10} "
      f"{'true TPR':>8}")
for i, m in enumerate(XSTEST_MODELS):
    d_m = full.subset(full.model == m)
    print(f"{m:>16} {d_m.truth:6.3f} {th[:, i].mean():11.3f} "
          f"{np.quantile(th[:, i], 0.95):9.3f} {tp[:, i].mean():10.3f} "
          f"{judge_rates(d_m)[0]:8.3f}")
print(f"gpt4: CMLE certificate (box) {res.upper:.3f}, single-group credible bound (box) "
      f"{float(post.upper):.3f}, pooled credible bound (no box) "
      f"{np.quantile(th[:, 0], 0.95):.3f}")

# %% [markdown]
# Pooling pulls the judge's TPR on GPT-4's outputs towards the other models' (compare
# the pooled and true TPR columns): partial pooling assumes the five models are
# exchangeable for this judge, and on XSTest the judge is in fact better on GPT-4's
# outputs than on the others'. With GPT-4's 6 labelled failures that assumption cannot
# be checked from its own data, which is the same weak spot the tipping point exposed.
#
# Three bounds for the same outputs, three assumptions: the CMLE certificate holds for
# every judge in the box; the single-group credible bound averages over the box; the
# pooled bound replaces the box by what the other models' labels say about the judge.
# Where they disagree about `U <= eps`, the disagreement is the assumption about the
# judge, and the tipping box of section 2 says exactly how much of it the decision
# needs. Coverage of the Bayesian bounds is measured in `benchmarks/bayes_coverage.py`.

# %%
print(f"notebook run time {time.perf_counter() - T0:.0f} s (quick={QUICK})")
