"""Interventions and their comparison: exact oracles on any parameter values, bad input.

Fits come from mocked sampling (prior draws): the oracles here hold draw by draw for any
parameter values. Coverage of simulated true intervention effects by a real fit is in
``test_effects_recovery.py``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from helpers import mock_fit
from test_effects import _linear_spec

import carepaths
from carepaths import CarepathsError, Intervention, Spec
from carepaths.counterfactual.interventions import worked_examples


def _compare(fit, ivs, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", carepaths.ConvergenceWarning)
        return fit.compare(ivs, **kw)


@pytest.fixture(scope="module")
def linear_fit():
    return mock_fit(_linear_spec("intercepts"), draws=40)


@pytest.mark.parametrize("population", ["marginal", "conditional"])
def test_zero_shift_changes_nothing_exactly(linear_fit, population):
    ivs = [Intervention("no-op exposure", "support", shift=0.0),
           Intervention("no-op mediator", "encouragement", shift=0.0, stages=["crisis"]),
           Intervention("scale 1", "discouragement", scale=1.0)]
    cmp = _compare(linear_fit, ivs, population=population)
    assert np.abs(cmp.draws["difference"].values).max() < 1e-12


@pytest.mark.parametrize("population", ["marginal", "conditional"])
def test_linear_gaussian_mediator_shift_equals_b_times_shift(linear_fit, population):
    """Closed form: shifting M_k by delta SD changes E[Y] by b_k[s] * delta (model units).

    Exact per draw (tolerance 1e-9 relative) because the outcome is linear and the
    mediator has no children; the stages outside the intervention do not move at all.
    """
    fit = linear_fit
    cmp = _compare(fit, [Intervention("lower discouragement", "discouragement", shift=-0.5,
                                      stages=["recovery", "maintenance"])], population=population)
    p = fit.parameters()
    sd_y = fit.panel.scaling["score"].scale
    diff = cmp.draws["difference"].sel(intervention="lower discouragement").values.reshape(p.n_samples, -1)
    b = p.fixed["b"][:, 1, :]  # discouragement, (sample, stage)
    np.testing.assert_array_equal(diff[:, 0], 0.0)  # crisis untouched
    np.testing.assert_allclose(diff[:, 1], -0.5 * b[:, 1] * sd_y, rtol=1e-9)
    np.testing.assert_allclose(diff[:, 2], -0.5 * b[:, 2] * sd_y, rtol=1e-9)
    stage_idx = fit.panel.dataset["stage_idx"].values
    share = np.bincount(stage_idx, minlength=3) / len(stage_idx)
    np.testing.assert_allclose(diff[:, 3], diff[:, :3] @ share, rtol=1e-9)


def test_linear_gaussian_exposure_shift_and_combinations_add_up(linear_fit):
    """Exposure shift: (c + sum_k a_k b_k) * delta; in a linear model effects of a combination add."""
    fit = linear_fit
    ex = Intervention("support up", "support", shift=0.17)
    med = Intervention("encouragement up", "encouragement", shift=0.3)
    cmp = _compare(fit, [ex, med, [ex, med]])
    p = fit.parameters()
    sd_y = fit.panel.scaling["score"].scale
    d = cmp.draws["difference"]
    total = 0.17 * (p.fixed["c"] + (p.fixed["a"] * p.fixed["b"]).sum(axis=1)) * sd_y
    np.testing.assert_allclose(d.sel(intervention="support up").values.reshape(p.n_samples, -1)[:, :3], total, rtol=1e-9)
    # encouragement is set by the combination's mediator shift on top of the exposure shift
    combined = d.sel(intervention="support up + encouragement up")
    np.testing.assert_allclose(combined, d.sel(intervention="support up") + d.sel(intervention="encouragement up"),
                               rtol=1e-9, atol=1e-12)


def test_set_on_binary_and_ordinal_mediators_acts_through_the_equations():
    d = _linear_spec("none", outcome={"name": "care_use", "family": "bernoulli"}).to_dict()
    d["mediators"] = [
        {"name": "advised", "family": "bernoulli"},
        {"name": "stigma", "family": "ordinal", "categories": [1, 2, 3]},
    ]
    d["mediator_edges"] = [["advised", "stigma"]]
    fit = mock_fit(Spec.from_dict(d), draws=20)
    cmp = _compare(fit, [Intervention("everyone advised", "advised", set=1),
                         Intervention("no stigma", "stigma", set=1)])
    p = fit.parameters()
    diff = cmp.draws["difference"].values.reshape(p.n_samples, 3, -1)
    # the outcome moves with the sign of b for 'advised' (plus its path through stigma)
    assert np.abs(diff[:, 1]).max() > 0 and np.abs(diff[:, 2]).max() > 0
    summary = cmp.summary()
    assert {"per_1000", "P(better)", "P(best)"} <= set(summary.columns)
    np.testing.assert_allclose(summary["per_1000"].dropna(), 1000 * summary["difference"], rtol=1e-12)


def test_probabilities_and_plot_data():
    ivs = worked_examples(carepaths.load_spec())
    fit = mock_fit(carepaths.load_spec(), draws=30)
    cmp = _compare(fit, ivs)
    table = cmp.summary()
    best = table.drop(index="status quo", level="intervention")["P(best)"].groupby(level="stage").sum()
    assert (best <= 1 + 1e-12).all() and (best > 0).all()
    assert table.loc[("status quo", "crisis"), "difference"] == 0.0
    draws = cmp.draws["difference"].sel(intervention="care coordination", stage="recovery").values.ravel()
    assert table.loc[("care coordination", "recovery"), "P(better)"] == pytest.approx(np.mean(draws > 0))
    # family psychoeducation acts only in recovery and maintenance
    assert np.all(cmp.draws["difference"].sel(intervention="family psychoeducation", stage="crisis") == 0)
    data = cmp.plot_data()
    # ArviZ summarises 1000 x the draws: equal to 1000 x the summary up to rounding
    np.testing.assert_allclose(data["estimate"], table.drop(index="status quo", level="intervention")["per_1000"],
                               rtol=1e-12, atol=1e-12)
    fig = cmp.plot()
    import matplotlib.figure
    import matplotlib.pyplot as plt
    from matplotlib.collections import PathCollection

    assert isinstance(fig, matplotlib.figure.Figure)
    points = [c.get_offsets()[0] for c in fig.axes[-1].collections if isinstance(c, PathCollection)]
    xs = [x for x, _ in sorted(points, key=lambda p: -p[1])]  # top to bottom: the twin's order
    np.testing.assert_allclose(xs, data["estimate"], rtol=1e-12)
    plt.close(fig)
    lower = _compare(fit, ivs, better="lower").summary()
    acts = table.drop(index=[("status quo", s) for s in ("crisis", "recovery", "maintenance", "pooled")])
    acts = acts.drop(index=("family psychoeducation", "crisis"))  # exactly 0: better in neither direction
    np.testing.assert_allclose(lower.loc[acts.index, "P(better)"], 1 - acts["P(better)"], atol=1e-12)
    assert lower.loc[("family psychoeducation", "crisis"), "P(better)"] == 0.0
    assert table.loc[("family psychoeducation", "crisis"), "P(better)"] == 0.0


@pytest.mark.parametrize(
    ("ivs", "message"),
    [
        ([], "non-empty list"),
        ([Intervention("x", "suport", shift=0.5)], "unknown target 'suport'.*support"),
        ([Intervention("x", "discouragement", shift=0.5, stages=["recovry"])], "stage 'recovry' is not in the spec.*recovery"),
        ([Intervention("x", "support", shift=1), Intervention("x", "attitudes", shift=1)], "unique"),
        ([[Intervention("a", "support", shift=1), Intervention("b", "support", shift=2)]], "acts twice"),
        (["support +1"], "must be an Intervention"),
    ],
)
def test_bad_interventions_raise(ivs, message):
    fit = mock_fit(_linear_spec("none"), draws=4)
    with pytest.raises(CarepathsError, match=message):
        fit.compare(ivs)


def test_bad_values_for_binary_and_ordinal_targets_raise():
    d = _linear_spec("none").to_dict()
    d["exposure"] = {"name": "support", "kind": "binary"}
    d["mediators"] = [{"name": "advised", "family": "bernoulli"},
                      {"name": "stigma", "family": "ordinal", "categories": [1, 2, 3]}]
    fit = mock_fit(Spec.from_dict(d), draws=4)
    cases = [
        (Intervention("x", "support", shift=0.5), "binary, so it cannot be shifted"),
        (Intervention("x", "advised", set=2), "must be 0 or 1"),
        (Intervention("x", "stigma", set=7), "not a category of 'stigma'"),
        (Intervention("x", "stigma", scale=0.5), "ordinal, so it cannot be scaled"),
    ]
    for iv, message in cases:
        with pytest.raises(CarepathsError, match=message):
            fit.compare([iv])


def test_intervention_constructor_checks():
    with pytest.raises(CarepathsError, match="exactly one of"):
        Intervention("x", "support", shift=1, scale=2)
    with pytest.raises(CarepathsError, match="exactly one of"):
        Intervention("x", "support")
    with pytest.raises(CarepathsError, match="stages is empty"):
        Intervention("x", "support", shift=1, stages=[])
    iv = Intervention("x", "support", shift=-0.5, stages="recovery")
    assert iv.stages == ("recovery",) and iv.describe() == "support - 0.5 SD in recovery"
