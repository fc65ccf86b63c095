"""Bundled real data: human labels vs LLM-judge verdicts (labels only).

* :func:`load_xstest`: XSTest refusal labels, 5 models x 450 prompts, GPT-4 classifier
  and string-match judges (Röttger et al., NAACL 2024; CC-BY-4.0).
* :func:`load_mtbench`: MT-Bench expert pairwise votes vs the GPT-4 pairwise judge
  (Zheng et al., NeurIPS 2023; CC-BY-4.0).

Provenance, derivation of the failure indicators and license texts ship next to the
files (``jaxcert/datasets/data/PROVENANCE.md``). Cite the original papers
(:data:`XSTEST_CITATION`, :data:`MTBENCH_CITATION`) when you use them.
"""

from jaxcert.datasets._loaders import (
    MTBENCH_CATEGORIES,
    MTBENCH_CITATION,
    XSTEST_CITATION,
    XSTEST_JUDGES,
    XSTEST_MODELS,
    JudgeDataset,
    load_mtbench,
    load_xstest,
)

__all__ = [
    "JudgeDataset",
    "load_xstest",
    "load_mtbench",
    "XSTEST_MODELS",
    "XSTEST_JUDGES",
    "XSTEST_CITATION",
    "MTBENCH_CATEGORIES",
    "MTBENCH_CITATION",
]
