"""Both versions of the natural effects, the four-way decomposition, the proportion
mediated and effects at moderator values (issue 14, the effects side).

The identities hold draw by draw whatever the parameter values, so fits from mocked
sampling (prior draws, no MCMC) suffice; tolerances are floating-point (1e-12 on effects
of order 0.01-1). Closed forms with an exposure x mediator interaction are in
``tests/test_interactions.py``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import carepaths
from carepaths import CarepathsError, Spec
from carepaths.counterfactual.effects import natural_versions_differ
from carepaths.exceptions import IdentificationError, UnstableRatioWarning
from helpers import mock_fit


def _spec(outcome_family: str = "normal", **over) -> Spec:
    d = {
        "stages": ["crisis", "recovery"],
        "columns": {"person": "id", "wave": "wave", "stage": "stage"},
        "exposure": {"name": "support"},
        "mediators": [
            {"name": "encouragement", "family": "normal"},
            {"name": "discouragement", "family": "normal"},
        ],
        "outcome": {"name": "care", "family": outcome_family},
        "confounders": [{"name": "severity"}, {"name": "sex", "kind": "categorical", "levels": ["f", "m"],
                                                "reference": "f"}],
        "structure": {"pool_stages": False, "person_effects": "intercepts"},
    }
    d.update(over)
    return Spec.from_dict(d)


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


@pytest.fixture(scope="module")
def linear_fit():
    return mock_fit(_spec("normal"), n_persons=30, draws=12)


@pytest.fixture(scope="module")
def binary_fit():
    return mock_fit(_spec("bernoulli"), n_persons=30, draws=12)


# ----------------------------------------------------------------------------- versions
def test_versions_are_reported_only_where_they_can_differ(linear_fit, binary_fit):
    assert not natural_versions_differ(linear_fit.spec) and natural_versions_differ(binary_fit.spec)
    linear = _quiet(linear_fit.effects).summary().xs("crisis", level="stage")
    assert "NDE (treated)" not in linear.index and "NIE (control)" not in linear.index
    binary = _quiet(binary_fit.effects).summary().xs("crisis", level="stage")
    assert {"NDE (treated)", "NIE (control)"} <= set(binary.index)
    assert binary.loc["NIE", "version"].startswith("NIE (treated) = ACME (treated)")
    assert binary.loc["NIE (control)", "version"].startswith("NIE (control) = ACME (control)")
    assert binary.loc["NDE", "version"].startswith("NDE (control) = ADE (control)")


@pytest.mark.parametrize("scale", ["difference", "risk_ratio", "odds_ratio"])
def test_both_decompositions_of_the_total_effect_hold_per_draw(binary_fit, scale):
    """TE = NDE + NIE = NDE (treated) + NIE (control) per draw (products on ratio scales)."""
    d = _quiet(binary_fit.effects, scale=scale).draws
    if scale == "difference":
        np.testing.assert_allclose(d["NDE"] + d["NIE"], d["TE"], atol=1e-12)
        np.testing.assert_allclose(d["NDE (treated)"] + d["NIE (control)"], d["TE"], atol=1e-12)
    else:
        np.testing.assert_allclose(d["NDE"] * d["NIE"], d["TE"], rtol=1e-9)
        np.testing.assert_allclose(d["NDE (treated)"] * d["NIE (control)"], d["TE"], rtol=1e-9)
    # with a logit link the two versions differ (by the interaction on the outcome scale)
    assert float(abs(d["NIE"] - d["NIE (control)"]).max()) > 1e-6


def test_in_the_linear_model_the_versions_would_be_equal(linear_fit):
    """Checked through the four-way decomposition: without an interaction both are 0."""
    fw = _quiet(linear_fit.fourway, mediator="encouragement")
    for name in ("INT_ref", "INT_med"):
        np.testing.assert_allclose(fw.draws[name], 0.0, atol=1e-12)


# ----------------------------------------------------------------------------- four-way
def test_four_components_add_up_to_the_total_effect_per_draw(binary_fit):
    fw = _quiet(binary_fit.fourway, mediator="discouragement", mstar=0.5)
    d = fw.draws
    total = d["CDE"] + d["INT_ref"] + d["INT_med"] + d["PIE"]
    np.testing.assert_allclose(total, d["TE"], atol=1e-12)
    table = fw.summary()
    assert list(table.xs("crisis", level="stage").index) == ["CDE", "INT_ref", "INT_med", "PIE", "TE"]
    np.testing.assert_allclose(table.xs("TE", level="component")["proportion"], 1.0)
    # the same seed gives the same population as fit.effects: the same total effect
    te = _quiet(binary_fit.effects, seed=0).draws["TE"]
    np.testing.assert_allclose(d["TE"], te, rtol=1e-12)
    # PIE is the pure indirect effect through this mediator alone; with one mediator it is NIE (control)


def test_four_way_with_one_mediator_uses_the_natural_effects():
    spec = _spec("bernoulli", mediators=[{"name": "encouragement", "family": "normal"}])
    fit = mock_fit(spec, n_persons=30, draws=8)
    fw = _quiet(fit.fourway)
    eff = _quiet(fit.effects, seed=0).draws
    np.testing.assert_allclose(fw.draws["PIE"], eff["NIE (control)"], atol=1e-12)
    np.testing.assert_allclose(fw.draws["INT_med"], eff["NIE"] - eff["NIE (control)"], atol=1e-12)
    np.testing.assert_allclose(fw.draws["CDE"] + fw.draws["INT_ref"], eff["NDE"], atol=1e-12)
    assert fw.draws.attrs["mstar"] == pytest.approx(fit.panel.scaling["encouragement"].loc)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({}, CarepathsError, "for one mediator; the spec has 2: name one with mediator="),
        ({"mediator": "encouragemnt"}, CarepathsError, "Did you mean 'encouragement'"),
        ({"mediator": "encouragement", "mstar": float("nan")}, CarepathsError, "mstar must be a finite number"),
        ({"mediator": "encouragement", "mstar": "high"}, CarepathsError, "mstar must be a finite number"),
        ({"mediator": "encouragement", "population": "both"}, CarepathsError, "population"),
        ({"mediator": "encouragement", "seed": -1}, CarepathsError, "seed"),
    ],
)
def test_four_way_bad_input(linear_fit, kwargs, error, message):
    with pytest.raises(error, match=message):
        _quiet(linear_fit.fourway, **kwargs)


def test_four_way_through_one_of_ordered_mediators_is_not_defined():
    """With an edge between the mediators, neither one's natural indirect effect is identified alone."""
    spec = _spec("normal", mediator_edges=[["encouragement", "discouragement"]])
    fit = mock_fit(spec, n_persons=30, draws=4)
    with pytest.raises(IdentificationError, match="not defined for this spec"):
        _quiet(fit.fourway, mediator="discouragement")


# ----------------------------------------------------------------------------- proportion mediated
def test_proportion_mediated_is_a_per_draw_ratio_and_warns_when_te_straddles_zero(binary_fit):
    eff = _quiet(binary_fit.effects)
    with pytest.warns(UnstableRatioWarning, match="includes 0"):
        pm = eff.proportion_mediated()
    d = eff.draws
    ratio = (d["NIE"] / d["TE"]).sel(stage="crisis").values.ravel()
    assert pm.loc[("crisis", "PM[NIE]"), "mean"] == pytest.approx(ratio.mean(), rel=1e-12)
    assert pm.loc[("crisis", "PM[NIE]"), "median"] == pytest.approx(np.median(ratio), rel=1e-12)
    te = eff.summary().loc[("crisis", "TE")]
    assert bool(pm.loc[("crisis", "PM[NIE]"), "TE interval includes 0"]) == bool(te["lower"] <= 0 <= te["upper"])
    with pytest.raises(CarepathsError, match="share of a difference"):
        _quiet(binary_fit.effects, scale="risk_ratio").proportion_mediated()


# ----------------------------------------------------------------------------- at moderator values
def test_effects_at_moderator_values_and_their_index(linear_fit):
    """Without moderated paths the linear NIE does not depend on the moderator: the index is 0."""
    eff = _quiet(linear_fit.effects, at={"severity": [5.0, 15.0, 25.0]})
    assert [str(v) for v in eff.draws["at"].values] == ["severity=5", "severity=15", "severity=25"]
    table = eff.summary()
    assert table.index.names == ["at", "stage", "effect"]
    imm = eff.index_of_moderated_mediation()
    np.testing.assert_allclose(imm["mean"], 0.0, atol=1e-12)
    one = eff.sel(at="severity=15")
    assert "at" not in one.draws.dims and "severity=15" in one.draws.attrs["contrast"]


def test_categorical_moderator_sets_the_indicator_and_numbers_follow(binary_fit):
    eff = _quiet(binary_fit.effects, at={"sex": ["f", "m"]})
    assert [str(v) for v in eff.draws["at"].values] == ["sex=f", "sex=m"]
    # the logit outcome's effects depend on the covariates: the two levels differ
    d = eff.draws["TE"]
    assert float(abs(d.sel(at="sex=f") - d.sel(at="sex=m")).max()) > 0
    with pytest.raises(CarepathsError, match="numeric moderator"):
        eff.index_of_moderated_mediation()


@pytest.mark.parametrize(
    ("at", "kwargs", "message"),
    [
        ({"severty": [1, 2]}, {}, "Did you mean 'severity'"),
        ({"support": [1, 2]}, {}, "is not a confounder"),
        ({"severity": [1, 2], "sex": ["f"]}, {}, "one moderator"),
        ({"severity": []}, {}, "non-empty list"),
        ({"severity": "5"}, {}, "non-empty list"),
        ({"severity": [1, float("inf")]}, {}, "finite numbers"),
        ({"severity": [3, 3]}, {}, "more than once"),
        ({"sex": ["x"]}, {}, "not a level of 'sex'"),
        ({"severity": [1, 2]}, {"population": "conditional"}, "population='marginal'"),
        ([("severity", [1])], {}, "must be a dict"),
    ],
)
def test_at_bad_input(linear_fit, at, kwargs, message):
    with pytest.raises(CarepathsError, match=message):
        _quiet(linear_fit.effects, at=at, **kwargs)


def test_index_needs_moderator_values(linear_fit):
    with pytest.raises(CarepathsError, match="two or more values of a numeric moderator"):
        _quiet(linear_fit.effects).index_of_moderated_mediation()
