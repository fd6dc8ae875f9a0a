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
    noise is abducted from it (exact for normal mediators, a truncated-logistic or, with
    the probit link, truncated-normal draw for binary and ordinal ones), so ``M(x_obs)``
    equals the data.

Scales: ``"difference"`` (risk difference for a binary outcome, expected visits for a
count, original units for a continuous outcome), ``"risk_ratio"`` and ``"odds_ratio"``
(binary outcomes; then ``TE = NDE x NIE`` per draw).

What a spec cannot have is not reported: without stages (or with one) the tables,
tidy frames and figures have no stage (the draws keep a one-group ``stage`` dim inside,
:data:`carepaths.results.HAS_STAGES`), and the interdependence remainder is left out
where it is 0 by construction (:func:`interdependence_is_zero`).
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
from carepaths.counterfactual.moderation import index_draws, moderator_rows
from carepaths.counterfactual.population import (
    LINK_DTYPE,
    POOLED,
    Chunk,
    RowData,
    follow_exposure,
    group_averaging,
    map_chunks,
)
from carepaths.data import Panel
from carepaths.exceptions import CarepathsError, ConvergenceWarning, UnstableRatioWarning, suggest_closest
from carepaths.figures import EFFECT_ORDER
from carepaths.intervals import interval_label
from carepaths.results import (
    HAS_STAGES,
    NOT_CONVERGED,
    Result,
    check_choice,
    check_seed,
    flatten_variables,
    has_stages,
    stack_variables,
    summary_table,
)
from carepaths.spec import CONTRAST_KINDS, Contrast, Spec
from carepaths.structural.parameters import ParameterSet

__all__ = [
    "Effects", "compute_effects", "exposure_contrast", "exposure_pair", "interdependence_is_zero", "natural_versions_differ",
    "SCALES", "POPULATIONS", "POOLED",
]

SCALES = ("difference", "risk_ratio", "odds_ratio")
POPULATIONS = ("marginal", "conditional")  # the populations an effect can average over
EFFECTS = ("TE", "NDE", "NIE", "IIE", "interdependence")  # what estimands= names
#: The assumptions every natural effect rests on, in words (printed where the numbers are).
ASSUMPTIONS = (
    "Natural direct and indirect effects assume no unmeasured confounding of exposure-outcome, "
    "exposure-mediator and mediator-outcome given the confounders and stage; no mediator-outcome "
    "confounder affected by the exposure; and, for NDE/NIE, cross-world independence of the "
    "mediator and outcome errors. Interventional effects (IIE) do not need the last two. "
    "docs/identification.md says what each assumption means for your data."
)
#: What each effect is, in words and in R ``mediation``'s names (a column of every table).
EFFECT_VERSIONS = {
    "TE": "total effect = Total Effect",
    "NDE": "NDE (control) = ADE (control): pure natural direct effect",
    "NIE": "NIE (treated) = ACME (treated): total natural indirect effect",
    "NDE (treated)": "NDE (treated) = ADE (treated): total natural direct effect",
    "NIE (control)": "NIE (control) = ACME (control): pure natural indirect effect",
    "IIE": "interventional indirect effect of one mechanism",
    "interdependence": "NIE minus the mechanisms' interventional effects",
}


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

    @property
    def has_stages(self) -> bool:
        """Whether the spec has stages (else the tables and figures have no stage)."""
        return has_stages(self.draws)

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
            Index ``(stage, effect)`` (per stage: TE, NDE, NIE, where they can differ
            ``NDE (treated)`` and ``NIE (control)``, ``IIE[<mechanism>]``...,
            interdependence); index ``effect`` alone when the spec has no stages, and a
            first level ``at`` for effects at moderator values. Columns ``mean``, ``sd``,
            ``lower``, ``upper``, ``P(>null)``, ``version`` (which effect it is, with
            R ``mediation``'s name: e.g. ``NIE (treated) = ACME (treated)``) and, when the
            fit did not converge, ``warning``. ``attrs``: interval, scale, contrast,
            population, warning, ``n_draws`` (what the probabilities are shares of) and
            ``assumptions`` (in words).
        """
        ds = self.draws
        keep = ("at", "stage") if "at" in ds.dims else ("stage",)
        effects = flatten_variables(ds[[name for name in EFFECT_ORDER if name in ds]], keep=keep)
        table = summary_table(effects, by=keep, name="effect", null=self.null)
        if not self.has_stages:
            table = table.droplevel("stage")
        labels = table.index.get_level_values("effect")
        table["version"] = [EFFECT_VERSIONS["IIE"] + f" ({e[4:-1]})" if e.startswith("IIE[") else EFFECT_VERSIONS[e]
                            for e in labels]
        if not self.converged:
            table["warning"] = NOT_CONVERGED
        table.attrs.update(
            interval=interval_label(), scale=self.scale, contrast=ds.attrs["contrast"],
            population=ds.attrs["population"], warning=self.warning, n_draws=self.n_samples,
            assumptions=ASSUMPTIONS,
        )
        return table

    def sel(self, *, at: str) -> Effects:
        """The effects at one moderator value (``at`` as labelled, e.g. ``"severity=5"``)."""
        if "at" not in self.draws.dims:
            raise CarepathsError("these effects are not at moderator values: compute them with fit.effects(at={...}).")
        labels = [str(v) for v in self.draws["at"].values]
        if at not in labels:
            raise CarepathsError(f"at {at!r} is not one of {', '.join(labels)}.{suggest_closest(str(at), labels)}")
        draws = self.draws.sel(at=at, drop=True).drop_vars("at_value", errors="ignore")
        draws.attrs.update(contrast=f"{self.draws.attrs['contrast']} at {at}")
        return Effects(draws=draws, converged=self.converged, warning=self.warning)

    def proportion_mediated(self) -> pd.DataFrame:
        """The proportion of the total effect mediated, per draw: NIE / TE and IIE[m] / TE.

        Computed on every draw and then summarised (never as a ratio of means). Where the
        total effect's interval includes 0 the ratio's draws spread over both signs and
        without bound, so the proportion is unstable: those rows are marked and a
        :class:`~carepaths.exceptions.UnstableRatioWarning` names them.

        Returns
        -------
        pandas.DataFrame
            Index as :meth:`summary` (effects ``PM[NIE]`` and ``PM[IIE[<mechanism>]]``);
            columns ``mean``, ``sd``, ``lower``, ``upper``, ``median`` and
            ``TE interval includes 0``.

        Raises
        ------
        CarepathsError
            On a ratio scale (a proportion of a risk ratio is not a share of the effect:
            compute the effects with ``scale="difference"``).
        """
        if self.scale != "difference":
            raise CarepathsError(
                f"the proportion mediated is a share of a difference; these effects are on the {self.scale} "
                "scale. Compute them with fit.effects(scale='difference')."
            )
        ds = self.draws
        te = ds["TE"]
        parts = {"PM[NIE]": ds["NIE"] / te} if "NIE" in ds else {}
        if "IIE" in ds:
            for m in ds["mechanism"].values:
                parts[f"PM[IIE[{m}]]"] = ds["IIE"].sel(mechanism=m, drop=True) / te
        if not parts:
            raise CarepathsError("these effects have no indirect effect to take a proportion of (estimands).")
        keep = ("at", "stage") if "at" in ds.dims else ("stage",)
        ratios = xr.Dataset(parts)
        table = summary_table(ratios, by=keep, name="effect")
        table["median"] = stack_variables(ratios.median(dim=["chain", "draw"]), by=keep, name="effect")["value"].to_numpy()
        te_table = summary_table(xr.Dataset({"TE": te}), by=keep, name="effect").droplevel("effect")
        includes = (te_table["lower"] <= 0) & (te_table["upper"] >= 0)
        table["TE interval includes 0"] = includes.reindex(table.index.droplevel("effect")).to_numpy()
        if not self.has_stages:
            table = table.droplevel("stage")
        unstable = sorted({str(i[:-1] if isinstance(i, tuple) else "") for i in table.index[table["TE interval includes 0"]]})
        if unstable:
            warnings.warn(
                f"the total effect's {interval_label()} includes 0 (in {', '.join(u or 'all' for u in unstable)}): "
                "the proportion mediated divides by draws on both sides of 0 and is unstable there; "
                "report the indirect and total effects instead.",
                UnstableRatioWarning, stacklevel=2,
            )
        table.attrs.update(interval=interval_label(), n_draws=self.n_samples)
        return table

    def index_of_moderated_mediation(self) -> pd.DataFrame:
        """How the indirect effects change per unit of the moderator (Hayes 2015), per draw.

        The least-squares slope of the NIE (and of each mechanism's IIE) over the moderator
        values of ``fit.effects(at={...})``, on every draw: ``a_W * b`` in the linear
        model with a moderated ``a`` path, the average slope otherwise
        (:func:`carepaths.counterfactual.moderation.index_draws`).

        Returns
        -------
        pandas.DataFrame
            Index ``(stage, effect)`` (effects ``IMM[NIE]``, ``IMM[IIE[<mechanism>]]``);
            columns ``mean``, ``sd``, ``lower``, ``upper``, ``P(>0)``.

        Raises
        ------
        CarepathsError
            Without effects at two or more values of a numeric moderator.
        """
        names = [n for n in ("NIE", "IIE") if n in self.draws]
        index = flatten_variables(index_draws(self.draws, names), keep=("stage",))
        renamed = index.rename({n: f"IMM[{n}]" for n in index.data_vars})
        table = summary_table(renamed, by=("stage",), name="effect", null=0.0)
        if not self.has_stages:
            table = table.droplevel("stage")
        table.attrs.update(interval=interval_label(), moderator=self.draws.attrs.get("moderator"),
                           per="one unit of the moderator")
        return table

    def to_frame(self) -> pd.DataFrame:
        """The summary as a tidy table for a paper: one row per stage and effect.

        Returns
        -------
        pandas.DataFrame
            Columns ``stage`` (not when the spec has no stages), ``effect``, ``estimate``
            (posterior mean), ``sd``, ``lower``, ``upper`` (the package interval, named in
            ``attrs["interval"]``) and ``P(>0)`` (``P(>1)`` on a ratio scale); ``warning``
            when the fit did not converge.
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

    def probability(
        self, effect: str, stage: str | None = None, *, direction: str = ">", mechanism: str | None = None
    ) -> float:
        """Posterior probability that an effect is above (``">"``) or below (``"<"``) its null.

        Parameters
        ----------
        effect : str
            ``"TE"``, ``"NDE"``, ``"NIE"``, ``"interdependence"`` (when reported), or a
            mechanism's indirect effect as ``"IIE[<mechanism>]"`` or ``"IIE"`` with
            ``mechanism=``.
        stage : str, optional
            A stage of the spec or ``"pooled"``; needed when the spec has stages, left out
            when it has none.
        direction : {">", "<"}
        mechanism : str, optional
            The mechanism of ``effect="IIE"`` (optional when there is one mediator).

        Returns
        -------
        float
            The share of draws on that side of the null (0 for differences, 1 for ratios).

        Raises
        ------
        CarepathsError
            On an unknown effect, stage, mechanism or direction, or a missing stage.
        """
        check_choice(direction, "direction", (">", "<"))
        if not isinstance(effect, str):
            raise CarepathsError(f"effect must be a string such as 'TE', got {effect!r}.")
        mechanisms = [str(m) for m in self.draws["mechanism"].values] if "mechanism" in self.draws.coords else []
        if effect.startswith("IIE[") and effect.endswith("]"):
            if mechanism is not None and mechanism != effect[4:-1]:
                raise CarepathsError(f"effect {effect!r} names its mechanism; leave mechanism= out.")
            effect, mechanism = "IIE", effect[4:-1]
        available = [n for n in EFFECT_ORDER if n in self.draws]
        if effect not in available:
            raise CarepathsError(
                f"effect {effect!r} is not in these effects.{suggest_closest(effect, available)} "
                f"Effects: {', '.join(available)}."
            )
        values = self.draws[effect]
        if effect == "IIE":
            if mechanism is None and len(mechanisms) == 1:
                mechanism = mechanisms[0]
            if mechanism not in mechanisms:
                raise CarepathsError(
                    f"mechanism {mechanism!r} is not a mechanism of these effects"
                    f"{'' if mechanism is None else '.' + suggest_closest(str(mechanism), mechanisms)} "
                    f"Give mechanism= one of {', '.join(mechanisms)} (or effect='IIE[<mechanism>]')."
                )
            values = values.sel(mechanism=mechanism)
        elif mechanism is not None:
            raise CarepathsError(f"mechanism= applies to effect 'IIE' only, not {effect!r}; leave it out.")
        groups = [str(s) for s in self.draws["stage"].values]
        if stage is None:
            if self.has_stages:
                raise CarepathsError(
                    f"stage is needed: these effects are by stage; give stage= one of {', '.join(groups)}."
                )
            stage = groups[0]
        elif not self.has_stages and stage not in groups:
            raise CarepathsError(f"the spec has no stages, so these effects have none: leave stage out (got {stage!r}).")
        if stage not in groups:
            raise CarepathsError(
                f"stage {stage!r} is not in these effects.{suggest_closest(str(stage), groups)} "
                f"Stages: {', '.join(groups)}."
            )
        values = values.sel(stage=stage)
        return float((values > self.null).mean() if direction == ">" else (values < self.null).mean())

    def _describe(self) -> str:
        d = self.draws
        stages = f", stages {[str(s) for s in d['stage'].values]}" if self.has_stages else ""
        return (
            f"{d.attrs['scale']} of {d.attrs['contrast']}, {d.attrs['population']} "
            f"population, {d.sizes['chain']} x {d.sizes['draw']} draws{stages}"
        )


# ----------------------------------------------------------------------------- inputs
def exposure_contrast(spec: Spec, contrast: Contrast | Mapping[str, Any] | None) -> Contrast:
    """The contrast to use: the spec's, or one given as a Contrast or a dict, checked.

    Raises
    ------
    CarepathsError
        On a contrast of the wrong type, an unknown kind, or a size, low or high that is
        not a finite number (NaN or infinity would give NaN effects), a zero shift, equal
        low and high, or a binary exposure contrasted other than 0 -> 1.
    """
    if contrast is None:
        return spec.exposure.contrast
    if isinstance(contrast, Mapping):
        contrast = Contrast.from_dict(contrast, "contrast", spec.exposure.kind)
    if not isinstance(contrast, Contrast):
        raise CarepathsError(
            f"contrast must be None, a carepaths Contrast or a dict such as "
            f"{{'kind': 'shift_sd', 'size': 1}}, got {type(contrast).__name__}."
        )
    _check_contrast(spec, contrast)
    return contrast


def _finite(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float | np.integer | np.floating) and bool(
        np.isfinite(value)
    )


def _check_contrast(spec: Spec, contrast: Contrast) -> None:
    """Refuse a contrast whose numbers would give NaN or meaningless effects."""
    example = {"kind": "shift_sd", "size": 1} if spec.exposure.kind != "binary" else {
        "kind": "values", "low": 0, "high": 1}
    if contrast.kind not in CONTRAST_KINDS:
        raise CarepathsError(
            f"contrast kind must be one of {', '.join(CONTRAST_KINDS)}; got {contrast.kind!r}. "
            f"E.g. contrast={example}."
        )
    if contrast.kind == "shift_sd":
        if spec.exposure.kind == "binary":
            raise CarepathsError(
                "contrast kind 'shift_sd' cannot shift a binary exposure by SDs; use "
                "contrast={'kind': 'values', 'low': 0, 'high': 1}."
            )
        if not _finite(contrast.size):
            raise CarepathsError(
                f"contrast size must be a finite number of SDs (e.g. contrast={example}), got {contrast.size!r}."
            )
        if contrast.size == 0:
            raise CarepathsError("contrast size must be non-zero: a zero shift compares nothing.")
        return
    for key in ("low", "high"):
        value = getattr(contrast, key)
        if not _finite(value):
            raise CarepathsError(
                f"contrast {key} must be a finite number in {spec.exposure.name}'s units "
                f"(e.g. contrast={{'kind': 'values', 'low': 0, 'high': 1}}), got {value!r}."
            )
    if contrast.low == contrast.high:
        raise CarepathsError(f"contrast low and high are both {contrast.low!r}; they must differ.")
    if spec.exposure.kind == "binary" and {float(contrast.low), float(contrast.high)} != {0.0, 1.0}:
        raise CarepathsError(
            f"contrast low and high of a binary exposure must be 0 and 1, got low={contrast.low!r}, "
            f"high={contrast.high!r}."
        )


def natural_versions_differ(spec: Spec) -> bool:
    """Whether the two versions of the natural direct and indirect effects can differ.

    ``NDE = NDE (control)`` (pure) and ``NDE (treated)`` (total) differ by the exposure x
    mediator interaction on the outcome's scale (VanderWeele 2013); so do ``NIE(treated)``
    and ``NIE(control)``. A normal outcome (identity link) without an exposure x mediator
    term has none, and both versions are equal by construction; a binary or count outcome
    has one through its link, and a declared ``[[interactions]]`` term has one by itself.
    """
    x = spec.exposure.name
    declared = any(x in tuple(getattr(term, "terms", term)) for term in getattr(spec, "interactions", ()))
    return spec.outcome.family != "normal" or declared


def interdependence_is_zero(spec: Spec) -> bool:
    """Whether the interdependence remainder is 0 (or 1 on a ratio scale) by construction.

    With one mediator its interventional indirect effect is the natural one. With several
    mediators and no mediator edges, each mediator's counterfactual distribution is its
    own (``G = M``); a normal outcome (identity link) is then linear in the mediators, so
    the mechanisms' effects add up to the natural indirect effect exactly, unless a
    mediator x mediator term (``[[interactions]]``) makes it non-linear in them. Such a
    row says nothing and is left out.
    """
    linear = spec.outcome.family == "normal" and not spec.mediator_interactions
    return len(spec.mediators) == 1 or (linear and not spec.mediator_edges)


def exposure_pair(panel: Panel, contrast: Contrast) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
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
    at: Mapping[str, Sequence[Any]] | None = None,
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
        mechanism) and ``"interdependence"``; default all of them, but interdependence
        only where it is not 0 by construction (:func:`interdependence_is_zero`: one
        mediator, or a normal outcome without mediator edges). Each requested effect
        must be identified by the spec's causal graph: ask only for ``["TE"]`` when the
        graph identifies the total effect alone (e.g. with unmeasured mediator-outcome
        confounding). Where the two versions of a natural effect can differ (a non-normal
        outcome, or an exposure x mediator interaction), ``"NDE"`` also reports the total
        direct effect ``"NDE (treated)"`` and ``"NIE"`` the pure indirect effect
        ``"NIE (control)"`` (:func:`natural_versions_differ`).
    at : dict, optional
        Effects conditional on values of a moderator: ``{"severity": [5, 15]}`` (a numeric
        confounder, in its units) or ``{"sex": ["f", "m"]}`` (a categorical one, its
        levels). Every row is given each value in turn (marginal population only); the
        draws gain a dim ``at``; see :meth:`Effects.index_of_moderated_mediation`.
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
        On an unknown scale, population or ``by``, a ratio scale for a non-binary
        outcome, a seed that is not a non-negative integer, a bad contrast
        (:func:`exposure_contrast`) or bad estimands.
    """
    spec = panel.spec
    check_choice(scale, "scale", SCALES)
    if scale != "difference" and spec.outcome.family != "bernoulli":
        raise CarepathsError(
            f"scale {scale!r} needs a binary outcome; {spec.outcome.name!r} is "
            f"{spec.outcome.family}. Use scale='difference'."
        )
    check_choice(population, "population", POPULATIONS)
    check_choice(by, "by", ("stage", None))
    check_seed(seed)
    if population == "conditional" and spec.mediator_edges:
        raise CarepathsError(
            "population='conditional' with mediator_edges is not supported: the per-mechanism "
            "interventional effects need an independent mediator system per person, which the "
            "observed mediators do not give. Use population='marginal'."
        )
    wanted = _estimands(spec, estimands)
    if "NDE" in wanted and natural_versions_differ(spec):
        wanted = (*wanted, "NDE (treated)")
    if "NIE" in wanted and natural_versions_differ(spec):
        wanted = (*wanted, "NIE (control)")
    contrast = exposure_contrast(spec, contrast)
    x_obs, x0, x1, label = exposure_pair(panel, contrast)
    moderator = moderator_rows(panel, at, population=population)
    from threadpoolctl import threadpool_limits

    _, groups = group_averaging(spec, panel.dataset["stage_idx"].values)
    if by is None:
        groups = [POOLED]
    per_value = []
    # the matrix products here are small (rows x confounders x a chunk of draws): a
    # multi-threaded BLAS spends more on thread hand-offs than on arithmetic (measured
    # 10x slower on 2 cores), so they run single-threaded
    with threadpool_limits(limits=1, user_api="blas"):
        for rows in ([None] if moderator is None else moderator.rows):
            # one seed for every moderator value: common random numbers across them
            means = _world_stage_means(params, panel, x0, x1, population, np.random.default_rng(seed), rows=rows)
            if by is None:
                means = {name: values[:, -1:] for name, values in means.items()}
            per_value.append({k: v for k, v in _contrast_worlds(spec, panel, means, scale).items()
                              if k in (*wanted, "Y0", "Y1")})
    coords: dict[str, Any] = {
        "chain": np.arange(params.chains), "draw": np.arange(params.draws),
        "stage": groups, "mechanism": list(spec.mediator_names),
    }
    shape = (params.chains, params.draws)
    lead: tuple[str, ...] = ()
    if moderator is not None:
        lead = ("at",)
        coords["at"] = moderator.labels
        coords["at_value"] = ("at", moderator.values)
    data = {}
    for name in per_value[0]:
        values = np.stack([v[name] for v in per_value], axis=1) if lead else per_value[0][name]
        values = values.reshape(*shape, *values.shape[1:])
        rest = ("stage", "mechanism") if values.ndim - len(lead) == 4 else ("stage",)
        data[name] = (("chain", "draw", *lead, *rest), values)
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(
        scale=scale, contrast=label, population=population, seed=seed,
        outcome=spec.outcome.name, converged=int(not warning),
        interval=interval_label(), **{HAS_STAGES: int(len(spec.stage_levels) > 1)},
    )
    if moderator is not None:
        ds.attrs.update(moderator=moderator.name, moderator_kind=moderator.kind)
    message = ""
    if warning:
        message = "These effects come from a fit that did NOT converge: " + warning
        warnings.warn(message, ConvergenceWarning, stacklevel=3)
        ds.attrs["warning"] = message
    return Effects(draws=ds, converged=not warning, warning=message)


def _estimands(spec: Spec, estimands: Sequence[str] | None) -> tuple[str, ...]:
    """The effects to report, each checked against the causal graph (IdentificationError)."""
    zero = interdependence_is_zero(spec)
    if estimands is None:
        wanted = tuple(e for e in EFFECTS if not (zero and e == "interdependence"))
    else:
        if isinstance(estimands, str) or not isinstance(estimands, Sequence):
            raise CarepathsError(
                f"estimands must be a non-empty list of {', '.join(EFFECTS)}, e.g. estimands=['TE']; "
                f"got {estimands!r}."
            )
        wanted = tuple(estimands)
        unknown = [e for e in wanted if not isinstance(e, str) or e not in EFFECTS]
        if unknown or not wanted:
            hint = suggest_closest(unknown[0], list(EFFECTS)) if unknown and isinstance(unknown[0], str) else ""
            raise CarepathsError(
                f"estimands must be a non-empty list of {', '.join(EFFECTS)}; got {list(wanted)!r}.{hint}"
            )
        repeated = sorted({e for e in wanted if wanted.count(e) > 1})
        if repeated:
            raise CarepathsError(f"estimands lists {', '.join(repeated)} more than once; list each once.")
        if zero and "interdependence" in wanted:
            why = "it has one mediator" if len(spec.mediators) == 1 else (
                "its outcome is normal (identity link) and it has no mediator edges")
            raise CarepathsError(
                f"estimands: 'interdependence' is 0 by construction for this spec ({why}: the "
                "mechanisms' indirect effects add up to the NIE exactly); leave it out of estimands."
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
    population: str, rng: np.random.Generator, *, rows: RowData | None = None,
) -> dict[str, np.ndarray]:
    """Expected outcome per draw and group (stages, then pooled) in every world.

    Worlds (:mod:`carepaths.counterfactual.worlds`): ``x0_m0``, ``x1_m0``, ``x1_m1``,
    ``x1_g0`` and ``x0_m1`` (sample, group), ``swap`` (sample, group, mediator). One group
    (pooled) when there are no stages. ``rows`` replaces the panel's rows (effects at
    given moderator values).
    """
    spec = panel.spec
    rows = RowData.from_panel(panel) if rows is None else rows
    averaging, _ = group_averaging(spec, rows.stage_idx)
    x_obs = rows.x

    def stage_means(chunk: Chunk) -> dict[str, np.ndarray]:  # name -> (draw, group[, mediator])
        # each draw's own imputed exposure where it is missing (a contrast that shifts it)
        x0_at, x1_at = follow_exposure(x0, x_obs, chunk), follow_exposure(x1, x_obs, chunk)
        means = worlds.world_means(
            spec, chunk.params, chunk.rows, x0_at, x1_at, chunk.latents, chunk.systems, dtype=LINK_DTYPE
        )
        means["x0_m1"] = worlds.crossed_means(spec, chunk.params, chunk.rows, x0_at, x1_at, chunk.latents,
                                              dtype=LINK_DTYPE)

        def average(w: np.ndarray) -> np.ndarray:  # (group, obs) @ (obs, draw) in double precision
            return (averaging @ w.astype(float, copy=False)).T

        out = {name: average(w) for name, w in means.items() if name != "swap"}
        out["swap"] = np.stack([average(w) for w in means["swap"]], axis=-1)
        return out

    out: dict[str, np.ndarray] = {}
    for draws, chunk_means in map_chunks(params, rows, population, rng, stage_means, systems=True):
        for name, values in chunk_means.items():
            if name not in out:
                out[name] = np.empty((params.n_samples, *values.shape[1:]))
            out[name][draws] = values
    return out


def _contrast_worlds(spec: Spec, panel: Panel, means: Mapping[str, np.ndarray], scale: str) -> dict[str, np.ndarray]:
    """Effects on the requested scale from world means (name -> (sample, group[, mediator])).

    ``TE = NDE + NIE = NDE (treated) + NIE (control)`` per draw (products on a ratio
    scale): ``NDE`` is the pure (control) direct effect, ``NIE`` the total (treated)
    indirect one, ``NDE (treated)`` the total direct and ``NIE (control)`` the pure
    indirect effect.
    """
    means = dict(means)
    if spec.outcome.family == "normal":  # back to original units
        s = panel.scaling[spec.outcome.name]
        means = {name: s.to_original(values) for name, values in means.items()}
    y00, y10, y11, g0, y01, swap = (means[n] for n in ("x0_m0", "x1_m0", "x1_m1", "x1_g0", "x0_m1", "swap"))
    if scale == "difference":
        nde, nie = y10 - y00, y11 - y10
        iie = swap - g0[..., None]
        return {"TE": y11 - y00, "NDE": nde, "NIE": nie, "NDE (treated)": y11 - y01, "NIE (control)": y01 - y00,
                "IIE": iie, "interdependence": nie - iie.sum(axis=-1), "Y0": y00, "Y1": y11}
    f = (lambda q: q) if scale == "risk_ratio" else (lambda q: q / (1.0 - q))
    nde, nie = f(y10) / f(y00), f(y11) / f(y10)
    iie = f(swap) / f(g0)[..., None]
    return {"TE": f(y11) / f(y00), "NDE": nde, "NIE": nie, "NDE (treated)": f(y11) / f(y01),
            "NIE (control)": f(y01) / f(y00), "IIE": iie, "interdependence": nie / iie.prod(axis=-1),
            "Y0": y00, "Y1": y11}
