"""Attrition for simulated panels: MCAR, MAR and MNAR dropout (issue 17).

A person is observed at the first wave and then, at each later wave, drops out for good
with a hazard (monotone attrition: the rows from the dropout wave on are absent, as they
are from a real cohort's file):

- ``"mcar"``: a constant hazard, unrelated to anything;
- ``"mar"``: a hazard that depends on the person's *previous* wave (observed before the
  dropout), by default the outcome and the first numeric confounder, each standardised,
  with log-odds ``-strength`` per SD: people who were out of care and less severely ill
  stop answering, so the completers are sicker and more often in care;
- ``"mnar"``: a hazard that depends on the *same* wave's values, which are then not
  observed: what an analysis under MAR cannot correct.

The baseline log-odds are set by bisection on the drawn uniforms so that the share of
absent rows is ``rate`` (to one dropout, a few rows), so the same seed gives the same rows.

With ``pattern="items"`` no row is removed; single values go missing within rows instead
(:func:`apply_item_missing`): each numeric confounder but the first (share ``rate / 2``)
and a continuous exposure (``rate / 4``), under MAR with log-odds ``strength`` per SD of
the row's first numeric confounder (always observed), under MNAR of its own value; each
mediator's values, of every family (share ``rate / 2``, MCAR, or
under MAR and MNAR with log-odds ``strength`` per SD of the row's first numeric
confounder, which is always observed), then the outcome's (share ``rate``): constant under
MCAR; under MAR with log-odds ``-strength`` per SD of the sum of the row's *observed*
standardised mediators (a missing one counts 0), so that whether a value is missing depends
only on values that are observed, the definition of missing at random; under MNAR with
log-odds ``-strength`` per SD of the outcome itself. Dropping the rows with a missing
outcome then selects on the mediators, which biases their paths (a complete-case
analysis), while a model of the missing values does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from carepaths.exceptions import SimulationError
from carepaths.spec import Spec

MECHANISMS = ("mcar", "mar", "mnar")
PATTERNS = ("waves", "items")


def attrition_settings(spec: Spec, missing: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``simulate(..., missing=...)`` and fill its defaults.

    Parameters
    ----------
    spec : Spec
    missing : mapping
        ``mechanism`` (``"mcar"``, ``"mar"`` or ``"mnar"``), ``rate`` (share of
        person-waves absent, in (0, 0.8]), optional ``on`` (columns the hazard depends
        on; default the outcome and the first numeric confounder) and ``strength``
        (log-odds of dropping out per SD of each, lower values dropping out more;
        default 1.0).

    Returns
    -------
    dict
        The settings with every key filled.
    """
    if not isinstance(missing, Mapping):
        raise SimulationError(f"missing must be a mapping such as {{'mechanism': 'mar', 'rate': 0.3}}, got {missing!r}.")
    unknown = sorted(set(missing) - {"mechanism", "rate", "on", "strength", "pattern"})
    if unknown:
        raise SimulationError(
            f"missing has unknown key(s) {unknown}: the keys are mechanism, rate, on, strength, pattern.")
    pattern = missing.get("pattern", "waves")
    if pattern not in PATTERNS:
        raise SimulationError(
            f"missing['pattern'] must be 'waves' (monotone attrition) or 'items' (single values missing "
            f"within rows), got {pattern!r}.")
    if pattern == "items" and "on" in missing:
        raise SimulationError("missing['on'] applies to pattern 'waves' only: the 'items' pattern's hazards are fixed "
                              "(see carepaths.missingness).")
    if spec.columns.person is None or spec.columns.wave is None:
        raise SimulationError("missing=... simulates attrition over waves: the spec needs person and wave columns.")
    mechanism = missing.get("mechanism")
    if mechanism not in MECHANISMS:
        raise SimulationError(f"missing['mechanism'] must be one of {list(MECHANISMS)}, got {mechanism!r}.")
    rate = missing.get("rate")
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 0.8:
        raise SimulationError(f"missing['rate'] must be the share of person-waves absent, in (0, 0.8], got {rate!r}.")
    numeric = [c.name for c in spec.confounders if c.kind == "numeric"]
    default_on = [spec.outcome.name, *numeric[:1]]
    on = list(missing.get("on", default_on))
    allowed = [spec.exposure.name, *spec.mediator_names, spec.outcome.name, *numeric]
    bad = [c for c in on if c not in allowed]
    if bad:
        raise SimulationError(f"missing['on'] names {bad}: the hazard can depend on {allowed} (numeric columns).")
    strength = missing.get("strength", 1.0)
    if isinstance(strength, bool) or not isinstance(strength, int | float) or not np.isfinite(strength):
        raise SimulationError(f"missing['strength'] must be a finite number (log-odds per SD), got {strength!r}.")
    if pattern == "items" and not numeric:
        raise SimulationError("missing pattern 'items' needs a numeric confounder (the mediators' hazard depends on it).")
    return {"mechanism": mechanism, "rate": float(rate), "on": on if mechanism != "mcar" and pattern == "waves" else [],
            "strength": float(strength), "pattern": pattern}


def apply_attrition(frame: pd.DataFrame, spec: Spec, settings: Mapping[str, Any],
                    rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows still observed after dropout, and each person's record.

    Parameters
    ----------
    frame : pandas.DataFrame
        The complete simulated panel (every person at every wave).
    spec : Spec
    settings : mapping
        From :func:`attrition_settings`.
    rng : numpy.random.Generator

    Returns
    -------
    observed : pandas.DataFrame
        The rows before each person's dropout, with the complete frame's index.
    record : pandas.DataFrame
        Per person: ``waves_observed`` and ``dropped_out`` (bool).
    """
    person, wave = spec.columns.person, spec.columns.wave
    ordered = frame.sort_values([person, wave], kind="stable")
    first = ~ordered[person].duplicated().to_numpy()
    score = _hazard_score(ordered, settings, first)
    uniforms = rng.random(len(ordered))

    def absent(alpha: float) -> np.ndarray:
        hazard = special.expit(alpha + score)
        leaves = (uniforms < hazard) & ~first  # the first wave is always observed
        # once out, out for good: absent from the first dropout on, within each person
        return pd.Series(leaves, index=ordered.index).groupby(ordered[person].to_numpy()).cummax().to_numpy()

    gone = absent(_baseline(lambda alpha: absent(alpha).mean(), settings["rate"]))
    observed = ordered.loc[~gone].sort_index()
    counts = observed.groupby(person).size().reindex(ordered[person].unique(), fill_value=0)
    n_waves = ordered.groupby(person).size().reindex(counts.index)
    record = pd.DataFrame({"waves_observed": counts.to_numpy(), "dropped_out": (counts < n_waves).to_numpy()},
                          index=pd.Index(counts.index, name=person))
    return observed, record


def _hazard_score(ordered: pd.DataFrame, settings: Mapping[str, Any], first: np.ndarray) -> np.ndarray:
    """``-strength * sum of the standardised columns`` at the previous (MAR) or same (MNAR) wave."""
    score = np.zeros(len(ordered))
    for col in settings["on"]:
        values = ordered[col].to_numpy(float)
        z = (values - values.mean()) / (values.std() or 1.0)
        if settings["mechanism"] == "mar":
            z = np.concatenate([[0.0], z[:-1]])  # the previous row: the same person's previous wave
            z[first] = 0.0
        score -= settings["strength"] * z
    return score


def apply_item_missing(frame: pd.DataFrame, spec: Spec, settings: Mapping[str, Any],
                       rng: np.random.Generator) -> pd.DataFrame:
    """Single values set missing within rows (``pattern="items"``; see the module docstring).

    Parameters
    ----------
    frame : pandas.DataFrame
        The complete simulated panel.
    spec : Spec
    settings : mapping
        From :func:`attrition_settings`.
    rng : numpy.random.Generator

    Returns
    -------
    pandas.DataFrame
        The same rows, with NaN where a value is missing.
    """
    out = frame.copy()
    mechanism, strength, rate = settings["mechanism"], settings["strength"], settings["rate"]

    def z(values: np.ndarray) -> np.ndarray:
        return (values - np.nanmean(values)) / (np.nanstd(values) or 1.0)

    numeric = [c.name for c in spec.confounders if c.kind == "numeric"]
    severity = z(frame[numeric[0]].to_numpy(float))
    imputed = numeric[1:] + ([spec.exposure.name] if spec.exposure.kind == "continuous" else [])
    for name in imputed:  # the other numeric confounders and a continuous exposure: imputed by the model
        score = {"mcar": 0.0 * severity, "mar": strength * severity,
                 "mnar": strength * z(frame[name].to_numpy(float))}[mechanism]
        share = rate / 4 if name == spec.exposure.name else rate / 2
        out.loc[_chosen(score, share, rng.random(len(frame))), name] = np.nan
    for m in spec.mediators:  # every family (a binary or ordinal one is summed out by the model)
        score = np.zeros(len(frame)) if mechanism == "mcar" else strength * severity
        out.loc[_chosen(score, rate / 2, rng.random(len(frame))), m.name] = np.nan
    if mechanism == "mcar":
        score = np.zeros(len(frame))
    elif mechanism == "mar":
        observed = np.nan_to_num(np.column_stack([z(out[n].to_numpy(float)) for n in spec.mediator_names]), nan=0.0)
        score = -strength * z(observed.sum(axis=1))
    else:
        score = -strength * z(frame[spec.outcome.name].to_numpy(float))
    out.loc[_chosen(score, rate, rng.random(len(frame))), spec.outcome.name] = np.nan
    return out


def _chosen(score: np.ndarray, rate: float, uniforms: np.ndarray) -> np.ndarray:
    """Rows missing with log-odds ``alpha + score``, ``alpha`` set for the share ``rate``."""
    alpha = _baseline(lambda a: (uniforms < special.expit(a + score)).mean(), rate)
    return uniforms < special.expit(alpha + score)


def _baseline(share: Any, rate: float) -> float:
    """The baseline log-odds at which ``share(alpha)`` (growing with alpha) reaches ``rate``, by bisection."""
    lo, hi = -30.0, 30.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if share(mid) < rate:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def completers(frame: pd.DataFrame, spec: Spec, record: pd.DataFrame) -> pd.DataFrame:
    """The complete-case panel: only the persons observed at every wave."""
    keep = record.index[~record["dropped_out"].to_numpy()]
    return frame.loc[frame[spec.columns.person].isin(keep)]
