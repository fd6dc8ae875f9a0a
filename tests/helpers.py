"""Helpers shared by test modules (plain functions, not fixtures)."""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

import carepaths
from carepaths import MediationModel, Spec
from carepaths.model.fit import Fit


def mock_fit(spec: Spec, n_persons: int = 40, draws: int = 60, seed: int = 3, panel: carepaths.Panel | None = None,
             ) -> Fit:
    """A Fit whose 'posterior' is prior draws from ``pymc.testing.mock_sample`` (no MCMC).

    Cheap, and enough wherever a test checks an identity that holds for any parameter
    values (save/load, g-computation oracles). One chain, so it never counts as converged.
    On ``panel`` when given, else on a simulated panel of ``n_persons``.
    """
    from pymc.testing import mock_sample

    if panel is None:
        waves = 3 if spec.columns.person else 1
        panel = carepaths.simulate(spec, n_persons, waves, seed=seed, mc_persons=50).panel()
    m = MediationModel(spec, panel)
    stats = {
        "diverging": lambda size: np.zeros(size, dtype=bool),
        "energy": lambda size: np.random.default_rng(0).normal(size=size),
        "maxdepth_reached": lambda size: np.zeros(size, dtype=bool),
    }
    with m.model, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = mock_sample(draws=draws, sample_stats=stats, random_seed=seed)
    # PyMC draws cutpoints forward without their ordered transform: sort each draw's, as
    # the model's own prior draws do (MediationModel.prior_draws)
    draws_ds = post["posterior"].to_dataset()
    for name in [n for n in draws_ds.data_vars if n.startswith("cutpoints_")]:
        draws_ds[name] = draws_ds[name].copy(data=np.sort(draws_ds[name].values, axis=-1))
    post["posterior"] = xr.DataTree(draws_ds)
    return Fit(post, spec, m.panel, m.priors, warn=False)


def logp_of(model, term, point):  # noqa: ANN001, ANN201
    """A model term's value at a point (its random variables replaced by their values, else
    compiling the term draws them)."""
    term = model.replace_rvs_by_values([term])[0]
    fn = model.compile_fn(term, inputs=model.value_vars, on_unused_input="ignore")
    return float(fn(point))


def potential(model, name):  # noqa: ANN001, ANN201
    """The model's Potential called ``name``."""
    return next(p for p in model.potentials if p.name == name)

