"""The causal graph a spec implies, as a networkx DAG, with DOT text and a layout.

:class:`CausalDAG` builds the directed acyclic graph of DESIGN.md "Identification":
confounders and the stage (when ``columns.stage`` is set) point into the exposure, every
mediator and the outcome; the exposure into every mediator and the outcome; every
mediator into the outcome; plus ``mediator_edges`` (ordered mediators), the extra causal
knowledge of ``[graph] edges`` (variables the model leaves out), and one latent node
``U[a,b]`` per ``unmeasured_confounding`` pair, with edges into both ends.

Every node carries the attributes ``role`` (one of :data:`ROLES`), ``observed`` (False for
latent nodes only) and ``adjusted`` (True for the confounders and the stage: the variables
the model conditions on). Every edge carries ``kind``: ``"role"`` (implied by the roles),
``"mediator_edge"``, ``"graph"`` (from ``[graph] edges``) or ``"latent"``.

Identification (:mod:`carepaths.causal.identify`) reads a :class:`CausalDAG`; the
user-facing :class:`carepaths.CausalGraph` (:mod:`carepaths.causal.graph`) adds
``identify()`` and ``plot()`` to it.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from carepaths.figures import ROLE_COLOURS
from carepaths.spec import Spec

__all__ = ["ROLES", "CausalDAG", "latent_name"]

#: Node roles, in the order the plot's legend lists them.
ROLES = tuple(ROLE_COLOURS)


def latent_name(a: str, b: str) -> str:
    """The name of the latent node of an ``unmeasured_confounding`` pair.

    Parameters
    ----------
    a, b : str
        The two variables the latent cause confounds, in the order the spec lists them.

    Returns
    -------
    str
        ``"U[a,b]"``.
    """
    return f"U[{a},{b}]"


def _build(spec: Spec) -> nx.DiGraph:
    g = nx.DiGraph(name=spec.name or "")
    x, y = spec.exposure.name, spec.outcome.name
    roles = {x: "exposure", y: "outcome"}
    roles.update({m: "mediator" for m in spec.mediator_names})
    roles.update({c: "confounder" for c in spec.confounder_names})
    if spec.columns.stage:
        roles[spec.columns.stage] = "stage"
    roles.update({v: "other" for v in spec.graph_variables})
    adjusted = {*spec.confounder_names, *([spec.columns.stage] if spec.columns.stage else [])}
    for node in spec.node_names:
        g.add_node(node, role=roles[node], observed=True, adjusted=node in adjusted)
    mediator_edges = set(spec.mediator_edges)
    graph_edges = set(spec.graph_edges)
    for a, b in spec.causal_edges:
        kind = (
            "graph"
            if (a, b) in graph_edges
            else ("mediator_edge" if (a, b) in mediator_edges else "role")
        )
        g.add_edge(a, b, kind=kind)
    for a, b in spec.unmeasured_confounding:
        u = latent_name(a, b)
        g.add_node(u, role="latent", observed=False, adjusted=False)
        g.add_edge(u, a, kind="latent")
        g.add_edge(u, b, kind="latent")
    return g


class CausalDAG:
    """The causal DAG a :class:`~carepaths.spec.Spec` implies.

    Parameters
    ----------
    spec : Spec
        A validated spec (:func:`carepaths.load_spec` or :meth:`Spec.from_dict`).

    Attributes
    ----------
    spec : Spec
        The spec the graph was built from.
    dag : networkx.DiGraph
        The graph itself, frozen (read-only); node attributes ``role``, ``observed``,
        ``adjusted``; edge attribute ``kind`` (see the module docstring).

    Raises
    ------
    TypeError
        If ``spec`` is not a :class:`Spec`.

    Examples
    --------
    >>> import carepaths
    >>> g = carepaths.CausalGraph.from_spec(carepaths.load_spec("single_mediator"))
    >>> g.dag.has_edge("treat", "job_seek")
    True
    """

    def __init__(self, spec: Spec) -> None:
        if not isinstance(spec, Spec):
            raise TypeError(
                f"CausalGraph needs a carepaths.Spec, got {type(spec).__name__}. Load one with "
                "carepaths.load_spec('five_mechanisms') or carepaths.Spec.from_dict(d)."
            )
        self.spec = spec
        self.dag: nx.DiGraph = nx.freeze(_build(spec))

    @classmethod
    def from_spec(cls, spec: Spec) -> CausalDAG:
        """Build the causal graph of ``spec``.

        Parameters
        ----------
        spec : Spec
            A validated spec.

        Returns
        -------
        CausalDAG (or the subclass it is called on)
        """
        return cls(spec)

    # -- views ----------------------------------------------------------------------
    @property
    def exposure(self) -> str:
        """The exposure node."""
        return self.spec.exposure.name

    @property
    def outcome(self) -> str:
        """The outcome node."""
        return self.spec.outcome.name

    @property
    def mediators(self) -> tuple[str, ...]:
        """The mediator nodes, in a causal order of ``mediator_edges`` (spec order on ties)."""
        return self.spec.mediator_order

    @property
    def adjustment_set(self) -> tuple[str, ...]:
        """The nodes the model conditions on: the confounders, then the stage column."""
        return tuple(n for n in self.dag if self.dag.nodes[n]["adjusted"])

    @property
    def observed(self) -> tuple[str, ...]:
        """Every observed node (the model's variables, then ``[graph]`` variables)."""
        return tuple(n for n in self.dag if self.dag.nodes[n]["observed"])

    @property
    def latent(self) -> tuple[str, ...]:
        """The latent nodes ``U[a,b]`` of ``unmeasured_confounding``."""
        return tuple(n for n in self.dag if not self.dag.nodes[n]["observed"])

    @property
    def edges(self) -> tuple[tuple[str, str], ...]:
        """Every edge as ``(from, to)``, in the order they were added."""
        return tuple(self.dag.edges)

    def role(self, node: str) -> str:
        """The role of ``node`` (one of :data:`ROLES`).

        Raises
        ------
        KeyError
            If ``node`` is not in the graph; the message lists the nodes.
        """
        if node not in self.dag:
            raise KeyError(
                f"{node!r} is not a node of the causal graph. Nodes: {', '.join(self.dag)}."
            )
        return str(self.dag.nodes[node]["role"])

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.spec.name or 'unnamed'}: {self.dag.number_of_nodes()} nodes, "
            f"{self.dag.number_of_edges()} edges, {len(self.latent)} latent)"
        )

    # -- output ---------------------------------------------------------------------
    def to_dot(self) -> str:
        """The graph as Graphviz DOT text (no graphviz needed to produce it).

        Observed nodes are boxes filled by role, latent nodes dashed circles labelled
        ``U``; edges from latent nodes and from ``[graph] edges`` are dashed.

        Returns
        -------
        str
            ``digraph "<spec name>" { ... }``; render with ``dot -Tsvg``.
        """
        lines = [f"digraph {_quote(self.spec.name or 'carepaths')} {{", "  rankdir=LR;"]
        for node, attrs in self.dag.nodes(data=True):
            role = attrs["role"]
            if role == "latent":
                style = 'label="U", shape=circle, style=dashed'
            else:
                style = f'shape=box, style="rounded,filled", fillcolor="{ROLE_COLOURS[role]}"'
            lines.append(f"  {_quote(node)} [{style}, tooltip={_quote(role)}];")
        for a, b, attrs in self.dag.edges(data=True):
            dashed = " [style=dashed]" if attrs["kind"] in ("latent", "graph") else ""
            lines.append(f"  {_quote(a)} -> {_quote(b)}{dashed};")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def layout(self) -> dict[str, tuple[float, float]]:
        """Plot positions of every node (the data ``CausalGraph.plot`` draws).

        The exposure sits left and the outcome right on ``y = 0``; mediators in columns
        between them by their depth in ``mediator_edges``, stacked below; confounders and
        the stage on a row above; ``[graph]`` variables on a row above that; each latent
        node between the two variables it confounds.

        Returns
        -------
        dict of str to (float, float)
            One entry per node of :attr:`dag`.
        """
        spec = self.spec
        depth: dict[str, int] = {}
        for m in spec.mediator_order:
            depth[m] = max((depth[p] + 1 for p in spec.mediator_parents(m)), default=0)
        width = float(max(depth.values()) + 2)
        pos: dict[str, tuple[float, float]] = {
            self.exposure: (0.0, 0.0),
            self.outcome: (width, 0.0),
        }
        stacked: dict[int, int] = {}
        for m in spec.mediator_order:
            stacked[depth[m]] = stacked.get(depth[m], 0) + 1
            pos[m] = (1.0 + depth[m], -float(stacked[depth[m]]))

        def row(nodes: tuple[str, ...], y: float) -> None:
            for i, n in enumerate(nodes):
                pos[n] = (width * (i + 1) / (len(nodes) + 1), y)

        row(self.adjustment_set, 1.5)
        row(spec.graph_variables, 2.5)
        taken: set[tuple[float, float]] = set(pos.values())
        for u in self.latent:
            a, b = (pos[c] for c in self.dag.successors(u))
            dx, dy = b[0] - a[0], b[1] - a[1]
            norm = max((dx * dx + dy * dy) ** 0.5, 1e-9)
            # halfway between the two ends, pushed 0.45 off the line joining them
            x, y = (a[0] + b[0]) / 2 - 0.45 * dy / norm, (a[1] + b[1]) / 2 + 0.45 * dx / norm
            while (round(x, 3), round(y, 3)) in taken:
                y += 0.3
            taken.add((round(x, 3), round(y, 3)))
            pos[u] = (x, y)
        return pos


def _quote(name: Any) -> str:
    """A DOT identifier in double quotes, with backslashes and quotes escaped."""
    return '"' + str(name).replace("\\", "\\\\").replace('"', '\\"') + '"'
