"""The equations of what carries over between waves (a spec's ``[time]`` table).

Beside the per-wave structural equations (:mod:`carepaths.structural.equations`), a
panel over waves has three more:

* the stage at a wave given the previous stage and the previous wave's values
  (``time.stage_transition``): a multinomial logit,
  ``P(S_t = k | S_{t-1} = j, g) ∝ exp(transition_log[j, k] + sum_l g_l transition_given[l, k])``,
  where ``transition_log`` holds log-probabilities (``-inf`` never happens: an absorbing
  stage's row is ``0`` at itself and ``-inf`` elsewhere);
* each time-varying confounder (``time.time_varying``, on its standardised scale):
  ``z_t = tv_rho z_{t-1} + tv_stage[S_t] + sum_j tv_lag[j] lag_j + tv_sigma e_t``;
* the exposure's natural course: ``x_t = alpha_x[S_t] + C_t gamma_x + w_i + sigma_x e_t``
  with a person effect ``w_i`` (the lag terms are columns of ``C_t``).

They are written here once, for one parameter set and a person axis; the forward
simulation over waves (:mod:`carepaths.counterfactual.trajectories`) runs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["exposure_mean", "next_stage", "time_varying_value"]


def next_stage(p: Mapping[str, Any], previous: np.ndarray, given: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """The stage at a wave, drawn from the transition model by inverting its CDF.

    Parameters
    ----------
    p : mapping
        ``transition_log`` (stage, stage_next) and ``transition_given`` (given, stage_next).
    previous : int array (person,)
        The previous wave's stage codes.
    given : array (person, given)
        The previous wave's values the transition depends on (``time.stage_transition.given``).
    uniform : array (person,)
        Standard-uniform numbers (common across the worlds compared).

    Returns
    -------
    int array (person,)
    """
    logits = np.asarray(p["transition_log"])[previous]
    if given.shape[1]:
        logits = logits + given @ np.asarray(p["transition_given"])
    # unnormalised probabilities (exp(-inf) = 0 for a move out of an absorbing stage); the
    # cumulative sum is compared with the uniform scaled by the total
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    cumulative = np.cumsum(weights, axis=1)
    return np.minimum((cumulative < uniform[:, None] * cumulative[:, -1:]).sum(axis=1), weights.shape[1] - 1)


def time_varying_value(p: Mapping[str, Any], v: int, previous: np.ndarray, stage: np.ndarray, lags: np.ndarray,
                       noise: np.ndarray) -> np.ndarray:
    """A time-varying confounder's standardised value at a wave.

    Parameters
    ----------
    p : mapping
        ``tv_rho`` (variable), ``tv_stage`` (variable, stage), ``tv_lag`` (variable, lag
        term), ``tv_sigma`` (variable).
    v : int
        The variable (position in ``time.time_varying``).
    previous : array (person,)
        Its value at the previous wave.
    stage : int array (person,)
        The stage at this wave.
    lags : array (person, lag term)
        The lag terms of this wave (:attr:`carepaths.spec.Spec.lag_terms`).
    noise : array (person,)
        Standard-normal noise.
    """
    return (p["tv_rho"][v] * previous + np.asarray(p["tv_stage"])[v][stage] + lags @ np.asarray(p["tv_lag"])[v]
            + p["tv_sigma"][v] * noise)


def exposure_mean(p: Mapping[str, Any], stage: np.ndarray, C: np.ndarray, person: Any = 0.0) -> np.ndarray:
    """The exposure's natural-course mean at a wave: ``alpha_x[S_t] + C_t gamma_x + w_i``."""
    return np.asarray(p["alpha_x"])[stage] + C @ np.asarray(p["gamma_x"]) + person
