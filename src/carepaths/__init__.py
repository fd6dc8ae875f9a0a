"""carepaths: Bayesian causal mediation analysis of mental-health care use.

The public API is imported from here. Heavy libraries (pandas, xarray, PyMC, DoWhy) are
imported only when the object that needs them is first used, so ``import carepaths`` is
fast (measured in ``benchmarks/import_time.py``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from carepaths.exceptions import (
    CarepathsError,
    CarepathsWarning,
    ConvergenceWarning,
    DataError,
    DroppedRowsWarning,
    IdentificationError,
    SimulationError,
    SpecError,
)
from carepaths.spec import Spec, load_spec, shipped_spec_path

__version__ = "0.1.0.dev0"

# public name -> module that defines it (imported on first access)
_LAZY = {
    "Panel": "carepaths.data",
    "simulate": "carepaths.simulation",
    "Simulation": "carepaths.simulation",
    "default_params": "carepaths.simulation",
    "MediationModel": "carepaths.model.build",
    "Prior": "carepaths.model.priors",
    "Fit": "carepaths.model.fit",
    "load_fit": "carepaths.model.fit",
    "Effects": "carepaths.counterfactual.effects",
    "FourWay": "carepaths.counterfactual.fourway",
    "Sensitivity": "carepaths.counterfactual.sensitivity",
    "Intervention": "carepaths.counterfactual.interventions",
    "Comparison": "carepaths.counterfactual.comparison",
    "Checks": "carepaths.checks.predictive",
    "CausalGraph": "carepaths.causal.graph",
    "Identification": "carepaths.causal.identify",
}

__all__ = [
    "CarepathsError",
    "CarepathsWarning",
    "ConvergenceWarning",
    "DataError",
    "DroppedRowsWarning",
    "IdentificationError",
    "SimulationError",
    "SpecError",
    "Spec",
    "load_spec",
    "shipped_spec_path",
    *_LAZY,
]

if TYPE_CHECKING:  # pragma: no cover
    from carepaths.causal.graph import CausalGraph
    from carepaths.causal.identify import Identification
    from carepaths.checks.predictive import Checks
    from carepaths.counterfactual.comparison import Comparison
    from carepaths.counterfactual.effects import Effects
    from carepaths.counterfactual.fourway import FourWay
    from carepaths.counterfactual.sensitivity import Sensitivity
    from carepaths.counterfactual.interventions import Intervention
    from carepaths.data import Panel
    from carepaths.model.build import MediationModel
    from carepaths.model.fit import Fit, load_fit
    from carepaths.model.priors import Prior
    from carepaths.simulation import Simulation, default_params, simulate


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'carepaths' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
