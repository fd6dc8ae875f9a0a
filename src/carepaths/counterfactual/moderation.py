"""Effects conditional on a moderator's values, and the index of moderated mediation.

``fit.effects(at={"severity": [5, 15]})`` evaluates the effects with every row given each
value of a moderator in turn: :func:`moderator_rows` turns the values into rows for the
population sampler. A moderator is a declared confounder — measured before the exposure
and not affected by it, so that setting it describes a subgroup rather than a mediator.

The index of moderated mediation (Hayes 2015) is how the indirect effect changes per unit
of a numeric moderator. In the linear model with a moderated ``a`` path
(``a(W) = a + a_W W``) and an unmoderated ``b`` it is ``a_W b``; carepaths computes it
from the conditional effects on every draw — the least-squares slope of the NIE (or a
mechanism's IIE) over the moderator values — which is that product in the linear case and
the average slope of the indirect effect in the moderator otherwise
(:func:`index_draws`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from carepaths.counterfactual.population import RowData
from carepaths.data import Panel
from carepaths.exceptions import CarepathsError, suggest_closest

__all__ = ["Moderator", "moderator_rows", "index_draws"]


@dataclass(frozen=True)
class Moderator:
    """The values of one moderator and the rows that hold each.

    Attributes
    ----------
    name : str
        The confounder.
    kind : {"numeric", "categorical"}
    labels : list of str
        ``"<name>=<value>"`` per value (the ``at`` coordinate of the effects).
    values : numpy.ndarray
        The numeric values (in the moderator's units), or the level positions 0, 1, ...
        for a categorical moderator.
    rows : list of RowData
        The panel's rows with the moderator set to each value.
    """

    name: str
    kind: str
    labels: list[str]
    values: np.ndarray
    rows: list[RowData]


def moderator_rows(panel: Panel, at: Mapping[str, Sequence[Any]] | None, *, population: str) -> Moderator | None:
    """The rows of ``panel`` with a moderator set to each of the values in ``at``.

    Parameters
    ----------
    panel : Panel
    at : dict, optional
        One confounder name mapped to a non-empty list of its values: finite numbers in its
        units for a numeric confounder, levels for a categorical one. None: no moderator.
    population : str
        ``"marginal"`` only: the conditional population abducts each person's mediator noise
        at the observed values, which setting the moderator would contradict.

    Returns
    -------
    Moderator or None

    Raises
    ------
    CarepathsError
        On anything but one declared confounder with distinct valid values, or with the
        conditional population.
    """
    if at is None:
        return None
    spec = panel.spec
    example = "e.g. at={'severity': [5, 15]}"
    if not isinstance(at, Mapping) or len(at) != 1:
        raise CarepathsError(
            f"at must be a dict naming one moderator and its values ({example}), got {at!r}."
        )
    [(name, values)] = at.items()
    confounders = list(spec.confounder_names)
    if name not in confounders:
        hint = suggest_closest(str(name), confounders) if isinstance(name, str) else ""
        raise CarepathsError(
            f"at: {name!r} is not a confounder of the spec.{hint} A moderator is a declared "
            "confounder (measured before the exposure and not affected by it); confounders: "
            f"{', '.join(confounders) or 'none'}."
        )
    if population != "marginal":
        raise CarepathsError(
            "at= needs population='marginal': the conditional population keeps each person's "
            "observed mediators, which setting the moderator to another value would contradict."
        )
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray) or len(values) == 0:
        raise CarepathsError(f"at[{name!r}] must be a non-empty list of values ({example}), got {values!r}.")
    values = list(values)
    confounder = next(c for c in spec.confounders if c.name == name)
    base = RowData.from_panel(panel)
    terms = list(spec.confounder_terms)
    C = base.C
    rows, labels = [], []
    if confounder.kind == "numeric":
        bad = [v for v in values if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating)
               or not np.isfinite(v)]
        if bad:
            raise CarepathsError(
                f"at[{name!r}]: the values of a numeric moderator must be finite numbers in its units, got {bad[0]!r}."
            )
        if len(set(map(float, values))) != len(values):
            raise CarepathsError(f"at[{name!r}] lists a value more than once: {values!r}; list each once.")
        scaling = panel.scaling[name]
        j = terms.index(name)
        for v in values:
            new_C = C.copy()
            new_C[:, j] = scaling.to_model(float(v))
            rows.append(dataclasses.replace(base, C=new_C))
            labels.append(f"{name}={float(v):g}")
        positions = np.asarray(values, dtype=float)
    else:
        unknown = [v for v in values if v not in confounder.levels]
        if unknown:
            raise CarepathsError(
                f"at[{name!r}]: {unknown[0]!r} is not a level of {name!r}."
                f"{suggest_closest(str(unknown[0]), list(confounder.levels))} Levels: {', '.join(confounder.levels)}."
            )
        if len(set(values)) != len(values):
            raise CarepathsError(f"at[{name!r}] lists a level more than once: {values!r}; list each once.")
        for level in values:
            new_C = C.copy()
            for lvl in confounder.levels:
                if lvl == confounder.reference:
                    continue
                term = f"{name}[{lvl}]"
                new_C[:, terms.index(term)] = float(level == lvl) - panel.scaling[term].loc
            rows.append(dataclasses.replace(base, C=new_C))
            labels.append(f"{name}={level}")
        positions = np.asarray([list(confounder.levels).index(v) for v in values], dtype=float)
    return Moderator(name=name, kind=confounder.kind, labels=labels, values=positions, rows=rows)


def index_draws(draws: xr.Dataset, names: Sequence[str]) -> xr.Dataset:
    """The index of moderated mediation of each effect in ``names``, per draw.

    The least-squares slope of the effect over the moderator's values (coordinate
    ``at_value`` of dim ``at``): with two values, the difference of the effects divided by
    the difference of the values.

    Raises
    ------
    CarepathsError
        Without effects at two or more values of a numeric moderator.
    """
    if "at" not in draws.dims or draws.attrs.get("moderator_kind") != "numeric" or draws.sizes["at"] < 2:
        raise CarepathsError(
            "the index of moderated mediation needs effects at two or more values of a numeric "
            "moderator: fit.effects(at={'<confounder>': [value1, value2]})."
        )
    w = draws["at_value"]
    centred = w - w.mean()
    slope = {name: (draws[name] * centred).sum("at") / float((centred**2).sum()) for name in names if name in draws}
    out = xr.Dataset(slope)
    out.attrs.update({k: v for k, v in draws.attrs.items()})
    return out
