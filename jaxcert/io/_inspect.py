"""Inspect (inspect-ai) evaluation logs: ``.eval`` archives and ``.json`` logs.

Fields read, per sample: ``id``, ``epoch``, ``error``, ``scores[<scorer>].value`` and
``scores[<scorer>].history`` (inspect-ai's log format as written by ``write_eval_log``).

* **Judge** = the judge scorer's *original* value (``history[0].value`` when the score
  was edited, else ``value``).
* **Human** = the human scorer's value (a scorer absent on a sample = no human label:
  a judge-only item); without a human scorer, the latest ``history`` edit of the judge
  score that carries ``provenance`` (an edit by a person), else no human label.
* **Values** are correctness scores: ``"C"`` (correct) -> 0 = pass, ``"I"``
  (incorrect) and ``"N"`` (no answer) -> 1 = failure; numbers and booleans
  1/True -> 0, 0/False -> 1. ``"P"`` (partial) and other values are an error unless
  ``judge_map``/``human_map`` maps them (e.g. ``{"P": 1}``); the maps override these
  defaults, e.g. ``{"1": 1, "0": 0}`` for a scorer whose 1 means "unsafe".
* **Dropped and counted** (``info``): samples with an ``error`` (``errored``) and
  samples without a judge score (``unscored``).
* **Epochs**: a log with several epochs needs ``epoch=N`` (that epoch only) or
  ``epoch="majority"`` (per sample id, the majority label over epochs; a tie counts
  as a failure).

A ``.eval`` archive is a zip whose members current inspect-ai compresses with zstd
(zip method 93, which Python's zipfile reads only from 3.14): they are decompressed
with ``zstandard`` (extra ``jaxcert[inspect]``).
"""

from __future__ import annotations

import json
import math
import os
import struct
import zipfile
from collections.abc import Mapping

import numpy as np

from jaxcert.io._labels import LabelColumns, cell_key, label_of, normalise_map
from jaxcert.io._text import check_file

__all__ = ["read_inspect"]

_CORRECTNESS = {"c": 0.0, "i": 1.0, "n": 1.0, "1": 0.0, "0": 1.0, "true": 0.0, "false": 1.0,
                "1.0": 0.0, "0.0": 1.0}
_ZSTD = 93


def _member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str) -> bytes:
    if info.compress_type != _ZSTD:
        return zf.read(info)
    try:
        import zstandard
    except ImportError:
        raise ValueError(f"{path!r} is a zstd-compressed .eval archive; reading it needs "
                         "zstandard: pip install 'jaxcert[inspect]'") from None
    fh = zf.fp
    fh.seek(info.header_offset)
    head = fh.read(30)
    name_len, extra_len = struct.unpack("<HH", head[26:30])
    fh.seek(info.header_offset + 30 + name_len + extra_len)
    raw = fh.read(info.compress_size)
    return zstandard.ZstdDecompressor().decompress(raw, max_output_size=info.file_size)


def _load_samples(path: str) -> list[dict]:
    """The samples of a log as plain dicts."""
    if path.endswith(".json"):
        try:
            with open(path, encoding="utf-8") as fh:
                log = json.load(fh)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{path!r} is not a valid Inspect JSON log: {e}") from None
        if not isinstance(log, dict) or "eval" not in log:
            raise ValueError(f"{path!r} is not an Inspect log: no 'eval' field at the top level")
        return list(log.get("samples") or [])
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValueError(f"{path!r} is not an Inspect .eval archive (not a zip file)") from None
    with zf:
        names = [i for i in zf.infolist() if i.filename.startswith("samples/")]
        if "header.json" not in zf.namelist() and "_journal/start.json" not in zf.namelist():
            raise ValueError(f"{path!r} is not an Inspect .eval archive (no header.json)")
        out = []
        for info in sorted(names, key=lambda i: i.filename):
            try:
                out.append(json.loads(_member(zf, info, path)))
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise ValueError(f"{path!r} member {info.filename}: not valid JSON ({e})") from None
    return out


def _value_key(v):
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return cell_key(v)


def score_label(value, user_map, *, what: str, where: str, flag: str) -> float:
    """0/1 failure label of a correctness score (C/I/N, 1/0, True/False) or a mapped value."""
    if isinstance(value, (dict, list)):
        raise ValueError(f"{where}: value {value!r} is a {type(value).__name__}, not a single "
                         f"score; score {what} with a scorer that returns one value")
    key = _value_key(value)
    if key is not None and key not in user_map and key in _CORRECTNESS:
        return _CORRECTNESS[key]
    if key == "p" and key not in user_map:
        raise ValueError(f"{where}: value 'P' (partial credit) is not a pass/fail label; "
                         f"map it: {what}_map={{'P': 1}} or 0 (CLI: {flag} P=1)")
    return label_of(key, user_map, what=what, flag=flag, nan_ok=False, where=where, raw=value)


def _human_edit(score: Mapping):
    """Value of the latest history edit with provenance, or None."""
    for edit in reversed(score.get("history") or []):
        if edit.get("provenance") and edit.get("value", "UNCHANGED") != "UNCHANGED":
            return edit["value"]
    return None


def _epoch_rows(samples, path, judge_scorer, human_scorer, jmap, hmap):
    rows, errored, unscored = [], 0, 0
    for k, s in enumerate(samples):
        sid, ep = s.get("id", f"#{k}"), s.get("epoch", 1)
        rec = f"{os.path.basename(path)}: sample id {sid!r} epoch {ep}"
        if s.get("error"):
            errored += 1
            continue
        scores = s.get("scores") or {}
        if not isinstance(scores, dict):
            raise ValueError(f"{rec}, field scores: expected an object, got {scores!r}")
        js = scores.get(judge_scorer)
        if js is None or js.get("value") is None:
            unscored += 1
            continue
        hist = js.get("history") or []
        judge_v = hist[0].get("value") if hist else js.get("value")
        field = f"scores[{judge_scorer!r}]." + ("history[0].value" if hist else "value")
        judge = score_label(judge_v, jmap, what="judge", flag="--judge-map",
                            where=f"{rec}, field {field}")
        if human_scorer is not None:
            hs = scores.get(human_scorer) or {}
            human_v, field = hs.get("value"), f"scores[{human_scorer!r}].value"
        else:
            human_v, field = _human_edit(js), f"scores[{judge_scorer!r}].history"
        human = math.nan if human_v is None else score_label(
            human_v, hmap, what="human", flag="--human-map", where=f"{rec}, field {field}")
        rows.append((str(sid), int(ep), human, judge))
    return rows, errored, unscored


def _majority(labels: list[float]) -> float:
    known = [x for x in labels if not math.isnan(x)]
    if not known:
        return math.nan
    return 1.0 if 2 * sum(known) >= len(known) else 0.0


def read_inspect(path, judge_scorer: str, human_scorer: str | None = None, *,
                 epoch: int | str | None = None, judge_map: Mapping | None = None,
                 human_map: Mapping | None = None) -> LabelColumns:
    """Reads judge and human labels from an Inspect ``.eval`` or ``.json`` log.

    Args:
      path: the log file.
      judge_scorer: name of the scorer whose original value is the judge verdict.
      human_scorer: name of the scorer holding human labels; ``None``: human labels
        are the judge score's edits that carry provenance.
      epoch: required when the log has several epochs: an epoch number or
        ``"majority"``.
      judge_map, human_map: value -> 0/1/None overrides (see module docstring).

    Returns:
      :class:`LabelColumns` with ``ids`` = sample ids and ``info`` counting
      ``samples``, ``errored``, ``unscored`` and the ``epochs`` found.

    Raises:
      FileNotFoundError: no such file.
      ValueError: not an Inspect log; a value that is not a label (names the sample,
        epoch and field); several epochs and no ``epoch``; an unknown epoch or
        scorer; no sample left.
    """
    path = os.fspath(path)
    check_file(path)
    samples = _load_samples(path)
    if not samples:
        raise ValueError(f"{path!r} has no samples (was the log written with samples?)")
    names = sorted({n for s in samples for n in (s.get("scores") or {})})
    for what, name in (("judge", judge_scorer), ("human", human_scorer)):
        if name is not None and name not in names:
            raise ValueError(f"{what} scorer {name!r} not in {path!r}; its scorers: "
                             f"{', '.join(map(repr, names)) or 'none'}")
    epochs = sorted({int(s.get("epoch", 1)) for s in samples})
    if len(epochs) > 1 and epoch is None:
        raise ValueError(f"{path!r} has {len(epochs)} epochs ({epochs[0]}..{epochs[-1]}); "
                         "choose one: epoch=N or epoch='majority' (CLI --epoch N|majority)")
    if epoch not in (None, "majority"):
        if int(epoch) not in epochs:
            raise ValueError(f"epoch {epoch} not in {path!r}; its epochs: {epochs}")
        samples = [s for s in samples if int(s.get("epoch", 1)) == int(epoch)]
    rows, errored, unscored = _epoch_rows(samples, path, judge_scorer, human_scorer,
                                          normalise_map(judge_map, "judge_map"),
                                          normalise_map(human_map, "human_map"))
    if epoch == "majority":
        by_id: dict[str, list] = {}
        for sid, _, h, j in rows:
            by_id.setdefault(sid, []).append((h, j))
        rows = [(sid, 0, _majority([h for h, _ in v]), _majority([j for _, j in v]))
                for sid, v in by_id.items()]
    if not rows:
        raise ValueError(f"{path!r}: no scored sample left ({errored} errored, "
                         f"{unscored} without a {judge_scorer!r} score)")
    info = {"format": "inspect", "samples": len(samples), "errored": errored,
            "unscored": unscored, "epochs": epochs, "epoch": epoch}
    return LabelColumns(np.array([r[2] for r in rows]), np.array([r[3] for r in rows]), 0,
                        np.array([r[0] for r in rows]), info)
