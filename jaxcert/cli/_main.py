"""Entry point and error policy of the ``jaxcert`` command.

Every sub-command lives in its own module exposing ``register(subparsers)``, which adds
a parser whose ``func(args) -> int`` runs the command. Errors a user can fix (bad
input, bad file, bad option) become one line on stderr and exit status 2, never a
traceback.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main", "UsageError"]


class UsageError(ValueError):
    """A user-fixable error raised by a sub-command."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints usage too by default)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


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
