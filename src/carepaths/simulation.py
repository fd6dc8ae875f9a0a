"""Synthetic panels with known true parameters and true effects.

:func:`simulate` draws a long-format panel from the structural model in ``DESIGN.md``
(through :mod:`carepaths.equations`, the same equations the fitted model uses): stages
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

from carepaths import equations, gcomputation
from carepaths.exceptions import SimulationError
from carepaths.spec import Spec, suggest_closest

__all__ = ["Simulation", "simulate", "default_params", "EFFECT_NAMES"]

EFFECT_NAMES = ("TE", "NDE", "NIE", "interdependence")
POOLED = "pooled"
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
    (a = 0.4, b alternating +-0.3, c = 0.1).

    Parameters
    ----------
    spec : Spec

    Returns
    -------
    xarray.Dataset
        One variable per parameter with named dims (``stage``, ``mediator``, ``parent``,
        ``confounder``, ``cut``, ``stage_next``, ``slope``, ``slope_other``).
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
        beta0 = np.log(rates / (1 - rates))
    elif family == "negative_binomial":
        beta0 = np.log(np.array([6.0, 3.0, 1.5])) if is_paradox else np.full(S, np.log(3.0))
        b, c = 0.5 * b, 0.5 * c  # log-rate paths: half the log-odds ones keep visits plausible
    else:
        beta0 = np.zeros(S)

    n_cuts = max([len(m.categories) - 1 for m in spec.mediators if m.family == "ordinal"] + [0])
    cutpoints = np.full((K, max(n_cuts, 1)), np.nan)
    sigma_m = np.full(K, np.nan)
    for k, m in enumerate(spec.mediators):
        if m.family == "ordinal":
            cutpoints[k, : len(m.categories) - 1] = np.linspace(-1.5, 1.5, len(m.categories) - 1)
        if m.family == "normal":
            sigma_m[k] = 0.8

    j_sign = np.array([(-1) ** j for j in range(J)], dtype=float)
    # numeric confounders are drawn standardised and written in plausible units
    units = {"severity": (12.0, 5.0), "age": (40.0, 12.0)}  # PHQ-9 points [41]; years
    conf_loc = np.array([units.get(t, (0.0, 1.0))[0] for t in terms])
    conf_scale = np.array([units.get(t, (0.0, 1.0))[1] for t in terms])
    initial, transition = _stage_transition_default(S)
    slope_names = [f"a:{m}" for m in spec.mediator_names] + [
        f"b:{m}" for m in spec.mediator_names
    ] + ["c"]
    corr = np.eye(2 * K + 1)
    for k in range(K):  # person-level a_i and b_i correlate: cov(a_i, b_i) enters the NIE
        corr[k, K + k] = corr[K + k, k] = 0.3
    d = np.zeros((K, K))
    names = list(spec.mediator_names)
    for src, dst in spec.mediator_edges:
        d[names.index(dst), names.index(src)] = 0.3

    dims_ks = ("mediator", "stage")
    return xr.Dataset(
        {
            "alpha_m": (dims_ks, np.zeros((K, S))),
            "a": (dims_ks, a),
            "gamma_m": (("mediator", "confounder"), np.full((K, J), 0.1)),
            "d": (("mediator", "parent"), d),
            "sigma_m": ("mediator", sigma_m),
            "cutpoints": (("mediator", "cut"), cutpoints),
            "beta0": ("stage", beta0),
            "c": ("stage", c),
            "b": (dims_ks, b),
            "delta": ("confounder", 0.3 * np.ones(J)),
            "sigma_y": ((), 1.0),
            "phi": ((), 1.5),
            # person effects
            "sd_u": ("mediator", np.full(K, 0.4)),
            "sd_v": ((), 0.5 if family == "negative_binomial" else 0.8),
            "sd_slope": ("slope", np.r_[np.full(K, 0.2), np.full(K, 0.2), 0.1]),
            "corr_slope": (("slope", "slope_other"), corr),
            "sd_cluster": ((), 0.3),
            # exposure model (the fitted model conditions on X; only the simulator needs it)
            "alpha_x": ("stage", np.linspace(-0.2, 0.2, S) if S > 1 else np.zeros(1)),
            "gamma_x": ("confounder", -0.15 * j_sign),
            "sd_x_person": ((), 0.6),
            "sigma_x": ((), 0.8),
            # confounders and stages
            "confounder_person_share": ((), 0.8),
            "confounder_loc": ("confounder", conf_loc),
            "confounder_scale": ("confounder", conf_scale),
            "stage_initial": ("stage", initial),
            "stage_transition": (("stage", "stage_next"), transition),
        },
        coords={
            "stage": list(stages),
            "stage_next": list(stages),
            "mediator": names,
            "parent": names,
            "confounder": list(terms),
            "slope": slope_names,
            "slope_other": slope_names,
        },
    )


def _merge_params(spec: Spec, overrides: Mapping[str, Any] | None) -> xr.Dataset:
    params = default_params(spec)
    for name, value in (overrides or {}).items():
        if name not in params:
            raise SimulationError(
                f"unknown simulation parameter {name!r}.{suggest_closest(name, list(params))} "
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
    """Everything drawn before the exposure contrast, for n persons x n waves."""

    person: np.ndarray
    wave: np.ndarray
    stage_idx: np.ndarray
    C: np.ndarray
    confounder_values: dict[str, np.ndarray]
    x: np.ndarray
    u: np.ndarray  # (obs, mediator) person intercepts of the mediators
    a_i: np.ndarray  # (obs, mediator) person slope deviations of a
    b_i: np.ndarray  # (obs, mediator)
    c_i: np.ndarray  # (obs,)
    v: np.ndarray  # (obs,) outcome person (+ cluster) intercept
    cluster: np.ndarray | None


def _draw_population(
    spec: Spec, p: Mapping[str, np.ndarray], n_persons: int, n_waves: int, rng: np.random.Generator
) -> _Population:
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
    eta_x = p["alpha_x"][stage_idx] + C @ p["gamma_x"]
    eta_x = eta_x + float(p["sd_x_person"]) * rng.standard_normal(n_persons)[person]
    if spec.exposure.kind == "continuous":
        x = eta_x + float(p["sigma_x"]) * rng.standard_normal(n)
    else:
        x = (rng.random(n) < 1 / (1 + np.exp(-eta_x))).astype(float)

    # person effects
    mode = spec.structure.person_effects if spec.columns.person else "none"
    u = np.zeros((n, K))
    v = np.zeros(n)
    a_i, b_i, c_i = np.zeros((n, K)), np.zeros((n, K)), np.zeros(n)
    if mode in ("intercepts", "slopes"):
        u = (rng.standard_normal((n_persons, K)) * p["sd_u"])[person]
        v = (float(p["sd_v"]) * rng.standard_normal(n_persons))[person]
    if mode == "slopes":
        sd = p["sd_slope"]
        cov = p["corr_slope"] * np.outer(sd, sd)
        dev = rng.multivariate_normal(np.zeros(2 * K + 1), cov, size=n_persons)[person]
        a_i, b_i, c_i = dev[:, :K], dev[:, K : 2 * K], dev[:, 2 * K]
    cluster = None
    if spec.columns.cluster is not None:
        n_clusters = max(2, min(20, n_persons // 5))
        cluster_of_person = rng.integers(0, n_clusters, n_persons)
        cluster = cluster_of_person[person]
        v = v + (float(p["sd_cluster"]) * rng.standard_normal(n_clusters))[cluster]
    return _Population(person, wave, stage_idx, C, values, x, u, a_i, b_i, c_i, v, cluster)


def _rows(pop: _Population) -> gcomputation.Rows:
    return gcomputation.Rows(
        C=pop.C, stage_idx=pop.stage_idx, u=pop.u, a_i=pop.a_i, b_i=pop.b_i, c_i=pop.c_i, v=pop.v
    )


def _latents(spec: Spec, p: Mapping[str, Any], uniforms: np.ndarray) -> np.ndarray:
    return np.column_stack([
        equations.latent_from_uniform(m.family, uniforms[:, k], sigma=float(p["sigma_m"][k]))
        for k, m in enumerate(spec.mediators)
    ])


def _mediators(spec, p, pop: _Population, x: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    return _mediators_from(spec, p, pop, x, _latents(spec, p, uniforms))


def _mediators_from(spec: Spec, p: Mapping[str, Any], pop: _Population, x: np.ndarray, latents: np.ndarray) -> np.ndarray:
    names = list(spec.mediator_names)
    return equations.mediators_from_latents(
        p, families=[m.family for m in spec.mediators],
        order=[names.index(m) for m in spec.mediator_order], x=x, C=pop.C,
        stage_idx=pop.stage_idx, latents=latents, person_intercepts=pop.u, person_slopes=pop.a_i,
    )


def _outcome_eta(p, pop: _Population, x: np.ndarray, M: np.ndarray) -> np.ndarray:
    return equations.outcome_predictor(
        p,
        x=x,
        M=M,
        C=pop.C,
        stage_idx=pop.stage_idx,
        person_intercept=pop.v,
        person_slope_c=pop.c_i,
        person_slope_b=pop.b_i,
    )


def _uniforms(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    # open interval (0, 1): ndtri and logit are finite
    return (rng.integers(1, 2**53 - 1, size=shape, dtype=np.int64) + 0.5) / 2.0**53


# --------------------------------------------------------------------------- effects
def _contrast_values(spec: Spec, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    c = spec.exposure.contrast
    if c.kind == "shift_sd":
        step = float(c.size) * float(np.std(x, ddof=1))
        return x, x + step, step
    return np.full_like(x, c.low), np.full_like(x, c.high), float(c.high - c.low)


def _true_effects(
    spec: Spec, p: Mapping[str, np.ndarray], n_persons: int, n_waves: int, rng: np.random.Generator
) -> xr.Dataset:
    pop = _draw_population(spec, p, n_persons, n_waves, rng)
    K = len(spec.mediators)
    x0, x1, _ = _contrast_values(spec, pop.x)
    family = spec.outcome.family
    n = len(pop.x)
    # the same g-computation as the posterior effects (carepaths.gcomputation), with
    # one independent mediator system per mechanism for the interventional effects
    latents = _latents(spec, p, _uniforms(rng, (n, K)))
    systems = [_latents(spec, p, _uniforms(rng, (n, K))) for _k in range(K)]
    worlds = gcomputation.world_means(spec, p, _rows(pop), x0, x1, latents, systems)
    per_row = gcomputation.effects_from_worlds(worlds)
    iie = list(per_row.pop("IIE"))

    stage_labels = [*spec.stage_levels, POOLED] if len(spec.stage_levels) > 1 else [POOLED]
    masks = [pop.stage_idx == s for s in range(len(spec.stage_levels))] if len(stage_labels) > 1 else []
    masks.append(np.ones(len(pop.x), dtype=bool))

    def summarise(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        est, se = [], []
        for mask in masks:
            e, s = _cluster_mean(values[mask], pop.person[mask])
            est.append(e)
            se.append(s)
        return np.array(est), np.array(se)

    data: dict[str, Any] = {}
    for name in EFFECT_NAMES:
        est, se = summarise(per_row[name])
        data[name] = ("stage", est)
        data[f"{name}_mc_se"] = ("stage", se)
    iie_est, iie_se = zip(*(summarise(v) for v in iie), strict=True)
    data["IIE"] = (("stage", "mechanism"), np.column_stack(iie_est))
    data["IIE_mc_se"] = (("stage", "mechanism"), np.column_stack(iie_se))
    ds = xr.Dataset(data, coords={"stage": stage_labels, "mechanism": list(spec.mediator_names)})
    ds.attrs.update(
        scale=_scale_name(family),
        contrast=_contrast_text(spec),
        mc_persons=n_persons,
        mc_rows=int(len(pop.x)),
        note=(
            "True population effects by Monte Carlo over a large counterfactual population "
            "(person effects integrated out); *_mc_se are person-clustered Monte Carlo "
            "standard errors."
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
    """

    data: pd.DataFrame
    params: xr.Dataset
    effects: xr.Dataset
    spec: Spec
    seed: int

    def effects_table(self) -> pd.DataFrame:
        """The true effects as a tidy table: one row per stage and effect."""
        rows = []
        for stage in self.effects["stage"].values:
            for name in EFFECT_NAMES:
                rows.append(
                    (stage, name, float(self.effects[name].sel(stage=stage)),
                     float(self.effects[f"{name}_mc_se"].sel(stage=stage)))
                )
            for mech in self.effects["mechanism"].values:
                sel = {"stage": stage, "mechanism": mech}
                rows.append(
                    (stage, f"IIE[{mech}]", float(self.effects["IIE"].sel(sel)),
                     float(self.effects["IIE_mc_se"].sel(sel)))
                )
        return pd.DataFrame(rows, columns=["stage", "effect", "true", "mc_se"]).set_index(
            ["stage", "effect"]
        )

    def true_paths_on_model_scale(self, panel) -> xr.Dataset:  # noqa: ANN001
        """The true a, b, c (and d) paths converted to the scale a model fitted on ``panel`` uses.

        The model standardises a continuous exposure, normal mediators and a normal
        outcome by their sample SDs (``panel.scaling``), so a path per unit on the
        generating scale becomes ``a * sd(X) / sd(M_k)``, ``b * sd(M_k) / sd(Y)``,
        ``c * sd(X) / sd(Y)`` and ``d[k, j] * sd(M_j) / sd(M_k)`` (binary, ordinal and count
        variables keep their link scale: their SD factor is 1). Person-slope SDs scale
        like their paths.
        """
        spec = self.spec

        def sd(name: str) -> float:
            return panel.scaling[name].scale if name in panel.scaling else 1.0

        sx = sd(spec.exposure.name)
        sy = sd(spec.outcome.name)
        sm = np.array([sd(m) for m in spec.mediator_names])
        p = self.params
        out = xr.Dataset(
            {
                "a": p["a"] * xr.DataArray(sx / sm, dims="mediator"),
                "b": p["b"] * xr.DataArray(sm / sy, dims="mediator"),
                "c": p["c"] * (sx / sy),
                "d": p["d"] * xr.DataArray(sm, dims="parent") / xr.DataArray(sm, dims="mediator"),
            }
        )
        K = len(sm)
        slope_factor = np.r_[sx / sm, sm / sy, sx / sy]
        out["sd_slope"] = p["sd_slope"] * xr.DataArray(slope_factor, dims="slope")
        out["cov_slope"] = (
            p["corr_slope"]
            * xr.DataArray(p["sd_slope"].values * slope_factor, dims="slope")
            * xr.DataArray(p["sd_slope"].values * slope_factor, dims="slope_other")
        )
        out.attrs["mediators"] = K
        return out

    def true_intervention_effects(
        self, interventions: Any, *, mc_persons: int = 20_000, seed: int | None = None
    ) -> pd.DataFrame:
        """True effects of interventions, by Monte Carlo on a new population with the true parameters.

        The same code as the posterior comparison (:func:`carepaths.interventions.intervention_means`):
        per stage and pooled, the expected outcome under each intervention minus the
        status quo, with a person-clustered Monte Carlo SE. Shifts count in SDs of the
        simulated population's exposure and mediators.

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
        from carepaths import interventions as iv_mod

        spec = self.spec
        entries = iv_mod.validate(spec, interventions)
        p = {name: self.params[name].values for name in self.params.data_vars}
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 7]) if seed is None else seed)
        n_waves = int(self.data[spec.columns.wave].nunique()) if spec.columns.wave else 1
        pop = _draw_population(spec, p, mc_persons, n_waves, rng)
        n, K = len(pop.x), len(spec.mediators)
        latents = _latents(spec, p, _uniforms(rng, (n, K)))
        rows = _rows(pop)
        status_quo_M = _mediators_from(spec, p, pop, pop.x, latents)
        sd = {spec.exposure.name: float(np.std(pop.x, ddof=1))}
        sd.update({m: float(np.std(status_quo_M[:, k], ddof=1)) for k, m in enumerate(spec.mediator_names)})
        base = iv_mod.intervention_means(spec, p, rows, pop.x, latents, {})
        out = []
        labels = [*spec.stage_levels, POOLED] if len(spec.stage_levels) > 1 else [POOLED]
        for label, parts in entries:
            transforms = {}
            for iv in parts:
                mask = None
                if iv.stages:
                    mask = np.isin(pop.stage_idx, [list(spec.stages).index(s) for s in iv.stages])
                transforms[iv.target] = iv_mod.model_transform(
                    spec, iv, loc=0.0, scale=1.0, sd_observed=sd[iv.target], stage_mask=mask
                )
            diff = iv_mod.intervention_means(spec, p, rows, pop.x, latents, transforms) - base
            masks = [pop.stage_idx == s for s in range(len(spec.stage_levels))] if len(labels) > 1 else []
            masks.append(np.ones(n, dtype=bool))
            for stage, mask in zip(labels, masks, strict=True):
                est, se = _cluster_mean(diff[mask], pop.person[mask])
                out.append((label, stage, est, se))
        return pd.DataFrame(out, columns=["intervention", "stage", "true", "mc_se"]).set_index(
            ["intervention", "stage"]
        )

    def panel(self):  # noqa: ANN201 - avoids importing data at module import
        """The simulated data validated into a :class:`~carepaths.data.Panel`."""
        from carepaths.data import Panel

        return Panel.from_frame(self.data, self.spec)


def simulate(
    spec: Spec,
    n_persons: int = 500,
    n_waves: int = 4,
    params: Mapping[str, Any] | None = None,
    *,
    seed: int,
    mc_persons: int = 20_000,
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
    params_ds = _merge_params(spec, params)
    p = {name: params_ds[name].values for name in params_ds.data_vars}
    root = np.random.SeedSequence(seed)
    data_seed, truth_seed, outcome_seed = root.spawn(3)
    rng = np.random.default_rng(data_seed)
    pop = _draw_population(spec, p, n_persons, n_waves, rng)
    M = _mediators(spec, p, pop, pop.x, _uniforms(rng, (len(pop.x), len(spec.mediators))))
    eta_y = _outcome_eta(p, pop, pop.x, M)
    y = equations.draw_outcome(
        spec.outcome.family,
        eta_y,
        np.random.default_rng(outcome_seed),
        sigma=float(p["sigma_y"]),
        phi=float(p["phi"]),
    )
    frame = _to_frame(spec, pop, M, y)
    effects = _true_effects(spec, p, mc_persons, n_waves, np.random.default_rng(truth_seed))
    return Simulation(data=frame, params=params_ds, effects=effects, spec=spec, seed=seed)


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
    out[spec.exposure.name] = pop.x
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
