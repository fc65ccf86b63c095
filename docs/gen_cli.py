"""Generates the CLI reference page from the argparse parsers.

The page is built from :func:`jaxcert.cli._main.build_parser`, so it always lists the
sub-commands and options the installed ``jaxcert`` accepts; nothing is written by hand.
``python docs/gen_cli.py`` prints the page; the MkDocs hook (``docs/hooks.py``) adds it
to the site as ``reference/cli.md``. The helpers are also used by ``tests/test_docs.py``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator

__all__ = ["iter_commands", "options_without_help", "render_cli_reference"]


def _subparsers_action(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def iter_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
                  ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str | None]]:
    """Yields ``(path, parser, summary)`` for every (nested) sub-command, depth first.

    ``path`` is the tuple of command words after ``jaxcert`` (e.g. ``("estimate",)``) and
    ``summary`` the one-line help given to ``add_parser`` (``None`` when there is none).
    """
    action = _subparsers_action(parser)
    if action is None:
        return
    summaries = {a.dest: a.help for a in action._choices_actions}
    seen = set()
    for name, sub in action.choices.items():
        if id(sub) in seen:  # aliases point at the same parser
            continue
        seen.add(id(sub))
        path = (*prefix, name)
        yield path, sub, summaries.get(name)
        yield from iter_commands(sub, path)


def _is_documented(action: argparse.Action) -> bool:
    return bool(action.help) and action.help is not argparse.SUPPRESS


def options_without_help(parser: argparse.ArgumentParser) -> list[str]:
    """Every option or positional argument without a help text, as ``"cmd --flag"``."""
    missing = []
    commands = [((), parser, None), *iter_commands(parser)]
    for path, p, _ in commands:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction) or _is_documented(action):
                continue
            if action.help is argparse.SUPPRESS:
                continue
            name = "/".join(action.option_strings) or action.dest
            missing.append(" ".join(("jaxcert", *path, name)))
    return missing


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _option_row(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    # argparse's own rendering of the flags, so the page reads like ``--help``
    invocation = parser._get_formatter()._format_action_invocation(action)
    flags = ", ".join(f"`{_cell(part)}`" for part in invocation.split(", "))
    help_text = action.help or "*(no help text)*"
    if "%(" in help_text:  # argparse-style interpolation, e.g. %(default)s
        try:
            help_text = help_text % {**vars(action), "prog": "jaxcert"}
        except (KeyError, TypeError, ValueError):
            pass
    extras = []
    if action.choices is not None and "{" not in invocation:  # choices hidden by a metavar
        extras.append("one of " + ", ".join(f"`{c}`" for c in action.choices))
    default = action.default
    if (action.option_strings and action.nargs != 0 and default is not None
            and default is not argparse.SUPPRESS and "default" not in help_text):
        extras.append(f"default `{default}`")
    if action.required and action.option_strings:
        extras.append("**required**")
    tail = f" ({'; '.join(extras)})" if extras else ""
    return f"| {flags} | {_cell(help_text + tail)} |"


def _command_section(path, parser: argparse.ArgumentParser, summary) -> list[str]:
    level = "#" * min(len(path) + 1, 4)
    lines = [f"{level} `jaxcert {' '.join(path)}` {{ #jaxcert-{'-'.join(path)} }}", ""]
    if summary:
        lines += [summary[:1].upper() + summary[1:] + ".", ""]
    if parser.description and parser.description != summary:
        lines += [parser.description, ""]
    usage = parser.format_usage().replace("usage: ", "", 1).strip()
    lines += ["```text", usage, "```", ""]
    rows = [a for a in parser._actions
            if not isinstance(a, argparse._SubParsersAction) and a.help is not argparse.SUPPRESS]
    if rows:
        lines += ["| option | meaning |", "|---|---|", *(_option_row(parser, a) for a in rows), ""]
    if parser.epilog:
        lines += [parser.epilog, ""]
    return lines


def render_cli_reference(parser: argparse.ArgumentParser | None = None) -> str:
    """The CLI reference page (Markdown) for ``parser`` (default: the real ``jaxcert``)."""
    # usage lines wrap at $COLUMNS: fix the width so the page does not depend on a terminal
    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "70"
    try:
        return _render(parser)
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns


def _render(parser: argparse.ArgumentParser | None) -> str:
    if parser is None:
        from jaxcert.cli._main import build_parser

        parser = build_parser()
    commands = list(iter_commands(parser))
    lines = [
        "# Command-line reference",
        "",
        "Generated from the argparse parsers of the installed `jaxcert` "
        "(`docs/gen_cli.py`); `jaxcert COMMAND --help` prints the same.",
        "",
        parser.description or "",
        "",
        "Errors a user can fix (bad input, bad file, bad option) print one line on stderr "
        "and exit with status 2; a finished command exits 0.",
        "",
        "| command | what it does |",
        "|---|---|",
        *(f"| [`jaxcert {' '.join(p)}`](#jaxcert-{'-'.join(p)}) | {_cell(s or '')} |"
          for p, _, s in commands),
        "",
        "```text",
        parser.format_usage().replace("usage: ", "", 1).strip(),
        "```",
        "",
    ]
    for path, sub, summary in commands:
        lines += _command_section(path, sub, summary)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(render_cli_reference(), end="")
