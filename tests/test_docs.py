"""The documentation stays in step with the code it describes.

The strict site build itself (``sphinx-build -W --keep-going``, docs/conf.py) is
``make docs``, which ``make test`` runs before pytest: it fails on a broken link, an
unresolved reference to carepaths, a page outside the toctree, a docstring that does not
parse and a notebook that raises. These checks are what the build cannot see: names in
inline code (``carepaths.x.y`` in backticks is text to Sphinx), the CLI reference against
the parser, and whether the built site (``site/``, when ``make docs`` has run) holds every
public module's API page and the notebooks with their outputs.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import pkgutil
import re
from pathlib import Path

import pytest

from carepaths.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
CLI_PAGE = ROOT / "docs" / "cli.md"
SITE = ROOT / "site"
DOC_PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "docs" / "api" / "index.md", ROOT / "README.md"]


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return [
        opt
        for action in parser._actions
        for opt in action.option_strings
        if opt.startswith("--") and opt != "--help"
    ]


COMMANDS = _subcommands(build_parser())


def test_the_parser_has_commands():
    assert {"demo", "simulate", "validate"} <= set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_cli_command_and_option_is_documented(name):
    page = CLI_PAGE.read_text(encoding="utf-8")
    sections = re.split(r"^## ", page, flags=re.MULTILINE)
    section = next((s for s in sections if s.startswith(f"`carepaths {name}`")), None)
    assert section is not None, f"docs/cli.md has no '## `carepaths {name}`' section"
    missing = [opt for opt in _options(COMMANDS[name]) if f"`{opt}" not in section]
    assert not missing, f"docs/cli.md, section `carepaths {name}`, does not document {missing}"


def test_global_options_are_documented():
    page = CLI_PAGE.read_text(encoding="utf-8")
    missing = [opt for opt in _options(build_parser()) if f"`{opt}" not in page]
    assert not missing, missing


def _conf():
    spec = importlib.util.spec_from_file_location("carepaths_docs_conf", ROOT / "docs" / "conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _public_modules() -> list[str]:
    import carepaths

    return sorted(
        info.name
        for info in pkgutil.walk_packages(carepaths.__path__, prefix="carepaths.")
        if not any(part.startswith("_") for part in info.name.split("."))
    )


def _resolves(dotted: str) -> bool:
    """Whether ``carepaths.a.b.c`` names a module or an attribute of one."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


# `carepaths.x.y` inside backticks, or after "from"/"import" in a code example.
_DOTTED = re.compile(r"(?:`|\bfrom |\bimport |\()(carepaths(?:\.[A-Za-z_]\w*)+)")


@pytest.mark.parametrize("page", DOC_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_carepaths_name_on_a_page_exists(page):
    """Module paths named on a page exist (the pages once named the pre-subpackage layout)."""
    text = page.read_text(encoding="utf-8")
    names = sorted({m.group(1).rstrip(".") for m in _DOTTED.finditer(text)} - {"carepaths.X"})
    stale = [name for name in names if not _resolves(name)]
    assert not stale, f"{page.relative_to(ROOT)} names {stale}, which do not exist"


def test_the_api_index_lists_every_public_top_level_module_in_layer_order():
    modules = _conf().api_modules()
    top_level = sorted({".".join(name.split(".")[:2]) for name in _public_modules()})
    assert sorted(modules) == top_level
    assert modules[:3] == ["carepaths.exceptions", "carepaths.intervals", "carepaths.figures"]
    assert modules.index("carepaths.model") < modules.index("carepaths.report")


def _site_page(*parts: str) -> Path:
    if not (SITE / "index.html").is_file():
        pytest.skip("site/ is not built: `make docs` (make test runs it first)")
    return SITE.joinpath(*parts)


@pytest.mark.parametrize("module", _public_modules())
def test_every_public_module_has_an_api_page(module):
    page = _site_page("api", "generated", f"{module}.html")
    assert page.is_file(), f"the API reference has no page for {module}"
    assert f'id="module-{module}"' in page.read_text(encoding="utf-8")


def test_no_private_module_has_an_api_page():
    pages = [p.name for p in _site_page("api", "generated").glob("*.html")]
    assert pages and not [p for p in pages if "._" in p], pages


@pytest.mark.parametrize("name", ["01_quickstart", "02_your_data", "03_interventions"])
def test_the_notebooks_are_in_the_site_with_outputs_and_figures(name):
    page = _site_page("notebooks", f"{name}.html")
    assert page.is_file(), f"the site has no page for notebooks/{name}.ipynb"
    html = page.read_text(encoding="utf-8")
    assert html.count('class="cell_output') >= 5, "the notebook was rendered without outputs"
    assert re.search(r'<img[^>]+src="[^"]*\.png"', html), "the notebook's figures are missing"
    assert "Traceback" not in html


def test_the_performance_page_is_the_benchmarks_readme():
    """One source for the measured figures: performance.md includes benchmarks/README.md."""
    html = _site_page("performance.html").read_text(encoding="utf-8")
    readme = (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8")
    first_line = next(line for line in readme.splitlines() if line and not line.startswith("#"))
    assert " ".join(first_line.split()[:6]) in html
