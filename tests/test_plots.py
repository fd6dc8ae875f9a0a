"""carepaths.figures: each figure draws exactly what its data twin returns.

The effects here are synthetic draws with known summaries (no fit needed), so the
tests are fast and the expected numbers are exact.
"""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.figure import Figure

from carepaths.counterfactual.effects import Effects
from carepaths.exceptions import CarepathsError
from carepaths.intervals import interval_bounds, interval_label
from carepaths.figures import effects_forest_data, plot_effects_forest

matplotlib.use("Agg")

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
    data = effects_forest_data(draws=effects.draws)
    assert list(dict.fromkeys(data.index.get_level_values("stage"))) == STAGES
    rows = list(dict.fromkeys(data.index.get_level_values("effect")))
    assert rows[:3] == ["TE", "NDE", "NIE"] and "IIE[encouragement]" in rows
    te = effects.draws["TE"].sel(stage="recovery").values.reshape(-1)
    lower, upper = interval_bounds(te)
    got = data.loc[("recovery", "TE")]
    assert got["mean"] == pytest.approx(te.mean())
    assert (got["lower"], got["upper"]) == pytest.approx((lower, upper))
    assert data.attrs["interval"] == interval_label() and data.attrs["null"] == 0.0
    # the same numbers as the summary table (one ArviZ summary behind both), exactly
    summary = effects.summary()
    pd.testing.assert_frame_equal(data[["mean", "lower", "upper"]], summary.loc[data.index, ["mean", "lower", "upper"]])
    # rows are drawn by effect, then stage, numbered from the top
    assert list(data.index[:4]) == [(s, "TE") for s in STAGES]
    assert data["row"].tolist() == list(range(len(data)))


def _points(fig: Figure) -> list[tuple[float, float]]:
    """(x, y) of every point-estimate marker on the forest axes (ArviZ draws them as scatters)."""
    from matplotlib.collections import PathCollection

    forest = fig.axes[-1]
    return [tuple(c.get_offsets()[0]) for c in forest.collections if isinstance(c, PathCollection)]


def test_forest_is_arviz_plots_drawing_the_twin_numbers(effects):
    fig = plot_effects_forest(draws=effects.draws, stages=["crisis", "recovery"], which=["TE", "NIE"])
    assert isinstance(fig, Figure)
    data = effects_forest_data(draws=effects.draws, stages=["crisis", "recovery"], which=["TE", "NIE"])
    # the markers sit at the posterior means; top to bottom in the twin's row order
    xs = [x for x, _ in sorted(_points(fig), key=lambda p: -p[1])]
    assert xs == pytest.approx(data["mean"].tolist(), rel=1e-12)
    assert interval_label() in fig.get_suptitle()
    labels = {t.get_text() for ax in fig.axes for t in ax.texts}
    assert {"TE", "NIE", "crisis", "recovery"} <= labels
    plt.close(fig)


def test_forest_with_truth_adds_the_true_values(effects):
    truth = pd.DataFrame(
        {"true": [0.09, -0.11]},
        index=pd.MultiIndex.from_tuples([("crisis", "TE"), ("recovery", "TE")], names=["stage", "effect"]),
    )
    data = effects_forest_data(draws=effects.draws, truth=truth, which=["TE"])
    assert data.loc[("crisis", "TE"), "true"] == 0.09
    assert np.isnan(data.loc[("pooled", "TE"), "true"])
    fig = plot_effects_forest(draws=effects.draws, truth=truth, which=["TE"])
    crosses = [line for ax in fig.axes for line in ax.get_lines() if line.get_marker() == "x"]
    assert sorted(float(np.ravel(c.get_xdata())[0]) for c in crosses) == [-0.11, 0.09]
    plt.close(fig)


def test_not_converged_effects_are_marked_on_the_figure():
    fig = synthetic_effects(converged=False).plot()
    assert any("NOT CONVERGED" in t.get_text() for t in fig.texts)
    plt.close(fig)


def test_plot_functions_are_keyword_only(effects):
    with pytest.raises(TypeError):
        plot_effects_forest(effects.draws)  # noqa: the figure functions take keywords only


def test_figures_take_data_not_result_objects(effects):
    with pytest.raises(CarepathsError, match="draws must be effect draws"):
        effects_forest_data(draws=effects)


def test_unknown_stage_or_effect_is_a_clear_error(effects):
    with pytest.raises(CarepathsError, match="choose from"):
        effects_forest_data(draws=effects.draws, stages=["relapse"])
    with pytest.raises(CarepathsError, match=r"IIE\[encouragement\]"):
        effects_forest_data(draws=effects.draws, which=["IIE[typo]"])
