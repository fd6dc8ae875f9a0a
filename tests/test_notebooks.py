"""Every notebook in notebooks/ runs without error and is stored without outputs.

Each notebook is executed top to bottom with nbclient in a kernel started from this test
run's own interpreter (the project's .venv), with the notebook's folder as the working
directory. A cell that raises, or runs past ``CELL_TIMEOUT_S``, fails the test.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, kernel_spec_manager):
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
    ran = [c for c in nb.cells if c.cell_type == "code"]
    assert ran and all(c.execution_count is not None for c in ran)
    errors = [o for c in ran for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
