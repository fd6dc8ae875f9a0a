"""Missing binary and ordinal mediators: the values a row's likelihood is summed over.

A missing bernoulli or ordinal mediator in a row whose outcome is observed cannot be a
continuous latent value: the model sums it out of the row's likelihood instead,
``log sum_c P(M = c | row) p(Y | row, M = c)`` (a finite mixture per row). A row missing
several of them sums over every combination of their values. Rows with the same missing
mediators form one group, so that each group is a rectangular (row, component) block.

The same layout serves the model (:mod:`carepaths.model._missing`), which stores each
component's posterior weight per draw (``M_missing_weights``), and the populations
downstream (:mod:`carepaths.counterfactual.population`), which draw each draw's values
from those weights.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from carepaths.spec import Spec
from carepaths.structural.parameters import MISSING_WEIGHTS

__all__ = ["MISSING_WEIGHTS", "MixtureGroup", "discrete_missing", "draw_components", "mixture_groups"]


@dataclass(frozen=True)
class MixtureGroup:
    """Rows missing the same discrete mediators, and the values their likelihood sums over.

    Attributes
    ----------
    rows : int array (row,)
        Row positions (on ``obs``).
    mediators : int array (missing,)
        The missing mediators' indices (spec order).
    values : array (component, missing)
        Every combination of the missing mediators' values on the model scale (0/1 for
        bernoulli, codes 0..K-1 for ordinal).
    offset : int
        Where the group's weights start in the flat ``missing_component`` dim, stored
        row-major (row, component).
    """

    rows: np.ndarray
    mediators: np.ndarray
    values: np.ndarray
    offset: int

    @property
    def size(self) -> int:
        """Number of (row, component) weights."""
        return len(self.rows) * len(self.values)


def discrete_missing(spec: Spec) -> list[int]:
    """The mediators whose missing values are summed out: the bernoulli and ordinal ones."""
    return [k for k, m in enumerate(spec.mediators) if m.family != "normal"]


def mixture_groups(spec: Spec, M: np.ndarray, y_seen: np.ndarray) -> list[MixtureGroup]:
    """The mixture groups of a panel's rows.

    Parameters
    ----------
    spec : Spec
    M : array (obs, mediator)
        The mediators on the model scale, NaN where missing.
    y_seen : bool array (obs,)
        Where the outcome is observed. A row whose outcome is missing too is in no group:
        its missing mediators enter no likelihood.

    Returns
    -------
    list of MixtureGroup
        In order of first appearance of each pattern; empty without such rows.
    """
    discrete = discrete_missing(spec)
    if not discrete:
        return []
    gaps = np.isnan(M[:, discrete]) & np.asarray(y_seen, dtype=bool)[:, None]
    patterns: dict[tuple[int, ...], list[int]] = {}
    for r in np.flatnonzero(gaps.any(axis=1)):
        patterns.setdefault(tuple(discrete[j] for j in np.flatnonzero(gaps[r])), []).append(int(r))
    groups, offset = [], 0
    for mediators, rows in patterns.items():
        levels = [range(2) if spec.mediators[k].family == "bernoulli" else range(len(spec.mediators[k].categories))
                  for k in mediators]
        values = np.array(list(itertools.product(*levels)), dtype=float)
        group = MixtureGroup(rows=np.array(rows, dtype=np.int64), mediators=np.array(mediators, dtype=np.int64),
                             values=values, offset=offset)
        groups.append(group)
        offset += group.size
    return groups


def draw_components(groups: list[MixtureGroup], weights: np.ndarray, uniforms: np.ndarray, M: np.ndarray) -> None:
    """Fill each draw's missing discrete mediators from the posterior weights, in place.

    Parameters
    ----------
    groups : list of MixtureGroup
    weights : array (draw, component)
        Each draw's posterior weights (``M_missing_weights``); per row they sum to 1.
    uniforms : array (draw, row)
        Uniform numbers, one per draw and mixture row (groups' rows in order): the inverse
        of each row's weights' cumulative sum picks the component.
    M : array (obs, mediator, draw)
        The mediators with a draw axis; the groups' cells are overwritten.
    """
    start = 0
    for g in groups:
        n_rows, n_comp = len(g.rows), len(g.values)
        w = weights[:, g.offset:g.offset + g.size].reshape(-1, n_rows, n_comp)
        cumulative = np.cumsum(w, axis=2)
        u = uniforms[:, start:start + n_rows, None] * cumulative[:, :, -1:]
        picked = np.minimum((cumulative < u).sum(axis=2), n_comp - 1)  # (draw, row)
        for j, k in enumerate(g.mediators):
            M[g.rows, k, :] = g.values[picked, j].T
        start += n_rows
