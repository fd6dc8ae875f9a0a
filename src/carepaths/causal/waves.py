"""The causal graph over waves (spec ``[time]``), and what the g-formula's identification needs.

:func:`wave_graph` unrolls the per-wave DAG (:class:`carepaths.causal.dag.CausalDAG`) over
the waves: every time-indexed variable (the exposure, the mediators, the outcome, the
stage, the time-varying confounders) gets a node per wave, ``"care_use[2]"``; the other
confounders are person-level and keep one node. Within a wave the per-wave edges hold; from
one wave to the next, each lag points into every equation of the next wave (the exposure,
the mediators, the outcome and the time-varying confounders, as the lag terms enter them),
the stage follows the previous stage and the transition's ``given`` values, a time-varying
confounder follows its previous value, and the stage points into the time-varying
confounders of its wave.

:func:`check_sequential_exchangeability` refuses what the g-formula cannot identify
from this graph: an unmeasured common cause (``unmeasured_confounding``, or a ``[graph]``
variable the model leaves out) of two time-indexed variables. Sequential exchangeability
asks that, given the measured past, nothing unmeasured drives both an intervened variable
and what comes after it.
"""

from __future__ import annotations

import networkx as nx

from carepaths.causal.dag import CausalDAG, latent_name
from carepaths.exceptions import IdentificationError
from carepaths.spec import Spec

__all__ = ["check_sequential_exchangeability", "time_indexed", "wave_graph"]


def time_indexed(spec: Spec) -> tuple[str, ...]:
    """The variables with a value per wave: exposure, mediators, outcome, stage, time-varying confounders."""
    stage = (spec.columns.stage,) if spec.columns.stage else ()
    varying = spec.time.time_varying if spec.time is not None else ()
    return (spec.exposure.name, *spec.mediator_names, spec.outcome.name, *stage, *varying)


def _node(name: str, t: int, indexed: set[str]) -> str:
    return f"{name}[{t}]" if name in indexed else name


def wave_graph(spec: Spec, n_waves: int) -> nx.DiGraph:
    """The DAG over ``n_waves`` waves (1, 2, ...); node attributes ``role``, ``wave`` (None for
    person-level nodes) and ``observed``.

    Parameters
    ----------
    spec : Spec
        With a ``[time]`` table.
    n_waves : int
        At least 1.

    Returns
    -------
    networkx.DiGraph
    """
    if spec.time is None:
        raise IdentificationError("the graph over waves needs a spec with a [time] table.")
    if isinstance(n_waves, bool) or not isinstance(n_waves, int) or n_waves < 1:
        raise IdentificationError(f"n_waves must be a positive integer, got {n_waves!r}.")
    base = CausalDAG(spec).dag
    indexed = set(time_indexed(spec))
    for a, b in spec.unmeasured_confounding:  # a latent cause of two time-indexed variables recurs each wave
        if a in indexed and b in indexed:
            indexed.add(latent_name(a, b))
    g = nx.DiGraph(name=f"{spec.name or ''} over {n_waves} waves")
    for t in range(1, n_waves + 1):
        for node, attrs in base.nodes(data=True):
            g.add_node(_node(node, t, indexed), role=attrs["role"], observed=attrs["observed"],
                       wave=t if node in indexed else None)
        for a, b in base.edges:
            g.add_edge(_node(a, t, indexed), _node(b, t, indexed))
        stage = spec.columns.stage
        for v in spec.time.time_varying:
            if stage:
                g.add_edge(f"{stage}[{t}]", f"{v}[{t}]")
        if t == 1:
            continue
        receivers = [spec.exposure.name, *spec.mediator_names, spec.outcome.name, *spec.time.time_varying]
        for lag in spec.time.lags:
            if lag not in indexed:  # a person-level confounder's lag is itself
                continue
            for r in receivers:
                if lag != stage:
                    g.add_edge(f"{lag}[{t - 1}]", f"{r}[{t}]")
        if stage:
            g.add_edge(f"{stage}[{t - 1}]", f"{stage}[{t}]")
            for name in spec.time.transition_given or ():
                if name in indexed:
                    g.add_edge(f"{name}[{t - 1}]", f"{stage}[{t}]")
        for v in spec.time.time_varying:
            g.add_edge(f"{v}[{t - 1}]", f"{v}[{t}]")
    return g


def check_sequential_exchangeability(spec: Spec) -> None:
    """Refuse an unmeasured common cause of two time-indexed variables.

    Raises
    ------
    IdentificationError
        Naming each such pair or variable, and why the g-formula cannot use the spec.
    """
    indexed = set(time_indexed(spec))
    problems = [f"unmeasured_confounding {a} - {b}" for a, b in spec.unmeasured_confounding
                if a in indexed and b in indexed]
    children: dict[str, set[str]] = {}
    for a, b in spec.graph_edges:
        if a in spec.graph_variables:
            children.setdefault(a, set()).add(b)
    problems += [f"[graph] variable {v} (into {', '.join(sorted(kids & indexed))})" for v, kids in children.items()
                 if len(kids & indexed) >= 2]
    if problems:
        raise IdentificationError(
            "the g-formula over waves needs sequential exchangeability: given the measured past, nothing "
            "unmeasured may drive both an intervened variable and what comes after it. The spec declares "
            f"unmeasured common causes of time-indexed variables: {'; '.join(problems)}. The trajectories are not "
            "identified under that graph; measure the common cause and add it as a (time-varying) confounder, or "
            "remove the declaration if it is not believed."
        )
