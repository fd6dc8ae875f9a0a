"""Synthetic panels with known true parameters and true effects.

:func:`simulate` draws a long-format panel from the structural model in ``DESIGN.md``
(through :mod:`carepaths.structural.equations`, the same equations the fitted model uses): stages
follow a Markov chain across waves; confounders, the exposure, each mediator by its
family and the outcome by its family are drawn in causal order, with person effects as
the spec's ``structure.person_effects`` says. It also returns the true population
effects per stage — TE, NDE, NIE, each mechanism's interventional indirect effect and the
remainder due to mediator interdependence — computed by Monte Carlo on a large
counterfactual population, with their Monte Carlo standard errors.

Default parameters (:func:`default_params`) encode the support paradox for the shipped
five-mechanism spec: +1 SD of support raises care use in ``crisis`` (mainly through
``encouragement``) and lowers it in ``recovery`` and ``maintenance`` (through
``discouragement``, ``confidence`` and ``alt_coping``). Magnitudes, all on the
log-odds scale per SD, stay inside the ranges of ``shared/domain.md`` section 6:

* the total effect of +1 SD of support is about OR 1.5 in crisis and OR 0.6 in recovery
  (risk differences about +0.10 and -0.13, population-averaged),
  inside the OR 0.4-3.2 span reported for adequate vs inadequate support in NHANES
  (domain.md [62]) and the "raises entry when serious, lowers it overall" pattern of the
  NCS-R (domain.md [63]);
* every path is within +-0.8 per SD, inside a Normal(0, 0.5) prior's 95% range
  (OR 0.38-2.66, domain.md section 6, *computed*); exposure-to-mediator paths of 0.2-0.6 SD
  are of the size of the attitude / norm / self-efficacy betas of 0.15-0.25 for
  help-seeking intention (domain.md [69]);
* care-use rates of about 65% / 45% / 30% in crisis / recovery / maintenance bracket the
  57% treated in six months in NESDA (domain.md [51]) and 41% of 12-month NCS-R cases
  (domain.md [27]);
* stage transitions give yearly relapse from maintenance of 10-20%, consistent with the
  82% five-year cumulative relapse after a first psychotic episode (domain.md [45]) being
  an upper bound for a mixed cohort.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy import special

from carepaths.counterfactual import trajectories, worlds
from carepaths.counterfactual.interventions import intervention_means, model_transform, validate
from carepaths.counterfactual.population import POOLED, Chunk, RowData, map_chunks
from carepaths.data import Panel
from carepaths.exceptions import SimulationError, suggest_closest
from carepaths.longitudinal import TIME_PARAMS, check_longitudinal, default_lag_paths, default_time_params, time_arrays
from carepaths.missingness import apply_attrition, apply_item_missing, attrition_settings
from carepaths.results import flatten_variables, stack_variables
from carepaths.spec import Spec
from carepaths.structural import equations, time_equations
from carepaths.structural.parameters import (
    ParameterSet,
    parameter_coords,
    parameter_dims,
    person_mode,
    product_terms,
    slope_covariance,
    split_slopes,
)

__all__ = ["Simulation", "simulate", "default_params", "EFFECT_NAMES", "SIMULATOR_ONLY"]

EFFECT_NAMES = ("TE", "NDE", "NIE", "interdependence")

#: The simulator's own parameters, beside the model's (``parameter_dims``): how the
#: exposure, the confounders and the stages are drawn. The fitted model conditions on
#: these variables, so it has no parameters for them.
SIMULATOR_ONLY = (
    "alpha_x", "gamma_x", "sd_x_person", "sigma_x", "confounder_person_share", "confounder_loc",
    "confounder_scale", "stage_initial", "stage_transition",
)
_DEFAULT_STAGES = ("crisis", "recovery", "maintenance")

# Stage-specific paths of the five mechanisms (crisis, recovery, maintenance):
# a = support -> mediator (SD per SD); b = mediator -> care use (log-odds per SD).
_FIVE_MECHANISM_PATHS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "encouragement": ((0.6, 0.3, 0.2), (0.8, 0.2, 0.1)),
    "alt_coping": ((0.3, 0.5, 0.5), (-0.2, -0.4, -0.4)),
    "discouragement": ((0.1, 0.5, 0.4), (-0.1, -0.6, -0.5)),
    "confidence": ((0.2, 0.5, 0.5), (-0.1, -0.5, -0.5)),
    "attitudes": ((0.2, 0.2, 0.2), (0.3, 0.3, 0.3)),
}


# ------------------------------------------------------------------------ parameters
def _stage_transition_default(n: int) -> tuple[np.ndarray, np.ndarray]:
    if n == 1:
        return np.ones(1), np.ones((1, 1))
    if n == 3:
        initial = np.array([0.5, 0.3, 0.2])
        transition = np.array([[0.4, 0.5, 0.1], [0.2, 0.4, 0.4], [0.1, 0.1, 0.8]])
        return initial, transition
    initial = np.linspace(2.0, 1.0, n)
    initial /= initial.sum()
    transition = np.zeros((n, n))
    for s in range(n):
        transition[s, 0] += 0.15
        if s + 1 < n:
            transition[s, s] += 0.5
            transition[s, s + 1] += 0.35
        else:
            transition[s, s] += 0.85
    return initial, transition


def default_params(spec: Spec) -> xr.Dataset:
    """The simulator's default true parameters for ``spec``, on the generating scale.

    For the shipped five-mechanism stages and mediator names the paths encode the support
    paradox (see the module docstring for sources); other specs get generic paths
    (a = 0.4, b alternating +-0.3, c = 0.1). A path shared across stages
    (``structure.stage_specific_paths = false``) is the average of the stage paths.
    Declared product terms (``[[interactions]]``, ``[[moderation]]``) are non-zero:
    ``b_xm`` = 0.2, ``b_mm`` = 0.15, ``a_mod`` = 0.2, ``b_mod`` = -0.15, ``c_mod`` = 0.1
    (the outcome's halved for a count outcome, as b and c are).
    With the probit link (``link = "probit"``) a binary outcome's intercepts give the same
    rates as the logit ones; every path keeps its number, now on the probit scale (where
    it is an effect about 1.6 times as large as on the log-odds scale).

    Parameters
    ----------
    spec : Spec

    Returns
    -------
    xarray.Dataset
        The model's parameters by the names and dims of
        :func:`carepaths.structural.parameters.parameter_dims` (only those the spec's
        model has), then the simulator's own (:data:`SIMULATOR_ONLY`; dims ``stage``,
        ``stage_next``, ``confounder``).
    """
    stages = spec.stage_levels
    S, K = len(stages), len(spec.mediators)
    terms = spec.confounder_terms
    J = len(terms)
    is_paradox = stages == _DEFAULT_STAGES and all(
        m in _FIVE_MECHANISM_PATHS for m in spec.mediator_names
    )
    a = np.full((K, S), 0.4)
    b = np.array([[0.3 * (-1) ** k] * S for k in range(K)])
    c = np.full(S, 0.1)
    if is_paradox:
        for k, name in enumerate(spec.mediator_names):
            a[k], b[k] = _FIVE_MECHANISM_PATHS[name]
        c = np.array([0.1, -0.1, -0.1])

    family = spec.outcome.family
    if family == "bernoulli":
        rates = np.array([0.65, 0.45, 0.30]) if is_paradox else np.full(S, 0.5)
        # the same care-use rates at the average row under either link
        beta0 = special.ndtri(rates) if spec.outcome.link == "probit" else np.log(rates / (1 - rates))
    elif family == "negative_binomial":
        beta0 = np.log(np.array([6.0, 3.0, 1.5])) if is_paradox else np.full(S, np.log(3.0))
        b, c = 0.5 * b, 0.5 * c  # log-rate paths: half the log-odds ones keep visits plausible
    else:
        beta0 = np.zeros(S)
    K_slopes = 2 * K + 1
    corr = np.eye(K_slopes)
    for k in range(K):  # person-level a_i and b_i correlate: cov(a_i, b_i) enters the NIE
        corr[k, K + k] = corr[K + k, k] = 0.3
    values: dict[str, Any] = {
        "alpha_m": np.zeros((K, S)),
        "a": a,
        "b": b,
        "c": c,
        "beta0": beta0,
        "gamma_m": np.full((K, J), 0.1),
        "delta": 0.3 * np.ones(J),
        "d_edge": np.full(len(spec.mediator_edges), 0.3),
        "sigma_m": np.full(sum(m.family == "normal" for m in spec.mediators), 0.8),
        "sigma_y": 1.0,
        "phi": 1.5,
        "a_between": a.mean(axis=-1),
        "c_between": float(c.mean()),
        "sd_u": np.full(K, 0.4),
        "sd_v": 0.5 if family == "negative_binomial" else 0.8,
        "sd_slope": np.r_[np.full(K, 0.2), np.full(K, 0.2), 0.1],
        "corr_slope": corr,
        "sd_cluster": 0.3,
    }
    if not spec.structure.stage_specific_paths:
        for name in ("a", "b", "c"):
            values[name] = np.asarray(values[name]).mean(axis=-1)
    for m in spec.mediators:
        if m.family == "ordinal":
            values[f"cutpoints_{m.name}"] = np.linspace(-1.5, 1.5, len(m.categories) - 1)
    # declared product terms get real (non-zero) defaults, so that a simulation has the
    # interaction; per SD x SD (per SD, or per level, of a moderator): smaller than the
    # paths, halved on the log-rate scale as b and c are
    half = 0.5 if family == "negative_binomial" else 1.0
    product_defaults = {"b_xm": 0.2 * half, "b_mm": 0.15 * half, "a_mod": 0.2, "b_mod": -0.15 * half,
                        "c_mod": 0.1 * half}
    for name, declared in product_terms(spec).items():
        values[name] = np.full(len(declared), product_defaults[name])
    dims = parameter_dims(spec)
    data = {name: (dims[name], values[name]) for name in dims}

    j_sign = np.array([(-1) ** j for j in range(J)], dtype=float)
    # numeric confounders are drawn standardised and written in plausible units
    units = {"severity": (12.0, 5.0), "age": (40.0, 12.0)}  # PHQ-9 points [41]; years
    initial, transition = _stage_transition_default(S)
    data.update({
        # exposure model (the fitted model conditions on X; only the simulator needs it)
        "alpha_x": ("stage", np.linspace(-0.2, 0.2, S) if S > 1 else np.zeros(1)),
        "gamma_x": ("confounder", -0.15 * j_sign),
        "sd_x_person": ((), 0.6),
        "sigma_x": ((), 0.8),
        # confounders and stages
        "confounder_person_share": ((), 0.8),
        "confounder_loc": ("confounder", np.array([units.get(t, (0.0, 1.0))[0] for t in terms])),
        "confounder_scale": ("confounder", np.array([units.get(t, (0.0, 1.0))[1] for t in terms])),
        "stage_initial": ("stage", initial),
        "stage_transition": (("stage", "stage_next"), transition),
    })
    if spec.time is not None:  # the longitudinal scenario's equations over time (carepaths.longitudinal)
        gamma_m, delta = default_lag_paths(spec, data["gamma_m"][1], data["delta"][1])
        data["gamma_m"], data["delta"] = (data["gamma_m"][0], gamma_m), (data["delta"][0], delta)
        gamma_x = data["gamma_x"][1].copy()
        gamma_x[[terms.index(t) for t in spec.lag_terms]] = 0.0
        data["gamma_x"] = ("confounder", gamma_x)
        data.update(default_time_params(spec))
    coords = parameter_coords(spec)
    coords["stage_next"] = list(stages)
    if spec.time is not None:
        coords.update(given=list(spec.time.transition_given or ()), time_varying=list(spec.time.time_varying),
                      lag_term=list(spec.lag_terms))
    used = {d for dims_ in (v[0] if isinstance(v[0], tuple) else (v[0],) for v in data.values()) for d in dims_}
    return xr.Dataset(data, coords={k: v for k, v in coords.items() if k in used})


def _merge_params(spec: Spec, overrides: Mapping[str, Any] | None) -> xr.Dataset:
    params = default_params(spec)
    for name, value in (overrides or {}).items():
        if name not in params:
            raise SimulationError(
                f"unknown simulation parameter {name!r} for this spec.{suggest_closest(name, list(params))} "
                f"Valid names: {', '.join(params)}."
            )
        target = params[name]
        arr = np.asarray(value.values if isinstance(value, xr.DataArray) else value, dtype=float)
        if arr.shape != target.shape:
            raise SimulationError(
                f"simulation parameter {name!r} must have shape {target.shape} (dims "
                f"{target.dims}), got {arr.shape}."
            )
        params[name] = (target.dims, arr)
    return params


# ------------------------------------------------------------------------ population
@dataclass
class _Population:
    """Persons x waves drawn before the mediators: stages, confounders, exposure, persons."""

    person: np.ndarray
    wave: np.ndarray
    stage_idx: np.ndarray
    C: np.ndarray
    confounder_values: dict[str, np.ndarray]
    x_total: np.ndarray  # the exposure as drawn (generating scale)
    x: np.ndarray  # the exposure the equations take: x_total, or its within-person part
    x_between: np.ndarray | None  # the person mean of x_total when the exposure is split
    cluster: np.ndarray | None
    effects: worlds.Rows | None  # the persons' effects per row (the data draw only)

    def row_data(self) -> RowData:
        """The rows for the population sampler (no observed mediators)."""
        return RowData(x=self.x, C=self.C, stage_idx=self.stage_idx, person=self.person,
                       cluster=self.cluster, x_between=self.x_between)


def _draw_population(
    spec: Spec, p: Mapping[str, Any], n_persons: int, n_waves: int, rng: np.random.Generator,
    *, person_effects: bool,
) -> _Population:
    """Stages, confounders, exposure and (for the data) each person's effects, in that order.

    ``p`` holds the simulator's own parameters and the population SDs of the person
    effects (``sd_u``, ``sd_v``, ``cov_slope``, ``sd_cluster``, as the spec has them).
    """
    S, K = len(spec.stage_levels), len(spec.mediators)
    n = n_persons * n_waves
    person = np.repeat(np.arange(n_persons), n_waves)
    wave = np.tile(np.arange(n_waves), n_persons)

    # stages: a Markov chain across each person's waves
    states = np.empty((n_persons, n_waves), dtype=np.int64)
    cum_init = np.cumsum(p["stage_initial"])
    cum_trans = np.cumsum(p["stage_transition"], axis=1)
    states[:, 0] = np.minimum(np.searchsorted(cum_init, rng.random(n_persons) * cum_init[-1]), S - 1)
    for t in range(1, n_waves):
        rows = cum_trans[states[:, t - 1]]
        draw = rng.random(n_persons)[:, None] * rows[:, -1:]
        states[:, t] = np.minimum((draw > rows).sum(axis=1), S - 1)
    stage_idx = states.reshape(-1)

    # confounders: numeric ones mostly person-stable, categorical ones person-constant
    share = float(p["confounder_person_share"])
    cols, values = [], {}
    terms = list(spec.confounder_terms)
    for conf in spec.confounders:
        if conf.kind == "numeric":
            z = np.sqrt(share) * rng.standard_normal(n_persons)[person]
            z = z + np.sqrt(1 - share) * rng.standard_normal(n)
            cols.append(z)
            j = terms.index(conf.name)
            values[conf.name] = p["confounder_loc"][j] + p["confounder_scale"][j] * z
        else:
            levels = np.asarray(conf.levels, dtype=object)
            lvl = levels[rng.integers(0, len(levels), n_persons)][person]
            values[conf.name] = lvl
            cols += [(lvl == level).astype(float) for level in conf.levels if level != conf.reference]
    C = np.column_stack(cols) if cols else np.zeros((n, 0))

    # exposure
    eta_x = time_equations.exposure_mean(p, stage_idx, C, float(p["sd_x_person"]) * rng.standard_normal(n_persons)[person])
    if spec.exposure.kind == "continuous":
        x = eta_x + float(p["sigma_x"]) * rng.standard_normal(n)
    else:
        x = (rng.random(n) < 1 / (1 + np.exp(-eta_x))).astype(float)
    x_between = None
    x_model = x
    if spec.structure.center_exposure_within_person:
        x_between = (np.bincount(person, weights=x) / np.bincount(person))[person]
        x_model = x - x_between

    # person effects (the data draw: one per person, shared by the person's waves)
    mode = person_mode(spec)
    effects = None
    cluster = None
    if person_effects:
        u, v = np.zeros((n, K)), np.zeros(n)
        a_i, b_i, c_i = np.zeros((n, K)), np.zeros((n, K)), np.zeros(n)
        if mode in ("intercepts", "slopes"):
            u = (rng.standard_normal((n_persons, K)) * p["sd_u"])[person]
            v = (float(p["sd_v"]) * rng.standard_normal(n_persons))[person]
        if mode == "slopes":
            dev = rng.multivariate_normal(np.zeros(2 * K + 1), p["cov_slope"], size=n_persons)[person]
            a_i, b_i, c_i = split_slopes(dev, K)
    if spec.columns.cluster is not None:
        n_clusters = max(2, min(20, n_persons // 5))
        cluster = rng.integers(0, n_clusters, n_persons)[person]
        if person_effects:
            v = v + (float(p["sd_cluster"]) * rng.standard_normal(n_clusters))[cluster]
    if person_effects:
        effects = worlds.Rows(C=C, stage_idx=stage_idx, u=u, a_i=a_i, b_i=b_i, c_i=c_i, v=v,
                              x_between=x_between)
    return _Population(person, wave, stage_idx, C, values, x, x_model, x_between, cluster, effects)


def _latents(spec: Spec, p: Mapping[str, Any], uniforms: np.ndarray) -> np.ndarray:
    return np.column_stack([
        equations.latent_from_uniform(m.family, uniforms[:, k], sigma=float(p["sigma_m"][k]), link=m.link)
        for k, m in enumerate(spec.mediators)
    ])


def _uniforms(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    # open interval (0, 1): ndtri and logit are finite
    return (rng.integers(1, 2**53 - 1, size=shape, dtype=np.int64) + 0.5) / 2.0**53


def _mediator_order(spec: Spec) -> list[int]:
    names = list(spec.mediator_names)
    return [names.index(m) for m in spec.mediator_order]


# --------------------------------------------------------------------------- effects
def _contrast_values(spec: Spec, pop: _Population) -> tuple[np.ndarray, np.ndarray]:
    """Reference and contrasted exposure as the equations take it (as the posterior effects do)."""
    c = spec.exposure.contrast
    if c.kind == "shift_sd":
        step = float(c.size) * float(np.std(pop.x_total, ddof=1))
        return pop.x, pop.x + step
    base = 0.0 if pop.x_between is None else pop.x_between
    return np.full_like(pop.x, c.low) - base, np.full_like(pop.x, c.high) - base


def _true_effects(
    spec: Spec, truth: ParameterSet, sim_params: Mapping[str, Any], n_persons: int, n_waves: int,
    rng: np.random.Generator,
) -> xr.Dataset:
    """True population effects: the posterior effects' g-computation on the true parameters.

    The population sampler draws new persons at a large simulated population's rows
    (:func:`carepaths.counterfactual.population.map_chunks`, ``"marginal"``), and
    :func:`carepaths.counterfactual.worlds.world_means` evaluates the worlds: the same
    code as :meth:`carepaths.Fit.effects` on every posterior draw.
    """
    if spec.time is not None:  # the rows of the natural course over waves (their lag terms as drawn)
        pop, _ = _draw_longitudinal(spec, truth.sample(0), sim_params, n_persons, n_waves, rng)
    else:
        pop = _draw_population(spec, sim_params, n_persons, n_waves, rng, person_effects=False)
    x0, x1 = _contrast_values(spec, pop)

    def per_row(chunk: Chunk) -> dict[str, np.ndarray]:
        means = worlds.world_means(spec, chunk.params, chunk.rows, x0[:, None], x1[:, None], chunk.latents,
                                   chunk.systems)
        return {k: v[..., 0] for k, v in worlds.effects_from_worlds(means).items()}

    [(_, effects)] = map_chunks(truth, pop.row_data(), "marginal", rng, per_row, systems=True)
    iie = list(effects.pop("IIE"))

    stage_labels = [*spec.stage_levels, POOLED] if len(spec.stage_levels) > 1 else [POOLED]
    masks = [pop.stage_idx == s for s in range(len(spec.stage_levels))] if len(stage_labels) > 1 else []
    masks.append(np.ones(len(pop.x), dtype=bool))

    def summarise(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        est, se = [], []
        for mask in masks:
            e, s_ = _cluster_mean(values[mask], pop.person[mask])
            est.append(e)
            se.append(s_)
        return np.array(est), np.array(se)

    data: dict[str, Any] = {}
    for name in EFFECT_NAMES:
        est, se = summarise(effects[name])
        data[name] = ("stage", est)
        data[f"{name}_mc_se"] = ("stage", se)
    iie_est, iie_se = zip(*(summarise(v) for v in iie), strict=True)
    data["IIE"] = (("stage", "mechanism"), np.column_stack(iie_est))
    data["IIE_mc_se"] = (("stage", "mechanism"), np.column_stack(iie_se))
    ds = xr.Dataset(data, coords={"stage": stage_labels, "mechanism": list(spec.mediator_names)})
    ds.attrs.update(
        scale=_scale_name(spec.outcome.family),
        contrast=_contrast_text(spec),
        mc_persons=n_persons,
        mc_rows=int(len(pop.x)),
        note=(
            "True population effects by Monte Carlo over a large counterfactual population "
            "(new persons: person effects integrated out); *_mc_se are person-clustered Monte "
            "Carlo standard errors."
        ),
    )
    return ds


def _cluster_mean(values: np.ndarray, person: np.ndarray) -> tuple[float, float]:
    """Mean of per-row values and its standard error clustered by person."""
    est = float(values.mean())
    ids, inv = np.unique(person, return_inverse=True)
    sums = np.bincount(inv, weights=values - est)
    n_clusters = len(ids)
    se = float(np.sqrt(np.sum(sums**2) * n_clusters / max(n_clusters - 1, 1)) / len(values))
    return est, se


def _scale_name(family: str) -> str:
    return {
        "bernoulli": "risk difference",
        "negative_binomial": "difference in expected count",
        "normal": "mean difference (original units)",
    }[family]


def _contrast_text(spec: Spec) -> str:
    c = spec.exposure.contrast
    if c.kind == "shift_sd":
        return f"{spec.exposure.name} + {c.size:g} SD"
    return f"{spec.exposure.name} {c.low:g} -> {c.high:g}"


# ----------------------------------------------------------------------------- public
@dataclass(frozen=True)
class Simulation:
    """A simulated panel with its known truth.

    Attributes
    ----------
    data : pandas.DataFrame
        Long format, one row per person-wave, with the spec's column names.
    params : xarray.Dataset
        The true parameters used (see :func:`default_params`).
    effects : xarray.Dataset
        True population effects (``TE``, ``NDE``, ``NIE``, ``interdependence`` over dim
        ``stage``; ``IIE`` over ``stage`` x ``mechanism``), each with a ``*_mc_se``
        Monte Carlo standard error. Stage ``"pooled"`` averages over the stage mix.
    spec : Spec
    seed : int
    complete_data : pandas.DataFrame or None
        With ``simulate(..., missing=...)``: every person-wave before attrition.
    attrition : pandas.DataFrame or None
        Per person: ``waves_observed`` and ``dropped_out``.
    missing : dict or None
        The attrition settings used.
    """

    data: pd.DataFrame
    params: xr.Dataset
    effects: xr.Dataset
    spec: Spec
    seed: int
    complete_data: pd.DataFrame | None = None
    attrition: pd.DataFrame | None = None
    missing: dict[str, Any] | None = None

    def effects_table(self) -> pd.DataFrame:
        """The true effects as a tidy table: one row per stage and effect.

        Returns
        -------
        pandas.DataFrame
            Index ``(stage, effect)`` (per stage: TE, NDE, NIE, interdependence, then
            ``IIE[<mechanism>]`` for each mechanism); columns ``true`` and ``mc_se``.
        """
        names = [*EFFECT_NAMES, "IIE"]
        true = flatten_variables(self.effects[names], keep=("stage",), sample_dims=())
        se = self.effects[[f"{n}_mc_se" for n in names]].rename({f"{n}_mc_se": n for n in names})
        se = flatten_variables(se, keep=("stage",), sample_dims=())
        table = stack_variables(true, by=("stage",), name="effect").rename(columns={"value": "true"})
        table["mc_se"] = stack_variables(se, by=("stage",), name="effect")["value"]
        return table

    @property
    def truth(self) -> ParameterSet:
        """The true parameters as a one-sample parameter set (the translator's view)."""
        return ParameterSet.from_truth(self.spec, {k: self.params[k].values for k in parameter_dims(self.spec)})

    def true_paths_on_model_scale(self, panel: Panel) -> xr.Dataset:
        """The true a, b, c (and d) paths converted to the scale a model fitted on ``panel`` uses.

        The model standardises a continuous exposure, normal mediators and a normal
        outcome by their sample SDs (``panel.scaling``), so a path per unit on the
        generating scale becomes ``a * sd(X) / sd(M_k)``, ``b * sd(M_k) / sd(Y)``,
        ``c * sd(X) / sd(Y)`` and ``d[k, j] * sd(M_j) / sd(M_k)`` (binary, ordinal and count
        variables keep their link scale: their SD factor is 1): the one rule
        :meth:`carepaths.Panel.path_scale`, which ``fit.summary()`` applies the other way.
        Person-slope SDs scale like their paths. The paths are the translator's arrays (by
        stage, also when they are shared across stages).

        Declared product terms (``b_xm``, ``b_mm``, ``a_mod``, ``b_mod``, ``c_mod``, one
        element per term as in :func:`~carepaths.structural.parameters.parameter_dims`)
        scale by the same rule with the product for parent, ``path_scale(first, child,
        times=second)`` (a confounder counted in the units it is written in; the simulator
        draws a numeric one standardised). And since the model centres what it
        standardises, a lower-order path there is the path where the product's other
        variable is at its sample mean: ``a[k]`` gains ``sum_j a_mod[k, j] mean(C_j)``,
        ``b[k]`` gains ``b_xm[k] mean(X) + sum_j b_mod[k, j] mean(C_j) + sum_j b_mm[j, k]
        mean(M_j)`` (either order of the pair), and ``c`` gains ``sum_k b_xm[k] mean(M_k) +
        sum_j c_mod[j] mean(C_j)``, each mean on the generating scale over ``panel``'s rows
        (0 for a variable the model does not centre: a binary exposure, a binary or ordinal
        mediator, the within-person exposure). An exact reparametrisation: the same
        equations on the model's scale.
        """
        spec = self.spec
        x, y = spec.exposure.name, spec.outcome.name
        meds = np.asarray(spec.mediator_names, dtype=object)
        to_x, to_y, x_to_y = panel.path_scale(x, meds), panel.path_scale(meds, y), panel.path_scale(x, y)
        arrays = self.truth.sample(0)
        names, stages = list(spec.mediator_names), list(spec.stage_levels)
        coords = {"mediator": names, "parent": names, "stage": stages}
        a, b, c = arrays["a"], arrays["b"], arrays["c"]
        declared = product_terms(spec)
        if declared:  # lower-order paths at the centred variables' means (docstring)
            mean_x, mean_m, mean_c = self._generating_means(panel)
            zeros = {"b_xm": np.zeros(len(meds)), "b_mm": np.zeros((len(meds), len(meds))),
                     "a_mod": np.zeros((len(meds), len(mean_c))), "b_mod": np.zeros((len(meds), len(mean_c))),
                     "c_mod": np.zeros(len(mean_c))}
            p = {name: arrays.get(name, zero) for name, zero in zeros.items()}
            a = a + (p["a_mod"] @ mean_c)[:, None]
            b = b + (p["b_xm"] * mean_x + p["b_mod"] @ mean_c + (p["b_mm"] + p["b_mm"].T) @ mean_m)[:, None]
            c = c + p["b_xm"] @ mean_m + p["c_mod"] @ mean_c
        out = xr.Dataset(
            {
                "a": (("mediator", "stage"), a * to_x[:, None]),
                "b": (("mediator", "stage"), b * to_y[:, None]),
                "c": ("stage", c * x_to_y),
                "d": (("mediator", "parent"), arrays["d"] * panel.path_scale(meds[None, :], meds[:, None])),
            },
            coords=coords,
        )
        if spec.structure.center_exposure_within_person:
            out["a_between"] = ("mediator", arrays["a_between"] * to_x)
            out["c_between"] = arrays["c_between"] * x_to_y
        K = len(meds)
        if "sd_slope" in self.params:
            slope_factor = np.r_[to_x, to_y, x_to_y]
            sd_slope = self.params["sd_slope"].values * slope_factor
            out["sd_slope"] = ("slope", sd_slope)
            out["cov_slope"] = (("slope", "slope_other"), slope_covariance(sd_slope, self.params["corr_slope"].values))
        terms = list(spec.confounder_terms)
        written = dict(zip(terms, self.params["confounder_scale"].values, strict=True))  # generating -> written units
        for name, items in declared.items():
            dim = parameter_dims(spec)[name][0]
            values = [
                arrays[name][t.index] * panel.path_scale(t.first, t.child, times=t.second)
                / written.get(t.second, 1.0)
                for t in items
            ]
            out[name] = xr.DataArray(np.asarray(values, dtype=float), dims=(dim,),
                                     coords={dim: [t.label for t in items]})
        out.attrs["mediators"] = K
        return out

    def _generating_means(self, panel: Panel) -> tuple[float, np.ndarray, np.ndarray]:
        """The means over ``panel``'s rows, on the generating scale, of what the model centres.

        The exposure as the equations take it (0 when split within/between: the within part
        has mean 0; 0 when binary), each mediator (normal ones; 0 for binary and ordinal
        codes, which the model does not centre) and each confounder column (a numeric
        confounder in the standardised units the simulator draws it in, a category's
        indicator as the share of rows at that level).
        """
        spec = self.spec

        def loc(name: str) -> float:
            scaling = panel.scaling.get(name)
            return float(scaling.loc) if scaling is not None else 0.0

        split = spec.structure.center_exposure_within_person
        mean_x = 0.0 if split else loc(spec.exposure.name)
        mean_m = np.array([loc(m) for m in spec.mediator_names])
        written_loc, written_scale = self.params["confounder_loc"].values, self.params["confounder_scale"].values
        mean_c = np.array([(loc(t) - written_loc[j]) / written_scale[j] for j, t in enumerate(spec.confounder_terms)])
        return mean_x, mean_m, mean_c

    def true_intervention_effects(
        self, interventions: Any, *, mc_persons: int = 20_000, seed: int | None = None
    ) -> pd.DataFrame:
        """True effects of interventions, by Monte Carlo on a new population with the true parameters.

        The same code as the posterior comparison
        (:func:`carepaths.counterfactual.interventions.intervention_means` on the population
        sampler's marginal population): per stage and pooled, the expected outcome under
        each intervention minus the status quo, with a person-clustered Monte Carlo SE.
        Shifts count in SDs of the simulated population's exposure and mediators, or,
        for an intervention with ``units="original"``, in the variables' own units (the
        units the simulated data are written in), as :meth:`Fit.compare` counts them.

        Parameters
        ----------
        interventions : list
            As for :meth:`Fit.compare`.
        mc_persons : int
            Persons in the Monte Carlo population.
        seed : int, optional
            Seed of the population (default: derived from the simulation's seed).

        Returns
        -------
        pandas.DataFrame
            Index (intervention, stage); columns ``true``, ``mc_se``.
        """
        spec = self.spec
        entries = validate(spec, interventions)
        truth = self.truth
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 7]) if seed is None else seed)
        n_waves = int(self.data[spec.columns.wave].nunique()) if spec.columns.wave else 1
        pop = _draw_population(spec, _simulator_values(self.params, truth), mc_persons, n_waves, rng,
                               person_effects=False)
        n = len(pop.x)
        x_col = pop.x[:, None]
        between = None if pop.x_between is None else pop.x_between[:, None]
        labels = [*spec.stage_levels, POOLED] if len(spec.stage_levels) > 1 else [POOLED]
        masks = [pop.stage_idx == s for s in range(len(spec.stage_levels))] if len(labels) > 1 else []
        masks.append(np.ones(n, dtype=bool))

        def differences(chunk: Chunk) -> list[np.ndarray]:
            p, r = chunk.params, chunk.rows
            status_quo_M = equations.mediators_from_latents(
                p, families=[m.family for m in spec.mediators], order=_mediator_order(spec), x=x_col, C=r.C,
                stage_idx=r.stage_idx, latents=chunk.latents, person_intercepts=r.u, person_slopes=r.a_i,
                x_between=r.x_between,
            )[..., 0]
            sd = {spec.exposure.name: float(np.std(pop.x_total, ddof=1))}
            sd.update({m: float(np.std(status_quo_M[:, k], ddof=1)) for k, m in enumerate(spec.mediator_names)})
            base = intervention_means(spec, p, r, x_col, chunk.latents, {}, x_between=between)[..., 0]
            out = []
            for _, parts in entries:
                transforms = {}
                for iv in parts:
                    mask = None
                    if iv.stages:
                        mask = np.isin(pop.stage_idx, [list(spec.stages).index(s) for s in iv.stages])
                    transforms[iv.target] = model_transform(
                        spec, iv, loc=0.0, scale=1.0, sd_observed=sd[iv.target], stage_mask=mask
                    )
                means = intervention_means(spec, p, r, x_col, chunk.latents, transforms, x_between=between)
                out.append(means[..., 0] - base)
            return out

        [(_, diffs)] = map_chunks(truth, pop.row_data(), "marginal", rng, differences)
        rows = []
        for (label, _), diff in zip(entries, diffs, strict=True):
            for stage, mask in zip(labels, masks, strict=True):
                est, se = _cluster_mean(diff[mask], pop.person[mask])
                rows.append((label, stage, est, se))
        return pd.DataFrame(rows, columns=["intervention", "stage", "true", "mc_se"]).set_index(
            ["intervention", "stage"]
        )

    def panel(self) -> Panel:
        """The simulated data validated into a :class:`~carepaths.data.Panel`."""
        return Panel.from_frame(self.data, self.spec)

    def trajectory_truth(self, interventions: Any, *, mc_persons: int = 20_000, decompose: bool = False) -> xr.Dataset:
        """The true care trajectories under sustained interventions (a spec with ``[time]``).

        New persons (``mc_persons``) are simulated forward through the panel's waves on the
        true parameters (:func:`carepaths.counterfactual.trajectories.forward`), under the
        natural course and each intervention, with the same random numbers; a ``shift`` in
        SDs counts in the natural course's SD of its target over person-waves.

        Parameters
        ----------
        interventions : Intervention or list
            Each an :class:`~carepaths.counterfactual.interventions.Intervention` (or a
            list of them, applied together), on the exposure or a mediator, optionally
            ``from_wave`` and in some ``stages`` (a dynamic intervention: it acts in the
            waves a person is in those stages).
        mc_persons : int
            Persons simulated; the Monte Carlo standard errors shrink as 1/sqrt of it.
        decompose : bool
            Also the true decomposition of each intervention's effect by mechanism
            (:mod:`carepaths.counterfactual.mechanisms_over_waves`; interventions on the
            exposure only).

        Returns
        -------
        xarray.Dataset
            :func:`~carepaths.counterfactual.trajectories.summarise`: care use, care use
            by stage, continuation and cumulative waves in care by world and wave, with the
            differences from the natural course and their Monte Carlo standard errors
            (and ``mechanism_effect``, ``mechanism_effect_se`` with ``decompose``).
        """
        from carepaths.counterfactual.interventions import validate_over_waves
        from carepaths.counterfactual.mechanisms_over_waves import check_decomposable, mechanism_effects

        spec = self.spec
        if spec.time is None:
            raise SimulationError(
                "trajectory_truth needs a spec with a [time] table (the longitudinal scenario): add one, "
                "e.g. [time] lags = [\"care_use\"], and simulate again."
            )
        entries = validate_over_waves(spec, interventions)
        if decompose:
            check_decomposable(spec, entries)
        truth = self.truth
        p = truth.sample(0)
        values = _simulator_values(self.params, truth)
        n_waves = int(self.data[spec.columns.wave].max())
        rng = np.random.default_rng(np.random.SeedSequence(self.seed).spawn(5)[4])
        inputs, _ = _longitudinal_inputs(spec, values, mc_persons, n_waves, rng)
        tp = time_arrays(spec, values)
        natural = trajectories.forward(spec, p, tp, **inputs)
        sd = {spec.exposure.name: float(natural.x.std(ddof=1)),
              **{m: float(natural.M[..., k].std(ddof=1)) for k, m in enumerate(spec.mediator_names)}}
        worlds_ = {label: trajectories.forward(spec, p, tp, **inputs, interventions=parts, sd=sd)
                   for label, parts in entries}
        mechanisms = None
        if decompose:
            def run(parts: Any, fixed: Any) -> Any:
                return trajectories.forward(spec, p, tp, **inputs, interventions=parts, sd=sd, fixed=fixed)
            mechanisms = mechanism_effects(spec, run, natural, [(parts, worlds_[label]) for label, parts in entries],
                                           np.random.default_rng(np.random.SeedSequence(self.seed).spawn(6)[5]))
        return trajectories.summarise(spec, natural, worlds_, mechanisms)


def _simulator_values(params: xr.Dataset, truth: ParameterSet) -> dict[str, Any]:
    """The simulator's own parameters and the person-effect SDs, as plain arrays."""
    values = {name: params[name].values for name in (*SIMULATOR_ONLY, *TIME_PARAMS) if name in params}
    values.update({name: value[0] for name, value in truth.person.items()})
    return values


def simulate(
    spec: Spec,
    n_persons: int = 500,
    n_waves: int = 4,
    params: Mapping[str, Any] | None = None,
    *,
    seed: int,
    mc_persons: int = 20_000,
    missing: Mapping[str, Any] | None = None,
) -> Simulation:
    """Draw a synthetic panel from the structural model, with its true effects.

    Parameters
    ----------
    spec : Spec
        Which variables, families, stages and person effects to simulate.
    n_persons : int, default 500
        Persons in the panel (each observed at every wave).
    n_waves : int, default 4
        Waves per person (1 for a cross-sectional spec).
    params : mapping, optional
        Overrides of :func:`default_params` by name (array-like of the same shape).
        Unknown names raise.
    seed : int
        Seed of everything drawn; the same spec, sizes, params and seed give the same
        frame and the same true effects.
    mc_persons : int, default 20000
        Persons in the counterfactual population that the true effects average over;
        the Monte Carlo error shrinks as 1/sqrt(mc_persons) and is reported.
    missing : mapping, optional
        Attrition: ``{"mechanism": "mcar" | "mar" | "mnar", "rate": share of person-waves
        absent, "on": [columns], "strength": log-odds per SD}``
        (:func:`carepaths.missingness.attrition_settings`). ``data`` then holds the rows
        observed before each person's dropout; ``complete_data`` every row and
        ``attrition`` each person's record. With ``"pattern": "items"``, single outcome
        and normal-mediator values go missing within rows instead (``rate`` is the
        outcome's share; :func:`carepaths.missingness.apply_item_missing`): fit such data
        with ``Panel.from_frame(..., missing="model")``. The true effects are those of the
        complete cohort.

    Returns
    -------
    Simulation
        The data frame, the true parameters and the true effects.

    Raises
    ------
    SimulationError
        On an unknown parameter name, a wrongly shaped parameter, or bad sizes.
    """
    for name, value in (("n_persons", n_persons), ("n_waves", n_waves), ("mc_persons", mc_persons)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise SimulationError(f"{name} must be a positive integer, got {value!r}.")
    if n_persons < 2:
        raise SimulationError("n_persons must be at least 2.")
    if spec.columns.person is None and n_waves != 1:
        raise SimulationError(
            f"the spec has no person column, so each row is a different unit: use n_waves=1 "
            f"(got {n_waves}) and set n_persons to the number of rows."
        )
    check_longitudinal(spec)
    settings = attrition_settings(spec, missing) if missing is not None else None
    params_ds = _merge_params(spec, params)
    truth = ParameterSet.from_truth(spec, {k: params_ds[k].values for k in parameter_dims(spec)})
    p = truth.sample(0)  # the equations' arrays, by the one translator
    root = np.random.SeedSequence(seed)
    data_seed, truth_seed, outcome_seed = root.spawn(3)
    rng = np.random.default_rng(data_seed)
    sim_values = _simulator_values(params_ds, truth)
    if spec.time is not None:  # wave by wave, with lags and stage transitions (carepaths.longitudinal)
        pop, course = _draw_longitudinal(spec, p, sim_values, n_persons, n_waves, rng)
        M, y = _rows_of(course.M), _rows_of(course.y)
    else:
        pop = _draw_population(spec, sim_values, n_persons, n_waves, rng, person_effects=True)
        M, y = _draw_mediators_outcome(spec, p, pop, rng, np.random.default_rng(outcome_seed))
    frame = _to_frame(spec, pop, M, y)
    effects = _true_effects(spec, truth, sim_values, mc_persons, n_waves, np.random.default_rng(truth_seed))
    if settings is None:
        return Simulation(data=frame, params=params_ds, effects=effects, spec=spec, seed=seed)
    # a fourth stream (spawn keys are by position: the first three, and so every panel
    # simulated without attrition, are unchanged)
    attrition_seed = np.random.SeedSequence(seed).spawn(4)[3]
    if settings["pattern"] == "items":
        observed = apply_item_missing(frame, spec, settings, np.random.default_rng(attrition_seed))
        return Simulation(data=observed, params=params_ds, effects=effects, spec=spec, seed=seed,
                          complete_data=frame, missing=settings)
    observed, record = apply_attrition(frame, spec, settings, np.random.default_rng(attrition_seed))
    return Simulation(data=observed, params=params_ds, effects=effects, spec=spec, seed=seed,
                      complete_data=frame, attrition=record, missing=settings)


def _draw_mediators_outcome(spec: Spec, p: Mapping[str, Any], pop: _Population, rng: np.random.Generator,
                            outcome_rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The mediators and the outcome of a per-wave population (every row at once)."""
    r = pop.effects
    assert r is not None
    latents = _latents(spec, p, _uniforms(rng, (len(pop.x), len(spec.mediators))))
    M = equations.mediators_from_latents(
        p, families=[m.family for m in spec.mediators], order=_mediator_order(spec), x=pop.x, C=r.C,
        stage_idx=r.stage_idx, latents=latents, person_intercepts=r.u, person_slopes=r.a_i,
        x_between=r.x_between,
    )
    eta_y = equations.outcome_predictor(
        p, x=pop.x, M=M, C=r.C, stage_idx=r.stage_idx, person_intercept=r.v, person_slope_c=r.c_i,
        person_slope_b=r.b_i, x_between=r.x_between,
    )
    y = equations.draw_outcome(spec.outcome.family, eta_y, outcome_rng, sigma=float(p["sigma_y"]),
                               phi=float(p["phi"]), link=spec.outcome.link)
    return M, y


def _rows_of(values: np.ndarray) -> np.ndarray:
    """A course's (wave, person, ...) array as rows, person by person (the frame's order)."""
    return np.swapaxes(values, 0, 1).reshape(-1, *values.shape[2:])


def _longitudinal_inputs(spec: Spec, sim_values: Mapping[str, Any], n_persons: int, n_waves: int,
                         rng: np.random.Generator) -> tuple[dict[str, Any], _Population]:
    """What :func:`trajectories.forward` takes for new persons: first stages, the exogenous
    confounders of every wave, person effects and the random numbers (and the per-wave draw
    they come from, for the confounders' original units)."""
    base_terms = [t for c in spec.confounders for t in c.terms]
    J0 = len(base_terms)
    exogenous = {**sim_values, "gamma_x": np.asarray(sim_values["gamma_x"])[:J0]}
    base = _draw_population(spec, exogenous, n_persons, n_waves, rng, person_effects=True)
    assert base.effects is not None
    first = np.arange(n_persons) * n_waves  # each person's first row
    C = np.zeros((n_waves, n_persons, len(spec.confounder_terms)))
    C[:, :, :J0] = np.swapaxes(base.C.reshape(n_persons, n_waves, J0), 0, 1)
    inputs = {
        "stage0": base.stage_idx[first], "C_exogenous": C, "u": base.effects.u[first], "v": base.effects.v[first],
        "w": float(sim_values["sd_x_person"]) * rng.standard_normal(n_persons),
        "noise": trajectories.draw_noise(spec, rng, n_waves, n_persons),
    }
    return inputs, base


def _draw_longitudinal(spec: Spec, p: Mapping[str, Any], sim_values: Mapping[str, Any], n_persons: int,
                       n_waves: int, rng: np.random.Generator) -> tuple[_Population, trajectories.Course]:
    """The longitudinal scenario's natural course, and its rows as a population."""
    inputs, base = _longitudinal_inputs(spec, sim_values, n_persons, n_waves, rng)
    course = trajectories.forward(spec, p, time_arrays(spec, sim_values), **inputs)
    C = _rows_of(course.C)
    terms = list(spec.confounder_terms)
    values = dict(base.confounder_values)
    for name in spec.time.time_varying:  # their new values in original units
        j = terms.index(name)
        values[name] = sim_values["confounder_loc"][j] + sim_values["confounder_scale"][j] * C[:, j]
    person = np.repeat(np.arange(n_persons), n_waves)
    stage_idx = _rows_of(course.stage)
    x = _rows_of(course.x)
    effects = worlds.Rows(C=C, stage_idx=stage_idx, u=inputs["u"][person], a_i=np.zeros((len(x), len(spec.mediators))),
                          b_i=np.zeros((len(x), len(spec.mediators))), c_i=np.zeros(len(x)), v=inputs["v"][person],
                          x_between=None)
    pop = _Population(person, np.tile(np.arange(n_waves), n_persons), stage_idx, C, values, x, x, None, None, effects)
    return pop, course


def _to_frame(spec: Spec, pop: _Population, M: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    cols = spec.columns
    out: dict[str, Any] = {}
    if cols.person is not None:
        out[cols.person] = pop.person + 1
    if cols.wave is not None:
        out[cols.wave] = pop.wave + 1
    if cols.stage is not None:
        out[cols.stage] = np.asarray(spec.stages, dtype=object)[pop.stage_idx]
    if cols.cluster is not None and pop.cluster is not None:
        out[cols.cluster] = pop.cluster + 1
    out[spec.exposure.name] = pop.x_total
    for k, m in enumerate(spec.mediators):
        if m.family == "ordinal":  # codes 0..K-1 back onto the declared categories
            out[m.name] = np.asarray(m.categories)[M[:, k].astype(int)]
        elif m.family == "bernoulli":
            out[m.name] = M[:, k].astype(np.int64)
        else:
            out[m.name] = M[:, k]
    out[spec.outcome.name] = y.astype(np.int64) if spec.outcome.family != "normal" else y
    for conf in spec.confounders:
        out[conf.name] = pop.confounder_values[conf.name]
    return pd.DataFrame(out)
