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

The simulator runs it on the true parameters (the longitudinal scenario and its truth,
:func:`carepaths.simulate` with a ``[time]`` spec); :func:`posterior_trajectories` runs it
on posterior draws (the per-wave fit paired with the models over waves of
:mod:`carepaths.model.time_model`), so truth and estimate come from the same code. The
decomposition by mechanism over waves runs it with the mediators set
(:mod:`carepaths.counterfactual.mechanisms_over_waves`).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr
from scipy import special, stats

from carepaths.counterfactual.interventions import Intervention, model_transform
from carepaths.counterfactual.mechanisms_over_waves import effect_names, mechanism_effects
from carepaths.counterfactual.population import default_workers
from carepaths.data import Panel
from carepaths.intervals import interval_label
from carepaths.spec import FIRST_WAVE, Spec
from carepaths.structural import equations, time_equations
from carepaths.structural.parameters import ParameterSet

__all__ = ["Course", "Noise", "Trajectories", "draw_noise", "forward", "mediator_latents", "posterior_trajectories",
           "summarise"]


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
        if out.shape[1]:
            out[:, -1] = 1.0  # first_wave (the last lag term whenever there are any)
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


def _given(spec: Spec, lags: np.ndarray) -> np.ndarray:
    """The previous wave's values the stage transition depends on (person, given), from the
    wave's uncentred lag terms."""
    names = spec.time.transition_given or ()
    return np.column_stack([lags[:, list(spec.lag_terms).index(f"lag({name})")] for name in names]) if names \
        else np.zeros((lags.shape[0], 0))


def forward(
    spec: Spec, p: Mapping[str, Any], tp: Mapping[str, Any], *, stage0: np.ndarray, C_exogenous: np.ndarray,
    u: np.ndarray, v: np.ndarray, w: np.ndarray, noise: Noise,
    interventions: Sequence[Intervention] = (), sd: Mapping[str, float] | None = None,
    lag_loc: np.ndarray | None = None, latents: np.ndarray | None = None,
    fixed: Mapping[int, np.ndarray] | None = None,
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
    lag_loc : array (lag term,), optional
        What a fitted panel subtracts from each lag term (it centres them,
        ``panel.scaling[term].loc``); 0 for the simulator's uncentred terms. The
        transition's ``given`` values are never centred.
    latents : array (wave, person, mediator), optional
        The mediators' latent noise from ``noise.mediators`` (:func:`mediator_latents`),
        when the caller shares it between worlds; computed here otherwise.
    fixed : mapping of int to array (wave, person), optional
        Mediators set at every wave (``fixed[k][t]`` for mediator ``k``), as the
        decomposition by mechanism sets them to random draws of a mediator history
        (:mod:`carepaths.counterfactual.mechanisms_over_waves`).

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
    if latents is None:
        latents = mediator_latents(spec, p, noise)
    for t in range(T):
        lags = _lag_terms(spec, t, course, terms)  # uncentred: the transition's given values
        if t == 0:
            stage = np.asarray(stage0, dtype=np.int64)
        else:
            stage = time_equations.next_stage(tp, course["stage"][t - 1], _given(spec, lags), noise.stage[t])
        course["stage"][t] = stage
        C = course["C"][t]
        if lag_loc is not None:
            lags = lags - lag_loc
        if lag_cols:
            C[:, lag_cols] = lags
        for i, col in enumerate(varying):
            if t > 0:
                C[:, col] = time_equations.time_varying_value(tp, i, course["C"][t - 1][:, col], stage, lags,
                                                              noise.time_varying[t][:, i])
        x = time_equations.exposure_mean(tp, stage, C, w) + float(tp["sigma_x"]) * noise.exposure[t]
        x = _intervene(spec, spec.exposure.name, x, t, stage, interventions, sd)
        course["x"][t] = x
        overrides = {k: (lambda values, name=name: _intervene(spec, name, values, t, stage, interventions, sd))
                     for k, name in enumerate(spec.mediator_names)
                     if any(iv.target == name for iv in interventions)}
        for k, values in (fixed or {}).items():
            overrides[k] = lambda _, values=values[t]: values
        M = equations.mediators_from_latents(p, families=families, order=order, x=x, C=C, stage_idx=stage,
                                             latents=latents[t], person_intercepts=u, overrides=overrides)
        course["M"][t] = M
        eta = equations.outcome_predictor(p, x=x, M=M, C=C, stage_idx=stage, person_intercept=v)
        course["y"][t] = _outcome_from_uniform(spec, p, eta, noise.outcome[t])
    return Course(**course)


def mediator_latents(spec: Spec, p: Mapping[str, Any], noise: Noise) -> np.ndarray:
    """The mediators' latent noise of every wave (wave, person, mediator) from the uniforms."""
    sigma = np.asarray(p["sigma_m"], dtype=float)
    return np.stack([equations.latent_from_uniform(m.family, noise.mediators[..., k], sigma=sigma[k], link=m.link)
                     for k, m in enumerate(spec.mediators)], axis=-1)


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


def summarise(spec: Spec, natural: Course, worlds: Mapping[str, Course],
              mechanisms: tuple[np.ndarray, np.ndarray] | None = None) -> xr.Dataset:
    """The estimands by wave of each world, and their differences from the natural course.

    Per world and wave: ``care_use`` (the outcome's mean), ``care_use_by_stage`` (among
    the persons in each stage at that wave), ``stage_share`` (the share of persons in
    each stage), ``continuation`` (the share in care at t
    among those in care at t-1; from the second wave; a binary outcome's only) and
    ``cumulative`` (mean waves in care up to t). Differences from the natural course
    (``*_diff``) come with person-level Monte Carlo standard errors (``*_diff_se``; the
    worlds share their random numbers, so the differences are paired). With
    ``mechanisms`` (:func:`~carepaths.counterfactual.mechanisms_over_waves.mechanism_effects`),
    also ``mechanism_effect`` and ``mechanism_effect_se`` by world, wave and ``effect``.

    Returns
    -------
    xarray.Dataset
        Dims ``world`` (``"natural course"`` first), ``wave`` (1, 2, ...) and ``stage``
        (and ``effect``).
    """
    names = ["natural course", *worlds]
    T, n = natural.y.shape
    data = _estimands(spec, [natural, *worlds.values()])
    coords = {"world": names, "wave": np.arange(1, T + 1), "stage": list(spec.stage_levels)}
    if mechanisms is not None:
        data["mechanism_effect"] = (("world", "wave", "effect"), mechanisms[0])
        data["mechanism_effect_se"] = (("world", "wave", "effect"), mechanisms[1])
        coords["effect"] = effect_names(spec)
    ds = xr.Dataset(data, coords=coords)
    ds.attrs["persons"] = int(n)
    return ds


def _estimands(spec: Spec, courses: Sequence[Course]) -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
    """:func:`summarise`'s variables as ``(dims, array)``, the natural course first."""
    T, n = courses[0].y.shape
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
    return data


# ----------------------------------------------------------------------------- on posterior draws
def _person_waves(panel: Panel, n_waves: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each person's rows in wave order (person, wave since entry), the last carried forward,
    over ``n_waves`` waves (default: the most any person has)."""
    person = panel.dataset["person_idx"].values
    wave = np.asarray(panel.dataset["wave"].values, dtype=float)
    order = np.lexsort((wave, person))
    counts = np.bincount(person, minlength=panel.n_persons)
    T = int(counts.max()) if n_waves is None else int(n_waves)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    position = np.minimum(np.arange(T)[None, :], counts[:, None] - 1)
    return order[starts[:, None] + position], counts


def _draws(task: tuple[Any, list[tuple[int, Any, Any, Any]]]) -> list[dict[str, Any]]:
    """The estimands of a chunk of posterior draws (a worker's share of :func:`posterior_trajectories`)."""
    (spec, stage0, C, lag_loc, sd, entries, seed, decompose), items = task
    n, K = len(stage0), len(spec.mediators)
    out = []
    for i, p, person, tp in items:
        rng = np.random.default_rng([seed, i])  # each draw its own stream: any number of workers, same numbers
        u = rng.standard_normal((n, K)) * person["sd_u"] if "sd_u" in person else np.zeros((n, K))
        v = rng.standard_normal(n) * person["sd_v"] if "sd_v" in person else np.zeros(n)
        w = rng.standard_normal(n) * float(tp["sd_x_person"])
        noise = draw_noise(spec, rng, C.shape[0], n)
        kwargs = {"stage0": stage0, "C_exogenous": C, "u": u, "v": v, "w": w, "noise": noise, "lag_loc": lag_loc,
                  "latents": mediator_latents(spec, p, noise)}
        natural = forward(spec, p, tp, **kwargs)
        worlds = [forward(spec, p, tp, **kwargs, interventions=parts, sd=sd) for _, parts in entries]
        estimands = _estimands(spec, [natural, *worlds])
        if decompose:  # after the draw's other random numbers: the estimands above do not change with it
            def run(parts, fixed, p=p, tp=tp, kwargs=kwargs):
                return forward(spec, p, tp, **kwargs, interventions=parts, sd=sd, fixed=fixed)
            effects, _ = mechanism_effects(spec, run, natural, [(parts, world) for (_, parts), world in
                                                                 zip(entries, worlds, strict=True)], rng)
            estimands["mechanism_effect"] = (("world", "wave", "effect"), effects)
        out.append(estimands)
    return out


class Trajectories:
    """Care trajectories on posterior draws: the estimands of :func:`summarise` per draw.

    Attributes
    ----------
    draws : xarray.Dataset
        :func:`summarise`'s variables with a leading dim ``sample`` (posterior draws).
    converged : bool
        Whether both posteriors (per-wave model and models over waves) converged.
    """

    def __init__(self, draws: xr.Dataset, converged: bool):
        self.draws = draws
        self.converged = converged

    def summary(self, variables: Sequence[str] = ("care_use", "care_use_diff", "continuation_diff",
                                                   "cumulative_diff")) -> Any:
        """Posterior mean, SD and the package interval per variable, world and wave.

        Returns
        -------
        pandas.DataFrame
            Index ``(variable, world, wave)``; columns ``mean``, ``sd``, ``lower``,
            ``upper`` (the package interval, :mod:`carepaths.intervals`) and ``warning``
            (``NOT CONVERGED`` when a posterior did not); ``attrs["interval"]`` names it.
            With a decomposition by mechanism (``decompose=True``), also one variable
            ``mechanism_effect[<effect>]`` per effect of :meth:`mechanisms`.
        """
        import pandas as pd

        from carepaths.figures import trajectories_data

        frames = []
        for name in variables:
            if name not in self.draws:
                continue
            table = trajectories_data(draws=self.draws, converged=self.converged, variable=name)
            table = table.rename(columns={"estimate": "mean"})
            table.index = pd.MultiIndex.from_tuples([(name, *i) for i in table.index],
                                                    names=["variable", "world", "wave"])
            frames.append(table)
        if "mechanism_effect" in self.draws:
            table = self.mechanisms().drop(columns="warning")
            for effect in self.draws["effect"].values:
                part = table.xs(effect, level="effect")
                part.index = pd.MultiIndex.from_tuples([(f"mechanism_effect[{effect}]", *i) for i in part.index],
                                                       names=["variable", "world", "wave"])
                frames.append(part)
        out = pd.concat(frames)
        out["warning"] = "" if self.converged else "NOT CONVERGED"
        out.attrs["interval"] = interval_label()
        return out

    def mechanisms(self) -> Any:
        """The decomposition of each intervention's effect on care use by mechanism, by wave.

        Needs ``fit.trajectories(..., decompose=True)``; the effects are those of
        :mod:`carepaths.counterfactual.mechanisms_over_waves` (``overall = IDE + IIE``,
        ``IIE[m]`` per mechanism, ``interdependence``).

        Returns
        -------
        pandas.DataFrame
            Index ``(world, wave, effect)``; columns ``mean``, ``sd``, ``lower``, ``upper``
            and ``warning`` (``NOT CONVERGED`` when a posterior did not).
        """
        from carepaths.exceptions import CarepathsError
        from carepaths.figures import trajectories_data

        if "mechanism_effect" not in self.draws:
            raise CarepathsError("no decomposition by mechanism here: call fit.trajectories(..., decompose=True) "
                                 "with interventions on the exposure.")
        table = trajectories_data(draws=self.draws.drop_sel(world="natural course"), converged=self.converged,
                                  variable="mechanism_effect").rename(columns={"estimate": "mean"})
        table["warning"] = "" if self.converged else "NOT CONVERGED"
        table.attrs["interval"] = interval_label()
        return table

    def plot(self) -> Any:
        """Care use by wave under the natural course and each intervention, with intervals
        (:func:`carepaths.figures.plot_trajectories`)."""
        from carepaths.figures import plot_trajectories

        return plot_trajectories(draws=self.draws, converged=self.converged)

    def __repr__(self) -> str:
        worlds = list(self.draws["world"].values)
        flag = "" if self.converged else " -- NOT CONVERGED: numbers unreliable"
        return (f"<Trajectories {len(worlds) - 1} intervention(s) over {self.draws.sizes['wave']} waves, "
                f"{self.draws.sizes['sample']} draws{flag}>")


def posterior_trajectories(
    spec: Spec, panel: Panel, params: ParameterSet, time_sample: Callable[[int], Mapping[str, Any]],
    entries: Sequence[tuple[str, Sequence[Intervention]]], *, samples: np.ndarray, seed: int, converged: bool,
    waves: int | None = None, decompose: bool = False, workers: int | None = None,
) -> Trajectories:
    """The g-formula on posterior draws: every panel person simulated forward from their first
    wave's stage and confounders, per draw, under the natural course and each intervention.

    New person effects are drawn per draw from the population SDs (the persons of the
    population the panel samples), the exogenous confounders are each person's observed
    ones wave by wave (the last carried forward past a person's last wave), and a shift in
    SDs counts in the observed SD of its target (1 on the model scale).

    Parameters
    ----------
    spec, panel : Spec, Panel
    params : ParameterSet
        The per-wave model's posterior.
    time_sample : callable
        ``i -> arrays`` of the models over waves at sample ``i`` (the two posteriors are
        fitted apart and paired by index).
    entries : sequence of (label, interventions)
    samples : int array
        Which posterior samples to use.
    seed : int
        Each draw's random numbers come from ``(seed, sample index)``: the same numbers
        whatever the number of workers.
    converged : bool
    waves : int, optional
        Waves simulated from each person's first (default: the most any panel person
        has). Past a person's last observed wave the exogenous confounders are carried
        forward.
    decompose : bool
        Also the decomposition of each intervention's effect by mechanism
        (:mod:`carepaths.counterfactual.mechanisms_over_waves`; interventions on the
        exposure only).
    workers : int, optional
        Processes evaluating chunks of draws side by side (default: the CPUs this process
        may use; 1 runs them here, one after the other).

    Returns
    -------
    Trajectories
    """
    rows, _ = _person_waves(panel, waves)  # (person, wave)
    C = np.swapaxes(panel.dataset["C"].values[rows], 0, 1)  # (wave, person, term)
    stage0 = panel.dataset["stage_idx"].values[rows[:, 0]]
    lag_loc = np.array([panel.scaling[t].loc for t in spec.lag_terms])
    sd = {spec.exposure.name: 1.0, **{m.name: 1.0 for m in spec.mediators}}
    n = len(stage0)
    indices = [int(i) for i in samples]
    if workers is None:
        workers = default_workers()
    common = (spec, stage0, C, lag_loc, sd, tuple(entries), seed, bool(decompose))
    # each chunk carries its own draws' parameter arrays, so a worker process gets only those
    chunks = [c for c in np.array_split(np.asarray(indices), max(1, min(workers, len(indices)))) if len(c)]
    tasks = [(common, [(int(i), params.sample(int(i)), {k: params.person[k][int(i)] for k in ("sd_u", "sd_v")
                                                          if k in params.person}, time_sample(int(i))) for i in chunk])
             for chunk in chunks]
    if len(tasks) > 1:
        # processes, not threads: the simulation is many small NumPy calls that hold the GIL
        with ProcessPoolExecutor(max_workers=len(tasks), mp_context=multiprocessing.get_context("forkserver")) as pool:
            out = [item for part in pool.map(_draws, tasks) for item in part]
    else:
        out = _draws(tasks[0])
    # one Dataset for all draws (building one per draw cost more than the simulation)
    data = {name: (("sample", *dims), np.stack([o[name][1] for o in out])) for name, (dims, _) in out[0].items()}
    coords = {"sample": np.asarray(samples), "world": ["natural course", *(label for label, _ in entries)],
              "wave": np.arange(1, C.shape[0] + 1), "stage": list(spec.stage_levels)}
    if decompose:
        coords["effect"] = effect_names(spec)
    draws = xr.Dataset(data, coords=coords)
    draws.attrs["persons"] = int(n)
    return Trajectories(draws, converged)
