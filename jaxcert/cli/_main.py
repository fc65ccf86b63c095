"""Entry point and error policy of the ``jaxcert`` command.

Every sub-command lives in its own module exposing ``register(subparsers)``, which adds
a parser whose ``func(args) -> int`` runs the command. Errors a user can fix (bad
input, bad file, bad option) become one line on stderr and exit status 2, never a
traceback.

Compiled XLA programs are kept in a persistent cache (``$JAXCERT_XLA_CACHE``, default
``$XDG_CACHE_HOME/jaxcert/xla`` or ``~/.cache/jaxcert/xla``; an empty value turns it
off): compiling the calibrated bound takes about 20 s on 2 CPU cores, and a second
``jaxcert estimate`` or ``sweep`` with the same shapes loads it instead. The cache is
keyed on the program, the compile options and the jax version, so results are the same;
each host (jaxlib version, machine, CPU features) gets its own subdirectory.
"""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["main", "UsageError", "enable_compilation_cache", "host_key"]


class UsageError(ValueError):
    """A user-fixable error raised by a sub-command."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints usage too by default)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def host_key() -> str:
    """Names the cache subdirectory of this host: jaxlib version, machine, CPU features.

    An XLA:CPU executable is machine code for the CPU that compiled it, and jax's cache
    key names the platform only as ``"cpu"``: without this, a cache in a home directory
    shared by cluster nodes of different CPU generations would hand code using AVX-512 to a
    node without it.
    """
    import hashlib
    import platform

    import jaxlib

    features = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            lines = [ln for ln in fh if ln.startswith(("flags", "model name", "Features", "CPU part"))]
        # every core reports the same; duplicates would only depend on the core count
        features += "".join(sorted(set(lines)))
    except OSError:
        pass
    digest = hashlib.sha256(features.encode()).hexdigest()[:12]
    return f"jaxlib-{jaxlib.__version__}-{platform.machine() or 'unknown'}-{digest}"


def enable_compilation_cache() -> str | None:
    """Points jax's persistent compilation cache at this host's jaxcert cache directory.

    The directory is ``<root>/<host_key()>`` with ``<root>`` from ``$JAXCERT_XLA_CACHE``
    (empty: off), else ``$XDG_CACHE_HOME/jaxcert/xla`` or ``~/.cache/jaxcert/xla``. It is
    created readable by its owner only: jax runs what it loads from there.

    Returns the directory, or ``None`` when it is turned off or cannot be created (the
    cache is optional: a read-only home only costs the compile time).
    """
    root = os.environ.get("JAXCERT_XLA_CACHE")
    if root is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                                 ".cache")
        root = os.path.join(base, "jaxcert", "xla")
    if not root:
        return None
    path = os.path.join(root, host_key())
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError:
        return None
    import jax

    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    return path


def build_parser() -> argparse.ArgumentParser:
    """Builds the full parser with every sub-command registered."""
    from jaxcert.cli import _demo, _estimate, _rare, _sweep

    parser = _Parser(
        prog="jaxcert",
        description="Defensible LLM failure-rate certificates (judge-corrected MLE, "
        "five-nines importance sampling, simulation studies).",
    )
    from jaxcert import __version__

    parser.add_argument("--version", action="version", version=f"jaxcert {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for module in (_estimate, _demo, _rare, _sweep):
        module.register(sub)
    return parser


def main(argv=None) -> int:
    """Runs the CLI; returns the exit status (0 ok, 2 user error)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:2] == ["rare", "compare"]:
        # `rare` takes options, not sub-commands (its --space is required), so the
        # comparison is routed before argparse sees it.
        from jaxcert.cli._rare_compare import build_compare_parser

        args = build_compare_parser(_Parser).parse_args(argv[2:])
    else:
        args = build_parser().parse_args(argv)
    enable_compilation_cache()
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, IsADirectoryError, PermissionError, KeyError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if isinstance(e, KeyError):
            msg = f"missing key {msg}"
        sys.stderr.write(f"jaxcert: error: {msg}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("jaxcert: interrupted (partial results, if any, are checkpointed)\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
