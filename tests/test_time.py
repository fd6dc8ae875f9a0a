"""The spec's [time] table and a panel's time structure (issue 18, first part).

The previous wave of each row, the lags built from it, the moves between stages, and the
refusals: a lag across a gap in the waves, a [time] table without waves, names that are no
lag, an absorbing stage that is never entered or is left.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import carepaths
from carepaths import DataError, Panel, SpecError

TIME = {"lags": ["care_use", "stage", "severity"], "time_varying": ["severity"],
        "stage_transition": {"given": ["care_use"], "absorbing": []}}


def _spec(time=None, **changes):
    data = carepaths.load_spec().to_dict()
    data["time"] = TIME if time is None else time
    data.update(changes)
    return carepaths.Spec.from_dict(data)


@pytest.fixture()
def frame():
    return carepaths.simulate(carepaths.load_spec(), 20, 4, seed=3, mc_persons=50).data


def test_the_time_table_round_trips_and_a_spec_without_it_is_unchanged():
    spec = _spec()
    assert spec.time.lags == ("care_use", "stage", "severity")
    assert spec.time.transition_given == ("care_use",) and spec.time.absorbing == ()
    assert carepaths.Spec.from_toml(spec.to_toml()) == spec
    plain = carepaths.load_spec()
    assert plain.time is None and "time" not in plain.to_dict()


@pytest.mark.parametrize(("time", "match"), [
    ({"lags": ["care_uses"]}, r"'time.lags\[0\]' is 'care_uses'.*Did you mean 'care_use'"),
    ({"time_varying": ["age "]}, r"time_varying\[0\]|surrounding whitespace"),
    ({"time_varying": ["support"]}, r"'time.time_varying\[0\]' is 'support', which is not a confounder"),
    ({"lags": ["stage"], "stage_transition": {"given": ["care_use"]}},
     r"'time.stage_transition.given\[0\]' is 'care_use'.*Add it to time.lags"),
    ({"stage_transition": {"absorbing": ["remission"]}}, r"absorbing\[0\]' is 'remission', which is not one of"),
    ({"stage_transition": {"absorbing": ["crisis", "recovery", "maintenance"]}}, "lists every stage"),
    ({"lag": ["care_use"]}, r"unknown spec key 'time.lag'.*Did you mean 'lags'"),
])
def test_bad_time_tables_are_refused_by_name(time, match):
    with pytest.raises(SpecError, match=match):
        _spec(time)


def test_a_time_table_needs_persons_and_waves():
    data = carepaths.load_spec().to_dict()
    data["time"] = {"lags": ["care_use"]}
    del data["columns"]["wave"]
    with pytest.raises(SpecError, match=r"needs each person's previous wave: set columns.person and columns.wave"):
        carepaths.Spec.from_dict(data)


def test_each_row_knows_its_previous_wave_whatever_the_row_order(frame):
    spec = _spec()
    shuffled = frame.sample(frac=1.0, random_state=1)
    panel = Panel.from_frame(shuffled, spec)
    previous = panel.previous_wave()
    waves = shuffled["wave"].to_numpy()
    persons = shuffled["person"].to_numpy()
    first = previous < 0
    np.testing.assert_array_equal(waves[first], np.ones(first.sum()))  # every person starts at wave 1
    has = ~first
    np.testing.assert_array_equal(persons[previous[has]], persons[has])
    np.testing.assert_array_equal(waves[previous[has]], waves[has] - 1)
    # the lags: the previous wave's values on the model scale
    care = panel.lagged("care_use")
    assert np.isnan(care[first]).all()
    np.testing.assert_array_equal(care[has], shuffled["care_use"].to_numpy(float)[previous[has]])
    severity = panel.lagged("severity")
    expected = panel.scaling["severity"].to_model(shuffled["severity"].to_numpy(float))[previous[has]]
    np.testing.assert_allclose(severity[has], expected, rtol=1e-12)
    with pytest.raises(DataError, match=r"'support' is not a lag of this panel's spec"):
        panel.lagged("support")


def test_the_transitions_count_every_move_between_consecutive_waves(frame):
    panel = Panel.from_frame(frame, _spec())
    table = panel.transitions()
    assert list(table.index) == ["crisis", "recovery", "maintenance"] == list(table.columns)
    assert int(table.to_numpy().sum()) == len(frame) - frame["person"].nunique()
    by_hand = pd.crosstab(frame.groupby("person")["stage"].shift(1).dropna(),
                          frame.loc[frame["wave"] > 1, "stage"])
    for a in table.index:
        for b in table.columns:
            assert table.loc[a, b] == by_hand.get(b, {}).get(a, 0)


def test_a_gap_in_a_persons_waves_is_refused_with_the_ways_out(frame):
    gone = frame.index[(frame["person"] == frame["person"].iloc[0]) & (frame["wave"] == 2)]
    with pytest.raises(DataError, match=r"column 'wave': person .* has waves \[1, 3, 4\], with waves missing in "
                                        r"between .* previous-wave value of the wave after a gap is unknown"
                                        r".*Split the person's record at the gap"):
        Panel.from_frame(frame.drop(index=gone), _spec())
    # without a [time] table the same panel is fine: no lag is needed
    Panel.from_frame(frame.drop(index=gone), carepaths.load_spec())


def test_fractional_waves_are_refused(frame):
    frame["wave"] = frame["wave"].astype(float)
    frame.loc[3, "wave"] = 2.5
    with pytest.raises(DataError, match=r"column 'wave' has wave numbers that are not whole numbers \(\[2.5\], rows 3\)"):
        Panel.from_frame(frame, _spec())


def test_an_absorbing_stage_must_occur_and_never_be_left(frame):
    absorbing = {**TIME, "stage_transition": {"given": ["care_use"], "absorbing": ["maintenance"]}}
    spec = _spec(absorbing)
    with pytest.raises(DataError, match=r"stage 'maintenance' is declared absorbing .* but person\(s\) .* leave it"):
        Panel.from_frame(frame, spec)
    # maintenance only at first waves: never entered from another stage
    never = frame.copy()
    never.loc[(never["stage"] == "maintenance") & (never["wave"] > 1), "stage"] = "recovery"
    assert (never["stage"] == "maintenance").sum() >= 2
    with pytest.raises(DataError, match=r"stage 'maintenance' is declared absorbing .* but no transition into it "
                                        r"occurs in column 'stage'"):
        Panel.from_frame(never, spec)


def test_a_panel_without_time_has_no_previous_wave(frame):
    panel = Panel.from_frame(frame, carepaths.load_spec())
    with pytest.raises(DataError, match=r"no time structure: its spec has no \[time\] table"):
        panel.previous_wave()


def test_the_lags_enter_every_equation_as_centred_confounder_terms(frame):
    """lag(name) is the previous wave's model-scale value (0 at a first wave), first_wave the
    indicator of a first wave, each centred by its mean; the stage's lag is no term."""
    spec = _spec({"lags": ["care_use", "stage", "severity", "prior_care"]})
    assert spec.lag_terms == ("lag(care_use)", "lag(severity)", "lag(prior_care)[yes]", "first_wave")
    assert spec.confounder_terms[-4:] == spec.lag_terms
    panel = Panel.from_frame(frame, spec)
    C = panel.dataset["C"]
    previous = panel.previous_wave()
    first = previous < 0
    care = np.where(first, 0.0, frame["care_use"].to_numpy(float)[np.maximum(previous, 0)])
    np.testing.assert_allclose(C.sel(confounder="lag(care_use)").values, care - care.mean(), atol=1e-12)
    yes = np.where(first, 0.0, (frame["prior_care"] == "yes").to_numpy(float)[np.maximum(previous, 0)])
    np.testing.assert_allclose(C.sel(confounder="lag(prior_care)[yes]").values, yes - yes.mean(), atol=1e-12)
    severity = C.sel(confounder="severity").values
    lagged = np.where(first, 0.0, severity[np.maximum(previous, 0)])
    np.testing.assert_allclose(C.sel(confounder="lag(severity)").values, lagged - lagged.mean(), atol=1e-12)
    np.testing.assert_allclose(C.sel(confounder="first_wave").values, first - first.mean(), atol=1e-12)
    assert panel.scaling["lag(care_use)"].loc == pytest.approx(care.mean())


def test_a_lag_term_may_not_take_a_confounders_name(frame):
    data = carepaths.load_spec().to_dict()
    data["confounders"].append({"name": "first_wave", "kind": "numeric"})
    data["time"] = {"lags": ["care_use"]}
    with pytest.raises(SpecError, match=r"lag term\(s\) \['first_wave'\], which a confounder of the spec is already called"):
        carepaths.Spec.from_dict(data)


def test_a_lagged_variable_with_missing_values_is_refused(frame):
    frame.loc[5, "severity"] = np.nan
    with pytest.raises(DataError, match=r"column 'severity' is lagged .* 1 missing value\(s\) \(rows 5\)"):
        Panel.from_frame(frame, _spec(), missing="model")


def test_the_cli_simulates_and_validates_a_time_spec(tmp_path, frame):
    import subprocess
    import sys

    spec_path = tmp_path / "time.toml"
    spec_path.write_text(_spec().to_toml())
    data = tmp_path / "panel.csv"
    frame.to_csv(data, index=False)
    ok = subprocess.run([sys.executable, "-m", "carepaths", "validate", str(spec_path), str(data)],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "Lags (spec [time]): care_use, stage, severity; first waves: 20 of 80 rows." in ok.stdout
    assert "Moves between stages from one wave to the next:" in ok.stdout
    sim = subprocess.run([sys.executable, "-m", "carepaths", "simulate", str(spec_path), str(tmp_path / "sim.csv"),
                          "--persons", "20"], capture_output=True, text=True)
    assert sim.returncode == 0, sim.stderr
    again = subprocess.run([sys.executable, "-m", "carepaths", "validate", str(spec_path), str(tmp_path / "sim.csv")],
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
