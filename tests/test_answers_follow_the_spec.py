"""The answers speak the user's study: words, sections and rows follow the spec.

A single-wave, stage-less experiment (the shipped ``single_mediator`` spec, JOBS II-like)
must read as one: no stage called "pooled", no "person-waves", no "x up to 1 waves", no
paradox section, no interdependence row that is 0 by construction; the five-mechanism
panel keeps all of them. Also here: the defaults and units of the answers
(``fit.check()`` without a seed, ``Effects.probability`` without a stage, shifts in the
variable's own units), leave-one-person-out LOO, and the randomised LOO-PIT of a binary
outcome. Fits are mocked (prior draws, no MCMC) where an identity suffices.
"""

from __future__ import annotations

import re
import warnings

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr
from helpers import mock_fit
from scipy import stats
from test_effects import _linear_spec
from test_plots import synthetic_effects

import carepaths
from carepaths import Intervention, Spec
from carepaths.checks.loo import loo_pit_values, per_person
from carepaths.checks.predictive import compute_checks
from carepaths.counterfactual.effects import interdependence_is_zero
from carepaths.figures import comparison_data, effects_forest_data
from carepaths.report.html import SECTIONS, _table, build_report, report_sections
from carepaths.report.paradox import paradox_sentences, paradox_table
from carepaths.results import format_probability, probability_text
from carepaths.structural.parameters import ParameterSet, parameter_dims

matplotlib.use("Agg")


def _quiet(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", carepaths.CarepathsWarning)
        return call(*args, **kwargs)


def _binary_outcome(spec: Spec) -> Spec:
    d = spec.to_dict()
    d["outcome"] = {**d["outcome"], "family": "bernoulli"}
    return Spec.from_dict(d)


@pytest.fixture(scope="module")
def single():
    """The JOBS II-like spec with a binary outcome (so there are per-1,000 columns): one
    wave, no stages, no person column, one mediator."""
    spec = _binary_outcome(carepaths.load_spec("single_mediator"))
    fit = mock_fit(spec, n_persons=120, draws=60)
    ivs = [Intervention("booster", "job_seek", shift=0.5), Intervention("one point", "job_seek", shift=1.0,
                                                                       units="original")]
    return fit, _quiet(fit.effects), _quiet(fit.compare, ivs), _quiet(fit.check)


@pytest.fixture(scope="module")
def five():
    fit = mock_fit(carepaths.load_spec("five_mechanisms"), n_persons=30, draws=60)
    ivs = carepaths.counterfactual.interventions.worked_examples(fit.spec)
    return fit, _quiet(fit.effects), _quiet(fit.compare, ivs[:2])


def _text(obj) -> str:
    return obj.to_string() + " " + " ".join(map(str, obj.attrs.values()))


# ----------------------------------------------------------------------------- item 2: words, sections, rows
def test_a_stageless_study_has_no_stage_in_its_tables(single):
    _, eff, cmp, _ = single
    for table in (eff.summary(), eff.to_frame(), cmp.summary(), cmp.to_frame()):
        assert "stage" not in table.index.names and "stage" not in table.columns
        assert "pooled" not in _text(table)
    # a binary outcome: both versions of the natural effects, and no interdependence row
    assert list(eff.summary().index) == ["TE", "NDE", "NIE", "NDE (treated)", "NIE (control)", "IIE[job_seek]"]
    assert list(cmp.summary().index) == ["status quo", "booster", "one point"]
    assert "pooled" not in repr(eff) and "stages" not in repr(eff)
    assert "every stage" not in " ".join(cmp.descriptions.values())


def test_a_stageless_study_has_no_stage_in_its_figures(single):
    _, eff, cmp, _ = single
    assert list(effects_forest_data(draws=eff.draws).index.names) == ["effect"]
    assert list(comparison_data(draws=cmp.draws).index.names) == ["intervention"]
    for fig in (eff.plot(), cmp.plot()):
        words = " ".join(t.get_text() for t in fig.findobj(matplotlib.text.Text))
        assert "pooled" not in words and "by stage" not in words, words
        plt.close(fig)


def test_one_wave_counts_per_1000_persons_and_a_panel_per_1000_person_waves(single, five):
    _, _, cmp, _ = single
    assert cmp.summary().attrs["per_1000"] == "per 1,000 persons"
    assert comparison_data(draws=cmp.draws).attrs["unit"] == "per 1,000 persons"
    assert five[2].summary().attrs["per_1000"] == "per 1,000 person-waves"
    assert comparison_data(draws=five[2].draws).attrs["unit"] == "per 1,000 person-waves"


def test_interdependence_is_left_out_exactly_where_it_is_zero_by_construction():
    base = _linear_spec("none").to_dict()  # normal outcome, two normal mediators, no edges
    one = {**base, "mediators": base["mediators"][:1]}
    edges = {**base, "mediator_edges": [["encouragement", "discouragement"]]}
    binary = {**base, "outcome": {"name": "score", "family": "bernoulli"}}
    expected = {"one": True, "normal": True, "edges": False, "binary": False}
    for name, d in (("one", one), ("normal", base), ("edges", edges), ("binary", binary)):
        spec = Spec.from_dict(d)
        assert interdependence_is_zero(spec) is expected[name], name
        fit = mock_fit(spec, n_persons=20, draws=8)
        eff = _quiet(fit.effects)
        assert ("interdependence" in eff.draws) is not expected[name], name
        rows = eff.summary().index.get_level_values("effect")
        assert ("interdependence" in rows) is not expected[name], name
        if expected[name]:  # what was left out really is 0 (to rounding), draw by draw
            remainder = eff.draws["NIE"] - eff.draws["IIE"].sum("mechanism")
            np.testing.assert_allclose(remainder, 0.0, atol=1e-9 * float(np.abs(eff.draws["NIE"]).max() + 1))


def test_the_stageless_report_speaks_the_study(single, tmp_path):
    fit, eff, cmp, checks = single
    report = _quiet(build_report, fit=fit, out=tmp_path / "report", effects=eff, checks=checks, comparison=cmp)
    page = report.path.read_text(encoding="utf-8")
    titles = re.findall(r"<h2>(.*?)</h2>", page)
    assert titles == list(report_sections(fit.spec))
    assert "The support paradox" not in titles and "Effect decomposition" in titles
    assert "paradox" not in report.files and not report.paradox
    for words in ("pooled", "person-waves", "up to 1 waves", "interdependence", "rows per stage", "by stage"):
        assert words not in page, words
    assert f"{fit.panel.n_persons:,} persons. Spec" in page
    assert "per 1,000 persons" in page
    assert "leaving out one row at a time" in page  # no person column: rows are persons
    effects_csv = (tmp_path / "report" / "effects.csv").read_text()
    assert "pooled" not in effects_csv and not effects_csv.startswith("stage")


def test_the_five_mechanism_panel_keeps_its_stages_paradox_and_interdependence(five):
    fit, eff, cmp = five
    assert fit.spec.paradox is not None and report_sections(fit.spec) == SECTIONS
    table = eff.summary()
    assert list(table.index.names) == ["stage", "effect"]
    assert "pooled" in table.index.get_level_values("stage")
    assert "interdependence" in table.index.get_level_values("effect")
    assert list(cmp.summary().index.names) == ["intervention", "stage"]
    assert "P(best)" in cmp.summary().columns  # two compared


def test_one_intervention_has_no_best_of_one(single, five):
    fit = five[0]
    alone = _quiet(fit.compare, [Intervention("more support", "support", shift=0.5)])
    assert "P(best)" not in alone.summary().columns and "P(better)" in alone.summary().columns


def test_paradox_stages_default_to_the_specs_and_explicit_ones_still_win():
    effects = synthetic_effects(te_means=(0.05, -0.04, 0.03, 0.0))
    d = carepaths.load_spec("five_mechanisms").to_dict()
    d["paradox"] = {"raises_in": "maintenance", "lowers_in": "recovery"}
    spec = Spec.from_dict(d)
    table = paradox_table(effects, spec=spec)
    assert (table.attrs["raises_in"], table.attrs["lowers_in"]) == ("maintenance", "recovery")
    assert "raises care use in maintenance" in paradox_sentences(effects, exposure="support", outcome="care_use",
                                                                  spec=spec)[0]
    explicit = paradox_table(effects, spec=spec, raises_in="crisis", lowers_in="maintenance")
    assert (explicit.attrs["raises_in"], explicit.attrs["lowers_in"]) == ("crisis", "maintenance")
    plain = paradox_table(effects)  # no spec: the first two stages, as before
    assert (plain.attrs["raises_in"], plain.attrs["lowers_in"]) == ("crisis", "recovery")


def test_no_probability_in_a_table_prints_as_certainty():
    import pandas as pd

    assert probability_text(1.0, 4000) == "> 0.999" and probability_text(0.0, 4000) == "< 0.001"
    assert probability_text(1.0, 60) == "> 0.98" and probability_text(0.0, 60) == "< 0.02"
    assert probability_text(0.9996, 4000) == "> 0.999" and probability_text(0.934, 4000) == "0.934"
    assert probability_text(float("nan"), 4000) == ""
    assert format_probability(1.0, 4000) == "> 0.999"  # the words' function, re-exported by report.paradox
    frame = pd.DataFrame({"mean": [0.0, 1.0], "P(>0)": [1.0, 0.0], "P(best)": [float("nan"), 1.0]}, index=["a", "b"])
    html = _table(frame, n_draws=4000)
    assert "&gt; 0.999" in html and "&lt; 0.001" in html
    assert not re.search(r">\s*1\.000\s*<", html.replace('<td class="num">0.000</td>', "").replace(
        '<td class="num">1.000</td>', "", 1))


# ----------------------------------------------------------------------------- item 3: defaults and units
def test_check_has_a_default_seed(five):
    fit = five[0]
    default = _quiet(fit.check)
    again = _quiet(fit.check, seed=0)
    np.testing.assert_array_equal(default.table()["mean"], again.table()["mean"])


def test_probability_needs_no_stage_without_stages(single, five):
    _, eff, _, _ = single
    te = eff.draws["TE"].values.ravel()
    assert eff.probability("TE") == pytest.approx((te > 0).mean())
    assert eff.probability("IIE[job_seek]", direction="<") == pytest.approx(
        (eff.draws["IIE"].values.ravel() < 0).mean())
    assert eff.probability("IIE") == eff.probability("IIE", mechanism="job_seek")
    staged = five[1]
    assert staged.probability("IIE[encouragement]", "crisis") == staged.probability(
        "IIE", "crisis", mechanism="encouragement")


def test_a_shift_in_original_units_is_that_many_sds_less(single):
    """+1 point of job_seek is +1/sd SDs of it: the same numbers, draw by draw."""
    fit = single[0]
    sd = fit.panel.scaling["job_seek"].scale
    iv = Intervention("one point", "job_seek", shift=1.0, units="original")
    assert iv.describe(staged=False) == "job_seek + 1 (original units)"
    in_points = _quiet(fit.compare, [iv])
    in_sds = _quiet(fit.compare, [Intervention("one point", "job_seek", shift=1.0 / sd)])
    np.testing.assert_allclose(in_points.draws["difference"], in_sds.draws["difference"], rtol=1e-9, atol=1e-12)
    assert in_points.descriptions["one point"] == "job_seek + 1 (original units)"


def test_the_simulators_truth_counts_original_units_too():
    """Normal outcome, no edges: shifting mediator k by d of its own units moves E[Y] by b_k d."""
    spec = _linear_spec("none")
    sim = carepaths.simulate(spec, 200, 2, seed=5, mc_persons=400)
    b = sim.params["b"].sel(mediator="discouragement").values  # per stage, generating units
    truth = sim.true_intervention_effects(
        [Intervention("two points less", "discouragement", shift=-2.0, units="original")], mc_persons=400
    )
    for s, stage in enumerate(spec.stages):
        assert truth.loc[("two points less", stage), "true"] == pytest.approx(-2.0 * b[s], rel=1e-9)


# ----------------------------------------------------------------------------- item 4: LOO by person, randomised PIT
def test_loo_leaves_out_persons_by_default_in_a_panel(five):
    fit = five[0]
    checks = _quiet(fit.check)
    summary = checks.loo_summary()
    assert summary.attrs["loo"] == "person" and summary.name == "leave-one-person-out"
    assert summary["n_persons_left_out"] == fit.panel.n_persons and summary["n_obs"] == fit.panel.n_obs
    rows = checks.loo_data["log_likelihood"].to_dataset()["care_use"].values
    persons = checks.loo_data["log_likelihood_person"].to_dataset()["care_use"].values
    person = fit.panel.dataset["person_idx"].values
    assert persons.shape == (*rows.shape[:2], fit.panel.n_persons) and np.isfinite(persons).all()
    # the outcome's person intercepts are integrated out (the default): what leaving a person
    # out removes is the person's integrated log-likelihood, not the sum of its rows' (which
    # condition on one drawn intercept); test_checks ties it to the model's own term
    assert fit.parameters().quadrature_outcome
    assert not np.allclose(persons, np.moveaxis(per_person(np.moveaxis(rows, -1, 0), person), 0, -1))
    by_row = _quiet(fit.check, loo="row").loo_summary()
    assert by_row.attrs["loo"] == "row" and by_row["n_rows_left_out"] == fit.panel.n_obs


def test_loo_leaves_out_rows_without_a_person_column(single):
    assert single[3].loo_summary().attrs["loo"] == "row"


def test_randomised_loo_pit_of_a_binary_outcome_is_uniform_and_the_plain_one_is_not():
    """A correctly specified model: the data are simulated from known parameters, and the
    'posterior' is those parameters with a little jitter (SD 0.03 on the logit scale,
    200 draws). No confounders and binary variables, so the model's scale is the
    simulator's and the truth needs no translation.

    Tolerance: the randomised PIT's Kolmogorov-Smirnov p-value against U(0, 1) must
    exceed 0.01 (over ten simulation seeds it ranged 0.16-0.85); the plain
    ``P(y_rep <= y)`` takes two values per row (``1 - p`` and 1), so its KS distance is
    far above the 5% critical value (1.36 / sqrt(n) = 0.025 for n = 3,000).
    """
    spec = Spec.from_dict({
        "name": "binary", "exposure": {"name": "x", "kind": "binary"},
        "mediators": [{"name": "m", "family": "bernoulli"}],
        "outcome": {"name": "y", "family": "bernoulli"}, "confounders": [],
        "structure": {"person_effects": "none", "pool_stages": False},
    })
    sim = carepaths.simulate(spec, 3000, 1, seed=12, mc_persons=100)
    rng = np.random.default_rng(8)
    post = xr.Dataset({
        name: (("chain", "draw", *dims),
               sim.params[name].values[None, None] + 0.03 * rng.standard_normal((1, 200, *sim.params[name].shape)))
        for name, dims in parameter_dims(spec).items()
    })
    checks = compute_checks(ParameterSet.from_draws(spec, post), sim.panel(), post, seed=1)
    pit = checks.loo_pit.values
    assert stats.kstest(pit, "uniform").pvalue > 0.01
    plain = loo_pit_values(checks.loo_data, "y", checks.loo.log_weights, checks.loo.pareto_k, discrete=True,
                           random_state=1, randomise=False).values
    y = sim.data["y"].to_numpy()
    np.testing.assert_array_equal(np.isclose(plain, 1.0), y == 1)  # every y = 1 sits at the top of its step
    assert stats.kstest(plain, "uniform").statistic > 0.2
    # the report's panel draws exactly these randomised values; the same seed gives the same ones
    from carepaths.figures import loo_pit_data

    np.testing.assert_array_equal(loo_pit_data(loo_data=checks.loo_data)["loo_pit"], pit)
    again = compute_checks(ParameterSet.from_draws(spec, post), sim.panel(), post, seed=1)
    np.testing.assert_array_equal(again.loo_pit.values, pit)
