"""The time structure of a panel: each row's previous wave, and the moves between stages.

Used by :meth:`carepaths.data.Panel.from_frame` when the spec has a ``[time]`` table
(:class:`carepaths.spec.Time`): a lag needs each person's previous wave, so the waves must
be whole numbers and a person's waves consecutive (a gap is refused, with the ways out);
a declared stage-transition model needs observed transitions, and each absorbing stage
to be entered at least once and never left.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carepaths.exceptions import DataError
from carepaths._messages import quote, show_rows, show_values
from carepaths.spec import Spec

__all__ = ["check_transitions", "previous_rows", "transition_counts"]

_PERSONS_SHOWN = 3


def previous_rows(frame: pd.DataFrame, spec: Spec) -> np.ndarray:
    """Each row's previous wave: its position in ``frame``, -1 at a person's first wave.

    Parameters
    ----------
    frame : pandas.DataFrame
        The rows kept (checked identifiers: person and wave present, no duplicate pair).
    spec : Spec
        With ``columns.person`` and ``columns.wave``.

    Returns
    -------
    int array (row,)

    Raises
    ------
    DataError
        If a wave is not a whole number, or a person's waves are not consecutive (a gap).
    """
    cols = spec.columns
    wave = frame[cols.wave].to_numpy(float)
    fractional = wave != np.round(wave)
    if fractional.any():
        raise DataError(
            f"column {quote(cols.wave)} has wave numbers that are not whole numbers "
            f"({show_values(sorted(set(wave[fractional].tolist())))}, {show_rows(frame.index, fractional)}): "
            "spec key 'time' lags values by one wave, which needs waves numbered 1, 2, 3, ... "
            "Renumber the waves in order within each person."
        )
    person, _ = pd.factorize(frame[cols.person], sort=False)
    order = np.lexsort((wave, person))
    same = person[order][1:] == person[order][:-1]
    step = np.diff(wave[order])
    gap = same & (step != 1)
    if gap.any():
        after = order[1:][gap]  # the first row after each gap
        persons = frame[cols.person].to_numpy()[after]
        shown = []
        for p in list(dict.fromkeys(persons.tolist()))[:_PERSONS_SHOWN]:
            waves = np.sort(wave[frame[cols.person].to_numpy() == p]).astype(int).tolist()
            shown.append(f"person {quote(p)} has waves {waves}")
        n = len(set(persons.tolist()))
        more = f" ({n} persons in all)" if n > _PERSONS_SHOWN else ""
        mask = np.zeros(len(frame), dtype=bool)
        mask[after] = True
        raise DataError(
            f"column {quote(cols.wave)}: {'; '.join(shown)}{more}, with waves missing in between "
            f"({show_rows(frame.index, mask)} follow a gap). Spec key 'time' declares lags, and the "
            "previous-wave value of the wave after a gap is unknown: carepaths does not carry an older "
            "wave's value across it. Split the person's record at the gap (a new person id from the wave "
            "after it, whose first wave then starts a history without a lag), or drop the waves after it."
        )
    previous = np.full(len(frame), -1, dtype=np.int64)
    previous[order[1:][same]] = order[:-1][same]
    return previous


def check_transitions(frame: pd.DataFrame, spec: Spec, previous: np.ndarray) -> None:
    """A declared stage-transition model against the stages of the data.

    Raises
    ------
    DataError
        If no person has two consecutive waves, no transition into an absorbing stage
        occurs, or a person leaves an absorbing stage.
    """
    time = spec.time
    if time is None or time.transition_given is None:
        return
    cols = spec.columns
    labels = frame[cols.stage].astype(str).to_numpy()
    moves = previous >= 0
    if not moves.any():
        raise DataError(
            "spec key 'time.stage_transition' models how the stage changes from one wave to the next, "
            f"but no person has two consecutive waves in the data (column {quote(cols.wave)}). Check the "
            "person and wave columns, or remove the table."
        )
    for stage in time.absorbing:
        present = labels == stage
        before = labels[np.maximum(previous, 0)]
        if not (moves & present & (before != stage)).any():
            raise DataError(
                f"stage {quote(stage)} is declared absorbing (spec key 'time.stage_transition.absorbing') "
                f"but no transition into it occurs in column {quote(cols.stage)} (it is {int(present.sum())} "
                "row(s), none entered from another stage between consecutive waves): the chance of "
                "entering it cannot be estimated from data that never show it. Remove it from 'absorbing', "
                "or check the stage labels."
            )
        left = moves & (before == stage) & ~present
        if left.any():
            persons = frame[cols.person].to_numpy()[left]
            raise DataError(
                f"stage {quote(stage)} is declared absorbing (spec key 'time.stage_transition.absorbing'), "
                f"but person(s) {show_values(list(dict.fromkeys(persons.tolist())))} leave it "
                f"({show_rows(frame.index, left)} follow a wave in it). An absorbing stage is never left: "
                "remove it from 'absorbing', or check those persons' stages."
            )


def transition_counts(stage: np.ndarray, previous: np.ndarray, stages: tuple[str, ...]) -> pd.DataFrame:
    """How many persons moved from each stage (rows) to each stage (columns) between waves.

    Parameters
    ----------
    stage : int array (row,)
        Stage code of each row.
    previous : int array (row,)
        Each row's previous wave (-1 at a first wave), :func:`previous_rows`.
    stages : tuple of str
        The stage labels in code order.
    """
    moves = previous >= 0
    counts = np.zeros((len(stages), len(stages)), dtype=np.int64)
    np.add.at(counts, (stage[previous[moves]], stage[moves]), 1)
    return pd.DataFrame(counts, index=pd.Index(stages, name="from"), columns=pd.Index(stages, name="to"))
