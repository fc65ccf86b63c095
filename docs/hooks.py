"""MkDocs hooks: pages generated at build time from the repository, never by hand.

* ``reference/cli.md``: the CLI reference, from the argparse parsers (``gen_cli.py``).
* ``notebooks/<name>.md``: each jupytext percent notebook in ``notebooks/`` rendered as
  a page (its Markdown cells as text, its code cells as code blocks). Nothing is
  executed during the build: the notebooks run in the test suite, in quick mode.
* ``results/figures/*.png``: the committed figures of the reproduction study, so the
  results page shows them without copying them into ``docs/``.

A page can also pull in a committed file, so numbers are never copied by hand: a line
``<!-- include path/from/repo/root.md shift=1 -->`` is replaced by that file, with its
headings moved ``shift`` levels down (headings inside code fences are left alone).
"""

from __future__ import annotations

import importlib.util
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
FIGURES = ROOT / "benchmarks" / "results" / "reproduce_cmle" / "figures"
_INCLUDE = re.compile(r"^<!-- include (\S+)(?: shift=(\d))? -->$", re.MULTILINE)


def _load_gen_cli():
    spec = importlib.util.spec_from_file_location(
        "jaxcert_docs_gen_cli", pathlib.Path(__file__).with_name("gen_cli.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def notebook_markdown(path: pathlib.Path) -> str:
    """A jupytext percent notebook as a Markdown page (source only, not executed)."""
    import jupytext

    nb = jupytext.read(path)
    rel = path.relative_to(ROOT).as_posix()
    parts = []
    for i, cell in enumerate(nb.cells):
        src = cell.source.strip("\n")
        if not src:
            continue
        if cell.cell_type == "markdown":
            parts.append(src)
        elif cell.cell_type == "code":
            parts.append(f"```python\n{src}\n```")
        if i == 0 and cell.cell_type == "markdown":
            parts.append(
                f'!!! note "Notebook source"\n'
                f"    This page renders `{rel}` (a jupytext percent file) without running "
                f"it. Run it with `python {rel}` (set `JAXCERT_QUICK=1` for the quick "
                f"mode the test suite uses), or open it in Jupyter through jupytext.")
    return "\n\n".join(parts) + "\n"


def on_files(files, config):
    from mkdocs.structure.files import File

    gen_cli = _load_gen_cli()
    files.append(File.generated(config, "reference/cli.md",
                                content=gen_cli.render_cli_reference()))
    for nb in sorted(NOTEBOOKS.glob("*.py")):
        files.append(File.generated(config, f"notebooks/{nb.stem}.md",
                                    content=notebook_markdown(nb)))
    for png in sorted(FIGURES.glob("*.png")):
        files.append(File.generated(config, f"results/figures/{png.name}",
                                    abs_src_path=str(png)))
    return files


def shift_headings(text: str, shift: int) -> str:
    """Moves every Markdown ATX heading ``shift`` levels down, except inside code fences."""
    out, fence = [], None
    for line in text.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("```", "~~~")):
            mark = stripped[:3]
            fence = None if fence == mark else (fence or mark)
        elif fence is None and shift and re.match(r"#{1,6} ", line):
            line = "#" * shift + line
        out.append(line)
    return "\n".join(out)


def expand_includes(markdown: str) -> str:
    """Replaces each ``<!-- include PATH shift=N -->`` line by the file at ``PATH``."""

    def include(match: re.Match) -> str:
        path = ROOT / match.group(1)
        if not path.is_file():  # a clear build error, not a silently empty section
            raise FileNotFoundError(f"docs include: {match.group(1)} does not exist")
        return shift_headings(path.read_text(encoding="utf-8"), int(match.group(2) or 0))

    return _INCLUDE.sub(include, markdown)


def on_page_markdown(markdown, page, config, files):
    return expand_includes(markdown)
