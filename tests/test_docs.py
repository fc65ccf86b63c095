"""Documentation site and repository basics: fast checks, plus the strict build (slow).

The site's generated parts (CLI reference, notebook pages, includes) are plain functions
in ``docs/``; they are tested here without MkDocs. The full ``mkdocs build --strict`` runs
in ``.ci/run`` and, where MkDocs is installed, in the slow tier below.
"""

import argparse
import importlib.util
import os
import pathlib
import re
import subprocess
import sys
import tomllib

import pytest
import yaml

from jaxcert.cli._main import build_parser

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"jaxcert_docs_{name}", DOCS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen_cli = _load("gen_cli")
hooks = _load("hooks")
docstrings = _load("griffe_docstrings")


def _subcommands(parser):
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


# --- CLI reference -------------------------------------------------------------------


def test_cli_reference_covers_every_subcommand_and_option():
    parser = build_parser()
    page = gen_cli.render_cli_reference(parser)
    commands = _subcommands(parser)
    # the README's commands are all real sub-commands
    assert {"estimate", "demo", "rare", "sweep", "plot", "plan"} <= set(commands)
    listed = [p for p, _, _ in gen_cli.iter_commands(parser)]
    assert [p[0] for p in listed if len(p) == 1] == list(commands)
    for name, sub in commands.items():
        assert f"## `jaxcert {name}` {{ #jaxcert-{name} }}" in page
        assert f"| [`jaxcert {name}`](#jaxcert-{name}) |" in page
        section = page.split(f"`jaxcert {name}` {{ #jaxcert-{name} }}", 1)[1].split("\n## ", 1)[0]
        for action in sub._actions:
            for flag in action.option_strings:
                assert f"`{flag}" in section, (name, flag)


def test_every_cli_option_has_a_help_text():
    assert gen_cli.options_without_help(build_parser()) == []


def test_options_without_help_finds_them():
    p = argparse.ArgumentParser(prog="x")
    sub = p.add_subparsers()
    a = sub.add_parser("a", help="does a")
    a.add_argument("--quiet", action="store_true")
    a.add_argument("--level", help="how much")
    a.add_argument("--hidden", help=argparse.SUPPRESS)
    a.add_argument("path")
    assert gen_cli.options_without_help(p) == ["jaxcert a --quiet", "jaxcert a path"]
    page = gen_cli.render_cli_reference(p)
    assert "| `--quiet` | *(no help text)* |" in page and "--hidden" not in page
    assert "| `--level LEVEL` | how much |" in page


# --- site structure -------------------------------------------------------------------


def _nav_pages(nav):
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        if isinstance(value, list):
            yield from _nav_pages(value)
        else:
            yield value


@pytest.fixture(scope="module")
def mkdocs_config():
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text())


def test_nav_lists_every_page_and_every_entry_exists(mkdocs_config):
    nav = list(_nav_pages(mkdocs_config["nav"]))
    assert len(nav) == len(set(nav)), "a page is listed twice"
    written = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    generated = {"reference/cli.md"} | {
        f"notebooks/{nb.stem}.md" for nb in (ROOT / "notebooks").glob("*.py")}
    assert set(nav) == written | generated
    assert "guide/scaling.md" in nav and "methods.md" in nav and "five_nines.md" in nav


def test_api_reference_covers_every_public_subpackage(mkdocs_config):
    packages = sorted(p.parent.name for p in (ROOT / "jaxcert").glob("*/__init__.py")
                      if not p.parent.name.startswith("_") and p.parent.name != "cli")
    assert {"judge", "intervals", "rare", "sim", "datasets"} <= set(packages)
    nav = set(_nav_pages(mkdocs_config["nav"]))
    for name in packages:
        page = DOCS / "api" / f"{name}.md"
        assert page.exists(), f"no API page for jaxcert.{name}"
        assert f"::: jaxcert.{name}\n" in page.read_text()
        assert f"api/{name}.md" in nav


def test_mkdocstrings_uses_google_docstrings_and_our_extension(mkdocs_config):
    plugin = next(p["mkdocstrings"] for p in mkdocs_config["plugins"]
                  if isinstance(p, dict) and "mkdocstrings" in p)
    options = plugin["handlers"]["python"]["options"]
    assert options["docstring_style"] == "google"
    for ext in options["extensions"]:
        assert (ROOT / ext).is_file()
    for hook in mkdocs_config["hooks"]:
        assert (ROOT / hook).is_file()


# --- generated pages ------------------------------------------------------------------


def test_includes_name_committed_files():
    pattern = re.compile(r"^<!-- include (\S+)(?: shift=\d)? -->$", re.MULTILINE)
    found = []
    for page in DOCS.rglob("*.md"):
        for path in pattern.findall(page.read_text()):
            assert (ROOT / path).is_file(), f"{page.name} includes missing {path}"
            found.append(path)
    assert "benchmarks/results/reproduce_cmle/README.md" in found
    assert "benchmarks/results/reproduce_cmle/summary.md" in found
    assert "CHANGELOG.md" in found


def test_expand_includes_shifts_headings_outside_code(tmp_path, monkeypatch):
    monkeypatch.setattr(hooks, "ROOT", tmp_path)
    (tmp_path / "r.md").write_text("# Title\ntext\n```bash\n# comment\n```\n## Sub\n")
    out = hooks.expand_includes("# Page\n<!-- include r.md shift=1 -->\nend")
    assert out == "# Page\n## Title\ntext\n```bash\n# comment\n```\n### Sub\nend"
    with pytest.raises(FileNotFoundError, match="missing.md does not exist"):
        hooks.expand_includes("<!-- include missing.md -->")


def test_notebooks_render_as_pages_without_running():
    notebooks = sorted((ROOT / "notebooks").glob("*.py"))
    assert notebooks
    for nb in notebooks:
        page = hooks.notebook_markdown(nb)
        assert page.startswith("# "), nb.name  # the notebook's own title
        assert "```python\n" in page and "# %%" not in page and "jupytext:" not in page
        assert f"This page renders `notebooks/{nb.name}`" in page
        # every code cell is on the page, verbatim
        import jupytext

        for cell in jupytext.read(nb).cells:
            if cell.cell_type == "code" and cell.source.strip():
                assert cell.source.strip("\n") in page


# --- docstring rewrites ---------------------------------------------------------------


def test_sphinx_roles_become_optional_links():
    out = docstrings.rewrite_roles(
        "See :func:`jaxcert.intervals.wilson`, :class:`~jaxcert.judge.CertifyTable` "
        "and :func:`the bound <jaxcert.mle>`.")
    assert out == (
        'See <autoref identifier="jaxcert.intervals.wilson" optional>'
        "<code>jaxcert.intervals.wilson</code></autoref>, "
        '<autoref identifier="jaxcert.judge.CertifyTable" optional><code>CertifyTable</code>'
        '</autoref> and <autoref identifier="jaxcert.mle" optional><code>the bound</code>'
        "</autoref>.")


def test_doctests_are_fenced_once():
    text = "Example:\n  >>> f(1)\n  [91.0, 11.0]\n\n  After.\n```\n>>> kept\n```"
    out = docstrings.fence_doctests(text)
    assert out == ("Example:\n  ```pycon\n  >>> f(1)\n  [91.0, 11.0]\n  ```\n\n  After.\n"
                   "```\n>>> kept\n```")
    assert docstrings.fence_doctests(out) == out


def test_grouped_names_stay_grouped():
    text = "Args:\n  tpr, fpr: the rates.\n  n (int): size.\nNot, a: section line."
    out = docstrings.join_grouped_names(text, {"tpr": "float"}.get)
    assert out == ("Args:\n  tpr,\u00a0fpr (float): the rates.\n  n (int): size.\n"
                   "Not, a: section line.")
    assert docstrings.join_grouped_names("Attributes:\n  a, b: x", lambda n: None) == \
        "Attributes:\n  a,\u00a0b (): x"


# --- quickstart and README agree ------------------------------------------------------


def _blocks(text, lang):
    return re.findall(rf"```{lang}\n(.*?)```", text, re.DOTALL)


def test_quickstart_examples_are_the_readmes():
    readme = (ROOT / "README.md").read_text()
    quick = (DOCS / "quickstart.md").read_text()
    for block in _blocks(quick, "python"):
        assert block in readme, block
    readme_commands = {ln.strip() for b in _blocks(readme, "bash") for ln in b.splitlines()}
    for block in _blocks(quick, "bash"):
        for line in block.splitlines():
            assert line.strip() in readme_commands, line
    assert "../shared/" not in quick


# --- repository basics ----------------------------------------------------------------


def test_license_citation_changelog_and_py_typed():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert pyproject["license"] in ({"text": "Apache-2.0"}, "Apache-2.0")
    lic = (ROOT / "LICENSE").read_text()
    assert "Apache License" in lic and "Version 2.0, January 2004" in lic
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in lic
    assert "END OF TERMS AND CONDITIONS" in lic and len(lic) > 10_000  # full text

    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["license"] == "Apache-2.0"
    assert cff["version"] == pyproject["version"]
    ids = {ref["identifiers"][0]["value"]: ref for ref in cff["references"]}
    assert set(ids) == {"arXiv:2604.03257", "arXiv:2605.11209"}
    assert [a["family-names"] for a in ids["arXiv:2604.03257"]["authors"]] == [
        "Shen", "Balashankar", "Fisch", "Madras", "Rodrigues"]
    assert [a["family-names"] for a in ids["arXiv:2605.11209"]["authors"]] == [
        "Kim", "Gu", "Tiwari", "Kolter"]
    assert all(ref["year"] == 2026 for ref in cff["references"])

    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "## Unreleased" in changelog and f"## {pyproject['version']} - " in changelog
    assert (ROOT / "jaxcert" / "py.typed").is_file()


# --- the real build ---------------------------------------------------------------------


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings_handlers.python")
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                           "-d", str(site)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    for page in ("index.html", "quickstart/index.html", "methods/index.html",
                 "five_nines/index.html", "reference/cli/index.html",
                 "api/judge/index.html", "results/reproduction/index.html",
                 "notebooks/five_nines/index.html", "guide/scaling/index.html"):
        assert (site / page).is_file(), page
    cli = (site / "reference/cli/index.html").read_text()
    for name in _subcommands(build_parser()):
        assert f'id="jaxcert-{name}"' in cli
    repro = (site / "results/reproduction/index.html").read_text()
    assert "figures/coverage.png" in repro and (site / "results/figures/coverage.png").is_file()


GUIDE_BLOCKS = [(p.name, i, b) for p in sorted((DOCS / "guide").glob("*.md"))
                for i, b in enumerate(re.findall(r"```python\n(.*?)```", p.read_text(), re.S))]


@pytest.mark.slow
@pytest.mark.parametrize("page,index,code", GUIDE_BLOCKS,
                         ids=[f"{p}-{i}" for p, i, _ in GUIDE_BLOCKS])
def test_guide_python_blocks_run(page, index, code):
    """Every Python example in the guides runs as written (fresh interpreter)."""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
