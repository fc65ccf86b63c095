"""Where ``jaxcert estimate`` gets its labels: the table-reading options and reader.

Kept apart from the certificate options in :mod:`jaxcert.cli._estimate` so that input
formats (CSV/JSONL/Parquet and evaluation-tool importers) grow here without touching
how a certificate is computed or printed.
"""

from __future__ import annotations

__all__ = ["add_input_arguments", "read_input", "describe_input"]


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
    p.add_argument("--data", required=True, help="label table (.csv, .jsonl, .parquet)")
    p.add_argument("--human-col", required=True, help="column with the human label (1 = failure)")
    p.add_argument("--judge-col", required=True, help="column with the judge verdict (1 = failure)")
    p.add_argument("--human-map", help="extra label values, e.g. model_b=1,model_a=0,tie=0")
    p.add_argument("--judge-map", help="extra judge values, same syntax")
    p.add_argument("--where", action="append", metavar="COL=VALUE",
                   help="keep rows with COL == VALUE (repeatable; values of one column OR-ed)")
    p.add_argument("--drop-missing-judge", action="store_true",
                   help="drop rows without a judge verdict instead of failing")
    p.add_argument("--data-format", choices=("csv", "jsonl", "parquet"),
                   help="file format (default: from the extension)")


def read_input(args):
    """Reads the labels named by ``args``; returns a ``LabelColumns``."""
    from jaxcert._tables import parse_label_map, read_labels

    return read_labels(
        args.data, args.human_col, args.judge_col,
        human_map=parse_label_map(args.human_map, "--human-map"),
        judge_map=parse_label_map(args.judge_map, "--judge-map"),
        fmt=args.data_format, where=_parse_where(args.where),
        missing_judge="drop" if args.drop_missing_judge else "error")


def describe_input(args, labels) -> dict:
    """The ``data`` block of the JSON report: where the labels came from."""
    return {"path": str(args.data), "human_col": args.human_col,
            "judge_col": args.judge_col, "rows_dropped": labels.n_dropped}
