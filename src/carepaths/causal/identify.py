"""Identification of the total, natural and interventional effects from the causal graph.

DoWhy is imported in two modules of carepaths only: here, lazily (inside :func:`identify`
and :func:`dowhy_model`), and :mod:`carepaths.integrations.dowhy`, at import time, because
its estimator subclasses DoWhy's; nothing else imports either, so ``import carepaths``
does not load DoWhy. :func:`dowhy_model` hands carepaths' own graph to a
``dowhy.CausalModel`` for DoWhy's estimate/refute workflow (``docs/identification.md``).

What is checked (the user page is ``docs/identification.md``). Write X for the exposure,
Y for the outcome, M for the set of all mediators and A for the adjustment set the model
uses: the spec's confounders plus the stage column. The model adjusts for exactly A, so a
verdict says whether A (not some other set) identifies the effect.

- ``TE`` (total effect): A satisfies the backdoor criterion for X -> Y. DoWhy decides
  (``dowhy.graph.check_valid_backdoor_set``) and lists the backdoor sets among all
  observed variables (``identify_backdoor``), which name what is missing when A falls short.
- ``NDE`` and ``NIE`` (joint natural direct and indirect effects through all mediators),
  checked here by d-separation (``networkx.is_d_separator``) because DoWhy 0.14 handles one
  mediator only and does not check its mediation assumptions:
  no open X-Y confounding given A (graph without the edges out of X and M);
  no open X-M confounding given A, for every mediator (graph without the edges out of X);
  no open M-Y confounding given A and X (graph without the edges out of M).
  An exposure-induced mediator-outcome confounder outside M always opens an M-Y path here
  (it cannot be in A: confounders cause the exposure by their role), so it is caught and
  named by the M-Y check.
- ``NIE[m]`` (natural indirect effect through mediator m alone): the three conditions, and
  no other mediator that causes m and reaches Y around m (it is affected by X and
  confounds m and Y: a recanting witness), and no latent shared by m and another mediator.
- ``IIE[m]`` (interventional indirect effect through mediator m, mediators drawn one at a
  time from their counterfactual distributions): the three conditions only; it does not
  require the absence of exposure-induced confounding *among* the mediators, so it stays
  identified where ``NIE[m]`` is not, and its note says so.

When a condition fails, the verdict is "missing adjustment: <names>" if adding observed
``[graph]`` variables (never effects of the exposure) to A would satisfy every condition;
otherwise the reason names the unmeasured or exposure-induced confounding, and ``path``
shows one open path.

Product terms (the spec's ``[[interactions]]`` and ``[[moderation]]``) add no edges: each
multiplies variables that are already parents of the equation it enters (a moderator is a
declared confounder, so pre-exposure and in A), and the graph is nonparametric. So they
change no verdict here, and the natural effects rest on the same assumptions, cross-world
independence included (``docs/identification.md``).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
import warnings
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Self

import networkx as nx

from carepaths.exceptions import IdentificationError
from carepaths.causal.dag import CausalDAG
from carepaths.exceptions import suggest_closest
from carepaths.spec import Spec

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from dowhy import CausalModel

__all__ = [
    "TABLE_COLUMNS",
    "EffectIdentification",
    "Identification",
    "MissingConfounders",
    "dowhy_model",
    "format_path",
    "identify",
    "open_path",
]

#: Columns of :meth:`Identification.table`, in order.
TABLE_COLUMNS = ("effect", "identified", "adjustment_set", "reason", "path", "note")

_MAX_PATHS = 200_000  # partial paths the open-path search may expand before giving up


@dataclass(frozen=True)
class EffectIdentification:
    """The verdict for one effect.

    Attributes
    ----------
    effect : str
        ``"TE"``, ``"NDE"``, ``"NIE"``, ``"NIE[<mediator>]"`` or ``"IIE[<mediator>]"``.
    identified : bool
        Whether the graph identifies the effect with the model's adjustment set.
    adjustment_set : tuple of str
        When identified: the set the model adjusts for (confounders, stage). When not
        identified for want of observed confounders: the set the graph requires (the
        model's plus the missing ones). Otherwise empty.
    reason : str
        Why it is not identified (empty when identified). Starts with ``"missing
        adjustment: "``, ``"unmeasured confounding of "`` or ``"exposure-induced
        mediator-outcome confounding: "``.
    path : str
        One offending open path, e.g. ``"support <- employment -> care_use"`` (empty when
        identified).
    note : str
        Anything else a reader of the row must know (e.g. that the natural effect through
        this mediator alone is not identified).
    missing : tuple of str
        Observed variables outside the model that the graph requires adjusting for.
    """

    effect: str
    identified: bool
    adjustment_set: tuple[str, ...]
    reason: str = ""
    path: str = ""
    note: str = ""
    missing: tuple[str, ...] = ()


class MissingConfounders(tuple[str, ...]):
    """Variables the graph requires adjusting for that the model does not include.

    A tuple of names (empty when nothing is missing) with a :attr:`message` for people.
    """

    message: str

    def __new__(cls, names: tuple[str, ...], message: str) -> Self:
        obj = super().__new__(cls, names)
        obj.message = message
        return obj

    def __str__(self) -> str:
        return self.message


class Identification(Mapping[str, EffectIdentification]):
    """What the causal graph of a spec identifies: a mapping of effect key to verdict.

    Keys, in order: ``"TE"``, ``"NDE"``, ``"NIE"``, then ``"NIE[<mediator>]"`` (the natural
    indirect effect through that mediator alone) and then ``"IIE[<mediator>]"`` (the
    interventional one) for each mediator in spec order. Build it with :func:`identify` or :meth:`carepaths.CausalGraph.identify`.

    Attributes
    ----------
    graph : CausalDAG (a :class:`~carepaths.CausalGraph` is one)
        The graph the verdicts are about.
    dowhy_backdoor_sets : tuple of tuple of str
        The backdoor adjustment sets for the total effect that DoWhy finds among all
        observed variables (each in graph node order; smallest first).
    """

    def __init__(
        self,
        graph: CausalDAG,
        verdicts: list[EffectIdentification],
        dowhy_backdoor_sets: tuple[tuple[str, ...], ...],
    ) -> None:
        self.graph = graph
        self._verdicts = MappingProxyType({v.effect: v for v in verdicts})
        self.dowhy_backdoor_sets = dowhy_backdoor_sets

    # -- mapping ----------------------------------------------------------------------
    def __getitem__(self, key: str) -> EffectIdentification:
        if key not in self._verdicts:
            raise KeyError(
                f"no effect {key!r}.{suggest_closest(str(key), list(self._verdicts))} "
                f"Effects: {', '.join(self._verdicts)}."
            )
        return self._verdicts[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._verdicts)

    def __len__(self) -> int:
        return len(self._verdicts)

    # -- answers ----------------------------------------------------------------------
    @property
    def spec(self) -> Spec:
        """The spec of :attr:`graph`."""
        return self.graph.spec

    def table(self) -> pd.DataFrame:
        """One row per effect: effect, identified, adjustment_set, reason, path, note.

        Returns
        -------
        pandas.DataFrame
            ``adjustment_set`` is a comma-separated string (empty for none).
        """
        import pandas as pd

        rows = [
            {
                "effect": v.effect,
                "identified": v.identified,
                "adjustment_set": ", ".join(v.adjustment_set),
                "reason": v.reason,
                "path": v.path,
                "note": v.note,
            }
            for v in self._verdicts.values()
        ]
        return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))

    def require(self, effect: str) -> EffectIdentification:
        """The verdict for ``effect``, raising if the graph does not identify it.

        Parameters
        ----------
        effect : str
            An effect key, e.g. ``"NIE"`` or ``"IIE[discouragement]"``.

        Returns
        -------
        EffectIdentification
            The verdict (identified).

        Raises
        ------
        IdentificationError
            If not identified; the message gives the reason, the offending path and,
            for a natural effect, whether the interventional effects are identified.
        KeyError
            If ``effect`` is not one of the keys.
        """
        v = self[effect]
        if v.identified:
            return v
        hint = ""
        if effect.startswith("NIE["):
            twin = "IIE[" + effect[len("NIE[") :]
            if self[twin].identified:
                hint = f" {twin}, the interventional indirect effect, is identified: report it instead."
        raise IdentificationError(
            f"{effect} is not identified by the causal graph of spec "
            f"{self.spec.name or '(unnamed)'}: {v.reason} Offending path: {v.path or 'none found'}."
            f"{hint}",
            effect=effect,
            reason=v.reason,
            path=v.path,
        )

    @property
    def missing_confounders(self) -> MissingConfounders:
        """Observed variables the graph requires adjusting for that the model lacks.

        Returns
        -------
        MissingConfounders
            A tuple of names in graph order, with ``.message`` naming them and the fix.
        """
        names = {n for v in self._verdicts.values() for n in v.missing}
        ordered = tuple(n for n in self.graph.dag if n in names)
        if not ordered:
            return MissingConfounders((), "The model adjusts for every confounder the graph names.")
        needed_by = [k for k, v in self._verdicts.items() if v.missing and "[" not in k]
        if any(v.missing for k, v in self._verdicts.items() if "[" in k):
            needed_by.append("the per-mediator effects")
        return MissingConfounders(
            ordered,
            f"The graph requires adjusting for {', '.join(ordered)}, which the model does not "
            f"include (needed for {', '.join(needed_by)}). Add "
            f"{'it' if len(ordered) == 1 else 'them'} to the spec's [[confounders]] (and the "
            "data), or remove the [graph] edges that make "
            f"{'it a confounder' if len(ordered) == 1 else 'them confounders'} if they are wrong.",
        )

    def __repr__(self) -> str:
        return (
            "Identification("
            + ", ".join(f"{k}={'yes' if v.identified else 'no'}" for k, v in self._verdicts.items())
            + ")"
        )

    def __str__(self) -> str:
        lines = [f"Identification for spec {self.spec.name or '(unnamed)'}:"]
        for v in self._verdicts.values():
            lines.append(
                f"  {v.effect:<24} {'identified' if v.identified else 'NOT identified':<15}"
                f" adjust for: {', '.join(v.adjustment_set) or '(nothing)'}"
            )
            if v.reason:
                lines.append(f"      reason: {v.reason}")
                lines.append(f"      path:   {v.path}")
            if v.note:
                lines.append(f"      note:   {v.note}")
        return "\n".join(lines)


# ------------------------------------------------------------------------ the checks
@dataclass(frozen=True)
class _Condition:
    """One d-separation requirement: ``sources`` and ``targets`` separated by A + extra."""

    label: str
    graph: nx.DiGraph
    sources: frozenset[str]
    targets: frozenset[str]
    extra: frozenset[str] = frozenset()


def _cut(g: nx.DiGraph, nodes: set[str] | frozenset[str]) -> nx.DiGraph:
    """A copy of ``g`` without the edges out of ``nodes``."""
    out = nx.DiGraph(g)
    out.remove_edges_from([(a, b) for a in nodes for b in g.successors(a)])
    return out


def _separated(c: _Condition, given: set[str]) -> bool:
    return nx.is_d_separator(c.graph, set(c.sources), set(c.targets), set(given) | c.extra)


def open_path(
    g: nx.DiGraph, sources: set[str], targets: set[str], given: set[str]
) -> tuple[str, ...] | None:
    """A shortest path between ``sources`` and ``targets`` that ``given`` leaves open.

    Parameters
    ----------
    g : networkx.DiGraph
        A DAG.
    sources, targets : set of str
        The two ends.
    given : set of str
        The conditioning set.

    Returns
    -------
    tuple of str or None
        The nodes of the path, or None if every path is blocked (d-separation).
    """
    closure = set(given)
    for z in given:
        closure |= nx.ancestors(g, z)
    queue: deque[tuple[str, ...]] = deque((s,) for s in g if s in sources)
    expanded = 0
    while queue and expanded < _MAX_PATHS:
        path = queue.popleft()
        expanded += 1
        last = path[-1]
        for nxt in [*g.successors(last), *g.predecessors(last)]:
            if nxt in path or nxt in sources:
                continue
            if len(path) >= 2:
                before = path[-2]
                collider = g.has_edge(before, last) and g.has_edge(nxt, last)
                if (collider and last not in closure) or (not collider and last in given):
                    continue
            if nxt in targets:
                return (*path, nxt)
            queue.append((*path, nxt))
    return None


def format_path(g: nx.DiGraph, path: tuple[str, ...]) -> str:
    """A path as text with the edge directions of ``g``.

    Parameters
    ----------
    g : networkx.DiGraph
        The graph the path runs in.
    path : tuple of str
        Consecutive nodes, e.g. ``("x", "w", "y")``.

    Returns
    -------
    str
        E.g. ``"x <- w -> y"``.
    """
    out = path[0]
    for a, b in itertools.pairwise(path):
        out += f" -> {b}" if g.has_edge(a, b) else f" <- {b}"
    return out


_LABELS = {"X-Y": "exposure-outcome", "X-M": "exposure-mediator", "M-Y": "mediator-outcome"}


class _Checker:
    """The verdicts for one causal graph."""

    def __init__(self, graph: CausalDAG) -> None:
        self.graph = graph
        self.g = graph.dag
        self.x, self.y = graph.exposure, graph.outcome
        self.m = graph.mediators
        self.adjust = set(graph.adjustment_set)
        self.descendants = nx.descendants(self.g, self.x)
        # observed variables outside the model that adjustment could add: never effects of X
        self.pool = {n for n in graph.spec.graph_variables if n not in self.descendants}
        self.preferred: set[str] | None = None  # one addition chosen for every effect at once

    def ordered(self, names: set[str]) -> tuple[str, ...]:
        return tuple(n for n in self.g if n in names)

    def total_conditions(self) -> list[_Condition]:
        return [_Condition("X-Y", _cut(self.g, {self.x}), frozenset({self.x}), frozenset({self.y}))]

    def joint_conditions(self) -> list[_Condition]:
        x, y, m = self.x, self.y, frozenset(self.m)
        cut_x = _cut(self.g, {x})
        return [
            _Condition("X-Y", _cut(self.g, {x, *m}), frozenset({x}), frozenset({y})),
            *(_Condition("X-M", cut_x, frozenset({x}), frozenset({k})) for k in self.m),
            _Condition("M-Y", _cut(self.g, set(m)), m, frozenset({y}), frozenset({x})),
        ]

    def repair(
        self, conditions: list[_Condition], start: set[str], pool: set[str]
    ) -> set[str] | None:
        """Variables of ``pool`` to add to ``start`` so every condition holds, or None."""
        given = set(start)
        for c in conditions:
            if _separated(c, given):
                continue
            found = nx.find_minimal_d_separator(
                c.graph,
                set(c.sources),
                set(c.targets),
                included=given | c.extra,
                restricted=given | c.extra | pool,
            )
            if found is None:
                return None
            given = set(found) - c.extra
        if all(_separated(c, given) for c in conditions):
            return given - set(start)
        return None

    def choose_additions(
        self, conditions: list[_Condition], dowhy_sets: tuple[tuple[str, ...], ...]
    ) -> set[str] | None:
        """One set of ``[graph]`` variables whose addition makes every condition hold.

        DoWhy's backdoor sets of the total effect are tried first (fewest additions, then
        graph order), completed by minimal separators for the mediation conditions.
        """
        order = {n: i for i, n in enumerate(self.g)}
        candidates = sorted(
            {frozenset(set(s) - self.adjust) for s in dowhy_sets},
            key=lambda a: (len(a), sorted(order[n] for n in a)),
        )
        for add in candidates:
            rest = self.repair(conditions, self.adjust | add, self.pool)
            if rest is not None:
                return set(add) | rest
        return self.repair(conditions, self.adjust, self.pool)

    def explain(self, c: _Condition, path: tuple[str, ...] | None) -> str:
        """The reason text for a failure of condition ``c`` that no added variable repairs."""
        label = _LABELS[c.label]
        if path is None:  # the search gave up; d-separation still failed
            return (
                f"{label} confounding is not blocked by the adjustment set "
                f"({', '.join(self.ordered(self.adjust)) or 'nothing'})."
            )
        a, b = path[0], path[-1]
        interior = path[1:-1]
        latent = [n for n in interior if not self.g.nodes[n]["observed"]]
        if latent:
            return (
                f"unmeasured confounding of {a} and {b} ({label}): the path runs through the "
                f"latent {', '.join(latent)}, and no adjustment for observed variables blocks it."
            )
        induced = [n for n in interior if n in self.descendants and n not in self.m]
        if induced:
            return (
                f"exposure-induced mediator-outcome confounding: {', '.join(induced)} is "
                f"affected by {self.x} and confounds {a} and {b}. The model cannot adjust for "
                "it (that would remove part of the effect it carries), so neither the natural "
                "nor the interventional indirect effects are identified with this model."
            )
        return (
            f"{label} confounding of {a} and {b} is not blocked by the adjustment set, and "
            "no set of observed variables blocks it."
        )

    def verdict(
        self, key: str, conditions: list[_Condition], note: str = "", *, holds: bool | None = None
    ) -> EffectIdentification:
        """The verdict for one effect; ``holds`` overrides the d-separation check of A."""
        failing = [c for c in conditions if not _separated(c, self.adjust)]
        if holds is None:
            holds = not failing
        if holds:
            return EffectIdentification(key, True, self.ordered(self.adjust), note=note)
        first = failing[0] if failing else conditions[0]
        path = open_path(
            first.graph, set(first.sources), set(first.targets), self.adjust | first.extra
        )
        path_text = format_path(first.graph, path) if path else ""
        added = None
        if self.preferred:
            added = self.repair(conditions, self.adjust, self.preferred)
        if not added:
            added = self.repair(conditions, self.adjust, self.pool)
        if not added:
            return EffectIdentification(
                key, False, (), reason=self.explain(first, path), path=path_text, note=note
            )
        names = self.ordered(added)
        it = "it" if len(names) == 1 else "them"
        return EffectIdentification(
            key,
            False,
            self.ordered(self.adjust | added),
            reason=(
                f"missing adjustment: {', '.join(names)}. The graph requires adjusting for {it}: "
                f"the {_LABELS[first.label]} path {path_text} stays open given the model's "
                f"adjustment set. Add {it} to [[confounders]]."
            ),
            path=path_text,
            note=note,
            missing=names,
        )

    def natural_alone(self, k: str) -> tuple[str, str]:
        """Why the natural indirect effect through ``k`` alone is not identified, with the
        offending path, when the joint conditions hold; ``("", "")`` when it is identified."""
        # every mediator is affected by the exposure (exposure -> mediator is implied), so a
        # mediator that causes k and reaches the outcome around k is a recanting witness
        without_k = nx.DiGraph(self.g)
        without_k.remove_node(k)
        for w in self.m:
            if w != k and nx.has_path(self.g, w, k) and nx.has_path(without_k, w, self.y):
                to_k = nx.shortest_path(self.g, w, k)
                to_y = nx.shortest_path(without_k, w, self.y)
                return (
                    (
                        f"exposure-induced mediator-outcome confounding: {w} is affected by "
                        f"{self.x} and confounds {k} and {self.y}, so the natural indirect effect "
                        f"through {k} alone is not identified (the joint NIE and the "
                        "interventional IIE are)."
                    ),
                    format_path(self.g, (*to_k[::-1], *to_y[1:])),
                )
        for u in self.graph.latent:
            children = set(self.g.successors(u))
            if k in children and children & set(self.m) - {k}:
                (w,) = children - {k}
                return (
                    (
                        f"unmeasured confounding of {k} and {w}: they share the latent {u}, so "
                        "the cross-world joint distribution of the mediators, and with it the "
                        f"natural indirect effect through {k} alone, is not identified (the "
                        "joint NIE and the interventional IIE are)."
                    ),
                    format_path(self.g, (k, u, w)),
                )
        return "", ""

    def run(self, dowhy_sets: tuple[tuple[str, ...], ...]) -> list[EffectIdentification]:
        from dowhy.graph import check_valid_backdoor_set

        total, joint = self.total_conditions(), self.joint_conditions()
        self.preferred = self.choose_additions(total + joint, dowhy_sets)
        backdoor = check_valid_backdoor_set(
            nx.DiGraph(self.g), [self.x], [self.y], list(self.adjust)
        )
        sets_text = "; ".join("{" + ", ".join(s) + "}" for s in dowhy_sets) or "none"
        several = len(self.m) > 1
        names = ", ".join(self.m)
        out = [
            self.verdict(
                "TE", total, f"DoWhy's backdoor sets: {sets_text}", holds=backdoor["is_dseparated"]
            ),
            self.verdict("NDE", joint, f"the effect through none of {names}" if several else ""),
            self.verdict("NIE", joint, f"through {names} jointly" if several else ""),
        ]
        alone = {}
        for k in self.graph.spec.mediator_names:
            v = self.verdict(
                f"NIE[{k}]", joint, "natural indirect effect through this mediator alone"
            )
            reason, path = self.natural_alone(k) if v.identified else ("", "")
            if reason:
                v = EffectIdentification(
                    v.effect,
                    False,
                    (),
                    reason=reason,
                    path=path,
                    note=f"report IIE[{k}] instead: it is identified",
                )
            alone[k] = v
            out.append(v)
        for k in self.graph.spec.mediator_names:
            v = self.verdict(f"IIE[{k}]", joint, "interventional: mediators drawn one at a time")
            if v.identified and not alone[k].identified:
                v = dataclasses.replace(
                    v, note=f"identified although the natural NIE[{k}] is not: report this one"
                )
            out.append(v)
        return out


def _dowhy_backdoor_sets(graph: CausalDAG) -> tuple[tuple[str, ...], ...]:
    """The backdoor sets of the total effect that DoWhy finds among observed variables."""
    from dowhy.causal_identifier.auto_identifier import BackdoorAdjustment, identify_backdoor

    logger = logging.getLogger("dowhy")
    level = logger.level
    logger.setLevel(logging.ERROR)  # its search logs every candidate set at INFO/DEBUG
    try:
        found = identify_backdoor(
            nx.DiGraph(graph.dag),
            [graph.exposure],
            [graph.outcome],
            list(graph.observed),
            BackdoorAdjustment.BACKDOOR_DEFAULT,
        )
    finally:
        logger.setLevel(level)
    order = {n: i for i, n in enumerate(graph.dag)}
    sets = {tuple(sorted(s.get_adjustment_variables(), key=order.__getitem__)) for s in found}
    return tuple(sorted(sets, key=lambda s: (len(s), [order[n] for n in s])))


@functools.lru_cache(maxsize=64)
def _identify_spec(spec: Spec) -> Identification:
    graph = CausalDAG(spec)
    sets = _dowhy_backdoor_sets(graph)
    return Identification(graph, _Checker(graph).run(sets), sets)


def identify(spec: Spec | CausalDAG) -> Identification:
    """Which effects the causal graph of ``spec`` identifies, and with which adjustment set.

    Parameters
    ----------
    spec : Spec or CausalGraph
        The spec (or its graph). Results are cached per spec: a repeated call is free.

    Returns
    -------
    Identification
        A mapping of effect key (``"TE"``, ``"NDE"``, ``"NIE"``, ``"NIE[<mediator>]"``,
        ``"IIE[<mediator>]"``) to
        :class:`EffectIdentification`, with :meth:`~Identification.table`,
        :meth:`~Identification.require` and :attr:`~Identification.missing_confounders`.

    Raises
    ------
    TypeError
        If ``spec`` is neither a :class:`Spec` nor a :class:`~carepaths.CausalGraph`.

    Examples
    --------
    >>> import carepaths
    >>> from carepaths.causal.identify import identify
    >>> identify(carepaths.load_spec("single_mediator"))["NIE"].identified
    True
    """
    if isinstance(spec, CausalDAG):
        spec = spec.spec
    if not isinstance(spec, Spec):
        raise TypeError(
            f"identify needs a carepaths.Spec or CausalGraph, got {type(spec).__name__}. Load "
            "a spec with carepaths.load_spec('five_mechanisms')."
        )
    return _identify_spec(spec)


def dowhy_model(spec: Spec | CausalDAG, data: pd.DataFrame) -> CausalModel:
    """A ``dowhy.CausalModel`` of the total effect, on the causal graph of ``spec``.

    The graph is ``CausalGraph.dag`` (nodes and edges only). DoWhy marks as observed
    the nodes that are columns of ``data``: the latent ``U[a,b]`` nodes of
    ``unmeasured_confounding`` and any ``[graph]`` variable missing from the data are
    unobserved. Treatment and outcome are the spec's exposure and outcome. Estimate with
    :data:`carepaths.integrations.dowhy.METHOD_NAME` (see ``docs/identification.md``).

    Parameters
    ----------
    spec : Spec or CausalGraph
        The spec (or its graph).
    data : pandas.DataFrame
        One row per person-wave, with every column the spec names (the panel's).

    Returns
    -------
    dowhy.CausalModel
        Ready for ``identify_effect()``, ``estimate_effect(...)`` and ``refute_estimate``.

    Raises
    ------
    TypeError
        If ``spec`` is neither a :class:`Spec` nor a :class:`~carepaths.CausalGraph`.
    DataError
        If ``data`` is not a DataFrame or lacks a column the spec names.

    Examples
    --------
    >>> import carepaths
    >>> from carepaths.causal.identify import dowhy_model
    >>> spec = carepaths.load_spec("single_mediator")
    >>> frame = carepaths.simulate(spec, 100, 1, seed=1).data
    >>> dowhy_model(spec, frame).identify_effect().get_backdoor_variables() != []
    True
    """
    import pandas as pd

    from carepaths.exceptions import DataError

    graph = spec if isinstance(spec, CausalDAG) else None
    if graph is None:
        if not isinstance(spec, Spec):
            raise TypeError(
                f"dowhy_model needs a carepaths.Spec or CausalGraph, got {type(spec).__name__}. "
                "Load a spec with carepaths.load_spec('five_mechanisms')."
            )
        graph = CausalDAG(spec)
    spec = graph.spec
    if not isinstance(data, pd.DataFrame):
        raise DataError(
            f"dowhy_model needs the data as a pandas DataFrame, got {type(data).__name__}."
        )
    index_columns = [getattr(spec.columns, k) for k in spec.columns.KEYS]
    needed = [*(c for c in index_columns if c), *spec.variable_names]
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise DataError(
            f"dowhy_model: the data lacks column(s) {missing} that the spec names. Columns "
            f"present: {', '.join(map(str, data.columns))}. Rename the columns or change the spec."
        )
    from dowhy import CausalModel

    dag = nx.DiGraph()
    dag.add_nodes_from(graph.dag.nodes)
    dag.add_edges_from(graph.dag.edges)
    # DoWhy warns (and logs) when graph nodes are not data columns. Only the latent nodes
    # are declared unobserved on purpose: a [graph] variable missing from the data keeps
    # DoWhy's warning. Columns outside the graph (person, wave) it logs at INFO.
    latent_only = set(dag) - set(map(str, data.columns)) <= set(graph.latent)
    logger = logging.getLogger("dowhy")
    level = logger.level
    logger.setLevel(logging.ERROR if latent_only else logging.WARNING)
    try:
        with warnings.catch_warnings():
            if latent_only:
                warnings.filterwarnings("ignore", message=".*unobserved.*", category=UserWarning)
            return CausalModel(
                data=data, treatment=graph.exposure, outcome=graph.outcome, graph=dag
            )
    finally:
        logger.setLevel(level)
