"""carepaths.plots: each figure draws exactly what its data twin returns.

The effects here are synthetic draws with known summaries (no fit needed), so the
tests are fast and the expected numbers are exact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.figure import Figure

from carepaths.counterfactual.effects import Effects
from carepaths.exceptions import CarepathsError
from carepaths.intervals import interval_bounds, interval_label
from carepaths.figures import effects_forest_data, plot_effects_forest

STAGES = ["crisis", "recovery", "maintenance", "pooled"]
MECHS = ["encouragement", "discouragement"]


def synthetic_effects(te_means=(0.08, -0.1, -0.05, -0.02), *, sd=0.03, converged=True, seed=0) -> Effects:
    """Effects whose TE in stage s is normal(te_means[s], sd), NDE = TE / 4, NIE = TE - NDE."""
    rng = np.random.default_rng(seed)
    chains, draws = 2, 400
    te = np.asarray(te_means)[None, None, :] + sd * rng.standard_normal((chains, draws, len(STAGES)))
    nde = te / 4 + 0.001 * rng.standard_normal(te.shape)
    nie = te - nde
    iie = np.stack([nie * 0.7, nie * 0.3], axis=-1)
    dims = ("chain", "draw", "stage")
    ds = xr.Dataset(
        {
            "TE": (dims, te), "NDE": (dims, nde), "NIE": (dims, nie),
            "IIE": (dims + ("mechanism",), iie),
            "interdependence": (dims, np.zeros_like(te)),
            "Y0": (dims, np.full_like(te, 0.5)), "Y1": (dims, 0.5 + te),
        },
        coords={"stage": STAGES, "mechanism": MECHS},
        attrs={"scale": "difference", "contrast": "support + 1 SD", "population": "marginal", "seed": 0},
    )
    return Effects(draws=ds, converged=converged, warning="" if converged else "NOT CONVERGED")


@pytest.fixture(scope="module")
def effects() -> Effects:
    return synthetic_effects()


def test_forest_data_matches_the_summary_and_the_package_interval(effects):
    data = effects_forest_data(effects=effects)
    assert list(dict.fromkeys(data.index.get_level_values("stage"))) == STAGES
    rows = list(dict.fromkeys(data.index.get_level_values("effect")))
    assert rows[:3] == ["TE", "NDE", "NIE"] and "IIE[encouragement]" in rows
    te = effects.draws["TE"].sel(stage="recovery").values.reshape(-1)
    lower, upper = interval_bounds(te)
    got = data.loc[("recovery", "TE")]
    assert got["mean"] == pytest.approx(te.mean())
    assert (got["lower"], got["upper"]) == pytest.approx((lower, upper))
    assert data.attrs["interval"] == interval_label() and data.attrs["null"] == 0.0
    # rows are numbered top to bottom within each stage
    assert data.xs("crisis", level="stage")["row"].tolist() == list(range(len(rows)))


def test_forest_draws_one_panel_per_stage_at_the_twin_numbers(effects):
    fig = plot_effects_forest(effects=effects, stages=["crisis", "recovery"], which=["TE", "NIE"])
    assert isinstance(fig, Figure)
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["crisis", "recovery"]
    data = effects_forest_data(effects=effects, stages=["crisis", "recovery"], which=["TE", "NIE"])
    # the markers of the first panel sit at the posterior means, in row order
    points = [line for line in axes[0].get_lines() if line.get_marker() == "o"]
    xs = [float(np.ravel(p.get_xdata())[0]) for p in points]
    assert xs == pytest.approx(data.xs("crisis", level="stage")["mean"].tolist())
    assert interval_label() in fig.get_suptitle()


def test_forest_with_truth_adds_the_true_values(effects):
    truth = pd.DataFrame(
        {"true": [0.09, -0.11]},
        index=pd.MultiIndex.from_tuples([("crisis", "TE"), ("recovery", "TE")], names=["stage", "effect"]),
    )
    data = effects_forest_data(effects=effects, truth=truth, which=["TE"])
    assert data.loc[("crisis", "TE"), "true"] == 0.09
    assert np.isnan(data.loc[("pooled", "TE"), "true"])
    fig = plot_effects_forest(effects=effects, truth=truth, which=["TE"])
    crosses = [line for ax in fig.axes for line in ax.get_lines() if line.get_marker() == "x"]
    assert len(crosses) == 2


def test_not_converged_effects_are_marked_on_the_figure():
    fig = plot_effects_forest(effects=synthetic_effects(converged=False))
    assert any("NOT CONVERGED" in t.get_text() for t in fig.texts)


def test_plot_functions_are_keyword_only(effects):
    with pytest.raises(TypeError):
        plot_effects_forest(effects)  # noqa: the figure functions take keywords only


def test_unknown_stage_or_effect_is_a_clear_error(effects):
    with pytest.raises(CarepathsError, match="choose from"):
        effects_forest_data(effects=effects, stages=["relapse"])
    with pytest.raises(CarepathsError, match=r"IIE\[encouragement\]"):
        effects_forest_data(effects=effects, which=["IIE[typo]"])
