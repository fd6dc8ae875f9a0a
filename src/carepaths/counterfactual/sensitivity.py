"""Every effect as a function of unmeasured mediator-outcome confounding, without refitting.

Imai, Keele & Yamamoto's (2010) ``rho``, the correlation of a mediator's error with the
outcome's (0 under sequential ignorability), applied on every posterior draw: a fitted
model's outcome predictor absorbs ``kappa_k g_k(m, x)``, the conditional mean of the
correlated part of the error given the mediator, so a counterfactual world ``Y(x', M*)``
is the fitted predictor plus ``kappa_k (e_k - g_k(M*_k, x'))``, with ``e_k`` the row's own
latent mediator error (:func:`correction_bases`) and
``kappa_k = rho_k sigma_Y / (sigma_k sqrt(1 - sum_j rho_j^2))`` on the latent scales of
:func:`latent_sd`. The derivation, the latent scales of binary, ordinal and count
variables, what is exact and what is approximate, and which confounding each analysis
covers are in ``docs/sensitivity.md``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr
from scipy import special, stats

from carepaths.counterfactual import worlds
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
from carepaths.exceptions import CarepathsError, ConvergenceWarning, suggest_closest
from carepaths.intervals import interval_bounds, interval_label
from carepaths.results import HAS_STAGES, NOT_CONVERGED, Result, check_choice, check_seed, has_stages, summary_table
from carepaths.spec import Spec
from carepaths.structural import equations
from carepaths.structural.parameters import ParameterSet

__all__ = [
    "Sensitivity", "compute_sensitivity", "DEFAULT_GRID", "evalue", "correction_bases", "latent_sd",
]

#: The default grid of rho: -0.9 to 0.9 in steps of 0.09 (21 points, 0 included).
DEFAULT_GRID = np.round(np.linspace(-0.9, 0.9, 21), 10)

_WORLDS = ("x0_m0", "x1_m0", "x1_m1", "x0_m1", "x1_g0")


# ----------------------------------------------------------------------------- the pieces
def latent_sd(family: str, link: str | None = None, *, sigma: Any = None, phi: Any = None) -> Any:
    """The SD of a variable's error on the scale ``rho`` refers to (see the module docstring)."""
    if family == "normal":
        return sigma
    if family in ("bernoulli", "ordinal"):
        return 1.0 if link == "probit" else math.pi / math.sqrt(3.0)
    if family == "negative_binomial":
        return np.sqrt(special.polygamma(1, phi))
    raise ValueError(f"no latent scale for family {family!r}")


def _truncated_mean(link: str, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """E[e | lower < e <= upper] for a standard logistic (logit) or normal (probit) error.

    Intervals in the right tail are reflected (both errors are symmetric) so that the
    probability of the interval is never a difference of two numbers near 1; where it
    still underflows (an interval hundreds of SDs out), the tail's exponential
    approximation (rate 1 for the logistic, ``|upper|`` for the normal) gives the mean.
    """
    flip = lower > 0
    lo, hi = np.where(flip, -upper, lower), np.where(flip, -lower, upper)  # now lo < hi and lo <= 0
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if link == "probit":
            num = stats.norm.pdf(lo) - stats.norm.pdf(hi)
            den = special.ndtr(hi) - special.ndtr(lo)
        else:
            def G(t: np.ndarray) -> np.ndarray:  # an antiderivative of t * logistic density
                out = t * special.expit(t) - np.logaddexp(0.0, t)
                return np.where(np.isinf(t), 0.0, out)

            num = G(hi) - G(lo)
            den = special.expit(hi) - special.expit(lo)
        mean = num / den
        # far in the left tail (hi << 0) the density is close to exponential with this rate
        rate = np.abs(hi) if link == "probit" else np.ones_like(hi)
        width = hi - lo
        tail = hi - 1.0 / rate + np.where(np.isinf(width), 0.0, width / np.expm1(rate * width))
    ok = (den > 1e-280) & np.isfinite(mean)
    mean = np.where(ok, mean, tail)
    return np.where(flip, -mean, mean)


def correction_bases(
    spec: Spec, params: Mapping[str, Any], rows: worlds.Rows, x_y: np.ndarray, M: np.ndarray,
    own: np.ndarray, *, eta: np.ndarray | None = None, only: np.ndarray | None = None,
) -> np.ndarray:
    """Per row and mediator, ``e_k - g_k(M_k, x_y)``: what ``kappa_k`` multiplies in a world.

    Parameters
    ----------
    spec : Spec
    params : mapping
        The equations' arrays (batched: draw axis last).
    rows : Rows
    x_y : array (obs, 1)
        The exposure of the world's outcome.
    M : array (obs, mediator, draw)
        The world's mediators.
    own : array (obs, mediator, draw)
        The rows' own latent mediator errors (the joint system's latents).
    eta : array (obs, mediator, draw), optional
        Every mediator's predictor at ``x_y`` when it does not depend on ``M`` (no mediator
        edges; :func:`carepaths.structural.equations.mediator_predictors`); computed here
        otherwise.
    only : array of bool (mediator,), optional
        The mediators wanted (default all).

    Returns
    -------
    array (obs, wanted mediator, draw)
    """
    wanted = [k for k in range(len(spec.mediators)) if only is None or only[k]]
    out = np.empty((M.shape[0], len(wanted), *M.shape[2:]))
    for i, k in enumerate(wanted):
        med = spec.mediators[k]
        if eta is not None:
            eta_k = eta[:, k]
        else:
            u_k = rows.u[:, k] if np.ndim(rows.u) else 0.0
            a_k = rows.a_i[:, k] if np.ndim(rows.a_i) else 0.0
            eta_k = equations.mediator_predictor(
                params, k, x=x_y, C=rows.C, stage_idx=rows.stage_idx, person_intercept=u_k, person_slope=a_k,
                x_between=rows.x_between, M=M if spec.mediator_edges else None,
            )
        if med.family == "normal":
            g = M[:, k] - eta_k
        else:
            link = med.link
            if med.family == "bernoulli":
                yes = M[:, k] > 0.5
                lower = np.where(yes, -eta_k, -np.inf)
                upper = np.where(yes, np.inf, -eta_k)
            else:
                cuts = np.moveaxis(np.asarray(params["cutpoints"][k], dtype=float), 0, -1)  # (draw, cut)
                cuts = cuts[..., ~np.isnan(cuts).reshape(-1, cuts.shape[-1]).any(axis=0)]
                pad = np.full(cuts.shape[:-1] + (1,), np.inf)
                cuts = np.concatenate([-pad, cuts, pad], axis=-1)  # (draw, cut + 2)
                code = M[:, k].astype(int)  # (obs, draw)
                draw = np.arange(cuts.shape[0])
                lower, upper = cuts[draw, code] - eta_k, cuts[draw, code + 1] - eta_k
            g = _truncated_mean(link, lower, upper)
        out[:, i] = own[:, k] - g
    return out


def _unit_kappas(spec: Spec, params: Mapping[str, Any], w: np.ndarray) -> np.ndarray:
    """``w_k sigma_Y / sigma_k`` per mediator and draw: (mediator, draw).

    ``kappa_k = rho_k sigma_Y / (sigma_k sqrt(1 - sum_j rho_j^2))`` with ``rho_k = w_k rho``
    is ``rho / sqrt(1 - rho^2 sum_j w_j^2)`` times this.
    """
    out = spec.outcome
    sigma_y = np.asarray(latent_sd(out.family, out.link, sigma=params["sigma_y"],
                                   phi=params["phi"]), dtype=float)
    B = np.shape(params["beta0"])[-1]
    rows = []
    for k, med in enumerate(spec.mediators):
        sigma_k = np.asarray(latent_sd(med.family, med.link, sigma=params["sigma_m"][k]), float)
        rows.append(np.broadcast_to(w[k] * sigma_y / sigma_k, (B,)))
    return np.stack(rows)


# ----------------------------------------------------------------------------- E-values
def evalue(rr: Any) -> Any:
    """The E-value of a risk ratio (VanderWeele & Ding 2017): ``RR + sqrt(RR (RR - 1))``.

    A risk ratio below 1 is inverted first; the E-value of 1 is 1.
    """
    rr = np.asarray(rr, dtype=float)
    r = np.where(rr < 1.0, 1.0 / rr, rr)
    return r + np.sqrt(r * (r - 1.0))


# ----------------------------------------------------------------------------- result
@dataclass(frozen=True, repr=False)
class Sensitivity(Result):
    """Effects as a function of the mediator-outcome error correlation ``rho``, per draw.

    Attributes
    ----------
    draws : xarray.Dataset
        ``TE``, ``NDE``, ``NIE``, where they differ ``NDE (treated)`` and ``NIE (control)``
        (chain, draw, rho, stage) and ``IIE`` (chain, draw, rho, stage, mechanism), on the
        difference scale. attrs: the mediators varied and their weights, the contrast, and
        ``r2_mediator``/``r2_outcome`` (posterior-mean R-squared of the fitted mediator and
        outcome models on their latent scales).
    evalues : pandas.DataFrame
        Mediational E-values (Smith & VanderWeele 2019) of TE, NDE and NIE by stage.
    converged : bool
    warning : str
    """

    draws: xr.Dataset
    evalues: pd.DataFrame
    converged: bool
    warning: str = ""

    frame_columns: ClassVar[dict[str, str]] = {"mean": "estimate"}

    @property
    def has_stages(self) -> bool:
        """Whether the spec has stages."""
        return has_stages(self.draws)

    @property
    def rho(self) -> np.ndarray:
        """The grid of rho."""
        return np.asarray(self.draws["rho"].values, dtype=float)

    def _effects(self) -> xr.Dataset:
        from carepaths.results import flatten_variables

        names = [n for n in ("TE", "NDE", "NIE", "NDE (treated)", "NIE (control)", "IIE") if n in self.draws]
        out = flatten_variables(self.draws[names], keep=("rho", "stage"))
        out.attrs.update(self.draws.attrs)
        return out

    def summary(self) -> pd.DataFrame:
        """Mean, SD, interval and P(>0) of every effect at every ``rho``, by stage.

        Returns
        -------
        pandas.DataFrame
            Index ``(stage, effect, rho)`` (``stage`` left out without stages).
        """
        effects = self._effects()
        table = summary_table(effects, by=("rho", "stage"), name="effect", null=0.0)
        table = table.reorder_levels(["stage", "effect", "rho"])
        order = pd.MultiIndex.from_product(
            [[str(s) for s in effects["stage"].values], [str(e) for e in effects.data_vars],
             [str(r) for r in effects["rho"].values]], names=["stage", "effect", "rho"])
        table = table.reindex(order)
        table.index = table.index.set_levels(table.index.levels[2].astype(float), level="rho")
        if not self.has_stages:
            table = table.droplevel("stage")
        if not self.converged:
            table["warning"] = NOT_CONVERGED
        table.attrs.update(interval=interval_label(), warning=self.warning, mediators=self.draws.attrs["mediators"])
        return table

    def crossings(self) -> pd.DataFrame:
        """The numbers users cite: where each effect's mean and interval reach 0.

        Returns
        -------
        pandas.DataFrame
            Index ``(stage, effect)``. Columns: ``rho_mean_zero``, the rho at which the
            posterior mean crosses 0 (linear interpolation between grid points; the one
            nearest 0 when there are several; NaN when it does not cross on the grid);
            ``rho_interval_includes_zero``, the grid rho nearest 0 at which the package
            interval includes 0 (0 when it does at rho = 0); ``R2star_product`` =
            ``R*_M^2 R*_Y^2`` (share of the residual variances a confounder would have to
            explain, Imai et al. 2010) and ``R2tilde_product`` = ``R~_M^2 R~_Y^2`` (share of
            the total variances) at ``rho_mean_zero``.
        """
        effects = self._effects()
        rho = self.rho
        rows = []
        lower_p, upper_p = (1 - _interval_prob()) / 2, 1 - (1 - _interval_prob()) / 2
        for name in effects.data_vars:
            if str(name) == "TE":
                continue
            var = effects[name]
            for stage in var["stage"].values:
                values = var.sel(stage=stage).values.reshape(-1, len(rho))  # (sample, rho)
                mean = values.mean(axis=0)
                lo, hi = np.quantile(values, [lower_p, upper_p], axis=0)
                r0 = _zero_crossing(rho, mean)
                includes = (lo <= 0) & (hi >= 0)
                r_int = float(rho[includes][np.argmin(np.abs(rho[includes]))]) if includes.any() else np.nan
                r2m = self.draws.attrs.get("r2_mediator", np.nan)
                r2y = self.draws.attrs.get("r2_outcome", np.nan)
                rows.append((str(stage), str(name), r0, r_int, r0**2, r0**2 * (1 - r2m) * (1 - r2y)))
        table = pd.DataFrame(rows, columns=["stage", "effect", "rho_mean_zero", "rho_interval_includes_zero",
                                            "R2star_product", "R2tilde_product"]).set_index(["stage", "effect"])
        if not self.has_stages:
            table = table.droplevel("stage")
        if not self.converged:
            table["warning"] = NOT_CONVERGED
        table.attrs.update(warning=self.warning)
        table.attrs.update(grid_step=float(np.min(np.diff(rho))) if len(rho) > 1 else np.nan, interval=interval_label())
        return table

    def total_effect_bias(
        self, gamma: Sequence[float] | None = None, delta: Sequence[float] | None = None,
    ) -> pd.DataFrame:
        """Exposure-outcome confounding: the total effect under an unmeasured binary confounder.

        VanderWeele & Arah's (2011) bias formula on the difference scale: a binary
        confounder ``U`` that raises the outcome by ``gamma`` (in the outcome's units; for a
        binary outcome a risk difference) and is ``delta`` more common among the exposed
        (``P(U=1 | x1) - P(U=1 | x0)``, conditional on the measured confounders) biases the
        total effect by ``gamma * delta``; the corrected effect is ``TE - gamma * delta`` on
        every draw. ``rho`` plays no part: the total effect does not depend on the
        mediator-outcome confounding that ``rho`` describes.

        Parameters
        ----------
        gamma, delta : sequence of float, optional
            A grid of the confounder's effect on the outcome and of its prevalence
            difference (in [-1, 1]). Without ``gamma``, the table of what it would take.

        Returns
        -------
        pandas.DataFrame
            Without ``gamma``: by stage, ``TE``, its interval, ``bias_to_null`` (the
            ``gamma * delta`` that moves the posterior mean to 0) and
            ``bias_to_interval_null`` (the one that moves the interval's limit nearer 0 to
            0; 0 when the interval includes 0). With ``gamma``: index ``(stage, gamma,
            delta)`` with the corrected effect's mean, SD, interval and P(>0).
        """
        te = self.draws["TE"].isel(rho=0, drop=True)
        if gamma is None:
            if delta is not None:
                raise CarepathsError("delta needs gamma: give both (a grid of each) or neither.")
            rows = []
            for stage in te["stage"].values:
                values = te.sel(stage=stage).values.reshape(-1)
                lo, hi = interval_bounds(values)
                mean = float(values.mean())
                limit = 0.0 if lo <= 0 <= hi else (float(lo) if mean > 0 else float(hi))
                rows.append((str(stage), mean, float(lo), float(hi), mean, limit))
            table = pd.DataFrame(rows, columns=["stage", "TE", "lower", "upper", "bias_to_null",
                                               "bias_to_interval_null"]).set_index("stage")
            if not self.has_stages:
                table = table.reset_index(drop=True)
        else:
            g = _finite_grid(gamma, "gamma")
            d = _finite_grid((0.1, 0.2, 0.3, 0.5) if delta is None else delta, "delta")
            if np.any(np.abs(d) > 1):
                raise CarepathsError(f"delta is a difference of two probabilities and must lie in [-1, 1]; got "
                                     f"{d[np.abs(d) > 1][0]!r}.")
            bias = xr.DataArray(np.outer(g, d), dims=("gamma", "delta"), coords={"gamma": g, "delta": d})
            corrected = (te - bias).rename("TE corrected").to_dataset()
            table = summary_table(corrected, by=("stage", "gamma", "delta"), name="effect", null=0.0)
            table = table.droplevel("effect")
            for level in ("gamma", "delta"):
                table.index = table.index.set_levels(table.index.levels[table.index.names.index(level)].astype(float),
                                                     level=level)
            if not self.has_stages:
                table = table.droplevel("stage")
        if not self.converged:
            table["warning"] = NOT_CONVERGED
        table.attrs.update(interval=interval_label(), warning=self.warning, note=(
            "VanderWeele & Arah (2011): an unmeasured binary exposure-outcome confounder U biases the total "
            "effect by gamma * delta (gamma: U's effect on the outcome, in its units; delta: how much more "
            "common U is among the exposed). For the risk-ratio scale see the E-value of TE in .evalues."))
        return table

    def plot(self, effects: Sequence[str] | None = None, **kwargs: Any) -> Any:
        """Each effect against rho by stage, with its interval and crossing points marked.

        Parameters
        ----------
        effects : sequence of str, optional
            Default NIE, NDE and, with several mechanisms, the IIE of each mediator varied.
        **kwargs
            Passed to :func:`carepaths.figures.plot_sensitivity` (``title``).

        Returns
        -------
        matplotlib.figure.Figure
        """
        from carepaths.figures import plot_sensitivity
        from carepaths.results import element_label

        if effects is None:
            effects = [n for n in ("NIE", "NDE") if n in self.draws]
            mechanisms = [str(m) for m in self.draws["mechanism"].values]
            if len(mechanisms) > 1:
                effects += [element_label("IIE", (m,)) for m, wk in zip(mechanisms, self.draws.attrs["weights"],
                                                                         strict=True) if wk]
        return plot_sensitivity(draws=self._effects(), crossings=self.crossings(), effects=effects,
                                converged=self.converged, mediators=self.draws.attrs["mediators"], **kwargs)

    def _describe(self) -> str:
        d = self.draws
        return (f"sensitivity of {d.attrs['contrast']} to mediator-outcome confounding through "
                f"{d.attrs['mediators']}, rho in [{self.rho.min():g}, {self.rho.max():g}] ({len(self.rho)} points), "
                f"{d.sizes['chain']} x {d.sizes['draw']} draws")


def _interval_prob() -> float:
    from carepaths.intervals import INTERVAL_PROB

    return INTERVAL_PROB


def _zero_crossing(rho: np.ndarray, mean: np.ndarray) -> float:
    sign = np.sign(mean)
    crossings = []
    for i in range(len(rho) - 1):
        if mean[i] == 0:
            crossings.append(rho[i])
        elif sign[i] * sign[i + 1] < 0:
            crossings.append(rho[i] - mean[i] * (rho[i + 1] - rho[i]) / (mean[i + 1] - mean[i]))
    if mean[-1] == 0:
        crossings.append(rho[-1])
    if not crossings:
        return np.nan
    crossings = np.asarray(crossings)
    return float(crossings[np.argmin(np.abs(crossings))])


# ----------------------------------------------------------------------------- compute
def _finite_grid(values: Any, name: str) -> np.ndarray:
    array = np.atleast_1d(np.asarray(values, dtype=object))
    if array.size == 0 or any(isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating)
                              for v in array):
        raise CarepathsError(f"{name} must be a non-empty list of numbers, e.g. {name}=[0.1, 0.3]; got {values!r}.")
    out = array.astype(float)
    if not np.all(np.isfinite(out)):
        raise CarepathsError(f"{name} holds a value that is not a finite number ({out[~np.isfinite(out)][0]!r}).")
    if len(np.unique(out)) != len(out):
        raise CarepathsError(f"{name} lists a value more than once; list each once.")
    return out


def _grid(rho: Any) -> np.ndarray:
    if rho is None:
        return DEFAULT_GRID.copy()
    values = np.atleast_1d(np.asarray(rho, dtype=object))
    bad = [v for v in values if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating)]
    if bad or values.size == 0:
        raise CarepathsError(f"rho must be a non-empty list of numbers in (-1, 1), e.g. rho=[-0.5, 0, 0.5]; got {rho!r}.")
    grid = values.astype(float)
    if not np.all(np.isfinite(grid)):
        raise CarepathsError(f"rho holds a value that is not a finite number ({grid[~np.isfinite(grid)][0]!r}): "
                             "give correlations in (-1, 1).")
    if np.any(np.abs(grid) >= 1):
        raise CarepathsError(f"rho must lie strictly between -1 and 1 (a correlation); got {grid[np.abs(grid) >= 1][0]!r}.")
    if len(np.unique(grid)) != len(grid):
        raise CarepathsError("rho lists a value more than once; list each once.")
    return np.sort(grid)


def _weights(spec: Spec, mediator: Any, weights: Mapping[str, float] | None) -> tuple[np.ndarray, str]:
    names = list(spec.mediator_names)
    if weights is not None:
        if mediator is not None:
            raise CarepathsError("give either mediator= (one mediator) or weights= (several, jointly), not both.")
        if not isinstance(weights, Mapping) or not weights:
            raise CarepathsError(f"weights must be a dict of mediator -> weight, e.g. {{'{names[0]}': 1.0}}; got {weights!r}.")
        w = np.zeros(len(names))
        for name, value in weights.items():
            if name not in names:
                raise CarepathsError(f"weights: {name!r} is not a mediator.{suggest_closest(str(name), names)} "
                                     f"Mediators: {', '.join(names)}.")
            if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
                raise CarepathsError(f"weights[{name!r}] must be a finite number, got {value!r}.")
            w[names.index(name)] = float(value)
        if not np.any(w):
            raise CarepathsError("weights are all 0: at least one mediator must be varied.")
        return w, ", ".join(f"{n} x {v:g}" for n, v in zip(names, w, strict=True) if v)
    if mediator is None:
        if len(names) > 1:
            raise CarepathsError(
                f"the spec has {len(names)} mediators: vary one (mediator='{names[0]}') or all jointly "
                f"(mediator='all', the same rho for each, or weights={{...}})."
            )
        mediator = names[0]
    if mediator == "all":
        return np.ones(len(names)), "all mediators (equal rho)"
    if mediator not in names:
        raise CarepathsError(f"mediator {mediator!r} is not a mediator of the spec.{suggest_closest(str(mediator), names)} "
                             f"Mediators: {', '.join(names)} (or 'all').")
    w = np.zeros(len(names))
    w[names.index(mediator)] = 1.0
    return w, mediator


def compute_sensitivity(
    params: ParameterSet,
    panel: Panel,
    x0: np.ndarray,
    x1: np.ndarray,
    label: str,
    *,
    rho: Sequence[float] | None = None,
    mediator: str | None = None,
    weights: Mapping[str, float] | None = None,
    by: str | None = "stage",
    population: str = "marginal",
    seed: int = 0,
    warning: str = "",
) -> Sensitivity:
    """Every effect as a function of ``rho`` on every draw (:meth:`carepaths.Fit.sensitivity`).

    Parameters
    ----------
    params : ParameterSet
    panel : Panel
    x0, x1 : array (obs,)
        Reference and contrasted exposure on the model scale; ``label`` names the contrast.
    rho : sequence of float, optional
        The grid of correlations, in (-1, 1); default :data:`DEFAULT_GRID` (-0.9 ... 0.9,
        21 points), divided by ``sqrt(sum_k w_k^2)`` when that exceeds 1 (several
        mediators varied), so that the joint correlation stays within 0.9.
    mediator : str, optional
        The mediator whose error correlates with the outcome's (``rho_k = rho``, the others
        0); ``"all"`` for every mediator with the same ``rho``. Needed with several
        mediators unless ``weights`` is given.
    weights : dict, optional
        A stated correlation structure: ``rho_k = weights[k] * rho`` (the others 0); the
        grid is limited to ``sum_k rho_k^2 < 1``.
    by, population, seed, warning
        As in :func:`carepaths.counterfactual.effects.compute_effects`; the same seed gives
        the same population, so ``rho = 0`` reproduces ``fit.effects()`` to rounding.

    Returns
    -------
    Sensitivity
    """
    spec = panel.spec
    check_choice(population, "population", ("marginal", "conditional"))
    check_choice(by, "by", ("stage", None))
    check_seed(seed)
    if population == "conditional" and spec.mediator_edges:
        raise CarepathsError(
            "population='conditional' with mediator_edges is not supported: the per-mechanism "
            "interventional effects need an independent mediator system per person, which the "
            "observed mediators do not give. Use population='marginal'."
        )
    user_grid = _grid(rho) if rho is not None else None
    w, described = _weights(spec, mediator, weights)
    # the default grid, with several mediators varied, stops where sqrt(sum_k rho_k^2) = 0.9
    grid = user_grid if user_grid is not None else np.round(DEFAULT_GRID / max(1.0, float(np.linalg.norm(w))), 10)
    if np.any(np.sum(np.outer(grid, w) ** 2, axis=1) >= 1):
        raise CarepathsError(
            f"with these weights the grid reaches sum_k rho_k^2 >= 1 (rho up to {np.abs(grid).max():g}): the "
            "correlations cannot all hold at once. Use a smaller grid or smaller weights."
        )
    rows = RowData.from_panel(panel)
    averaging, groups = group_averaging(spec, rows.stage_idx)
    K = len(spec.mediators)
    family, link = spec.outcome.family, spec.outcome.link

    full = np.union1d(grid, [0.0])  # rho = 0 always computed (free: no correction), for the E-values
    scales = full / np.sqrt(1.0 - full**2 * float(np.sum(w**2)))  # kappa_jk = scales[j] * unit_k
    varied = w != 0

    def work(chunk: Chunk) -> dict[str, np.ndarray]:
        p, r, own = chunk.params, chunk.rows, chunk.latents
        # each draw's own imputed exposure where it is missing (a contrast that shifts it)
        X0, X1 = follow_exposure(x0, rows.x, chunk), follow_exposure(x1, rows.x, chunk)
        M0 = worlds.mediators_at(spec, p, r, X0, own)
        M1 = worlds.mediators_at(spec, p, r, X1, own)
        if chunk.systems is None:  # without mediator edges G = M (as fit.effects())
            G0, G1 = M0, M1
        else:
            G0 = np.stack([worlds.mediators_at(spec, p, r, X0, s)[:, k] for k, s in enumerate(chunk.systems)], axis=1)
            G1 = np.stack([worlds.mediators_at(spec, p, r, X1, s)[:, k] for k, s in enumerate(chunk.systems)], axis=1)
        world_defs: dict[str, tuple[np.ndarray, np.ndarray]] = {
            "x0_m0": (X0, M0), "x1_m0": (X1, M0), "x1_m1": (X1, M1), "x0_m1": (X0, M1), "x1_g0": (X1, G0),
        }
        for k in range(K):
            swapped = G0.copy()
            swapped[:, k] = G1[:, k]
            world_defs[f"swap{k}"] = (X1, swapped)
        unit = _unit_kappas(spec, p, w)[varied]  # kappa_jk = scale_j * unit_k: (varied, draw)
        eta_m: dict[int, np.ndarray] = {}  # every mediator's predictor at X0 / X1 (without mediator edges)
        out: dict[str, np.ndarray] = {}
        done: dict[tuple[int, int], np.ndarray] = {}  # worlds that are the same arrays (G = M) once

        def averaged(e: np.ndarray) -> np.ndarray:  # (draw, group)
            mean = equations.outcome_mean(family, e, dtype=LINK_DTYPE, link=link)
            return (averaging @ mean.astype(float, copy=False)).T

        for name, (x_y, M) in world_defs.items():
            key = (id(x_y), id(M))
            if key in done:
                out[name] = done[key]
                continue
            eta = equations.outcome_predictor(
                p, x=x_y, M=M, C=r.C, stage_idx=r.stage_idx, person_intercept=r.v, person_slope_c=r.c_i,
                person_slope_b=r.b_i, x_between=r.x_between,
            )
            base = averaged(eta)
            # a world whose mediators are the rows' own at the outcome's exposure needs no correction:
            # averaged over the errors, it is the fitted model's own prediction at every rho
            if name in ("x0_m0", "x1_m1"):
                out[name] = done[key] = np.repeat(base[:, None], len(full), axis=1)
                continue
            if not spec.mediator_edges and id(x_y) not in eta_m:
                eta_m[id(x_y)] = equations.mediator_predictors(
                    p, x=x_y, C=r.C, stage_idx=r.stage_idx, person_intercepts=r.u, person_slopes=r.a_i,
                    x_between=r.x_between)
            bases = correction_bases(spec, p, r, x_y, M, own, eta=eta_m.get(id(x_y)), only=varied)
            shift = np.einsum("okb,kb->ob", bases, unit)  # (obs, draw): the correction at scale 1
            if family == "normal":  # identity link: the average of the correction, once
                moved = averaged(shift)
                out[name] = base[:, None] + scales[None, :, None] * moved[:, None]
            else:
                out[name] = np.stack(
                    [base if scale == 0 else averaged(eta + scale * shift) for scale in scales], axis=1,
                )  # (draw, rho, group)
            done[key] = out[name]
        return out

    from threadpoolctl import threadpool_limits

    means: dict[str, np.ndarray] = {}
    with threadpool_limits(limits=1, user_api="blas"):
        for draws, chunk_means in map_chunks(params, rows, population, np.random.default_rng(seed), work, systems=True):
            for name, values in chunk_means.items():
                means.setdefault(name, np.empty((params.n_samples, *values.shape[1:])))[draws] = values
    if family == "normal":
        s = panel.scaling[spec.outcome.name]
        means = {name: s.to_original(v) for name, v in means.items()}
    zero = int(np.searchsorted(full, 0.0))
    ev = _evalues(spec, panel, means, zero, groups if by is not None else [POOLED], by)
    keep = np.searchsorted(full, grid)
    means = {name: v[:, keep] for name, v in means.items()}
    y00, y10, y11, y01, g0 = (means[n] for n in _WORLDS)
    swap = np.stack([means[f"swap{k}"] for k in range(K)], axis=-1)
    nie = y11 - y10
    iie = swap - g0[..., None]
    effects: dict[str, np.ndarray] = {"TE": y11 - y00, "NDE": y10 - y00, "NIE": nie}
    from carepaths.counterfactual.effects import natural_versions_differ

    if natural_versions_differ(spec):
        effects.update({"NDE (treated)": y11 - y01, "NIE (control)": y01 - y00})
    effects["IIE"] = iie
    if by is None:
        effects = {n: v[:, :, -1:] for n, v in effects.items()}
        groups = [POOLED]
    shape = (params.chains, params.draws)
    data = {}
    for name, values in effects.items():
        dims = ("chain", "draw", "rho", "stage", "mechanism") if values.ndim == 4 else ("chain", "draw", "rho", "stage")
        data[name] = (dims, values.reshape(*shape, *values.shape[1:]))
    ds = xr.Dataset(data, coords={"chain": np.arange(params.chains), "draw": np.arange(params.draws), "rho": grid,
                                  "stage": groups, "mechanism": list(spec.mediator_names)})
    r2m, r2y = _r_squared(spec, params, panel, rows, w)
    ds.attrs.update(contrast=label, mediators=described, weights=list(map(float, w)), scale="difference",
                    population=population, seed=seed, converged=int(not warning), r2_mediator=r2m, r2_outcome=r2y,
                    **{HAS_STAGES: int(len(spec.stage_levels) > 1)})
    if warning:
        ev["warning"] = NOT_CONVERGED
    message = ""
    if warning:
        message = "This sensitivity analysis comes from a fit that did NOT converge: " + warning
        warnings.warn(message, ConvergenceWarning, stacklevel=3)
    return Sensitivity(draws=ds, evalues=ev, converged=not warning, warning=message)


def _r_squared(spec: Spec, params: ParameterSet, panel: Panel, rows: RowData, w: np.ndarray) -> tuple[float, float]:
    """R-squared of the varied mediators' and the outcome's fitted models, as ``medsens`` reads them.

    At the posterior mean of the fixed part (the predictor is linear in the coefficients,
    so its posterior mean is the predictor at their posterior means, as a plug-in fit's):
    for a normal variable ``1 - sum (y - eta)^2 / sum (y - mean y)^2`` over the rows (OLS's
    R-squared when the posterior mean is the OLS fit; person effects count as unexplained);
    for a binary, ordinal or count variable McKelvey and Zavoina's latent-scale
    ``var(eta) / (var(eta) + latent error variance + person variance)``. Averaging each
    draw's own R-squared instead would add the coefficients' posterior variance to the
    explained part (an upward bias of about (coefficients - 1) / rows). With several
    mediators varied, the mean over them weighted by ``w^2``.
    """
    p = params.batch(slice(0, params.n_samples))
    x_between = None if rows.x_between is None else rows.x_between[:, None]

    def r2(family: str, link: str | None, observed: np.ndarray, eta: np.ndarray, sd_latent: Any, person: Any) -> float:
        fitted = eta.mean(axis=-1)
        # the rows where the variable and its predictors are observed (missing="model")
        keep = ~np.isnan(np.asarray(observed, dtype=float)) & ~np.isnan(fitted)
        observed, fitted = np.asarray(observed, dtype=float)[keep], fitted[keep]
        if family == "normal":
            return float(1.0 - np.sum((observed - fitted) ** 2) / np.sum((observed - observed.mean()) ** 2))
        explained = float(np.var(fitted))
        unexplained = float(np.mean(np.asarray(sd_latent, float) ** 2)) + float(np.mean(np.asarray(person) ** 2))
        return explained / (explained + unexplained)

    r2_m = []
    for k, med in enumerate(spec.mediators):
        if not w[k]:
            continue
        eta = equations.mediator_predictor(p, k, x=rows.x[:, None], C=rows.C, stage_idx=rows.stage_idx,
                                           x_between=x_between, M=rows.M[:, :, None] if spec.mediator_edges else None)
        person = params.person["sd_u"][:, k] if "sd_u" in params.person else 0.0
        r2_m.append((r2(med.family, med.link, rows.M[:, k], eta, latent_sd(med.family, med.link,
                                                                             sigma=p["sigma_m"][k]), person), w[k] ** 2))
    r2m = sum(v * wt for v, wt in r2_m) / sum(wt for _, wt in r2_m)
    eta_y = equations.outcome_predictor(p, x=rows.x[:, None], M=rows.M[:, :, None], C=rows.C, stage_idx=rows.stage_idx,
                                        x_between=x_between)
    out = spec.outcome
    person = params.person["sd_v"] if "sd_v" in params.person else 0.0
    r2y = r2(out.family, out.link, panel.dataset["Y"].values, eta_y,
             latent_sd(out.family, out.link, sigma=p["sigma_y"], phi=p["phi"]), person)
    return float(r2m), r2y


def _evalues(
    spec: Spec, panel: Panel, means: Mapping[str, np.ndarray], zero: int, groups: list[str], by: str | None,
) -> pd.DataFrame:
    """Mediational E-values of TE, NDE and NIE at rho = 0 (Smith & VanderWeele 2019).

    Risk ratios from the worlds' expected outcomes (binary: risks; counts: rates). For a
    normal outcome the standardised difference ``d`` is turned into ``RR ~ exp(0.91 d)``
    (VanderWeele & Ding 2017's approximation). The E-value of the interval's limit nearer 1
    is 1 when the interval includes 1.
    """
    y00, y10, y11 = (means[n][:, zero] for n in ("x0_m0", "x1_m0", "x1_m1"))
    if by is None:
        y00, y10, y11 = (v[:, -1:] for v in (y00, y10, y11))
    if spec.outcome.family == "normal":
        sd = panel.scaling[spec.outcome.name].scale  # the means are in original units: d = difference / SD
        ratios = None
    else:
        ratios = {"TE": y11 / y00, "NDE": y10 / y00, "NIE": y11 / y10}
    rows = []
    for j, stage in enumerate(groups):
        for name in ("TE", "NDE", "NIE"):
            if ratios is None:
                diff = {"TE": y11 - y00, "NDE": y10 - y00, "NIE": y11 - y10}[name][:, j]
                rr = np.exp(0.91 * diff / sd)
            else:
                rr = ratios[name][:, j]
            est = float(np.mean(rr))
            lo, hi = interval_bounds(rr)
            limit = 1.0 if lo <= 1.0 <= hi else (lo if est > 1 else hi)
            rows.append((stage, name, est, float(lo), float(hi), float(evalue(est)), float(evalue(limit))))
    table = pd.DataFrame(rows, columns=["stage", "effect", "RR", "RR_lower", "RR_upper", "E-value", "E-value (interval)"])
    table = table.set_index(["stage", "effect"])
    if len(groups) == 1 and groups[0] == POOLED and len(spec.stage_levels) == 1:
        table = table.droplevel("stage")
    table.attrs.update(interval=interval_label(), note=(
        "Risk ratios of the natural effects at rho = 0 and their E-values: the minimum strength of "
        "association (risk-ratio scale), with both the mediator and the outcome, that an unmeasured "
        "mediator-outcome confounder would need to explain the effect away (Smith & VanderWeele 2019); "
        "for TE, an exposure-outcome confounder's."))
    return table
