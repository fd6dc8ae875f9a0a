"""Bad inputs to the answers are refused, never turned into plausible-looking wrong tables.

Every case here once gave a table (NaN estimates with ``P(better) = 0.0``, rows of two
interventions mixed under one name, an error from deep inside NumPy or xarray) or would
give a meaningless one. Each must raise :class:`carepaths.CarepathsError` whose message
names the argument (or key) at fault, before anything is computed. Fits are mocked
(prior draws, no MCMC): every refusal happens before the draws are used.
"""

from __future__ import annotations

import math
import warnings

import pytest
from helpers import mock_fit
from test_effects import _linear_spec

import carepaths
from carepaths import CarepathsError, Intervention
from carepaths.spec import Contrast

NAN, INF = float("nan"), float("inf")


@pytest.fixture(scope="module")
def staged_fit():
    """Normal outcome, two normal mediators, three stages, a person column."""
    return mock_fit(_linear_spec("intercepts"), n_persons=30, draws=40)


@pytest.fixture(scope="module")
def single_fit():
    """The shipped single-mediator spec: a binary exposure, no stages, no person column."""
    return mock_fit(carepaths.load_spec("single_mediator"), n_persons=60, draws=40)


@pytest.fixture(scope="module")
def staged_effects(staged_fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", carepaths.ConvergenceWarning)
        return staged_fit.effects()


# ----------------------------------------------------------------------------- interventions
INTERVENTIONS = [
    ("shift-nan", dict(name="x", target="support", shift=NAN), "shift"),
    ("shift-inf", dict(name="x", target="support", shift=INF), "shift"),
    ("shift-string", dict(name="x", target="support", shift="1"), "shift"),
    ("set-inf", dict(name="x", target="support", set=INF), "set"),
    ("set-nan", dict(name="x", target="support", set=NAN), "set"),
    ("set-list", dict(name="x", target="support", set=[1.0]), "set"),
    ("scale-nan", dict(name="x", target="support", scale=NAN), "scale"),
    ("scale-minus-inf", dict(name="x", target="support", scale=-INF), "scale"),
    ("name-status-quo", dict(name="status quo", target="support", shift=1.0), "status quo"),
    ("name-status-quo-spaced", dict(name="  Status   Quo ", target="support", shift=1.0), "reserved"),
    ("name-empty", dict(name="", target="support", shift=1.0), "name"),
    ("name-whitespace", dict(name="   ", target="support", shift=1.0), "name"),
    ("name-none", dict(name=None, target="support", shift=1.0), "name"),
    ("target-number", dict(name="x", target=3, shift=1.0), "target"),
    ("units-unknown", dict(name="x", target="support", shift=1.0, units="points"), "units"),
    ("units-with-set", dict(name="x", target="support", set=1.0, units="original"), "units"),
    ("stages-numbers", dict(name="x", target="support", shift=1.0, stages=[1, 2]), "stages"),
    ("stages-twice", dict(name="x", target="support", shift=1.0, stages=["crisis", "crisis"]), "stages"),
]


@pytest.mark.parametrize(("kwargs", "names"), [c[1:] for c in INTERVENTIONS], ids=[c[0] for c in INTERVENTIONS])
def test_bad_interventions_are_refused_when_made(kwargs, names):
    with pytest.raises(CarepathsError) as info:
        Intervention(**kwargs)
    assert names.lower() in str(info.value).lower(), str(info.value)


def test_a_status_quo_intervention_cannot_mix_rows_into_the_status_quo(staged_fit):
    """Once it compared silently and its rows were read as the status quo's."""
    with pytest.raises(CarepathsError, match="reserved"):
        staged_fit.compare([Intervention("status quo", "support", shift=1.0)])


# ----------------------------------------------------------------------------- effects
EFFECTS = [
    ("contrast-size-nan", dict(contrast={"kind": "shift_sd", "size": NAN}), "size"),
    ("contrast-size-inf", dict(contrast={"kind": "shift_sd", "size": INF}), "size"),
    ("contrast-object-size-nan", dict(contrast=Contrast(kind="shift_sd", size=NAN)), "size"),
    ("contrast-object-size-zero", dict(contrast=Contrast(kind="shift_sd", size=0.0)), "size"),
    ("contrast-high-inf", dict(contrast={"kind": "values", "low": 0.0, "high": INF}), "high"),
    ("contrast-object-low-nan", dict(contrast=Contrast(kind="values", size=None, low=NAN, high=1.0)), "low"),
    ("contrast-object-kind", dict(contrast=Contrast(kind="log", size=1.0)), "kind"),
    ("contrast-number", dict(contrast=3), "contrast"),
    ("seed-negative", dict(seed=-1), "seed"),
    ("seed-float", dict(seed=1.5), "seed"),
    ("seed-string", dict(seed="1"), "seed"),
    ("seed-bool", dict(seed=True), "seed"),
    ("population-unknown", dict(population="everyone"), "population"),
    ("population-none", dict(population=None), "population"),
    ("scale-unknown", dict(scale="log"), "scale"),
    ("scale-list", dict(scale=["difference"]), "scale"),
    ("by-wave", dict(by="wave"), "by"),
    ("by-list", dict(by=["stage"]), "by"),
    ("estimands-string", dict(estimands="TE"), "estimands"),
    ("estimands-empty", dict(estimands=[]), "estimands"),
    ("estimands-unknown", dict(estimands=["ACME"]), "estimands"),
    ("estimands-twice", dict(estimands=["TE", "TE"]), "estimands"),
    ("estimands-zero-by-construction", dict(estimands=["TE", "interdependence"]), "interdependence"),
]


@pytest.mark.parametrize(("kwargs", "names"), [c[1:] for c in EFFECTS], ids=[c[0] for c in EFFECTS])
def test_bad_effect_arguments_are_refused(staged_fit, kwargs, names):
    with pytest.raises(CarepathsError) as info:
        staged_fit.effects(**kwargs)
    assert names.lower() in str(info.value).lower(), str(info.value)


@pytest.mark.parametrize(
    ("contrast", "names"),
    [({"kind": "values", "low": 0, "high": 2}, "binary"), (Contrast(kind="shift_sd", size=1.0), "binary")],
)
def test_a_binary_exposure_is_contrasted_zero_to_one_only(single_fit, contrast, names):
    with pytest.raises(CarepathsError) as info:
        single_fit.effects(contrast=contrast)
    assert names in str(info.value) and "contrast" in str(info.value).lower()


PROBABILITY = [
    ("stage-missing", ("TE",), {}, "stage"),
    ("stage-unknown", ("TE", "relapse"), {}, "stage"),
    ("effect-unknown", ("ACME", "crisis"), {}, "effect"),
    ("effect-number", (1, "crisis"), {}, "effect"),
    ("mechanism-unknown", ("IIE", "crisis"), {"mechanism": "stigma"}, "mechanism"),
    ("mechanism-missing", ("IIE", "crisis"), {}, "mechanism"),
    ("mechanism-not-iie", ("TE", "crisis"), {"mechanism": "encouragement"}, "mechanism"),
    ("direction", ("TE", "crisis"), {"direction": ">="}, "direction"),
]


@pytest.mark.parametrize(("args", "kwargs", "names"), [c[1:] for c in PROBABILITY], ids=[c[0] for c in PROBABILITY])
def test_bad_probability_questions_are_refused(staged_effects, args, kwargs, names):
    with pytest.raises(CarepathsError) as info:
        staged_effects.probability(*args, **kwargs)
    assert names in str(info.value), str(info.value)


# ----------------------------------------------------------------------------- comparisons
COMPARE = [
    ("better-unknown", dict(better="more"), "better"),
    ("better-none", dict(better=None), "better"),
    ("population-unknown", dict(population="all"), "population"),
    ("seed-negative", dict(seed=-3), "seed"),
    ("seed-float", dict(seed=0.5), "seed"),
    ("interventions-empty", dict(interventions=[]), "interventions"),
    ("interventions-string", dict(interventions="care coordination"), "interventions"),
]


@pytest.mark.parametrize(("kwargs", "names"), [c[1:] for c in COMPARE], ids=[c[0] for c in COMPARE])
def test_bad_comparison_arguments_are_refused(staged_fit, kwargs, names):
    kwargs = {"interventions": [Intervention("more support", "support", shift=0.5)], **kwargs}
    with pytest.raises(CarepathsError) as info:
        staged_fit.compare(**kwargs)
    assert names in str(info.value), str(info.value)


# ----------------------------------------------------------------------------- checks
CHECK = [
    ("draws-one", dict(draws=1), ("draws", "40")),
    ("draws-too-few", dict(draws=39), ("draws", "at least 40")),
    ("draws-zero", dict(draws=0), ("draws",)),
    ("draws-float", dict(draws=2.5), ("draws",)),
    ("draws-too-many", dict(draws=10_000), ("draws",)),
    ("seed-negative", dict(seed=-1), ("seed",)),
    ("seed-string", dict(seed="0"), ("seed",)),
    ("loo-unknown", dict(loo="persons"), ("loo", "person")),
]


@pytest.mark.parametrize(("kwargs", "names"), [c[1:] for c in CHECK], ids=[c[0] for c in CHECK])
def test_bad_check_arguments_are_refused(staged_fit, kwargs, names):
    with pytest.raises(CarepathsError) as info:
        staged_fit.check(**kwargs)
    for name in names:
        assert name in str(info.value), str(info.value)


def test_leave_one_person_out_needs_a_person_column(single_fit):
    with pytest.raises(CarepathsError, match="loo='person' needs a person column.*loo='row'"):
        single_fit.check(loo="person")


def test_the_minimum_is_what_loo_and_the_interval_need():
    """40 = 1 / 0.025 (a draw in each 2.5% tail); PSIS's tail of a fifth needs 25."""
    from carepaths.checks.predictive import FLAG_TAIL, MIN_CHECK_DRAWS

    assert MIN_CHECK_DRAWS == 40 == math.ceil(1 / FLAG_TAIL - 1e-9) and MIN_CHECK_DRAWS >= 25
