"""Output folders for every sub-command: checked once, before any work is paid for.

A command that writes results (``demo``, ``rare``, ``sweep``, ``plot``) calls
:func:`prepare_out_dir` first, so an ``--out`` that names an existing file, or a place
that cannot be written, costs one line and exit 2 rather than a computed result.
"""

from __future__ import annotations

import os
import tempfile

__all__ = ["prepare_out_dir"]


def prepare_out_dir(path, flag: str = "--out") -> str:
    """Creates ``path`` if needed and proves it writable; returns it as ``str``.

    Raises:
      ValueError: ``path`` exists and is not a folder, cannot be created, or is not
        writable (the message names the flag and the path).
    """
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{flag} {path} exists and is not a directory; choose a folder")
    try:
        os.makedirs(path, exist_ok=True)
        # access() is not enough (root ignores mode bits on some file systems): write a probe.
        with tempfile.NamedTemporaryFile(dir=path, prefix=".jaxcert-probe-"):
            pass
    except OSError as e:
        raise ValueError(f"{flag} {path} is not writable ({e.strerror or type(e).__name__})"
                         ) from None
    return path
