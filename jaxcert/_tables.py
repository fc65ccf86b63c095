"""Former home of the label-table reader; kept so old imports work. Use :mod:`jaxcert.io`."""

from jaxcert.io import DEFAULT_LABELS, LabelColumns, counts_from_table, parse_label_map, read_labels

__all__ = ["DEFAULT_LABELS", "LabelColumns", "read_labels", "counts_from_table",
           "parse_label_map"]
