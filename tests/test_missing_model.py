"""Missing outcomes and mediators modelled inside the model (issue 17, Panel missing="model").

The likelihood is checked against closed forms written here in NumPy and SciPy (a missing
outcome leaves the outcome's likelihood; a latent mediator value enters its mediator's
compound-symmetric normal and the outcome's equation), then one small real fit runs
through everything downstream, and its imputations are checked against the values the
simulator knows.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

import carepaths
from carepaths import DataError, Panel, SpecError
from carepaths.model.build import MediationModel
from helpers import logp_of as _logp_of
from helpers import potential as _potential


@pytest.fixture(scope="module")
def spec():
    return carepaths.load_spec()


@pytest.fixture()
def frame(spec):
    return carepaths.simulate(spec, 30, 3, seed=2, mc_persons=50).data


def _model_panel(frame, spec):
    return Panel.from_frame(frame, spec, missing="model")


# ----------------------------------------------------------------------------- the Panel
def test_model_keeps_the_rows_and_records_how_each_column_was_handled(frame, spec):
    frame.loc[[1, 4, 8], "care_use"] = np.nan
    frame.loc[[2, 4, 9], "encouragement"] = np.nan
    panel = _model_panel(frame, spec)
    assert panel.n_obs == len(frame) and len(panel.dropped) == 0
    assert panel.missing_mode == "model"
    y_seen, m_seen = panel.observed()
    np.testing.assert_array_equal(np.flatnonzero(~y_seen), [1, 4, 8])
    np.testing.assert_array_equal(np.flatnonzero(~m_seen[:, 0]), [2, 4, 9])
    assert m_seen[:, 1:].all()
    # row 4 has both missing: its mediator value enters no likelihood, so it is no latent value
    rows, mediators = panel.latent_cells()
    np.testing.assert_array_equal(rows, [2, 9])
    np.testing.assert_array_equal(mediators, [0, 0])
    table = panel.missing()
    assert table.loc["all", "care_use"] == 3 and table.loc["all", "encouragement"] == 3
    handled = table.attrs["handled"]
    assert handled["care_use"].startswith("modelled: the row's outcome contributes nothing")
    assert handled["encouragement"].startswith("modelled: a latent value")


def test_a_normal_mediator_is_standardised_over_its_observed_values(frame, spec):
    frame.loc[[0, 5, 6, 20], "alt_coping"] = np.nan
    panel = _model_panel(frame, spec)
    values = frame["alt_coping"].to_numpy(float)
    assert panel.scaling["alt_coping"].loc == pytest.approx(np.nanmean(values), rel=1e-12)
    assert panel.scaling["alt_coping"].scale == pytest.approx(np.nanstd(values, ddof=1), rel=1e-12)
    m = panel.dataset["M"].sel(mediator="alt_coping").values
    assert np.isnan(m[[0, 5, 6, 20]]).all() and np.isfinite(np.delete(m, [0, 5, 6, 20])).all()


def test_a_missing_categorical_confounder_drops_its_row_and_numeric_values_are_imputed(frame, spec):
    frame.loc[[3, 7], "support"] = np.nan  # the exposure (continuous): imputed
    frame.loc[12, "prior_care"] = np.nan  # a categorical confounder: dropped
    frame.loc[[5, 20], "severity"] = np.nan  # a numeric confounder: imputed
    with pytest.warns(carepaths.DroppedRowsWarning, match="does not impute a missing binary"):
        panel = _model_panel(frame, spec)
    assert list(panel.dropped.index) == [12] and panel.n_obs == len(frame) - 1
    handled = panel.missing().attrs["handled"]
    assert handled["prior_care"] == "row dropped (a binary or split exposure, or a categorical confounder, is not imputed)"
    assert handled["severity"].startswith("imputed: a latent value")
    assert handled["support"].startswith("imputed: a latent value")
    rows, columns = panel.latent_confounders()
    assert list(panel.dataset["row"].values[rows]) == [5, 20]
    assert set(np.asarray(spec.confounder_terms)[columns]) == {"severity"}
    assert list(panel.dataset["row"].values[panel.latent_exposure()]) == [3, 7]


def test_a_split_exposure_is_not_imputed(spec):
    data = spec.to_dict()
    data["structure"]["center_exposure_within_person"] = True
    split = carepaths.Spec.from_dict(data)
    frame = carepaths.simulate(split, 30, 3, seed=2, mc_persons=50).data
    frame.loc[[3, 7], "support"] = np.nan
    with pytest.warns(carepaths.DroppedRowsWarning):
        panel = _model_panel(frame, split)
    assert list(panel.dropped.index) == [3, 7]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"missing": "impute"}, r"missing must be one of \['refuse', 'drop', 'model'\], got 'impute'"),
    ({"missing": "model", "dropna": True}, "dropna=True and missing='model' disagree"),
])
def test_bad_missing_options_are_refused(frame, spec, kwargs, match):
    with pytest.raises(DataError, match=match):
        Panel.from_frame(frame, spec, **kwargs)


def test_a_stage_needs_two_observed_outcomes(frame, spec):
    crisis = frame.index[frame["stage"] == "crisis"]
    frame.loc[crisis[1:], "care_use"] = np.nan
    with pytest.raises(DataError, match="column 'care_use' has 1 observed value.*stage 'crisis'"):
        _model_panel(frame, spec)


def test_the_refusal_without_missing_names_the_model_option(frame, spec):
    frame.loc[4, "care_use"] = np.nan
    with pytest.raises(DataError, match="pass missing='model' to model missing outcomes and mediators"):
        Panel.from_frame(frame, spec)


def test_missing_mediators_with_mediator_edges_are_refused(spec):
    data = spec.to_dict()
    data["mediator_edges"] = [["encouragement", "confidence"]]
    edged = carepaths.Spec.from_dict(data)
    frame = carepaths.simulate(edged, 30, 3, seed=2, mc_persons=50).data
    frame.loc[[2, 6], "confidence"] = np.nan
    with pytest.raises(SpecError, match="mediator edges"):
        MediationModel(edged, _model_panel(frame, edged))


def test_an_imputed_confounder_that_moderates_a_path_is_refused(spec):
    data = spec.to_dict()
    data["moderation"] = [{"by": "age", "paths": ["c"]}]
    moderated = carepaths.Spec.from_dict(data)
    frame = carepaths.simulate(moderated, 30, 3, seed=2, mc_persons=50).data
    frame.loc[[2, 6], "age"] = np.nan
    with pytest.raises(SpecError, match=r"confounder\(s\) \['age'\].*moderate a path"):
        MediationModel(moderated, _model_panel(frame, moderated))


# ----------------------------------------------------------------------------- the likelihood


def test_a_missing_outcome_leaves_the_outcome_likelihood(frame, spec):
    """Y missing in some rows (kept) = those rows absent, for the outcome's integrated likelihood.

    At a point where the outcome depends on the stage alone (b = c = delta = 0), so that
    the two panels' different standardisations do not matter: the person with every
    outcome missing contributes 0, the others their observed waves only.
    """
    person_all = frame["person"].iloc[0]
    gone = list(frame.index[frame["person"] == person_all]) + [10, 17, 25]
    frame_missing = frame.copy()
    frame_missing.loc[gone, "care_use"] = np.nan
    kept = MediationModel(spec, _model_panel(frame_missing, spec)).model
    absent = MediationModel(spec, Panel.from_frame(frame.drop(index=gone), spec)).model
    point = kept.initial_point()
    point.update(beta0=np.array([0.4, -0.7, 0.2]), sd_v_log__=np.log(0.8))
    for name in ("b", "c", "delta"):
        assert not np.any(point[name])  # the initial point is 0 there
    other = {k: v for k, v in point.items() if k in absent.initial_point()}
    value = _logp_of(kept, _potential(kept, "Y_integrated"), point)
    assert value == pytest.approx(_logp_of(absent, _potential(absent, "Y_integrated"), other), rel=1e-9)
    assert np.isfinite(value) and value < 0


def test_latent_mediator_values_enter_the_compound_symmetric_density(frame, spec):
    """The mediator's density with intercepts integrated out, over observed and latent
    values (rows whose outcome is missing too are left out), against SciPy's multivariate
    normal per person."""
    frame.loc[[2, 9, 14], "encouragement"] = np.nan
    frame.loc[[9, 30], "care_use"] = np.nan  # row 9: mediator and outcome missing
    panel = _model_panel(frame, spec)
    model = MediationModel(spec, panel).model
    sigma, sd_u = 0.7, 0.5
    point = model.initial_point()
    latent = np.array([1.3, -0.4])  # rows 2 and 14
    point.update(sigma_m_log__=np.full(5, np.log(sigma)), sd_u_log__=np.full(5, np.log(sd_u)), M_missing=latent)
    for name in ("alpha_m", "a", "gamma_m"):
        assert not np.any(point[name])  # the fixed part is 0 at the initial point
    value = _logp_of(model, _potential(model, "M_encouragement"), point)
    m = panel.dataset["M"].sel(mediator="encouragement").values.copy()
    m[[2, 14]] = latent
    person = panel.dataset["person_idx"].values
    expected = 0.0
    for i in np.unique(person):
        rows = [r for r in np.flatnonzero(person == i) if r != 9]
        cov = sigma**2 * np.eye(len(rows)) + sd_u**2
        expected += stats.multivariate_normal(np.zeros(len(rows)), cov).logpdf(m[rows])
    assert value == pytest.approx(expected, rel=1e-10)


def test_latent_mediator_values_enter_the_outcome_equation(spec):
    """Without person effects the outcome's likelihood is per row: the rows with an
    observed outcome, each with its mediators, latent ones at their values."""
    data = spec.to_dict()
    data["structure"]["person_effects"] = "none"
    flat = carepaths.Spec.from_dict(data)
    frame = carepaths.simulate(flat, 30, 3, seed=2, mc_persons=50).data
    frame.loc[[2, 14], "confidence"] = np.nan
    frame.loc[[5, 14, 40], "care_use"] = np.nan
    panel = _model_panel(frame, flat)
    model = MediationModel(flat, panel).model
    point = model.initial_point()
    b = np.linspace(-0.6, 0.6, 15).reshape(5, 3)
    beta0 = np.array([0.3, -0.2, 0.1])
    point.update(b=b, beta0=beta0, M_missing=np.array([0.9]))  # row 2 (row 14's outcome is missing)
    y_rv = model["care_use"] if "care_use" in model.named_vars else model["Y"]
    value = _logp_of(model, model.logp(vars=[y_rv]), point)
    ds = panel.dataset
    M = ds["M"].values.copy()
    M[2, 3] = 0.9
    stage = ds["stage_idx"].values
    eta = beta0[stage] + np.einsum("rk,kr->r", M, b[:, stage])
    y = ds["Y"].values
    seen = ~np.isnan(y)
    expected = np.sum(np.where(y[seen] > 0.5, special.log_expit(eta[seen]), special.log_expit(-eta[seen])))
    assert value == pytest.approx(expected, rel=1e-10)


def test_the_imputation_model_is_a_compound_symmetric_normal_per_confounder(frame, spec):
    """The imputed confounder's own density: stage means and a person intercept
    integrated out, over observed and latent values, against SciPy."""
    frame.loc[[4, 11, 40], "age"] = np.nan
    panel = _model_panel(frame, spec)
    model = MediationModel(spec, panel).model
    point = model.initial_point()
    mean = np.array([[0.3, -0.2, 0.5]])
    sigma, sd = 0.6, 0.9
    latent = np.array([0.7, -1.1, 0.2])
    point.update(impute_mean=mean, impute_sigma_log__=np.log([sigma]), impute_sd_log__=np.log([sd]), C_missing=latent)
    value = _logp_of(model, _potential(model, "imputation"), point)
    ds = panel.dataset
    j = list(spec.confounder_terms).index("age")
    c = ds["C"].values[:, j].copy()
    c[[4, 11, 40]] = latent
    resid = c - mean[0][ds["stage_idx"].values]
    person = ds["person_idx"].values
    expected = sum(
        stats.multivariate_normal(np.zeros((person == i).sum()),
                                  sigma**2 * np.eye((person == i).sum()) + sd**2).logpdf(resid[person == i])
        for i in np.unique(person)
    )
    assert value == pytest.approx(expected, rel=1e-10)
    table = MediationModel(spec, panel).prior_table()
    assert set(table.index[table["source"] == "imputation"]) == {"impute_mean", "impute_sigma", "impute_sd"}


def test_an_imputed_confounder_enters_the_mediators_and_the_outcome(frame, spec):
    """Rows with an imputed confounder leave the sufficient statistics and add their
    residuals: the mediator's density and the outcome's (no person effects) equal the
    closed forms with the latent value in place."""
    frame.loc[[4, 11], "age"] = np.nan
    frame.loc[11, "care_use"] = np.nan
    panel = _model_panel(frame, spec)
    model = MediationModel(spec, panel).model
    j = list(spec.confounder_terms).index("age")
    point = model.initial_point()
    gamma = np.zeros((5, 3))
    gamma[:, j] = np.linspace(-0.8, 0.8, 5)
    sigma, sd_u = 0.7, 0.5
    latent = np.array([1.4, -0.9])
    point.update(gamma_m=gamma, C_missing=latent, sigma_m_log__=np.full(5, np.log(sigma)),
                 sd_u_log__=np.full(5, np.log(sd_u)))
    ds = panel.dataset
    C = ds["C"].values.copy()
    C[[4, 11], j] = latent
    person = ds["person_idx"].values
    k = 4  # attitudes
    value = _logp_of(model, _potential(model, f"M_{spec.mediator_names[k]}"), point)
    resid = ds["M"].values[:, k] - C @ gamma[k]
    expected = sum(
        stats.multivariate_normal(np.zeros((person == i).sum()),
                                  sigma**2 * np.eye((person == i).sum()) + sd_u**2).logpdf(resid[person == i])
        for i in np.unique(person)
    )
    assert value == pytest.approx(expected, rel=1e-10)


def test_an_imputed_exposure_enters_its_model_the_mediators_and_the_outcome(frame, spec):
    """A missing exposure: the imputation model (first of the imputed variables) over
    observed and latent values, and the mediators' density with the latent value in place,
    against SciPy."""
    frame.loc[[4, 11], "support"] = np.nan
    panel = _model_panel(frame, spec)
    model = MediationModel(spec, panel).model
    point = model.initial_point()
    a = np.linspace(-0.6, 0.6, 15).reshape(5, 3)
    sigma, sd_u = 0.7, 0.5
    latent = np.array([1.2, -0.8])
    point.update(a=a, X_missing=latent, sigma_m_log__=np.full(5, np.log(sigma)), sd_u_log__=np.full(5, np.log(sd_u)),
                 impute_mean=np.array([[0.2, -0.1, 0.3]]), impute_sigma_log__=np.log([0.8]),
                 impute_sd_log__=np.log([0.6]))
    assert list(model.coords["imputed_variable"]) == ["support"]
    ds = panel.dataset
    x = ds["X"].values.copy()
    x[[4, 11]] = latent
    stage, person = ds["stage_idx"].values, ds["person_idx"].values

    def cs(resid, s, u):
        return sum(stats.multivariate_normal(np.zeros((person == i).sum()),
                                             s**2 * np.eye((person == i).sum()) + u**2).logpdf(resid[person == i])
                   for i in np.unique(person))

    k = 2  # discouragement
    value = _logp_of(model, _potential(model, f"M_{spec.mediator_names[k]}"), point)
    assert value == pytest.approx(cs(ds["M"].values[:, k] - a[k][stage] * x, sigma, sd_u), rel=1e-10)
    imputation = _logp_of(model, _potential(model, "imputation"), point)
    assert imputation == pytest.approx(cs(x - np.array([0.2, -0.1, 0.3])[stage], 0.8, 0.6), rel=1e-10)


def test_a_shifted_exposure_follows_each_draws_imputed_value():
    from carepaths.counterfactual.population import follow_exposure

    x_obs = np.array([0.5, np.nan, -1.0, np.nan])
    chunk = type("C", (), {"x": np.array([[0.5, 0.5], [2.0, 3.0], [-1.0, -1.0], [0.1, 0.2]])})()
    shifted = follow_exposure(x_obs + 1.0, x_obs, chunk)
    np.testing.assert_allclose(shifted, [[1.5, 1.5], [3.0, 4.0], [0.0, 0.0], [1.1, 1.2]])
    fixed = follow_exposure(np.full(4, 2.0), x_obs, chunk)  # a contrast that ignores the observed exposure
    np.testing.assert_array_equal(fixed, np.full((4, 1), 2.0))


# ----------------------------------------------------------------------------- a real fit
@pytest.fixture(scope="module")
def fitted(spec):
    sim = carepaths.simulate(spec, 150, 4, seed=5, mc_persons=2000,
                             missing={"mechanism": "mar", "rate": 0.25, "pattern": "items"})
    panel = Panel.from_frame(sim.data, spec, missing="model")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", carepaths.ConvergenceWarning)
        fit = MediationModel(spec, panel).fit(draws=300, tune=400, seed=3)
    return sim, fit


def test_a_fit_with_missing_values_runs_everything_downstream(fitted, spec, tmp_path):
    from carepaths.model.fit import load_fit

    sim, fit = fitted
    panel = fit.panel
    n_cells = len(panel.latent_cells()[0])
    assert fit.posterior["posterior"]["M_missing"].shape == (2, 300, n_cells) and n_cells > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", carepaths.ConvergenceWarning)
        for population in ("marginal", "conditional"):
            table = fit.effects(population=population).summary()
            assert np.isfinite(table["mean"].to_numpy()).all()
        checks = fit.check(draws=40, seed=1)
        sens = fit.sensitivity(mediator="encouragement")
    # predictive checks compare the observed values only: the observed statistic is the
    # data's mean over the present values
    y = sim.data["care_use"]
    table = checks.table()
    crisis = sim.data["stage"] == "crisis"
    assert table.loc[("care_use", "mean", "crisis", "all"), "observed"] == pytest.approx(y[crisis].mean())
    assert np.isfinite(table["mean"].to_numpy()).all()
    # LOO runs over the persons with an observed outcome
    n_persons_seen = sim.data.loc[y.notna(), "person"].nunique()
    assert checks.loo.pareto_k.size == n_persons_seen
    assert sens is not None
    path = fit.save(tmp_path / "fit.nc")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", carepaths.ConvergenceWarning)
        again = load_fit(path)
    assert again.panel.missing_mode == "model"
    # latent values are not population-level parameters: not in the convergence checks
    checked = set(fit.parameter_diagnostics().index.str.split("[").str[0])
    assert not checked & {"M_missing", "C_missing", "X_missing"} and "impute_mean" in checked
    np.testing.assert_array_equal(np.isnan(again.panel.dataset["M"].values), np.isnan(panel.dataset["M"].values))
    np.testing.assert_array_equal(again.posterior["posterior"]["M_missing"].values,
                                  fit.posterior["posterior"]["M_missing"].values)


def test_the_imputed_confounders_predict_the_values_the_simulator_knows(fitted, spec):
    """Posterior means of the imputed ages against the complete data's.

    Age is mostly a person trait in the simulator (80% of its variance between persons),
    so the person's other waves predict a missing one well: the imputations' mean squared
    error must be below 0.5 of the true values' variance (about 0.2 expected).
    """
    sim, fit = fitted
    panel = fit.panel
    rows, columns = panel.latent_confounders()
    assert set(np.asarray(spec.confounder_terms)[columns]) == {"age"} and len(rows) > 50
    imputed = fit.posterior["posterior"]["C_missing"].mean(("chain", "draw")).values
    labels = panel.dataset["row"].values[rows]
    truth = panel.scaling["age"].to_model(sim.complete_data.loc[labels, "age"].to_numpy(float))
    mse = np.mean((imputed - truth) ** 2)
    assert mse < 0.5 * np.var(truth), (mse, np.var(truth))


def test_the_imputed_mediators_predict_the_values_the_simulator_knows(fitted, spec):
    """Posterior means of the latent values against the complete data's true values.

    The mediator's confounders, stage, exposure and the person's other waves (its
    intercept) predict it: the imputations' mean squared error must be well below the
    variance of the true values (what imputing the mean would give). Tolerance: below
    0.8 of that variance; the person intercepts alone (sd_u^2 / (sd_u^2 + sigma^2), about
    0.3 to 0.5 of the variance in the default truth) make it near 0.6 at 150 persons.
    """
    sim, fit = fitted
    panel = fit.panel
    rows, mediators = panel.latent_cells()
    imputed = fit.posterior["posterior"]["M_missing"].mean(("chain", "draw")).values
    names = np.asarray(spec.mediator_names)[mediators]
    labels = panel.dataset["row"].values[rows]
    truth = np.array([sim.complete_data.loc[label, name] for label, name in zip(labels, names, strict=True)])
    scale = np.array([panel.scaling[n].scale for n in names])
    loc = np.array([panel.scaling[n].loc for n in names])
    truth_model = (truth - loc) / scale
    mse = np.mean((imputed - truth_model) ** 2)
    assert mse < 0.8 * np.var(truth_model), (mse, np.var(truth_model))


# ----------------------------------------------------------------------------- the simulator
@pytest.mark.parametrize("mechanism", ["mcar", "mar", "mnar"])
def test_item_missingness_keeps_every_row_and_hits_the_shares(spec, mechanism):
    sim = carepaths.simulate(spec, 200, 4, seed=11, mc_persons=100,
                             missing={"mechanism": mechanism, "rate": 0.3, "pattern": "items"})
    assert len(sim.data) == len(sim.complete_data) == 800 and sim.attrition is None
    assert abs(sim.data["care_use"].isna().mean() - 0.3) <= 2 / 800  # bisection on the drawn uniforms
    for name in (*spec.mediator_names, "age"):
        assert abs(sim.data[name].isna().mean() - 0.15) <= 2 / 800
    assert abs(sim.data["support"].isna().mean() - 0.075) <= 2 / 800
    assert sim.data[["severity", "prior_care"]].notna().all().all()
    same = sim.data.notna()
    pd.testing.assert_frame_equal(sim.data.where(same, -1.0), sim.complete_data.where(same, -1.0), check_dtype=False)  # only NaN added


def test_item_missingness_under_mar_depends_on_the_observed_mediators(spec):
    """MAR: a missing outcome is likelier where the observed mediators' sum is low; MCAR: unrelated.

    Tolerance: with 2,000 rows the MCAR correlation's SD is about 0.022; 0.08 is 3.6 SDs.
    """
    def correlation(mechanism):
        sim = carepaths.simulate(spec, 500, 4, seed=12, mc_persons=100,
                                 missing={"mechanism": mechanism, "rate": 0.3, "strength": 1.5, "pattern": "items"})
        z = sim.data[list(spec.mediator_names)]
        z = ((z - z.mean()) / z.std()).fillna(0.0).sum(axis=1)
        return np.corrcoef(z, sim.data["care_use"].isna())[0, 1]

    assert correlation("mar") < -0.2
    assert abs(correlation("mcar")) < 0.08


def test_item_missingness_refuses_on(spec):
    with pytest.raises(carepaths.SimulationError, match=r"missing\['on'\] applies to pattern 'waves' only"):
        carepaths.simulate(spec, 20, 3, seed=1, missing={"mechanism": "mar", "rate": 0.2, "pattern": "items",
                                                         "on": ["severity"]})
