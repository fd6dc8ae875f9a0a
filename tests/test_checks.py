"""Predictive checks by stage, LOO and LOO-PIT, their plots, and the shared-path structure key.

Fast tests use no fit: the spec key, the shared-path model, the conditional draw of the
integrated-out person intercepts against brute force, the prior check and bad input.
The slow tests fit the default five-mechanism model twice on one simulated panel (the
correct model and one without stage-specific paths) and share both fits.
"""

from __future__ import annotations

import copy
import time
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import carepaths
from carepaths import CarepathsError, MediationModel, Spec, SpecError
from carepaths.checks.predictive import FLAG_TAIL, PARETO_K_LIMIT, Checks
from carepaths.counterfactual.population import draw_person_intercepts, person_intercept_posterior
from carepaths.structural.parameters import ParameterSet


def _with_structure(spec: Spec, **structure) -> Spec:
    d = copy.deepcopy(spec.to_dict())
    d["structure"] = {**d["structure"], **structure}
    return Spec.from_dict(d)


# ----------------------------------------------------------------------------- structure key
def test_stage_specific_paths_defaults_true_and_round_trips(default_spec):
    assert default_spec.structure.stage_specific_paths is True
    # the default is not written, so the canonical dict (and saved fits' hashes) is unchanged
    assert "stage_specific_paths" not in default_spec.to_dict()["structure"]
    shared = _with_structure(default_spec, stage_specific_paths=False)
    assert shared.structure.stage_specific_paths is False
    assert shared.to_dict()["structure"]["stage_specific_paths"] is False
    assert Spec.from_dict(shared.to_dict()) == shared
    assert Spec.from_toml(shared.to_toml()) == shared
    assert "paths shared across stages" in shared.describe()
    explicit_true = _with_structure(default_spec, stage_specific_paths=True)
    assert explicit_true == default_spec


@pytest.mark.parametrize("value", ["no", 0, 1, None, "false"])
def test_stage_specific_paths_bad_value(spec_dict, value):
    spec_dict["structure"]["stage_specific_paths"] = value
    with pytest.raises(SpecError, match=r"structure\.stage_specific_paths.*true or false"):
        Spec.from_dict(spec_dict)


def test_stage_specific_paths_typo_suggests_key(spec_dict):
    spec_dict["structure"]["stage_specific_path"] = False
    with pytest.raises(SpecError, match="Did you mean 'stage_specific_paths'"):
        Spec.from_dict(spec_dict)


@pytest.fixture(scope="module")
def small_panel_frame(default_spec):
    return carepaths.simulate(default_spec, 60, 3, seed=5, mc_persons=50).data


def test_shared_path_model_has_one_path_per_mediator(default_spec, small_panel_frame):
    spec = _with_structure(default_spec, stage_specific_paths=False)
    model = MediationModel(spec, carepaths.Panel.from_frame(small_panel_frame, spec))
    m = model.model
    assert tuple(m.named_vars_to_dims["a"]) == ("mediator",)
    assert tuple(m.named_vars_to_dims["b"]) == ("mediator",)
    assert "c" not in m.named_vars_to_dims  # a scalar
    assert tuple(m.named_vars_to_dims["alpha_m"]) == ("mediator", "stage")  # intercepts by stage
    assert tuple(m.named_vars_to_dims["beta0"]) == ("stage",)
    assert not {"mu_a", "tau_a", "mu_b", "tau_b", "mu_c", "tau_c"} & {v.name for v in m.free_RVs}
    assert np.isfinite(m.compile_logp()(m.initial_point()))
    # the parameters read back are broadcast to (mediator, stage): downstream code is unchanged
    point = m.initial_point()  # one value per free variable (shapes as in a posterior)
    rv_of_value = {value.name: rv.name for rv, value in m.rvs_to_values.items()}
    post = xr.Dataset({
        rv_of_value[name]: (("chain", "draw", *m.named_vars_to_dims.get(rv_of_value[name], ())), np.ones_like(value)[None, None])
        for name, value in point.items()
    })
    post["a"] = (("chain", "draw", "mediator"), np.arange(5.0)[None, None])
    post["c"] = (("chain", "draw"), np.array([[0.7]]))
    params = ParameterSet.from_draws(spec, post)
    assert params.fixed["a"].shape == (1, 5, 3) and params.fixed["b"].shape == (1, 5, 3)
    np.testing.assert_array_equal(params.fixed["a"][0], np.repeat(np.arange(5.0)[:, None], 3, axis=1))
    np.testing.assert_array_equal(params.fixed["c"][0], [0.7, 0.7, 0.7])


# ----------------------------------------------------------------------------- conditional u
def _brute_force_u(r: np.ndarray, sigma: float, sd_u: float) -> tuple[float, float]:
    """E[u | r] and Var[u | r] by conditioning the dense joint Gaussian of (u, r)."""
    n = len(r)
    cov_r = sigma**2 * np.eye(n) + sd_u**2 * np.ones((n, n))
    cov_ur = sd_u**2 * np.ones(n)
    weights = np.linalg.solve(cov_r, cov_ur)
    return float(weights @ r), float(sd_u**2 - cov_ur @ weights)


def test_conditional_person_intercept_matches_brute_force():
    rng = np.random.default_rng(3)
    counts = np.array([1, 2, 3, 4, 7])
    residuals = [rng.normal(0.4, 1.0, n) for n in counts]
    sums = np.array([r.sum() for r in residuals])
    for sigma, sd_u in [(0.8, 0.4), (1.3, 2.0), (0.2, 0.05)]:
        mean, var = person_intercept_posterior(sums, counts, sigma, sd_u)
        brute = np.array([_brute_force_u(r, sigma, sd_u) for r in residuals])
        np.testing.assert_allclose(mean, brute[:, 0], rtol=1e-12)
        np.testing.assert_allclose(var, brute[:, 1], rtol=1e-12)
    # batched: (person, draw) sums with one sigma and sd_u per draw
    sigmas, sds = np.array([0.8, 1.3]), np.array([0.4, 2.0])
    mean, var = person_intercept_posterior(np.column_stack([sums, 2 * sums]), counts, sigmas, sds)
    for d in range(2):
        brute = np.array([_brute_force_u((1 + d) * r, sigmas[d], sds[d]) for r in residuals])
        np.testing.assert_allclose(mean[:, d], brute[:, 0], rtol=1e-12)
        np.testing.assert_allclose(var[:, d], brute[:, 1], rtol=1e-12)
    # the draws have that mean and variance (Monte Carlo, 200,000 draws: 5 SE)
    many = draw_person_intercepts(
        np.repeat(sums[:, None], 200_000, axis=1), counts, 0.8, 0.4, np.random.default_rng(4)
    )
    mean, var = person_intercept_posterior(sums, counts, 0.8, 0.4)
    se = np.sqrt(var / 200_000)
    assert np.all(np.abs(many.mean(axis=1) - mean) < 5 * se)
    np.testing.assert_allclose(many.var(axis=1), var, rtol=0.02)


# ----------------------------------------------------------------------------- prior check
@pytest.fixture(scope="module")
def prior_checks(default_spec, small_panel_frame):
    model = MediationModel(default_spec, carepaths.Panel.from_frame(small_panel_frame, default_spec))
    return model, model.prior_check(draws=100, seed=7)


def test_prior_check_runs_without_fitting_and_rates_are_probabilities(prior_checks):
    _, checks = prior_checks
    assert isinstance(checks, Checks) and checks.kind == "prior"
    assert checks.loo is None and checks.loo_pit is None
    rates = checks.table().xs(("care_use", "mean"), level=("variable", "statistic"))
    assert len(rates) == 4 + 3  # three stages and all; three waves
    for col in ("observed", "mean", "lower", "upper"):
        assert ((rates[col] > 0) & (rates[col] < 1)).all(), col
    d = checks.draws
    rate_draws = d.values[(d["variable"].values == "care_use") & (d["statistic"].values == "mean")]
    assert ((rate_draws >= 0) & (rate_draws <= 1)).all()
    assert checks.draws.sizes["sample"] == 100
    assert "prior_predictive" in checks.replicated.children
    with pytest.raises(CarepathsError, match="prior check has no LOO"):
        checks.loo_summary()


def test_observed_statistics_are_the_data_in_original_units(prior_checks, small_panel_frame):
    _, checks = prior_checks
    frame = small_panel_frame
    obs = checks.observed
    for stage, rows in frame.groupby("stage"):
        assert obs[("care_use", "mean", stage, "all")] == pytest.approx(rows["care_use"].mean())
        assert obs[("encouragement", "mean", stage, "all")] == pytest.approx(rows["encouragement"].mean())
        assert obs[("encouragement", "sd", stage, "all")] == pytest.approx(rows["encouragement"].std())
        z = (rows["support"] - frame["support"].mean()) / frame["support"].std()
        slope = np.polyfit(z, rows["care_use"], 1)[0]
        assert obs[("care_use", "exposure_slope", stage, "all")] == pytest.approx(slope)
    for wave, rows in frame.groupby("wave"):
        assert obs[("care_use", "mean", "all", str(wave))] == pytest.approx(rows["care_use"].mean())
    person_means = frame.groupby("person")["care_use"].mean()
    assert obs[("care_use", "between_person", "all", "all")] == pytest.approx(person_means.std())


def test_table_p_values_and_flags_follow_the_stated_rule(prior_checks):
    _, checks = prior_checks
    table = checks.table()
    assert list(table.columns) == ["observed", "mean", "lower", "upper", "p_value", "flag"]
    assert table.index.names == ["variable", "statistic", "stage", "wave"]
    p = table["p_value"]
    assert ((p >= 0) & (p <= 1)).all()
    assert (table["flag"] == ((p < FLAG_TAIL) | (p > 1 - FLAG_TAIL))).all()
    assert FLAG_TAIL == pytest.approx(0.025)
    # the p-value is P(T_rep >= T_obs) over the stored replicated statistics
    for i in range(0, len(table), 7):
        reps = checks.draws.values[i]
        assert table["p_value"].iloc[i] == pytest.approx(np.mean(reps >= checks.observed.iloc[i]))
    assert checks.flagged.equals(table[table["flag"]])
    assert "p_value < 0.025" in table.attrs["flag"]


def test_prior_check_is_reproducible(default_spec, small_panel_frame, prior_checks):
    model, checks = prior_checks
    again = model.prior_check(draws=100, seed=7)
    pd.testing.assert_frame_equal(again.table(), checks.table())


def test_bad_input_is_refused(prior_checks):
    model, checks = prior_checks
    with pytest.raises(CarepathsError, match="draws must be a positive integer"):
        model.prior_check(draws=0, seed=1)
    with pytest.raises(CarepathsError, match="seed must be an integer"):
        model.prior_check(draws=10, seed="one")
    from carepaths import figures as plots

    data = {"table": checks.table(), "draws": checks.draws}
    with pytest.raises(CarepathsError, match="no variable 'care_us'.*Did you mean 'care_use'"):
        plots.stage_checks_data(**data, variable="care_us")
    with pytest.raises(CarepathsError, match="no statistic 'dispersion'"):
        plots.stage_checks_data(**data, statistics=["dispersion"])
    with pytest.raises(CarepathsError, match="no stage 'remission'"):
        plots.stage_checks_data(**data, stages=["remission"])
    with pytest.raises(CarepathsError, match="draws must be the replicated statistics"):
        plots.plot_stage_checks(table=checks.table(), draws=checks)  # data, never the result object
    with pytest.raises(CarepathsError, match="table must be a predictive-check table"):
        plots.plot_stage_checks(table=checks.observed, draws=checks.draws)
    with pytest.raises(CarepathsError, match="prior check has no LOO-PIT"):
        plots.loo_pit_data(loo_data=checks.loo_data)
    with pytest.raises(CarepathsError, match="prior check has no LOO-PIT"):
        checks.plot_loo_pit()
    with pytest.raises(TypeError):
        plots.plot_stage_checks(checks.table(), checks.draws)  # keyword-only


def test_prior_stage_plot_and_twin(prior_checks):
    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from carepaths import figures as plots

    matplotlib.use("Agg")
    _, checks = prior_checks
    data = plots.stage_checks_data(table=checks.table(), draws=checks.draws, variable="encouragement")
    table = checks.table().xs("encouragement", level="variable")
    for row in data.itertuples():
        t = table.loc[(row.statistic, row.stage, "all")]
        assert (row.observed, row.lower, row.upper, row.p_value) == pytest.approx(
            (t["observed"], t["lower"], t["upper"], t["p_value"])
        )
        assert row.counts.sum() == checks.draws.sizes["sample"]
    fig = plots.plot_stage_checks(table=checks.table(), draws=checks.draws, variable="encouragement")
    assert isinstance(fig, Figure) and len(fig.axes) == len(data)
    assert [ax.get_title() for ax in fig.axes] == [f"{r.stage}: p = {r.p_value:.3f}" for r in data.itertuples()]
    plt.close(fig)


# ----------------------------------------------------------------------------- fitted models (slow)
N_PERSONS, N_WAVES, DRAWS = 400, 4, 400


@pytest.fixture(scope="module")
def fits(default_spec):
    """The correct model and the shared-path model fitted to one panel with stage-specific paths.

    Both are the shipped spec with unpooled stages (``pool_stages = false``: the check is
    about stage-specific paths, and the pooling hierarchy over three stages is the slowest
    part to mix in a fit this small). 2 chains x 400 draws (tune 400) keeps the test
    small; at that size the outcome's person-intercept SD ``sd_v`` has a bulk ESS under
    the package's strict 400 (the paths are near or above it), so the ConvergenceWarning
    is silenced here and R-hat is checked instead.
    """
    sim = carepaths.simulate(default_spec, N_PERSONS, N_WAVES, seed=20261201, mc_persons=200)
    right_spec = _with_structure(default_spec, pool_stages=False)
    shared_spec = _with_structure(default_spec, pool_stages=False, stage_specific_paths=False)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", carepaths.ConvergenceWarning)
        for name, spec in (("right", right_spec), ("wrong", shared_spec)):
            t0 = time.perf_counter()
            fit = MediationModel(spec, carepaths.Panel.from_frame(sim.data, spec)).fit(
                draws=DRAWS, tune=DRAWS, chains=2, seed=3
            )
            assert fit.diagnostics().loc["max R-hat", "value"] < 1.05
            checks = fit.check(seed=4)
            out[name] = (fit, checks, time.perf_counter() - t0)
    return out


@pytest.mark.slow
def test_misspecified_model_is_flagged_by_the_per_stage_slope_and_the_correct_one_is_not(fits):
    """The per-stage slope of care use on support catches paths shared across stages.

    The simulated support paradox makes support raise care use in crisis and lower it in
    recovery and maintenance (total effect about OR 1.5 vs 0.6). A model whose a, b and c
    are shared across stages keeps stage-specific intercepts, so it still reproduces every
    stage's care-use rate and mediator means (those checks have no power), but it can
    only replicate one exposure-outcome association for all stages, about the pooled
    one. The least-squares slope of care use on support within each stage is therefore
    the statistic with power: observed +0.13 in crisis against replicates around the
    pooled slope, and a steeper negative slope in recovery than the model can make. The
    pooled slope (stage "all") is fitted by both models and flags neither.
    """
    right, wrong = fits["right"][1], fits["wrong"][1]
    slope_right = right.table().xs(("care_use", "exposure_slope"), level=("variable", "statistic"))
    slope_wrong = wrong.table().xs(("care_use", "exposure_slope"), level=("variable", "statistic"))
    print("\ncorrect model:\n", slope_right, "\nshared-path model:\n", slope_wrong)
    assert slope_wrong.loc[("crisis", "all"), "flag"] and slope_wrong.loc[("crisis", "all"), "p_value"] < FLAG_TAIL
    assert slope_wrong.loc[("recovery", "all"), "flag"] and slope_wrong.loc[("recovery", "all"), "p_value"] > 1 - FLAG_TAIL
    assert not slope_wrong.loc[("all", "all"), "flag"]
    assert not slope_right["flag"].any()
    # the correct model flags none of the outcome's per-stage checks
    flagged_outcome = right.flagged.xs("care_use", level="variable", drop_level=False) if len(right.flagged) else []
    assert len(flagged_outcome) == 0


@pytest.mark.slow
def test_loo_log_likelihood_equals_the_model_and_pareto_k_are_reported(fits):
    import pytensor
    from pytensor.graph.replace import graph_replace

    fit, checks, _ = fits["right"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", carepaths.CarepathsWarning)  # convergence, Pareto k
        thin = fit.check(seed=4, draws=20)
    model = MediationModel(fit.spec, fit.panel, priors=fit.priors).model
    kept = np.unique(np.linspace(0, DRAWS - 1, 20).round().astype(int))  # as draws=20 thins
    post = fit.posterior["posterior"].to_dataset().isel(draw=kept)

    # the outcome's person intercepts are integrated out (the default): what leaving a
    # person out removes is the person's integrated log-likelihood, whose sum over persons
    # is the model's own log-likelihood term ``Y_integrated`` at each draw
    assert "z_v" not in post
    free = model.free_RVs
    inputs = [rv.type() for rv in free]
    term = graph_replace(model["Y_integrated"], dict(zip(free, inputs, strict=True)), strict=False)
    f = pytensor.function(inputs, term, on_unused_input="ignore")
    ours = thin.loo_data["log_likelihood_person"].to_dataset()["care_use"]
    assert ours.sizes["person"] == N_PERSONS
    for c in range(post.sizes["chain"]):
        for d in range(post.sizes["draw"]):
            expected = f(*[post[rv.name].values[c, d] for rv in free])
            assert float(ours.isel(chain=c, draw=d).sum()) == pytest.approx(float(expected), rel=1e-9)
    summary = checks.loo_summary()
    k = np.asarray(checks.loo.pareto_k).reshape(-1)
    assert summary[f"n_k_over_{PARETO_K_LIMIT}"] == (k > 0.7).sum()
    assert summary["n_obs"] == N_PERSONS * N_WAVES and summary["n_samples"] == 2 * DRAWS
    assert np.isfinite(summary["elpd_loo"]) and summary["elpd_loo"] < 0
    # the warning is issued exactly when some k exceed 0.7 (ParetoKWarning)
    assert (summary[f"n_k_over_{PARETO_K_LIMIT}"] > 0) == ("Pareto k > 0.7" in checks.warning)


@pytest.mark.slow
def test_a_shared_path_fit_reads_back_broadcast_over_stages(fits):
    fit = fits["wrong"][0]
    params = fit.parameters()
    for name in ("a", "b"):
        values = params.fixed[name]
        assert values.shape == (2 * DRAWS, 5, 3)
        np.testing.assert_array_equal(values[..., 0], values[..., 2])
    assert params.fixed["c"].shape == (2 * DRAWS, 3)


@pytest.mark.slow
def test_plots_return_figures_and_twins_match_the_table(fits):
    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from carepaths import figures as plots

    matplotlib.use("Agg")
    checks = fits["wrong"][1]
    table = checks.table()

    # per-stage panels
    data = plots.stage_checks_data(table=table, draws=checks.draws, statistics=["mean", "exposure_slope"])
    assert list(dict.fromkeys(data["stage"])) == ["crisis", "recovery", "maintenance", "all"]
    for row in data.itertuples():
        t = table.loc[("care_use", row.statistic, row.stage, "all")]
        assert (row.observed, row.mean, row.lower, row.upper, row.p_value, row.flag) == pytest.approx(
            (t["observed"], t["mean"], t["lower"], t["upper"], t["p_value"], t["flag"])
        )
    fig = plots.plot_stage_checks(table=table, draws=checks.draws, statistics=["mean", "exposure_slope"])
    assert isinstance(fig, Figure) and len(fig.axes) == 8
    plt.close(fig)

    # distributions (ArviZ plot_ppc_dist): the binary outcome is left out by default
    dist = plots.ppc_dist_data(replicated=checks.replicated)
    assert set(dist["variable"]) == set(checks.draws["variable"].values) - {"care_use"}
    for row in dist.itertuples():
        t = table.loc[(row.variable, "mean", row.stage, "all")]
        assert row.observed_mean == pytest.approx(t["observed"], rel=1e-10)
        assert row.predictive_mean == pytest.approx(t["mean"], rel=1e-10)
    fig = plots.plot_ppc_dist(replicated=checks.replicated, variables=["encouragement", "discouragement"],
                              num_samples=10)
    assert isinstance(fig, Figure)
    plt.close(fig)

    # LOO-PIT (ArviZ plot_ecdf_pit of the check's values): leave-one-person-out weights,
    # randomised within the 0/1 step of the binary outcome, reproducible from the seed
    from carepaths.checks.loo import loo_pit_values

    pit = plots.loo_pit_data(loo_data=checks.loo_data)
    assert len(pit) == N_PERSONS * N_WAVES and pit["loo_pit"].between(0, 1).all()
    assert pit.attrs["loo"] == "person" == checks.loo_summary().attrs["loo"]
    k_person = np.asarray(checks.loo.pareto_k).reshape(-1)
    index = fits["wrong"][0].panel.dataset["person_idx"].values
    np.testing.assert_array_equal(pit["pareto_k"], k_person[index])  # each row carries its person's k
    assert (k_person > PARETO_K_LIMIT).sum() == checks.loo_summary()[f"n_k_over_{PARETO_K_LIMIT}"]
    plain = loo_pit_values(
        checks.loo_data, "care_use", checks.loo.log_weights.isel(person=xr.DataArray(index, dims="obs")),
        checks.loo.pareto_k.isel(person=xr.DataArray(index, dims="obs")), discrete=True, random_state=0,
        randomise=False,
    ).values
    care = checks.loo_data["observed_data"].to_dataset()["care_use"].values
    np.testing.assert_allclose(plain[care == 1], 1.0)  # the step the randomisation fills
    below = pit["loo_pit"].to_numpy() <= plain + 1e-12
    assert below.all()
    fig = plots.plot_loo_pit(loo_data=checks.loo_data)
    assert isinstance(fig, Figure)
    plt.close(fig)
    # the Checks delegates return the same kind of object
    fig = checks.plot_stages(stages=["crisis"])
    assert isinstance(fig, Figure)
    plt.close(fig)


def test_a_check_too_large_for_memory_is_refused_up_front(monkeypatch, prior_checks):
    """The replicates' memory is computed before any work; over the limit, the error says
    which draws= fits (here with the limit lowered so that a small panel exceeds it)."""
    from carepaths.checks import predictive

    model, _ = prior_checks
    need = predictive.replicate_bytes(model.panel.n_obs, len(model.spec.mediators), 2 * 100)
    monkeypatch.setattr(predictive, "MAX_REPLICATE_BYTES", need // 4)
    with pytest.raises(carepaths.CarepathsError, match=r"draws=N\) with N <= 2[45] draws per chain") as err:
        predictive.check_memory(model.panel.n_obs, len(model.spec.mediators), 2, 100)
    assert f"{model.panel.n_obs:,} rows" in str(err.value)
    predictive.check_memory(model.panel.n_obs, len(model.spec.mediators), 2, 25)  # fits: no error
