"""The models over waves a g-formula needs beside the per-wave equations (spec ``[time]``).

Fitted on a panel's rows with a previous wave (and, for the exposure, every row), on the
panel's model scale, as one PyMC model whose likelihood factorises from the per-wave
mediation model's (so the two posteriors are fitted apart and paired draw by draw):

* the stage transition, a multinomial logit of the stage given the previous stage
  (staying is each row's reference: ``transition_log[j, j] = 0``; absorbing stages'
  rows are fixed and leave the likelihood) and the previous wave's ``given`` values
  (``transition_given[:, 0] = 0``, the first stage the reference);
* each time-varying confounder, normal given its previous value (``tv_rho``), the stage
  (``tv_stage``) and the lag terms (``tv_lag``; its own lag and ``first_wave`` are fixed
  at 0, collinear with ``tv_rho`` and the stage intercepts on these rows);
* the exposure's natural course, normal given the stage (``alpha_x``) and every
  confounder term, lag terms included (``gamma_x``), with a person intercept (SD
  ``sd_x_person``) integrated out analytically.

The names are those of :mod:`carepaths.structural.time_equations`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from carepaths.data import Panel
from carepaths.exceptions import CarepathsError, ConvergenceWarning
from carepaths.model._missing import compound_symmetric_rows
from carepaths.results import diagnose
from carepaths.spec import FIRST_WAVE, Spec

__all__ = ["TimeFit", "fit_time_model", "time_model"]


def _rows(panel: Panel) -> tuple[np.ndarray, np.ndarray]:
    previous = panel.previous_wave()
    rows = np.flatnonzero(previous >= 0)
    return rows, previous[rows]


def time_model(spec: Spec, panel: Panel) -> Any:
    """The PyMC model of the transitions, the time-varying confounders and the exposure."""
    import pymc as pm
    import pytensor.tensor as pt

    time = spec.time
    if time is None:
        raise CarepathsError("the models over waves need a spec with a [time] table.")
    ds = panel.dataset
    stage, C, X = ds["stage_idx"].values, ds["C"].values, np.asarray(ds["X"].values, dtype=float)
    S = len(spec.stage_levels)
    terms = list(spec.confounder_terms)
    lag_cols = [terms.index(t) for t in spec.lag_terms]
    rows, prev = _rows(panel)
    given = time.transition_given or ()
    coords = {"stage": list(spec.stage_levels), "stage_next": list(spec.stage_levels), "given": list(given),
              "time_varying": list(time.time_varying), "lag_term": list(spec.lag_terms), "confounder": terms}
    with pm.Model(coords=coords) as model:
        # transitions ------------------------------------------------------------------
        free = ~np.eye(S, dtype=bool)
        absorbing = [spec.stage_levels.index(a) for a in time.absorbing]
        for a in absorbing:
            free[a] = False
        raw = pm.Normal("transition_free", 0.0, 1.5, shape=int(free.sum()))
        log = pt.zeros((S, S))
        log = pt.set_subtensor(log[np.nonzero(free)], raw)
        for a in absorbing:
            log = pt.set_subtensor(log[a], np.where(np.arange(S) == a, 0.0, -np.inf))
        pm.Deterministic("transition_log", log, dims=("stage", "stage_next"))
        given_values = np.column_stack([panel.lagged(g)[rows] for g in given]) if given else np.zeros((len(rows), 0))
        beta = pm.Normal("transition_given_free", 0.0, 1.0, shape=(len(given), S - 1))
        beta_full = pt.concatenate([pt.zeros((len(given), 1)), beta], axis=1)
        pm.Deterministic("transition_given", beta_full, dims=("given", "stage_next"))
        moving = ~np.isin(stage[prev], absorbing)
        logits = log[stage[prev][moving]] + pt.dot(given_values[moving], beta_full)
        pm.Categorical("stage_next_obs", logit_p=logits, observed=stage[rows][moving])
        # time-varying confounders --------------------------------------------------------
        V = len(time.time_varying)
        if V:
            fixed = np.zeros((V, len(lag_cols)), dtype=bool)
            for v, name in enumerate(time.time_varying):
                for j, term in enumerate(spec.lag_terms):
                    fixed[v, j] = term in (FIRST_WAVE, f"lag({name})")
            rho = pm.Normal("tv_rho", 0.0, 1.0, dims="time_varying")
            tv_stage = pm.Normal("tv_stage", 0.0, 1.0, dims=("time_varying", "stage"))
            lag_free = pm.Normal("tv_lag_free", 0.0, 1.0, shape=int((~fixed).sum()))
            tv_lag = pt.set_subtensor(pt.zeros((V, len(lag_cols)))[np.nonzero(~fixed)], lag_free)
            pm.Deterministic("tv_lag", tv_lag, dims=("time_varying", "lag_term"))
            sigma = pm.HalfNormal("tv_sigma", 1.0, dims="time_varying")
            for v, name in enumerate(time.time_varying):
                j = terms.index(name)
                mu = rho[v] * C[prev, j] + tv_stage[v][stage[rows]] + pt.dot(C[rows][:, lag_cols], tv_lag[v])
                pm.Normal(f"tv_{name}", mu, sigma[v], observed=C[rows, j])
        # the exposure's natural course -----------------------------------------------------
        alpha_x = pm.Normal("alpha_x", 0.0, 1.0, dims="stage")
        gamma_x = pm.Normal("gamma_x", 0.0, 1.0, dims="confounder")
        sigma_x = pm.HalfNormal("sigma_x", 1.0)
        sd_x = pm.HalfNormal("sd_x_person", 1.0)
        D = np.column_stack([np.eye(S)[stage], C])
        pm.Potential("exposure", compound_symmetric_rows(
            "time_exposure", panel.n_persons, D=D, y=X, person=ds["person_idx"].values,
            W=pt.concatenate([alpha_x, gamma_x]), sigma=sigma_x, sd=sd_x))
    return model


class TimeFit:
    """The posterior of the models over waves (:func:`fit_time_model`).

    Attributes
    ----------
    posterior : xarray.Dataset
        Draws (``chain``, ``draw``) of ``transition_log``, ``transition_given``, ``tv_*``,
        ``alpha_x``, ``gamma_x``, ``sigma_x``, ``sd_x_person``.
    diagnostics : xarray.Dataset
        R-hat and ESS of each free parameter (:func:`carepaths.results.diagnose`; the
        transitions' and lag coefficients' free entries as ``*_free``).
    converged : bool
        R-hat <= 1.01 and bulk ESS >= 400 for every parameter.
    """

    def __init__(self, posterior: xr.Dataset):
        self.posterior = posterior
        # the free parameters (the Deterministics hold fixed 0 and -inf entries besides them)
        keep = [n for n in posterior.data_vars if n not in ("transition_log", "transition_given", "tv_lag")]
        self.diagnostics = diagnose(posterior[keep])
        r_hat = max(float(self.diagnostics[n].sel(diagnostic="r_hat").max()) for n in keep
                    if self.diagnostics[n].sel(diagnostic="r_hat").size)
        ess = min(float(self.diagnostics[n].sel(diagnostic="ess_bulk").min()) for n in keep
                  if self.diagnostics[n].sel(diagnostic="ess_bulk").size)
        self.converged = bool(r_hat <= 1.01 and ess >= 400)

    def sample(self, i: int) -> dict[str, np.ndarray]:
        """The arrays of :mod:`carepaths.structural.time_equations` at sample ``i`` (chain-major)."""
        stacked = self.posterior.stack(sample=("chain", "draw"))
        out = {name: np.asarray(stacked[name].isel(sample=i).values, dtype=float)
               for name in ("transition_log", "transition_given", "alpha_x", "gamma_x")}
        out["sigma_x"] = float(stacked["sigma_x"].isel(sample=i))
        out["sd_x_person"] = float(stacked["sd_x_person"].isel(sample=i))
        for name in ("tv_rho", "tv_stage", "tv_lag", "tv_sigma"):
            out[name] = np.asarray(stacked[name].isel(sample=i).values, dtype=float) if name in stacked \
                else np.zeros((0,))
        return out

    @property
    def n_samples(self) -> int:
        """Chains x draws."""
        return int(self.posterior.sizes["chain"] * self.posterior.sizes["draw"])


def fit_time_model(spec: Spec, panel: Panel, *, draws: int = 1000, tune: int = 1000, chains: int = 2,
                   seed: int) -> TimeFit:
    """Sample the models over waves with PyMC's NUTS.

    Parameters
    ----------
    spec, panel : Spec, Panel
        A spec with a ``[time]`` table and a panel validated against it.
    draws, tune, chains : int
    seed : int

    Returns
    -------
    TimeFit
    """
    import logging

    import pymc as pm

    model = time_model(spec, panel)
    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.WARNING)  # PyMC's "Initializing NUTS" lines: not news to a user
    try:
        with model:
            tree = pm.sample(draws=draws, tune=tune, chains=chains, cores=1, random_seed=seed, progressbar=False,
                             compute_convergence_checks=False, nuts_sampler="pymc")
    finally:
        logger.setLevel(level)
    fit = TimeFit(tree["posterior"].to_dataset())
    if not fit.converged:
        import warnings

        warnings.warn(
            "the models over waves did not converge (R-hat above 1.01 or bulk ESS below 400 somewhere; "
            "time_fit.diagnostics has each): trajectories computed from them are marked NOT CONVERGED. "
            "Sample longer (draws=, tune=).", ConvergenceWarning, stacklevel=2)
    return fit
