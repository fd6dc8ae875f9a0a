"""Every notebook in notebooks/ runs without error and is stored without outputs.

``make docs`` (which ``make test`` runs before pytest) executes the notebooks for the
documentation site and caches the executed copies (myst-nb with jupyter-cache, in
``.jupyter_cache/<hash of src/, models/, uv.lock>``: ``docs/notebook_cache.py``). A copy is
cached only when every cell ran without error, and it is found only for the notebook's
current code cells and the library as it is now, so when the build has run the notebook
for this state of the code, the test checks that copy instead of running the notebook a
second time. Otherwise (pytest run on its own, or a stale cache) the notebook is executed
here with nbclient, in a kernel started from this test run's own interpreter (the
project's .venv), with the notebook's folder as the working directory. Either way a cell
that raises, or runs past ``CELL_TIMEOUT_S``, fails the test (and ``make docs`` before it).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 300
KERNEL_NAME = "carepaths-test-venv"


def test_the_notebooks_exist():
    names = [p.stem for p in NOTEBOOKS]
    assert "01_quickstart" in names, f"notebooks/ holds {names}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, (
        f"{path.name}: code cells {dirty} carry outputs or execution counts; clear them "
        "before committing (Jupyter: Edit > Clear Outputs of All Cells)"
    )


@pytest.fixture(scope="module")
def kernel_spec_manager(tmp_path_factory) -> KernelSpecManager:
    """A kernel spec that runs ipykernel in this interpreter, whatever else is installed."""
    kernels = tmp_path_factory.mktemp("kernels")
    spec_dir = kernels / KERNEL_NAME
    spec_dir.mkdir()
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "carepaths test venv",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return KernelSpecManager(kernel_dirs=[str(kernels)], ensure_native_kernel=False)


def _executed_by_the_docs_build(path: Path) -> nbformat.NotebookNode | None:
    """The copy of ``path`` that ``make docs`` executed for the code as it is now, or None."""
    spec = importlib.util.spec_from_file_location("notebook_cache", ROOT / "docs" / "notebook_cache.py")
    notebook_cache = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(notebook_cache)
    folder = notebook_cache.cache_path()
    if not folder.is_dir():
        return None
    from jupyter_cache import get_cache

    cache = get_cache(folder)
    try:
        record = cache.match_cache_notebook(nbformat.read(path, as_version=4))
    except KeyError:
        return None
    return cache.get_cache_bundle(record.pk).nb


def _execute(path: Path, kernel_spec_manager: KernelSpecManager) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    km = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=kernel_spec_manager)
    client = NotebookClient(
        nb,
        km=km,
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()  # raises CellExecutionError (with the traceback) on any error
    finally:
        # nbclient leaves a kernel manager it was given running (owns_km is False), and an
        # idle kernel that has fitted a model holds ~0.6 GB until pytest exits.
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    return nb


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, kernel_spec_manager):
    nb = _executed_by_the_docs_build(path)
    if nb is None:
        nb = _execute(path, kernel_spec_manager)
    ran = [c for c in nb.cells if c.cell_type == "code"]
    assert ran and all(c.execution_count is not None for c in ran)
    errors = [o for c in ran for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
