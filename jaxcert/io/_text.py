"""Text encodings of input files: UTF-8 (with or without BOM) and UTF-16/32 with a BOM.

Spreadsheet programs save "Unicode text" as UTF-16 with a byte-order mark and "CSV
UTF-8" with a UTF-8 BOM; both are read. Anything else that is not UTF-8 is rejected
with the file name, where decoding failed, and how to convert the file.
"""

from __future__ import annotations

import codecs
import contextlib
import os

__all__ = ["detect_encoding", "open_text", "check_file"]

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_HINT = "save it as UTF-8 (e.g. iconv -f {src} -t UTF-8 {name} > fixed{ext})"


def check_file(path: str) -> None:
    """Raises FileNotFoundError / IsADirectoryError with the path."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"data file not found: {path!r}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"data path is a directory, not a file: {path!r}")


def _hint(path: str, src: str) -> str:
    name = os.path.basename(path)
    return _HINT.format(src=src, name=name, ext=os.path.splitext(name)[1])


def detect_encoding(path: str) -> str:
    """The Python codec to read ``path`` with, from its byte-order mark.

    Raises:
      ValueError: NUL bytes without a BOM (UTF-16/32 without a byte-order mark).
    """
    with open(path, "rb") as fh:
        head = fh.read(4096)
    for bom, enc in _BOMS:
        if head.startswith(bom):
            return enc
    if b"\x00" in head:
        raise ValueError(
            f"{path!r} looks like UTF-16 text without a byte-order mark (it has NUL bytes); "
            + _hint(path, "UTF-16LE"))
    return "utf-8"


def decode_error(path: str, err: UnicodeDecodeError, encoding: str) -> ValueError:
    """The one-line error for a file that does not decode."""
    bad = err.object[err.start:err.start + 1].hex()
    return ValueError(
        f"{path!r} is not valid {encoding.upper().replace('-SIG', '')} text (byte 0x{bad} "
        f"near offset {err.start}); " + _hint(path, "LATIN1"))


@contextlib.contextmanager
def open_text(path: str, newline: str | None = None):
    """``with open_text(path) as fh``: a text handle decoded per :func:`detect_encoding`
    (``fh.encoding`` says which); a decoding failure becomes a ValueError naming the file."""
    encoding = detect_encoding(path)
    with open(path, encoding=encoding, newline=newline) as fh:
        try:
            yield fh
        except UnicodeDecodeError as err:
            raise decode_error(path, err, encoding) from None
