"""GSM8K template spaces (VarBench, GSM-ALT) as finite product spaces.

A template is a question with numeric variables and an exact answer formula. It
becomes a :class:`TemplateSpace`: a :class:`jaxcert.rare.space.ProductSpace` whose
coordinates are *latent* finite variables, plus a renderer (question text) and the
exact answer, both computed by the safe interpreter :mod:`jaxcert.rare._safe_expr`
(template data is never executed as Python).

Domains (documented choices)
----------------------------
* VarBench ``input_range``: each ``random.*`` call in a range expression becomes one
  latent coordinate; the variable's value is the expression with the call replaced by
  the latent (so ``2 * random.randint(1, 50)`` is even numbers 2..100).
  ``randint(a, b)``/``randrange(a, b, s)``: the integers (subsampled to at most
  ``max_levels`` evenly spaced ones); ``uniform(a, b)``/``random()``: ``float_levels``
  evenly spaced points rounded to ``decimals`` (2, or ``n`` in ``round(uniform(..), n)``);
  ``choice([...])``: the listed values. Non-random expressions are constants or
  derived variables. The original value is always added to a direct latent's grid.
* Dependent ranges (``randint(a + b, 1000)``, 573 of 4,754): the latent takes the
  widest static range (the hull of the bound over the corners of the referenced
  variables' ranges) and a **validity condition** ``a(x) <= v <= b(x)`` enforces the
  dependency. So the nominal distribution is uniform over valid *joint* assignments,
  not VarBench's sequential sampling.
* GSM-ALT has no domains: variable ``v`` with original value ``v0`` (recovered by
  aligning ``question`` with ``abstracted_question``) ranges over the integers
  ``max(1, floor(v0/2)) .. max(2 v0, lo + 1)`` (non-integers: the same range in steps of
  the original's last decimal), unless ``domains={"x": (lo, hi) or [values]}`` is given.
* Validity (all free, no model call): dependency bounds; every value finite with
  ``|v| <= 1e12``; variables with a positive (non-negative) original stay positive
  (non-negative); answer finite; answer integral when the original answer is (always
  for GSM-ALT: its README requires whole-number answers); answer ``>= 0`` when the
  original is; GSM-ALT ``constraints``.
* Grids are shrunk (largest first) until the product has at most ``max_inputs``
  inputs (default: the enumeration limit, so valid fractions are exact).

Several templates: one space per template; :func:`combine_estimates` aggregates
per-template certificates (weighted sum of bounds with a Bonferroni split of alpha).
"""

from __future__ import annotations

import numpy as np

from jaxcert.rare._template_space import TemplateSpace
from jaxcert.rare.template_sources import SOURCES, load_gsm_alt, load_varbench, template_count

__all__ = [
    "TemplateSpace",
    "load_template",
    "load_varbench",
    "load_gsm_alt",
    "load_all",
    "combine_estimates",
]


def load_template(spec: str, **kwargs) -> TemplateSpace:
    """Loads ``"varbench:<index>"`` or ``"gsm-alt:<index>"`` (keyword args passed on)."""
    src, _, idx = str(spec).partition(":")
    if src not in SOURCES or not idx.strip().isdigit():
        raise ValueError(
            f"template spec must be 'varbench:<index>' or 'gsm-alt:<index>'; got {spec!r}"
        )
    loader = load_varbench if src == "varbench" else load_gsm_alt
    return loader(int(idx), **kwargs)


def load_all(source: str, **kwargs) -> tuple[dict[str, TemplateSpace], dict[str, str]]:
    """Loads every template of ``source`` ("varbench" | "gsm-alt").

    Returns:
      ``(spaces, rejected)``: ``{id: TemplateSpace}`` and ``{id: reason}``.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {sorted(SOURCES)}; got {source!r}")
    spaces, rejected = {}, {}
    for i in range(template_count(source, kwargs.get("path"))):
        try:
            spaces[f"{source}:{i}"] = load_template(f"{source}:{i}", **kwargs)
        except ValueError as e:
            rejected[f"{source}:{i}"] = str(e)
    return spaces, rejected


def combine_estimates(results, weights=None, alphas=None) -> dict:
    """Aggregates per-template certificates into one over a mixture of templates.

    With template weights ``w_t`` (default equal, summing to 1), the mixture failure
    rate is ``mu = sum_t w_t mu_t``. If each ``[L_t, U_t]`` holds with probability
    ``1 - alpha_t``, then ``[sum w_t L_t, sum w_t U_t]`` holds with probability
    ``>= 1 - sum_t alpha_t`` (union bound): run each template at ``alpha / T``.

    Args:
      results: sequence of objects (or dicts) with ``estimate``, ``lower``, ``upper``.
      weights: optional non-negative weights (normalised here).
      alphas: optional per-result error levels, summed into ``alpha_total``.

    Returns:
      dict with ``estimate``, ``lower``, ``upper``, ``weights``, ``alpha_total``.
    """
    results = list(results)
    if not results:
        raise ValueError("results must be a non-empty sequence of per-template results")
    get = lambda r, k: float(r[k] if isinstance(r, dict) else getattr(r, k))  # noqa: E731
    w = (
        np.full(len(results), 1.0 / len(results))
        if weights is None
        else np.asarray(weights, dtype=np.float64)
    )
    if w.shape != (len(results),) or np.any(w < 0) or not w.sum() > 0:
        raise ValueError(
            f"weights must be {len(results)} non-negative numbers with a positive sum; "
            f"got {weights!r}"
        )
    w = w / w.sum()
    out = {
        k: float(sum(wi * get(r, k) for wi, r in zip(w, results, strict=True)))
        for k in ("estimate", "lower", "upper")
    }
    out["weights"] = w.tolist()
    out["alpha_total"] = None if alphas is None else float(np.sum(alphas))
    return out
