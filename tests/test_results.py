"""The interface every result shares, its ArviZ summaries, and the fit's coefficient table.

Fits come from mocked sampling (prior draws, one chain, so never converged): what is
checked here holds for any draws. Intervals are compared with
:func:`carepaths.intervals.interval_bounds` exactly (tolerance 0): ArviZ's equal-tailed
interval is NumPy's linear-interpolation quantile of the same draws.
"""

from __future__ import annotations

import dataclasses
import warnings

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from helpers import mock_fit
from matplotlib.figure import Figure
from test_effects import _linear_spec
from test_plots import synthetic_effects

import carepaths
from carepaths import CarepathsError, Spec
from carepaths.counterfactual.interventions import worked_examples
from carepaths.intervals import INTERVAL_PROB, interval_bounds, interval_context, interval_label
from carepaths.results import Result

matplotlib.use("Agg")


def _spec_with_categories_and_an_ordinal_mediator() -> Spec:
    """The shipped spec (numeric and categorical confounders) with an ordinal mediator and an edge."""
    d = carepaths.load_spec().to_dict()
    d["mediators"][1] = {"name": "alt_coping", "family": "ordinal", "categories": [1, 2, 3, 4]}
    d["mediator_edges"] = [["encouragement", "attitudes"]]
    return Spec.from_dict(d)


@pytest.fixture(scope="module")
def fit():
    return mock_fit(_spec_with_categories_and_an_ordinal_mediator(), n_persons=30, draws=40)


@pytest.fixture(scope="module")
def results(fit):
    """One of each result class, from the same (unconverged) fit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", carepaths.CarepathsWarning)
        return {
            "effects": fit.effects(),
            "comparison": fit.compare(worked_examples(carepaths.load_spec())),
            "checks": fit.check(seed=2),
            "fourway": fit.fourway(mediator="discouragement"),
            "sensitivity": fit.sensitivity(mediator="discouragement", rho=[-0.3, 0.0, 0.3]),
        }


#: Per result: the leading identifier columns and the columns of ``to_frame()``.
FRAME_COLUMNS = {
    "effects": ["stage", "effect", "estimate", "sd", "lower", "upper", "P(>0)", "version", "warning"],
    "comparison": ["intervention", "stage", "expected", "estimate", "lower", "upper", "per_1000",
                   "per_1000_lower", "per_1000_upper", "P(better)", "P(best)", "warning"],
    "checks": ["variable", "statistic", "stage", "wave", "observed", "predictive_mean", "lower", "upper",
               "p_value", "flag"],
    "fourway": ["stage", "component", "estimate", "sd", "lower", "upper", "P(>0)", "proportion", "proportion_lower",
                "proportion_upper", "TE interval includes 0", "warning"],
    "sensitivity": ["stage", "effect", "rho", "estimate", "sd", "lower", "upper", "P(>0)", "warning"],
}


# ----------------------------------------------------------------------------- the shared interface
@pytest.mark.parametrize("name", list(FRAME_COLUMNS))
def test_every_result_has_summary_to_frame_plot_and_repr(results, name):
    result = results[name]
    assert isinstance(result, Result)
    summary = result.summary()
    assert isinstance(summary, pd.DataFrame) and summary.attrs["interval"] == interval_label()
    frame = result.to_frame()
    assert list(frame.columns) == FRAME_COLUMNS[name]
    assert isinstance(frame.index, pd.RangeIndex) and len(frame) == len(summary)  # one row per estimate
    # the same numbers, the index levels as columns
    np.testing.assert_array_equal(frame[list(summary.index.names)].to_numpy(dtype=object),
                                  np.array(summary.index.tolist(), dtype=object))
    np.testing.assert_array_equal(frame["lower"].to_numpy(), summary["lower"].to_numpy())
    assert frame.attrs["interval"] == interval_label()
    fig = result.plot()
    assert isinstance(fig, Figure)
    plt.close(fig)
    text = repr(result)
    assert text.startswith(f"<{type(result).__name__} ") and "NOT CONVERGED" in text
    assert result.n_samples == 40


@pytest.mark.parametrize("name", list(FRAME_COLUMNS))
def test_repr_of_a_converged_result_has_no_banner(results, name):
    result = dataclasses.replace(results[name], converged=True, warning="")
    assert "NOT CONVERGED" not in repr(result)
    if name != "checks":  # the checks table has no warning column; the others drop theirs
        assert "warning" not in result.to_frame().columns


def test_a_converged_synthetic_effects_says_so():
    effects = synthetic_effects()
    assert repr(effects) == (
        "<Effects difference of support + 1 SD, marginal population, 2 x 400 draws, "
        "stages ['crisis', 'recovery', 'maintenance', 'pooled']>"
    )
    frame = effects.to_frame()
    assert frame.loc[0, ["stage", "effect"]].tolist() == ["crisis", "TE"]


# ----------------------------------------------------------------------------- intervals
def test_effect_and_comparison_intervals_are_the_package_interval(results):
    effects, comparison = results["effects"], results["comparison"]
    table = effects.summary()
    for stage, effect in [("crisis", "TE"), ("recovery", "IIE[alt_coping]"), ("pooled", "interdependence")]:
        draws = effects.draws[effect[:3] if effect.startswith("IIE") else effect].sel(stage=stage)
        if effect.startswith("IIE"):
            draws = draws.sel(mechanism="alt_coping")
        lower, upper = interval_bounds(draws.values, axis=(0, 1))
        assert table.loc[(stage, effect), ["lower", "upper"]].tolist() == [lower, upper]  # exact
        assert table.loc[(stage, effect), "mean"] == pytest.approx(float(draws.mean()), rel=1e-14)
        assert table.loc[(stage, effect), "sd"] == pytest.approx(float(draws.std(ddof=1)), rel=1e-12)
    ctable = comparison.summary()
    diff = comparison.draws["difference"].sel(intervention="care coordination", stage="recovery").values
    lower, upper = interval_bounds(diff, axis=(0, 1))
    assert ctable.loc[("care coordination", "recovery"), ["lower", "upper"]].tolist() == [lower, upper]


def test_check_intervals_are_the_package_interval(results):
    checks = results["checks"]
    table = checks.table()
    for i in range(0, len(table), 5):
        reps = checks.draws.values[i]
        reps = reps[np.isfinite(reps)]
        lower, upper = interval_bounds(reps)
        assert table[["lower", "upper"]].iloc[i].tolist() == [lower, upper]
        assert table["mean"].iloc[i] == pytest.approx(reps.mean(), rel=1e-14)


def test_summaries_pass_the_interval_to_arviz_and_leave_its_settings_alone(results):
    from arviz_base import rc_context, rcParams

    before = (rcParams["stats.ci_kind"], rcParams["stats.ci_prob"])
    effects = results["effects"]
    expected = effects.summary()
    with rc_context(rc={"stats.ci_kind": "hdi", "stats.ci_prob": 0.5}):  # a user's own settings
        pd.testing.assert_frame_equal(effects.summary(), expected)
    assert (rcParams["stats.ci_kind"], rcParams["stats.ci_prob"]) == before
    with interval_context():  # the package interval as ArviZ's default, for the block only
        assert (rcParams["stats.ci_kind"], rcParams["stats.ci_prob"]) == ("eti", INTERVAL_PROB)
    assert (rcParams["stats.ci_kind"], rcParams["stats.ci_prob"]) == before


# ----------------------------------------------------------------------------- fit.summary()
def test_fit_summary_names_every_parameter_by_the_spec(fit):
    table = fit.summary()
    assert table.index.names == ["parameter", "scale"]
    assert list(table.columns) == ["description", "mean", "sd", "lower", "upper", "r_hat", "ess_bulk", "ess_tail"]
    params = list(dict.fromkeys(table.index.get_level_values("parameter")))
    for name in ("a[encouragement, crisis]", "b[attitudes, maintenance]", "c[recovery]", "beta0[crisis]",
                 "gamma_m[confidence, prior_care[yes]]", "delta[prior_care[yes]]", "delta[severity]",
                 "d_edge[encouragement->attitudes]", "sigma_m[encouragement]", "cutpoints_alt_coping[1|2]",
                 "cutpoints_alt_coping[3|4]", "sd_u[alt_coping]", "sd_v", "alpha_m[alt_coping, recovery]"):
        assert name in params, name
    # the ordinal mediator's first-stage intercept is fixed at 0: not a parameter
    assert "alpha_m[alt_coping, crisis]" not in params and "alpha_m[encouragement, crisis]" in params
    assert not any(p.startswith(("mu_", "tau_", "z_")) for p in params)
    # 5 mediators x 3 stages for alpha_m (less 1), a, b; 3 c, 3 beta0; 5 x 3 gamma_m; 3 delta;
    # 1 edge; 4 sigma_m; 3 cutpoints; 5 sd_u; sd_v
    assert len(params) == 14 + 15 + 15 + 3 + 3 + 15 + 3 + 1 + 4 + 3 + 5 + 1
    assert table.loc[("a[encouragement, crisis]", "original"), "description"] == "support -> encouragement (crisis)"
    assert table.loc[("delta[prior_care[yes]]", "original"), "description"] == "prior_care[yes] -> care_use"
    assert table.loc[("cutpoints_alt_coping[1|2]", "standardised"), "description"] == (
        "cutpoint of alt_coping between 1 and 2"
    )
    assert list(fit.summary(scale="original").index.get_level_values("scale").unique()) == ["original"]
    with pytest.raises(CarepathsError, match="scale must be"):
        fit.summary(scale="raw")


def _row(table: pd.DataFrame, parameter: str, scale: str) -> np.ndarray:
    return table.loc[(parameter, scale), ["mean", "sd", "lower", "upper"]].to_numpy(dtype=float)


def _stats(values: np.ndarray) -> np.ndarray:
    lower, upper = interval_bounds(values, axis=(0, 1))
    return np.array([values.mean(), values.std(ddof=1), lower, upper])


def test_fit_summary_original_scale_is_the_hand_computation(fit):
    """original = model / (sd(parent) / sd(child)); SDs times their variable's SD; a normal
    mediator's intercept is its mean plus SD x the model intercept. rtol 1e-12 (floating point)."""
    table = fit.summary()
    post = fit.posterior["posterior"]
    sd = {name: s.scale for name, s in fit.panel.scaling.items()}
    loc = {name: s.loc for name, s in fit.panel.scaling.items()}
    a = post["a"].sel(mediator="encouragement", stage="crisis").values
    cases = {
        # standardised exposure -> normal mediator
        "a[encouragement, crisis]": a * sd["encouragement"] / sd["support"],
        # ordinal mediator: link scale on both sides of its paths
        "a[alt_coping, recovery]": post["a"].sel(mediator="alt_coping", stage="recovery").values / sd["support"],
        # normal mediator -> binary outcome (log-odds per unit)
        "b[confidence, crisis]": post["b"].sel(mediator="confidence", stage="crisis").values / sd["confidence"],
        # numeric confounder -> normal mediator; categorical (centred indicator, SD unit 1)
        "gamma_m[discouragement, age]":
            post["gamma_m"].sel(mediator="discouragement", confounder="age").values * sd["discouragement"] / sd["age"],
        "gamma_m[discouragement, prior_care[yes]]":
            post["gamma_m"].sel(mediator="discouragement", confounder="prior_care[yes]").values * sd["discouragement"],
        "delta[severity]": post["delta"].sel(confounder="severity").values / sd["severity"],
        "d_edge[encouragement->attitudes]":
            post["d_edge"].isel(edge=0).values * sd["attitudes"] / sd["encouragement"],
        "sigma_m[attitudes]": post["sigma_m"].sel(mediator_normal="attitudes").values * sd["attitudes"],
        "alpha_m[confidence, maintenance]": loc["confidence"]
            + sd["confidence"] * post["alpha_m"].sel(mediator="confidence", stage="maintenance").values,
        "cutpoints_alt_coping[2|3]": post["cutpoints_alt_coping"].isel({"cut_alt_coping": 1}).values,
        "beta0[recovery]": post["beta0"].sel(stage="recovery").values,
    }
    for parameter, values in cases.items():
        np.testing.assert_allclose(_row(table, parameter, "original"), _stats(values), rtol=1e-12, err_msg=parameter)
    np.testing.assert_allclose(_row(table, "a[encouragement, crisis]", "standardised"), _stats(a), rtol=1e-12)
    # the one rule, both ways: the simulator's conversion to the model scale uses it too
    assert fit.panel.path_scale("support", "encouragement") == sd["support"] / sd["encouragement"]
    assert fit.panel.path_scale("alt_coping", "care_use") == 1.0


def test_fit_summary_of_a_normal_outcome_and_its_diagnostics():
    fit = mock_fit(_linear_spec("intercepts"), draws=40)
    table = fit.summary()
    post = fit.posterior["posterior"]
    sd_y, loc_y = fit.panel.scaling["score"].scale, fit.panel.scaling["score"].loc
    sd_x = fit.panel.scaling["support"].scale
    c = post["c"].sel(stage="crisis").values
    np.testing.assert_allclose(_row(table, "c[crisis]", "original"), _stats(c * sd_y / sd_x), rtol=1e-12)
    np.testing.assert_allclose(_row(table, "sigma_y", "original"), _stats(post["sigma_y"].values * sd_y), rtol=1e-12)
    np.testing.assert_allclose(_row(table, "sd_v", "original"), _stats(post["sd_v"].values * sd_y), rtol=1e-12)
    beta0 = loc_y + sd_y * post["beta0"].sel(stage="maintenance").values
    np.testing.assert_allclose(_row(table, "beta0[maintenance]", "original"), _stats(beta0), rtol=1e-12)
    # R-hat and ESS are those of the per-parameter diagnostics (arviz_stats), on both scales
    diag = fit.parameter_diagnostics()
    for scale in ("standardised", "original"):
        got = table.loc[("c[crisis]", scale), ["r_hat", "ess_bulk", "ess_tail"]].to_numpy(dtype=float)
        np.testing.assert_array_equal(got, diag.loc["c[crisis]"].to_numpy(dtype=float))
    import arviz_stats as azs

    assert diag.loc["c[crisis]", "ess_bulk"] == pytest.approx(
        float(azs.ess(post["c"].to_dataset(), method="bulk")["c"].sel(stage="crisis")), rel=1e-12
    )
