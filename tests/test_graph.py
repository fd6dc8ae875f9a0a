"""The causal graph a spec implies: structure, latent and [graph] nodes, DOT text, the plot."""

from __future__ import annotations

import math
import re

import matplotlib
import networkx as nx
import pytest

import carepaths
from carepaths import Spec
from carepaths.causal.dag import latent_name
from carepaths.causal.graph import CausalGraph

matplotlib.use("Agg")


def _spec(**extra) -> Spec:
    """x -> m1, m2 -> y with confounder c and a stage column (3 levels)."""
    d = {
        "stages": ["a", "b", "c"],
        "columns": {"stage": "s"},
        "exposure": {"name": "x"},
        "mediators": [{"name": "m1", "family": "normal"}, {"name": "m2", "family": "normal"}],
        "outcome": {"name": "y", "family": "bernoulli"},
        "confounders": [{"name": "c"}],
    }
    d.update(extra)
    return Spec.from_dict(d)


# ------------------------------------------------------------------------ structure
def test_default_spec_edges_present_and_absent(default_spec):
    g = CausalGraph.from_spec(default_spec).dag
    x, y, meds = "support", "care_use", default_spec.mediator_names
    pre = ("severity", "age", "prior_care", "stage")
    for c in pre:
        for v in (x, *meds, y):
            assert g.has_edge(c, v), (c, v)
    for m in meds:
        assert g.has_edge(x, m) and g.has_edge(m, y)
        assert not g.has_edge(m, x) and not g.has_edge(y, m)
        assert not any(g.has_edge(m, other) for other in meds)  # no mediator_edges
    assert g.has_edge(x, y) and not g.has_edge(y, x)
    assert not any(g.has_edge(a, b) for a in pre for b in pre)
    assert g.out_degree(y) == 0
    # 4 pre-exposure nodes x 7 targets + 5 (x -> m) + 5 (m -> y) + x -> y
    assert g.number_of_edges() == 4 * 7 + 5 + 5 + 1
    assert nx.is_directed_acyclic_graph(g)


def test_node_attributes_roles(default_spec):
    graph = CausalGraph(default_spec)
    assert graph.role("support") == "exposure"
    assert graph.role("care_use") == "outcome"
    assert graph.role("stage") == "stage"
    assert {graph.role(m) for m in default_spec.mediator_names} == {"mediator"}
    assert graph.adjustment_set == ("severity", "age", "prior_care", "stage")
    assert graph.latent == ()
    assert all(graph.dag.nodes[n]["observed"] for n in graph.dag)


def test_spec_without_stage_column_has_no_stage_node():
    spec = carepaths.load_spec("single_mediator")
    graph = CausalGraph(spec)
    assert "stage" not in graph.dag
    assert graph.adjustment_set == spec.confounder_names
    assert set(graph.dag) == set(spec.variable_names)


def test_mediator_edges_are_edges():
    graph = CausalGraph(_spec(mediator_edges=[["m1", "m2"]]))
    assert graph.dag.edges["m1", "m2"]["kind"] == "mediator_edge"
    assert not graph.dag.has_edge("m2", "m1")
    assert graph.dag.edges["x", "m1"]["kind"] == "role"


def test_unmeasured_confounding_adds_a_latent_node_into_both_ends():
    graph = CausalGraph(_spec(unmeasured_confounding=[["m2", "y"]]))
    u = latent_name("m2", "y")
    assert u == "U[m2,y]"
    assert graph.dag.nodes[u] == {"role": "latent", "observed": False, "adjusted": False}
    assert set(graph.dag.successors(u)) == {"m2", "y"}
    assert graph.dag.in_degree(u) == 0
    assert graph.latent == (u,)
    assert u not in graph.observed


def test_graph_variables_are_observed_but_not_adjusted():
    graph = CausalGraph(_spec(graph={"edges": [["employment", "x"], ["employment", "y"]]}))
    node = graph.dag.nodes["employment"]
    assert node == {"role": "other", "observed": True, "adjusted": False}
    assert graph.dag.edges["employment", "x"]["kind"] == "graph"
    assert "employment" not in graph.adjustment_set
    assert not graph.dag.has_edge("employment", "m1")


def test_graph_edges_may_join_model_variables():
    graph = CausalGraph(_spec(graph={"edges": [["c", "s"]]}))
    assert graph.dag.edges["c", "s"]["kind"] == "graph"


def test_dag_is_read_only(default_spec):
    graph = CausalGraph(default_spec)
    with pytest.raises(nx.NetworkXError, match="Frozen"):
        graph.dag.add_edge("care_use", "support")


def test_bad_inputs_raise_clear_errors(default_spec):
    with pytest.raises(TypeError, match=r"needs a carepaths.Spec, got str.*load_spec"):
        CausalGraph.from_spec("five_mechanisms")  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="'suport' is not a node.*support"):
        CausalGraph(default_spec).role("suport")


# ------------------------------------------------------------------------ DOT
def test_dot_lists_every_node_and_edge(shipped_name):
    graph = CausalGraph(carepaths.load_spec(shipped_name))
    dot = graph.to_dot()
    assert dot.startswith(f'digraph "{shipped_name}" {{') and dot.rstrip().endswith("}")
    edges = set(re.findall(r'^  "([^"]+)" -> "([^"]+)"', dot, flags=re.MULTILINE))
    assert edges == set(graph.dag.edges)
    nodes = set(re.findall(r'^  "([^"]+)" \[', dot, flags=re.MULTILINE))
    assert nodes == set(graph.dag)


def test_dot_marks_latent_and_graph_edges_and_quotes_names():
    spec = _spec(
        unmeasured_confounding=[["m1", "y"]],
        graph={"edges": [['job "loss"', "x"], ['job "loss"', "y"]]},
    )
    dot = CausalGraph(spec).to_dot()
    assert '"U[m1,y]" [label="U", shape=circle, style=dashed' in dot
    assert '"U[m1,y]" -> "m1" [style=dashed];' in dot
    assert '"job \\"loss\\"" -> "x" [style=dashed];' in dot
    assert '"x" -> "m1";' in dot


# ------------------------------------------------------------------------ layout and plot
def test_layout_places_every_node_once(default_spec):
    spec = Spec.from_dict(
        {
            **default_spec.to_dict(),
            "mediator_edges": [["encouragement", "discouragement"]],
            "unmeasured_confounding": [["discouragement", "care_use"], ["support", "care_use"]],
            "graph": {"edges": [["employment", "support"]]},
        }
    )
    graph = CausalGraph(spec)
    pos = graph.layout()
    assert set(pos) == set(graph.dag)
    assert all(math.isfinite(v) for p in pos.values() for v in p)
    assert len(set(pos.values())) == len(pos)  # no two nodes on one spot
    assert pos["support"][0] < pos["encouragement"][0] < pos["discouragement"][0]
    assert pos["discouragement"][0] < pos["care_use"][0]
    assert pos["severity"][1] > pos["support"][1] > pos["encouragement"][1]
    assert pos["employment"][1] > pos["severity"][1]


def test_plot_returns_a_figure_with_one_label_per_node(default_spec):
    from matplotlib.figure import Figure

    spec = Spec.from_dict(
        {**default_spec.to_dict(), "unmeasured_confounding": [["alt_coping", "care_use"]]}
    )
    graph = CausalGraph(spec)
    fig = graph.plot()
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    labels = {t.get_gid(): t for t in ax.texts if t.get_gid()}
    assert set(labels) == set(graph.dag)
    pos = graph.layout()
    for node, text in labels.items():
        assert text.get_position() == pytest.approx(pos[node])
    assert labels["U[alt_coping,care_use]"].get_text() == "U"
    assert labels["support"].get_text() == "support"
    # one arrow per edge
    assert sum(1 for c in ax.get_children() if type(c).__name__ == "Annotation") == (
        graph.dag.number_of_edges()
    )


def test_plot_draws_on_given_axes_and_rejects_non_axes(default_spec):
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    graph = CausalGraph(default_spec)
    assert graph.plot(ax=ax) is fig
    with pytest.raises(TypeError, match="needs a matplotlib Axes, got Figure"):
        graph.plot(ax=fig)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        graph.plot(ax)  # type: ignore[misc]  # keyword-only
