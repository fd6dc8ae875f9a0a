"""Bad specs and bad data (issue 13): refused with the package's error, never a number.

Every case asserts the error class and that the message names the key, column, row or path
at fault (and, where one applies, the fix). Every data case that a CSV file can carry is
also run through ``carepaths validate SPEC DATA.csv``: exit code 2, one line on standard
error, no traceback.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tomli_w

import carepaths
from carepaths import DataError, Panel, Spec, SpecError
from carepaths.cli import EXIT_BAD_INPUT, main
from carepaths.spec import RESERVED_STAGE_NAMES, Paradox

LONG = "x" * 100_000


# ----------------------------------------------------------------------------- helpers
def _walk(d: Any, path: str) -> tuple[Any, Any]:
    """The container holding ``path`` ("a.b[2].c") and the last key."""
    parts: list[Any] = []
    for piece in path.split("."):
        name, *idx = piece.replace("]", "").split("[")
        if name:
            parts.append(name)
        parts += [int(i) for i in idx]
    for key in parts[:-1]:
        d = d[key]
    return d, parts[-1]


def put(path: str, value: Any) -> Callable[[dict], None]:
    def change(d: dict) -> None:
        holder, key = _walk(d, path)
        holder[key] = value
    return change


def drop(path: str) -> Callable[[dict], None]:
    def change(d: dict) -> None:
        holder, key = _walk(d, path)
        del holder[key]
    return change


def both(*changes: Callable[[dict], None]) -> Callable[[dict], None]:
    def change(d: dict) -> None:
        for c in changes:
            c(d)
    return change


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == EXIT_BAD_INPUT, err
    assert "Traceback" not in err, err
    assert err.count("\n") == 1 and err.startswith("carepaths: error: "), err
    for needle in needles:
        assert needle in err, err


def _message(exc_type: type[Exception], call: Callable[[], Any], *needles: str) -> str:
    with pytest.raises(exc_type) as err:
        call()
    text = str(err.value)
    assert "\n" not in text, text  # one line on the command line
    assert len(text) < 2_000, text[:300]  # no name or value echoed whole
    for needle in needles:
        assert needle in text, text
    return text


# ================================================================================ SPEC
SINGLE = "single_mediator"
DEFAULT = "five_mechanisms"
NAN, INF = math.nan, math.inf

SPEC_CASES = [
    # (shipped spec to start from, change, what the message must say)
    # -- reserved stage names: they collide with the effects' 'pooled' and the checks' 'all' rows
    pytest.param(DEFAULT, put("stages[1]", "pooled"), ["stages[1]", "'pooled'", "Reserved stage names: all, pooled"], id="stage-pooled"),
    pytest.param(DEFAULT, put("stages[2]", "all"), ["stages[2]", "'all'", "Reserved stage names"], id="stage-all"),
    pytest.param(DEFAULT, put("stages[0]", " ALL "), ["stages[0]", "reserves"], id="stage-all-case-and-space"),
    # -- empty and blank names, anywhere
    pytest.param(DEFAULT, put("stages[1]", ""), ["stages[1]", "empty or blank name"], id="stage-empty"),
    pytest.param(DEFAULT, put("stages[1]", "   "), ["stages[1]", "empty or blank name"], id="stage-blank"),
    pytest.param(DEFAULT, put("mediators[0].name", ""), ["mediators[0].name", "non-empty string"], id="mediator-empty"),
    pytest.param(DEFAULT, put("exposure.name", " \t "), ["exposure.name", "only whitespace"], id="exposure-blank"),
    pytest.param(DEFAULT, put("outcome.name", ""), ["outcome.name", "non-empty"], id="outcome-empty"),
    pytest.param(DEFAULT, put("confounders[2].levels", ["no", " "]), ["confounders[2].levels[1]", "blank"], id="level-blank"),
    pytest.param(DEFAULT, put("confounders[0].name", " "), ["confounders[0].name", "non-empty"], id="confounder-blank"),
    pytest.param(DEFAULT, put("columns.person", ""), ["columns.person", "non-empty"], id="column-empty"),
    pytest.param(DEFAULT, put("description", ""), ["'description'", "or remove the key"], id="description-empty"),
    pytest.param(DEFAULT, put("mediator_edges", [["", "attitudes"]]), ["mediator_edges[0]", "empty name"], id="edge-empty"),
    pytest.param(DEFAULT, put("unmeasured_confounding", [["support", " "]]), ["unmeasured_confounding[0]", "empty name"], id="latent-blank"),
    # -- names that differ only in surrounding whitespace
    pytest.param(DEFAULT, put("stages", ["crisis", "crisis ", "maintenance"]), ["'stages'", "'crisis' and 'crisis '", "surrounding whitespace"], id="stages-whitespace-twins"),
    pytest.param(DEFAULT, put("confounders[2].levels", ["no", "no "]), ["confounders[2].levels", "surrounding whitespace"], id="levels-whitespace-twins"),
    pytest.param(DEFAULT, put("mediators[0].name", "support "), ["exposure.name", "mediators[0].name", "surrounding whitespace", "str.strip()"], id="columns-whitespace-twins"),
    # -- non-finite numbers (nan and inf are valid TOML)
    pytest.param(DEFAULT, put("exposure.contrast.size", NAN), ["exposure.contrast.size", "finite", "nan"], id="size-nan"),
    pytest.param(DEFAULT, put("exposure.contrast.size", INF), ["exposure.contrast.size", "finite"], id="size-inf"),
    pytest.param(DEFAULT, put("exposure.contrast.size", 10**400), ["exposure.contrast.size", "too large for a float"], id="size-huge-integer"),
    pytest.param(DEFAULT, put("exposure.contrast", {"kind": "values", "low": NAN, "high": 1.0}), ["exposure.contrast.low", "finite"], id="low-nan"),
    pytest.param(DEFAULT, put("exposure.contrast", {"kind": "values", "low": 0.0, "high": -INF}), ["exposure.contrast.high", "finite"], id="high-minus-inf"),
    pytest.param(DEFAULT, put("exposure.contrast", {"kind": "values", "low": -1e308, "high": 1e308}), ["exposure.contrast", "too far apart"], id="low-high-overflow"),
    pytest.param(DEFAULT, put("priors", {"a": {"distribution": "Normal", "params": {"mu": NAN, "sigma": 1.0}}}), ["priors.a", "'mu'", "finite"], id="prior-nan"),
    # -- names carepaths uses itself
    pytest.param(DEFAULT, put("confounders[0].name", "carepaths_missing:x"), ["confounders[0].name", "reserves"], id="column-carepaths-prefix"),
    pytest.param(DEFAULT, put("mediators[4].name", "U[a,b]"), ["mediators[4].name", "'U['"], id="mediator-latent-prefix"),
    pytest.param(DEFAULT, put("confounders[1]", {"name": "prior_care[yes]"}), ["confounders[2]", "'prior_care[yes]'", "confounders[1]"], id="confounder-term-collision"),
    pytest.param(DEFAULT, put("mediators[0]", {"name": "normal", "family": "bernoulli"}), ["mediators[0].name", "M_normal", "Rename"], id="mediator-named-normal"),
    # -- missing keys get an example
    pytest.param(DEFAULT, put("mediators[0].family", "ordinal"), ["mediators[0].categories", "e.g. categories = [1, 2, 3, 4]"], id="ordinal-no-categories"),
    pytest.param(DEFAULT, drop("confounders[2].levels"), ["confounders[2].levels", 'e.g. levels = ["no", "yes"]'], id="categorical-no-levels"),
    pytest.param(DEFAULT, drop("confounders[2].reference"), ["confounders[2].reference", "e.g. reference = 'no'"], id="categorical-no-reference"),
    pytest.param(DEFAULT, put("confounders[2].levels", ["no"]), ["confounders[2].levels", "at least 2", "remove it"], id="categorical-one-level"),
    # -- [paradox]
    pytest.param(SINGLE, put("paradox", {"raises_in": "a", "lowers_in": "b"}), ["'paradox'", "no stages", "remove the [paradox] table"], id="paradox-without-stages"),
    pytest.param(DEFAULT, put("paradox.lowers_in", "recovry"), ["paradox.lowers_in", "'recovry'", "Did you mean 'recovery'?"], id="paradox-unknown-stage"),
    pytest.param(DEFAULT, put("paradox.lowers_in", "crisis"), ["'paradox'", "both 'crisis'", "two different stages"], id="paradox-same-stage"),
    pytest.param(DEFAULT, drop("paradox.lowers_in"), ["paradox.lowers_in", "required", "e.g. lowers_in = 'recovery'"], id="paradox-missing-key"),
    pytest.param(DEFAULT, put("paradox.raise_in", "crisis"), ["paradox.raise_in", "Did you mean 'raises_in'?"], id="paradox-unknown-key"),
    pytest.param(DEFAULT, put("paradox", "crisis"), ["'paradox'", "must be a table"], id="paradox-not-a-table"),
    pytest.param(DEFAULT, put("paradox.raises_in", ""), ["paradox.raises_in", "non-empty"], id="paradox-empty-stage"),
    # -- long names are cut in messages, not echoed whole
    pytest.param(DEFAULT, put("mediator_edges", [[LONG, "attitudes"]]), ["mediator_edges[0]", "(100,000 characters)"], id="long-name-edge"),
    pytest.param(DEFAULT, put(LONG, 1), ["unknown spec key", "(100,000 characters)"], id="long-unknown-key"),
    pytest.param(DEFAULT, put("outcome.family", LONG), ["outcome.family", "(100,000 characters)"], id="long-family"),
    pytest.param(DEFAULT, put("priors", {LONG: {"distribution": "Normal"}}), ["unknown prior name", "(100,000 characters)"], id="long-prior-name"),
    pytest.param(DEFAULT, put("paradox.raises_in", LONG), ["paradox.raises_in", "(100,000 characters)"], id="long-paradox-stage"),
    pytest.param(DEFAULT, put("stages[0]", LONG + " "), ["'crisis'", "(100,001 characters)"], id="long-stage-name"),
]


@pytest.mark.parametrize(("start", "change", "needles"), SPEC_CASES)
def test_bad_spec_is_refused_naming_the_key(start, change, needles):
    d = copy.deepcopy(carepaths.load_spec(start).to_dict())
    change(d)
    _message(SpecError, lambda: Spec.from_dict(d), *needles)


def test_spec_that_is_not_a_table():
    _message(SpecError, lambda: Spec.from_dict([1, 2]), "the spec must be a table")  # type: ignore[arg-type]


def test_reserved_stage_names_are_the_labels_the_answers_use():
    from carepaths.checks.predictive import ALL
    from carepaths.counterfactual.population import POOLED

    assert {POOLED, ALL} <= set(RESERVED_STAGE_NAMES)
    assert carepaths.load_spec(SINGLE).stage_levels == (ALL,)


# ----------------------------------------------------------------------- spec files
GOOD_TOML = carepaths.load_spec(SINGLE).to_toml()


def test_spec_file_not_utf8_names_path_and_byte(tmp_path):
    path = tmp_path / "latin1.toml"
    text = GOOD_TOML.replace('name = "single_mediator"', 'name = "café"')
    path.write_bytes(text.encode("latin-1"))
    at = text.encode("latin-1").index(b"\xe9")
    _message(SpecError, lambda: carepaths.load_spec(path), str(path), "not UTF-8", f"byte {at}", "0xe9")


def test_spec_file_with_a_utf8_bom_loads(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD_TOML.encode())
    assert carepaths.load_spec(path) == carepaths.load_spec(SINGLE)


def test_spec_path_that_is_a_directory(tmp_path):
    folder = tmp_path / "specs.toml"
    folder.mkdir()
    _message(SpecError, lambda: carepaths.load_spec(folder), str(folder), "is a directory")
    _message(SpecError, lambda: carepaths.load_spec(tmp_path), "is a directory")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "+nan"])
def test_spec_file_with_non_finite_number_names_file_and_key(tmp_path, value):
    path = tmp_path / "nan.toml"
    path.write_text(carepaths.load_spec(DEFAULT).to_toml().replace("size = 1.0", f"size = {value}"))
    _message(SpecError, lambda: carepaths.load_spec(path), str(path), "exposure.contrast.size", "finite")


def test_spec_file_invalid_toml_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("exposure = {name = ")
    _message(SpecError, lambda: carepaths.load_spec(path), str(path), "not valid TOML")


def test_very_long_spec_path_is_cut(tmp_path):
    _message(SpecError, lambda: carepaths.load_spec(LONG), "no shipped spec", "(100,000 characters)")
    _message(SpecError, lambda: carepaths.load_spec("y" * 5000 + ".toml"), "spec file", "characters)")


def test_spec_argument_of_the_wrong_type():
    _message(SpecError, lambda: carepaths.load_spec(123), "int", "five_mechanisms")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"\xff\xfe" + GOOD_TOML.encode("utf-16-le"), "not UTF-8"),
        (GOOD_TOML.replace("[exposure]", '[exposure]\nnam = "x"').encode(), "exposure.nam"),
        (tomli_w.dumps({**carepaths.load_spec(SINGLE).to_dict(), "columns": {"stage": "s"}, "stages": ["a", "pooled"]}).encode(), "stages[1]"),
    ],
    ids=["utf16", "unknown-key", "reserved-stage"],
)
def test_bad_spec_file_through_the_cli(tmp_path, content, needle):
    spec = tmp_path / "bad.toml"
    spec.write_bytes(content)
    data = tmp_path / "d.csv"
    data.write_text("a\n1\n")
    code, _, err = run_cli(["validate", str(spec), str(data)])
    assert_one_line_error(code, err, needle, str(spec))


def test_spec_directory_through_the_cli(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("a\n1\n")
    code, _, err = run_cli(["validate", str(tmp_path), str(data)])
    assert_one_line_error(code, err, "is a directory")


# ----------------------------------------------------------------------- [paradox]
def test_paradox_is_read_validated_and_round_trips():
    spec = carepaths.load_spec(DEFAULT)
    assert spec.paradox == Paradox(raises_in="crisis", lowers_in="recovery")
    assert spec.to_dict()["paradox"] == {"raises_in": "crisis", "lowers_in": "recovery"}
    assert Spec.from_dict(spec.to_dict()) == spec
    assert Spec.from_toml(spec.to_toml()) == spec
    assert "Paradox tested: support raises care_use in crisis and lowers it in recovery" in spec.describe()
    with pytest.raises(AttributeError):
        spec.paradox.raises_in = "recovery"  # type: ignore[misc, union-attr]


def test_paradox_is_optional_and_absent_from_the_dict():
    for name in (SINGLE,):
        spec = carepaths.load_spec(name)
        assert spec.paradox is None
        assert "paradox" not in spec.to_dict() and "[paradox]" not in spec.to_toml()
        assert "Paradox" not in spec.describe()


def test_paradox_may_name_any_two_stages_in_either_order():
    d = carepaths.load_spec(DEFAULT).to_dict()
    d["paradox"] = {"raises_in": "maintenance", "lowers_in": "crisis"}
    spec = Spec.from_dict(d)
    assert (spec.paradox.raises_in, spec.paradox.lowers_in) == ("maintenance", "crisis")  # type: ignore[union-attr]
    assert Spec.from_toml(spec.to_toml()) == spec


# ================================================================================ DATA
@dataclass
class Case:
    """The default frame and spec dict (fresh copies), and the visits ones, to break."""

    frame: pd.DataFrame
    spec: dict
    visits_frame: pd.DataFrame
    visits_spec: dict


def _const_conf(c):
    c.frame["age"] = 40.0
    return c.frame, c.spec


def _const_normal_outcome(c):
    c.spec["outcome"]["family"] = "normal"
    c.frame["care_use"] = 2.0
    return c.frame, c.spec


def _huge_exposure(c):
    c.frame.loc[5, "support"] = 1e300
    return c.frame, c.spec


def _huge_count(c):
    c.visits_frame["visits"] = c.visits_frame["visits"].astype("uint64")
    c.visits_frame.loc[3, "visits"] = 10**19
    return c.visits_frame, c.visits_spec


def _huge_count_float(c):
    c.visits_frame["visits"] = c.visits_frame["visits"].astype(float)
    c.visits_frame.loc[7, "visits"] = 2.0**60
    return c.visits_frame, c.visits_spec


def _near_constant(c):
    c.frame["severity"] = 1.0 + np.resize([0.0, 2.220446049250313e-16], len(c.frame))
    return c.frame, c.spec


def _mediator_sd_overflows(c):
    c.frame["encouragement"] = np.resize([1e200, -1e200, 0.0], len(c.frame))
    return c.frame, c.spec


def _constant_bernoulli_outcome(c):
    c.frame["care_use"] = 0
    return c.frame, c.spec


def _one_observed_level(c):
    c.frame["prior_care"] = "no"
    return c.frame, c.spec


def _mediator_constant_within_stages(c):
    c.frame["confidence"] = c.frame["stage"].map({"crisis": 1.0, "recovery": 2.0, "maintenance": 3.0})
    return c.frame, c.spec


def _exposure_constant_within_stages(c):
    c.frame["support"] = c.frame["stage"].map({"crisis": 10.0, "recovery": 20.0, "maintenance": 30.0})
    return c.frame, c.spec


def _outcome_constant_within_stages(c):
    c.frame["care_use"] = (c.frame["stage"] == "crisis").astype(int)
    return c.frame, c.spec


def _mediator_constant_in_one_stage(c):
    c.frame.loc[c.frame["stage"] == "maintenance", "attitudes"] = 0.5
    return c.frame, c.spec


def _no_rows(c):
    return c.frame.iloc[0:0], c.spec


def _duplicate_columns(c):
    return pd.concat([c.frame, c.frame[["age"]] + 1], axis=1), c.spec


def _mixed_person_ids(c):
    c.frame["person"] = c.frame["person"].astype(object)
    c.frame.loc[3, "person"] = str(c.frame.loc[3, "person"])
    return c.frame, c.spec


def _mixed_stage_labels(c):
    c.spec["stages"] = ["1", "recovery", "maintenance"]
    c.spec["paradox"]["raises_in"] = "1"
    c.frame["stage"] = c.frame["stage"].astype(object).replace({"crisis": "1"})
    c.frame.loc[c.frame.index[c.frame["stage"] == "1"][:2], "stage"] = 1
    return c.frame, c.spec


def _mixed_cluster_ids(c):
    c.spec["columns"]["cluster"] = "clinic"
    c.frame["clinic"] = (c.frame["person"] % 4).astype(object)
    c.frame.loc[c.frame["clinic"] == 2, "clinic"] = "2"
    return c.frame, c.spec


def _mixed_wave(c):
    c.frame["wave"] = c.frame["wave"].astype(object)
    c.frame.loc[9, "wave"] = "2"
    return c.frame, c.spec


def _undeclared_text_confounder(c):
    c.spec["confounders"].append({"name": "sex"})
    c.frame["sex"] = np.resize(["m", "f", "f"], len(c.frame))
    return c.frame, c.spec


def _numbers_as_text(c):
    c.frame["age"] = c.frame["age"].round(1).astype(str)
    return c.frame, c.spec


def _exposure_labels(c):
    c.frame["support"] = np.resize(["low", "high"], len(c.frame))
    return c.frame, c.spec


def _mediator_labels(c):
    c.frame["alt_coping"] = np.resize(["never", "sometimes", "often"], len(c.frame))
    return c.frame, c.spec


def _wave_labels(c):
    c.frame["wave"] = c.frame["wave"].map(lambda w: f"wave {w}")
    return c.frame, c.spec


def _stage_label_with_space(c):
    c.frame["stage"] = c.frame["stage"].astype(object)
    c.frame.loc[[2, 11], "stage"] = "recovery "
    return c.frame, c.spec


def _person_ids_with_space(c):
    c.frame["person"] = "p" + c.frame["person"].astype(str)
    c.frame.loc[0, "person"] = c.frame.loc[0, "person"] + " "
    return c.frame, c.spec


def _one_row_per_person(c):
    return c.frame.drop_duplicates("person").reset_index(drop=True), c.spec


def _centring_without_within_variation(c):
    c.spec["structure"]["center_exposure_within_person"] = True
    c.frame["support"] = c.frame.groupby("person")["support"].transform("first")
    return c.frame, c.spec


def _complex_exposure(c):
    c.frame["support"] = c.frame["support"].astype(complex)
    return c.frame, c.spec


def _dates_as_confounder(c):
    c.frame["age"] = pd.Timestamp("2000-01-01") + pd.to_timedelta(np.arange(len(c.frame)), unit="D")
    return c.frame, c.spec


def _column_name_with_space(c):
    return c.frame.rename(columns={"age": " age"}), c.spec


def _one_row(c):
    return c.frame.iloc[:1], c.spec


def _long_column_name(c):
    c.spec["confounders"].append({"name": LONG})
    return c.frame, c.spec


def _long_text_values(c):
    c.frame["support"] = c.frame["support"].astype(object)
    c.frame.loc[4, "support"] = LONG
    return c.frame, c.spec


DATA_CASES = [
    # (build, what the message must say, whether a CSV file can carry the case)
    pytest.param(_const_conf, ["'age'", "is constant", "adjusts for nothing", "remove it from the spec"], True, id="constant-confounder"),
    pytest.param(_const_normal_outcome, ["'care_use'", "is constant", "outcome"], True, id="constant-normal-outcome"),
    pytest.param(_huge_exposure, ["'support'", "rows 5", "SD overflows", "rescale"], True, id="exposure-1e300"),
    pytest.param(_huge_count, ["'visits'", "rows 3", "2**53", "10000000000000000000"], True, id="count-1e19-uint64"),
    pytest.param(_huge_count_float, ["'visits'", "rows 7", "2**53"], True, id="count-2**60-float"),
    pytest.param(_near_constant, ["'severity'", "floating-point error"], True, id="near-constant"),
    pytest.param(_mediator_sd_overflows, ["'encouragement'", "SD overflows"], True, id="mediator-sd-overflows"),
    pytest.param(_constant_bernoulli_outcome, ["'care_use'", "is constant", "the outcome"], True, id="constant-bernoulli-outcome"),
    pytest.param(_one_observed_level, ["'prior_care'", "only level 'no'", "['yes'] never occur", "remove it"], True, id="categorical-one-observed-level"),
    pytest.param(_mediator_constant_within_stages, ["'confidence'", "constant within every stage", "crisis: 1.0", "residual SD would be 0"], True, id="mediator-constant-within-every-stage"),
    pytest.param(_exposure_constant_within_stages, ["'support'", "constant within every stage"], True, id="exposure-constant-within-every-stage"),
    pytest.param(_outcome_constant_within_stages, ["'care_use'", "constant within every stage"], True, id="outcome-constant-within-every-stage"),
    pytest.param(_mediator_constant_in_one_stage, ["'attitudes'", "['maintenance']", "stage_specific_paths = false"], True, id="mediator-constant-in-one-stage"),
    pytest.param(_no_rows, ["no rows"], True, id="no-rows"),
    pytest.param(_duplicate_columns, ["'age'", "more than once"], True, id="duplicate-columns"),
    pytest.param(_mixed_person_ids, ["'person'", "mixes numbers and text", "rows 3", "look alike", "astype(str)"], False, id="mixed-person-ids"),
    pytest.param(_mixed_stage_labels, ["'stage'", "mixes", "1 and '1'"], False, id="mixed-stage-labels"),
    pytest.param(_mixed_cluster_ids, ["'clinic'", "mixes numbers and text", "columns.cluster"], False, id="mixed-cluster-ids"),
    pytest.param(_mixed_wave, ["'wave'", "mixes numbers and text", "rows 9"], False, id="mixed-wave"),
    pytest.param(_undeclared_text_confounder, ["'sex'", "text labels", '[[confounders]] name = "sex" kind = "categorical" levels = ["f", "m"] reference = "f"'], True, id="text-confounder-not-declared"),
    pytest.param(_numbers_as_text, ["'age'", "numbers stored as text", "pd.to_numeric(df['age'])", "does not coerce"], False, id="numbers-stored-as-text"),
    pytest.param(_exposure_labels, ["'support'", "text labels", 'kind = "binary"'], True, id="exposure-text-labels"),
    pytest.param(_mediator_labels, ["'alt_coping'", "text labels", 'family = "bernoulli"', 'family = "ordinal"'], True, id="mediator-text-labels"),
    pytest.param(_wave_labels, ["'wave'", "text labels", ".map("], True, id="wave-text-labels"),
    pytest.param(_stage_label_with_space, ["'stage'", "'recovery '", "rows 2, 11", "str.strip()"], True, id="stage-label-whitespace"),
    pytest.param(_person_ids_with_space, ["'person'", "surrounding whitespace", "'p1 '", "rows 0"], True, id="person-ids-whitespace"),
    pytest.param(_one_row_per_person, ["'person'", "one row", 'person_effects = "none"'], True, id="person-effects-one-row-each"),
    pytest.param(_centring_without_within_variation, ["'support'", "never varies within a person", "center_exposure_within_person"], True, id="centring-no-within-variation"),
    pytest.param(_complex_exposure, ["'support'", "complex"], False, id="complex-numbers"),
    pytest.param(_dates_as_confounder, ["'age'", "dates"], False, id="dates"),
    pytest.param(_column_name_with_space, ["'age'", "' age'", "str.strip()"], True, id="column-name-whitespace"),
    pytest.param(_one_row, ["1 row(s)"], True, id="one-row"),
    pytest.param(_long_column_name, ["missing column(s)", "(100,000 characters)"], True, id="long-column-name"),
    pytest.param(_long_text_values, ["'support'", "rows 4", "(100,000 characters)"], False, id="long-value"),
]


@pytest.fixture(scope="module")
def visits():
    spec = carepaths.load_spec("visits")
    return spec, carepaths.simulate(spec, 60, 3, seed=3, mc_persons=200).data


@pytest.fixture()
def case(frame, spec_dict, visits):
    spec, data = visits
    return Case(frame, spec_dict, data.copy(), copy.deepcopy(spec.to_dict()))


@pytest.mark.parametrize(("build", "needles", "csv"), DATA_CASES)
def test_bad_data_is_refused_naming_the_column(case, build, needles, csv):
    df, d = build(case)
    spec = Spec.from_dict(d)  # the spec itself is valid: the data are at fault
    _message(DataError, lambda: Panel.from_frame(df, spec), *needles)


@pytest.mark.parametrize(("build", "needles", "csv"), [p for p in DATA_CASES if p.values[2]])
def test_bad_data_through_the_cli(case, build, needles, csv, tmp_path):
    df, d = build(case)
    spec_path, data_path = tmp_path / "spec.toml", tmp_path / "data.csv"
    spec_path.write_text(Spec.from_dict(d).to_toml())
    df.to_csv(data_path, index=False)
    code, out, err = run_cli(["validate", str(spec_path), str(data_path)])
    assert_one_line_error(code, err, needles[0])
    assert out == ""


def test_bad_data_cases_are_distinct_and_many():
    ids = [p.id for p in DATA_CASES] + [p.id for p in SPEC_CASES]
    assert len(set(ids)) == len(ids) and len(ids) >= 40


def test_dropna_that_leaves_too_few_rows_says_so(frame, default_spec):
    frame.loc[frame.index[1:], "severity"] = np.nan
    with pytest.warns(carepaths.DroppedRowsWarning):
        _message(DataError, lambda: Panel.from_frame(frame, default_spec, dropna=True), "1 row(s) left after dropping rows with missing values")


def test_the_last_guard_names_the_column_of_a_non_finite_model_value(frame, default_spec):
    from carepaths.data import _check_finite

    panel = Panel.from_frame(frame, default_spec)
    panel.dataset["C"].values[7, 2] = np.nan  # prior_care[yes]
    _message(DataError, lambda: _check_finite(panel), "column 'prior_care'", "(C)", "rows 7")
    panel = Panel.from_frame(frame, default_spec)
    panel.dataset["X"].values[3] = np.inf
    _message(DataError, lambda: _check_finite(panel), "column 'support'", "rows 3")


def test_good_data_still_pass_and_every_model_array_is_finite(frame, default_spec, visits):
    for spec, df in ((default_spec, frame), visits):
        ds = Panel.from_frame(df, spec).dataset
        for var in ("X", "M", "Y", "C"):
            assert np.isfinite(ds[var].values.astype(float)).all()


def test_integer_stage_codes_matching_text_stages_still_pass(frame, spec_dict):
    # one type throughout is fine, even if it is numbers compared with text stage names
    spec_dict["stages"] = ["1", "2", "3"]
    spec_dict["paradox"] = {"raises_in": "1", "lowers_in": "2"}
    frame["stage"] = frame["stage"].map({"crisis": 1, "recovery": 2, "maintenance": 3})
    panel = Panel.from_frame(frame, Spec.from_dict(spec_dict))
    expected = frame["stage"].value_counts().sort_index().to_numpy()
    np.testing.assert_array_equal(panel.stage_counts().to_numpy(), expected)
    np.testing.assert_array_equal(panel.summary()["rows"].to_numpy(), expected)
