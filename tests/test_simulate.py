"""The simulator: reproducibility, closed-form truth, Monte Carlo error and the paradox."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import carepaths
from carepaths import SimulationError, Spec
from carepaths.simulation import default_params


def _linear_spec(**structure) -> Spec:
    return Spec.from_dict(
        {
            "stages": ["s1", "s2"],
            "mediator_edges": [["m1", "m2"]],
            "columns": {"person": "id", "wave": "t", "stage": "stage"},
            "exposure": {"name": "x", "contrast": {"kind": "values", "low": 0.0, "high": 1.0}},
            "mediators": [{"name": "m1", "family": "normal"}, {"name": "m2", "family": "normal"}],
            "outcome": {"name": "y", "family": "normal"},
            "confounders": [{"name": "c1"}],
            "structure": {"person_effects": "intercepts", **structure},
        }
    )


def test_same_seed_same_frame_and_truth(default_spec):
    a = carepaths.simulate(default_spec, 50, 3, seed=7, mc_persons=500)
    b = carepaths.simulate(default_spec, 50, 3, seed=7, mc_persons=500)
    c = carepaths.simulate(default_spec, 50, 3, seed=8, mc_persons=500)
    pd.testing.assert_frame_equal(a.data, b.data)
    assert a.effects.identical(b.effects)
    assert not np.allclose(a.data["support"], c.data["support"])


def test_frame_is_a_valid_panel_of_the_spec(shipped_name):
    spec = carepaths.load_spec(shipped_name)
    waves = 3 if spec.columns.person else 1
    sim = carepaths.simulate(spec, 80, waves, seed=1, mc_persons=200)
    panel = sim.panel()
    assert panel.n_obs == 80 * waves
    assert list(sim.data.columns)[-len(spec.confounders) or None :] == list(spec.confounder_names)


def test_linear_gaussian_truth_matches_closed_form():
    """Linear-Gaussian, contrast 0 -> 1: NDE = c[s], NIE = sum_k a_k b_k + a_1 d_21 b_2."""
    spec = _linear_spec()
    sim = carepaths.simulate(spec, 20, 2, seed=3, mc_persons=3000)
    p, e = sim.truth.sample(0), sim.effects  # the equations' arrays, by the one translator
    a, b, c, d = p["a"], p["b"], p["c"], p["d"]
    for s, stage in enumerate(spec.stages):
        nie = a[0, s] * b[0, s] + a[1, s] * b[1, s] + a[0, s] * d[1, 0] * b[1, s]
        # per-row differences are constant in a linear model: no Monte Carlo error at all
        assert float(e["NDE"].sel(stage=stage)) == pytest.approx(c[s], abs=1e-10)
        assert float(e["NIE"].sel(stage=stage)) == pytest.approx(nie, abs=1e-10)
        direct_m1 = a[0, s] * b[0, s]  # m1's marginal moves m2 only through its own copy
        assert float(e["IIE"].sel(stage=stage, mechanism="m1")) == pytest.approx(direct_m1, abs=1e-10)


def test_decomposition_identities_hold_exactly(default_spec):
    e = carepaths.simulate(default_spec, 20, 4, seed=5, mc_persons=2000).effects
    np.testing.assert_allclose(e["TE"], e["NDE"] + e["NIE"], atol=1e-12)
    np.testing.assert_allclose(e["NIE"], e["IIE"].sum("mechanism") + e["interdependence"], atol=1e-12)


def test_te_equals_nde_plus_nie_within_stated_mc_error(default_spec):
    """Two independent Monte Carlo populations: TE from one vs NDE + NIE from the other.

    Tolerance: 4 combined Monte Carlo SEs (each population's TE SE as stated), so the test
    fails if the effects are inconsistent or the stated MC error is too small.
    """
    e1 = carepaths.simulate(default_spec, 20, 4, seed=21, mc_persons=6000).effects
    e2 = carepaths.simulate(default_spec, 20, 4, seed=22, mc_persons=6000).effects
    gap = np.abs(e1["TE"] - (e2["NDE"] + e2["NIE"]))
    tol = 4 * np.sqrt(e1["TE_mc_se"] ** 2 + e2["TE_mc_se"] ** 2)
    assert bool((gap <= tol).all()), (gap.values, tol.values)
    assert bool((e1["TE_mc_se"] > 0).all())


def test_default_scenario_encodes_the_support_paradox(default_spec):
    sim = carepaths.simulate(default_spec, 20, 4, seed=2, mc_persons=8000)
    e = sim.effects
    se = e["TE_mc_se"]
    te = e["TE"]
    assert float(te.sel(stage="crisis") - 4 * se.sel(stage="crisis")) > 0
    assert float(te.sel(stage="recovery") + 4 * se.sel(stage="recovery")) < 0
    assert float(te.sel(stage="maintenance") + 4 * se.sel(stage="maintenance")) < 0
    iie = e["IIE"]
    # crisis: encouragement carries most of the indirect effect
    assert str(iie.sel(stage="crisis").idxmax("mechanism").values) == "encouragement"
    # recovery: discouragement, confidence and alternative coping pull out of care
    for mech in ("discouragement", "confidence", "alt_coping"):
        assert float(iie.sel(stage="recovery", mechanism=mech)) < 0
    # magnitudes stay plausible: |TE| below 0.25 on the risk-difference scale
    assert float(abs(te).max()) < 0.25


def test_simulated_data_recover_a_path_by_ols(default_spec):
    """The frame follows the equations: OLS of a mediator on support within a stage.

    Tolerance 4 OLS standard errors (~0.03 at this size).
    """
    sim = carepaths.simulate(default_spec, 2000, 4, seed=9, mc_persons=100)
    df = sim.data[sim.data["stage"] == "crisis"]
    X = np.column_stack(
        [np.ones(len(df)), df["support"], df["severity"], df["age"], df["prior_care"] == "yes"]
    ).astype(float)
    y = df["encouragement"].to_numpy()
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    cov = np.linalg.inv(X.T @ X) * resid.var(ddof=X.shape[1])
    true_a = float(sim.params["a"].sel(mediator="encouragement", stage="crisis"))
    assert abs(beta[1] - true_a) < 4 * np.sqrt(cov[1, 1])


def test_param_override_takes_effect(default_spec):
    K, S = 5, 3
    sim = carepaths.simulate(
        default_spec, 20, 2, params={"b": np.zeros((K, S))}, seed=1, mc_persons=500
    )
    np.testing.assert_allclose(sim.effects["NIE"], 0.0, atol=1e-12)
    assert float(abs(sim.effects["NDE"]).max()) > 0


def test_random_slopes_population_runs_and_decomposes(default_spec):
    spec = Spec.from_dict({**default_spec.to_dict(), "structure": {"person_effects": "slopes"}})
    sim = carepaths.simulate(spec, 30, 3, seed=4, mc_persons=3000)
    np.testing.assert_allclose(sim.effects["TE"], sim.effects["NDE"] + sim.effects["NIE"], atol=1e-12)
    corr = default_params(spec)["corr_slope"]
    assert float(corr.sel(slope="a:encouragement", slope_other="b:encouragement")) == 0.3


def test_unknown_parameter_name_suggests(default_spec):
    with pytest.raises(SimulationError, match="Did you mean 'sigma_m'"):
        carepaths.simulate(default_spec, 10, 2, params={"sigma_M": 1.0}, seed=0)


def test_wrong_parameter_shape(default_spec):
    with pytest.raises(SimulationError, match=r"shape \(5, 3\)"):
        carepaths.simulate(default_spec, 10, 2, params={"a": [0.1, 0.2]}, seed=0)


def test_waves_without_person_column():
    with pytest.raises(SimulationError, match="n_waves=1"):
        carepaths.simulate(carepaths.load_spec("single_mediator"), 10, 3, seed=0)


def test_bad_sizes(default_spec):
    with pytest.raises(SimulationError, match="n_persons"):
        carepaths.simulate(default_spec, 0, 2, seed=0)


def test_simulate_honours_shared_paths(default_spec):
    """stage_specific_paths = false: one path per mediator, the same in every stage.

    The truth goes through the one translator (a (mediator,) path repeated over stages),
    and the data follow it: the least-squares slope of a mediator on the exposure, with
    the stage intercepts and confounders, is the same in crisis and recovery within 4
    standard errors (it differs by 0.4 in the stage-specific default).
    """
    spec = Spec.from_dict({**default_spec.to_dict(), "structure": {"stage_specific_paths": False,
                                                                    "pool_stages": False}})
    params = default_params(spec)
    assert params["a"].dims == ("mediator",) and params["c"].dims == ()
    sim = carepaths.simulate(spec, 1500, 4, seed=12, mc_persons=200)
    arrays = sim.truth.sample(0)
    np.testing.assert_array_equal(arrays["a"], np.repeat(params["a"].values[:, None], 3, axis=1))
    slopes, ses = [], []
    for stage in ("crisis", "recovery"):
        df = sim.data[sim.data["stage"] == stage]
        X = np.column_stack([np.ones(len(df)), df["support"], df["severity"], df["age"],
                             df["prior_care"] == "yes"]).astype(float)
        y = df["discouragement"].to_numpy()
        beta, *_ = np.linalg.lstsq(X, y, rcond=None)
        resid = y - X @ beta
        cov = np.linalg.inv(X.T @ X) * resid.var(ddof=X.shape[1])
        slopes.append(beta[1])
        ses.append(np.sqrt(cov[1, 1]))
    assert abs(slopes[0] - slopes[1]) < 4 * np.hypot(*ses), (slopes, ses)
