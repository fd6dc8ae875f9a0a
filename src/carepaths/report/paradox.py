"""The support paradox in numbers and words, computed from the effect draws (never typed in).

:func:`paradox_table` gives, per stage, the total effect and the posterior probability of
each direction, and the joint probability that the exposure raises the outcome in one
stage and lowers it in another; :func:`paradox_sentences` says it in words for the
report, with :func:`format_probability` so that no probability reads as certain.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from carepaths.counterfactual.effects import POOLED, Effects
from carepaths.exceptions import CarepathsError
from carepaths.intervals import interval_label
from carepaths.results import summarize

__all__ = ["paradox_table", "paradox_sentences", "format_probability", "effect_stages"]


def _default_paradox_stages(stages: Sequence[str]) -> tuple[str, str]:
    if len(stages) < 2:
        raise CarepathsError(
            "the paradox compares two stages; these effects have "
            f"{list(stages) or 'none'}. Give the spec at least two stages."
        )
    return stages[0], stages[1]


def effect_stages(effects: Effects) -> list[str]:
    return [str(s) for s in effects.draws["stage"].values if str(s) != POOLED]


def paradox_table(
    effects: Effects, *, raises_in: str | None = None, lowers_in: str | None = None
) -> pd.DataFrame:
    """Per stage: the total effect and the posterior probability of each direction.

    Parameters
    ----------
    effects : Effects
        Effects by stage (``fit.effects(by="stage")``).
    raises_in, lowers_in : str, optional
        The stages in which the paradox says the exposure raises and lowers the outcome;
        default the first and second stage of the spec (crisis and recovery for the
        default spec).

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
    default_up, default_down = _default_paradox_stages(stages)
    up = raises_in or default_up
    down = lowers_in or default_down
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


def format_probability(p: float, n_draws: int) -> str:
    """A posterior probability for a sentence: two decimals, or a bound when every draw agrees.

    Parameters
    ----------
    p : float
        The probability (a share of draws).
    n_draws : int
        The number of draws it is a share of.

    Returns
    -------
    str
        ``"= 0.97"``; ``"> 0.999"`` when every one of 1,000 or more draws agrees (``"= 1"``
        would claim certainty the draws cannot give) and ``"< 0.001"`` when none does;
        with fewer draws the bound has two decimals (``"> 0.99"``). Probabilities within
        0.005 of 0 or 1 get three decimals, so none prints as 0.00 or 1.00.
    """
    digits = 3 if n_draws >= 1000 else 2
    bound = math.floor((1.0 - 1.0 / max(n_draws, 1)) * 10**digits) / 10**digits
    if p >= 1.0:
        return f"> {bound:.{digits}f}"
    if p <= 0.0:
        return f"< {1 - bound:.{digits}f}"
    if 0.005 <= p < 0.995:
        return f"= {p:.2f}"
    near = f"{p:.3f}"  # two decimals would print 1.00 or 0.00
    if near == "1.000":
        return "> 0.999"
    if near == "0.000":
        return "< 0.001"
    return f"= {near}"


def _words(name: str) -> str:
    return name.replace("_", " ")


def paradox_sentences(
    effects: Effects,
    *,
    exposure: str,
    outcome: str,
    raises_in: str | None = None,
    lowers_in: str | None = None,
) -> list[str]:
    """The paradox in words, every number computed from the posterior draws.

    Parameters
    ----------
    effects : Effects
        Effects by stage.
    exposure, outcome : str
        Variable names for the sentences (underscores become spaces).
    raises_in, lowers_in : str, optional
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
    table = paradox_table(effects, raises_in=raises_in, lowers_in=lowers_in)
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
