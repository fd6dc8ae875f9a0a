"""Griffe extension: render the Sphinx-style markup of carepaths' docstrings in mkdocstrings.

The docstrings are numpy style with two reStructuredText habits that Markdown does not
understand: cross-reference roles (``:class:`Spec```, ``:func:`~carepaths.fit.load_fit```)
and literal blocks introduced by ``::``. Left alone they render as the literal text
":class: Spec" and as a run-on paragraph. This extension rewrites them, in memory and only
for the docs build (the source files are untouched), once the package is loaded:

- a role becomes an mkdocs-autorefs link when its target resolves to an object that the
  API reference renders (a public object with a docstring, in a module that has a page in
  ``docs/api/``), and inline code otherwise, so a reference to an undocumented or external
  object (``xarray.Dataset``) or to a module without a page yet can never break the strict
  build; ``~`` shows only the last component, as in Sphinx;
- ``text::`` followed by an indented block becomes ``text:`` and a fenced code block.

Loaded by the ``extensions`` option of the mkdocstrings Python handler in ``mkdocs.yml``.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import griffe

_ROLE = re.compile(
    r":(?:py:)?(?P<role>class|func|meth|mod|attr|data|exc|obj|const|var):`(?P<body>[^`]+)`"
)
_TITLED = re.compile(r"^(?P<title>.*?)\s*<(?P<target>[^<>]+)>$")
_API_PAGE = re.compile(r"^:::\s*(?P<module>[\w.]+)\s*$", re.MULTILINE)


def documented_modules(api_dir: Path) -> set[str]:
    """The modules that have a ``::: module`` page in ``api_dir``."""
    found: set[str] = set()
    for page in api_dir.glob("*.md"):
        found.update(m.group("module") for m in _API_PAGE.finditer(page.read_text("utf-8")))
    return found


def literal_blocks_to_fences(text: str) -> str:
    """Turn reStructuredText ``::`` literal blocks into fenced code blocks.

    Parameters
    ----------
    text : str
        A docstring, dedented (as griffe stores it).

    Returns
    -------
    str
        The docstring with every ``::`` paragraph ending and its indented block replaced
        by a single colon (none for a bare ``::`` line) and a fenced block.
    """
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.rstrip()
        if stripped.endswith("::") and not stripped.endswith(":::"):
            indent = len(line) - len(line.lstrip())
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            block_start = j
            while j < len(lines) and (
                not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent
            ):
                j += 1
            while j > block_start and not lines[j - 1].strip():
                j -= 1
            if j > block_start:
                head = stripped[:-2].rstrip()
                if head.strip():
                    out.append(head + ":")
                out.append("")
                block = textwrap.dedent("\n".join(lines[block_start:j]))
                pad = " " * indent
                out.append(pad + "```text")
                out.extend((pad + b) if b else b for b in block.split("\n"))
                out.append(pad + "```")
                i = j
                continue
        out.append(line)
        i += 1
    return "\n".join(out)


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles and ``::`` blocks in every docstring of the loaded package.

    Parameters
    ----------
    api_dir : str
        The folder of the API reference pages, relative to the working directory (the
        repository root, where ``mkdocs`` runs). Only modules with a page there are linked.
    """

    def __init__(self, api_dir: str = "docs/api") -> None:
        super().__init__()
        self.api_dir = Path(api_dir)

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Rewrite the docstrings of ``pkg`` and everything in it."""
        pages = documented_modules(self.api_dir)
        for obj in _walk(pkg):
            doc = obj.docstring
            if doc is None:
                continue
            value = literal_blocks_to_fences(doc.value)
            value = _ROLE.sub(lambda m, obj=obj: self._role(m, obj, pkg, pages), value)
            if value != doc.value:
                doc.value = value
                doc.__dict__.pop("parsed", None)

    def _role(
        self, match: re.Match[str], here: griffe.Object, pkg: griffe.Module, pages: set[str]
    ) -> str:
        body = match.group("body").strip()
        titled = _TITLED.match(body)
        title, target = (titled.group("title"), titled.group("target")) if titled else (None, body)
        short = target.startswith("~")
        target = target.lstrip("~.")
        text = title or (target.rsplit(".", 1)[-1] if short else target)
        if match.group("role") in ("func", "meth") and not title:
            text += "()"
        path = _resolve(target, here, pkg)
        if path is not None and _rendered(path, pkg, pages):
            return f"[`{text}`][{path}]"
        return f"`{text}`"


def _walk(obj: griffe.Object):
    yield obj
    for member in obj.members.values():
        if member.is_alias:
            continue
        yield from _walk(member)


def _lookup(path: str, pkg: griffe.Module) -> griffe.Object | None:
    if path == pkg.path:
        return pkg
    if not path.startswith(pkg.path + "."):
        return None
    try:
        obj = pkg[path[len(pkg.path) + 1 :]]
        return obj.final_target if obj.is_alias else obj
    except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def _resolve(target: str, here: griffe.Object, pkg: griffe.Module) -> str | None:
    """The canonical path ``target`` names, seen from ``here``; None if it is not found."""
    scopes: list[str] = []
    scope: griffe.Object | None = here
    while scope is not None:
        if scope.is_class or scope.is_module:
            scopes.append(scope.path)
        scope = scope.parent
    candidates = [f"{s}.{target}" for s in scopes] + [target]
    for candidate in candidates:
        obj = _lookup(candidate, pkg)
        if obj is not None:
            return obj.path
    return None


def _rendered(path: str, pkg: griffe.Module, pages: set[str]) -> bool:
    """Whether the API reference renders ``path`` (so autorefs has an anchor for it)."""
    obj = _lookup(path, pkg)
    if obj is None or any(part.startswith("_") for part in path.split(".")):
        return False
    if obj.is_module:
        return path in pages
    if obj.module.path not in pages:
        return False
    chain = obj
    while chain is not None and not chain.is_module:
        if chain.docstring is None:
            return False
        chain = chain.parent
    return True
