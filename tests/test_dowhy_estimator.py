"""The DoWhy plug-in: carepaths' model as a DoWhy estimator of the total effect, refuted.

The fast tests check what crosses the boundary without sampling: the CausalModel built on
carepaths' graph, the options, and the spec and frame the estimator fits for the data each
refuter passes. The slow test runs DoWhy's estimate and two refuters with real (short) fits.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

import carepaths
from carepaths import CarepathsError, DataError

pytest.importorskip("dowhy")

from carepaths.integrations.dowhy import (
    DEFAULT_CHAINS,
    DEFAULT_DRAWS,
    DEFAULT_SEED,
    DEFAULT_TUNE,
    METHOD_NAME,
    BayesianMediationEstimator,
)
from carepaths.causal.identify import dowhy_model

SEED = 7
FEW = {"draws": 200, "tune": 200, "chains": 2, "seed": SEED}


@pytest.fixture(scope="module")
def spec() -> carepaths.Spec:
    return carepaths.load_spec("single_mediator")


@pytest.fixture(scope="module")
def sim(spec):
    # a direct effect of 0.8 (true TE 0.92 in depress2 units) so that a placebo that
    # left the real exposure in place would show: the estimate is ~8 posterior SDs from 0
    return carepaths.simulate(spec, 300, 1, params={"c": [0.8]}, seed=5, mc_persons=2000)


@pytest.fixture(scope="module")
def causal_model(spec, sim):
    return dowhy_model(spec, sim.data)


@pytest.fixture()
def estimand(causal_model):
    e = causal_model.identify_effect()
    e.set_identifier_method("backdoor")
    return e


# --------------------------------------------------------------------- the CausalModel
def test_dowhy_model_uses_carepaths_graph_with_latents_unobserved(default_spec, small_sim):
    d = default_spec.to_dict()
    d["unmeasured_confounding"] = [["discouragement", "care_use"]]
    spec = carepaths.Spec.from_dict(d)
    model = dowhy_model(spec, small_sim.data)
    g = model._graph._graph
    assert set(g.edges) == set(carepaths.CausalGraph.from_spec(spec).dag.edges)
    assert g.nodes["U[discouragement,care_use]"]["observed"] == "no"
    assert g.nodes["support"]["observed"] == "yes"
    assert set(model.identify_effect().get_backdoor_variables()) == {
        "severity",
        "age",
        "prior_care",
        "stage",
    }


def test_dowhy_model_names_missing_columns(spec, sim):
    with pytest.raises(DataError, match=r"lacks column\(s\) \['job_seek'\]"):
        dowhy_model(spec, sim.data.drop(columns="job_seek"))
    with pytest.raises(TypeError, match="needs a carepaths.Spec"):
        dowhy_model("single_mediator", sim.data)


# ----------------------------------------------------------------------------- options
def test_options_from_init_params_with_documented_defaults(spec, estimand):
    est = BayesianMediationEstimator(estimand, init_params={"spec": spec, "draws": 300})
    assert (est.draws, est.tune, est.chains, est.seed) == (
        300,
        DEFAULT_TUNE,
        DEFAULT_CHAINS,
        DEFAULT_SEED,
    )
    assert (DEFAULT_DRAWS, DEFAULT_TUNE, DEFAULT_CHAINS, DEFAULT_SEED) == (1000, 1000, 2, 0)
    assert est.confidence_level == carepaths.intervals.INTERVAL_PROB
    # DoWhy's own marker for third-party estimators is accepted
    BayesianMediationEstimator(estimand, spec=spec, carepaths_estimator=METHOD_NAME)


@pytest.mark.parametrize(
    ("make", "needles"),
    [
        (lambda spec: {}, ["needs the carepaths spec", "init_params"]),
        (lambda spec: {"init_params": {"spec": "single_mediator"}}, ["got str", "init_params"]),
        (
            lambda spec: {"init_params": {"spec": spec, "drawz": 5}},
            ["unknown option 'drawz'", "draws"],
        ),
        (lambda spec: {"spec": spec, "init_params": {"spec": spec}}, ["'spec' is given twice"]),
        (lambda spec: {"spec": spec, "draws": 0}, ["draws must be an integer >= 1, got 0"]),
        (
            lambda spec: {"spec": spec, "fit_params": {"chain": 2}},
            ["unknown fit setting(s) ['chain']", "chains"],
        ),
        (lambda spec: {"spec": spec, "population": "observed"}, ["population must be one of"]),
        (
            lambda spec: {"spec": spec, "sample_weights": [1]},
            ["unknown option(s) ['sample_weights']"],
        ),
    ],
)
def test_bad_options_say_what_is_wrong(spec, estimand, make, needles):
    with pytest.raises(CarepathsError) as err:
        BayesianMediationEstimator(estimand, **make(spec))
    for needle in needles:
        assert needle in str(err.value)


def test_estimate_effect_without_spec_fails_before_any_fit(causal_model, estimand):
    with pytest.raises(CarepathsError, match="needs the carepaths spec"):
        causal_model.estimate_effect(
            estimand, method_name=METHOD_NAME, method_params={"init_params": {}}
        )


def test_outcome_must_be_the_specs(spec, estimand):
    other = copy.deepcopy(estimand)
    other.outcome_variable = ["job_seek"]
    with pytest.raises(
        CarepathsError, match="outcome is 'job_seek' but the spec's outcome is 'depress2'"
    ):
        BayesianMediationEstimator(other, spec=spec)


def test_reading_before_fitting_names_the_step(spec, estimand, sim):
    est = BayesianMediationEstimator(estimand, spec=spec)
    with pytest.raises(CarepathsError, match=r"call fit\(data\) first"):
        est.estimate_effect(sim.data)
    with pytest.raises(CarepathsError, match="call estimate_effect first"):
        est._estimate_confidence_intervals()


# ----------------------------------------------------- what each refuter hands the fit
def test_placebo_replaces_the_exposure_column(spec, estimand, sim):
    data = sim.data.assign(
        placebo=np.random.default_rng(1).permutation(sim.data["treat"].to_numpy())
    )
    placebo = copy.deepcopy(estimand)
    placebo.treatment_variable = ["placebo"]  # what DoWhy's placebo refuter does
    fitted_spec, frame, extras = BayesianMediationEstimator(placebo, spec=spec).model_inputs(data)
    assert fitted_spec == spec and extras == ()
    np.testing.assert_array_equal(frame["treat"], data["placebo"])
    np.testing.assert_array_equal(frame["job_seek"], data["job_seek"])
    assert not np.array_equal(frame["treat"], sim.data["treat"])
    assert sim.data["treat"].equals(data["treat"])  # DoWhy's frame is not modified


def test_constant_placebo_points_to_permute(spec, estimand, sim):
    placebo = copy.deepcopy(estimand)
    placebo.treatment_variable = ["placebo"]
    est = BayesianMediationEstimator(placebo, spec=spec)
    with pytest.raises(CarepathsError, match="placebo_type='permute'"):
        est.model_inputs(sim.data.assign(placebo=0.0))  # DoWhy 0.14's default for a float


def test_random_common_cause_joins_the_model_as_a_confounder(spec, estimand, sim):
    data = sim.data.assign(w_random=np.random.default_rng(2).standard_normal(len(sim.data)))
    rcc = copy.deepcopy(estimand)
    rcc.set_adjustment_set(estimand.get_adjustment_set() + ["w_random"])  # as the refuter does
    fitted_spec, frame, extras = BayesianMediationEstimator(rcc, spec=spec).model_inputs(data)
    assert extras == ("w_random",)
    assert fitted_spec.confounder_names == (*spec.confounder_names, "w_random")
    assert fitted_spec.confounders[-1].kind == "numeric"
    panel = carepaths.Panel.from_frame(frame, fitted_spec)
    assert "w_random" in panel.dataset["confounder"].values
    # a text column becomes a categorical confounder with its sorted levels
    rcc.set_adjustment_set(estimand.get_adjustment_set() + ["site"])
    site = np.where(np.arange(len(data)) % 3 == 0, "b", "a")
    fitted_spec, _, _ = BayesianMediationEstimator(rcc, spec=spec).model_inputs(
        data.assign(site=site)
    )
    assert fitted_spec.confounders[-1].levels == ("a", "b")


def test_adjusting_for_a_mediator_is_refused(spec, estimand, sim):
    bad = copy.deepcopy(estimand)
    bad.set_adjustment_set(estimand.get_adjustment_set() + ["job_seek"])
    with pytest.raises(CarepathsError, match="exposure, a mediator or the outcome"):
        BayesianMediationEstimator(bad, spec=spec).model_inputs(sim.data)


def test_data_subset_of_a_panel_builds_the_model(default_spec, small_sim):
    model = dowhy_model(default_spec, small_sim.data)
    estimand = model.identify_effect()
    estimand.set_identifier_method("backdoor")
    subset = small_sim.data.sample(frac=0.5, random_state=1)  # as the data subset refuter does
    fitted_spec, frame, extras = BayesianMediationEstimator(
        estimand, spec=default_spec
    ).model_inputs(subset)
    assert fitted_spec == default_spec and extras == ()  # the stage column is the spec's own
    panel = carepaths.Panel.from_frame(frame, default_spec)
    assert panel.n_obs == len(subset)
    assert (panel.frame.groupby("person").size() < 4).any()  # persons lost waves
    carepaths.MediationModel(default_spec, panel)  # builds without sampling


# ------------------------------------------------------------------- estimate, refute
@pytest.mark.slow
# few draws on purpose; DoWhy's significance test divides by the SD of one simulation
@pytest.mark.filterwarnings("ignore::carepaths.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_estimate_matches_carepaths_and_placebo_refutation_is_null(spec, sim, causal_model):
    """One DoWhy estimate and two refutations: four fits of 2 x (200 + 200) draws in all."""
    estimand = causal_model.identify_effect()
    estimate = causal_model.estimate_effect(
        estimand,
        method_name=METHOD_NAME,
        confidence_intervals=True,
        method_params={"init_params": {"spec": spec, **FEW}},
    )
    # the estimate is carepaths' own pooled TE, exactly, for the same data, spec and seed
    fit = carepaths.MediationModel(spec, carepaths.Panel.from_frame(sim.data, spec)).fit(**FEW)
    te = fit.effects().draws["TE"].sel(stage="pooled").values.reshape(-1)
    assert estimate.value == float(te.mean())
    assert estimate.posterior_sd == pytest.approx(te.std(ddof=1), rel=1e-12)
    lower, upper = carepaths.intervals.interval_bounds(te)
    assert estimate.get_confidence_intervals() == (pytest.approx(lower), pytest.approx(upper))
    assert lower < float(sim.effects["TE"].sel(stage="pooled")) < upper  # covers the truth
    sd = estimate.posterior_sd
    assert abs(estimate.value) > 5 * sd  # a real effect, far from 0

    # placebo: the permuted exposure has no effect; within 3 posterior SDs of 0
    placebo = causal_model.refute_estimate(
        estimand,
        estimate,
        "placebo_treatment_refuter",
        placebo_type="permute",
        num_simulations=1,
        random_state=3,
    )
    assert abs(placebo.new_effect) < 3 * sd
    assert abs(placebo.new_effect - estimate.value) > 5 * sd

    # random common cause: adjusting for pure noise moves the estimate by < 1 SD
    rcc = causal_model.refute_estimate(
        estimand,
        estimate,
        "random_common_cause",
        num_simulations=1,
        random_state=4,
    )
    assert abs(rcc.new_effect - estimate.value) < sd
    # the refits did not touch the estimator of the original estimate
    assert estimate.estimator.extra_confounders == ()
    assert estimate.estimator.fit_result.panel.n_obs == len(sim.data)


def test_estimator_cache_is_deep_copied_per_refutation(spec, estimand):
    est = BayesianMediationEstimator(estimand, spec=spec, fit_params={"draws": 50})
    copy_ = est.get_new_estimator_object(estimand)
    assert copy_ is not est and copy_._fit_params == {"draws": 50} and copy_.spec == spec


def test_frame_index_duplicates_are_renumbered(spec, estimand, sim):
    boot = pd.concat([sim.data, sim.data.iloc[:5]])  # as a bootstrap resample
    _, frame, _ = BayesianMediationEstimator(estimand, spec=spec).model_inputs(boot)
    assert not frame.index.has_duplicates and len(frame) == len(boot)
