"""The simulator's longitudinal scenario: a spec with a ``[time]`` table, simulated wave by wave.

Each person starts in a stage drawn from ``stage_initial`` with confounders drawn as in
the per-wave simulator; from the second wave on the stage follows the transition model,
which responds to the previous wave's care use (care in crisis moves persons towards
recovery), the time-varying confounders follow their own model (care lowers the next
wave's severity), and the exposure, the mediators and care use follow their equations
with the lag terms (care use persists: ``delta[lag(care_use)]`` 2.0). The exposure responds
to severity, which responds to earlier care: time-varying confounding affected by
earlier care, the case the g-formula exists for.

Default time parameters (:func:`default_time_params`; override them by name through
``simulate(..., params=...)``) are on the generating scale: per SD of a standardised
confounder, per unit of a 0/1 care use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from carepaths.exceptions import SimulationError
from carepaths.spec import FIRST_WAVE, Spec

__all__ = ["TIME_PARAMS", "check_longitudinal", "default_time_params", "time_arrays"]

#: The simulator's parameters of the equations over time (beside SIMULATOR_ONLY).
TIME_PARAMS = ("transition_given", "tv_rho", "tv_stage", "tv_lag", "tv_sigma")


def check_longitudinal(spec: Spec) -> None:
    """Refuse what the longitudinal scenario does not simulate yet."""
    if spec.time is None:
        return
    unsupported = []
    if spec.structure.person_effects == "slopes":
        unsupported.append('person_effects = "slopes"')
    if spec.structure.center_exposure_within_person:
        unsupported.append("center_exposure_within_person")
    if spec.exposure.kind != "continuous":
        unsupported.append("a binary exposure")
    if spec.columns.cluster is not None:
        unsupported.append("a cluster column")
    numeric = {c.name for c in spec.confounders if c.kind == "numeric"}
    categorical = [n for n in spec.time.time_varying if n not in numeric]
    if categorical:
        unsupported.append(f"categorical time-varying confounders ({', '.join(categorical)})")
    if unsupported:
        raise SimulationError(
            f"the longitudinal scenario (a spec with [time]) does not simulate {', '.join(unsupported)} yet: "
            "remove it from the spec to simulate waves with lags and stage transitions."
        )


def default_time_params(spec: Spec) -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
    """The default parameters of the equations over time, by name: ``(dims, values)``.

    * ``transition_given`` (given, stage_next): the previous wave's care use shifts the
      log-odds of the next stage by -0.8 (crisis), +0.6 (recovery), +0.2 (the rest);
      other given values by 0;
    * ``tv_rho`` 0.7, ``tv_sigma`` sqrt(1 - 0.7^2) (a stationary standardised AR(1)),
      ``tv_stage`` +0.3 in the first stage, -0.2 in the last, ``tv_lag``: -0.4 per unit
      of the previous wave's care use (care lowers severity), 0 for the other lag terms.
    """
    time = spec.time
    assert time is not None
    S = len(spec.stage_levels)
    given = time.transition_given or ()
    shift = np.full(S, 0.2)
    if S >= 2:
        shift[0], shift[1] = -0.8, 0.6
    transition_given = np.array([shift if name == spec.outcome.name else np.zeros(S) for name in given]).reshape(
        len(given), S)
    V = len(time.time_varying)
    stage_shift = np.zeros(S)
    stage_shift[0], stage_shift[-1] = 0.3, -0.2
    lag = np.array([-0.4 if term == f"lag({spec.outcome.name})" else 0.0 for term in spec.lag_terms])
    return {
        "transition_given": (("given", "stage_next"), transition_given),
        "tv_rho": (("time_varying",), np.full(V, 0.7)),
        "tv_stage": (("time_varying", "stage"), np.tile(stage_shift, (V, 1))),
        "tv_lag": (("time_varying", "lag_term"), np.tile(lag, (V, 1))),
        "tv_sigma": (("time_varying",), np.full(V, np.sqrt(1 - 0.7**2))),
    }


def default_lag_paths(spec: Spec, gamma_m: np.ndarray, delta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The per-wave equations' coefficients of the lag terms: care use persists strongly
    (``delta[lag(<outcome>)]`` 2.0 on the log-odds scale: the previous wave's care use is
    the strongest predictor of care use), the first wave shifts nothing, other lags 0.1
    (mediators) and 0.2 (outcome). Strong persistence makes an intervention's effect
    accumulate over waves: the case in which a static per-wave analysis misses it."""
    terms = list(spec.confounder_terms)
    gamma_m, delta = gamma_m.copy(), delta.copy()
    for term in spec.lag_terms:
        j = terms.index(term)
        gamma_m[:, j] = 0.0 if term == FIRST_WAVE else 0.1
        delta[j] = {FIRST_WAVE: 0.0, f"lag({spec.outcome.name})": 2.0}.get(term, 0.2)
    return gamma_m, delta


def time_arrays(spec: Spec, values: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The arrays of :mod:`carepaths.structural.time_equations` from the simulator's parameters.

    ``transition_log`` is the log of ``stage_transition``, with each absorbing stage's row
    0 at itself and ``-inf`` elsewhere.
    """
    time = spec.time
    assert time is not None
    with np.errstate(divide="ignore"):
        log = np.log(np.asarray(values["stage_transition"], dtype=float))
    for name in time.absorbing:
        s = spec.stage_levels.index(name)
        log[s] = -np.inf
        log[s, s] = 0.0
    return {"transition_log": log, **{name: np.asarray(values[name], dtype=float) for name in TIME_PARAMS},
            "alpha_x": np.asarray(values["alpha_x"], dtype=float), "gamma_x": np.asarray(values["gamma_x"], dtype=float),
            "sigma_x": float(values["sigma_x"])}
