"""Causal effects by g-computation on every posterior draw, per stage and mechanism.

For each posterior draw, :func:`compute_effects` evaluates the structural equations
(:mod:`carepaths.counterfactual.worlds`, the same code the simulator's truth uses) under the
exposure contrast, averages the expected outcome of each counterfactual world over the
rows of each stage (and over all rows: ``"pooled"``, weighted by the stage mix in the
data), and contrasts the worlds: total (TE), natural direct (NDE) and indirect (NIE)
effects with ``TE = NDE + NIE`` per draw exactly, each mechanism's interventional
indirect effect (IIE) and the remainder due to mediator interdependence.

Populations
-----------
``"marginal"`` (default)
    The persons are new persons: for every draw, person (and cluster) effects are drawn
    from their posterior population distribution and mediator noise from its family, at
    the covariates, stages and exposures observed in the data. The Monte Carlo error of
    this integration is fresh in every draw, so it is part of the posterior spread.
``"conditional"``
    The observed persons, with their posterior person effects; each observed mediator
    value is kept as the unit's own mediator at its observed exposure, and its latent
    noise is abducted from it (exact for normal mediators, a truncated-logistic draw for
    binary and ordinal ones), so ``M(x_obs)`` equals the data.

Scales: ``"difference"`` (risk difference for a binary outcome, expected visits for a
count, original units for a continuous outcome), ``"risk_ratio"`` and ``"odds_ratio"``
(binary outcomes; then ``TE = NDE x NIE`` per draw).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from carepaths.causal.identify import identify
from carepaths.counterfactual import worlds
from carepaths.counterfactual.population import (
    LINK_DTYPE,
    POOLED,
    Chunk,
    RowData,
    group_averaging,
    map_chunks,
)
from carepaths.data import Panel
from carepaths.exceptions import CarepathsError, ConvergenceWarning
from carepaths.figures import EFFECT_ORDER
from carepaths.intervals import interval_label
from carepaths.results import NOT_CONVERGED, Result, flatten_variables, summary_table
from carepaths.spec import Contrast, Spec
from carepaths.structural.parameters import ParameterSet

__all__ = ["Effects", "compute_effects", "exposure_contrast", "SCALES", "POPULATIONS", "POOLED"]

SCALES = ("difference", "risk_ratio", "odds_ratio")
POPULATIONS = ("marginal", "conditional")  # the populations an effect can average over
EFFECTS = EFFECT_ORDER  # the estimands, in table order


# ----------------------------------------------------------------------------- result
@dataclass(frozen=True, repr=False)
class Effects(Result):
    """Posterior draws of the effect decomposition, with a summary table.

    A :class:`~carepaths.results.Result`: ``.summary()``, ``.to_frame()``, ``.plot()``
    and a repr that says NOT CONVERGED when the fit did not converge.

    Attributes
    ----------
    draws : xarray.Dataset
        ``TE``, ``NDE``, ``NIE``, ``interdependence`` (chain, draw, stage), ``IIE``
        (chain, draw, stage, mechanism), and the expected outcome ``Y0`` under the
        reference exposure and ``Y1`` under the contrasted one (chain, draw, stage).
        Attributes state the scale, contrast, population and convergence.
    converged : bool
        Whether the fit the effects come from converged.
    warning : str
        Why the draws are not to be trusted (empty when converged).
    """

    draws: xr.Dataset
    converged: bool
    warning: str = ""

    frame_columns: ClassVar[dict[str, str]] = {"mean": "estimate"}

    @property
    def scale(self) -> str:
        """The effect scale (``difference``, ``risk_ratio`` or ``odds_ratio``)."""
        return str(self.draws.attrs["scale"])

    @property
    def null(self) -> float:
        """No effect on this scale: 0 for differences, 1 for ratios."""
        return 0.0 if self.scale == "difference" else 1.0

    def summary(self) -> pd.DataFrame:
        """One row per stage and effect: mean, sd, interval bounds and P(effect > null).

        Computed by ``arviz_stats.summary`` with the package interval
        (:mod:`carepaths.intervals`; :func:`carepaths.results.summary_table`). The null
        is 0 on the difference scale and 1 on ratio scales; the last column (``P(>0)``
        or ``P(>1)``) is the posterior probability that the effect exceeds it. When the
        fit did not converge every row carries the warning in a ``warning`` column.

        Returns
        -------
        pandas.DataFrame
            Index ``(stage, effect)`` (per stage: TE, NDE, NIE, ``IIE[<mechanism>]``...,
            interdependence); columns ``mean``, ``sd``, ``lower``, ``upper``, ``P(>null)``
            (and ``warning``). ``attrs``: interval, scale, contrast, population, warning.
        """
        ds = self.draws
        effects = flatten_variables(ds[[name for name in EFFECT_ORDER if name in ds]], keep=("stage",))
        table = summary_table(effects, by=("stage",), name="effect", null=self.null)
        if not self.converged:
            table["warning"] = NOT_CONVERGED
        table.attrs.update(
            interval=interval_label(), scale=self.scale, contrast=ds.attrs["contrast"],
            population=ds.attrs["population"], warning=self.warning,
        )
        return table

    def to_frame(self) -> pd.DataFrame:
        """The summary as a tidy table for a paper: one row per stage and effect.

        Returns
        -------
        pandas.DataFrame
            Columns ``stage``, ``effect``, ``estimate`` (posterior mean), ``sd``,
            ``lower``, ``upper`` (the package interval, named in ``attrs["interval"]``)
            and ``P(>0)`` (``P(>1)`` on a ratio scale); ``warning`` when the fit did not
            converge.
        """
        return super().to_frame()

    def plot(self, **kwargs: Any) -> Any:
        """Forest plot of the effects by stage: :func:`carepaths.figures.plot_effects_forest`.

        Keyword arguments (``stages``, ``which``, ``truth``, ``outcome``) are passed on.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from carepaths.figures import plot_effects_forest

        return plot_effects_forest(draws=self.draws, converged=self.converged, **kwargs)

    def probability(self, effect: str, stage: str, *, direction: str = ">", mechanism: str | None = None) -> float:
        """Posterior probability that an effect is above (``">"``) or below (``"<"``) its null."""
        values = self.draws[effect].sel(stage=stage)
        if mechanism is not None:
            values = values.sel(mechanism=mechanism)
        if direction not in (">", "<"):
            raise CarepathsError(f"direction must be '>' or '<', got {direction!r}.")
        return float((values > self.null).mean() if direction == ">" else (values < self.null).mean())

    def _describe(self) -> str:
        d = self.draws
        return (
            f"{d.attrs['scale']} of {d.attrs['contrast']}, {d.attrs['population']} "
            f"population, {d.sizes['chain']} x {d.sizes['draw']} draws, stages "
            f"{[str(s) for s in d['stage'].values]}"
        )


# ----------------------------------------------------------------------------- inputs
def exposure_contrast(spec: Spec, contrast: Contrast | Mapping[str, Any] | None) -> Contrast:
    """The contrast to use: the spec's, or one given as a Contrast or a dict."""
    if contrast is None:
        return spec.exposure.contrast
    if isinstance(contrast, Contrast):
        return contrast
    if isinstance(contrast, Mapping):
        return Contrast.from_dict(contrast, "contrast", spec.exposure.kind)
    raise CarepathsError(
        f"contrast must be None, a carepaths Contrast or a dict such as "
        f"{{'kind': 'shift_sd', 'size': 1}}, got {type(contrast).__name__}."
    )


def _exposure_pair(panel: Panel, contrast: Contrast) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Observed, reference and contrasted exposure on the model scale (+ a label)."""
    spec, ds = panel.spec, panel.dataset
    split = spec.structure.center_exposure_within_person
    x_obs = ds["X_within" if split else "X"].values
    name = spec.exposure.name
    if contrast.kind == "shift_sd":
        # the model's continuous exposure is standardised by its sample SD: 1 SD = 1 unit
        return x_obs, x_obs, x_obs + float(contrast.size), f"{name} + {contrast.size:g} SD"
    scaling = panel.scaling.get(name)
    low, high = float(contrast.low), float(contrast.high)
    if scaling is not None:
        low, high = scaling.to_model(low), scaling.to_model(high)
    base = ds["X_between"].values if split else 0.0
    x0 = np.full(len(x_obs), low) - base
    x1 = np.full(len(x_obs), high) - base
    return x_obs, x0, x1, f"{name} {contrast.low:g} -> {contrast.high:g}"


# ----------------------------------------------------------------------------- compute
def compute_effects(
    params: ParameterSet,
    panel: Panel,
    contrast: Contrast | Mapping[str, Any] | None = None,
    *,
    scale: str = "difference",
    by: str | None = "stage",
    population: str = "marginal",
    seed: int = 0,
    estimands: Sequence[str] | None = None,
    warning: str = "",
) -> Effects:
    """Total, natural direct and indirect, and per-mechanism effects by g-computation.

    :meth:`carepaths.Fit.effects` calls this with the fit's posterior.

    Parameters
    ----------
    params : ParameterSet
        Posterior draws (:meth:`carepaths.Fit.parameters`).
    panel : Panel
        The data the model was fitted to: the rows the effects average over.
    contrast : Contrast or dict, optional
        The exposure contrast; default the spec's (``exposure.contrast``).
    scale : {"difference", "risk_ratio", "odds_ratio"}
        Effect scale; ratios only for a binary outcome.
    by : {"stage", None}
        Per stage and pooled (``"stage"``), or pooled only (``None``).
    population : {"marginal", "conditional"}
        New persons (person effects integrated out) or the observed persons (see the
        module docstring).
    seed : int
        Seed of the Monte Carlo noise; the same fit and seed give the same numbers.
    estimands : sequence of str, optional
        Which effects to report, of ``"TE"``, ``"NDE"``, ``"NIE"``, ``"IIE"`` (every
        mechanism) and ``"interdependence"``; default all of them. Each requested effect
        must be identified by the spec's causal graph: ask only for ``["TE"]`` when the
        graph identifies the total effect alone (e.g. with unmeasured mediator-outcome
        confounding).
    warning : str
        Why these draws are not to be trusted (the fit did not converge), or empty: it
        is issued as a :class:`~carepaths.exceptions.ConvergenceWarning` and carried
        by the result.

    Returns
    -------
    Effects

    Raises
    ------
    IdentificationError
        If the causal graph of the spec does not identify the natural effects (the
        reason and the offending path are in the message).
    CarepathsError
        On an unknown scale, population or ``by``, or a ratio scale for a non-binary
        outcome.
    """
    spec = panel.spec
    if scale not in SCALES:
        raise CarepathsError(f"scale must be one of {', '.join(SCALES)}; got {scale!r}.")
    if scale != "difference" and spec.outcome.family != "bernoulli":
        raise CarepathsError(
            f"scale {scale!r} needs a binary outcome; {spec.outcome.name!r} is "
            f"{spec.outcome.family}. Use scale='difference'."
        )
    if population not in POPULATIONS:
        raise CarepathsError(f"population must be one of {', '.join(POPULATIONS)}; got {population!r}.")
    if by not in ("stage", None):
        raise CarepathsError(f"by must be 'stage' or None; got {by!r}.")
    if population == "conditional" and spec.mediator_edges:
        raise CarepathsError(
            "population='conditional' with mediator_edges is not supported: the per-mechanism "
            "interventional effects need an independent mediator system per person, which the "
            "observed mediators do not give. Use population='marginal'."
        )
    wanted = _estimands(spec, estimands)
    contrast = exposure_contrast(spec, contrast)
    x_obs, x0, x1, label = _exposure_pair(panel, contrast)
    from threadpoolctl import threadpool_limits

    # the matrix products here are small (rows x confounders x a chunk of draws): a
    # multi-threaded BLAS spends more on thread hand-offs than on arithmetic (measured
    # 10x slower on 2 cores), so they run single-threaded
    with threadpool_limits(limits=1, user_api="blas"):
        means = _world_stage_means(params, panel, x0, x1, population, np.random.default_rng(seed))
    _, groups = group_averaging(spec, panel.dataset["stage_idx"].values)
    if by is None:
        means, groups = means[:, -1:], [POOLED]
    draws = {k: v for k, v in _contrast_worlds(spec, panel, means, scale).items() if k in (*wanted, "Y0", "Y1")}
    coords = {
        "chain": np.arange(params.chains), "draw": np.arange(params.draws),
        "stage": groups, "mechanism": list(spec.mediator_names),
    }
    shape = (params.chains, params.draws)
    data = {}
    for name, values in draws.items():
        dims = ("chain", "draw", "stage", "mechanism") if values.ndim == 3 else ("chain", "draw", "stage")
        data[name] = (dims, values.reshape(*shape, *values.shape[1:]))
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(
        scale=scale, contrast=label, population=population, seed=seed,
        outcome=spec.outcome.name, converged=int(not warning),
        interval=interval_label(),
    )
    message = ""
    if warning:
        message = "These effects come from a fit that did NOT converge: " + warning
        warnings.warn(message, ConvergenceWarning, stacklevel=3)
        ds.attrs["warning"] = message
    return Effects(draws=ds, converged=not warning, warning=message)


def _estimands(spec: Spec, estimands: Sequence[str] | None) -> tuple[str, ...]:
    """The effects to report, each checked against the causal graph (IdentificationError)."""
    wanted = tuple(EFFECTS) if estimands is None else tuple(estimands)
    unknown = [e for e in wanted if e not in EFFECTS]
    if unknown or not wanted:
        raise CarepathsError(
            f"estimands must be a non-empty list of {', '.join(EFFECTS)}; got {list(wanted)!r}."
        )
    result = identify(spec)
    keys = {"TE": ["TE"], "NDE": ["NDE"], "NIE": ["NIE"], "interdependence": ["NIE"],
            "IIE": [f"IIE[{m}]" for m in spec.mediator_names]}
    for estimand in wanted:
        for key in keys[estimand]:
            result.require(key)
    return wanted


def _world_stage_means(
    params: ParameterSet, panel: Panel, x0: np.ndarray, x1: np.ndarray,
    population: str, rng: np.random.Generator,
) -> np.ndarray:
    """Expected outcome per draw, group (stages, then pooled) and world.

    Worlds: x0_m0, x1_m0, x1_m1, x1_g0, then swap[k] for each mediator.
    Returns array (sample, group, world); one group (pooled) when there are no stages.
    """
    spec = panel.spec
    K = len(spec.mediators)
    rows = RowData.from_panel(panel)
    averaging, _ = group_averaging(spec, rows.stage_idx)
    x0, x1 = x0[:, None], x1[:, None]

    def stage_means(chunk: Chunk) -> np.ndarray:  # (draw, group, world)
        means = worlds.world_means(
            spec, chunk.params, chunk.rows, x0, x1, chunk.latents, chunk.systems, dtype=LINK_DTYPE
        )
        per_world = [*(means[name] for name in worlds.WORLDS), *means["swap"]]
        # (group, obs) @ (obs, draw) in double precision -> (draw, group, world)
        return np.stack([(averaging @ w.astype(float, copy=False)).T for w in per_world], axis=-1)

    out = np.empty((params.n_samples, averaging.shape[0], len(worlds.WORLDS) + K))
    for draws, chunk_means in map_chunks(params, rows, population, rng, stage_means, systems=True):
        out[draws] = chunk_means
    return out


def _contrast_worlds(spec: Spec, panel: Panel, means: np.ndarray, scale: str) -> dict[str, np.ndarray]:
    """Effects on the requested scale from world means (sample, group, world)."""
    K = len(spec.mediators)
    y00, y10, y11, g0 = (means[..., j] for j in range(4))
    swap = means[..., 4 : 4 + K]  # (sample, group, mediator)
    if spec.outcome.family == "normal":  # back to original units
        s = panel.scaling[spec.outcome.name]
        y00, y10, y11, g0, swap = (s.to_original(a) for a in (y00, y10, y11, g0, swap))
    if scale == "difference":
        nde, nie = y10 - y00, y11 - y10
        iie = swap - g0[..., None]
        return {"TE": y11 - y00, "NDE": nde, "NIE": nie, "IIE": iie,
                "interdependence": nie - iie.sum(axis=-1), "Y0": y00, "Y1": y11}
    f = (lambda q: q) if scale == "risk_ratio" else (lambda q: q / (1.0 - q))
    nde, nie = f(y10) / f(y00), f(y11) / f(y10)
    iie = f(swap) / f(g0)[..., None]
    return {"TE": f(y11) / f(y00), "NDE": nde, "NIE": nie, "IIE": iie,
            "interdependence": nie / iie.prod(axis=-1), "Y0": y00, "Y1": y11}
