"""Reading the two template datasets, VarBench GSM8K and GSM-ALT, into template spaces.

The domain and validity rules are documented in :mod:`jaxcert.rare.templates` (the
front door that re-exports these loaders); the data files and their licences are in
``jaxcert/rare/data/``.
"""

from __future__ import annotations

import ast
import difflib
import json
import math
import re
from importlib import resources

import numpy as np

from jaxcert.rare import _safe_expr as se
from jaxcert.rare._template_latents import Builder, Latent, dependency_order, is_integral
from jaxcert.rare._template_space import (
    FLOAT_LEVELS,
    MAX_LEVELS,
    GridOptions,
    TemplateSpace,
    TemplateSpec,
)
from jaxcert.rare.space import ENUMERATION_LIMIT

__all__ = ["SOURCES", "load_varbench", "load_gsm_alt", "template_count"]

SOURCES = {"varbench": "varbench_gsm8k.jsonl", "gsm-alt": "gsm_alt_template.jsonl"}

_CACHE: dict = {}


def _records(source: str, path=None) -> list[dict]:
    key = (source, str(path))
    if key not in _CACHE:
        if path is None:
            text = (
                resources.files("jaxcert.rare")
                .joinpath("data", SOURCES[source])
                .read_text("utf-8")
            )
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        _CACHE[key] = [json.loads(line) for line in text.splitlines() if line.strip()]
    return _CACHE[key]


def template_count(source: str, path=None) -> int:
    """Number of templates in ``source`` ("varbench" | "gsm-alt")."""
    return len(_records(source, path))


def _record(source, index, path):
    recs = _records(source, path)
    if not isinstance(index, (int, np.integer)) or not 0 <= index < len(recs):
        raise ValueError(f"index must be an int in [0, {len(recs)}) for {source}; got {index!r}")
    return recs[int(index)]


def _num(v):
    try:
        return float(str(v).replace(",", "").strip())
    except ValueError:
        return None


def _space(spec_fields: dict, b: Builder, integer_answer, nonneg_answer, grid: GridOptions):
    """The :class:`TemplateSpace` of a loaded template (answer requirements resolved)."""
    if not b.latents:
        raise ValueError(f"template {spec_fields['tid']}: no random variable (nothing to vary)")
    original_answer = spec_fields["original_answer"]
    if integer_answer is None:
        integer_answer = is_integral(original_answer)
    if nonneg_answer is None:
        nonneg_answer = original_answer is not None and original_answer >= 0
    spec = TemplateSpec(latents=b.latents, exprs=b.exprs, integer_answer=bool(integer_answer),
                        nonneg_answer=bool(nonneg_answer), **spec_fields)
    return TemplateSpace(spec, grid.checked())


def load_varbench(
    index: int,
    *,
    path=None,
    max_levels: int = MAX_LEVELS,
    float_levels: int = FLOAT_LEVELS,
    max_inputs: int | None = ENUMERATION_LIMIT,
    integer_answer: bool | None = None,
    nonneg_answer: bool | None = None,
) -> TemplateSpace:
    """Loads VarBench GSM8K problem ``index`` (0..1318) as a :class:`TemplateSpace`.

    Args:
      index: row of ``test_gsm8k_gpt4o.jsonl`` (= GSM8K test index).
      path: optional jsonl path (default: the bundled copy).
      max_levels: most grid points of an integer range (evenly spaced subsample).
      float_levels: grid points of a ``random.uniform`` range.
      max_inputs: shrink grids until the product has at most this many inputs
        (``None``: no limit).
      integer_answer, nonneg_answer: validity requirements on the answer (default:
        whatever the original answer satisfies).
    """
    r = _record("varbench", index, path)
    tid = f"varbench:{index}"
    where = f"template {tid}"
    fn = se.parse_function(r["func"], where)
    original = {k: _num(v.get("value")) for k, v in r["variables"].items() if isinstance(v, dict)}
    original = {k: v for k, v in original.items() if v is not None}
    ranges = {k: str(v) for k, v in r["input_range"].items()}
    trees = {k: se.parse_expression(v, where, allow_random=True) for k, v in ranges.items()}
    ph = re.compile(r"\{(\w+)\}")
    needed = (set(fn.args) - set(fn.defaults)) | set(ph.findall(r["question_delex"]))
    undefined = sorted(needed - set(ranges) - set(original))
    if undefined:
        raise ValueError(f"{where}: variable(s) {undefined} have neither a range nor a value")
    deps = {k: se.expression_names(t) & (set(ranges) | set(original)) for k, t in trees.items()}
    keep, todo = set(), list(needed)
    while todo:
        k = todo.pop()
        if k not in keep:
            keep.add(k)
            todo.extend(deps.get(k, ()))
    b = Builder(where)
    for k in sorted(keep - set(ranges)):
        b.exprs[k] = ast.Expression(ast.Constant(original[k]))
        b.ranges[k] = (original[k], original[k])
    for k in dependency_order({k: deps[k] for k in ranges if k in keep}, where):
        b.add_var(k, ranges[k], original.get(k))

    def answer_fn(env, fn=fn):
        return se.call_function(fn, {a: env[a] for a in fn.args if a in env})

    fields = dict(tid=tid, text=r["question_delex"], placeholder=ph, answer_fn=answer_fn,
                  constraints=[], original={k: original[k] for k in keep if k in original},
                  original_answer=_num(r.get("answer_num")))
    return _space(fields, b, integer_answer, nonneg_answer,
                  GridOptions(max_levels, float_levels, max_inputs))


_NUM = r"(\d[\d,]*(?:\.\d+)?|\.\d+)"


_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
}
_WORDS.update(
    {"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "hundred": "100", "dozen": "12"}
)
_TOK = re.compile(r"\d[\d,]*(?:\.\d+)?|\.\d+|\w+|[^\w\s]")


def _align(abstract: str, question: str, names, where: str) -> tuple[dict, dict]:
    """Original values of the variables: token alignment (difflib) of the two texts.

    Both texts are tokenised into numbers, words and punctuation; matching blocks
    are aligned by :class:`difflib.SequenceMatcher` and, inside each differing block,
    the variables of the abstract are paired in order with the numbers of the
    question (tolerates the typo fixes GSM-ALT made in the abstracted text).
    """
    a, q = _TOK.findall(abstract), _TOK.findall(question)
    out, raw = {}, {}
    sm = difflib.SequenceMatcher(None, a, q, autojunk=False)
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            continue
        vs = [t for t in a[i1:i2] if t in names]
        ns = [
            _WORDS.get(t.lower(), t)
            for t in q[j1:j2]
            if re.fullmatch(_NUM, t) or t.lower() in _WORDS
        ]
        if len(vs) != len(ns):
            continue
        for name, val in zip(vs, ns, strict=True):
            v = _num(val)
            if name in out and out[name] != v:
                raise ValueError(
                    f"{where}: variable {name!r} matches two different numbers ({out[name]}, {v})"
                )
            out[name], raw[name] = v, val.replace(",", "")
    missing = sorted(set(names) - set(out))
    if missing:
        raise ValueError(
            f"{where}: cannot recover the original value of {missing} by aligning question with "
            "abstracted_question"
        )
    return out, raw


def _default_latent(name: str, v0: float, text: str) -> Latent:
    if is_integral(v0):
        lo = max(1.0, math.floor(v0 / 2)) if v0 >= 1 else 0.0
        return Latent(name, "range", lo, max(2.0 * v0, lo + 1), 1.0, 0, (), (), v0)
    dec = len(text.split(".")[1]) if "." in text else 2
    step = 10.0**-dec
    lo = max(step, round(v0 / 2, dec))
    return Latent(name, "range", lo, round(max(2.0 * v0, lo + step), dec), step, dec, (), (), v0)


def load_gsm_alt(
    index: int,
    *,
    path=None,
    domains: dict | None = None,
    max_levels: int = MAX_LEVELS,
    float_levels: int = FLOAT_LEVELS,
    max_inputs: int | None = ENUMERATION_LIMIT,
    integer_answer: bool | None = True,
    nonneg_answer: bool | None = None,
) -> TemplateSpace:
    """Loads GSM-ALT template ``index`` (0..249) as a :class:`TemplateSpace`.

    Args:
      index: row of ``template.jsonl``.
      path: optional jsonl path (default: the bundled copy).
      domains: optional ``{var: (lo, hi) | [values]}``; integer ``(lo, hi)`` is the
        integer range, float ``(lo, hi)`` gets ``float_levels`` points (2 decimals).
        Default per variable: see the module docstring.
      integer_answer: GSM-ALT requires whole-number answers (default True).

    The other arguments are as in :func:`load_varbench`.
    """
    r = _record("gsm-alt", index, path)
    tid = f"gsm-alt:{index}"
    where = f"template {tid}"
    ans = se.parse_expression(str(r["abstracted_final_answer"]), where)
    cons_src = [
        c for c in str(r.get("constraints") or "").split("###") if c.strip() and c.strip() != "None"
    ]
    cons = [se.parse_expression(c, where) for c in cons_src]
    names = sorted(set().union(se.expression_names(ans), *[se.expression_names(c) for c in cons]))
    aq = re.sub(r"\s+", " ", r["abstracted_question"]).strip()
    token = re.compile(
        r"(?<![A-Za-z0-9_])("
        + "|".join(sorted(names, key=len, reverse=True))
        + r")(?![A-Za-z0-9_])"
    )
    absent = sorted(set(names) - set(token.findall(aq)))
    if absent:
        raise ValueError(f"{where}: variable(s) {absent} do not appear in the abstracted question")
    original, raw = _align(aq, r["question"], set(names), where)
    domains = dict(domains or {})
    unknown = sorted(set(domains) - set(names))
    if unknown:
        raise ValueError(f"domains: unknown variable(s) {unknown} for {tid}; variables are {names}")
    b = Builder(where)
    for n in names:
        d, v0 = domains.get(n), original[n]
        if d is None:
            lat = _default_latent(n, v0, raw[n])
        elif isinstance(d, tuple) and len(d) == 2:
            lo, hi = float(d[0]), float(d[1])
            if not hi >= lo:
                raise ValueError(f"domains[{n!r}] must be (lo, hi) with lo <= hi; got {d!r}")
            kind = "range" if is_integral(lo) and is_integral(hi) and isinstance(d[0], int) else "float"
            lat = Latent(n, kind, lo, hi, 1.0, 2, (), (), v0)
        elif isinstance(d, (list, np.ndarray)) and len(d):
            lat = Latent(n, "choice", min(d), max(d), 1.0, 6, tuple(float(x) for x in d), (), v0)
        else:
            raise ValueError(
                f"domains[{n!r}] must be a (lo, hi) tuple or a non-empty list; got {d!r}"
            )
        b.latents.append(lat)
        b.exprs[n] = ast.Expression(ast.Name(id=n, ctx=ast.Load()))

    def answer_fn(env, t=ans):
        return se.eval_expression(t, env)

    fields = dict(tid=tid, text=aq, placeholder=token, answer_fn=answer_fn, constraints=cons,
                  original=original, original_answer=_num(r.get("final_answer")))
    return _space(fields, b, integer_answer, nonneg_answer,
                  GridOptions(max_levels, float_levels, max_inputs))
