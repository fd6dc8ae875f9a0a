"""Sphinx configuration of the carepaths documentation site (``make docs``).

``make docs`` runs ``sphinx-build -W --keep-going -E docs site``: every warning is an error
(a broken link or cross-reference to ``carepaths``, a page outside the toctree, a docstring
that does not parse, a notebook that fails), reported all at once, from a fresh read of
every page. The pages are MyST Markdown in ``docs/``; the API reference is generated from
the docstrings by autosummary (``docs/api/index.md``); the notebooks (``docs/notebooks`` is a
link to ``notebooks/``) are executed by myst-nb at build time and cached
(``docs/notebook_cache.py``).
"""

from __future__ import annotations

import os
import pkgutil
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS))  # notebook_cache

import carepaths  # noqa: E402
import notebook_cache  # noqa: E402

project = "carepaths"
author = "carepaths developers"
copyright = "carepaths developers"
release = carepaths.__version__
version = release

extensions = [
    "myst_nb",  # MyST Markdown pages and Jupyter notebooks (brings myst_parser)
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
]

root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = [
    "notebooks/README.md",  # the folder's own readme; the notebooks are in index.md's toctree
    "**/.ipynb_checkpoints",
]

# -- strictness --------------------------------------------------------------------------
# Every cross-reference to carepaths itself must resolve (a renamed or moved object breaks
# the build); references to other libraries (numpy, pandas, xarray, ...) stay plain text,
# since the build runs offline and has no inventories for them.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(?!carepaths\.).*"),
    (r"py:.*", r"carepaths\.(.+\.)?_.*"),  # private modules and names are not documented
    (r"py:class", r"carepaths\..*\.[A-Z]"),  # a TypeVar in a signature (T, K, ...)
]

# -- MyST --------------------------------------------------------------------------------
myst_heading_anchors = 3  # `page.md#a-heading` links, as on GitHub
myst_enable_extensions = ["colon_fence"]

# -- notebooks (myst-nb) -----------------------------------------------------------------
# Executed at build time when the notebook or the library changed, else taken from the
# jupyter-cache (git-ignored .jupyter_cache/<hash of src, models, uv.lock>). A notebook that
# raises fails the build, with its traceback.
nb_execution_mode = "cache"
nb_execution_cache_path = str(notebook_cache.cache_path())
nb_execution_timeout = 300  # seconds per cell, as tests/test_notebooks.py
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
# The kernel is ipykernel in this interpreter (the project's .venv): its own "python3" kernel
# spec comes first, before any user-level one that may point at another Python.
os.environ["JUPYTER_PATH"] = os.pathsep.join(
    p for p in (str(Path(sys.prefix) / "share" / "jupyter"), os.environ.get("JUPYTER_PATH")) if p
)

# -- API reference -----------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autosummary_ignore_module_all = False  # a module's __all__ is its public API
# Members without a docstring are left out (a dataclass's fields are described by its
# docstring's Attributes section); a module constant is documented by a `#:` comment.
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
numpydoc_show_class_members = False  # autodoc :members: documents them in full
numpydoc_class_members_toctree = False
numpydoc_validation_checks: set[str] = set()

# -- HTML --------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = "carepaths"
html_show_sourcelink = False
html_theme_options = {
    "github_url": "https://github.com/carepaths/carepaths",
    "navbar_center": [],  # the whole site is in the left sidebar instead
    "secondary_sidebar_items": ["page-toc"],
    "show_toc_level": 2,
    "navigation_with_keys": False,
}
html_sidebars = {"**": ["sidebar-site-nav"]}
html_static_path = ["_static"]
html_css_files = ["carepaths.css"]

ARCHITECTURE = DOCS / "architecture.md"
API_INDEX = "api/index"
MODULES_MARKER = "carepaths-modules-in-layer-order"


def api_modules() -> list[str]:
    """The public top-level modules and subpackages of carepaths, in the pipeline's order.

    The order is that of the "Who owns what" table of ``docs/architecture.md`` (layers from
    the bottom); a public module the table does not name yet comes last, so the API
    reference never leaves one out (``tests/test_architecture.py`` asks for its row).
    """
    public = {
        f"carepaths.{info.name}"
        for info in pkgutil.iter_modules(carepaths.__path__)
        if not info.name.startswith("_")
    }
    ordered: list[str] = []
    for row in re.findall(r"^\|\s*\d+\s*\|(.*?)\|", ARCHITECTURE.read_text("utf-8"), re.M):
        for path in re.findall(r"`([\w/]+)\.py`", row):
            name = "carepaths." + path.split("/")[0]
            if name in public and name not in ordered:
                ordered.append(name)
    return ordered + sorted(public - set(ordered))


def _autosummary_block(toctree: str) -> str:
    entries = "".join(f"   {name}\n" for name in api_modules())
    return f".. autosummary::\n   :toctree: {toctree}\n   :recursive:\n\n{entries}"


def _generate_api_stubs(app) -> None:
    """Write the API pages of every module (autosummary, recursive) into api/generated/.

    autosummary finds its directives by reading the source files, so it cannot see the
    module list that ``_fill_api_index`` puts into ``api/index.md``; the same list is
    handed to it here, before the pages are read.
    """
    import tempfile

    from sphinx.ext.autosummary.generate import generate_autosummary_docs

    out = Path(app.srcdir) / "api" / "generated"
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "api_modules.rst"
        source.write_text(_autosummary_block(str(out)), encoding="utf-8")
        generate_autosummary_docs(
            [str(source)],
            suffix=".rst",
            app=app,
            imported_members=app.config.autosummary_imported_members,
        )


def _fill_api_index(app, docname: str, source: list[str]) -> None:
    """Put the module list in place of the marker line of ``api/index.md``."""
    if docname == API_INDEX:
        block = "```{eval-rst}\n" + _autosummary_block("generated") + "```"
        source[0] = source[0].replace(f"<!-- {MODULES_MARKER} -->", block)


def _resolve_public_name(app, env, node, contnode):
    """Resolve ``carepaths.Fit.effects`` as ``carepaths.model.fit.Fit.effects``.

    The docstrings and pages may name an object by its public top-level name
    (``carepaths.X``, from ``carepaths.__all__``); it is documented where it is defined.
    """
    if node.get("refdomain") != "py":
        return None
    match = re.fullmatch(r"carepaths\.(\w+)(\..+)?", node.get("reftarget", ""))
    if match is None or match.group(1) not in carepaths.__all__:
        return None
    name, rest = match.group(1), match.group(2) or ""
    module = getattr(carepaths, name).__module__
    if module == "carepaths":
        return None
    return env.get_domain("py").resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], f"{module}.{name}{rest}", node, contnode
    )


def _prune_notebook_cache(app) -> None:
    notebook_cache.prune(keep=Path(nb_execution_cache_path))


def _notebook_outputs_under_build(app) -> None:
    """Write the notebooks' output files (figures) to build/, not beside site/.

    myst-nb puts them in ``jupyter_execute/`` next to the output folder, which for
    ``site/`` is the repository root; Sphinx copies them into ``site/_images`` either way.
    """
    folder = DOCS.parent / "build" / "jupyter_execute"
    app.env.mystnb_config = app.env.mystnb_config.copy(output_folder=str(folder))


def setup(app):
    app.connect("builder-inited", _generate_api_stubs)
    app.connect("source-read", _fill_api_index)
    app.connect("builder-inited", _prune_notebook_cache)
    app.connect("builder-inited", _notebook_outputs_under_build)  # after myst-nb's own
    app.connect("missing-reference", _resolve_public_name)
