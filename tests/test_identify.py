"""Identification: a table of graphs with their expected verdicts, reasons and paths.

Each case names the graph, the effects expected identified (every other effect must not
be), and for chosen effects text the reason and the offending path must contain.
"""

from __future__ import annotations

import subprocess
import sys
import time

import networkx as nx
import pytest

import carepaths
from carepaths import IdentificationError, Spec
from carepaths.causal.graph import CausalGraph
from carepaths.causal.identify import TABLE_COLUMNS, Identification, identify, open_path

pytest.importorskip("dowhy")

ALL = object()  # every effect identified
NONE = frozenset()  # no effect identified


def _spec(mediators=("m",), confounders=("c",), stage=False, **extra) -> Spec:
    d: dict = {
        "exposure": {"name": "x"},
        "mediators": [{"name": m, "family": "normal"} for m in mediators],
        "outcome": {"name": "y", "family": "normal"},
        "confounders": [{"name": c} for c in confounders],
    }
    if stage:
        d["columns"] = {"stage": "s"}
        d["stages"] = ["crisis", "recovery"]
    d.update(extra)
    return Spec.from_dict(d)


def _keys(mediators) -> list[str]:
    return [
        "TE",
        "NDE",
        "NIE",
        *(f"NIE[{m}]" for m in mediators),
        *(f"IIE[{m}]" for m in mediators),
    ]


# name -> (spec factory, identified keys or ALL, {key: (reason needles, path needles)},
#          expected adjustment set of identified effects, expected missing confounders)
CASES = {
    "one mediator": (
        lambda: _spec(),
        ALL,
        {},
        ("c",),
        (),
    ),
    "several mediators, with stage": (
        lambda: _spec(mediators=("m1", "m2", "m3"), confounders=("c1", "c2"), stage=True),
        ALL,
        {},
        ("c1", "c2", "s"),
        (),
    ),
    "ordered mediators (m1 -> m2)": (
        lambda: _spec(mediators=("m1", "m2"), mediator_edges=[["m1", "m2"]]),
        set(_keys(("m1", "m2"))) - {"NIE[m2]"},
        {
            "NIE[m2]": (
                ["exposure-induced", "m1 is affected by x", "confounds m2 and y"],
                ["m2 <- m1 -> y"],
            )
        },
        ("c",),
        (),
    ),
    "exposure-induced mediator-outcome confounder outside the model": (
        lambda: _spec(graph={"edges": [["x", "w"], ["w", "m"], ["w", "y"]]}),
        {"TE"},
        {
            k: (["exposure-induced", "w is affected by x", "confounds m and y"], ["m <- w -> y"])
            for k in ("NDE", "NIE", "NIE[m]", "IIE[m]")
        },
        ("c",),
        (),
    ),
    "unmeasured mediator-outcome confounding": (
        lambda: _spec(mediators=("m1", "m2"), unmeasured_confounding=[["m2", "y"]]),
        {"TE"},
        {
            k: (["unmeasured confounding of m2 and y", "U[m2,y]"], ["m2 <- U[m2,y] -> y"])
            for k in ("NDE", "NIE", "NIE[m1]", "IIE[m1]", "IIE[m2]")
        },
        ("c",),
        (),
    ),
    "unmeasured exposure-outcome confounding": (
        lambda: _spec(unmeasured_confounding=[["x", "y"]]),
        NONE,
        {
            k: (["unmeasured confounding of x and y", "U[x,y]"], ["x <- U[x,y] -> y"])
            for k in _keys(("m",))
        },
        (),
        (),
    ),
    "unmeasured exposure-mediator confounding": (
        lambda: _spec(unmeasured_confounding=[["x", "m"]]),
        NONE,
        {
            "TE": (["unmeasured confounding of x and y", "U[x,m]"], ["x <- U[x,m] -> m -> y"]),
            "NIE": (
                ["unmeasured confounding of x and m", "exposure-mediator"],
                ["x <- U[x,m] -> m"],
            ),
            "IIE[m]": (["unmeasured confounding of x and m"], ["x <- U[x,m] -> m"]),
        },
        (),
        (),
    ),
    "a confounder missing from the model": (
        lambda: _spec(graph={"edges": [["employment", "x"], ["employment", "y"]]}),
        NONE,
        {k: (["missing adjustment: employment"], ["x <- employment -> y"]) for k in _keys(("m",))},
        (),
        ("employment",),
    ),
    "a mediator-outcome confounder missing from the model": (
        lambda: _spec(graph={"edges": [["w", "m"], ["w", "y"]]}),
        {"TE"},
        {
            k: (["missing adjustment: w", "mediator-outcome"], ["m <- w -> y"])
            for k in ("NDE", "NIE", "NIE[m]", "IIE[m]")
        },
        ("c",),
        ("w",),
    ),
    "no confounders at all": (
        lambda: _spec(confounders=()),
        ALL,
        {},
        (),
        (),
    ),
    "latent confounding that an observed variable blocks": (
        lambda: _spec(graph={"edges": [["w", "x"]]}, unmeasured_confounding=[["w", "y"]]),
        NONE,
        {"TE": (["missing adjustment: w"], ["x <- w <- U[w,y] -> y"])},
        (),
        ("w",),
    ),
    "M-bias: the model's confounder is a collider": (
        lambda: _spec(graph={"edges": [["w1", "x"], ["w1", "c"], ["w2", "c"], ["w2", "y"]]}),
        NONE,
        {"TE": (["missing adjustment: w1"], ["x <- w1 -> c <- w2 -> y"])},
        (),
        ("w1",),
    ),
    "mediators sharing an unmeasured cause": (
        lambda: _spec(mediators=("m1", "m2"), unmeasured_confounding=[["m1", "m2"]]),
        set(_keys(("m1", "m2"))) - {"NIE[m1]", "NIE[m2]"},
        {
            "NIE[m1]": (
                ["unmeasured confounding of m1 and m2", "U[m1,m2]"],
                ["m1 <- U[m1,m2] -> m2"],
            )
        },
        ("c",),
        (),
    ),
}
CASES.update(
    {
        f"shipped spec {name}": (
            (lambda name=name: carepaths.load_spec(name)),
            ALL,
            {},
            None,
            (),
        )
        for name in carepaths.spec.SHIPPED_SPECS
    }
)


@pytest.mark.parametrize("case", list(CASES))
def test_identification_table(case):
    make, expected, texts, adjustment, missing = CASES[case]
    spec = make()
    result = identify(spec)
    keys = _keys(spec.mediator_names)
    assert list(result) == keys
    identified = set(keys) if expected is ALL else set(expected)
    assert {k for k in keys if result[k].identified} == identified
    if adjustment is None:  # shipped specs: the confounders, then the stage column
        adjustment = spec.confounder_names + ((spec.columns.stage,) if spec.columns.stage else ())
    for key in keys:
        v = result[key]
        if v.identified:
            assert v.adjustment_set == adjustment
            assert v.reason == "" and v.path == ""
        else:
            assert v.reason and v.path, key
            with pytest.raises(IdentificationError) as err:
                result.require(key)
            assert v.reason in str(err.value) and v.path in str(err.value)
            assert err.value.effect == key and err.value.path == v.path
    for key, (reason_needles, path_needles) in texts.items():
        v = result[key]
        for needle in reason_needles:
            assert needle in v.reason, (key, v.reason)
        for needle in path_needles:
            assert needle in v.path, (key, v.path)
    assert tuple(result.missing_confounders) == missing
    for name in missing:
        assert name in result.missing_confounders.message


def test_paths_reported_are_open_and_d_separation_agrees():
    """Every reported path really is open, and the verdicts match networkx d-separation."""
    spec = _spec(mediators=("m1", "m2"), unmeasured_confounding=[["m2", "y"]])
    g = CausalGraph(spec).dag
    cut = nx.DiGraph(g)
    cut.remove_edges_from([(m, b) for m in ("m1", "m2") for b in g.successors(m)])
    assert not nx.is_d_separator(cut, {"m1", "m2"}, {"y"}, {"c", "x"})
    path = open_path(cut, {"m1", "m2"}, {"y"}, {"c", "x"})
    assert path == ("m2", "U[m2,y]", "y")
    blocked = _spec(mediators=("m1", "m2"))
    gb = CausalGraph(blocked).dag
    cutb = nx.DiGraph(gb)
    cutb.remove_edges_from([(m, b) for m in ("m1", "m2") for b in gb.successors(m)])
    assert nx.is_d_separator(cutb, {"m1", "m2"}, {"y"}, {"c", "x"})
    assert open_path(cutb, {"m1", "m2"}, {"y"}, {"c", "x"}) is None


def test_open_path_respects_colliders():
    g = nx.DiGraph([("a", "k"), ("b", "k"), ("k", "d")])
    assert open_path(g, {"a"}, {"b"}, set()) is None  # a -> k <- b is closed
    assert open_path(g, {"a"}, {"b"}, {"k"}) == ("a", "k", "b")  # opened by k
    assert open_path(g, {"a"}, {"b"}, {"d"}) == ("a", "k", "b")  # by a descendant of k


def test_dowhy_sets_name_the_total_effect_adjustment(default_spec):
    result = identify(default_spec)
    assert result.dowhy_backdoor_sets == (("severity", "age", "prior_care", "stage"),)
    assert "DoWhy's backdoor sets: {severity, age, prior_care, stage}" in result["TE"].note
    missing = identify(_spec(graph={"edges": [["w", "x"], ["v", "w"], ["v", "y"]]}))
    # either w or v blocks x <- w <- v -> y; DoWhy lists both, the first in graph order wins
    assert missing.dowhy_backdoor_sets == (("c", "w"), ("c", "v"), ("c", "w", "v"))
    assert tuple(missing.missing_confounders) == ("w",)
    assert missing["TE"].adjustment_set == ("c", "w")


def test_table_has_one_row_per_effect():
    result = identify(_spec(mediators=("m1", "m2"), unmeasured_confounding=[["m2", "y"]]))
    table = result.table()
    assert tuple(table.columns) == TABLE_COLUMNS
    assert list(table["effect"]) == list(result)
    assert table.set_index("effect").loc["TE", "identified"]
    row = table.set_index("effect").loc["NIE"]
    assert not row["identified"]
    assert row["path"] == "m2 <- U[m2,y] -> y"
    assert row["adjustment_set"] == ""
    assert table.set_index("effect").loc["TE", "adjustment_set"] == "c"


def test_require_points_a_natural_effect_to_its_interventional_twin():
    result = identify(_spec(mediators=("m1", "m2"), mediator_edges=[["m1", "m2"]]))
    assert result.require("IIE[m2]").identified
    assert result.require("NIE").adjustment_set == ("c",)
    with pytest.raises(IdentificationError, match=r"NIE\[m2\] is not identified") as err:
        result.require("NIE[m2]")
    assert "IIE[m2], the interventional indirect effect, is identified" in str(err.value)
    assert "m2 <- m1 -> y" in str(err.value)
    assert result["IIE[m2]"].note.startswith("identified although the natural NIE[m2] is not")


def test_unknown_effect_key_suggests_the_closest():
    result = identify(_spec(mediators=("alt_coping",)))
    with pytest.raises(KeyError, match=r"Did you mean 'IIE\[alt_coping\]'"):
        result.require("IIE[alt_copin]")


def test_missing_confounders_message_names_them():
    result = identify(_spec(graph={"edges": [["employment", "x"], ["employment", "y"]]}))
    msg = result.missing_confounders.message
    assert "employment" in msg and "[[confounders]]" in msg
    assert str(result.missing_confounders) == msg
    fine = identify(_spec())
    assert not fine.missing_confounders
    assert "every confounder" in fine.missing_confounders.message


def test_identify_rejects_other_inputs_and_accepts_a_graph():
    with pytest.raises(TypeError, match="needs a carepaths.Spec or CausalGraph, got dict"):
        identify({"exposure": "x"})  # type: ignore[arg-type]
    spec = _spec()
    assert CausalGraph(spec).identify() is identify(spec)
    assert isinstance(identify(CausalGraph(spec)), Identification)


def test_identification_is_cached_per_spec():
    spec = _spec(mediators=("m1", "m2", "m3"), stage=True)
    first = identify(spec)
    equal = _spec(mediators=("m1", "m2", "m3"), stage=True)  # a new, equal spec
    start = time.perf_counter()
    again = identify(equal)
    assert again is first
    assert time.perf_counter() - start < 0.01


def test_graph_and_identification_exported_lazily():
    code = (
        "import sys, carepaths; assert 'dowhy' not in sys.modules; "
        "g = carepaths.CausalGraph; i = carepaths.Identification; "
        "assert 'dowhy' not in sys.modules; "
        "assert issubclass(carepaths.IdentificationError, carepaths.CarepathsError); print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
