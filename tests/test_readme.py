"""The README's Python examples run as written, and its command lines parse as real commands."""

import pathlib
import re
import shlex

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def _commands():
    """Every `jaxcert ...` command of the README's bash blocks, continuation lines joined."""
    out = []
    for block in _blocks("bash"):
        text = block.replace("\\\n", " ")
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith("jaxcert "):
                    out.append(shlex.split(part)[1:])
    return out


def test_readme_has_python_and_command_examples():
    assert len(_blocks("python")) >= 3
    assert {c[0] for c in _commands()} >= {"estimate", "rare", "sweep", "plot", "plan"}


@pytest.mark.parametrize("argv", _commands(), ids=lambda a: " ".join(a[:2]))
def test_readme_command_parses(argv):
    """Each command line is accepted by the real parser (a renamed option fails here)."""
    from jaxcert.cli._main import _Parser, build_parser

    if argv[:2] == ["rare", "compare"]:
        from jaxcert.cli._rare_compare import build_compare_parser

        build_compare_parser(_Parser).parse_args(argv[2:])
    else:
        build_parser().parse_args(argv)


@pytest.mark.slow
def test_readme_python_blocks_run_in_order(monkeypatch):
    """The blocks read as one session (later ones use earlier imports), so they share a namespace."""
    monkeypatch.chdir(ROOT)
    namespace = {}
    for i, block in enumerate(_blocks("python")):
        exec(compile(block, f"README.md python block {i}", "exec"), namespace)


@pytest.mark.slow
def test_readme_plan_and_compare_commands_run(tmp_path, monkeypatch):
    """`plan` verbatim; `rare compare` with the README's arguments into a temporary folder."""
    from jaxcert.cli import main

    monkeypatch.chdir(tmp_path)
    for argv in _commands():
        if argv[0] == "plan" or argv[:2] == ["rare", "compare"]:
            assert main(argv) == 0, argv
    assert (tmp_path / "out" / "compare").is_dir()


# Quick settings for the long README commands: the same command with a smaller size.
_QUICK = {"rare": ("--budget", "3000"), "sweep": ("--replicates", "4")}


def _quick(argv):
    argv = list(argv)
    flag, value = _QUICK.get(argv[0], (None, None))
    if flag in argv:
        argv[argv.index(flag) + 1] = value
    elif flag is not None and argv[1] != "merge":
        argv += [flag, value]
    return argv


@pytest.mark.slow
def test_readme_rare_sweep_and_plot_commands_run_in_quick_mode(tmp_path, monkeypatch):
    """`rare` (synthetic evaluator), `sweep` (one run, then the two shards and merge) and `plot`
    as written, with a smaller budget and replicate count; the endpoint example needs a server."""
    from jaxcert.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "benchmarks").symlink_to(ROOT / "benchmarks")
    for argv in _commands():
        if argv[0] in ("sweep", "plot") or (argv[0] == "rare" and "synthetic" in argv
                                             and argv[1] != "compare"):
            assert main(_quick(argv)) == 0, argv
    assert (tmp_path / "out" / "rare" / "report.json").is_file()
    merged = (tmp_path / "out" / "merged" / "results.csv").read_bytes()
    assert merged == (tmp_path / "out" / "study" / "results.csv").read_bytes()
