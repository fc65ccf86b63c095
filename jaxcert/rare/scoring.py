"""How one model reply becomes a failure score in ``[0, 1]``.

Three score modes, chosen by a string (``parse_score``):

* ``"binary"``: one answer per input (greedy unless a temperature is set); failure is 1
  when the extracted answer is wrong or missing, else 0. Cost: one inference.
* ``"samples:K"``: ``K`` sampled answers per input; failure is the fraction that is
  wrong. An unbiased estimate of the model's failure probability at that temperature,
  charged ``K`` inferences.
* ``"logprob"``: the failure probability ``1 - P(reference answer | prompt)`` by
  teacher forcing: the prompt followed by the exact answer is sent to ``/completions``
  with ``echo=true, logprobs=1, max_tokens=0`` and the log-probabilities of the answer
  tokens are summed. One inference (a prefill, no generation). It scores the direct
  answer (no reasoning before it), which is what makes it a smooth signal at five nines.

Answer extraction (documented rule)
-----------------------------------
Take the text after the last ``####`` if present, else the content of the last
``\\boxed{...}``, else the whole reply; in it, the **last** number (``-?`` digits with
optional thousands commas and decimals; commas removed). A reply with no number is a
*model failure* (status ``"no_answer"``). The number ``y`` is correct iff
``|y - a| <= atol + rtol |a|`` for the exact answer ``a``.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

__all__ = [
    "ScoreMode",
    "parse_score",
    "extract_answer",
    "answer_is_correct",
    "format_answer",
    "teacher_forcing_prompt",
    "answer_logprob",
    "MalformedReply",
]

_NUM_RE = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


class MalformedReply(Exception):
    """A reply that cannot be scored (never counted as a pass); ``str`` is the reason."""


class ScoreMode(NamedTuple):
    """A parsed score mode: ``kind`` in binary | samples | logprob; ``samples`` = K."""

    kind: str
    samples: int

    @property
    def cost_per_input(self) -> int:
        """Inferences paid per input: K for ``samples:K``, else 1."""
        return self.samples

    def __str__(self) -> str:
        return f"samples:{self.samples}" if self.kind == "samples" else self.kind


def parse_score(spec) -> ScoreMode:
    """Parses ``"binary" | "logprob" | "samples:K"`` (K >= 2) into a :class:`ScoreMode`."""
    if isinstance(spec, ScoreMode):
        return spec
    s = str(spec).strip()
    if s in ("binary", "logprob"):
        return ScoreMode(s, 1)
    kind, _, k = s.partition(":")
    if kind == "samples" and k.strip().isdigit() and int(k) >= 2:
        return ScoreMode("samples", int(k))
    raise ValueError(f"score must be 'binary', 'logprob' or 'samples:K' with K >= 2; got {spec!r}")


def extract_answer(text) -> float | None:
    """The final number of a reply (rule in the module docstring); ``None`` if none."""
    if not isinstance(text, str):
        return None
    if "####" in text:
        seg = text.rsplit("####", 1)[1]
    else:
        boxes = re.findall(r"\\boxed\{([^{}]*)\}", text)
        seg = boxes[-1] if boxes else text
    nums = _NUM_RE.findall(seg)
    if not nums:
        return None
    try:
        return float(nums[-1].replace(",", ""))
    except ValueError:  # pragma: no cover - the regex only matches numbers
        return None


def answer_is_correct(y: float, expected: float, rtol: float = 1e-6, atol: float = 1e-6) -> bool:
    """``|y - a| <= atol + rtol |a|``; a NaN on either side is wrong."""
    return bool(abs(y - expected) <= atol + rtol * abs(expected))


def format_answer(a: float) -> str:
    """The reference answer as a model would write it: integers without ``.0``."""
    if not math.isfinite(a):
        raise ValueError(f"the reference answer must be finite; got {a!r}")
    if abs(a - round(a)) < 1e-9:
        return str(int(round(a)))
    return f"{a:.6f}".rstrip("0").rstrip(".")


def teacher_forcing_prompt(system_prompt: str, question: str, answer: float) -> tuple[str, int]:
    """``(text, answer_start)``: prompt + reference answer, and where the answer begins.

    The answer follows ``####`` with one space so that tokenisers that attach a leading
    space to a word put the answer in its own tokens.
    """
    prefix = f"{system_prompt}\n\nQuestion: {question}\nAnswer: ####"
    return prefix + " " + format_answer(answer), len(prefix)


def answer_logprob(reply, text: str, answer_start: int) -> float:
    """Sum of the log-probabilities of the tokens that overlap ``text[answer_start:]``.

    ``reply`` is a parsed ``/completions`` reply with ``echo=true``: ``choices[0].logprobs``
    holds ``tokens``, ``token_logprobs`` and ``text_offset`` of the echoed prompt. A token
    straddling the boundary counts as an answer token (its probability can only lower
    ``P(answer)``, so the failure score errs high, never towards a pass). Tokens past the
    prompt (a server that generated anyway) are ignored.

    Raises:
      MalformedReply: no prompt log-probabilities (the server ignores ``echo``, or
        returns log-probabilities of generated tokens only), or non-finite/positive values.
    """
    try:
        lp = reply["choices"][0]["logprobs"]
        tokens, values, offsets = lp["tokens"], lp["token_logprobs"], lp["text_offset"]
    except (KeyError, IndexError, TypeError):
        raise MalformedReply("no_prompt_logprobs") from None
    if not (isinstance(tokens, list) and isinstance(values, list) and isinstance(offsets, list)):
        raise MalformedReply("no_prompt_logprobs")
    if not len(tokens) == len(values) == len(offsets) or not tokens:
        raise MalformedReply("no_prompt_logprobs")
    try:
        spans = [(int(o), int(o) + len(t), v) for t, v, o in zip(tokens, values, offsets)]
    except (TypeError, ValueError):
        raise MalformedReply("malformed_logprobs") from None
    # the echoed tokens must tile the whole prompt, else these are not prompt logprobs
    if spans[0][0] > answer_start or max(e for _, e, _ in spans) < len(text):
        raise MalformedReply("no_prompt_logprobs")
    total = 0.0
    for start, end, v in spans:
        if end <= answer_start or start >= len(text):
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v <= 0:
            raise MalformedReply("malformed_logprobs")  # None, NaN, or a positive log-prob
        total += float(v)
    return total
