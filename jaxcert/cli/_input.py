"""Where ``jaxcert estimate`` gets its labels: the input options and the reader.

``--from table`` (default) reads a CSV/JSONL/Parquet label table (``--human-col``,
``--judge-col``); a CSV of at least :data:`jaxcert.io.STREAM_MIN_BYTES` is reduced to
counts while streaming. ``--from inspect|promptfoo|lm-eval|garak`` reads an
evaluation tool's log (:mod:`jaxcert.io`). Kept apart from the certificate options
in :mod:`jaxcert.cli._estimate` so input formats grow here.
"""

from __future__ import annotations

import os
import sys

__all__ = ["add_input_arguments", "read_input", "read_input_groups", "describe_input"]

SOURCES = ("table", "inspect", "promptfoo", "lm-eval", "garak")


def _parse_where(items):
    out = {}
    for item in items or ():
        if "=" not in item:
            raise ValueError("--where must be COLUMN=VALUE (e.g. --where model=gpt4); "
                             f"got {item!r}")
        col, val = item.split("=", 1)
        out.setdefault(col.strip(), []).append(val)
    return out


def add_input_arguments(p) -> None:
    """Adds the options that say where the labels come from."""
    g = p.add_argument_group("input")
    g.add_argument("--data", required=True,
                   help="label table (.csv, .jsonl, .parquet) or evaluation log (see --from)")
    g.add_argument("--from", dest="source", default="table", choices=SOURCES,
                   help="what --data is: a label table, an Inspect .eval/.json log, a "
                   "promptfoo --output JSON, an lm-eval samples JSONL, a garak report.jsonl")
    g.add_argument("--human-col", help="column with the human label, 1 = failure (required "
                   "for a table; for lm-eval/garak the column of --human-labels, "
                   "'human' when not given)")
    g.add_argument("--judge-col", help="column with the judge verdict, 1 = failure "
                   "(required for a table)")
    g.add_argument("--human-map", help="extra label values, e.g. model_b=1,model_a=0,tie=0 "
                   "(Inspect/lm-eval: also score values, e.g. P=1)")
    g.add_argument("--judge-map", help="extra judge values, same syntax")
    g.add_argument("--where", action="append", metavar="COL=VALUE",
                   help="keep rows with COL == VALUE (repeatable; values of one column OR-ed)")
    g.add_argument("--drop-missing-judge", action="store_true",
                   help="drop rows without a judge verdict instead of failing")
    g.add_argument("--nan-means-missing", action="store_true",
                   help="read a literal NaN in the human column as 'no human label' "
                   "instead of rejecting it")
    g.add_argument("--data-format", choices=("csv", "jsonl", "parquet"),
                   help="table file format (none: from the extension)")
    g.add_argument("--stream", default="auto", choices=("auto", "always", "never"),
                   help="reduce a CSV to counts while reading it (auto: files of 64 MiB "
                   "and more, when pyarrow is installed)")
    g.add_argument("--no-progress", action="store_true",
                   help="no progress bar when streaming a big CSV")
    g.add_argument("--judge-scorer", help="Inspect: scorer whose original value is the judge")
    g.add_argument("--human-scorer", help="Inspect: scorer holding human labels (none: "
                   "edits of the judge score that carry provenance)")
    g.add_argument("--epoch", help="Inspect: epoch N, or 'majority', for a multi-epoch log")
    g.add_argument("--judge-assertion", default="llm-rubric",
                   help="promptfoo: assertion type or metric that is the judge")
    g.add_argument("--provider", help="promptfoo: the provider to certify (label or id)")
    g.add_argument("--metric", help="lm-eval: the metric key that is the judge")
    g.add_argument("--filter", dest="lm_filter", help="lm-eval: the filter to keep")
    g.add_argument("--join-on", default="doc_hash", choices=("doc_hash", "doc_id"),
                   help="lm-eval: join human labels on doc_hash or (task, doc_id)")
    g.add_argument("--task", help="lm-eval: task name for --join-on doc_id (none: from "
                   "the file name)")
    g.add_argument("--human-labels", help="lm-eval/garak: table of human labels (key "
                   "columns + --human-col)")
    g.add_argument("--detector", help="garak: the detector that is the judge")
    g.add_argument("--threshold", type=float, default=0.5,
                   help="garak: detector score counted as a hit (failure)")


def _need(args, *flags) -> None:
    for flag in flags:
        if getattr(args, flag.lstrip("-").replace("-", "_")) is None:
            raise ValueError(f"{flag} is required with --from {args.source}")


def _epoch(text):
    if text is None or text == "majority":
        return text
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"--epoch must be an epoch number or 'majority'; got {text!r}") from None


def _read_table(args, maps):
    from jaxcert.io import STREAM_MIN_BYTES, read_labels, stream_counts
    from jaxcert.io._files import detect_format

    if args.human_col is None or args.judge_col is None:
        raise ValueError("--human-col and --judge-col are required with a label table "
                         "(or say which tool wrote --data: --from inspect|promptfoo|lm-eval|garak)")
    kw = dict(maps, where=_parse_where(args.where), nan_means_missing=args.nan_means_missing,
              missing_judge="drop" if args.drop_missing_judge else "error")
    path = str(args.data)
    is_csv = os.path.isfile(path) and detect_format(path, args.data_format) == "csv"
    big = is_csv and (args.stream == "always" or (
        args.stream == "auto" and os.path.getsize(path) >= STREAM_MIN_BYTES))
    if big and args.stream == "auto":
        try:
            import pyarrow.csv  # noqa: F401
        except ImportError:
            big = False
    if big:
        return stream_counts(path, args.human_col, args.judge_col,
                             progress=False if args.no_progress else None, **kw)
    return read_labels(path, args.human_col, args.judge_col, fmt=args.data_format, **kw)


def read_input_groups(args) -> list[tuple[str | None, object]]:
    """All label tables named by ``args``: ``[(group name or None, LabelColumns)]``.

    promptfoo gives one table per provider (all of them unless ``--provider``); every
    other source gives one table named ``None``. Dropped items are noted on stderr.
    """
    groups = _read_groups(args)
    for _, labels in groups:
        _note(labels, args.data)
    return groups


def _read_groups(args) -> list[tuple[str | None, object]]:
    from jaxcert.io import parse_label_map, read_garak, read_inspect, read_lm_eval, read_promptfoo

    maps = {"human_map": parse_label_map(args.human_map, "--human-map"),
            "judge_map": parse_label_map(args.judge_map, "--judge-map")}
    src, human_col = args.source, args.human_col or "human"
    if src == "table":
        return [(None, _read_table(args, maps))]
    if src == "inspect":
        _need(args, "--judge-scorer")
        return [(None, read_inspect(args.data, args.judge_scorer, args.human_scorer,
                                    epoch=_epoch(args.epoch), **maps))]
    if src == "lm-eval":
        _need(args, "--metric")
        return [(None, read_lm_eval(args.data, args.metric, args.human_labels,
                                    filter=args.lm_filter, task=args.task,
                                    join_on=args.join_on, human_col=human_col,
                                    nan_means_missing=args.nan_means_missing, **maps))]
    if src == "garak":
        return [(None, read_garak(args.data, args.detector, args.human_labels,
                                  threshold=args.threshold, human_col=human_col,
                                  human_map=maps["human_map"],
                                  nan_means_missing=args.nan_means_missing))]
    groups = read_promptfoo(args.data, args.judge_assertion)
    if args.provider is None:
        return list(groups.items())
    if args.provider not in groups:
        raise ValueError(f"provider {args.provider!r} not in {args.data!r}; its providers "
                         f"with graded results: {', '.join(map(repr, groups))}")
    return [(args.provider, groups[args.provider])]


def _note(labels, path) -> None:
    info = labels.info or {}
    dropped = {k: info[k] for k in ("errored", "unscored") if info.get(k)}
    if dropped:
        what = ", ".join(f"{v} {k}" for k, v in dropped.items())
        sys.stderr.write(f"note: {os.path.basename(str(path))}: dropped {what} item(s)\n")


def read_input(args):
    """Reads the labels named by ``args``; returns one ``LabelColumns``.

    A counts-only result (big streamed CSV) has ``human`` = the Counts and
    ``judge=None``, which ``certify(labels.human, labels.judge, ...)`` accepts.

    Raises:
      ValueError: as the readers; a promptfoo file with several providers and no
        ``--provider`` (one certificate per provider).
    """
    groups = read_input_groups(args)
    if len(groups) > 1:
        names = ", ".join(repr(n) for n, _ in groups)
        raise ValueError(f"{args.data!r} holds {len(groups)} providers ({names}); a "
                         "certificate is about one: choose with --provider NAME")
    return groups[0][1]


def describe_input(args, labels) -> dict:
    """The ``data`` block of the JSON report: where the labels came from."""
    out = {"path": str(args.data), "from": args.source, "human_col": args.human_col,
           "judge_col": args.judge_col, "rows_dropped": labels.n_dropped}
    for k, v in (labels.info or {}).items():
        out.setdefault(k, v)
    return out
