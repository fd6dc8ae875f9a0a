"""The support paradox in numbers and words, computed from the effect draws (never typed in).

:func:`paradox_table` gives, per stage, the total effect and the posterior probability of
each direction, and the joint probability that the exposure raises the outcome in one
stage and lowers it in another; :func:`paradox_sentences` says it in words for the
report, with :func:`format_probability` so that no probability reads as certain.

Which two stages: those named by the caller (``raises_in``, ``lowers_in``), else those
of the spec's ``[paradox]`` table (``spec.paradox``, when a spec is given), else the
spec's first two stages. The report has a paradox section only when the spec defines
the paradox (:func:`spec_paradox`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from carepaths.counterfactual.effects import POOLED, Effects
from carepaths.exceptions import CarepathsError
from carepaths.intervals import interval_label
from carepaths.results import format_probability, summarize
from carepaths.spec import Spec

__all__ = ["paradox_table", "paradox_sentences", "format_probability", "effect_stages", "spec_paradox"]


def spec_paradox(spec: Spec | None) -> Any:
    """The spec's paradox (``.raises_in``, ``.lowers_in``), or None when it defines none."""
    return None if spec is None else getattr(spec, "paradox", None)


def _paradox_stages(
    stages: Sequence[str], raises_in: str | None, lowers_in: str | None, spec: Spec | None
) -> tuple[str, str]:
    """The two stages: explicit ones, else the spec's paradox, else the first two stages."""
    defined = spec_paradox(spec)
    if defined is not None:
        raises_in = raises_in or defined.raises_in
        lowers_in = lowers_in or defined.lowers_in
    if raises_in is None or lowers_in is None:
        default_up, default_down = _default_paradox_stages(stages)
        raises_in, lowers_in = raises_in or default_up, lowers_in or default_down
    return raises_in, lowers_in


def _default_paradox_stages(stages: Sequence[str]) -> tuple[str, str]:
    if len(stages) < 2:
        raise CarepathsError(
            "the paradox compares two stages; these effects have "
            f"{list(stages) or 'none'}. Give the spec at least two stages."
        )
    return stages[0], stages[1]


def effect_stages(effects: Effects) -> list[str]:
    """The stages of effect draws, without ``"pooled"`` (none for a spec without stages)."""
    return [str(s) for s in effects.draws["stage"].values if str(s) != POOLED]


def paradox_table(
    effects: Effects, *, raises_in: str | None = None, lowers_in: str | None = None, spec: Spec | None = None
) -> pd.DataFrame:
    """Per stage: the total effect and the posterior probability of each direction.

    Parameters
    ----------
    effects : Effects
        Effects by stage (``fit.effects(by="stage")``).
    raises_in, lowers_in : str, optional
        The stages in which the paradox says the exposure raises and lowers the outcome;
        default those of ``spec.paradox`` when a spec defining one is given, else the
        first and second stage (crisis and recovery for the default spec).
    spec : Spec, optional
        The spec the effects come from: its ``[paradox]`` stages are the default.

    Returns
    -------
    pandas.DataFrame
        Index ``stage`` (every stage, without ``pooled``); columns ``mean``, ``lower``,
        ``upper`` (the package interval of TE), ``P(raises)`` (``P(TE > null)``) and
        ``P(lowers)`` (``P(TE < null)``). ``attrs["joint"]`` is the posterior probability
        that TE is above the null in ``raises_in`` *and* below it in ``lowers_in`` (the
        paradox as one event, from the joint draws); ``attrs`` also name the two stages,
        the null and the interval.

    Raises
    ------
    CarepathsError
        If the effects have fewer than two stages or a named stage is not among them.
    """
    stages = effect_stages(effects)
    if len(stages) < 2:
        _default_paradox_stages(stages)  # refuses, saying why
    up, down = _paradox_stages(stages, raises_in, lowers_in, spec)
    for name in (up, down):
        if name not in stages:
            raise CarepathsError(f"stage {name!r} is not in these effects; choose from {stages}.")
    null = effects.null
    te = effects.draws["TE"].sel(stage=stages)
    dims = list(effects.sample_dims)
    stats = summarize(te)["TE"]
    table = pd.DataFrame(
        {
            "mean": stats.sel(summary="mean").values,
            "lower": stats.sel(summary="lower").values,
            "upper": stats.sel(summary="upper").values,
            "P(raises)": (te > null).mean(dims).values,
            "P(lowers)": (te < null).mean(dims).values,
        },
        index=pd.Index(stages, name="stage"),
    )
    joint = (te.sel(stage=up).values > null) & (te.sel(stage=down).values < null)
    table.attrs.update(
        joint=float(joint.mean()), raises_in=up, lowers_in=down, null=null,
        interval=interval_label(), scale=effects.scale,
    )
    return table


def _words(name: str) -> str:
    return name.replace("_", " ")


def paradox_sentences(
    effects: Effects,
    *,
    exposure: str,
    outcome: str,
    raises_in: str | None = None,
    lowers_in: str | None = None,
    spec: Spec | None = None,
) -> list[str]:
    """The paradox in words, every number computed from the posterior draws.

    Parameters
    ----------
    effects : Effects
        Effects by stage.
    exposure, outcome : str
        Variable names for the sentences (underscores become spaces).
    raises_in, lowers_in, spec : optional
        As in :func:`paradox_table`.

    Returns
    -------
    list of str
        First the two probabilities of the paradox, e.g. ``"P(support raises care use in
        crisis) = 0.97; P(support lowers care use in recovery) = 0.93."`` (formatted by
        :func:`format_probability`, so a probability every draw agrees on reads
        ``> 0.999``); then the joint
        probability and a verdict; then, per stage, the favoured direction with its
        posterior mean and interval, and the mechanism with the largest indirect effect.
    """
    table = paradox_table(effects, raises_in=raises_in, lowers_in=lowers_in, spec=spec)
    up, down = table.attrs["raises_in"], table.attrs["lowers_in"]
    x, y = _words(exposure), _words(outcome)
    p_up = table.loc[up, "P(raises)"]
    p_down = table.loc[down, "P(lowers)"]
    joint = table.attrs["joint"]
    n = int(effects.draws["TE"].sizes["chain"] * effects.draws["TE"].sizes["draw"])
    lines = [
        (
            f"P({x} raises {y} in {up}) {format_probability(p_up, n)}; "
            f"P({x} lowers {y} in {down}) {format_probability(p_down, n)}."
        ),
    ]
    if joint >= 0.9:
        verdict = "the posterior supports the paradox"
    elif joint <= 0.1:
        verdict = "the posterior speaks against the paradox"
    else:
        verdict = "the posterior is not decisive about the paradox"
    lines.append(
        f"P({x} raises {y} in {up} and lowers it in {down}) {format_probability(joint, n)}: {verdict}."
    )
    summary = effects.summary()
    for stage, row in table.iterrows():
        direction, p = ("raises", row["P(raises)"]) if row["mean"] > table.attrs["null"] else ("lowers", row["P(lowers)"])
        iie = summary.xs(stage, level="stage")
        iie = iie[iie.index.str.startswith("IIE[")]
        biggest = ""
        if len(iie):
            top = iie["mean"].abs().idxmax()
            biggest = (
                f" The largest indirect path is {top[4:-1]} "
                f"({iie.loc[top, 'mean']:+.3f} [{iie.loc[top, 'lower']:+.3f}, {iie.loc[top, 'upper']:+.3f}])."
            )
        lines.append(
            f"In {stage}, {x} most probably {direction} {y} (P {format_probability(p, n)}; total effect "
            f"{row['mean']:+.3f}, {interval_label()} [{row['lower']:+.3f}, {row['upper']:+.3f}], "
            f"{effects.scale.replace('_', ' ')}).{biggest}"
        )
    return lines
