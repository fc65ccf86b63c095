"""The result of a five-nines run: estimate, honest interval, certificate, diagnostics.

A run reports three different things, and the report keeps them apart:

* the **estimate** of ``mu`` with its default **asymptotic interval** (``ci_lower``,
  ``ci_upper``; bootstrap-t or CLT, see :mod:`jaxcert.rare.reliability`). It is the
  useful number when the sampler found every failure region, and ``unreliable`` with
  its ``reasons`` says when the sample itself shows that it cannot be trusted;
* the **finite-sample certificate** ``[lower, upper]`` (``bound``: betting or
  Bernstein on the fresh estimation stage, intersected with exact Clopper-Pearson on
  the uniform draws). It holds for every landscape and budget, and for that reason
  it is never much tighter than uniform sampling (``jaxcert.rare.importance``);
* the **hidden-mass floor** ``0.6 / uniform_draws``: failure mass of about that size
  on inputs the proposal does not favour would go unseen half the time.

``efficiency_estimate`` is the honest metric estimated from the run: the variance a
uniform sampler with the same outcome type would have at the same number of
inferences, divided by the estimate's own variance (both estimated from the IS
sample, so it inherits the ``unreliable`` verdict).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxcert._types import status_name
from jaxcert.rare import proposal as _prop
from jaxcert.rare.space import ValidFraction

__all__ = ["RareResult"]


@dataclasses.dataclass(frozen=True)
class RareResult:
    """Result of :func:`jaxcert.rare.estimate` / :func:`jaxcert.rare.uniform_estimate`.

    Attributes:
      estimate: point estimate of ``mu`` (fresh stage plus any reused training stages).
      ci_lower, ci_upper: default asymptotic interval (two-sided at ``alpha``);
        interval: "bootstrap-t" | "bootstrap-t+gamma" (0/1 outcomes: widened to contain
        the Fay-Feuer gamma interval) | "skew-corrected" | "clt" | "clopper-pearson".
      unreliable: True when the sample shows the estimate cannot be trusted;
        reasons: the reasons (k-hat, hits, ESS); khat: PSIS Pareto k-hat;
        integrand_ess, hits: ESS and number of positive terms ``F w``;
        hidden_mass_floor: ``0.6 / uniform_draws``.
      lower, upper: the finite-sample certificate (``side``), valid for every
        landscape; alpha, side, bound: its level, side and bound method.
      inferences: model inferences actually paid (training included; an input scored
        from K samples costs K); budget: the budget given; cost_per_input: K.
      efficiency_estimate: estimated uniform variance / own variance at equal cost.
      reduction, uniform_needed: uniform samples an exact Clopper-Pearson certificate
        needs for ``upper``, and that divided by ``inferences`` (certificate vs
        certificate; at most about 5x for any valid certificate).
      ess, max_weight: Kish ESS and largest weight of the estimation stage.
      failures_seen: evaluations with ``F > 0`` (all stages); estimation_failures: in
        the fresh estimation stage.
      num_stages, reused_stages: CEM training stages and how many of them the
        estimate reuses; proposal: the final CE proposal (a product, or the
        :class:`jaxcert.rare.proposal.Mixture` of products); history: per-stage dicts.
      status, valid_fraction, defensive, notes: as before.
      uniform_draws, uniform_failures, certificate: the uniform draws (stage 0 and
        every defensive component) and which interval set the certificate's upper end.
    """

    estimate: float
    lower: float
    upper: float
    alpha: float
    side: str
    bound: str
    inferences: int
    budget: int
    reduction: float
    uniform_needed: float
    ess: float
    max_weight: float
    failures_seen: int
    estimation_failures: int
    num_stages: int
    proposal: object
    history: tuple
    status: int
    valid_fraction: ValidFraction
    defensive: float
    notes: tuple
    uniform_draws: int = 0
    uniform_failures: int = 0
    certificate: str = "importance"
    ci_lower: float = float("nan")
    ci_upper: float = float("nan")
    interval: str = "skew-corrected"
    unreliable: bool = False
    reasons: tuple = ()
    khat: float = float("nan")
    integrand_ess: float = float("nan")
    hits: int = 0
    hidden_mass_floor: float = float("nan")
    efficiency_estimate: float = float("nan")
    cost_per_input: int = 1
    reused_stages: int = 0

    def to_dict(self) -> dict:
        """JSON-serialisable dict (a product proposal as ragged per-variable lists)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["proposal"] = _proposal_lists(self.proposal)
        d["history"] = [dict(h) for h in self.history]
        d["valid_fraction"] = self.valid_fraction._asdict()
        return json_ready(self, d)

    def history_frame(self):
        """The CE stages as a pandas DataFrame, one row per stage; needs pandas."""
        import pandas as pd

        return pd.DataFrame([dict(h) for h in self.history])

    def __str__(self) -> str:
        lvl, verdict = level_and_verdict(self)
        lines = [
            f"rare-failure estimate {self.estimate:.4g}, {lvl} {self.interval} interval [{self.ci_lower:.4g}, {self.ci_upper:.4g}]",
            f"  reliability: {verdict} (k-hat {self.khat:.2f}, hits {self.hits}, integrand ESS {self.integrand_ess:.1f})",
            f"  assumes the sampler found every failure region: mass below ~{self.hidden_mass_floor:.3g} "
            f"(0.6 / {self.uniform_draws} uniform draws) could hide unseen",
            f"  estimated efficiency vs uniform sampling (same outcome type, equal inferences): {self.efficiency_estimate:.3g}x",
            f"  finite-sample certificate ({self.bound}, {self.side}, {lvl}, valid on any landscape): "
            f"[{self.lower:.4g}, {self.upper:.4g}], set by {self.certificate}",
            f"  inferences {self.inferences} of budget {self.budget} ({self.num_stages} CEM stages, "
            f"{self.reused_stages} reused, + estimation; {self.cost_per_input} per input)",
            f"  inputs with F > 0: {self.failures_seen} ({self.estimation_failures} in the fresh stage), "
            f"valid fraction {self.valid_fraction.estimate:.4g} ({'exact' if self.valid_fraction.exact else 'Monte Carlo'}), "
            f"status {status_name(self.status)}",
        ]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def level_and_verdict(result) -> tuple[str, str]:
    """The level (``"95%"``) and the reliability verdict, worded alike in every report."""
    lvl = f"{100 * (1 - result.alpha):g}%"
    if result.unreliable:
        return lvl, "UNRELIABLE: " + "; ".join(result.reasons)
    return lvl, "no warning sign in the sample"


def json_ready(result, d: dict) -> dict:
    """``d`` (the fields of ``result``) with the status named and reasons and notes as lists."""
    d["status"] = status_name(result.status)
    d["notes"], d["reasons"] = list(result.notes), list(result.reasons)
    return d


def _proposal_lists(proposal):
    if isinstance(proposal, _prop.Mixture):
        return {"weights": np.asarray(proposal.weights).tolist(),
                "components": [_proposal_lists(_prop.Proposal(p, m)) for p, m in
                               zip(np.asarray(proposal.components.probs), np.asarray(proposal.components.mask))]}
    probs, mask = np.asarray(proposal.probs), np.asarray(proposal.mask)
    return [p[m].tolist() for p, m in zip(probs, mask)]
