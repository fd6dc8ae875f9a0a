"""Care trajectories over waves: the longitudinal scenario and its forward engine (issue 18).

The engine (:mod:`carepaths.counterfactual.trajectories`) is checked against an
independent code path, the per-wave g-computation of the static truth
(:mod:`carepaths.counterfactual.worlds`), where the two estimands coincide (no feedback
from care to later waves); against the panel it generates; and for its common random
numbers. Then the feedback the scenario exists for, and the refusals.
"""

from __future__ import annotations

import numpy as np
import pytest

import carepaths
from carepaths import CarepathsError, Panel
from carepaths.counterfactual.interventions import Intervention

TIME = {"lags": ["care_use", "stage", "severity"], "time_varying": ["severity"],
        "stage_transition": {"given": ["care_use"]}}


def _spec(time=None):
    data = carepaths.load_spec().to_dict()
    data["time"] = TIME if time is None else time
    return carepaths.Spec.from_dict(data)


@pytest.fixture(scope="module")
def sim():
    return carepaths.simulate(_spec(), 2000, 5, seed=11, mc_persons=2000)


def test_the_natural_course_reproduces_the_panels_care_use_by_wave(sim):
    """The truth's natural course (20,000 new persons) against the simulated panel (2,000).

    Same equations, different persons: per wave within 4 binomial SEs of the panel's
    share (SE about 0.011 at 2,000 persons).
    """
    truth = sim.trajectory_truth(Intervention("none", "support", shift=0.0))
    natural = truth["care_use"].sel(world="natural course").values
    observed = sim.data.groupby("wave")["care_use"].mean().to_numpy()
    se = np.sqrt(observed * (1 - observed) / 2000)
    assert np.all(np.abs(natural - observed) < 4 * se), (natural, observed)
    # the moves between stages respond to care, and the panel validates with the spec
    panel = Panel.from_frame(sim.data, sim.spec)
    assert panel.transitions().to_numpy().sum() == 2000 * 4


def test_a_world_that_changes_nothing_is_the_natural_course_exactly(sim):
    truth = sim.trajectory_truth([Intervention("zero shift", "support", shift=0.0),
                                  Intervention("later", "discouragement", shift=-0.5, from_wave=9)])
    for name in ("care_use_diff", "cumulative_diff", "continuation_diff"):
        values = truth[name].sel(world=["zero shift", "later"]).values
        assert np.all(values[~np.isnan(values)] == 0.0)


def test_without_feedback_the_sustained_effect_is_the_static_total_effect():
    """Two code paths, one estimand: with no lag effect anywhere and stages that ignore
    care, +1 SD of support at every wave changes each wave's care use by the per-wave
    total effect, so the trajectory's effect averaged over waves equals the static truth's
    pooled TE (``worlds.world_means`` on new persons at the natural course's rows).

    Tolerance: 4 combined Monte Carlo SEs (about 0.002 each at 20,000 persons).
    """
    spec = _spec({"lags": ["care_use"]})
    defaults = carepaths.simulation.default_params(spec)
    terms = list(spec.confounder_terms)
    lag = [terms.index(t) for t in spec.lag_terms]
    delta, gamma_m, gamma_x = (defaults[n].values.copy() for n in ("delta", "gamma_m", "gamma_x"))
    delta[lag], gamma_m[:, lag], gamma_x[lag] = 0.0, 0.0, 0.0
    sim = carepaths.simulate(spec, 200, 4, {"delta": delta, "gamma_m": gamma_m, "gamma_x": gamma_x}, seed=4,
                             mc_persons=20_000)
    truth = sim.trajectory_truth(Intervention("+1 SD", "support", shift=1.0))
    diff = truth["care_use_diff"].sel(world="+1 SD").values
    se = truth["care_use_diff_se"].sel(world="+1 SD").values
    static = sim.effects["TE"].sel(stage="pooled").item()
    static_se = sim.effects["TE_mc_se"].sel(stage="pooled").item()
    assert abs(diff.mean() - static) < 4 * np.hypot(np.sqrt((se**2).mean() / len(se)) * 2, static_se), (diff, static)
    # each wave: the per-stage static TEs weighted by that wave's stage mix (the stages
    # ignore care here, and the confounders' law is the same at every wave)
    shares = truth["stage_share"].sel(world="natural course").values  # (wave, stage)
    per_stage = sim.effects["TE"].sel(stage=list(spec.stage_levels)).values
    per_stage_se = sim.effects["TE_mc_se"].sel(stage=list(spec.stage_levels)).values
    expected = shares @ per_stage
    tolerance = 4 * np.sqrt(se**2 + (shares**2) @ per_stage_se**2)
    assert np.all(np.abs(diff - expected) < tolerance), (diff, expected, tolerance)


def test_care_that_persists_carries_a_sustained_effect_to_later_waves(sim):
    """With care use persisting (delta[lag(care_use)] = 2) and moving persons out of crisis,
    support from wave 2 changes care use at wave 5 beyond what wave 5's own exposure does:
    switching it on only at wave 5 gives another wave-5 effect than sustaining it from
    wave 2 (100,000 persons; the difference more than 4 Monte Carlo SEs, combined
    conservatively as if the two worlds were independent, from 0)."""
    truth = sim.trajectory_truth([Intervention("from wave 2", "support", shift=1.0, from_wave=2),
                                  Intervention("wave 5 only", "support", shift=1.0, from_wave=5)], mc_persons=100_000)
    at5 = truth.sel(wave=5)
    sustained, late = (at5["care_use_diff"].sel(world=w).item() for w in ("from wave 2", "wave 5 only"))
    se = np.hypot(*(at5["care_use_diff_se"].sel(world=w).item() for w in ("from wave 2", "wave 5 only")))
    assert abs(sustained - late) > 4 * se, (sustained, late, se)
    assert truth["care_use_diff"].sel(world="wave 5 only", wave=[1, 2, 3, 4]).values.tolist() == [0.0] * 4


def test_a_dynamic_intervention_acts_only_in_its_stage(sim):
    truth = sim.trajectory_truth(Intervention("recovery only", "discouragement", shift=-0.5, stages=["recovery"]))
    by_stage = truth["care_use_by_stage"]
    # at the first wave (stages not yet affected by any intervention) care use changes in
    # recovery only
    first = by_stage.sel(wave=1)
    delta = (first.sel(world="recovery only") - first.sel(world="natural course")).to_pandas()
    assert delta["crisis"] == 0.0 and delta["maintenance"] == 0.0 and delta["recovery"] != 0.0


def test_an_absorbing_stage_is_never_left_in_the_simulated_panel():
    spec = _spec({**TIME, "stage_transition": {"given": ["care_use"], "absorbing": ["maintenance"]}})
    sim = carepaths.simulate(spec, 300, 5, seed=2, mc_persons=500)
    panel = Panel.from_frame(sim.data, spec)  # refuses a person leaving an absorbing stage
    assert panel.transitions().loc["maintenance", ["crisis", "recovery"]].sum() == 0
    assert panel.transitions().loc[["crisis", "recovery"], "maintenance"].sum() > 0


@pytest.mark.parametrize(("intervention", "match"), [
    (Intervention("older", "age", shift=1.0), r"'age' has no time index"),
    (Intervention("less severe", "severity", shift=-1.0), r"time-varying confounder 'severity' is not supported yet"),
    (Intervention("typo", "suport", shift=1.0), r"unknown target 'suport'.*Did you mean 'support'"),
])
def test_bad_trajectory_interventions_are_refused(sim, intervention, match):
    with pytest.raises(CarepathsError, match=match):
        sim.trajectory_truth(intervention)


def test_from_wave_is_refused_by_the_per_wave_comparison_and_checked():
    from carepaths.counterfactual.interventions import validate

    with pytest.raises(CarepathsError, match=r"from_wave=2 sustains it over waves.*Leave from_wave out here"):
        validate(carepaths.load_spec(), [Intervention("later", "support", shift=1.0, from_wave=2)])
    with pytest.raises(CarepathsError, match=r"from_wave must be a wave number \(1 is the first\), got 0"):
        Intervention("bad", "support", shift=1.0, from_wave=0)
    assert Intervention("x", "support", shift=1.0, from_wave=2).describe() == "support + 1 SD from wave 2 in every stage"


def test_trajectory_truth_needs_a_time_spec():
    plain = carepaths.simulate(carepaths.load_spec(), 20, 3, seed=1, mc_persons=50)
    with pytest.raises(carepaths.SimulationError, match=r"needs a spec with a \[time\] table"):
        plain.trajectory_truth(Intervention("x", "support", shift=1.0))


def test_the_longitudinal_scenario_refuses_what_it_does_not_simulate():
    data = _spec().to_dict()
    data["structure"]["person_effects"] = "slopes"
    with pytest.raises(carepaths.SimulationError, match=r'does not simulate person_effects = "slopes" yet'):
        carepaths.simulate(carepaths.Spec.from_dict(data), 20, 3, seed=1, mc_persons=50)


def test_the_decomposition_by_mechanism_adds_up_and_a_path_free_mechanism_carries_nothing():
    """The true decomposition over waves (mediational g-formula): by definition
    overall = IDE + IIE and interdependence = IIE - sum of IIE[m], per wave; before
    ``from_wave`` nothing acts, so every effect is 0 at wave 1 but the swaps' Monte Carlo
    noise; a mechanism whose outcome path b is 0 in every stage (and no mediator edges)
    changes no care use, so its IIE is 0 exactly at every wave (the worlds share their
    random numbers); the others carry the indirect effect (beyond 4 MC SEs at wave 4)."""
    from carepaths.simulation import default_params

    spec = _spec()
    b = default_params(spec)["b"].values.copy()
    k = list(spec.mediator_names).index("discouragement")
    b[k] = 0.0
    sim = carepaths.simulate(spec, 200, 4, {"b": b}, seed=3, mc_persons=10_000)
    truth = sim.trajectory_truth(Intervention("support from wave 2", "support", shift=1.0, from_wave=2),
                                 decompose=True)
    eff = truth["mechanism_effect"].sel(world="support from wave 2")
    se = truth["mechanism_effect_se"].sel(world="support from wave 2")
    get = lambda name: eff.sel(effect=name).values  # noqa: E731
    np.testing.assert_allclose(get("overall"), get("IDE") + get("IIE"), atol=1e-12)
    single = sum(get(f"IIE[{m}]") for m in spec.mediator_names)
    np.testing.assert_allclose(get("interdependence"), get("IIE") - single, atol=1e-12)
    assert np.all(get("IIE[discouragement]") == 0.0)
    assert get("overall")[0] == 0.0 and get("IDE")[0] == 0.0 and get("IIE")[0] == 0.0
    assert abs(get("IIE")[3]) > 4 * se.sel(effect="IIE").values[3]
    assert np.all(np.isnan(truth["mechanism_effect"].sel(world="natural course").values))
    with pytest.raises(CarepathsError, match="acts on the mediator"):
        sim.trajectory_truth(Intervention("x", "discouragement", shift=-0.5), decompose=True)


# ----------------------------------------------------------------------------- the g-formula on a fit
@pytest.fixture(scope="module")
def fitted():
    """The longitudinal scenario, 400 persons x 4 waves, fitted (per-wave model and models
    over waves), and the g-formula run on 150 posterior draws for two interventions."""
    import warnings

    from carepaths.model.build import MediationModel
    from carepaths.model.time_model import fit_time_model

    spec = _spec()
    sim = carepaths.simulate(spec, 400, 4, seed=21, mc_persons=2000)
    panel = Panel.from_frame(sim.data, spec)
    interventions = [Intervention("support from wave 2", "support", shift=1.0, from_wave=2),
                     Intervention("psychoeducation in recovery", "discouragement", shift=-0.5, stages=["recovery"])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", carepaths.ConvergenceWarning)
        fit = MediationModel(spec, panel).fit(draws=400, tune=400, seed=2)
        time_fit = fit_time_model(spec, panel, seed=2)
        result = fit.trajectories(interventions, time_fit=time_fit, draws=150, seed=1)
    return sim, fit, time_fit, result, sim.trajectory_truth(interventions, mc_persons=50_000)


def test_the_g_formula_covers_the_true_sustained_and_dynamic_effects(fitted):
    """Each wave's effect on care use within 3 posterior SDs of the truth (the truth's own
    Monte Carlo SE, about 0.002 at 50,000 persons, is far below the posterior SD of about
    0.015 at 400 persons)."""
    sim, fit, time_fit, result, truth = fitted
    table = result.summary().loc["care_use_diff"]
    for world in ("support from wave 2", "psychoeducation in recovery"):
        est = table.loc[world]
        true = truth["care_use_diff"].sel(world=world).values
        assert np.all(np.abs(est["mean"].to_numpy() - true) <= 3 * est["sd"].to_numpy() + 1e-12), (world, est, true)
    # support from wave 2 lowers care use at waves 2-4 in this scenario (truth about -0.09)
    assert (table.loc["support from wave 2"].loc[[2, 3, 4], "upper"] < 0).all()


def test_the_natural_course_reproduces_the_observed_care_use_by_wave_and_stage(fitted):
    """The g-formula's natural course as a predictive check: the observed share in care per
    wave within 3 posterior SDs, and per wave and stage (cells of 40 or more persons)
    within 3 posterior SDs plus the cell's binomial SD (the observed share is one draw)."""
    sim, fit, time_fit, result, truth = fitted
    natural = result.draws.sel(world="natural course")
    observed = sim.data.groupby("wave")["care_use"].mean().to_numpy()
    mean, sd = natural["care_use"].mean("sample").values, natural["care_use"].std("sample").values
    assert np.all(np.abs(mean - observed) <= 3 * sd), (mean, observed, sd)
    cells = sim.data.groupby(["wave", "stage"])["care_use"].agg(["mean", "size"])
    by_stage = natural["care_use_by_stage"]
    for (wave, stage), row in cells.iterrows():
        if row["size"] < 40:
            continue
        draws = by_stage.sel(wave=wave, stage=stage).values
        binomial = np.sqrt(row["mean"] * (1 - row["mean"]) / row["size"])
        assert abs(np.nanmean(draws) - row["mean"]) <= 3 * np.hypot(np.nanstd(draws), binomial), (wave, stage)


def test_the_models_over_waves_recover_their_true_parameters(fitted):
    """The transition's response to care and the confounder's autocorrelation and response
    to care, against the truth, within 3 posterior SDs (contrasts with the first stage:
    the model's reference)."""
    sim, fit, time_fit, result, truth = fitted
    post = time_fit.posterior
    true_given = sim.params["transition_given"].values[0]
    est = post["transition_given"].values[..., 0, :]
    contrast = true_given - true_given[0]
    assert np.all(np.abs(est.mean(axis=(0, 1)) - contrast) <= 3 * est.std(axis=(0, 1)) + 1e-12)
    rho = post["tv_rho"].values[..., 0]
    # the panel standardises severity by its sample SD, which the AR(1) coefficient ignores
    assert abs(rho.mean() - 0.7) <= 3 * rho.std()
    assert time_fit.converged and repr(result).startswith("<Trajectories 2 intervention(s) over 4 waves, 150 draws")


def test_the_g_formula_decomposes_a_sustained_effect_by_mechanism_as_the_truth_does(fitted):
    """Interventional effects over waves on posterior draws against the truth (50,000
    persons): every effect at waves 2-4 within 3 posterior SDs plus 3 of the truth's
    Monte Carlo SEs (each posterior draw carries its own Monte Carlo error of the
    permutations at 400 persons, inside the posterior SD)."""
    sim, fit, time_fit, result, truth = fitted
    support = Intervention("support from wave 2", "support", shift=1.0, from_wave=2)
    decomposed = fit.trajectories(support, time_fit=time_fit, draws=100, seed=1, decompose=True)
    true = sim.trajectory_truth(support, mc_persons=50_000, decompose=True)
    table = decomposed.mechanisms().loc["support from wave 2"]
    for (wave, effect), row in table.iterrows():
        if wave == 1:
            continue
        target = true["mechanism_effect"].sel(world="support from wave 2", wave=wave, effect=effect).item()
        mc = true["mechanism_effect_se"].sel(world="support from wave 2", wave=wave, effect=effect).item()
        assert abs(row["mean"] - target) <= 3 * row["sd"] + 3 * mc, (wave, effect, row, target)
    summary = decomposed.summary()
    assert ("mechanism_effect[IIE[discouragement]]", "support from wave 2", 4) in summary.index
    with pytest.raises(CarepathsError, match="acts on the mediator"):
        fit.trajectories(Intervention("x", "discouragement", shift=-0.5), time_fit=time_fit, draws=4, decompose=True)
    with pytest.raises(CarepathsError, match="no decomposition by mechanism here"):
        result.mechanisms()


def test_trajectories_follow_more_waves_than_the_panel_and_refuse_a_late_start(fitted):
    sim, fit, time_fit, result, truth = fitted
    longer = fit.trajectories(Intervention("later", "support", shift=1.0, from_wave=6), waves=6, time_fit=time_fit,
                              draws=6, seed=1)
    diff = longer.draws["care_use_diff"].sel(world="later")
    assert longer.draws.sizes["wave"] == 6 and np.all(diff.sel(wave=[1, 2, 3, 4, 5]).values == 0.0)
    assert np.any(diff.sel(wave=6).values != 0.0)
    with pytest.raises(CarepathsError, match="after the last wave followed"):
        fit.trajectories(Intervention("later", "support", shift=1.0, from_wave=5), time_fit=time_fit, draws=4)
    with pytest.raises(CarepathsError, match="waves must be a positive integer"):
        fit.trajectories(Intervention("x", "support", shift=1.0), waves=0, time_fit=time_fit, draws=4)


def test_trajectories_need_a_time_spec():
    """The check comes first, before anything is fitted (called on a stand-in for a plain fit)."""
    from types import SimpleNamespace

    from carepaths.model.fit import Fit

    with pytest.raises(CarepathsError, match=r"trajectories need a spec with a \[time\] table"):
        Fit.trajectories(SimpleNamespace(spec=carepaths.load_spec()), [Intervention("x", "support", shift=1.0)])


def test_the_cli_follows_interventions_over_waves(fitted, tmp_path):
    import subprocess
    import sys

    sim, fit, time_fit, result, truth = fitted
    path = fit.save(tmp_path / "fit.nc")
    out = tmp_path / "trajectories.csv"
    run = subprocess.run([sys.executable, "-m", "carepaths", "trajectories", str(path), "--intervention",
                          "more support:support:shift=1:from_wave=2", "--draws", "20", "--out", str(out)],
                         capture_output=True, text=True)
    assert run.returncode in (0, 3), run.stderr  # 3: the short fit of the fixture may be flagged
    assert "support + 1 SD" in run.stdout or "more support" in run.stdout
    table = __import__("pandas").read_csv(out)
    assert {"variable", "world", "wave", "mean", "lower", "upper"} <= set(table.columns)
    assert set(table["world"]) == {"natural course", "more support"}
    bad = subprocess.run([sys.executable, "-m", "carepaths", "trajectories", str(path), "--intervention",
                          "older:age:shift=1"], capture_output=True, text=True)
    assert bad.returncode == 2 and "'age' has no time index" in bad.stderr and "Traceback" not in bad.stderr


def test_the_g_formula_gives_the_same_numbers_whatever_the_number_of_workers(fitted):
    from carepaths.counterfactual.trajectories import posterior_trajectories

    sim, fit, time_fit, result, truth = fitted
    entries = [("more support", (Intervention("more support", "support", shift=1.0, from_wave=2),))]
    runs = [posterior_trajectories(fit.spec, fit.panel, fit.parameters(), time_fit.sample, entries,
                                   samples=np.arange(0, 40, 4), seed=5, converged=True, workers=workers)
            for workers in (1, 2)]
    for name in ("care_use", "care_use_diff", "cumulative_diff"):
        np.testing.assert_array_equal(runs[0].draws[name].values, runs[1].draws[name].values)


# ----------------------------------------------------------------------------- identification over waves
def test_the_graph_over_waves_carries_time_varying_confounding_affected_by_earlier_care():
    """Severity at wave 2 responds to care at wave 1 (itself caused by support at wave 1)
    and confounds support and care at wave 2: the structure a static analysis mishandles."""
    import networkx as nx

    from carepaths.causal.waves import wave_graph

    g = wave_graph(_spec(), 3)
    assert nx.is_directed_acyclic_graph(g)
    assert g.has_edge("care_use[1]", "severity[2]") and g.has_edge("severity[2]", "support[2]")
    assert g.has_edge("severity[2]", "care_use[2]") and g.has_edge("care_use[1]", "stage[2]")
    assert nx.has_path(g, "support[1]", "severity[2]") and nx.has_path(g, "support[1]", "care_use[3]")
    assert g.nodes["age"]["wave"] is None and g.nodes["support[3]"]["wave"] == 3  # age: person-level
    assert not nx.has_path(g, "care_use[2]", "support[1]")  # no edge back in time


def test_an_unmeasured_common_cause_of_time_indexed_variables_is_refused(fitted):
    from carepaths.causal.waves import check_sequential_exchangeability
    from carepaths.exceptions import IdentificationError

    data = _spec().to_dict()
    data["unmeasured_confounding"] = [["support", "care_use"]]
    spec = carepaths.Spec.from_dict(data)
    with pytest.raises(IdentificationError, match=r"sequential exchangeability.*unmeasured_confounding support - care_use"):
        check_sequential_exchangeability(spec)
    check_sequential_exchangeability(_spec())  # the scenario's own spec: nothing declared


def test_the_report_has_a_trajectories_section_for_a_time_spec(fitted, tmp_path):
    import warnings

    from carepaths.figures import trajectories_data
    from carepaths.report.html import TRAJECTORIES_SECTION, build_report, report_sections

    sim, fit, time_fit, result, truth = fitted
    assert TRAJECTORIES_SECTION in report_sections(fit.spec)
    assert TRAJECTORIES_SECTION not in report_sections(carepaths.load_spec())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", carepaths.ConvergenceWarning)
        report = build_report(fit=fit, out=tmp_path / "report", effects=fit.effects(), trajectories=result)
    text = report.path.read_text(encoding="utf-8")
    assert f"<h2>{TRAJECTORIES_SECTION}</h2>" in text and "sequential exchangeability" in text
    assert report.files["trajectories"].is_file()
    # the figure's data twin: the posterior mean and the package interval of care use
    data = trajectories_data(draws=result.draws, converged=result.converged)
    row = data.loc[("support from wave 2", 3)]
    draws = result.draws["care_use"].sel(world="support from wave 2", wave=3).values
    assert row["estimate"] == pytest.approx(draws.mean()) and row["lower"] < row["estimate"] < row["upper"]
    assert data.attrs["interval"] == "95% equal-tailed interval"


def test_trajectories_refuse_a_categorical_lag_and_run_with_only_the_stage_lagged():
    """A categorical confounder's lag is refused before anything is fitted; a spec whose only
    lag is the stage has no lag terms, and the forward simulation still runs."""
    from types import SimpleNamespace

    from carepaths.model.fit import Fit

    spec = _spec({"lags": ["care_use", "prior_care"]})
    with pytest.raises(CarepathsError, match=r"categorical confounder yet \(prior_care in time.lags"):
        Fit.trajectories(SimpleNamespace(spec=spec), [Intervention("x", "support", shift=1.0)])
    stage_only = _spec({"lags": ["stage"], "stage_transition": {"given": []}})
    assert stage_only.lag_terms == ()
    sim = carepaths.simulate(stage_only, 50, 3, seed=1, mc_persons=200)
    truth = sim.trajectory_truth(Intervention("x", "support", shift=1.0), mc_persons=500)
    assert np.isfinite(truth["care_use_diff"].values).all()

