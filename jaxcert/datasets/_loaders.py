"""Loaders for the bundled real human-vs-judge label data (labels only, no text).

Both files carry a human label on every item: to mimic a judge-only set, hide most
human labels (set them to NaN) and compare with the full-label truth, as
``jaxcert demo`` does. Provenance, derivations and licenses: ``data/PROVENANCE.md``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np

from jaxcert.counts import Counts

__all__ = [
    "JudgeDataset",
    "load_xstest",
    "load_mtbench",
    "XSTEST_MODELS",
    "XSTEST_JUDGES",
    "XSTEST_CITATION",
    "MTBENCH_CITATION",
    "MTBENCH_CATEGORIES",
]

XSTEST_MODELS = ("gpt4", "llama2new", "llama2orig", "mistralguard", "mistralinstruct")
XSTEST_JUDGES = ("gpt4", "strmatch")
MTBENCH_CATEGORIES = ("coding", "extraction", "humanities", "math", "reasoning", "roleplay",
                      "stem", "writing")

XSTEST_CITATION = (
    "Paul Röttger, Hannah Rose Kirk, Bertie Vidgen, Giuseppe Attanasio, Federico Bianchi, "
    "Dirk Hovy. XSTest: A Test Suite for Identifying Exaggerated Safety Behaviours in Large "
    "Language Models. NAACL 2024. Data: https://github.com/paul-rottger/exaggerated-safety "
    "(CC-BY-4.0)."
)
MTBENCH_CITATION = (
    "Lianmin Zheng, Wei-Lin Chiang, Ying Sheng, Siyuan Zhuang, Zhanghao Wu, Yonghao Zhuang, "
    "Zi Lin, Zhuohan Li, Dacheng Li, Eric P. Xing, Hao Zhang, Joseph E. Gonzalez, Ion Stoica. "
    "Judging LLM-as-a-Judge with MT-Bench and Chatbot Arena. NeurIPS 2023 Datasets and "
    "Benchmarks. Data: huggingface.co/datasets/lmsys/mt_bench_human_judgments (CC-BY-4.0), "
    "item-level merge from github.com/Vibhanshu-555/Human-Aligned-LLM-Evaluation-Audit (MIT)."
)


@dataclass(frozen=True)
class JudgeDataset:
    """Per-item human labels and judge verdicts of a bundled data set.

    Attributes:
      name: data set name, e.g. ``"xstest"``.
      human: float64 array ``(R,)``: 1 = the human says the output is a failure.
      judge: float64 array ``(R,)``: 1 = the judge says failure.
      model: str array ``(R,)``: the model that produced each output.
      item: str array ``(R,)``: item identifier (prompt id / question-turn).
      metadata: dict describing the selection, the failure mapping and rows dropped.
      citation: how to cite the data.
    """

    name: str
    human: np.ndarray
    judge: np.ndarray
    model: np.ndarray
    item: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)
    citation: str = ""

    def __len__(self) -> int:
        return int(self.human.shape[0])

    @property
    def truth(self) -> float:
        """Failure rate by the human labels on every item (the full-label truth)."""
        return float(np.mean(self.human))

    def counts(self) -> Counts:
        """All items as calibration data (every item has a human label)."""
        return Counts.from_labels(self.human, self.judge)

    def _columns(self) -> dict[str, np.ndarray]:
        return {"model": self.model, "item": self.item, "human": self.human,
                "judge": self.judge}

    def to_pandas(self):
        """A pandas DataFrame with columns ``model, item, human, judge``.

        Raises:
          ImportError: pandas is not installed.
        """
        import pandas as pd

        return pd.DataFrame(self._columns())

    def to_polars(self):
        """A polars DataFrame with columns ``model, item, human, judge``.

        Raises:
          ImportError: polars is not installed.
        """
        import polars as pl

        return pl.DataFrame(self._columns())

    def subset(self, mask) -> JudgeDataset:
        """Rows where ``mask`` is true (same metadata)."""
        m = np.asarray(mask, dtype=bool)
        return JudgeDataset(self.name, self.human[m], self.judge[m], self.model[m], self.item[m],
                            dict(self.metadata), self.citation)


def _rows(filename: str) -> list[dict[str, str]]:
    text = resources.files("jaxcert.datasets").joinpath("data", filename).read_text("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def _check_choice(value, choices, name):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


def load_xstest(judge: str = "gpt4", model: str | None = None) -> JudgeDataset:
    """XSTest (Röttger et al., NAACL 2024): human refusal labels vs an automatic judge.

    450 prompts (250 safe, 200 unsafe) x 5 model configurations. A failure is refusing
    a safe prompt or complying with an unsafe one (human ``final_label``).

    Args:
      judge: ``"gpt4"`` (the paper's GPT-4 classifier; its 11 ``INVALID`` verdicts, all on
        mistralinstruct, are dropped and counted in ``metadata["n_dropped"]``) or
        ``"strmatch"`` (refusal string matcher).
      model: one of :data:`XSTEST_MODELS`, or ``None`` for all five (2,250 rows).

    Returns:
      :class:`JudgeDataset`.

    Example:
      >>> d = load_xstest("strmatch", model="llama2orig")
      >>> len(d), round(d.truth, 3)
      (450, 0.331)
    """
    _check_choice(judge, XSTEST_JUDGES, "judge")
    if model is not None:
        _check_choice(model, XSTEST_MODELS, "model")
    rows = [r for r in _rows("xstest_labels.csv") if model is None or r["model"] == model]
    kept = [r for r in rows if r[f"{judge}_fail"] != ""]
    return JudgeDataset(
        name="xstest",
        human=np.array([float(r["human_fail"]) for r in kept]),
        judge=np.array([float(r[f"{judge}_fail"]) for r in kept]),
        model=np.array([r["model"] for r in kept]),
        item=np.array([r["id"] for r in kept]),
        metadata={
            "judge": judge, "model": model, "n_dropped": len(rows) - len(kept),
            "failure": "safe prompt refused (fully or partially), or unsafe prompt complied with",
            "license": "CC-BY-4.0",
        },
        citation=XSTEST_CITATION,
    )


def load_mtbench(category: str | None = None, turn: int | None = None) -> JudgeDataset:
    """MT-Bench (Zheng et al., NeurIPS 2023): expert votes vs the GPT-4 pairwise judge.

    1,751 human votes. The item is ``model_a``'s response; a failure is ``model_a``
    losing the comparison (a tie is not a failure), for human and GPT-4 alike.
    ``model`` holds ``model_a``; ``item`` is ``"question_id/turn/model_a/model_b"``
    (several votes may share an item).

    Args:
      category: one of :data:`MTBENCH_CATEGORIES` or ``None`` for all.
      turn: 1, 2 or ``None`` for both.

    Returns:
      :class:`JudgeDataset`.

    Example:
      >>> d = load_mtbench()
      >>> len(d)
      1751
    """
    if category is not None:
        _check_choice(category, MTBENCH_CATEGORIES, "category")
    if turn is not None:
        _check_choice(turn, (1, 2), "turn")
    rows = [r for r in _rows("mtbench_human_vs_gpt4_pair.csv")
            if (category is None or r["category"] == category)
            and (turn is None or int(r["turn"]) == turn)]
    return JudgeDataset(
        name="mtbench",
        human=np.array([float(r["human_fail"]) for r in rows]),
        judge=np.array([float(r["gpt4_fail"]) for r in rows]),
        model=np.array([r["model_a"] for r in rows]),
        item=np.array([f"{r['question_id']}/{r['turn']}/{r['model_a']}/{r['model_b']}"
                       for r in rows]),
        metadata={
            "judge": "gpt4_pair", "category": category, "turn": turn, "n_dropped": 0,
            "failure": "model_a loses the pairwise comparison (ties are not failures)",
            "license": "CC-BY-4.0",
        },
        citation=MTBENCH_CITATION,
    )
