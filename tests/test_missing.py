"""Missing values and attrition (issue 17, first part): what the Panel records and refuses,
and the simulator's MCAR / MAR / MNAR dropout."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import carepaths
from carepaths import DataError, Panel, SimulationError


@pytest.fixture(scope="module")
def spec():
    return carepaths.load_spec()


@pytest.fixture()
def frame(spec):
    return carepaths.simulate(spec, 30, 3, seed=2, mc_persons=50).data


# ----------------------------------------------------------------------------- the Panel's record
def test_missing_values_are_counted_per_column_and_stage(frame, spec):
    frame.loc[[3, 7, 11], "severity"] = np.nan
    frame.loc[5, "support"] = np.nan
    with pytest.warns(carepaths.DroppedRowsWarning):
        panel = Panel.from_frame(frame, spec, dropna=True)
    table = panel.missing()
    assert list(table.index) == [*spec.stage_levels, "all"]
    for col, rows in (("severity", [3, 7, 11]), ("support", [5])):
        expected = frame.loc[rows, "stage"].value_counts().reindex(spec.stage_levels, fill_value=0)
        np.testing.assert_array_equal(table.loc[list(spec.stage_levels), col].to_numpy(), expected.to_numpy())
        assert table.loc["all", col] == len(rows)
        assert table.attrs["handled"][col] == "row dropped (missing='drop')"
    assert table.drop(columns=["severity", "support"]).to_numpy().sum() == 0
    assert table.attrs["rows"]["all"] == len(frame)  # counted on every row given, kept or dropped


def test_a_panel_without_missing_values_reports_zeros(frame, spec):
    table = Panel.from_frame(frame, spec).missing()
    assert table.to_numpy().sum() == 0 and table.attrs["handled"] == {}


def test_the_fit_file_keeps_the_missing_value_record(frame, spec, tmp_path):
    from helpers import mock_fit

    from carepaths.model.fit import load_fit

    frame.loc[[4, 9], "alt_coping"] = np.nan
    with pytest.warns(carepaths.DroppedRowsWarning):
        panel = Panel.from_frame(frame, spec, dropna=True)
    mock_fit(spec, draws=3, panel=panel).save(tmp_path / "fit.nc")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", carepaths.ConvergenceWarning)  # mock draws
        again = load_fit(tmp_path / "fit.nc").panel.missing()
    pd.testing.assert_frame_equal(again, panel.missing())
    assert again.attrs == panel.missing().attrs


def test_the_report_data_section_shows_the_record(frame, spec):
    from carepaths.report.html import _missing_section

    frame.loc[[3, 7, 11], "severity"] = np.nan
    with pytest.warns(carepaths.DroppedRowsWarning):
        panel = Panel.from_frame(frame, spec, dropna=True)
    section = _missing_section(panel)
    header = re.findall(r"<th[^>]*>([^<]*)</th>", section)
    assert "severity" in header and "rows" in header and "support" not in header  # columns with missing values
    counts = panel.missing()["severity"]
    for stage in [*spec.stage_levels, "all"]:  # each stage's row: the rows given, then the count
        rows = panel.missing().attrs["rows"][stage]
        assert re.search(rf"<th>{stage}</th>\s*<td[^>]*>{rows}</td>\s*<td[^>]*>{counts[stage]}</td>", section), stage
    assert "Handled: severity: row dropped (missing=&#x27;drop&#x27;). 3 row(s) dropped in all." in section
    assert "missing at random" not in section  # nothing was modelled
    modelled = _missing_section(Panel.from_frame(frame, spec, missing="model"))
    assert "severity: imputed: a latent value" in modelled and "0 row(s) dropped in all." in modelled
    assert "assume they are missing at random" in modelled and "sensitivity analysis" in modelled


# ----------------------------------------------------------------------------- refused
def test_a_column_with_no_values_at_all_is_refused_even_with_dropna(frame, spec):
    frame["severity"] = np.nan
    for dropna in (False, True):
        with pytest.raises(DataError, match=r"column 'severity' has no values at all: all 90 rows are missing"):
            Panel.from_frame(frame, spec, dropna=dropna)


@pytest.mark.parametrize(("column", "what"), [("stage", "the stage"), ("person", "the person id"), ("wave", "the wave")])
def test_a_missing_identifier_is_refused_even_with_dropna(frame, spec, column, what):
    frame[column] = frame[column].astype(object)
    frame.loc[[4, 8], column] = None
    for dropna in (False, True):
        with pytest.raises(DataError) as err:
            Panel.from_frame(frame, spec, dropna=dropna)
        message = str(err.value)
        assert f"column '{column}' ({what}) is missing in 2 row(s) (rows 4, 8)" in message
        assert "dropna=True does not apply to identifiers" in message and "Fill it from the study record" in message


# ----------------------------------------------------------------------------- the simulator's attrition
@pytest.mark.parametrize("mechanism", ["mcar", "mar", "mnar"])
def test_attrition_removes_the_requested_share_monotonely(spec, mechanism):
    sim = carepaths.simulate(spec, 400, 4, seed=3, mc_persons=100, missing={"mechanism": mechanism, "rate": 0.3})
    data, full = sim.data, sim.complete_data
    # the share is set by bisection on the drawn uniforms: exact to one dropout, which
    # removes at most waves - 1 = 3 rows of 1,600
    assert abs(1 - len(data) / len(full) - 0.3) <= 3 / len(full)
    assert data.groupby("person").size().min() >= 1  # the first wave is always observed
    # monotone: a person's observed waves are 1..k
    assert (data.groupby("person")["wave"].max() == data.groupby("person").size()).all()
    pd.testing.assert_frame_equal(data, full.loc[data.index])
    assert sim.attrition["waves_observed"].sum() == len(data)
    Panel.from_frame(data, spec)  # irregular numbers of waves per person validate as any panel
    from carepaths.missingness import completers

    complete = completers(data, spec, sim.attrition)
    assert (complete.groupby("person").size() == 4).all()
    assert complete["person"].nunique() == (~sim.attrition["dropped_out"]).sum()


def test_without_attrition_the_panel_and_truth_are_unchanged(spec):
    plain = carepaths.simulate(spec, 200, 4, seed=3, mc_persons=100)
    lossy = carepaths.simulate(spec, 200, 4, seed=3, mc_persons=100, missing={"mechanism": "mar", "rate": 0.3})
    pd.testing.assert_frame_equal(plain.data, lossy.complete_data)
    assert plain.effects.equals(lossy.effects)
    again = carepaths.simulate(spec, 200, 4, seed=3, mc_persons=100, missing={"mechanism": "mar", "rate": 0.3})
    pd.testing.assert_frame_equal(again.data, lossy.data)


def test_mar_dropout_depends_on_the_previous_wave_and_mnar_on_the_current_one(spec):
    """MAR: people out of care and less severe at wave t-1 leave at t, so the rows that
    remain are sicker and more often in care than the cohort; MCAR leaves them as they
    were. Tolerance: 400 persons x 4 waves, 30% absent; the MCAR shift is sampling noise
    (SD of a mean of ~1,100 binary rows ~ 0.015), the MAR shift is several times larger."""
    shifts = {}
    for mechanism in ("mcar", "mar", "mnar"):
        sim = carepaths.simulate(spec, 400, 4, seed=3, mc_persons=100, missing={"mechanism": mechanism, "rate": 0.3})
        shifts[mechanism] = sim.data["severity"].mean() - sim.complete_data["severity"].mean()
        full = sim.complete_data.sort_values(["person", "wave"])
        previous = full.groupby("person")["care_use"].shift()
        dropped_at = full.index.isin(full.index.difference(sim.data.index))
        first_gone = dropped_at & ~pd.Series(dropped_at, index=full.index).groupby(full["person"]).shift(fill_value=False)
        if mechanism == "mar":
            # those who leave at t were less often in care at t - 1 than those who stay
            stay = ~dropped_at & previous.notna().to_numpy()
            assert previous[first_gone].mean() < previous[stay].mean() - 0.1
    assert abs(shifts["mcar"]) < 0.5  # severity's SD is 5 points: a tenth of an SD
    assert shifts["mar"] > 0.5 and shifts["mnar"] > 0.5


@pytest.mark.parametrize(("missing", "match"), [
    ({"mechanism": "random", "rate": 0.2}, r"missing\['mechanism'\] must be one of"),
    ({"mechanism": "mar", "rate": 0.95}, r"missing\['rate'\] must be the share of person-waves absent"),
    ({"mechanism": "mar"}, r"missing\['rate'\]"),
    ({"mechanism": "mar", "rate": 0.2, "on": ["age_group"]}, r"missing\['on'\] names \['age_group'\]"),
    ({"mechanism": "mar", "rate": 0.2, "drop": 1}, r"unknown key\(s\) \['drop'\]"),
])
def test_bad_attrition_settings_are_refused(spec, missing, match):
    with pytest.raises(SimulationError, match=match):
        carepaths.simulate(spec, 50, 3, seed=1, mc_persons=20, missing=missing)


def test_irregular_and_non_consecutive_waves_are_a_panel_like_any_other(spec):
    """Persons with 1-4 waves, some with gaps (waves 1, 3, 4): the Panel groups rows by
    person, the model's integrated person likelihood uses each person's rows, whatever
    their number, and it equals the same rows in another order (rows are never taken by
    position)."""
    frame = carepaths.simulate(spec, 60, 4, seed=5, mc_persons=50).data
    rng = np.random.default_rng(0)
    frame = frame.drop(index=rng.choice(frame.index, size=70, replace=False))  # gaps anywhere
    sizes = frame.groupby("person").size()
    assert sizes.min() < 4 and sizes.max() == 4
    gaps = frame.groupby("person")["wave"].apply(lambda w: (np.diff(np.sort(w)) > 1).any())
    assert gaps.any()  # some persons skip a wave
    panel = Panel.from_frame(frame, spec)
    shuffled = Panel.from_frame(frame.sample(frac=1.0, random_state=1), spec)
    values = []
    for p in (panel, shuffled):
        model = carepaths.MediationModel(spec, p).model
        point = {k: v + 0.1 for k, v in model.initial_point().items()}
        values.append(float(model.compile_logp()(point)))
    assert np.isfinite(values[0]) and values[0] == pytest.approx(values[1], rel=1e-10)
