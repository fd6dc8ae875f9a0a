"""The model spec: exact round-trips of the shipped specs and one test per bad-spec case."""

from __future__ import annotations

import tomllib

import pytest

import carepaths
from carepaths import Spec, SpecError
from carepaths.spec import shipped_spec_path


# ------------------------------------------------------------------------ round trips
def test_shipped_spec_round_trips_exactly(shipped_name):
    spec = carepaths.load_spec(shipped_name)
    assert Spec.from_dict(spec.to_dict()) == spec
    assert Spec.from_toml(spec.to_toml()) == spec
    # the TOML text is a fixed point, and carries every key the file wrote
    assert Spec.from_toml(spec.to_toml()).to_toml() == spec.to_toml()
    on_disk = tomllib.loads(shipped_spec_path(shipped_name).read_text())
    assert spec.to_dict() == on_disk


def test_load_spec_by_path_equals_by_name(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(carepaths.load_spec("visits").to_toml())
    assert carepaths.load_spec(path) == carepaths.load_spec("visits")


def test_default_spec_is_the_five_mechanisms(default_spec):
    assert default_spec.mediator_names == (
        "encouragement", "alt_coping", "discouragement", "confidence", "attitudes"
    )
    assert default_spec.stages == ("crisis", "recovery", "maintenance")
    assert default_spec.outcome.family == "bernoulli"
    assert default_spec.confounder_terms == ("severity", "age", "prior_care[yes]")
    assert all(m.instrument for m in default_spec.mediators)


def test_defaults_are_filled_and_written_back():
    spec = Spec.from_dict(
        {
            "exposure": {"name": "x"},
            "mediators": [{"name": "m", "family": "normal"}],
            "outcome": {"name": "y", "family": "normal"},
        }
    )
    assert spec.exposure.contrast.kind == "shift_sd" and spec.exposure.contrast.size == 1.0
    assert spec.structure.person_effects == "none" and spec.structure.pool_stages is False
    assert spec.stage_levels == ("all",)
    assert Spec.from_dict(spec.to_dict()) == spec
    binary = Spec.from_dict({**spec.to_dict(), "exposure": {"name": "x", "kind": "binary"}})
    assert (binary.exposure.contrast.low, binary.exposure.contrast.high) == (0.0, 1.0)


def test_spec_is_immutable(default_spec):
    with pytest.raises(AttributeError):
        default_spec.stages = ("a", "b")  # type: ignore[misc]


def test_mediator_order_follows_edges(spec_dict):
    spec_dict["mediator_edges"] = [["attitudes", "encouragement"]]
    spec = Spec.from_dict(spec_dict)
    order = spec.mediator_order
    assert order.index("attitudes") < order.index("encouragement")
    assert spec.mediator_parents("encouragement") == ("attitudes",)


# ------------------------------------------------------------------------ bad specs
def _raises(d, *needles):
    with pytest.raises(SpecError) as err:
        Spec.from_dict(d)
    for needle in needles:
        assert needle in str(err.value), str(err.value)
    return str(err.value)


def test_unknown_top_level_key_suggests_closest(spec_dict):
    spec_dict["mediatros"] = spec_dict.pop("mediators")
    _raises(spec_dict, "'mediatros'", "Did you mean 'mediators'?")


def test_unknown_nested_key_names_path(spec_dict):
    spec_dict["mediators"][1]["famly"] = "normal"
    _raises(spec_dict, "'mediators[1].famly'", "Did you mean 'family'?")


def test_unknown_structure_key(spec_dict):
    spec_dict["structure"]["person_effect"] = "slopes"
    _raises(spec_dict, "'structure.person_effect'", "person_effects")


def test_unknown_mediator_family(spec_dict):
    spec_dict["mediators"][0]["family"] = "gaussian"
    _raises(spec_dict, "mediators[0].family", "gaussian", "normal, bernoulli, ordinal")


def test_unknown_outcome_family_suggests(spec_dict):
    spec_dict["outcome"]["family"] = "negative_binomal"
    _raises(spec_dict, "outcome.family", "Did you mean 'negative_binomial'?")


def test_unknown_exposure_kind(spec_dict):
    spec_dict["exposure"]["kind"] = "ordinal"
    _raises(spec_dict, "exposure.kind", "continuous, binary")


def test_duplicate_mediator_name(spec_dict):
    spec_dict["mediators"][1]["name"] = "encouragement"
    _raises(spec_dict, "duplicate name", "'encouragement'")


def test_column_in_two_roles(spec_dict):
    spec_dict["columns"]["person"] = "support"
    _raises(spec_dict, "two roles", "'support'", "columns.person", "exposure.name")


def test_mediator_equal_to_outcome_is_two_roles(spec_dict):
    spec_dict["mediators"][0]["name"] = "care_use"
    _raises(spec_dict, "two roles", "care_use")


def test_no_mediators(spec_dict):
    spec_dict["mediators"] = []
    _raises(spec_dict, "'mediators'", "at least one mediator")


def test_cycle_in_mediator_edges(spec_dict):
    spec_dict["mediator_edges"] = [
        ["encouragement", "attitudes"], ["attitudes", "confidence"], ["confidence", "encouragement"]
    ]
    _raises(spec_dict, "mediator_edges", "cycle")


def test_edge_to_unknown_mediator(spec_dict):
    spec_dict["mediator_edges"] = [["encouragement", "atitudes"]]
    _raises(spec_dict, "mediator_edges[0]", "Did you mean 'attitudes'?")


def test_unmeasured_confounding_unknown_variable(spec_dict):
    spec_dict["unmeasured_confounding"] = [["discouragement", "care"]]
    _raises(spec_dict, "unmeasured_confounding[0]", "'care'")


def test_stages_without_stage_column(spec_dict):
    del spec_dict["columns"]["stage"]
    spec_dict["structure"]["pool_stages"] = False
    _raises(spec_dict, "'stages'", "columns.stage")


def test_pool_stages_without_stage_column(spec_dict):
    del spec_dict["columns"]["stage"]
    del spec_dict["stages"]
    _raises(spec_dict, "structure.pool_stages", "columns.stage")


def test_stage_column_without_levels(spec_dict):
    del spec_dict["stages"]
    _raises(spec_dict, "'stages'", "at least 2")


def test_person_effects_without_person_column(spec_dict):
    del spec_dict["columns"]["person"]
    _raises(spec_dict, "structure.person_effects", "columns.person")


def test_centring_without_person_column(spec_dict):
    del spec_dict["columns"]["person"]
    spec_dict["structure"]["person_effects"] = "none"
    spec_dict["structure"]["center_exposure_within_person"] = True
    _raises(spec_dict, "center_exposure_within_person", "columns.person")


def test_unknown_person_effects_option(spec_dict):
    spec_dict["structure"]["person_effects"] = "slope"
    _raises(spec_dict, "structure.person_effects", "Did you mean 'slopes'?")


def test_missing_required_key(spec_dict):
    del spec_dict["outcome"]
    _raises(spec_dict, "'outcome'", "required")


def test_categorical_reference_not_a_level(spec_dict):
    spec_dict["confounders"][2]["reference"] = "None"
    _raises(spec_dict, "confounders[2].reference", "'None'")


def test_ordinal_without_categories(spec_dict):
    spec_dict["mediators"][0]["family"] = "ordinal"
    _raises(spec_dict, "mediators[0].categories", "required")


def test_categories_on_normal_mediator(spec_dict):
    spec_dict["mediators"][0]["categories"] = [1, 2, 3]
    _raises(spec_dict, "mediators[0].categories", "ordinal mediators only")


def test_shift_contrast_on_binary_exposure(spec_dict):
    spec_dict["exposure"]["kind"] = "binary"
    _raises(spec_dict, "exposure.contrast", "binary exposure")


def test_wrong_type_for_boolean(spec_dict):
    spec_dict["structure"]["pool_stages"] = "yes"
    _raises(spec_dict, "structure.pool_stages", "true or false")


def test_expected_sign_unknown(spec_dict):
    spec_dict["mediators"][3]["expected_sign"] = "+"
    _raises(spec_dict, "mediators[3].expected_sign", "positive, negative, mixed")


def test_invalid_toml_text():
    with pytest.raises(SpecError, match="not valid TOML"):
        Spec.from_toml("exposure = {name = ")


def test_unknown_shipped_spec_name():
    with pytest.raises(SpecError, match="Did you mean 'visits'"):
        carepaths.load_spec("visit")


def test_missing_spec_file(tmp_path):
    with pytest.raises(SpecError, match="does not exist"):
        carepaths.load_spec(tmp_path / "nope.toml")


# ------------------------------------------------------------------------ [graph] edges
def test_graph_edges_round_trip_exactly(spec_dict):
    spec_dict["graph"] = {"edges": [["employment", "support"], ["employment", "care_use"]]}
    spec_dict["unmeasured_confounding"] = [["employment", "discouragement"]]
    spec = Spec.from_dict(spec_dict)
    assert spec.graph_edges == (("employment", "support"), ("employment", "care_use"))
    assert spec.graph_variables == ("employment",)
    assert "employment" not in spec.variable_names  # not a column the model needs
    assert spec.to_dict()["graph"] == spec_dict["graph"]
    assert Spec.from_dict(spec.to_dict()) == spec
    assert Spec.from_toml(spec.to_toml()) == spec
    assert "not in the model: employment" in spec.describe()


def test_no_graph_edges_writes_no_graph_table(default_spec):
    assert "graph" not in default_spec.to_dict()
    assert Spec.from_dict({**default_spec.to_dict(), "graph": {}}) == default_spec


def test_unknown_graph_key_suggests_edges(spec_dict):
    spec_dict["graph"] = {"edge": [["w", "support"]]}
    _raises(spec_dict, "'graph.edge'", "Did you mean 'edges'?")


def test_misspelt_graph_table_suggests_graph(spec_dict):
    spec_dict["grahp"] = {"edges": [["w", "support"]]}
    _raises(spec_dict, "'grahp'", "Did you mean 'graph'?")


def test_graph_not_a_table(spec_dict):
    spec_dict["graph"] = [["w", "support"]]
    _raises(spec_dict, "'graph'", "must be a table")


def test_graph_edge_not_a_pair(spec_dict):
    spec_dict["graph"] = {"edges": [["w", "support", "care_use"]]}
    _raises(spec_dict, "graph.edges[0]", "pair of two names")


def test_graph_edge_with_empty_name(spec_dict):
    spec_dict["graph"] = {"edges": [[" ", "support"]]}
    _raises(spec_dict, "graph.edges[0]", "empty name")


def test_graph_edge_between_mediators_belongs_in_mediator_edges(spec_dict):
    spec_dict["graph"] = {"edges": [["encouragement", "attitudes"]]}
    _raises(spec_dict, "graph.edges[0]", "mediator_edges")


def test_graph_edge_already_implied(spec_dict):
    spec_dict["graph"] = {"edges": [["severity", "care_use"]]}
    _raises(spec_dict, "graph.edges[0]", "already implied", "Remove it")


def test_graph_edge_names_an_index_column(spec_dict):
    spec_dict["graph"] = {"edges": [["wave", "support"]]}
    _raises(spec_dict, "graph.edges[0]", "'wave'", "columns.wave")


def test_graph_edge_reserved_latent_name(spec_dict):
    spec_dict["graph"] = {"edges": [["U[a,b]", "support"]]}
    _raises(spec_dict, "graph.edges[0]", "reserved", "unmeasured_confounding")


def test_graph_edge_listed_twice(spec_dict):
    spec_dict["graph"] = {"edges": [["w", "support"], ["w", "support"]]}
    _raises(spec_dict, "graph.edges[1]", "twice")


def test_graph_edge_closing_a_cycle(spec_dict):
    spec_dict["graph"] = {"edges": [["care_use", "w"], ["w", "support"]]}
    _raises(spec_dict, "graph.edges[1]", "cycle", "w -> support -> care_use -> w")


def test_graph_edge_from_exposure_into_confounder_explains_the_role(spec_dict):
    spec_dict["graph"] = {"edges": [["support", "severity"]]}
    _raises(spec_dict, "graph.edges[0]", "cycle", "severity causes the exposure by its role")


def test_unmeasured_confounding_may_name_stage_and_graph_variables(spec_dict):
    spec_dict["graph"] = {"edges": [["w", "support"]]}
    spec_dict["unmeasured_confounding"] = [["w", "care_use"], ["stage", "care_use"]]
    spec = Spec.from_dict(spec_dict)
    assert spec.unmeasured_confounding == (("w", "care_use"), ("stage", "care_use"))


# ----------------------------------------------------------------------------- person intercepts (issue 16)
def test_person_intercepts_default_to_integrated_and_round_trip(spec_dict):
    spec = Spec.from_dict(spec_dict)
    assert spec.structure.person_intercepts == "integrated" and spec.structure.quadrature_nodes == 11
    assert "person_intercepts" not in spec.to_dict()["structure"]  # defaults are not written back
    spec_dict["structure"].update(person_intercepts="sampled")
    sampled = Spec.from_dict(spec_dict)
    assert sampled.structure.person_intercepts == "sampled"
    assert Spec.from_dict(sampled.to_dict()) == sampled
    spec_dict["structure"].update(person_intercepts="integrated", quadrature_nodes=21)
    assert Spec.from_dict(Spec.from_dict(spec_dict).to_dict()).structure.quadrature_nodes == 21


def test_person_intercepts_bad_value(spec_dict):
    spec_dict["structure"]["person_intercepts"] = "integrate"
    _raises(spec_dict, "structure.person_intercepts", "Did you mean 'integrated'?")


@pytest.mark.parametrize("nodes", [0, 51, 2.5, True, "9"])
def test_quadrature_nodes_bad_value(spec_dict, nodes):
    spec_dict["structure"]["quadrature_nodes"] = nodes
    _raises(spec_dict, "structure.quadrature_nodes", "integer from 1 to 50")


def test_quadrature_keys_need_integrated_person_intercepts(spec_dict):
    spec_dict["structure"].update(person_intercepts="sampled", quadrature_nodes=15)
    _raises(spec_dict, "structure.quadrature_nodes", "sampled")
    spec_dict["structure"].update(person_effects="none", person_intercepts="integrated")
    del spec_dict["structure"]["quadrature_nodes"]
    _raises(spec_dict, "structure.person_intercepts", "person_effects")


def test_quadrature_keys_are_refused_with_random_slopes(spec_dict):
    spec_dict["structure"].update(person_effects="slopes", quadrature_nodes=15)
    _raises(spec_dict, "structure.quadrature_nodes", "slopes", "sampled")
