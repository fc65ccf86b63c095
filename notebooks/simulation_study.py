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
# # A simulation study in a few lines: CMLE vs PPI / PPI++ / human-only
#
# When is a judge-corrected failure rate worth it, and what does a wrong constraint cost?
# `jaxcert.sim` answers by brute force: describe a grid of regimes (failure rate theta,
# judge accuracy, human-labelled calibration size n, judge-only size N, the constraint
# box on the judge's TPR/FPR), and it simulates the six sufficient counts of every
# replicate directly (O(1) per replicate, whatever N), applies every estimator under
# `jax.vmap` in compiled chunks, and returns bias, RMSE, coverage and width with
# Monte-Carlo standard errors.
#
# 1. run a small grid and look at it;
# 2. check one coverage number against an exact calculation;
# 3. plan a label budget;
# 4. read the committed full reproduction (1,250 scenarios x 1,000 replicates).
#
# Set `JAXCERT_QUICK=1` for a fast run (CI executes this notebook that way).

# %%
import os
import pathlib
import time

import jax
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from scipy import stats  # noqa: E402

import jaxcert  # noqa: F401,E402  (enables float64)
from jaxcert.sim import product_grid, run_sweep  # noqa: E402
from jaxcert.sim.plan import format_plan, plan_sample_size  # noqa: E402
from jaxcert.sim.results import read_columns  # noqa: E402

QUICK = os.environ.get("JAXCERT_QUICK", "") == "1"
REPLICATES = 200 if QUICK else 2000
print("jax", jax.__version__, jax.devices(), "quick" if QUICK else "full")

# %% [markdown]
# ## 1. A grid of regimes
#
# Judge accuracy `a` means TPR = a, FPR = 1 - a. Boxes: `exact` (the judge's rates known),
# `+-0.05` around the truth, and `shifted`, a box that claims a worse judge than the real
# one and excludes the truth. Scenarios differing only by box share their simulated data.

# %%
grid = product_grid(theta=[0.05, 0.2], accuracy=[0.7, 0.9], n=[25, 100] if QUICK else
                    [25, 50, 100, 200], N=10_000, box=["exact", "+-0.05", "shifted"])
t0 = time.perf_counter()
res = run_sweep(jax.random.key(0), grid, replicates=REPLICATES,
                estimators=["cmle_profile", "ppi", "ppi_plusplus", "classical"], side="upper",
                progress=True)
print(f"{grid.size} scenarios x {REPLICATES} replicates x 4 estimators in "
      f"{time.perf_counter() - t0:.1f} s (including compilation)")
t = res.table

# %%
def show(mask, cols=("estimator", "box", "accuracy", "n", "theta", "rmse", "coverage",
                     "coverage_se", "upper_mean")):
    print(" ".join(f"{c:>12}" for c in cols))
    for i in np.nonzero(mask)[0]:
        print(" ".join(f"{t[c][i]:>12.4g}" if isinstance(t[c][i], (float, np.floating))
                       else f"{t[c][i]!s:>12}" for c in cols))


show((t["theta"] == 0.05) & (t["accuracy"] == 0.9) & (t["n"] == 25))

# %% [markdown]
# RMSE relative to PPI, by calibration size, for the boxes that contain the truth, and
# coverage of each one-sided 95% bound with its Monte-Carlo error bar.

# %%
est = ["cmle_profile", "ppi_plusplus", "classical"]
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for box, ls in [("exact", "-"), ("+-0.05", "--")]:
    for e in est:
        ratios, ns = [], sorted(set(t["n"]))
        for n in ns:
            m = (t["box"] == box) & (t["n"] == n) & (t["accuracy"] == 0.9) & (t["theta"] == 0.05)
            mp = m & (t["estimator"] == "ppi")
            ratios.append(t["rmse"][m & (t["estimator"] == e)][0] / t["rmse"][mp][0])
        axes[0].plot(ns, ratios, ls, marker="o", label=f"{e} ({box})")
axes[0].axhline(1, color="k", lw=0.8)
axes[0].set(xscale="log", xlabel="human labels n", ylabel="RMSE / RMSE(PPI)",
            title="accuracy 0.9, theta 0.05, N 10k")
axes[0].legend(fontsize=7)
for j, e in enumerate(est + ["ppi"]):
    m = t["estimator"] == e
    x = np.arange(m.sum()) + 0.15 * j
    axes[1].errorbar(x, t["coverage"][m], yerr=2 * t["coverage_se"][m], fmt="o", ms=3, label=e)
axes[1].axhline(0.95, color="k", lw=0.8)
axes[1].set(xlabel="scenario", ylabel="coverage (+-2 SE)", title="coverage of the upper bound")
axes[1].legend(fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# The `shifted` box is the failure mode to remember: the box is a hard constraint, so a
# box that excludes the truth biases the CMLE and more labels do not rescue its coverage.

# %%
show((t["box"] == "shifted") & (t["estimator"] == "cmle_profile"))

# %% [markdown]
# ## 2. Check a coverage number exactly
#
# The human-only bound is exact Clopper-Pearson on `k ~ Bin(n, theta)`, so its coverage
# has a closed form: `sum_k P(k) 1[U(k) >= theta]`. The sweep's Monte-Carlo coverage must
# agree within its standard error.

# %%
for n in sorted(set(t["n"])):
    m = ((t["estimator"] == "classical") & (t["n"] == n) & (t["theta"] == 0.05)
         & (t["accuracy"] == 0.9) & (t["box"] == "exact"))
    k = np.arange(n + 1)
    upper = np.where(k < n, stats.beta.ppf(0.95, k + 1, np.maximum(n - k, 1)), 1.0)
    exact = float(np.sum(stats.binom.pmf(k, n, 0.05) * (upper >= 0.05)))
    mc, se = t["coverage"][m][0], t["coverage_se"][m][0]
    z = f"({(mc - exact) / se:+.1f} SE)" if se > 0 else "(no Monte-Carlo spread)"
    print(f"n={n:>4g}: exact coverage {exact:.4f}, sweep {mc:.4f} +- {se:.4f} {z}")
    assert abs(mc - exact) <= 4 * se + 1e-12

# %% [markdown]
# ## 3. Plan a label budget
#
# "How many human labels do I need to certify a failure rate below 5% at 95%, with 80%
# probability, if the judge has TPR 0.9 and FPR 0.05, I have 10,000 judge labels, and the
# model really fails 2% of the time?" (`jaxcert plan` on the command line.)

# %%
plan = plan_sample_size(jax.random.key(1), eps=0.05, alpha=0.05, tpr=0.9, fpr=0.05, N=10_000,
                        theta_guess=0.02, power=0.8, box_width=0.02,
                        replicates=100 if QUICK else 400, n_max=600 if QUICK else 1500)
print(format_plan(plan, eps=0.05, alpha=0.05, power=0.8))

fig, ax = plt.subplots(figsize=(6, 3.5))
for name, p in plan.power.items():
    ax.plot(plan.n_grid, p, label=name)
ax.axhline(0.8, color="k", lw=0.8)
ax.set(xlabel="human labels n", ylabel="P(certify theta <= 0.05)", xscale="log")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# Read the CMLE line with its assumption: with the FPR known to +-0.02 and 10,000 judge
# labels, the judge-only positive rate alone pins theta = (q - r) / (s - r) below about
# 0.046, so a handful of human labels suffices. The certificate is exactly as good as the
# box; section 1's `shifted` rows show what a wrong box does.

# %% [markdown]
# ## 4. The committed full reproduction
#
# `python benchmarks/reproduce_cmle.py` runs judge accuracy {0.6 ... 0.95} x n {25 ... 500}
# x theta {0.01 ... 0.3} x N {1e3, 1e4} x 5 boxes, 1,000 replicates each (175 s on a 2-core
# CPU). Its table is committed; here is the mean RMSE ratio CMLE / PPI++ by box.

# %%
root = pathlib.Path.cwd()
while not (root / "benchmarks").exists() and root != root.parent:
    root = root.parent
run_dir = root / "benchmarks" / "results" / "reproduce_cmle"
if (run_dir / "results.csv").exists():
    full = read_columns(str(run_dir))  # NumPy columns (read_table gives a DataFrame)
    cm, pp = full["estimator"] == "cmle_profile", full["estimator"] == "ppi_plusplus"
    ratio = full["rmse"][cm] / full["rmse"][pp]  # same scenario order for each estimator
    boxes = full["box"][cm]
    for b in ["exact", "+-0.02", "+-0.05", "+-0.1", "shifted"]:
        r = ratio[boxes == b]
        print(f"box {b:>7}: RMSE(CMLE)/RMSE(PPI++) mean {r.mean():.2f}, "
              f"CMLE better in {np.mean(r < 1):.0%} of scenarios; CMLE coverage "
              f"{full['coverage'][cm][boxes == b].mean():.3f}")
else:
    print("benchmarks/results/reproduce_cmle/ not found (run benchmarks/reproduce_cmle.py)")
