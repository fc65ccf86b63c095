"""Five-nines failure rates: cross-entropy method + defensive importance sampling.

The modules follow the pipeline, in the order a run goes through them:

1. **Spaces** (:mod:`~jaxcert.rare.space`, :mod:`~jaxcert.rare.templates`): a
   :class:`ProductSpace` of finite variables with a uniform nominal distribution over
   its valid inputs, or a :class:`TemplateSpace` of real questions built from a
   GSM8K-style template.
2. **Proposals and CE kernels** (:mod:`~jaxcert.rare.proposal`,
   :mod:`~jaxcert.rare.cem`, :mod:`~jaxcert.rare.mixture`): a product of categoricals
   (or a mixture of them) trained by pure ``init / step`` kernels, always drawn through
   a defensive mixture with the nominal so that every weight is at most ``1 / l``.
3. **Estimation and intervals** (:mod:`~jaxcert.rare.pipeline` with
   :mod:`~jaxcert.rare.budget`, :mod:`~jaxcert.rare.importance`,
   :mod:`~jaxcert.rare.bootstrap`, :mod:`~jaxcert.rare.psis`,
   :mod:`~jaxcert.rare.reliability`, :mod:`~jaxcert.rare.certificate`,
   :mod:`~jaxcert.rare.result`): :func:`estimate`
   plans the budget, trains the proposal, and certifies the failure rate from a fresh
   stage with a finite-sample bound, next to an asymptotic interval and a reliability
   verdict; :func:`uniform_estimate` (:mod:`~jaxcert.rare.baseline`) is the uniform
   baseline and :func:`compare` (:mod:`~jaxcert.rare.paired`) the paired ratio of two
   models.
4. **Endpoints and caching** (:mod:`~jaxcert.rare.evaluators`,
   :mod:`~jaxcert.rare.endpoints`, :mod:`~jaxcert.rare.scoring`): the model under test
   as an evaluator ``X -> failure scores``, behind an on-disk cache so that a run
   resumes without paying twice; :mod:`~jaxcert.rare.synthetic` holds planted models
   with exact failure rates for tests and demos.
"""

from jaxcert.rare.baseline import uniform_estimate
from jaxcert.rare.cem import CEMInfo, CEMState, cem_init, cem_run, cem_step
from jaxcert.rare.endpoints import DEFAULT_SYSTEM_PROMPT, OpenAIEvaluator
from jaxcert.rare.evaluators import EvaluationError, cached_evaluator, python_evaluator
from jaxcert.rare.importance import (
    BOUNDS,
    ISEstimate,
    bound_mean,
    effective_sample_size,
    importance_estimate,
    valid_reduction_cap,
)
from jaxcert.rare.mixture import init_mixture, mixture_cem_update
from jaxcert.rare.paired import ComparisonResult, compare
from jaxcert.rare.pipeline import estimate
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
from jaxcert.rare.psis import pareto_khat
from jaxcert.rare.reliability import Assessment, assess
from jaxcert.rare.result import RareResult
from jaxcert.rare.scoring import ScoreMode, extract_answer, parse_score
from jaxcert.rare.space import ProductSpace, ValidFraction
from jaxcert.rare.synthetic import (
    Landscape,
    landscape_evaluator,
    landscape_mu,
    landscape_score,
    planted_corner_evaluator,
    planted_evaluator,
    planted_landscape,
)
from jaxcert.rare.templates import (
    TemplateSpace,
    combine_estimates,
    load_all,
    load_gsm_alt,
    load_template,
    load_varbench,
)

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
