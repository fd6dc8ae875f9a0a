"""The causal graph a spec implies, as a networkx DAG, with DOT text and a plot.

:class:`CausalGraph` builds the directed acyclic graph of DESIGN.md "Identification":
confounders and the stage (when ``columns.stage`` is set) point into the exposure, every
mediator and the outcome; the exposure into every mediator and the outcome; every
mediator into the outcome; plus ``mediator_edges`` (ordered mediators), the extra causal
knowledge of ``[graph] edges`` (variables the model leaves out), and one latent node
``U[a,b]`` per ``unmeasured_confounding`` pair, with edges into both ends.

Every node carries the attributes ``role`` (one of :data:`ROLES`), ``observed`` (False for
latent nodes only) and ``adjusted`` (True for the confounders and the stage: the variables
the model conditions on). Every edge carries ``kind``: ``"role"`` (implied by the roles),
``"mediator_edge"``, ``"graph"`` (from ``[graph] edges``) or ``"latent"``.

Identification lives in :mod:`carepaths.identify`; :meth:`CausalGraph.identify` calls it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import networkx as nx

from carepaths.spec import Spec

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from carepaths.identify import Identification

__all__ = ["ROLES", "CausalGraph", "latent_name"]

#: Node roles, in the order the plot's legend lists them.
ROLES = ("exposure", "mediator", "outcome", "confounder", "stage", "other", "latent")

_COLOURS = {
    "exposure": "#9ecae1",
    "mediator": "#c7e9c0",
    "outcome": "#fdae6b",
    "confounder": "#d9d9d9",
    "stage": "#dadaeb",
    "other": "#ffffff",
    "latent": "#ffffff",
}


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


class CausalGraph:
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
    >>> from carepaths.graph import CausalGraph
    >>> g = CausalGraph.from_spec(carepaths.load_spec("single_mediator"))
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
    def from_spec(cls, spec: Spec) -> CausalGraph:
        """Build the causal graph of ``spec``.

        Parameters
        ----------
        spec : Spec
            A validated spec.

        Returns
        -------
        CausalGraph
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
            f"CausalGraph({self.spec.name or 'unnamed'}: {self.dag.number_of_nodes()} nodes, "
            f"{self.dag.number_of_edges()} edges, {len(self.latent)} latent)"
        )

    # -- identification -------------------------------------------------------------
    def identify(self) -> Identification:
        """Which effects the graph identifies, with adjustment sets and reasons.

        The first call imports DoWhy (several seconds); results are cached per spec.

        Returns
        -------
        Identification
            See :func:`carepaths.identify.identify`.
        """
        from carepaths.identify import identify

        return identify(self.spec)

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
                style = f'shape=box, style="rounded,filled", fillcolor="{_COLOURS[role]}"'
            lines.append(f"  {_quote(node)} [{style}, tooltip={_quote(role)}];")
        for a, b, attrs in self.dag.edges(data=True):
            dashed = " [style=dashed]" if attrs["kind"] in ("latent", "graph") else ""
            lines.append(f"  {_quote(a)} -> {_quote(b)}{dashed};")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def layout(self) -> dict[str, tuple[float, float]]:
        """Plot positions of every node (the data :meth:`plot` draws).

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

    def plot(self, *, ax: Axes | None = None) -> Figure:
        """Draw the graph with matplotlib at the positions of :meth:`layout`.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Axes to draw on; by default a new figure (not registered with pyplot, so a
            notebook shows it once, as the returned value).

        Returns
        -------
        matplotlib.figure.Figure
            The figure holding the drawing. Each node is one text artist whose ``gid`` is
            the node name.

        Raises
        ------
        TypeError
            If ``ax`` is given and is not a matplotlib Axes.
        """
        from matplotlib.axes import Axes
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch

        if ax is None:
            fig = Figure(figsize=(9, 5.5), layout="constrained")
            ax = fig.add_subplot()
        elif not isinstance(ax, Axes):
            raise TypeError(
                f"plot(ax=...) needs a matplotlib Axes, got {type(ax).__name__}; pass e.g. "
                "fig.add_subplot(), or leave ax out for a new figure."
            )
        fig = ax.get_figure(root=True)
        pos = self.layout()
        for a, b, attrs in self.dag.edges(data=True):
            dashed = attrs["kind"] in ("latent", "graph")
            ax.annotate(
                "",
                xy=pos[b],
                xytext=pos[a],
                arrowprops={
                    "arrowstyle": "-|>",
                    "color": "0.45" if dashed else "0.25",
                    "linestyle": "--" if dashed else "-",
                    "shrinkA": 14,
                    "shrinkB": 14,
                    "lw": 0.9,
                },
            )
        for node, attrs in self.dag.nodes(data=True):
            role = attrs["role"]
            ax.text(
                *pos[node],
                "U" if role == "latent" else node,
                ha="center",
                va="center",
                fontsize=9,
                gid=node,
                bbox={
                    "boxstyle": "circle" if role == "latent" else "round,pad=0.3",
                    "fc": _COLOURS[role],
                    "ec": "0.3",
                    "ls": "--" if role in ("latent", "other") else "-",
                },
            )
        xs = [p[0] for p in pos.values()]
        ys = [p[1] for p in pos.values()]
        ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
        ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
        ax.set_axis_off()
        present = [r for r in ROLES if any(d["role"] == r for _, d in self.dag.nodes(data=True))]
        ax.legend(
            handles=[Patch(fc=_COLOURS[r], ec="0.3", label=r) for r in present],
            loc="lower left",
            fontsize=8,
            frameon=False,
        )
        ax.set_title(f"Causal graph: {self.spec.name or 'spec'}")
        return fig


def _quote(name: Any) -> str:
    """A DOT identifier in double quotes, with backslashes and quotes escaped."""
    return '"' + str(name).replace("\\", "\\\\").replace('"', '\\"') + '"'
