"""The user-facing causal graph: the DAG a spec implies, its identification and its plot.

:class:`CausalGraph` is :class:`~carepaths.causal.dag.CausalDAG` (the networkx DAG, DOT
text, layout) with :meth:`~CausalGraph.identify` (:mod:`carepaths.causal.identify`) and
:meth:`~CausalGraph.plot` (:func:`carepaths.figures.plot_causal_graph`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from carepaths.causal.dag import CausalDAG
from carepaths.causal.identify import Identification, identify
from carepaths.figures import plot_causal_graph

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["CausalGraph"]


class CausalGraph(CausalDAG):
    """The causal DAG a :class:`~carepaths.spec.Spec` implies, with identification and a plot.

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
        ``adjusted``; edge attribute ``kind`` (see :mod:`carepaths.causal.dag`).

    Raises
    ------
    TypeError
        If ``spec`` is not a :class:`Spec`.

    Examples
    --------
    >>> import carepaths
    >>> g = carepaths.CausalGraph.from_spec(carepaths.load_spec("single_mediator"))
    >>> g.identify()["NIE"].identified
    True
    """

    def identify(self) -> Identification:
        """Which effects the graph identifies, with adjustment sets and reasons.

        The first call imports DoWhy (several seconds); results are cached per spec.

        Returns
        -------
        Identification
            See :func:`carepaths.causal.identify.identify`.
        """
        return identify(self.spec)

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
        return plot_causal_graph(
            dag=self.dag, layout=self.layout(), title=f"Causal graph: {self.spec.name or 'spec'}", ax=ax
        )
