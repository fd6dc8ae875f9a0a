"""The public API: exports, laziness of heavy imports, and the error hierarchy."""

from __future__ import annotations

import subprocess
import sys

import carepaths
from carepaths import exceptions


def test_public_names_resolve():
    for name in carepaths.__all__:
        assert getattr(carepaths, name) is not None, name


def test_errors_share_one_base():
    for cls in (exceptions.SpecError, exceptions.DataError, exceptions.SimulationError):
        assert issubclass(cls, carepaths.CarepathsError)
        assert issubclass(cls, ValueError)
    assert issubclass(exceptions.DroppedRowsWarning, carepaths.CarepathsWarning)


def test_import_does_not_load_heavy_libraries():
    code = (
        "import sys, carepaths; "
        "heavy = [m for m in ('pandas', 'xarray', 'pymc', 'dowhy', 'scipy') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
