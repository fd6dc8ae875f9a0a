"""Care trajectories over waves: the parametric g-formula run forward, one parameter set at a time.

Given one parameter set (the per-wave structural equations of
:mod:`carepaths.structural.equations` and the equations over time of
:mod:`carepaths.structural.time_equations`), :func:`forward` simulates every person
through the waves in causal order, wave by wave: the stage (from the previous stage and
the previous wave's values), the time-varying confounders, the lag terms, the exposure,
the mediators and the outcome. Interventions act where and when they say (from a wave,
in some stages: static or dynamic), and everything after them follows the equations:
later stages, confounders, exposures and care use respond to the changed care.

Every world compared uses the same random numbers (common random numbers: the same
uniforms per person, wave and variable), so a world that changes nothing reproduces the
natural course exactly. :func:`summarise` turns a course into the estimands by wave:
care use, care use by the stage persons are in, continuation (in care at t given in care
at t-1) and cumulative waves in care.

Today the simulator runs it on the true parameters (the longitudinal scenario and its
truth, :func:`carepaths.simulate` with a ``[time]`` spec). Running it on posterior draws
needs the fitted models over time, which are not built yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr
from scipy import special, stats

from carepaths.counterfactual.interventions import Intervention, model_transform
from carepaths.spec import FIRST_WAVE, Spec
from carepaths.structural import equations, time_equations

__all__ = ["Course", "Noise", "forward", "summarise", "draw_noise"]


@dataclass(frozen=True)
class Noise:
    """The random numbers of a forward simulation, shared by every world compared.

    Attributes
    ----------
    stage : array (wave, person)
        Uniforms of the stage transitions (wave 0 unused).
    time_varying : array (wave, person, variable)
        Standard normals of the time-varying confounders (wave 0 unused).
    exposure : array (wave, person)
        Standard normals of the exposure's residual.
    mediators : array (wave, person, mediator)
        Uniforms of the mediators' latent noise.
    outcome : array (wave, person)
        Uniforms of the outcome.
    """

    stage: np.ndarray
    time_varying: np.ndarray
    exposure: np.ndarray
    mediators: np.ndarray
    outcome: np.ndarray


def _uniforms(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return (rng.integers(1, 2**53 - 1, size=shape, dtype=np.int64) + 0.5) / 2.0**53  # open (0, 1)


def draw_noise(spec: Spec, rng: np.random.Generator, n_waves: int, n_persons: int) -> Noise:
    """Fresh random numbers for :func:`forward`, in a fixed order (reproducible by seed)."""
    V = len(spec.time.time_varying) if spec.time is not None else 0
    return Noise(stage=_uniforms(rng, (n_waves, n_persons)),
                 time_varying=rng.standard_normal((n_waves, n_persons, V)),
                 exposure=rng.standard_normal((n_waves, n_persons)),
                 mediators=_uniforms(rng, (n_waves, n_persons, len(spec.mediators))),
                 outcome=_uniforms(rng, (n_waves, n_persons)))


@dataclass(frozen=True)
class Course:
    """One world's course over waves; arrays with a leading wave axis.

    Attributes
    ----------
    stage : int array (wave, person)
    C : array (wave, person, confounder term)
        The confounder design of each wave, lag terms included (uncentred).
    x : array (wave, person)
    M : array (wave, person, mediator)
    y : array (wave, person)
    """

    stage: np.ndarray
    C: np.ndarray
    x: np.ndarray
    M: np.ndarray
    y: np.ndarray


def _lag_terms(spec: Spec, t: int, course: dict[str, np.ndarray], terms: list[str]) -> np.ndarray:
    """The lag terms of wave ``t`` (person, lag term): the previous wave's values, 0 at the first."""
    n = course["x"].shape[1]
    out = np.zeros((n, len(spec.lag_terms)))
    if t == 0:
        out[:, -1] = 1.0  # first_wave
        return out
    for j, term in enumerate(spec.lag_terms):
        if term == FIRST_WAVE:
            continue
        name, _, level = term[len("lag("):].partition(")")
        if name == spec.outcome.name:
            out[:, j] = course["y"][t - 1]
        elif name == spec.exposure.name:
            out[:, j] = course["x"][t - 1]
        else:  # a confounder: its design column (numeric) or indicator (a categorical level)
            column = f"{name}{level}" if level else name
            out[:, j] = course["C"][t - 1][:, terms.index(column)]
    return out


def _given(spec: Spec, t: int, course: dict[str, np.ndarray], terms: list[str]) -> np.ndarray:
    """The previous wave's values the stage transition depends on (person, given)."""
    time = spec.time
    names = time.transition_given or ()
    lags = _lag_terms(spec, t, course, terms)
    return np.column_stack([lags[:, list(spec.lag_terms).index(f"lag({name})")] for name in names]) if names \
        else np.zeros((lags.shape[0], 0))


def forward(
    spec: Spec, p: Mapping[str, Any], tp: Mapping[str, Any], *, stage0: np.ndarray, C_exogenous: np.ndarray,
    u: np.ndarray, v: np.ndarray, w: np.ndarray, noise: Noise,
    interventions: Sequence[Intervention] = (), sd: Mapping[str, float] | None = None,
) -> Course:
    """Simulate every person through the waves under the natural course or interventions.

    Parameters
    ----------
    spec : Spec
        With a ``[time]`` table (its lags, time-varying confounders and transition model).
    p : mapping
        One parameter set of the per-wave equations (``ParameterSet.sample(i)``).
    tp : mapping
        The equations over time (:mod:`carepaths.structural.time_equations`):
        ``transition_log``, ``transition_given``, ``tv_rho``, ``tv_stage``, ``tv_lag``,
        ``tv_sigma``, ``alpha_x``, ``gamma_x``, ``sigma_x``.
    stage0 : int array (person,)
        The stage at the first wave.
    C_exogenous : array (wave, person, confounder term)
        The confounder design at each wave for the confounders that do not respond to
        care (the time-varying ones' columns hold their first-wave values at wave 0; later
        waves' and the lag terms' columns are overwritten).
    u, v, w : arrays (person, mediator), (person,), (person,)
        Each person's mediator, outcome and exposure intercepts.
    noise : Noise
        The random numbers, shared by the worlds compared (:func:`draw_noise`).
    interventions : sequence of Intervention
        Acting from their ``from_wave`` (default the first) in their stages (default
        all), on the exposure or a mediator; none is the natural course.
    sd : mapping of str to float, optional
        The SD a ``shift`` counts in, per target (the natural course's SD over
        person-waves); needed with shifts in SD units.

    Returns
    -------
    Course
    """
    time = spec.time
    T, n = C_exogenous.shape[:2]
    K = len(spec.mediators)
    terms = list(spec.confounder_terms)
    varying = [terms.index(name) for name in time.time_varying]
    lag_cols = [terms.index(t) for t in spec.lag_terms]
    families = [m.family for m in spec.mediators]
    order = [list(spec.mediator_names).index(m) for m in spec.mediator_order]
    course = {"stage": np.zeros((T, n), dtype=np.int64), "C": np.array(C_exogenous, dtype=float, copy=True),
              "x": np.zeros((T, n)), "M": np.zeros((T, n, K)), "y": np.zeros((T, n))}
    latents_sigma = np.asarray(p["sigma_m"], dtype=float)
    for t in range(T):
        if t == 0:
            stage = np.asarray(stage0, dtype=np.int64)
        else:
            stage = time_equations.next_stage(tp, course["stage"][t - 1], _given(spec, t, course, terms),
                                              noise.stage[t])
        course["stage"][t] = stage
        C = course["C"][t]
        lags = _lag_terms(spec, t, course, terms)
        if lag_cols:
            C[:, lag_cols] = lags
        for i, col in enumerate(varying):
            if t > 0:
                C[:, col] = time_equations.time_varying_value(tp, i, course["C"][t - 1][:, col], stage, lags,
                                                              noise.time_varying[t][:, i])
        x = time_equations.exposure_mean(tp, stage, C, w) + float(tp["sigma_x"]) * noise.exposure[t]
        x = _intervene(spec, spec.exposure.name, x, t, stage, interventions, sd)
        course["x"][t] = x
        latents = np.column_stack([
            equations.latent_from_uniform(m.family, noise.mediators[t][:, k], sigma=latents_sigma[k], link=m.link)
            for k, m in enumerate(spec.mediators)])
        overrides = {k: (lambda values, name=name: _intervene(spec, name, values, t, stage, interventions, sd))
                     for k, name in enumerate(spec.mediator_names)
                     if any(iv.target == name for iv in interventions)}
        M = equations.mediators_from_latents(p, families=families, order=order, x=x, C=C, stage_idx=stage,
                                             latents=latents, person_intercepts=u, overrides=overrides)
        course["M"][t] = M
        eta = equations.outcome_predictor(p, x=x, M=M, C=C, stage_idx=stage, person_intercept=v)
        course["y"][t] = _outcome_from_uniform(spec, p, eta, noise.outcome[t])
    return Course(**course)


def _outcome_from_uniform(spec: Spec, p: Mapping[str, Any], eta: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """The outcome by inverting its CDF at a uniform number (common random numbers)."""
    family = spec.outcome.family
    mu = equations.outcome_mean(family, eta, link=spec.outcome.link)
    if family == "bernoulli":
        return (uniform < mu).astype(float)
    if family == "normal":
        return mu + float(p["sigma_y"]) * special.ndtri(uniform)
    phi = float(p["phi"])
    return stats.nbinom.ppf(uniform, phi, phi / (phi + mu)).astype(float)


def _intervene(spec: Spec, target: str, values: np.ndarray, t: int, stage: np.ndarray,
               interventions: Sequence[Intervention], sd: Mapping[str, float] | None) -> np.ndarray:
    for iv in interventions:
        if iv.target != target or (iv.from_wave is not None and t + 1 < iv.from_wave):
            continue
        mask = None if not iv.stages else np.isin(stage, [spec.stage_levels.index(s) for s in iv.stages])
        spread = 1.0 if sd is None else float(sd.get(target, 1.0))
        values = model_transform(spec, iv, loc=0.0, scale=1.0, sd_observed=spread, stage_mask=mask)(values)
    return values


def summarise(spec: Spec, natural: Course, worlds: Mapping[str, Course]) -> xr.Dataset:
    """The estimands by wave of each world, and their differences from the natural course.

    Per world and wave: ``care_use`` (the outcome's mean), ``care_use_by_stage`` (among
    the persons in each stage at that wave), ``stage_share`` (the share of persons in
    each stage), ``continuation`` (the share in care at t
    among those in care at t-1; from the second wave; a binary outcome's only) and
    ``cumulative`` (mean waves in care up to t). Differences from the natural course
    (``*_diff``) come with person-level Monte Carlo standard errors (``*_diff_se``; the
    worlds share their random numbers, so the differences are paired).

    Returns
    -------
    xarray.Dataset
        Dims ``world`` (``"natural course"`` first), ``wave`` (1, 2, ...) and ``stage``.
    """
    names = ["natural course", *worlds]
    courses = [natural, *worlds.values()]
    T, n = natural.y.shape
    S = len(spec.stage_levels)
    binary = spec.outcome.family == "bernoulli"
    care = np.stack([c.y for c in courses])  # (world, wave, person)
    cum = np.cumsum(care, axis=1)
    by_stage = np.full((len(courses), T, S), np.nan)
    shares = np.zeros((len(courses), T, S))
    for w, c in enumerate(courses):
        for s in range(S):
            inside = c.stage == s
            counts = inside.sum(axis=1)
            shares[w, :, s] = counts / n
            by_stage[w, :, s] = np.where(counts > 0, (c.y * inside).sum(axis=1) / np.maximum(counts, 1), np.nan)
    data: dict[str, Any] = {
        "care_use": (("world", "wave"), care.mean(axis=2)),
        "cumulative": (("world", "wave"), cum.mean(axis=2)),
        "care_use_by_stage": (("world", "wave", "stage"), by_stage),
        "stage_share": (("world", "wave", "stage"), shares),
    }
    for name, values in (("care_use", care), ("cumulative", cum)):
        diff = values - values[:1]
        data[f"{name}_diff"] = (("world", "wave"), diff.mean(axis=2))
        data[f"{name}_diff_se"] = (("world", "wave"), diff.std(axis=2, ddof=1) / np.sqrt(n))
    if binary and T > 1:
        before, now = care[:, :-1], care[:, 1:]
        stayed, was = (before * now).sum(axis=2), before.sum(axis=2)
        ratio = stayed / np.maximum(was, 1)
        # linearised per person: (a_i - R b_i) / sum b, paired across worlds
        lin = (before * now - ratio[:, :, None] * before) / np.maximum(was, 1)[:, :, None]
        diff = lin - lin[:1]
        cont = np.full((len(courses), T), np.nan)
        cont[:, 1:] = ratio
        cont_diff = np.full((len(courses), T), np.nan)
        cont_diff[:, 1:] = ratio - ratio[:1]
        cont_se = np.full((len(courses), T), np.nan)
        cont_se[:, 1:] = np.sqrt((diff**2).sum(axis=2) * n / max(n - 1, 1))
        data.update(continuation=(("world", "wave"), cont), continuation_diff=(("world", "wave"), cont_diff),
                    continuation_diff_se=(("world", "wave"), cont_se))
    ds = xr.Dataset(data, coords={"world": names, "wave": np.arange(1, T + 1), "stage": list(spec.stage_levels)})
    ds.attrs["persons"] = int(n)
    return ds
