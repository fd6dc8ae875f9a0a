"""VanderWeele's four-way decomposition of the total effect, on every posterior draw.

For an exposure contrast ``x0 -> x1`` and a mediator value ``m*`` (VanderWeele 2014,
Epidemiology 25: 749-761; CMAverse's ``cmest(..., EMint = TRUE)``)::

    TE      = CDE + INT_ref + INT_med + PIE
    CDE     = E[Y(x1, m*) - Y(x0, m*)]                      controlled direct effect
    INT_ref = NDE (control) - CDE                          reference interaction
    INT_med = NIE (treated) - NIE (control)                mediated interaction
    PIE     = NIE (control) = E[Y(x0, M(x1)) - Y(x0, M(x0))]  pure indirect effect

so the components add up to the total effect on every draw, and each component's share of
it (the proportions attributable) is computed per draw. Without an exposure x mediator
interaction on the outcome's scale both interactions are 0.

The decomposition is for one mediator: the spec's only one, or one of several when its
natural indirect effect is identified on its own (``identify(spec)["NIE[<m>]"]``: not
with a mediator edge into it, whose source is an exposure-induced mediator-outcome
confounder; with edges out of it, the paths through its descendants are part of its
indirect effect). The other mediators then follow the exposure of the outcome's world
(they belong to the direct effect), and ``m*`` fixes the chosen one only.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from carepaths.causal.identify import identify
from carepaths.counterfactual import worlds
from carepaths.counterfactual.population import LINK_DTYPE, Chunk, RowData, follow_exposure, group_averaging, map_chunks
from carepaths.data import Panel
from carepaths.exceptions import CarepathsError, ConvergenceWarning, IdentificationError, suggest_closest
from carepaths.intervals import interval_label
from carepaths.results import HAS_STAGES, NOT_CONVERGED, Result, check_choice, check_seed, has_stages, summary_table
from carepaths.spec import Spec
from carepaths.structural.parameters import ParameterSet

__all__ = ["FourWay", "compute_fourway", "COMPONENTS"]

#: The components, in table order; they add up to ``TE``.
COMPONENTS = ("CDE", "INT_ref", "INT_med", "PIE")


@dataclass(frozen=True, repr=False)
class FourWay(Result):
    """The four-way decomposition's draws, by stage: CDE, INT_ref, INT_med, PIE and TE.

    Attributes
    ----------
    draws : xarray.Dataset
        ``CDE``, ``INT_ref``, ``INT_med``, ``PIE``, ``TE`` (chain, draw, stage) on the
        difference scale; attrs: ``mediator``, ``mstar`` (original units), ``contrast``.
    converged : bool
    warning : str
    """

    draws: xr.Dataset
    converged: bool
    warning: str = ""

    frame_columns: ClassVar[dict[str, str]] = {"mean": "estimate"}

    @property
    def has_stages(self) -> bool:
        """Whether the spec has stages."""
        return has_stages(self.draws)

    def summary(self) -> pd.DataFrame:
        """One row per stage and component: mean, sd, interval, P(>0) and the proportion.

        Returns
        -------
        pandas.DataFrame
            Index ``(stage, component)`` (``component`` alone without stages): CDE,
            INT_ref, INT_med, PIE and TE. Columns ``mean``, ``sd``, ``lower``, ``upper``,
            ``P(>0)``, and ``proportion`` / ``proportion_lower`` / ``proportion_upper``:
            the component's share of TE, per draw (unstable where TE's interval includes 0;
            the column ``TE interval includes 0`` says where).
        """
        ds = self.draws
        table = summary_table(ds[[*COMPONENTS, "TE"]], by=("stage",), name="component", null=0.0)
        shares = xr.Dataset({c: ds[c] / ds["TE"] for c in (*COMPONENTS, "TE")})
        share_table = summary_table(shares, by=("stage",), name="component")
        table["proportion"] = share_table["mean"].to_numpy()
        table["proportion_lower"] = share_table["lower"].to_numpy()
        table["proportion_upper"] = share_table["upper"].to_numpy()
        te = table.xs("TE", level="component")
        includes = ((te["lower"] <= 0) & (te["upper"] >= 0)).reindex(table.index.get_level_values("stage"))
        table["TE interval includes 0"] = includes.to_numpy()
        if not self.has_stages:
            table = table.droplevel("stage")
        if not self.converged:
            table["warning"] = NOT_CONVERGED
        table.attrs.update(
            interval=interval_label(), mediator=ds.attrs["mediator"], mstar=ds.attrs["mstar"],
            contrast=ds.attrs["contrast"], warning=self.warning, n_draws=self.n_samples,
        )
        return table

    def plot(self, **kwargs: Any) -> Any:
        """Forest plot of the components by stage (:func:`carepaths.figures.plot_components_forest`)."""
        from carepaths.figures import plot_components_forest

        return plot_components_forest(draws=self.draws, names=[*COMPONENTS, "TE"], converged=self.converged, **kwargs)

    def _describe(self) -> str:
        d = self.draws
        return (f"four-way decomposition of {d.attrs['contrast']} through {d.attrs['mediator']} at "
                f"m* = {d.attrs['mstar']:g}, {d.sizes['chain']} x {d.sizes['draw']} draws")


def _mediator_index(spec: Spec, mediator: str | None) -> int:
    names = list(spec.mediator_names)
    if mediator is None:
        if len(names) == 1:
            return 0
        raise CarepathsError(
            f"the four-way decomposition is for one mediator; the spec has {len(names)}: name one "
            f"with mediator= (one of {', '.join(names)})."
        )
    if mediator not in names:
        raise CarepathsError(f"mediator {mediator!r} is not a mediator of the spec.{suggest_closest(str(mediator), names)} "
                             f"Mediators: {', '.join(names)}.")
    if len(names) > 1:
        verdict = identify(spec)[f"NIE[{mediator}]"]
        if not verdict.identified:
            raise IdentificationError(
                f"a four-way decomposition through {mediator!r} alone is not defined for this spec: "
                f"{verdict.reason} (its natural indirect effect is not identified on its own, e.g. with a "
                "mediator edge into it). Decompose the effects with fit.effects() instead.",
                effect=f"NIE[{mediator}]", reason=verdict.reason, path=verdict.path,
            )
    return names.index(mediator)


def _mstar_model(panel: Panel, k: int, mstar: Any) -> tuple[float, float]:
    """``m*`` in original units and on the model scale (default: mean, 0 or the first category)."""
    med = panel.spec.mediators[k]
    if med.family == "normal":
        scaling = panel.scaling[med.name]
        value = scaling.loc if mstar is None else mstar
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating) or not np.isfinite(value):
            raise CarepathsError(f"mstar must be a finite number in {med.name}'s units, got {mstar!r}.")
        return float(value), float(scaling.to_model(float(value)))
    if med.family == "bernoulli":
        value = 0 if mstar is None else mstar
        if value not in (0, 1) or isinstance(value, bool):
            raise CarepathsError(f"mstar of the binary mediator {med.name!r} must be 0 or 1, got {mstar!r}.")
        return float(value), float(value)
    value = med.categories[0] if mstar is None else mstar
    if value not in med.categories:
        raise CarepathsError(f"mstar {mstar!r} is not a category of {med.name!r}: {list(med.categories)}.")
    return float(value), float(list(med.categories).index(value))


def compute_fourway(
    params: ParameterSet,
    panel: Panel,
    x0: np.ndarray,
    x1: np.ndarray,
    label: str,
    *,
    mediator: str | None = None,
    mstar: Any = None,
    by: str | None = "stage",
    population: str = "marginal",
    seed: int = 0,
    warning: str = "",
) -> FourWay:
    """The four-way decomposition on every draw (:meth:`carepaths.Fit.fourway` calls this).

    Parameters
    ----------
    params : ParameterSet
    panel : Panel
    x0, x1 : array (obs,)
        Reference and contrasted exposure on the model scale; ``label`` names the contrast.
    mediator : str, optional
        The mediator (default the spec's only one).
    mstar : float or category, optional
        The mediator's value in the controlled direct effect, in its units (default: the
        observed mean of a normal mediator, 0 for a binary one, the first category of an
        ordinal one).
    by, population, seed, warning
        As in :func:`carepaths.counterfactual.effects.compute_effects`.

    Returns
    -------
    FourWay
    """
    spec = panel.spec
    check_choice(population, "population", ("marginal", "conditional"))
    check_choice(by, "by", ("stage", None))
    check_seed(seed)
    k = _mediator_index(spec, mediator)
    mstar_original, mstar_model = _mstar_model(panel, k, mstar)
    rows = RowData.from_panel(panel)
    averaging, groups = group_averaging(spec, rows.stage_idx)
    def work(chunk: Chunk) -> dict[str, np.ndarray]:
        p, r, lat = chunk.params, chunk.rows, chunk.latents
        # each draw's own imputed exposure where it is missing (a contrast that shifts it)
        X0, X1 = follow_exposure(x0, rows.x, chunk), follow_exposure(x1, rows.x, chunk)
        M0 = worlds.mediators_at(spec, p, r, X0, lat)
        M1 = worlds.mediators_at(spec, p, r, X1, lat)

        def with_k(x: np.ndarray, source: np.ndarray) -> np.ndarray:  # M(x) with M_k from `source`
            return worlds.mediators_at(spec, p, r, x, lat, overrides={k: lambda _v, s=source[:, k]: s})

        def y(x: np.ndarray, M: np.ndarray) -> np.ndarray:
            return worlds.outcome_means_given(spec, p, r, x, M, dtype=LINK_DTYPE)

        means = {
            "x0_m0": y(X0, M0), "x1_m1": y(X1, M1),
            "x1_k0": y(X1, with_k(X1, M0)),  # exposure x1, the mediator as under x0
            "x0_k1": y(X0, with_k(X0, M1)),  # exposure x0, the mediator as under x1
            "x1_mstar": worlds.controlled_means(spec, p, r, X1, lat, {k: mstar_model}, dtype=LINK_DTYPE),
            "x0_mstar": worlds.controlled_means(spec, p, r, X0, lat, {k: mstar_model}, dtype=LINK_DTYPE),
        }
        return {name: (averaging @ w.astype(float, copy=False)).T for name, w in means.items()}

    from threadpoolctl import threadpool_limits

    out: dict[str, np.ndarray] = {}
    with threadpool_limits(limits=1, user_api="blas"):
        for draws, chunk_means in map_chunks(params, rows, population, np.random.default_rng(seed), work):
            for name, values in chunk_means.items():
                out.setdefault(name, np.empty((params.n_samples, values.shape[1])))[draws] = values
    if spec.outcome.family == "normal":
        s = panel.scaling[spec.outcome.name]
        out = {name: s.to_original(v) for name, v in out.items()}
    te = out["x1_m1"] - out["x0_m0"]
    cde = out["x1_mstar"] - out["x0_mstar"]
    nde = out["x1_k0"] - out["x0_m0"]
    nie_treated = out["x1_m1"] - out["x1_k0"]
    pie = out["x0_k1"] - out["x0_m0"]
    parts = {"CDE": cde, "INT_ref": nde - cde, "INT_med": nie_treated - pie, "PIE": pie, "TE": te}
    if by is None:
        parts, groups = {n: v[:, -1:] for n, v in parts.items()}, [groups[-1]]
    shape = (params.chains, params.draws)
    ds = xr.Dataset(
        {n: (("chain", "draw", "stage"), v.reshape(*shape, v.shape[-1])) for n, v in parts.items()},
        coords={"chain": np.arange(params.chains), "draw": np.arange(params.draws), "stage": groups},
    )
    ds.attrs.update(mediator=spec.mediator_names[k], mstar=mstar_original, contrast=label, scale="difference",
                    population=population, seed=seed, converged=int(not warning),
                    **{HAS_STAGES: int(len(spec.stage_levels) > 1)})
    message = ""
    if warning:
        message = "This decomposition comes from a fit that did NOT converge: " + warning
        warnings.warn(message, ConvergenceWarning, stacklevel=3)
    return FourWay(draws=ds, converged=not warning, warning=message)
