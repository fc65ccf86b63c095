"""Griffe extension: jaxcert's ``help()``-style docstrings, rendered well by MkDocs.

Three rewrites, applied to every docstring once it is loaded:

* **Sphinx roles become links.** ``:func:`jaxcert.intervals.wilson``` and
  ``:class:`~jaxcert.judge.CertifyTable``` read well in ``help()`` but mean nothing to
  MkDocs; each becomes an *optional* autorefs link: it points at the API page when the
  target is documented there, and stays plain code when it is not (a private module,
  another package), without a broken link or a warning. A leading ``~`` shows only the
  last name, as in Sphinx.
* **Doctest blocks become code blocks.** A run of ``>>>`` / ``...`` lines and their
  output is fenced as ``pycon``, so the output line ``[91.0, 11.0]`` is not read as a
  Markdown link reference, whatever the section it sits in.
* **Grouped names stay grouped.** ``tpr, fpr: ...`` in an ``Args:`` or ``Attributes:``
  section is one item named ``tpr, fpr``, not ``tpr,`` of type ``fpr``.
"""

from __future__ import annotations

import html
import re

try:  # the rewrites are plain functions (tested without the docs tooling)
    import griffe
except ImportError:  # pragma: no cover - only the docs build needs the extension class
    griffe = None

_ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|obj|exc|const):`(~?)([^`]+)`")


def rewrite_roles(text: str) -> str:
    """``:role:`~a.b.c``` -> an optional autoref titled ``c`` (``a.b.c`` without ``~``)."""

    def link(match: re.Match) -> str:
        short, target = match.group(1), match.group(2).strip()
        if "<" in target and target.endswith(">"):  # :func:`title <target>`
            title, target = (p.strip() for p in target[:-1].split("<", 1))
        else:
            title = target.rsplit(".", 1)[-1] if short else target
        target = target.removesuffix("()")
        return (f'<autoref identifier="{html.escape(target)}" optional>'
                f"<code>{html.escape(title)}</code></autoref>")

    return _ROLE.sub(link, text)


def fence_doctests(text: str) -> str:
    """Wraps each unfenced doctest block (prompts plus output, up to a blank line)."""
    lines, out, i, fence = text.splitlines(), [], 0, None
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith(("```", "~~~")):
            fence = None if fence == stripped[:3] else (fence or stripped[:3])
        if fence is None and stripped.startswith(">>>"):
            indent = line[: len(line) - len(stripped)]
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i])
                i += 1
            out += [f"{indent}```pycon", *block, f"{indent}```"]
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Attributes|Other Parameters|"
                      r"Keyword Args|Returns|Yields|Raises):\s*$")
_GROUPED_NAMES = re.compile(r"^(\s+)(\w+(?:, \w+)+)(\s*(?:\([^)]*\))?:\s)")


def join_grouped_names(text: str, annotation_of=lambda name: None) -> str:
    """``tpr, fpr: ...`` items keep their grouped name in the rendered table.

    Griffe splits an item's name from its type at the first space, so ``tpr, fpr`` would
    show as name ``tpr,`` with type ``fpr``; joining the names with no-break spaces keeps
    them together (they look the same). The group gets the type of its first name
    (``annotation_of``), or an explicit empty one, so it never inherits the type of the
    item above it.
    """

    def join(m: re.Match) -> str:
        names, rest = m.group(2), m.group(3)
        if "(" not in rest:
            rest = f" ({annotation_of(names.split(', ')[0]) or ''})" + rest
        return m.group(1) + names.replace(", ", ",\u00a0") + rest

    out, in_section = [], False
    for line in text.splitlines():
        if _SECTION.match(line):
            in_section = True
        elif line.strip() and not line[:1].isspace():
            in_section = False
        elif in_section:
            line = _GROUPED_NAMES.sub(join, line)
        out.append(line)
    return "\n".join(out)


def _annotation_lookup(obj):
    def annotation_of(name: str):
        try:
            if obj.is_function:
                ann = obj.parameters[name].annotation
            else:
                ann = obj.members[name].annotation
        except (KeyError, AttributeError):
            return None
        return str(ann) if ann is not None else None

    return annotation_of


class JaxcertDocstrings(griffe.Extension if griffe is not None else object):
    """Applies the rewrites above to every docstring."""

    def on_object(self, *, obj, **kwargs) -> None:
        doc = obj.docstring
        if doc is None:
            return
        value = doc.value
        if ":`" in value:
            value = rewrite_roles(value)
        if ">>>" in value:
            value = fence_doctests(value)
        if ", " in value:
            value = join_grouped_names(value, _annotation_lookup(obj))
        doc.value = value
