"""Prior and posterior predictive checks by stage, LOO and LOO-PIT.

:meth:`carepaths.fit.Fit.check` (posterior) and
:meth:`carepaths.model.MediationModel.prior_check` (prior) both call
:func:`compute_checks`: on every parameter draw they replicate the whole panel — every
mediator, then the outcome — from the structural equations (:mod:`carepaths.equations`,
the one home of the model) for the observed persons, at the observed exposures,
confounders, stages and waves, and compare summary statistics of the replicates with
the same statistics of the data.

Replicated data
---------------
* Posterior check: population parameters, the outcome's person (and cluster) intercepts
  and any explicit mediator intercepts or random slopes come from the posterior draw.
  The person intercepts u of *normal* mediators are integrated out of the fitted model
  (``person_effects = "intercepts"``), so each draw's u is drawn from its exact
  conditional posterior given the data and that draw's parameters
  (:func:`carepaths.parameters.draw_person_intercepts`).
* Prior check: parameters from the prior (``pymc.sample_prior_predictive`` of the free
  variables, without the data); the persons' effects are those of new persons, from the
  prior SDs.

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
The outcome's pointwise log-likelihood (per person-wave, given the observed mediators
and the posterior person effects: leave-one-person-wave-out) is computed from the
structural equations on the posterior draws, not with ``pymc.compute_log_likelihood``:
it needs no rebuild and compile of the PyMC model, and it is the same density the model
samples (``tests/test_checks.py`` checks the two agree). ArviZ's PSIS-LOO (``az.loo``)
gives the elpd and the Pareto k of every row; rows with k > :data:`PARETO_K_LIMIT` (0.7)
are counted and a :class:`ParetoKWarning` is issued when there are any. The LOO-PIT
(``az.loo_pit``) uses outcome replicates drawn at the observed mediators, the
predictive distribution matching that likelihood.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy import special

from carepaths import equations
from carepaths.exceptions import CarepathsError, CarepathsWarning
from carepaths.intervals import INTERVAL_PROB, interval_bounds, interval_label
from carepaths.parameters import PosteriorParams, draw_person_intercepts, params_from_draws
from carepaths.population import draws_last, observed_person_effects
from carepaths.spec import Spec, suggest_closest

__all__ = [
    "Checks",
    "compute_checks",
    "prior_check",
    "ParetoKWarning",
    "FLAG_TAIL",
    "PARETO_K_LIMIT",
    "STATISTICS",
    "select_rows",
    "statistic_draws",
]

FLAG_TAIL = (1.0 - INTERVAL_PROB) / 2.0
PARETO_K_LIMIT = 0.7
ALL = "all"
STATISTICS = ("mean", "sd", "dispersion", "zeros", "exposure_slope", "between_person")
_CHUNK = 32  # parameter draws replicated together (the equations' batched layout)


class ParetoKWarning(CarepathsWarning):
    """PSIS-LOO is unreliable for some rows: their Pareto k exceeds 0.7."""


# ----------------------------------------------------------------------------- result
@dataclass(frozen=True)
class Checks:
    """Predictive checks of a model against its data.

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
        ``obs``.
    loo : object or None
        ArviZ's PSIS-LOO result of the outcome (posterior checks only), pointwise.
    loo_data : xarray.DataTree or None
        What LOO and LOO-PIT were computed from: ``posterior``, ``log_likelihood``,
        ``posterior_predictive`` (outcome replicates at the observed mediators) and
        ``observed_data``, for the outcome (model scale for counts and binaries, original
        units for a normal outcome).
    loo_pit : xarray.DataArray or None
        LOO-PIT value of every row (obs), as :func:`carepaths.plots.plot_loo_pit` plots it.
    outcome, exposure : str
        Variable names.
    warning : str
        Convergence or Pareto-k warnings, empty when there are none.
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
    _table: pd.DataFrame = field(default=None, repr=False)  # type: ignore[assignment]

    def table(self) -> pd.DataFrame:
        """One row per statistic: observed, predictive mean and interval, p-value, flag.

        Index ``(variable, statistic, stage, wave)``; columns ``observed``, ``mean``,
        ``lower``, ``upper`` (the package interval of the replicated statistic),
        ``p_value`` (``P(T_rep >= T_obs)``) and ``flag`` (p-value below
        :data:`FLAG_TAIL` or above ``1 - FLAG_TAIL``). ``attrs`` say the interval, the
        flag rule and the kind of check.
        """
        return self._table.copy()

    @property
    def flagged(self) -> pd.DataFrame:
        """The rows of :meth:`table` whose predictive p-value is extreme."""
        table = self.table()
        return table[table["flag"]]

    def loo_summary(self) -> pd.Series:
        """elpd, its SE, p_loo, rows, samples and the Pareto-k counts of the LOO.

        ``n_k_over_0.7`` counts rows with Pareto k > 0.7 (unreliable importance
        sampling for those rows); ``good_k`` is ArviZ's sample-size dependent threshold.

        Raises
        ------
        CarepathsError
            For a prior check (LOO needs a posterior).
        """
        if self.loo is None:
            raise CarepathsError("a prior check has no LOO: run fit.check(seed=...) on a fitted model.")
        k = np.asarray(self.loo.pareto_k).reshape(-1)
        return pd.Series({
            "elpd_loo": float(self.loo.elpd), "se": float(self.loo.se), "p_loo": float(self.loo.p),
            "n_obs": int(self.loo.n_data_points), "n_samples": int(self.loo.n_samples),
            "good_k": float(self.loo.good_k), f"n_k_over_{PARETO_K_LIMIT}": int((k > PARETO_K_LIMIT).sum()),
            "max_k": float(np.nanmax(k)),
        })

    # plots: thin delegates to carepaths.plots (keyword-only, each returns a Figure)
    def plot_stages(self, **kwargs: Any) -> Any:
        """Per-stage panels: see :func:`carepaths.plots.plot_stage_checks`."""
        from carepaths.plots import plot_stage_checks

        return plot_stage_checks(checks=self, **kwargs)

    def plot_ppc(self, **kwargs: Any) -> Any:
        """Replicated vs observed distributions: see :func:`carepaths.plots.plot_ppc_dist`."""
        from carepaths.plots import plot_ppc_dist

        return plot_ppc_dist(checks=self, **kwargs)

    def plot_loo_pit(self, **kwargs: Any) -> Any:
        """LOO-PIT ECDF: see :func:`carepaths.plots.plot_loo_pit`."""
        from carepaths.plots import plot_loo_pit

        return plot_loo_pit(checks=self, **kwargs)

    def __repr__(self) -> str:
        n = len(self._table)
        return (
            f"<Checks {self.kind} predictive: {n} statistics, {int(self._table['flag'].sum())} "
            f"flagged (p < {FLAG_TAIL:g} or > {1 - FLAG_TAIL:g}), {self.draws.sizes['sample']} draws>"
        )


# ----------------------------------------------------------------------------- entry points
def compute_checks(fit: Any, *, seed: int, draws: int | None = None) -> Checks:
    """Posterior predictive checks by stage, LOO and LOO-PIT of a fitted model.

    Parameters
    ----------
    fit : Fit
        A fitted model.
    seed : int
        Seed of the replication noise; the same fit and seed give the same numbers.
    draws : int, optional
        Posterior draws per chain to use, evenly thinned; default all of them.

    Returns
    -------
    Checks

    Warns
    -----
    ConvergenceWarning
        When the fit did not converge (the checks are then unreliable too).
    ParetoKWarning
        When some rows have Pareto k > 0.7.
    """
    _check_seed(seed)
    post = fit.posterior["posterior"].to_dataset()
    post = post.isel(draw=_thin(post.sizes["draw"], draws, "posterior draws per chain"))
    params = params_from_draws(fit.spec, post)
    rng = np.random.default_rng(seed)
    rep = _replicate(fit.spec, fit.panel, params, rng, posterior=True)
    messages = []
    if not fit.converged:
        from carepaths.fit import ConvergenceWarning

        message = "These checks come from a fit that did NOT converge: " + fit.convergence_message()
        warnings.warn(message, ConvergenceWarning, stacklevel=3)
        messages.append(message)
    loo, loo_data, loo_pit, k_message = _loo(fit, post, rep)
    if k_message:
        warnings.warn(k_message, ParetoKWarning, stacklevel=3)
        messages.append(k_message)
    return _assemble("posterior", fit.spec, fit.panel, params, rep, loo=loo, loo_data=loo_data,
                     loo_pit=loo_pit, warning=" ".join(messages))


def prior_check(model: Any, *, draws: int = 500, seed: int) -> Checks:
    """Prior predictive checks by stage of a built (unfitted) model.

    Parameters
    ----------
    model : MediationModel
    draws : int
        Prior draws.
    seed : int
        Seed of the prior draws and the replication noise.

    Returns
    -------
    Checks
        Without LOO (there is no posterior).
    """
    import pymc as pm

    _check_seed(seed)
    if isinstance(draws, bool) or not isinstance(draws, int | np.integer) or draws < 1:
        raise CarepathsError(f"draws must be a positive integer (prior draws), got {draws!r}.")
    m = model.model
    names = [v.name for v in m.free_RVs] + [v.name for v in m.deterministics]
    with m, warnings.catch_warnings():
        # the Potentials are the normal mediators' likelihood: ignoring them is what a
        # prior draw of the parameters must do
        warnings.filterwarnings("ignore", message=".*Potential.*")
        prior = pm.sample_prior_predictive(draws=int(draws), var_names=names, random_seed=seed)
    params = params_from_draws(model.spec, prior["prior"].to_dataset())
    rep = _replicate(model.spec, model.panel, params, np.random.default_rng(seed), posterior=False)
    return _assemble("prior", model.spec, model.panel, params, rep)


def _check_seed(seed: Any) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise CarepathsError(f"seed must be an integer (e.g. seed=1), got {seed!r}.")


def _thin(n: int, draws: int | None, what: str) -> np.ndarray:
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


def _replicate(
    spec: Spec, panel: Any, params: PosteriorParams, rng: np.random.Generator, *, posterior: bool
) -> _Replicates:
    """Replicate mediators and outcome on every draw, in chunks (batched equations)."""
    from threadpoolctl import threadpool_limits

    ds = panel.dataset
    K = len(spec.mediators)
    names = list(spec.mediator_names)
    families = [m.family for m in spec.mediators]
    order = [names.index(m) for m in spec.mediator_order]
    split = spec.structure.center_exposure_within_person
    x = ds["X_within" if split else "X"].values[:, None]
    x_between = ds["X_between"].values[:, None] if split else None
    C, stage_idx, M_obs, Y_obs = ds["C"].values, ds["stage_idx"].values, ds["M"].values, ds["Y"].values
    n = len(stage_idx)
    mode = spec.structure.person_effects if spec.columns.person else "none"
    person = ds["person_idx"].values if "person_idx" in ds else np.arange(n)
    n_persons = int(person.max()) + 1
    cluster = ds["cluster_idx"].values if "cluster_idx" in ds else None
    integrated = [k for k, f in enumerate(families) if f == "normal"] if mode == "intercepts" else []
    counts = np.bincount(person, minlength=n_persons).astype(float)
    family = spec.outcome.family
    pp = params.person
    S = params.n_samples
    Y_rep, M_rep = np.empty((n, S)), np.empty((n, K, S))
    Y_at_m = np.empty((n, S)) if posterior else None
    loglik = np.empty((n, S)) if posterior else None
    if family == "normal":
        log_scale = np.log(panel.scaling[spec.outcome.name].scale)
    # small matrix products (rows x a chunk of draws): single-threaded BLAS is faster here
    with threadpool_limits(limits=1, user_api="blas"):
        for start in range(0, S, _CHUNK):
            sl = slice(start, min(start + _CHUNK, S))
            B = sl.stop - sl.start
            p = {name: draws_last(value[sl]) for name, value in params.fixed.items()}
            u, v, a_i, b_i, c_i = observed_person_effects(params, sl, person, cluster)
            for k in integrated:  # integrated-out intercepts of normal mediators
                sd_u = pp["sd_u"][sl][:, k]
                if posterior:
                    eta = equations.mediator_predictor(
                        p, k, x=x, C=C, stage_idx=stage_idx, x_between=x_between,
                        M=M_obs[:, :, None] if spec.mediator_edges else None,
                    )
                    resid = M_obs[:, k, None] - eta  # (obs, draw)
                    sums = np.zeros((n_persons, B))
                    np.add.at(sums, person, resid)
                    u_k = draw_person_intercepts(sums, counts, p["sigma_m"][k], sd_u, rng)
                else:  # new persons: from the prior SD
                    u_k = rng.standard_normal((n_persons, B)) * sd_u
                u[:, k] = u_k[person]
            latents = np.stack(
                [equations.draw_latent(f, rng, (n, B), sigma=p["sigma_m"][k]) for k, f in enumerate(families)],
                axis=1,
            )
            M = equations.mediators_from_latents(
                p, families=families, order=order, x=x, C=C, stage_idx=stage_idx, latents=latents,
                person_intercepts=u, person_slopes=a_i, x_between=x_between,
            )
            common = {"x": x, "C": C, "stage_idx": stage_idx, "person_intercept": v,
                      "person_slope_c": c_i, "person_slope_b": b_i, "x_between": x_between}
            eta_y = equations.outcome_predictor(p, M=M, **common)
            M_rep[:, :, sl] = M
            Y_rep[:, sl] = equations.draw_outcome(family, eta_y, rng, sigma=p["sigma_y"], phi=p["phi"])
            if posterior:
                eta_obs = equations.outcome_predictor(p, M=M_obs[:, :, None], **common)
                Y_at_m[:, sl] = equations.draw_outcome(family, eta_obs, rng, sigma=p["sigma_y"], phi=p["phi"])
                ll = _outcome_loglik(family, Y_obs[:, None], eta_obs, sigma=p["sigma_y"], phi=p["phi"])
                loglik[:, sl] = ll - log_scale if family == "normal" else ll
    return _Replicates(Y=Y_rep, M=M_rep, Y_at_observed_m=Y_at_m, loglik=loglik)


def _outcome_loglik(family: str, y: np.ndarray, eta: np.ndarray, *, sigma: Any, phi: Any) -> np.ndarray:
    """log p(y | eta) of the outcome family (the density the model's ``Y`` uses)."""
    if family == "bernoulli":
        return y * special.log_expit(eta) + (1.0 - y) * special.log_expit(-eta)
    if family == "normal":
        return -0.5 * ((y - eta) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)
    if family == "negative_binomial":
        mu = np.exp(eta)
        return (
            special.gammaln(y + phi) - special.gammaln(phi) - special.gammaln(y + 1.0)
            + phi * (np.log(phi) - np.log(phi + mu)) + y * (eta - np.log(phi + mu))
        )
    raise ValueError(f"unknown outcome family {family!r}")


# ----------------------------------------------------------------------------- statistics
def _original_units(spec: Spec, panel: Any, Y: np.ndarray, M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outcome (obs, sample) and mediators (obs, mediator, sample) in original units."""
    if spec.outcome.family == "normal":
        Y = panel.scaling[spec.outcome.name].to_original(Y)
    M = M.copy()
    for k, med in enumerate(spec.mediators):
        if med.family == "normal":
            M[:, k] = panel.scaling[med.name].to_original(M[:, k])
        elif med.family == "ordinal":
            M[:, k] = np.asarray(med.categories, dtype=float)[M[:, k].astype(int)]
    return Y, M


def _groups(labels: np.ndarray, levels: Sequence[Any]) -> list[tuple[str, np.ndarray]]:
    return [(str(level), np.flatnonzero(labels == level)) for level in levels]


def _statistics(spec: Spec, panel: Any, Y: np.ndarray, M: np.ndarray) -> list[tuple[tuple[str, str, str, str], np.ndarray]]:
    """Every check statistic of data in original units; one value per sample (last axis).

    The observed data go through the same function with a sample axis of length 1, so
    observed and replicated statistics share one definition.
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

    def dispersion(y: np.ndarray) -> np.ndarray:
        mean, var = y.mean(axis=0), y.var(axis=0, ddof=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(mean > 0, var / mean, np.nan)

    def slope(rows: np.ndarray) -> np.ndarray:
        xc = x[rows] - x[rows].mean()
        return xc @ Y[rows] / (xc @ xc)

    per_stage = [("mean", lambda rows: Y[rows].mean(axis=0))]
    if family == "normal":
        per_stage.append(("sd", lambda rows: Y[rows].std(axis=0, ddof=1)))
    if family == "negative_binomial":
        per_stage += [("dispersion", lambda rows: dispersion(Y[rows])),
                      ("zeros", lambda rows: (Y[rows] == 0).mean(axis=0))]
    per_stage.append(("exposure_slope", slope))
    for statistic, fn in per_stage:
        for stage, rows in stages:
            add(y_name, statistic, stage, fn(rows))
    if "wave" in ds.coords:
        waves = ds["wave"].values
        for wave, rows in _groups(waves, list(dict.fromkeys(sorted(waves.tolist())))):
            add(y_name, "mean", ALL, Y[rows].mean(axis=0), wave=wave)
    if "person_idx" in ds:
        person = ds["person_idx"].values
        n_persons = int(person.max()) + 1
        sums = np.zeros((n_persons, Y.shape[-1]))
        np.add.at(sums, person, Y)
        means = sums / np.bincount(person, minlength=n_persons)[:, None]
        add(y_name, "between_person", ALL, means.std(axis=0, ddof=1))
    for k, med in enumerate(spec.mediators):
        for stage, rows in stages:
            add(med.name, "mean", stage, M[rows, k].mean(axis=0))
        if med.family != "bernoulli":  # a binary variable's SD is a function of its mean
            for stage, rows in stages:
                add(med.name, "sd", stage, M[rows, k].std(axis=0, ddof=1))
    return out


def _assemble(
    kind: str, spec: Spec, panel: Any, params: PosteriorParams, rep: _Replicates, *,
    loo: Any = None, loo_data: xr.DataTree | None = None, loo_pit: xr.DataArray | None = None,
    warning: str = "",
) -> Checks:
    ds = panel.dataset
    Y_obs, M_obs = _original_units(spec, panel, ds["Y"].values[:, None].astype(float), ds["M"].values[:, :, None])
    Y_rep, M_rep = _original_units(spec, panel, rep.Y, rep.M)
    observed = _statistics(spec, panel, Y_obs, M_obs)
    replicated = _statistics(spec, panel, Y_rep, M_rep)
    keys = [key for key, _ in observed]
    t_obs = np.array([value[0] for _, value in observed])
    t_rep = np.stack([value for _, value in replicated])  # (check, sample)
    rows = []
    for i, key in enumerate(keys):
        reps = t_rep[i][np.isfinite(t_rep[i])]
        if not np.isfinite(t_obs[i]) or reps.size == 0:
            rows.append((*key, t_obs[i], np.nan, np.nan, np.nan, np.nan, False))
            continue
        lower, upper = interval_bounds(reps)
        p = float(np.mean(reps >= t_obs[i]))
        rows.append((*key, t_obs[i], reps.mean(), lower, upper, p, p < FLAG_TAIL or p > 1.0 - FLAG_TAIL))
    table = pd.DataFrame(
        rows, columns=["variable", "statistic", "stage", "wave", "observed", "mean", "lower", "upper", "p_value", "flag"]
    ).set_index(["variable", "statistic", "stage", "wave"])
    table["flag"] = table["flag"].astype(bool)
    table.attrs.update(
        kind=kind, interval=interval_label(), p_value="P(T_rep >= T_obs)",
        flag=f"p_value < {FLAG_TAIL:g} or p_value > {1 - FLAG_TAIL:g}", warning=warning,
    )
    index = pd.MultiIndex.from_tuples(keys, names=["variable", "statistic", "stage", "wave"])
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
        loo_pit=loo_pit, warning=warning, _table=table,
    )


def _replicated_tree(
    kind: str, spec: Spec, panel: Any, params: PosteriorParams, Y_rep: np.ndarray, M_rep: np.ndarray,
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
    return xr.DataTree.from_dict({
        f"{kind}_predictive": xr.Dataset(predictive, coords={**coords, "chain": np.arange(chains), "draw": np.arange(draws)}),
        "observed_data": xr.Dataset(observed, coords=coords),
    })


# ----------------------------------------------------------------------------- LOO
def _loo(fit: Any, post: xr.Dataset, rep: _Replicates) -> tuple[Any, xr.DataTree, xr.DataArray, str]:
    """PSIS-LOO and LOO-PIT of the outcome from the equations' pointwise log-likelihood."""
    import arviz as az

    spec, panel = fit.spec, fit.panel
    name = spec.outcome.name
    chains, draws = post.sizes["chain"], post.sizes["draw"]
    y_obs = panel.dataset["Y"].values.astype(float)
    y_at_m = rep.Y_at_observed_m
    if spec.outcome.family == "normal":  # LOO in original units (the loglik has the Jacobian)
        scaling = panel.scaling[name]
        y_obs, y_at_m = scaling.to_original(y_obs), scaling.to_original(y_at_m)

    def cdo(values: np.ndarray) -> np.ndarray:
        return np.moveaxis(values, -1, 0).reshape(chains, draws, -1)

    obs = {"obs": np.arange(len(y_obs))}
    sample = {"chain": post["chain"].values, "draw": post["draw"].values}
    tree = xr.DataTree.from_dict({
        "posterior": post,
        "log_likelihood": xr.Dataset({name: (("chain", "draw", "obs"), cdo(rep.loglik))}, coords={**sample, **obs}),
        "posterior_predictive": xr.Dataset({name: (("chain", "draw", "obs"), cdo(y_at_m))}, coords={**sample, **obs}),
        "observed_data": xr.Dataset({name: ("obs", y_obs)}, coords=obs),
    })
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ArviZ's own Pareto-k warning: ours names the count
        loo = az.loo(tree, pointwise=True, var_name=name)
        # the values plot_loo_pit draws (its default method "pot_c" uses Pareto-tail PIT)
        # (reusing the PSIS weights of az.loo: the same values, half the cost)
        pit = az.loo_pit(
            tree, var_names=[name], pareto_pit=True,
            log_weights=xr.Dataset({name: loo.log_weights}), pareto_k=xr.Dataset({name: loo.pareto_k}),
        )[name]
    k = np.asarray(loo.pareto_k).reshape(-1)
    n_bad = int((k > PARETO_K_LIMIT).sum())
    message = ""
    if n_bad:
        message = (
            f"PSIS-LOO: {n_bad} of {k.size} rows have Pareto k > {PARETO_K_LIMIT} (max {np.nanmax(k):.2f}), "
            "so their leave-one-out estimates are unreliable and elpd_loo may be optimistic. "
            "These are influential person-waves (often persons with few waves and an outlying "
            "outcome); consider K-fold cross-validation by person (az.loo_kfold) or moment "
            "matching (az.loo_moment_match)."
        )
    return loo, tree, pit, message


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
    """
    table = checks.table()
    variable = checks.outcome if variable is None else variable
    variables = list(dict.fromkeys(table.index.get_level_values("variable")))
    if variable not in variables:
        raise CarepathsError(
            f"no variable {variable!r} in these checks.{suggest_closest(str(variable), variables)} "
            f"Variables: {', '.join(variables)}."
        )
    sub = table.xs(variable, level="variable")
    sub = sub[sub.index.get_level_values("wave") == wave]
    have = list(dict.fromkeys(sub.index.get_level_values("statistic")))
    wanted = have if statistics is None else list(statistics)
    for s in wanted:
        if s not in have:
            raise CarepathsError(
                f"no statistic {s!r} for {variable!r}.{suggest_closest(str(s), have)} "
                f"Statistics of {variable!r}: {', '.join(have)}."
            )
    levels = list(dict.fromkeys(sub.index.get_level_values("stage")))
    wanted_stages = levels if stages is None else list(stages)
    for s in wanted_stages:
        if s not in levels:
            raise CarepathsError(
                f"no stage {s!r} in these checks.{suggest_closest(str(s), levels)} Stages: {', '.join(levels)}."
            )
    keep = sub.index.get_level_values("statistic").isin(wanted) & sub.index.get_level_values("stage").isin(wanted_stages)
    sub = sub[keep].reset_index()
    sub.insert(0, "variable", variable)
    order = {s: i for i, s in enumerate(wanted)}
    stage_order = {s: i for i, s in enumerate(wanted_stages)}
    sub = sub.sort_values(by=["statistic", "stage"], key=lambda c: c.map(order if c.name == "statistic" else stage_order))
    return sub.reset_index(drop=True)


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
