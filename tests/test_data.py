"""Panel validation: the model-ready arrays, and one test per bad-data case."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import carepaths
from carepaths import DataError, DroppedRowsWarning, Panel, Spec


# ---------------------------------------------------------------------- good data
def test_panel_holds_model_scale_arrays(frame, default_spec):
    panel = Panel.from_frame(frame, default_spec)
    ds = panel.dataset
    assert ds.sizes == {"obs": len(frame), "mediator": 5, "confounder": 3}
    assert set(ds.coords) >= {"person", "wave", "stage", "mediator", "confounder"}
    # standardised exposure and normal mediators; constants kept for original units
    np.testing.assert_allclose(float(ds["X"].mean()), 0.0, atol=1e-12)
    np.testing.assert_allclose(float(ds["X"].std(ddof=1)), 1.0, rtol=1e-12)
    s = panel.scaling["support"]
    np.testing.assert_allclose(s.to_original(ds["X"].values), frame["support"].values)
    # categorical confounder treatment-coded against its reference, then centred
    indicator = (frame["prior_care"] == "yes").to_numpy(float)
    np.testing.assert_allclose(
        ds["C"].sel(confounder="prior_care[yes]").values, indicator - indicator.mean()
    )
    assert panel.scaling["prior_care[yes]"].loc == pytest.approx(indicator.mean())
    # integer codes follow the spec's stage order and first appearance of persons
    order = {s: i for i, s in enumerate(default_spec.stages)}
    np.testing.assert_array_equal(ds["stage_idx"].values, frame["stage"].map(order).to_numpy())
    assert panel.n_persons == frame["person"].nunique()
    assert ds["person_idx"].values.max() == panel.n_persons - 1


def test_within_between_split(frame, spec_dict):
    spec_dict["structure"]["center_exposure_within_person"] = True
    panel = Panel.from_frame(frame, Spec.from_dict(spec_dict))
    ds = panel.dataset
    np.testing.assert_allclose(ds["X_within"] + ds["X_between"], ds["X"])
    by_person = pd.Series(ds["X_within"].values).groupby(ds["person_idx"].values).mean()
    np.testing.assert_allclose(by_person.to_numpy(), 0.0, atol=1e-12)


def test_ordinal_mediator_is_coded_from_zero(frame, spec_dict):
    spec_dict["mediators"][0] = {"name": "encouragement", "family": "ordinal", "categories": [1, 2, 3, 4]}
    frame["encouragement"] = np.resize([1, 2, 3, 4], len(frame))
    panel = Panel.from_frame(frame, Spec.from_dict(spec_dict))
    codes = panel.dataset["M"].sel(mediator="encouragement").values
    np.testing.assert_array_equal(codes, frame["encouragement"].to_numpy() - 1)


def test_dropna_drops_and_reports(frame, default_spec):
    frame.loc[[3, 7], "severity"] = np.nan
    with pytest.warns(DroppedRowsWarning, match=r"dropped 2 of .*'severity': 2"):
        panel = Panel.from_frame(frame, default_spec, dropna=True)
    assert panel.n_obs == len(frame) - 2
    assert list(panel.dropped.index) == [3, 7]


def test_jobs_data_fits_the_single_mediator_spec(request):
    from conftest import SHARED_DATA

    path = SHARED_DATA / "jobs.csv"
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (it ships in ../shared/data only)")
    jobs = pd.read_csv(path)
    panel = Panel.from_frame(jobs, carepaths.load_spec("single_mediator"))
    assert panel.n_obs == 899
    # 4 numeric + (7-1) + (5-1) + (2-1) + (5-1) + (5-1) treatment-coded columns
    assert panel.dataset.sizes["confounder"] == 4 + 6 + 4 + 1 + 4 + 4


# ---------------------------------------------------------------------- bad data
def _raises(frame, spec, *needles, **kw):
    with pytest.raises(DataError) as err:
        Panel.from_frame(frame, spec, **kw)
    for needle in needles:
        assert needle in str(err.value), str(err.value)
    return str(err.value)


def test_missing_column_suggests_closest(frame, default_spec):
    frame = frame.rename(columns={"discouragement": "discouragment"})
    _raises(frame, default_spec, "missing column(s) ['discouragement']", "discouragment")


def test_non_numeric_values(frame, default_spec):
    frame["support"] = frame["support"].astype(object)
    frame.loc[5, "support"] = "high"
    _raises(frame, default_spec, "column 'support' must be numeric", "'high'", "rows 5")


def test_numbers_stored_as_text_are_not_coerced(frame, default_spec):
    frame["age"] = frame["age"].astype(str)
    _raises(frame, default_spec, "column 'age' must be numeric", "does not coerce")


def test_nan_is_counted_and_located(frame, default_spec):
    frame.loc[[2, 9, 30], "confidence"] = np.nan
    _raises(frame, default_spec, "'confidence': 3 missing", "rows 2, 9, 30", "dropna=True")


def test_inf_is_located(frame, default_spec):
    frame.loc[4, "attitudes"] = np.inf
    _raises(frame, default_spec, "column 'attitudes'", "infinite", "rows 4")


def test_inf_is_not_dropped_by_dropna(frame, default_spec):
    frame.loc[4, "attitudes"] = -np.inf
    _raises(frame, default_spec, "infinite", dropna=True)


def test_stage_label_not_in_spec(frame, default_spec):
    frame.loc[[0, 1], "stage"] = "remission"
    _raises(frame, default_spec, "column 'stage'", "['remission']", "rows 0, 1")


def test_binary_outcome_not_zero_one(frame, default_spec):
    frame.loc[6, "care_use"] = 2
    _raises(frame, default_spec, "column 'care_use'", "0 and 1", "rows 6")


def test_binary_exposure_not_zero_one(frame, spec_dict):
    spec_dict["exposure"] = {"name": "support", "kind": "binary"}
    _raises(frame, Spec.from_dict(spec_dict), "column 'support'", "binary exposure")


def test_bernoulli_mediator_not_zero_one(frame, spec_dict):
    spec_dict["mediators"][2]["family"] = "bernoulli"
    _raises(frame, Spec.from_dict(spec_dict), "column 'discouragement'", "bernoulli mediator")


def test_negative_count(spec_dict):
    spec = carepaths.load_spec("visits")
    df = carepaths.simulate(spec, 60, 3, seed=3, mc_persons=200).data
    df.loc[8, "visits"] = -1
    _raises(df, spec, "column 'visits'", "non-negative integers", "rows 8")


def test_non_integer_count():
    spec = carepaths.load_spec("visits")
    df = carepaths.simulate(spec, 60, 3, seed=3, mc_persons=200).data
    df["visits"] = df["visits"].astype(float)
    df.loc[1, "visits"] = 2.5
    _raises(df, spec, "column 'visits'", "2.5")


def test_ordinal_value_outside_categories(frame, spec_dict):
    spec_dict["mediators"][0] = {"name": "encouragement", "family": "ordinal", "categories": [1, 2, 3, 4]}
    frame["encouragement"] = np.resize([1, 2, 3, 4], len(frame))
    frame.loc[3, "encouragement"] = 5
    _raises(frame, Spec.from_dict(spec_dict), "column 'encouragement'", "[5.0]", "rows 3")


def test_duplicate_person_wave(frame, default_spec):
    frame.loc[1, "wave"] = frame.loc[0, "wave"]
    _raises(frame, default_spec, "duplicate (person, wave)", "rows 0, 1")


def test_constant_exposure(frame, default_spec):
    frame["support"] = 3.0
    _raises(frame, default_spec, "column 'support' is constant")


def test_constant_mediator(frame, default_spec):
    frame["alt_coping"] = 0.0
    _raises(frame, default_spec, "column 'alt_coping' is constant")


def test_person_in_two_clusters(frame, spec_dict):
    spec_dict["columns"]["cluster"] = "clinic"
    frame["clinic"] = (frame["person"] % 5).astype(int)
    frame.loc[frame.index[1], "clinic"] = 99
    _raises(frame, Spec.from_dict(spec_dict), "more than one cluster", "'clinic'", "person 1")


def test_stage_with_fewer_than_two_rows(frame, default_spec):
    maint = frame.index[frame["stage"] == "maintenance"]
    frame = frame.drop(maint[1:])
    _raises(frame, default_spec, "fewer than 2 rows", "maintenance")


def test_categorical_level_missing_from_data(frame, default_spec):
    frame["prior_care"] = "no"
    _raises(frame, default_spec, "column 'prior_care'", "['yes']", "never occur")


def test_categorical_value_not_declared(frame, default_spec):
    frame.loc[2, "prior_care"] = "unknown"
    _raises(frame, default_spec, "column 'prior_care'", "'unknown'", "rows 2")


def test_not_a_dataframe(default_spec):
    with pytest.raises(DataError, match="expects a pandas DataFrame"):
        Panel.from_frame({"support": [1, 2]}, default_spec)  # type: ignore[arg-type]


def test_duplicate_index_labels(frame, default_spec):
    frame.index = [0] * len(frame)
    _raises(frame, default_spec, "duplicate labels", "reset_index")
