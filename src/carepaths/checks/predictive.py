"""Prior and posterior predictive checks by stage, LOO and LOO-PIT.

:meth:`carepaths.Fit.check` (posterior, :func:`compute_checks`) and
:meth:`carepaths.MediationModel.prior_check` (prior, :func:`prior_check`) replicate, on
every parameter draw, the whole panel — every
mediator, then the outcome — from the structural equations (:mod:`carepaths.structural.equations`,
the one home of the model) for the observed persons, at the observed exposures,
confounders, stages and waves, and compare summary statistics of the replicates with
the same statistics of the data.

Replicated data
---------------
The replicates come from the population sampler's ``"replicate"`` population
(:mod:`carepaths.counterfactual.population`): the observed persons, at their observed
exposures, confounders, stages and waves, with fresh latent noise.

* Posterior check: population parameters, the outcome's person (and cluster) intercepts
  and any explicit mediator intercepts or random slopes come from the posterior draw.
  The person intercepts u of *normal* mediators are integrated out of the fitted model
  (``person_effects = "intercepts"``), so each draw's u is drawn from its exact
  conditional posterior given the data and that draw's parameters
  (:func:`carepaths.counterfactual.population.draw_person_intercepts`).
* Prior check: parameters and person effects drawn from the prior
  (``pymc.sample_prior_predictive`` of the free variables, without the data).

Statistics
----------
All in original units; ``stage = "all"`` pools the stages and ``wave = "all"`` the waves.

* ``mean``: mean of the variable (for a binary outcome, the care-use rate) per stage;
  for the outcome also per wave;
* ``sd``: SD of a normal or ordinal variable per stage;
* ``dispersion``: variance / mean of a count outcome per stage (1 for a Poisson);
* ``zeros``: share of zeros of a count outcome per stage;
* ``exposure_slope``: least-squares slope of the outcome on the exposure (model scale:
  per SD of a continuous exposure) within each stage — the observed total association,
  which differs between stages when the paths do;
* ``between_person``: SD over persons of each person's mean outcome.

Each statistic T gets the observed value, the mean and the package interval
(:mod:`carepaths.intervals`) of its replicated values, the predictive p-value
``P(T_rep >= T_obs)`` and a flag when the p-value falls in either tail beyond the
interval's: below :data:`FLAG_TAIL` or above ``1 - FLAG_TAIL`` (two-sided, 0.025 and
0.975 for the 95% interval) — the observed value then lies outside the predictive
interval. With dozens of statistics a few flags are expected by chance under a prior
check; posterior predictive p-values of statistics the model fits directly (stage means)
sit near 0.5 by construction, so a flag there is a strong signal.

LOO
---
PSIS-LOO and LOO-PIT of the outcome: :mod:`carepaths.checks.loo` (leave-one-person-out
for a panel by default, randomised PIT for a discrete outcome).

Draws
-----
A posterior check needs at least :data:`MIN_CHECK_DRAWS` (40) draws in all: PSIS fits a
Pareto tail to the largest fifth of the importance ratios and needs 5 of them (25
draws), and the flag rule's 2.5% tails need a draw each (1 / 0.025 = 40 draws).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from carepaths.checks.loo import LOO_UNITS, PARETO_K_LIMIT, outcome_loglik, psis_loo
from carepaths.counterfactual.population import Chunk, RowData, map_chunks
from carepaths.data import Panel
from carepaths.exceptions import CarepathsError, ConvergenceWarning, ParetoKWarning
from carepaths.intervals import INTERVAL_PROB, interval_label
from carepaths.results import Result, check_choice, check_seed, select_check_rows, summarize
from carepaths.spec import Spec
from carepaths.structural import equations
from carepaths.structural.parameters import ParameterSet

__all__ = [
    "Checks",
    "compute_checks",
    "prior_check",
    "replicate_values",
    "FLAG_TAIL",
    "PARETO_K_LIMIT",
    "MIN_CHECK_DRAWS",
    "LOO_UNITS",
    "check_seed",
    "check_draws",
    "default_loo",
    "STATISTICS",
    "select_rows",
    "statistic_draws",
]

FLAG_TAIL = (1.0 - INTERVAL_PROB) / 2.0
#: The fewest posterior draws (chains x draws) a posterior check accepts: PSIS-LOO's
#: Pareto tail is the largest fifth of the draws and needs 5 (25 draws), and each 2.5%
#: tail of the flag rule needs one draw (1 / 0.025 = 40).
MIN_CHECK_DRAWS = max(25, int(np.ceil(1.0 / FLAG_TAIL - 1e-9)))
ALL = "all"
STATISTICS = ("mean", "sd", "dispersion", "zeros", "exposure_slope", "between_person")


# ----------------------------------------------------------------------------- result
@dataclass(frozen=True, repr=False)
class Checks(Result):
    """Predictive checks of a model against its data.

    A :class:`~carepaths.results.Result`: ``.summary()`` (= :meth:`table`),
    ``.to_frame()``, ``.plot()`` (the per-stage panels) and a repr that says NOT
    CONVERGED when the posterior comes from a fit that did not converge.

    Attributes
    ----------
    kind : {"posterior", "prior"}
        Which predictive distribution the replicates come from.
    observed : pandas.Series
        The observed value of every statistic, indexed like :meth:`table`.
    draws : xarray.DataArray
        The replicated value of every statistic (dims ``check``, ``sample``; the
        ``check`` coordinate holds ``variable``, ``statistic``, ``stage``, ``wave``).
    replicated : xarray.DataTree
        The replicated data in original units: group ``posterior_predictive`` (or
        ``prior_predictive``) with the outcome and every mediator (chain, draw, obs) and
        group ``observed_data`` (obs); ``stage`` and ``person`` are coordinates on
        ``obs``; the attribute ``stages`` lists the stages in the spec's order.
    loo : object or None
        ArviZ's PSIS-LOO result of the outcome (posterior checks only), pointwise.
    loo_data : xarray.DataTree or None
        What LOO and LOO-PIT were computed from: ``posterior``, ``log_likelihood``,
        ``posterior_predictive`` (outcome replicates at the observed mediators) and
        ``observed_data``, for the outcome (model scale for counts and binaries, original
        units for a normal outcome); and ``loo_pointwise``: each row's ``loo_pit`` and
        ``pareto_k``, with its ``stage``.
    loo_pit : xarray.DataArray or None
        LOO-PIT value of every row (obs), as :func:`carepaths.figures.plot_loo_pit` plots it.
    outcome, exposure : str
        Variable names.
    warning : str
        Convergence or Pareto-k warnings, empty when there are none.
    converged : bool
        False when the posterior comes from a fit that did not converge (a prior check
        has no fit: True).
    """

    kind: str
    observed: pd.Series
    draws: xr.DataArray
    replicated: xr.DataTree
    outcome: str
    exposure: str
    loo: Any = None
    loo_data: xr.DataTree | None = None
    loo_pit: xr.DataArray | None = None
    warning: str = ""
    converged: bool = True
    _table: pd.DataFrame = field(default=None, repr=False)  # type: ignore[assignment]

    sample_dims: ClassVar[tuple[str, ...]] = ("sample",)
    frame_columns: ClassVar[dict[str, str]] = {"mean": "predictive_mean"}

    def table(self) -> pd.DataFrame:
        """One row per statistic: observed, predictive mean and interval, p-value, flag.

        Index ``(variable, statistic, stage, wave)``, without ``stage`` when the spec has
        no stages and without ``wave`` when the data have no waves (a level that would
        read ``all`` on every row); columns ``observed``, ``mean``, ``lower``, ``upper``
        (the package interval of the replicated statistic, by ``arviz_stats.summary``),
        ``p_value`` (``P(T_rep >= T_obs)``) and ``flag`` (p-value below
        :data:`FLAG_TAIL` or above ``1 - FLAG_TAIL``). ``attrs`` say the interval, the
        flag rule, the kind of check and the outcome.
        """
        table = self._table.copy()
        idle = [level for level in ("stage", "wave") if (table.index.get_level_values(level) == ALL).all()]
        return table.droplevel(idle) if idle else table

    def summary(self) -> pd.DataFrame:
        """The check table, :meth:`table` (the name every result shares)."""
        return self.table()

    def to_frame(self) -> pd.DataFrame:
        """The check table as a tidy table: one row per statistic.

        Returns
        -------
        pandas.DataFrame
            Columns ``variable``, ``statistic``, ``stage`` and ``wave`` (as in
            :meth:`table`: not when every row would read ``all``), ``observed``,
            ``predictive_mean``, ``lower``, ``upper`` (the package interval of the
            replicated statistic), ``p_value``, ``flag``.
        """
        return super().to_frame()

    @property
    def flagged(self) -> pd.DataFrame:
        """The rows of :meth:`table` whose predictive p-value is extreme."""
        table = self.table()
        return table[table["flag"]]

    @property
    def loo_unit(self) -> str | None:
        """What the LOO leaves out: ``"person"`` or ``"row"`` (None for a prior check)."""
        if self.loo_data is None or "loo_pointwise" not in self.loo_data.children:
            return None
        return str(self.loo_data["loo_pointwise"].attrs.get("loo", "row"))

    def loo_summary(self) -> pd.Series:
        """elpd, its SE, p_loo, what was left out and how many, rows, samples and Pareto-k counts.

        PSIS-LOO leaves out one person (all their waves; the default for a panel) or one
        row (person-wave), and the summary says which: the count of left-out units is
        ``n_persons_left_out`` or ``n_rows_left_out``, the Series' name is
        ``"leave-one-person-out"`` or ``"leave-one-row-out"`` and ``attrs["loo"]`` is
        ``"person"`` or ``"row"`` (:attr:`loo_unit`). ``n_obs`` counts the rows.
        ``n_k_over_0.7`` counts units with Pareto k > 0.7 (unreliable importance
        sampling for those units); ``good_k`` is ArviZ's sample-size dependent threshold.

        Raises
        ------
        CarepathsError
            For a prior check (LOO needs a posterior).
        """
        if self.loo is None:
            raise CarepathsError("a prior check has no LOO: run fit.check() on a fitted model.")
        k = np.asarray(self.loo.pareto_k).reshape(-1)
        unit = self.loo_unit or "row"
        summary = pd.Series({
            "elpd_loo": float(self.loo.elpd), "se": float(self.loo.se), "p_loo": float(self.loo.p),
            f"n_{unit}s_left_out": int(self.loo.n_data_points), "n_obs": int(self.observed_rows),
            "n_samples": int(self.loo.n_samples), "good_k": float(self.loo.good_k),
            f"n_k_over_{PARETO_K_LIMIT}": int((k > PARETO_K_LIMIT).sum()), "max_k": float(np.nanmax(k)),
        }, name=f"leave-one-{unit}-out")
        summary.attrs["loo"] = unit
        return summary

    @property
    def observed_rows(self) -> int:
        """The number of rows (person-waves) of the data checked."""
        return int(self.replicated["observed_data"].sizes["obs"])

    def select_rows(
        self, *, variable: str | None = None, statistics: Sequence[str] | None = None,
        stages: Sequence[str] | None = None, wave: str = ALL,
    ) -> pd.DataFrame:
        """Rows of :meth:`table` for one variable: see :func:`select_rows`."""
        return select_rows(self, variable=variable, statistics=statistics, stages=stages, wave=wave)

    def statistic_draws(self, *, variable: str, statistic: str, stage: str, wave: str = ALL) -> np.ndarray:
        """The replicated values of one statistic: see :func:`statistic_draws`."""
        return statistic_draws(self, variable=variable, statistic=statistic, stage=stage, wave=wave)

    # figures: thin delegates to carepaths.figures, which take the data (keyword-only, each returns a Figure)
    def plot(self, **kwargs: Any) -> Any:
        """The main figure, the per-stage panels: :meth:`plot_stages`."""
        return self.plot_stages(**kwargs)

    def plot_stages(self, **kwargs: Any) -> Any:
        """Per-stage panels: see :func:`carepaths.figures.plot_stage_checks`."""
        from carepaths.figures import plot_stage_checks

        return plot_stage_checks(table=self._table, draws=self.draws, **kwargs)

    def plot_ppc(self, **kwargs: Any) -> Any:
        """Replicated vs observed distributions: see :func:`carepaths.figures.plot_ppc_dist`."""
        from carepaths.figures import plot_ppc_dist

        return plot_ppc_dist(replicated=self.replicated, **kwargs)

    def plot_loo_pit(self, **kwargs: Any) -> Any:
        """LOO-PIT ECDF: see :func:`carepaths.figures.plot_loo_pit`.

        Raises
        ------
        CarepathsError
            For a prior check (no LOO).
        """
        from carepaths.figures import plot_loo_pit

        return plot_loo_pit(loo_data=self.loo_data, **kwargs)

    def _describe(self) -> str:
        return (
            f"{self.kind} predictive: {len(self._table)} statistics, {int(self._table['flag'].sum())} "
            f"flagged (p < {FLAG_TAIL:g} or > {1 - FLAG_TAIL:g}), {self.draws.sizes['sample']} draws"
        )


# ----------------------------------------------------------------------------- entry points
def compute_checks(
    params: ParameterSet, panel: Panel, posterior: xr.Dataset, *, seed: int, warning: str = "",
    loo: str | None = None,
) -> Checks:
    """Posterior predictive checks by stage, LOO and LOO-PIT.

    :meth:`carepaths.Fit.check` calls this with the fit's (thinned) posterior.

    Parameters
    ----------
    params : ParameterSet
        The posterior draws, translated (``ParameterSet.from_draws(spec, posterior)``).
    panel : Panel
        The data the model was fitted to.
    posterior : xarray.Dataset
        The same draws as the model's variables (the ``posterior`` group LOO reports).
    seed : int
        Seed of the replication noise (and of the LOO-PIT's tie-breaking); the same draws
        and seed give the same numbers.
    warning : str
        Why the draws are not to be trusted (the fit did not converge), or empty.
    loo : {"person", "row"}, optional
        What PSIS-LOO leaves out (:mod:`carepaths.checks.loo`); default
        :func:`default_loo` (``"person"`` when the spec has a person column).

    Returns
    -------
    Checks

    Raises
    ------
    CarepathsError
        On a bad seed or ``loo``, or fewer than :data:`MIN_CHECK_DRAWS` draws.

    Warns
    -----
    ConvergenceWarning
        When ``warning`` is not empty (the checks are then unreliable too).
    ParetoKWarning
        When some persons (or rows) have Pareto k > 0.7.
    """
    check_seed(seed)
    loo = check_loo(panel.spec, loo)
    check_draws(params.chains, params.draws)
    check_memory(panel.n_obs, len(panel.spec.mediators), params.chains, params.draws)
    rep = _replicate(params, panel, np.random.default_rng(seed), with_loglik=True)
    messages = []
    if warning:
        message = "These checks come from a fit that did NOT converge: " + warning
        warnings.warn(message, ConvergenceWarning, stacklevel=3)
        messages.append(message)
    assert rep.loglik is not None and rep.Y_at_observed_m is not None
    loo_result, loo_data, loo_pit, k_message = psis_loo(
        panel, posterior, rep.loglik, rep.Y_at_observed_m, unit=loo, seed=seed, person_loglik=rep.person_loglik,
    )
    if k_message:
        warnings.warn(k_message, ParetoKWarning, stacklevel=3)
        messages.append(k_message)
    return _assemble("posterior", panel, params, rep, loo=loo_result, loo_data=loo_data,
                     loo_pit=loo_pit, warning=" ".join(messages), converged=not warning)


def prior_check(params: ParameterSet, panel: Panel, *, seed: int) -> Checks:
    """Prior predictive checks by stage.

    :meth:`carepaths.MediationModel.prior_check` calls this with prior draws.

    Parameters
    ----------
    params : ParameterSet
        Prior draws of the model's variables, translated.
    panel : Panel
        The data to compare the replicates with.
    seed : int
        Seed of the replication noise.

    Returns
    -------
    Checks
        Without LOO (there is no posterior).
    """
    check_seed(seed)
    rep = _replicate(params, panel, np.random.default_rng(seed), with_loglik=False)
    return _assemble("prior", panel, params, rep)


def replicate_values(params: ParameterSet, panel: Panel, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Mediators and outcome replicated from the structural equations, on the model's scale.

    The replicates of the checks (the observed persons at their exposures, confounders,
    stages and waves, with fresh noise); for prior draws, the model's own prior predictive
    data, which the simulation-based calibration of :mod:`carepaths.studies` fits.

    Parameters
    ----------
    params : ParameterSet
        Parameter draws (prior draws hold their persons' effects).
    panel : Panel
    seed : int
        Seed of the replication noise.

    Returns
    -------
    M : numpy.ndarray
        (rows, mediators, samples), on the model's scale (:meth:`carepaths.Panel.with_model_values`).
    Y : numpy.ndarray
        (rows, samples).
    """
    check_seed(seed)
    rep = _replicate(params, panel, np.random.default_rng(seed), with_loglik=False)
    return rep.M, rep.Y


def default_loo(spec: Spec) -> str:
    """What PSIS-LOO leaves out by default: ``"person"`` for a panel, else ``"row"``."""
    return "person" if spec.columns.person is not None else "row"


def check_loo(spec: Spec, loo: Any) -> str:
    """The LOO unit to use (:func:`default_loo` for None), checked against the spec."""
    if loo is None:
        return default_loo(spec)
    check_choice(loo, "loo", LOO_UNITS)
    if loo == "person" and spec.columns.person is None:
        raise CarepathsError(
            "loo='person' needs a person column (columns.person in the spec); without one each "
            "row is its own person: use loo='row'."
        )
    return loo


#: The most memory a posterior check's replicates may take before it is refused up front
#: (it would otherwise fail, or swap, after minutes of work): the replicated outcome, every
#: mediator, the outcome at the observed mediators and the log-likelihood, 8 bytes each,
#: about twice over while the result is assembled.
MAX_REPLICATE_BYTES = 8 * 2**30


def replicate_bytes(n_rows: int, n_mediators: int, samples: int) -> int:
    """Memory of a check's replicates: rows x samples x (mediators + 3) x 8 bytes, twice."""
    return 2 * int(n_rows) * int(samples) * (int(n_mediators) + 3) * 8


def check_memory(n_rows: int, n_mediators: int, chains: int, draws: int) -> None:
    """Refuse, before any work, a check whose replicates exceed ``MAX_REPLICATE_BYTES``."""
    need = replicate_bytes(n_rows, n_mediators, chains * draws)
    if need > MAX_REPLICATE_BYTES:
        per_draw = replicate_bytes(n_rows, n_mediators, chains)
        fit_in = max(int(MAX_REPLICATE_BYTES // per_draw), 1)
        raise CarepathsError(
            f"draws: a posterior check on {n_rows:,} rows with {chains} x {draws} draws would hold about "
            f"{need / 2**30:.1f} GiB of replicated data ({n_mediators} mediators + outcome, log-likelihood, "
            f"8 bytes each; limit {MAX_REPLICATE_BYTES / 2**30:.0f} GiB, "
            "carepaths.checks.predictive.MAX_REPLICATE_BYTES). Use fit.check(draws=N) with N <= "
            f"{fit_in} draws per chain (evenly thinned: 50 per chain are ample for the p-values and LOO)."
        )


def check_draws(chains: int, draws: int) -> None:
    """Refuse a posterior check on fewer than :data:`MIN_CHECK_DRAWS` draws in all."""
    total = int(chains) * int(draws)
    if total < MIN_CHECK_DRAWS:
        per_chain = int(np.ceil(MIN_CHECK_DRAWS / max(int(chains), 1)))
        raise CarepathsError(
            f"draws: a posterior check needs at least {MIN_CHECK_DRAWS} posterior draws in all "
            f"(chains x draws), got {chains} x {draws} = {total}. PSIS-LOO fits a Pareto tail to the "
            f"largest fifth of the importance ratios and needs 5 of them (25 draws), and the "
            f"{interval_label()}'s {FLAG_TAIL:.1%} tails need a draw each ({MIN_CHECK_DRAWS}). Use "
            f"draws >= {per_chain} per chain here (or draws=None for all), or fit with more draws."
        )


def thin(n: int, draws: int | None, what: str) -> np.ndarray:
    """Indices of ``draws`` evenly spaced draws out of ``n`` (all of them for None)."""
    if draws is None:
        return np.arange(n)
    if isinstance(draws, bool) or not isinstance(draws, int | np.integer) or draws < 1:
        raise CarepathsError(f"draws must be a positive integer ({what}) or None for all, got {draws!r}.")
    if draws > n:
        raise CarepathsError(f"draws={draws} but the fit has only {n} {what}; use draws <= {n} or None.")
    return np.unique(np.linspace(0, n - 1, int(draws)).round().astype(int))


# ----------------------------------------------------------------------------- replication
@dataclass
class _Replicates:
    """Replicated data on the model scale, draw axis last."""

    Y: np.ndarray  # (obs, sample)
    M: np.ndarray  # (obs, mediator, sample)
    Y_at_observed_m: np.ndarray | None  # (obs, sample): outcome at the observed mediators
    loglik: np.ndarray | None  # (obs, sample): log p(y_obs | observed mediators, draw)
    # (person, sample): log p(y_i | observed mediators, draw) with the person intercept
    # integrated out, when the model integrates it (leave-one-person-out LOO uses it)
    person_loglik: np.ndarray | None = None


def _replicate(params: ParameterSet, panel: Panel, rng: np.random.Generator, *, with_loglik: bool) -> _Replicates:
    """Replicate mediators and outcome on every draw (the population sampler's replicate population)."""
    from threadpoolctl import threadpool_limits

    spec = panel.spec
    ds = panel.dataset
    rows = RowData.from_panel(panel)
    K, n, S = len(spec.mediators), rows.n_rows, params.n_samples
    names = list(spec.mediator_names)
    families = [m.family for m in spec.mediators]
    order = [names.index(m) for m in spec.mediator_order]
    x = rows.x[:, None]
    M_obs, Y_obs = ds["M"].values, ds["Y"].values
    family, link = spec.outcome.family, spec.outcome.link
    log_scale = np.log(panel.scaling[spec.outcome.name].scale) if family == "normal" else 0.0

    Y_rep, M_rep = np.empty((n, S)), np.empty((n, K, S))
    Y_at_m = np.empty((n, S)) if with_loglik else None
    loglik = np.empty((n, S)) if with_loglik else None
    integrated = with_loglik and params.quadrature_outcome
    person_loglik = np.empty((int(rows.person.max()) + 1, S)) if integrated else None
    # rows per person with an observed outcome (the Jacobian of a normal outcome's units)
    counts = np.bincount(rows.person[~np.isnan(Y_obs.astype(float))], minlength=int(rows.person.max()) + 1)
    counts = counts.astype(float)

    def replicate(chunk: Chunk) -> tuple[Any, ...]:
        p, r = chunk.params, chunk.rows
        x = chunk.x  # the observed exposure, each draw's imputed values where it is missing
        M = equations.mediators_from_latents(
            p, families=families, order=order, x=x, C=r.C, stage_idx=r.stage_idx, latents=chunk.latents,
            person_intercepts=r.u, person_slopes=r.a_i, x_between=r.x_between,
        )
        common = {"x": x, "C": r.C, "stage_idx": r.stage_idx, "person_intercept": r.v,
                  "person_slope_c": r.c_i, "person_slope_b": r.b_i, "x_between": r.x_between}
        y = equations.draw_outcome(family, equations.outcome_predictor(p, M=M, **common), chunk.rng,
                                   sigma=p["sigma_y"], phi=p["phi"], link=link)
        if not with_loglik:
            return M, y, None, None, None
        # at the observed mediators (with the draw's latent values where the model drew them)
        eta_obs = equations.outcome_predictor(p, M=chunk.observed_M, **common)
        y_at_m = equations.draw_outcome(family, eta_obs, chunk.rng, sigma=p["sigma_y"], phi=p["phi"], link=link)
        ll = outcome_loglik(family, Y_obs[:, None], eta_obs, sigma=p["sigma_y"], phi=p["phi"], link=link)
        ll = ll - log_scale
        person_ll = None
        if chunk.person_loglik is not None:  # integrated intercepts; normal: in original units
            person_ll = chunk.person_loglik - counts[:, None] * log_scale
        return M, y, y_at_m, ll, person_ll

    # small matrix products (rows x a chunk of draws): single-threaded BLAS is faster here
    with threadpool_limits(limits=1, user_api="blas"):
        for sl, (M, y, y_at_m, ll, person_ll) in map_chunks(params, rows, "replicate", rng, replicate):
            M_rep[:, :, sl], Y_rep[:, sl] = M, y
            if with_loglik:
                Y_at_m[:, sl], loglik[:, sl] = y_at_m, ll
            if person_loglik is not None:
                person_loglik[:, sl] = person_ll
    return _Replicates(Y=Y_rep, M=M_rep, Y_at_observed_m=Y_at_m, loglik=loglik, person_loglik=person_loglik)


# ----------------------------------------------------------------------------- statistics
def _groups(labels: np.ndarray, levels: Sequence[Any]) -> list[tuple[str, np.ndarray]]:
    return [(str(level), np.flatnonzero(labels == level)) for level in levels]


def _statistics(spec: Spec, panel: Any, Y: np.ndarray, M: np.ndarray) -> list[tuple[tuple[str, str, str, str], np.ndarray]]:
    """Every check statistic of data in original units; one value per sample (last axis).

    The observed data go through the same function with a sample axis of length 1, so
    observed and replicated statistics share one definition. NaN marks a missing value
    (the same cells in every sample): each statistic runs over the values present.
    """
    ds = panel.dataset
    stage_labels = np.asarray(spec.stage_levels)[ds["stage_idx"].values]
    stages = _groups(stage_labels, spec.stage_levels)
    if len(stages) > 1:
        stages.append((ALL, np.arange(len(stage_labels))))
    x = ds["X"].values
    family = spec.outcome.family
    y_name = spec.outcome.name
    out: list[tuple[tuple[str, str, str, str], np.ndarray]] = []

    def add(variable: str, statistic: str, stage: str, values: np.ndarray, wave: str = ALL) -> None:
        out.append(((variable, statistic, stage, wave), np.asarray(values, dtype=float)))

    def present(rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        return rows[~np.isnan(values[rows, 0])] if values.shape[0] else rows

    def dispersion(y: np.ndarray) -> np.ndarray:
        mean, var = y.mean(axis=0), y.var(axis=0, ddof=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(mean > 0, var / mean, np.nan)

    def slope(rows: np.ndarray) -> np.ndarray:
        rows = present(rows, Y)
        rows = rows[~np.isnan(x[rows])]  # the observed exposure (an imputed one is left out)
        xc = x[rows] - x[rows].mean()
        return xc @ Y[rows] / (xc @ xc)

    per_stage = [("mean", lambda rows: Y[present(rows, Y)].mean(axis=0))]
    if family == "normal":
        per_stage.append(("sd", lambda rows: Y[present(rows, Y)].std(axis=0, ddof=1)))
    if family == "negative_binomial":
        per_stage += [("dispersion", lambda rows: dispersion(Y[present(rows, Y)])),
                      ("zeros", lambda rows: (Y[present(rows, Y)] == 0).mean(axis=0))]
    per_stage.append(("exposure_slope", slope))
    for statistic, fn in per_stage:
        for stage, rows in stages:
            add(y_name, statistic, stage, fn(rows))
    if "wave" in ds.coords:
        waves = ds["wave"].values
        for wave, rows in _groups(waves, list(dict.fromkeys(sorted(waves.tolist())))):
            add(y_name, "mean", ALL, Y[present(rows, Y)].mean(axis=0), wave=wave)
    if "person_idx" in ds:
        seen = present(np.arange(len(Y)), Y)
        person = ds["person_idx"].values[seen]
        n_persons = int(ds["person_idx"].values.max()) + 1
        sums = np.zeros((n_persons, Y.shape[-1]))
        np.add.at(sums, person, Y[seen])
        counts = np.bincount(person, minlength=n_persons)
        means = sums[counts > 0] / counts[counts > 0, None]  # persons with an observed outcome
        add(y_name, "between_person", ALL, means.std(axis=0, ddof=1))
    for k, med in enumerate(spec.mediators):
        for stage, rows in stages:
            add(med.name, "mean", stage, M[present(rows, M[:, k]), k].mean(axis=0))
        if med.family != "bernoulli":  # a binary variable's SD is a function of its mean
            for stage, rows in stages:
                add(med.name, "sd", stage, M[present(rows, M[:, k]), k].std(axis=0, ddof=1))
    return out


def _assemble(
    kind: str, panel: Panel, params: ParameterSet, rep: _Replicates, *,
    loo: Any = None, loo_data: xr.DataTree | None = None, loo_pit: xr.DataArray | None = None,
    warning: str = "", converged: bool = True,
) -> Checks:
    spec = panel.spec
    ds = panel.dataset
    Y_obs, M_obs = panel.original_units(ds["Y"].values[:, None].astype(float), ds["M"].values[:, :, None])
    Y_rep, M_rep = panel.original_units(rep.Y, rep.M)
    observed = _statistics(spec, panel, Y_obs, M_obs)
    # compared on the observed values only: the replicates where a value is missing
    # (missing="model") are left out of the statistics, as the data's are
    replicated = _statistics(spec, panel, np.where(np.isnan(Y_obs), np.nan, Y_rep),
                             np.where(np.isnan(M_obs), np.nan, M_rep))
    keys = [key for key, _ in observed]
    t_obs = np.array([value[0] for _, value in observed])
    t_rep = np.stack([value for _, value in replicated])  # (check, sample)
    finite = np.where(np.isfinite(t_rep), t_rep, np.nan)  # non-finite replicates are left out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a statistic with no finite replicate: NaN
        stats = summarize(xr.DataArray(finite, dims=("check", "sample"), name="T"), sample_dims=["sample"],
                          skipna=True)["T"]
    n_finite = np.isfinite(finite).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_value = (finite >= t_obs[:, None]).sum(axis=1) / n_finite
    valid = np.isfinite(t_obs) & (n_finite > 0)
    nan = np.full(len(keys), np.nan)
    columns = {
        "observed": t_obs,
        "mean": np.where(valid, stats.sel(summary="mean").values, nan),
        "lower": np.where(valid, stats.sel(summary="lower").values, nan),
        "upper": np.where(valid, stats.sel(summary="upper").values, nan),
        "p_value": np.where(valid, p_value, nan),
    }
    columns["flag"] = valid & ((columns["p_value"] < FLAG_TAIL) | (columns["p_value"] > 1.0 - FLAG_TAIL))
    index = pd.MultiIndex.from_tuples(keys, names=["variable", "statistic", "stage", "wave"])
    table = pd.DataFrame(columns, index=index)
    table["flag"] = table["flag"].astype(bool)
    table.attrs.update(
        kind=kind, interval=interval_label(), p_value="P(T_rep >= T_obs)",
        flag=f"p_value < {FLAG_TAIL:g} or p_value > {1 - FLAG_TAIL:g}", warning=warning,
        outcome=spec.outcome.name,
    )
    draws = xr.DataArray(
        t_rep, dims=("check", "sample"),
        coords={"check": np.arange(len(keys)), "sample": np.arange(t_rep.shape[1]),
                **{name: ("check", index.get_level_values(name).to_numpy()) for name in index.names}},
        name="statistic",
    )
    return Checks(
        kind=kind, observed=pd.Series(t_obs, index=index, name="observed"), draws=draws,
        replicated=_replicated_tree(kind, spec, panel, params, Y_rep, M_rep, Y_obs[:, 0], M_obs[:, :, 0]),
        outcome=spec.outcome.name, exposure=spec.exposure.name, loo=loo, loo_data=loo_data,
        loo_pit=loo_pit, warning=warning, converged=converged, _table=table,
    )


def _replicated_tree(
    kind: str, spec: Spec, panel: Panel, params: ParameterSet, Y_rep: np.ndarray, M_rep: np.ndarray,
    Y_obs: np.ndarray, M_obs: np.ndarray,
) -> xr.DataTree:
    ds = panel.dataset
    chains, draws = params.chains, params.draws
    coords = {
        "obs": np.arange(len(Y_obs)),
        "stage": ("obs", np.asarray(spec.stage_levels)[ds["stage_idx"].values]),
    }
    if "person" in ds.coords:
        coords["person"] = ("obs", ds["person"].values)

    def cdo(values: np.ndarray) -> np.ndarray:  # (obs, sample) -> (chain, draw, obs)
        return np.moveaxis(values, -1, 0).reshape(chains, draws, -1)

    predictive = {spec.outcome.name: (("chain", "draw", "obs"), cdo(Y_rep))}
    observed = {spec.outcome.name: ("obs", Y_obs)}
    for k, name in enumerate(spec.mediator_names):
        predictive[name] = (("chain", "draw", "obs"), cdo(M_rep[:, k]))
        observed[name] = ("obs", M_obs[:, k])
    tree = xr.DataTree.from_dict({
        f"{kind}_predictive": xr.Dataset(predictive, coords={**coords, "chain": np.arange(chains), "draw": np.arange(draws)}),
        "observed_data": xr.Dataset(observed, coords=coords),
    })
    tree.attrs["stages"] = [str(s) for s in spec.stage_levels]
    return tree


# ----------------------------------------------------------------------------- selection helpers (plots)
def select_rows(
    checks: Checks, *, variable: str | None = None, statistics: Sequence[str] | None = None,
    stages: Sequence[str] | None = None, wave: str = ALL,
) -> pd.DataFrame:
    """Rows of :meth:`Checks.table` for one variable and some statistics and stages.

    Parameters
    ----------
    checks : Checks
    variable : str, optional
        Outcome or mediator name; default the outcome.
    statistics : sequence of str, optional
        Default every statistic the variable has.
    stages : sequence of str, optional
        Default every stage (and ``"all"``).
    wave : str
        ``"all"`` (per-stage statistics) or one wave label.

    Raises
    ------
    CarepathsError
        Naming the unknown variable, statistic or stage and the valid ones.

    See Also
    --------
    carepaths.results.select_check_rows : the same on a check table.
    """
    return select_check_rows(checks.table(), variable=checks.outcome if variable is None else variable,
                             statistics=statistics, stages=stages, wave=wave)


def statistic_draws(checks: Checks, *, variable: str, statistic: str, stage: str, wave: str = ALL) -> np.ndarray:
    """The replicated values of one statistic (one per draw)."""
    d = checks.draws
    mask = (
        (d["variable"].values == variable) & (d["statistic"].values == statistic)
        & (d["stage"].values == stage) & (d["wave"].values == wave)
    )
    if mask.sum() != 1:
        raise CarepathsError(f"no check {variable}/{statistic}/{stage}/{wave}; see checks.table().")
    return d.values[np.flatnonzero(mask)[0]]
