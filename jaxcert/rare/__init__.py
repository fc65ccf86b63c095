"""Five-nines failure rates: cross-entropy method + defensive importance sampling.

The input space is a :class:`ProductSpace` of finite variables (uniform nominal
distribution over valid inputs); :func:`estimate` trains a product-of-categoricals
proposal with CEM kernels (:func:`cem_init` / :func:`cem_step`), then certifies the
failure rate from a fresh defensive-mixture stage with a finite-sample bound.
"""

from jaxcert.rare.cem import CEMInfo, CEMState, cem_init, cem_run, cem_step
from jaxcert.rare.paired import ComparisonResult, compare
from jaxcert.rare.mixture import init_mixture, mixture_cem_update
from jaxcert.rare.psis import pareto_khat
from jaxcert.rare.reliability import Assessment, assess
from jaxcert.rare.estimate import RareResult, estimate, uniform_estimate
from jaxcert.rare.importance import (
    BOUNDS,
    ISEstimate,
    bound_mean,
    effective_sample_size,
    importance_estimate,
    valid_reduction_cap,
)
from jaxcert.rare.proposal import (
    Mixture,
    Proposal,
    apply_floor,
    defensive_mixture,
    log_prob,
    log_weights,
    mixture_log_prob,
    mixture_sample,
    proposal_from_probs,
    sample,
    uniform_proposal,
)
from jaxcert.rare.space import ProductSpace, ValidFraction
from jaxcert.rare.synthetic import Landscape, landscape_evaluator, landscape_mu, landscape_score, planted_landscape

# --- templates, evaluators and model endpoints ----------------------------------------
from jaxcert.rare.endpoints import DEFAULT_SYSTEM_PROMPT, OpenAIEvaluator  # noqa: E402
from jaxcert.rare.evaluators import (  # noqa: E402
    EvaluationError,
    cached_evaluator,
    planted_corner_evaluator,
    planted_evaluator,
    python_evaluator,
)
from jaxcert.rare.scoring import ScoreMode, extract_answer, parse_score  # noqa: E402
from jaxcert.rare.templates import (  # noqa: E402
    TemplateSpace,
    combine_estimates,
    load_all,
    load_gsm_alt,
    load_template,
    load_varbench,
)
# ---------------------------------------------------------------------------------------

__all__ = [
    # spaces
    "ProductSpace",
    "ValidFraction",
    # proposals
    "Proposal",
    "Mixture",
    "uniform_proposal",
    "proposal_from_probs",
    "apply_floor",
    "sample",
    "log_prob",
    "defensive_mixture",
    "mixture_sample",
    "mixture_log_prob",
    "log_weights",
    # CEM kernels
    "CEMState",
    "CEMInfo",
    "cem_init",
    "cem_step",
    "cem_run",
    "init_mixture",
    "mixture_cem_update",
    # importance sampling
    "BOUNDS",
    "ISEstimate",
    "importance_estimate",
    "bound_mean",
    "effective_sample_size",
    "valid_reduction_cap",
    # intervals and reliability
    "pareto_khat",
    "Assessment",
    "assess",
    # model comparison
    "compare",
    "ComparisonResult",
    # front door
    "RareResult",
    "estimate",
    "uniform_estimate",
    # synthetic landscapes
    "Landscape",
    "planted_landscape",
    "landscape_score",
    "landscape_mu",
    "landscape_evaluator",
    # templates and evaluators
    "TemplateSpace",
    "load_template",
    "load_varbench",
    "load_gsm_alt",
    "load_all",
    "combine_estimates",
    "OpenAIEvaluator",
    "ScoreMode",
    "parse_score",
    "python_evaluator",
    "cached_evaluator",
    "planted_evaluator",
    "planted_corner_evaluator",
    "extract_answer",
    "EvaluationError",
    "DEFAULT_SYSTEM_PROMPT",
]
