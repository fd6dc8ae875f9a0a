"""The one translator from a parameter set to the equations' arrays (structural.parameters).

Each rule is checked once against its definition, and the two backends (NumPy for the
posterior, the prior and the truth; PyTensor for the model graph) must give the same arrays.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import carepaths
from carepaths import Spec
from carepaths.simulation import default_params
from carepaths.structural.parameters import (
    ParameterSet,
    parameter_dims,
    pytensor_ops,
    slope_covariance,
    split_slopes,
    structural_arrays,
)


def _spec(**structure) -> Spec:
    """Every rule at once: an ordinal and a bernoulli mediator, an edge, slopes, a cluster."""
    d = carepaths.load_spec().to_dict()
    d["mediators"][1] = {"name": "alt_coping", "family": "ordinal", "categories": [1, 2, 3, 4]}
    d["mediators"][2] = {"name": "discouragement", "family": "bernoulli"}
    d["mediator_edges"] = [["encouragement", "confidence"], ["alt_coping", "attitudes"]]
    d["columns"]["cluster"] = "clinic"
    d["structure"] = {"pool_stages": True, "person_effects": "slopes", **structure}
    return Spec.from_dict(d)


def _random_raw(spec: Spec, batch: tuple[int, ...], seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    sizes = {"mediator": len(spec.mediators), "stage": len(spec.stage_levels),
             "confounder": len(spec.confounder_terms), "edge": len(spec.mediator_edges),
             "mediator_normal": sum(m.family == "normal" for m in spec.mediators),
             "slope": 2 * len(spec.mediators) + 1, "slope_other": 2 * len(spec.mediators) + 1}
    for m in spec.mediators:
        if m.family == "ordinal":
            sizes[f"cut_{m.name}"] = len(m.categories) - 1
    return {name: rng.normal(size=(*batch, *(sizes[d] for d in dims)))
            for name, dims in parameter_dims(spec).items()}


def test_each_rule_once():
    spec = _spec()
    raw = _random_raw(spec, (4,))
    out = structural_arrays(spec, raw)
    names = list(spec.mediator_names)
    # ordinal mediators' first-stage intercept is 0; every other intercept passes through
    assert np.all(out["alpha_m"][:, 1, 0] == 0.0)
    np.testing.assert_array_equal(out["alpha_m"][:, 0], raw["alpha_m"][:, 0])
    np.testing.assert_array_equal(out["alpha_m"][:, 1, 1:], raw["alpha_m"][:, 1, 1:])
    # d_edge fills the (mediator, parent) matrix at [dst, src], zero elsewhere
    expected = np.zeros((4, 5, 5))
    for e, (src, dst) in enumerate(spec.mediator_edges):
        expected[:, names.index(dst), names.index(src)] = raw["d_edge"][:, e]
    np.testing.assert_array_equal(out["d"], expected)
    # sigma_m over normal mediators only, NaN elsewhere
    normal = [k for k, m in enumerate(spec.mediators) if m.family == "normal"]
    np.testing.assert_array_equal(out["sigma_m"][:, normal], raw["sigma_m"])
    assert np.isnan(out["sigma_m"][:, [1, 2]]).all()
    # cutpoints padded to (mediator, cut) with NaN for every other mediator
    np.testing.assert_array_equal(out["cutpoints"][:, 1], raw["cutpoints_alt_coping"])
    assert np.isnan(np.delete(out["cutpoints"], 1, axis=1)).all()
    # a family's absent parameters are NaN
    assert np.isnan(out["sigma_y"]).all() and np.isnan(out["phi"]).all()


def test_shared_paths_are_repeated_over_stages():
    spec = _spec(stage_specific_paths=False, pool_stages=False)
    raw = _random_raw(spec, (3,))
    assert raw["a"].shape == (3, 5) and raw["c"].shape == (3,)
    out = structural_arrays(spec, raw)
    for name in ("a", "b"):
        np.testing.assert_array_equal(out[name], np.repeat(raw[name][..., None], 3, axis=-1))
    np.testing.assert_array_equal(out["c"], np.repeat(raw["c"][:, None], 3, axis=-1))


@pytest.mark.parametrize("structure", [{}, {"stage_specific_paths": False, "pool_stages": False}])
def test_numpy_and_pytensor_backends_give_the_same_arrays(structure):
    """The PyMC graph and the NumPy draws go through the same rules (one translator)."""
    import pytensor

    spec = _spec(**structure)
    raw = _random_raw(spec, ())
    expected = structural_arrays(spec, raw)
    symbols = {name: pytensor.tensor.tensor(name, shape=np.shape(v)) for name, v in raw.items()}
    got = structural_arrays(spec, symbols, pytensor_ops())
    names = sorted(got)
    fn = pytensor.function(list(symbols.values()), [got[n] for n in names], on_unused_input="ignore")
    for name, value in zip(names, fn(*raw.values()), strict=True):
        np.testing.assert_array_equal(value, expected[name], err_msg=name)


def test_slope_split_and_covariance():
    K = 3
    slopes = np.arange(2.0 * (2 * K + 1)).reshape(2, 2 * K + 1)
    a_i, b_i, c_i = split_slopes(slopes, K)
    np.testing.assert_array_equal(a_i, slopes[:, :K])
    np.testing.assert_array_equal(b_i, slopes[:, K : 2 * K])
    np.testing.assert_array_equal(c_i, slopes[:, 2 * K])
    sd, corr = np.array([1.0, 2.0]), np.array([[1.0, 0.5], [0.5, 1.0]])
    np.testing.assert_allclose(slope_covariance(sd, corr), [[1.0, 1.0], [1.0, 4.0]])


def test_truth_and_draws_are_read_the_same_way():
    """The simulator's truth and a posterior with one draw of the same values agree."""
    spec = _spec()
    truth = default_params(spec)
    from_truth = ParameterSet.from_truth(spec, truth)
    dims = parameter_dims(spec)
    draws = xr.Dataset({name: (("chain", "draw", *dims[name]), truth[name].values[None, None])
                        for name in dims})
    from_draws = ParameterSet.from_draws(spec, draws)
    assert from_truth.source == "truth" and from_draws.source == "posterior"
    for name, value in from_truth.fixed.items():
        np.testing.assert_array_equal(value, from_draws.fixed[name], err_msg=name)
    for name in ("sd_u", "sd_v", "sd_cluster", "cov_slope"):
        np.testing.assert_array_equal(from_truth.person[name], from_draws.person[name], err_msg=name)


def test_default_params_hold_exactly_the_models_parameters(shipped_name):
    spec = carepaths.load_spec(shipped_name)
    from carepaths.simulation import SIMULATOR_ONLY

    names = set(default_params(spec).data_vars)
    assert names == set(parameter_dims(spec)) | set(SIMULATOR_ONLY)
