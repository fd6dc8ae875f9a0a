"""A fitted model: the posterior, convergence diagnostics, save and load.

A :class:`Fit` holds the posterior as an :class:`xarray.DataTree` (what PyMC 6 and ArviZ
1.x return), the spec, the panel and the priors. Convergence is checked once, on
creation; a fit that did not converge warns once (:class:`ConvergenceWarning`), and
``fit.converged`` is False with the failed checks in ``fit.convergence_failures``.

Thresholds (``CONVERGENCE_THRESHOLDS``), on population-level parameters (everything but
person and cluster effects and the latent values of missing mediators): R-hat <= 1.01, bulk and tail ESS >= 400, no divergent
transitions, E-BFMI >= 0.3 in every chain, no tree-depth saturation.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from carepaths.checks.predictive import Checks, check_draws, check_loo, check_memory, check_seed, compute_checks, thin
from carepaths.counterfactual.comparison import Comparison, compare
from carepaths.counterfactual.effects import Effects, compute_effects, exposure_contrast, exposure_pair
from carepaths.counterfactual.fourway import FourWay, compute_fourway
from carepaths.counterfactual.sensitivity import Sensitivity, compute_sensitivity
from carepaths.data import Panel
from carepaths.exceptions import CarepathsError, ConvergenceWarning
from carepaths.files import atomic_write, check_input_file, check_output_file, shorten
from carepaths.intervals import interval_label
from carepaths.model.priors import Prior
from carepaths.results import diagnose, element_label, flatten_variables, stack_variables, summarize
from carepaths.spec import Contrast, Spec
from carepaths.structural.parameters import ParameterSet, parameter_coords, parameter_dims, product_terms

__all__ = ["Fit", "load_fit", "ConvergenceWarning", "CONVERGENCE_THRESHOLDS", "FORMAT_VERSION"]

#: Version 2 names the random-slope SDs and correlations ``sd_slope`` and ``corr_slope``
#: (version 1: ``chol_slope_stds`` and ``chol_slope_corr``); version 1 files still load.
FORMAT_VERSION = 2
_RENAMED_IN_2 = {"chol_slope_stds": "sd_slope", "chol_slope_corr": "corr_slope"}
CONVERGENCE_THRESHOLDS = {
    "max_r_hat": 1.01,
    "min_ess_bulk": 400.0,
    "min_ess_tail": 400.0,
    "max_divergences": 0,
    "min_e_bfmi": 0.3,
    "max_tree_depth_hits": 0,
}
_PANEL_GROUP = "carepaths_panel"
_DROPPED_GROUP = "carepaths_dropped"  # the rows Panel.from_frame(dropna=True) dropped
_MISSING_PREFIX = "carepaths_missing:"
_ROW = "carepaths_row"  # the stored frames' row dim (a data column may be called "row")


def spec_hash(spec: Spec) -> str:
    """SHA-256 of the spec's canonical JSON: identifies the spec a fit belongs to."""
    text = json.dumps(spec.to_dict(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _population_vars(posterior: xr.Dataset) -> list[str]:
    return [
        name
        for name, var in posterior.data_vars.items()
        # person and cluster effects and the latent values of missing mediators (one per
        # missing cell, like person effects) are not population-level
        if not ({"person", "cluster", "missing_cell", "missing_confounder", "missing_exposure", "missing_component"}
                & set(var.dims)) and not name.startswith("z_")
        and name != "chol_slope"
    ]


def _sd_location(panel: Panel, name: str) -> tuple[float, float]:
    """Original units of one model-scale unit of ``name``, and its model-scale zero."""
    scaling = panel.scaling.get(name)
    return (scaling.scale, scaling.loc) if scaling is not None else (1.0, 0.0)


def _parameter_terms(spec: Spec, panel: Panel) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per parameter of :func:`parameter_dims`: each element's words and its original scale.

    Returns, by name, arrays in the parameter's dims: the description, and ``mult`` and
    ``add`` with ``original = add + mult * model``. Paths follow the one rule of
    :meth:`carepaths.Panel.path_scale` (``original = model / path_scale(parent, child)``;
    a product term's parent is the product of its two variables, ``times=``);
    SDs of a variable's residual or person effects scale with that variable's SD; the
    intercepts of a normal variable are its mean at the average row (``add`` = the
    variable's mean); link-scale parameters (logit and log intercepts, cutpoints,
    dispersion, correlations) are the same on both scales.
    """
    x, y = spec.exposure.name, spec.outcome.name
    coords = parameter_coords(spec)
    sd_y, loc_y = _sd_location(panel, y) if spec.outcome.family == "normal" else (1.0, 0.0)

    def per_path(parent: str, child: str) -> float:
        return float(1.0 / panel.path_scale(parent, child))

    slope_paths = {f"a:{m}": (x, m) for m in spec.mediator_names}
    slope_paths.update({f"b:{m}": (m, y) for m in spec.mediator_names})
    slope_paths["c"] = (x, y)

    def arrow(path: tuple[str, str]) -> str:
        return f"{path[0]} -> {path[1]}"

    # each rule: element values (by dim) -> (description, mult, add)
    rules: dict[str, Any] = {
        "alpha_m": lambda m, s: (f"intercept of {m} ({s})", *_sd_location(panel, m)),
        "a": lambda m, s=None: (f"{x} -> {m}" + (f" ({s})" if s else ""), per_path(x, m), 0.0),
        "b": lambda m, s=None: (f"{m} -> {y}" + (f" ({s})" if s else ""), per_path(m, y), 0.0),
        "c": lambda s=None: (f"{x} -> {y}, direct" + (f" ({s})" if s else ""), per_path(x, y), 0.0),
        "beta0": lambda s: (f"intercept of {y} ({s})", sd_y, loc_y),
        "gamma_m": lambda m, c: (f"{c} -> {m}", per_path(c, m), 0.0),
        "delta": lambda c: (f"{c} -> {y}", per_path(c, y), 0.0),
        "d_edge": lambda e: (arrow(tuple(e.split("->"))), per_path(*e.split("->")), 0.0),
        "sigma_m": lambda m: (f"residual SD of {m}", panel.unit_sd(m), 0.0),
        "sigma_y": lambda: (f"residual SD of {y}", sd_y, 0.0),
        "phi": lambda: (f"dispersion of {y}", 1.0, 0.0),
        "a_between": lambda m: (f"person-mean {x} -> {m}", per_path(x, m), 0.0),
        "c_between": lambda: (f"person-mean {x} -> {y}", per_path(x, y), 0.0),
        "sd_u": lambda m: (f"SD of person intercepts of {m}", panel.unit_sd(m), 0.0),
        "sd_v": lambda: (f"SD of person intercepts of {y}", sd_y, 0.0),
        "sd_slope": lambda k: (f"SD of person slopes {arrow(slope_paths[k])}", per_path(*slope_paths[k]), 0.0),
        "corr_slope": lambda k, j: (
            f"correlation of person slopes {arrow(slope_paths[k])} and {arrow(slope_paths[j])}", 1.0, 0.0),
        "sd_cluster": lambda: (f"SD of cluster intercepts of {y}", sd_y, 0.0),
    }
    for m in spec.mediators:
        if m.family == "ordinal":
            rules[f"cutpoints_{m.name}"] = lambda cut, name=m.name: (
                f"cutpoint of {name} between {cut.split('|')[0]} and {cut.split('|')[1]}", 1.0, 0.0)
    for name, declared in product_terms(spec).items():  # a product's parent is first x second
        by_label = {t.label: t for t in declared}
        rules[name] = lambda label, by_label=by_label: (
            f"{by_label[label].first} x {by_label[label].second} -> {by_label[label].child}",
            float(1.0 / panel.path_scale(by_label[label].first, by_label[label].child, times=by_label[label].second)),
            0.0,
        )
    out = {}
    for name, dims in parameter_dims(spec).items():
        shape = tuple(len(coords[d]) for d in dims)
        desc, mult, add = np.empty(shape, dtype=object), np.empty(shape), np.empty(shape)
        for index in np.ndindex(shape):
            values = [coords[d][i] for d, i in zip(dims, index, strict=True)]
            desc[index], mult[index], add[index] = rules[name](*values)
        out[name] = (desc, mult, add)
    return out


def _summary_elements(
    spec: Spec, names: list[str], dims: Mapping[str, tuple[str, ...]], coords: Mapping[str, list[str]]
) -> list[str]:
    """The element labels ``fit.summary()`` lists, in parameter order.

    Left out: an ordinal mediator's first-stage intercept (fixed at 0 by the translator)
    and the diagonal and upper triangle of ``corr_slope``.
    """
    ordinal = {m.name for m in spec.mediators if m.family == "ordinal"}
    first_stage = spec.stage_levels[0]
    out = []
    for name in names:
        for index in np.ndindex(*(len(coords[d]) for d in dims[name])):
            values = [coords[d][i] for d, i in zip(dims[name], index, strict=True)]
            if name == "alpha_m" and values[0] in ordinal and values[1] == first_stage:
                continue
            if name == "corr_slope" and index[0] <= index[1]:
                continue
            out.append(element_label(name, values))
    return out


class Fit:
    """A fitted mediation model.

    Parameters
    ----------
    posterior : xarray.DataTree
        The sampler's output (groups ``posterior``, ``sample_stats``, ...).
    spec : Spec
    panel : Panel
    priors : mapping of str to Prior
    """

    def __init__(
        self, posterior: xr.DataTree, spec: Spec, panel: Panel, priors: Mapping[str, Prior], *, warn: bool = True
    ) -> None:
        self.posterior = posterior
        self.spec = spec
        self.panel = panel
        self.priors = dict(priors)
        self._params: ParameterSet | None = None
        self._time_fits: dict[int, Any] = {}  # the models over waves, by seed (Fit.trajectories)
        self._checks = self._convergence_checks()
        if warn and not self.converged:
            warnings.warn(self.convergence_message(), ConvergenceWarning, stacklevel=3)

    # ------------------------------------------------------------------ diagnostics
    def parameter_diagnostics(self) -> pd.DataFrame:
        """R-hat, bulk and tail ESS for every population-level parameter element.

        Computed by ``arviz_stats`` (rank-normalised split R-hat, bulk and tail ESS) on
        every posterior variable without person or cluster dims (the stage-pooling
        hyperparameters included); constant elements (a correlation's diagonal) have no
        diagnostics and are left out.

        Returns
        -------
        pandas.DataFrame
            Index ``parameter`` (``a[encouragement, crisis]``); columns ``r_hat``,
            ``ess_bulk``, ``ess_tail``.
        """
        post = self.posterior["posterior"].to_dataset()
        names = _population_vars(post)
        diagnostics = flatten_variables(diagnose(post[names]), sample_dims=("diagnostic",))
        draws = flatten_variables(post[names])
        constant = [
            name for name, d in diagnostics.data_vars.items()
            if np.isnan(d.sel(diagnostic="r_hat")) and bool((draws[name] == draws[name].isel(chain=0, draw=0)).all())
        ]
        table = stack_variables(diagnostics.drop_vars(constant), by=(), name="parameter", column="diagnostic")
        table.columns.name = None
        return table

    def _convergence_checks(self) -> pd.DataFrame:
        import arviz_stats as azs

        params = self.parameter_diagnostics()
        stats = self.posterior["sample_stats"].to_dataset()
        divergences = int(stats["diverging"].sum()) if "diverging" in stats else 0
        depth_var = next((v for v in ("maxdepth_reached", "reached_max_treedepth") if v in stats), None)
        depth_hits = int(stats[depth_var].sum()) if depth_var else 0
        e_bfmi = float(azs.bfmi(stats[["energy"]])["energy"].min()) if "energy" in stats else np.nan
        t = CONVERGENCE_THRESHOLDS
        rows = [
            ("max R-hat", float(params["r_hat"].max()), f"<= {t['max_r_hat']}", params["r_hat"].max() <= t["max_r_hat"]),
            ("min ESS bulk", float(params["ess_bulk"].min()), f">= {t['min_ess_bulk']:g}", params["ess_bulk"].min() >= t["min_ess_bulk"]),
            ("min ESS tail", float(params["ess_tail"].min()), f">= {t['min_ess_tail']:g}", params["ess_tail"].min() >= t["min_ess_tail"]),
            ("divergences", float(divergences), f"<= {t['max_divergences']}", divergences <= t["max_divergences"]),
            ("min E-BFMI", e_bfmi, f">= {t['min_e_bfmi']}", bool(np.isnan(e_bfmi) or e_bfmi >= t["min_e_bfmi"])),
            ("tree depth hits", float(depth_hits), f"<= {t['max_tree_depth_hits']}", depth_hits <= t["max_tree_depth_hits"]),
        ]
        table = pd.DataFrame(rows, columns=["check", "value", "threshold", "ok"]).set_index("check")
        table["ok"] = table["ok"].astype(bool)
        return table

    def summary(self, *, scale: str = "both") -> pd.DataFrame:
        """The coefficient table: every population-level parameter, named by the spec.

        One row per parameter element and scale, as ``summary(lm)`` or brms give it: every
        path (``a[encouragement, crisis]``: support -> encouragement in crisis, ``b``,
        ``c``, ``d_edge``), confounder coefficient (``gamma_m``, ``delta[prior_care[yes]]``),
        intercept, cutpoint (``cutpoints_alt_coping[1|2]``), residual and person-effect SD
        and correlation, and declared product term (``b_xm[support:discouragement]``,
        ``a_mod[discouragement|severity]``: support x severity -> discouragement) of the
        model (:func:`carepaths.structural.parameters.parameter_dims`;
        an ordinal mediator's first-stage intercept is fixed at 0 and not listed, the
        stage-pooling hyperparameters are in :meth:`parameter_diagnostics`).

        Scales: ``standardised`` is the model's own (per SD of a standardised continuous
        exposure, normal mediator or numeric confounder, in SDs of a normal mediator or
        outcome); ``original`` is per unit of each variable in its own units, by the rule
        of :meth:`carepaths.Panel.path_scale` (a path is divided by ``sd(parent) /
        sd(child)``, a product term by ``sd(first) sd(second) / sd(child)``; with product
        terms a lower-order path is the path at the other variable's model-scale zero,
        its mean when standardised), SDs times their variable's SD, and a normal variable's intercept its
        mean at the average row (predictors at their means, binary and ordinal mediators
        at 0). Binary, ordinal and count variables keep their link scale (log-odds or
        probit, log-rate), where both scales agree.

        Parameters
        ----------
        scale : {"both", "original", "standardised"}
            Which rows to return.

        Returns
        -------
        pandas.DataFrame
            Index ``(parameter, scale)``; columns ``description`` (the path or term in
            words), ``mean``, ``sd``, ``lower``, ``upper`` (the package interval,
            :mod:`carepaths.intervals`), ``r_hat``, ``ess_bulk``, ``ess_tail`` (by
            ``arviz_stats``; the same on both scales, which are affine transforms of each
            other). ``attrs``: ``interval``, ``converged``.

        Raises
        ------
        CarepathsError
            On an unknown ``scale``.
        """
        if scale not in ("both", "original", "standardised"):
            raise CarepathsError(f"scale must be 'both', 'original' or 'standardised', got {scale!r}.")
        post = self.posterior["posterior"].to_dataset()
        terms = _parameter_terms(self.spec, self.panel)
        names = [n for n in terms if n in post]
        model = post[names]
        dims = {n: model[n].dims[2:] for n in names}
        original = xr.Dataset({
            n: xr.DataArray(terms[n][2], dims=dims[n]) + xr.DataArray(terms[n][1], dims=dims[n]) * model[n]
            for n in names
        })
        keep = _summary_elements(self.spec, names, dims, parameter_coords(self.spec))
        frames = {}
        for label, draws in (("standardised", model), ("original", original)):
            stats = flatten_variables(summarize(draws), sample_dims=("summary",))
            frames[label] = stack_variables(stats[keep], by=(), name="parameter", column="summary")
        diag = flatten_variables(diagnose(model), sample_dims=("diagnostic",))
        diag = stack_variables(diag[keep], by=(), name="parameter", column="diagnostic")
        coords = parameter_coords(self.spec)
        desc = pd.Series({
            element_label(n, [coords[d][i] for d, i in zip(dims[n], idx, strict=True)]): terms[n][0][idx]
            for n in names for idx in np.ndindex(terms[n][0].shape)
        })
        scales = ["standardised", "original"] if scale == "both" else [scale]
        table = pd.concat({s: frames[s] for s in scales}, names=["scale", "parameter"]).swaplevel()
        table = table.loc[[(p, s) for p in keep for s in scales]]
        table.columns.name = None
        table.insert(0, "description", desc.reindex(table.index.get_level_values("parameter")).to_numpy())
        for col in diag.columns:
            table[col] = diag[col].reindex(table.index.get_level_values("parameter")).to_numpy()
        table.attrs.update(interval=interval_label(), converged=self.converged,
                           scales="standardised: the model's scale; original: per unit of each variable")
        return table

    def diagnostics(self) -> pd.DataFrame:
        """The convergence checks: value, threshold and whether each passed.

        Rows: max R-hat, min ESS bulk, min ESS tail (over population-level parameters),
        divergences, min E-BFMI (over chains), tree depth hits. Per-parameter numbers are
        in :meth:`parameter_diagnostics`.
        """
        return self._checks.copy()

    @property
    def converged(self) -> bool:
        """True when every check in :meth:`diagnostics` passed."""
        return bool(self._checks["ok"].all())

    @property
    def convergence_failures(self) -> list[str]:
        """The checks that failed, as readable lines."""
        return [
            f"{check} = {row.value:.4g} (needs {row.threshold})"
            for check, row in self._checks.iterrows()
            if not row.ok
        ]

    def convergence_message(self) -> str:
        """What failed and what usually helps (empty when converged)."""
        if self.converged:
            return ""
        return (
            "THE FIT DID NOT CONVERGE; its numbers are unreliable. Failed: "
            + "; ".join(self.convergence_failures)
            + ". What usually helps: more tuning and draws (tune=2000, draws=2000), a higher "
            "target_accept (0.95) for divergences, more chains, tighter priors on weakly "
            "identified paths, or pool_stages = true when a stage has few rows."
        )

    # ------------------------------------------------------------------ answers
    def parameters(self) -> ParameterSet:
        """The posterior draws translated for the structural equations (computed once)."""
        if self._params is None:
            self._params = ParameterSet.from_draws(self.spec, self.posterior["posterior"].to_dataset())
        return self._params

    def effects(
        self,
        contrast: Contrast | Mapping[str, object] | None = None,
        *,
        scale: str = "difference",
        by: str | None = "stage",
        population: str = "marginal",
        seed: int = 0,
        estimands: list[str] | tuple[str, ...] | None = None,
        at: Mapping[str, list[object]] | None = None,
    ) -> Effects:
        """TE, NDE, NIE and per-mechanism effects by g-computation on every draw.

        See :func:`carepaths.counterfactual.effects.compute_effects` for the parameters
        (``at``: effects at values of a moderator, e.g. ``at={"severity": [5, 15]}``).

        Returns
        -------
        Effects
            ``.draws`` (xarray Dataset), ``.summary()``, ``.proportion_mediated()`` and,
            with ``at``, ``.index_of_moderated_mediation()``.
        """
        return compute_effects(
            self.parameters(), self.panel, contrast, scale=scale, by=by, population=population, seed=seed,
            estimands=estimands, at=at, warning=self.convergence_message(),
        )

    def fourway(
        self,
        *,
        mediator: str | None = None,
        mstar: object = None,
        contrast: Contrast | Mapping[str, object] | None = None,
        by: str | None = "stage",
        population: str = "marginal",
        seed: int = 0,
    ) -> FourWay:
        """VanderWeele's four-way decomposition: CDE, INT_ref, INT_med and PIE, by stage.

        See :mod:`carepaths.counterfactual.fourway` and
        :func:`~carepaths.counterfactual.fourway.compute_fourway` (``mediator``: the one
        mediator, needed with several; ``mstar``: its value in the controlled direct
        effect, in its units).

        Returns
        -------
        FourWay
        """
        _, x0, x1, label = exposure_pair(self.panel, exposure_contrast(self.spec, contrast))
        return compute_fourway(
            self.parameters(), self.panel, x0, x1, label, mediator=mediator, mstar=mstar, by=by,
            population=population, seed=seed, warning=self.convergence_message(),
        )

    def sensitivity(
        self,
        *,
        rho: Sequence[float] | None = None,
        mediator: str | None = None,
        weights: Mapping[str, float] | None = None,
        contrast: Contrast | Mapping[str, object] | None = None,
        by: str | None = "stage",
        population: str = "marginal",
        seed: int = 0,
    ) -> Sensitivity:
        """Every effect as a function of unmeasured mediator-outcome confounding, without refitting.

        Imai, Keele & Yamamoto's ``rho`` (the correlation of a mediator's error with the
        outcome's, 0 under sequential ignorability), on every posterior draw and by stage.
        See :mod:`carepaths.counterfactual.sensitivity` and
        :func:`~carepaths.counterfactual.sensitivity.compute_sensitivity`.

        Parameters
        ----------
        rho : sequence of float, optional
            Correlations in (-1, 1); default -0.9 to 0.9 in 21 steps.
        mediator : str, optional
            The mediator whose error is correlated with the outcome's; ``"all"`` for all
            with the same rho. Needed with several mediators unless ``weights`` is given.
        weights : dict, optional
            ``rho_k = weights[k] * rho``: a stated structure over several mediators.
        contrast, by, population, seed
            As in :meth:`effects`; ``rho = 0`` reproduces ``effects()`` with the same seed.

        Returns
        -------
        Sensitivity
            ``.summary()``, ``.crossings()`` (where each effect reaches 0, with the R-squared
            products), ``.evalues`` and ``.plot()``.
        """
        _, x0, x1, label = exposure_pair(self.panel, exposure_contrast(self.spec, contrast))
        return compute_sensitivity(
            self.parameters(), self.panel, x0, x1, label, rho=rho, mediator=mediator, weights=weights, by=by,
            population=population, seed=seed, warning=self.convergence_message(),
        )

    def check(self, *, seed: int = 0, draws: int | None = None, loo: str | None = None) -> Checks:
        """Posterior predictive checks by stage, LOO and LOO-PIT.

        See :func:`carepaths.checks.predictive.compute_checks` and the module docstring
        of :mod:`carepaths.checks.predictive` for the statistics, p-values and flags.

        Parameters
        ----------
        seed : int
            Seed of the replication noise (an integer >= 0; default 0, as
            :meth:`effects` has): the same fit and seed give the same numbers.
        draws : int, optional
            Posterior draws per chain to use (evenly thinned); default all. At least
            :data:`carepaths.checks.predictive.MIN_CHECK_DRAWS` (40) in all, over chains.
        loo : {"person", "row"}, optional
            What PSIS-LOO leaves out: every wave of one person (default when the spec has
            a person column) or one row (person-wave); see :mod:`carepaths.checks.loo`.

        Returns
        -------
        Checks
            ``.table()``, ``.flagged``, ``.loo_summary()``, the replicated data and plots.

        Raises
        ------
        CarepathsError
            On a bad ``seed``, ``draws`` or ``loo``, too few draws for LOO and the
            intervals, or so many that the replicates would exceed
            ``carepaths.checks.predictive.MAX_REPLICATE_BYTES`` (8 GiB; at 100,000
            persons x 4 waves pass ``draws=50``); the message says how many.
        """
        check_seed(seed)
        loo = check_loo(self.spec, loo)
        post = self.posterior["posterior"].to_dataset()
        post = post.isel(draw=thin(post.sizes["draw"], draws, "posterior draws per chain"))
        check_draws(post.sizes["chain"], post.sizes["draw"])
        check_memory(self.panel.n_obs, len(self.spec.mediators), post.sizes["chain"], post.sizes["draw"])
        params = ParameterSet.from_draws(self.spec, post)
        return compute_checks(params, self.panel, post, seed=seed, warning=self.convergence_message(), loo=loo)

    def compare(
        self,
        interventions: list[object],
        *,
        population: str = "marginal",
        seed: int = 0,
        better: str = "higher",
    ) -> Comparison:
        """Compare interventions with the status quo per stage, on every posterior draw.

        See :func:`carepaths.counterfactual.comparison.compare` for the parameters.

        Returns
        -------
        Comparison
            ``.summary()``, ``.draws``, ``.plot()``.
        """
        return compare(
            self.parameters(), self.panel, interventions, population=population, seed=seed, better=better,
            warning=self.convergence_message(),
        )

    def trajectories(
        self, interventions: Any, *, waves: int | None = None, decompose: bool = False, time_fit: Any = None,
        draws: int = 200, seed: int = 0,
    ) -> Any:
        """Care trajectories over waves under sustained or dynamic interventions (the g-formula).

        The parametric g-formula on posterior draws (spec ``[time]``): every panel person
        is simulated forward from their first wave's stage and confounders through the
        waves, under the natural course and each intervention, with the per-wave
        equations of this fit and the models over waves (stage transitions, time-varying
        confounders, the exposure's natural course; :mod:`carepaths.model.time_model`).

        Parameters
        ----------
        interventions : Intervention or list
            On the exposure or a mediator, optionally ``from_wave`` and in some ``stages``
            (dynamic: in the waves a person is in them).
        waves : int, optional
            Waves to follow each person through, from their first (default: the most
            waves any panel person has). More than the panel has extrapolates: the
            fitted equations are assumed to hold on, and each person's exogenous
            confounders are carried forward from their last observed wave.
        decompose : bool
            Also split each intervention's effect on care use by mechanism, wave by wave
            (interventional effects, :mod:`carepaths.counterfactual.mechanisms_over_waves`;
            ``.mechanisms()``). Interventions on the exposure only.
        time_fit : TimeFit, optional
            The models over waves (:func:`carepaths.model.time_model.fit_time_model`);
            fitted here with ``seed`` when not given, once per seed (kept on the fit).
        draws : int
            Posterior samples used (evenly spaced).
        seed : int

        Returns
        -------
        Trajectories
            ``.summary()`` (care use, its differences from the natural course, continuation
            and cumulative waves in care, by world and wave), ``.mechanisms()`` with
            ``decompose`` and ``.draws``.
        """
        from carepaths.causal.waves import check_sequential_exchangeability
        from carepaths.counterfactual.interventions import validate_over_waves
        from carepaths.counterfactual.mechanisms_over_waves import check_decomposable
        from carepaths.counterfactual.trajectories import posterior_trajectories
        from carepaths.model.time_model import fit_time_model

        if self.spec.time is None:
            raise CarepathsError(
                "trajectories need a spec with a [time] table (lags, time-varying confounders, a stage-transition "
                "model): add one (docs/trajectories.md), validate the panel with it and fit again."
            )
        categorical = [c.name for c in self.spec.confounders if c.kind == "categorical" and c.name in self.spec.time.lags]
        if categorical:
            raise CarepathsError(
                f"trajectories do not follow the lag of a categorical confounder yet ({', '.join(categorical)} in "
                "time.lags; the panel centres its indicators, which the forward simulation does not undo): remove "
                "it from time.lags to run the g-formula."
            )
        check_sequential_exchangeability(self.spec)
        entries = validate_over_waves(self.spec, interventions)
        if isinstance(draws, bool) or not isinstance(draws, int | np.integer) or draws < 2:
            raise CarepathsError(f"draws must be an integer of at least 2 (posterior samples used), got {draws!r}.")
        check_seed(seed)
        if waves is not None and (isinstance(waves, bool) or not isinstance(waves, int | np.integer) or waves < 1):
            raise CarepathsError(f"waves must be a positive integer (waves to follow each person through), got "
                                 f"{waves!r}; leave it out for the panel's number of waves.")
        if decompose:
            check_decomposable(self.spec, entries)
        n_waves = int(np.bincount(self.panel.dataset["person_idx"].values).max()) if waves is None else waves
        late = [(label, iv.from_wave) for label, parts in entries for iv in parts
                if iv.from_wave is not None and iv.from_wave > n_waves]
        if late:
            raise CarepathsError(
                f"intervention {late[0][0]!r} starts at wave {late[0][1]}, after the last wave followed ({n_waves}): "
                "it would change nothing. Start it earlier, or follow more waves (waves=...)."
            )
        if time_fit is None:  # fitted once per seed and kept: a second call samples nothing again
            if seed not in self._time_fits:
                self._time_fits[seed] = fit_time_model(self.spec, self.panel, seed=seed)
            time_fit = self._time_fits[seed]
        params = self.parameters()
        n = min(params.chains * params.draws, time_fit.n_samples)
        samples = np.unique(np.linspace(0, n - 1, min(int(draws), n)).round().astype(int))
        return posterior_trajectories(self.spec, self.panel, params, time_fit.sample, entries, samples=samples,
                                      seed=seed, converged=self.converged and time_fit.converged,
                                      waves=None if waves is None else int(waves), decompose=bool(decompose))

    # ------------------------------------------------------------------ save / load
    def save(self, path: str | Path) -> Path:
        """Write the fit to a netCDF file (no pickle), atomically.

        The DataTree is written as is, with the panel's validated frame and the rows
        dropped at validation (``Panel.dropped``) in groups of their own, and the spec and
        priors as JSON in the root attributes, with a format version and the spec's hash.
        :func:`load_fit` reads it back exactly. The file is written to a temporary file
        beside ``path`` and renamed over it only once complete
        (:func:`carepaths.files.atomic_write`): a crash or a full disk during the write
        leaves an earlier file at ``path`` untouched.

        Raises
        ------
        CarepathsError
            If ``path`` is a directory, its folder is missing or read-only, or the write
            fails (the message says why; an earlier file is left as it was).
        """
        target = check_output_file(path, what="fit file")
        tree = self.posterior.copy()
        tree[_PANEL_GROUP] = xr.DataTree(_frame_to_dataset(self.panel.frame))
        tree[_DROPPED_GROUP] = xr.DataTree(_frame_to_dataset(self.panel.dropped))
        tree.attrs = {
            **{k: v for k, v in tree.attrs.items() if isinstance(v, str | int | float)},
            "carepaths_format_version": FORMAT_VERSION,
            "carepaths_spec": json.dumps(self.spec.to_dict()),
            "carepaths_spec_hash": spec_hash(self.spec),
            "carepaths_priors": json.dumps({k: p.to_dict() for k, p in self.priors.items()}),
            # how Panel.from_frame treated missing values: load_fit validates the frame the same way
            "carepaths_missing_values": self.panel.missing_mode,
        }
        try:
            with atomic_write(target, what="fit file") as tmp:
                tree.to_netcdf(tmp, engine="h5netcdf")
        except OSError as err:
            raise CarepathsError(
                f"could not write the fit to {shorten(str(target))}: {err.strerror or err}. "
                "Any earlier file there is unchanged; free disk space or choose another path."
            ) from None
        return target

    def __repr__(self) -> str:
        post = self.posterior["posterior"]
        status = "converged" if self.converged else "NOT CONVERGED"
        return (
            f"<Fit {self.spec.name or '(unnamed)'}: {post.sizes['chain']} chains x "
            f"{post.sizes['draw']} draws, {status}>"
        )


def _frame_to_dataset(frame: pd.DataFrame) -> xr.Dataset:
    """A DataFrame as a netCDF-safe Dataset that :func:`_dataset_to_frame` inverts exactly.

    Numeric and boolean columns are kept with their dtype; text columns are stored as
    strings with a mask of their missing values; the index (the user's row labels) is kept
    as integers when it is, else as strings.
    """
    data: dict[str, tuple[str, np.ndarray]] = {}
    kinds: dict[str, str] = {}
    for col in frame.columns:
        series = frame[col]
        if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            data[str(col)] = ("row", series.to_numpy())
            kinds[str(col)] = str(series.dtype)
        else:
            missing = series.isna().to_numpy()
            data[str(col)] = ("row", np.where(missing, "", series.astype(str)).astype(str))
            data[f"{_MISSING_PREFIX}{col}"] = ("row", missing)
            kinds[str(col)] = "text"
    index = frame.index
    integer_index = pd.api.types.is_integer_dtype(index)
    labels = np.asarray(index) if integer_index else index.astype(str).to_numpy(str)
    ds = xr.Dataset({k: (_ROW, v) for k, (_, v) in data.items()}, coords={_ROW: labels})
    ds.attrs["carepaths_column_kinds"] = json.dumps(kinds)
    ds.attrs["carepaths_columns"] = json.dumps([str(c) for c in frame.columns])
    ds.attrs["carepaths_index"] = "integer" if integer_index else "text"
    return ds


def _dataset_to_frame(ds: xr.Dataset) -> pd.DataFrame:
    """Inverse of :func:`_frame_to_dataset`."""
    kinds = json.loads(ds.attrs["carepaths_column_kinds"])
    columns = json.loads(ds.attrs["carepaths_columns"])
    index_values = ds[_ROW].values
    index = pd.Index(index_values.astype(object) if ds.attrs.get("carepaths_index") == "text" else index_values)
    out = {}
    for col in columns:
        values = ds[col].values
        if kinds[col] == "text":
            series = pd.Series(values.astype(object), index=index)
            out[col] = series.mask(ds[f"{_MISSING_PREFIX}{col}"].values.astype(bool), None)
        else:
            out[col] = pd.Series(values, index=index).astype(kinds[col])
    return pd.DataFrame(out, index=index, columns=columns)


def load_fit(path: str | Path) -> Fit:
    """Read a fit written by :meth:`Fit.save`.

    Raises
    ------
    CarepathsError
        If the path is missing or a directory, the file is not a readable netCDF file
        (truncated, damaged), was not written by carepaths, has an unknown format
        version, or its stored spec, priors or data were edited (the spec's hash, the
        JSON or the data no longer check out). The message names the file and what to do.
    """
    path = check_input_file(path, what="fit file")
    shown = shorten(str(path))
    try:
        tree = xr.open_datatree(path, engine="h5netcdf").load()
        tree.close()
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CarepathsError(
            f"fit file {shown} cannot be read as netCDF ({type(err).__name__}): it is truncated, "
            "damaged or not a carepaths fit file. Save the fit again (fit.save) or refit."
        ) from None
    attrs = tree.attrs
    version = attrs.get("carepaths_format_version")
    if version is None:
        raise CarepathsError(f"{shown} was not written by carepaths (no carepaths_format_version attribute).")
    try:
        version = int(version)
    except (TypeError, ValueError):
        raise CarepathsError(f"{shown}: carepaths_format_version {version!r} is not a number; the file was edited.") from None
    if version not in (1, FORMAT_VERSION):
        raise CarepathsError(
            f"{shown} has carepaths format version {version}; this carepaths reads versions 1 "
            f"to {FORMAT_VERSION}. Use the carepaths release that wrote it."
        )
    try:
        spec = Spec.from_dict(json.loads(attrs["carepaths_spec"]))
    except (KeyError, TypeError, json.JSONDecodeError) as err:
        raise CarepathsError(f"{shown}: the stored spec (carepaths_spec) is missing or not JSON ({err}); the file was edited or damaged.") from None
    except CarepathsError as err:
        raise CarepathsError(f"{shown}: the stored spec is not valid ({err}); the file was edited.") from None
    if spec_hash(spec) != attrs.get("carepaths_spec_hash"):
        raise CarepathsError(
            f"{shown}: the stored spec does not match its hash; the file was modified "
            "or corrupted. Refit and save again."
        )
    try:
        priors = {k: Prior.from_dict(v) for k, v in json.loads(attrs["carepaths_priors"]).items()}
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as err:
        raise CarepathsError(f"{shown}: the stored priors (carepaths_priors) are missing or not JSON ({err}); the file was edited.") from None
    except CarepathsError as err:
        raise CarepathsError(f"{shown}: a stored prior is not valid ({err}); the file was edited.") from None
    for group in (_PANEL_GROUP, "posterior", "sample_stats"):
        if group not in tree.children:
            raise CarepathsError(f"{shown} has no {group!r} group; it is not a complete carepaths fit. Refit and save again.")
    try:
        frame = _panel_frame(tree[_PANEL_GROUP].to_dataset(), version)
        dropped = (_dataset_to_frame(tree[_DROPPED_GROUP].to_dataset()) if _DROPPED_GROUP in tree.children
                   else frame.iloc[0:0])
    except (KeyError, ValueError, TypeError, json.JSONDecodeError) as err:
        raise CarepathsError(f"{shown}: the stored data cannot be read back ({type(err).__name__}: {err}); the file was edited or damaged.") from None
    try:
        # "model" keeps the missing outcomes and mediators in the frame (files before it: none)
        mode = "model" if attrs.get("carepaths_missing_values") == "model" else None
        panel = Panel.from_frame(frame, spec, missing=mode)
    except CarepathsError as err:
        raise CarepathsError(f"{shown}: the stored data do not validate against the stored spec ({err}); the file was edited.") from None
    panel.dropped = dropped
    posterior = tree.copy()
    for group in (_PANEL_GROUP, _DROPPED_GROUP):
        if group in posterior.children:
            del posterior[group]
    if version == 1:
        renamed = posterior["posterior"].to_dataset()
        renamed = renamed.rename({k: v for k, v in _RENAMED_IN_2.items() if k in renamed})
        posterior["posterior"] = xr.DataTree(renamed)
    posterior.attrs = {k: v for k, v in attrs.items() if not k.startswith("carepaths_")}
    try:
        return Fit(posterior=posterior, spec=spec, panel=panel, priors=priors)
    except (KeyError, ValueError) as err:
        raise CarepathsError(f"{shown}: the stored draws do not match the spec ({type(err).__name__}: {err}); the file was edited.") from None


def _panel_frame(ds: xr.Dataset, version: int) -> pd.DataFrame:
    """The validated frame stored by :meth:`Fit.save` (format 1 stored text columns as plain strings)."""
    if "carepaths_column_kinds" in ds.attrs:
        return _dataset_to_frame(ds)
    frame = pd.DataFrame({col: ds[col].values for col in ds.data_vars}, index=pd.Index(ds["row"].values))  # format 1
    for col in frame.columns:
        if frame[col].dtype.kind == "U":
            frame[col] = frame[col].astype(object)
    return frame
