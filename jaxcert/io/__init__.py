"""Reading labels: label tables (CSV/JSONL/Parquet), big CSVs as counts, evaluation logs.

Every reader returns a :class:`LabelColumns` (per-item human labels, NaN for
judge-only items, and judge verdicts), which :func:`jaxcert.certify` accepts as
``certify(labels.human, labels.judge, ...)``:

* :func:`read_labels` / :func:`counts_from_table`: a two-column label table.
* :func:`stream_counts`: a big CSV reduced to counts in bounded memory.
* :func:`read_inspect`: Inspect (inspect-ai) ``.eval``/``.json`` logs.
* :func:`read_promptfoo`: promptfoo ``--output out.json`` results (one table per provider).
* :func:`read_lm_eval`: lm-evaluation-harness ``--log_samples`` JSONL + a human-label CSV.
* :func:`read_garak`: garak ``report.jsonl`` attempts + a human-label CSV.

Label values, the NaN rule and label maps: :data:`DEFAULT_LABELS`,
:func:`parse_label_map`.
"""

from jaxcert.io._files import FORMATS, counts_from_table, read_labels
from jaxcert.io._garak import read_garak
from jaxcert.io._inspect import read_inspect
from jaxcert.io._labels import DEFAULT_LABELS, LabelColumns, parse_label_map
from jaxcert.io._lm_eval import read_lm_eval
from jaxcert.io._promptfoo import read_promptfoo
from jaxcert.io._stream import STREAM_MIN_BYTES, stream_counts

__all__ = [
    "LabelColumns",
    "DEFAULT_LABELS",
    "FORMATS",
    "STREAM_MIN_BYTES",
    "parse_label_map",
    "read_labels",
    "counts_from_table",
    "stream_counts",
    "read_inspect",
    "read_promptfoo",
    "read_lm_eval",
    "read_garak",
]
