"""PSIS-LOO and LOO-PIT of the outcome, from the structural equations' pointwise log-likelihood.

The outcome's pointwise log-likelihood (per person-wave, given the observed mediators and
the posterior person effects: leave-one-person-wave-out) is computed from the structural
equations on the posterior draws by :func:`outcome_loglik` (during the predictive
checks' replication), not with ``pymc.compute_log_likelihood``: it needs no rebuild and
compile of the PyMC model, and it is the same density the model samples
(``tests/test_checks.py`` checks the two agree). ArviZ's PSIS-LOO (``arviz_stats.loo``) gives the
elpd and the Pareto k of every row; rows with k > :data:`PARETO_K_LIMIT` (0.7) are
counted and reported. The LOO-PIT (``arviz_stats.loo_pit``) uses outcome replicates drawn at the
observed mediators, the predictive distribution matching that likelihood.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import xarray as xr
from scipy import special

from carepaths.data import Panel
from carepaths.figures import LOO_POINTWISE

__all__ = ["outcome_loglik", "psis_loo", "PARETO_K_LIMIT", "LOO_POINTWISE"]

PARETO_K_LIMIT = 0.7


def outcome_loglik(family: str, y: np.ndarray, eta: np.ndarray, *, sigma: Any, phi: Any) -> np.ndarray:
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


def psis_loo(
    panel: Panel, post: xr.Dataset, loglik: np.ndarray, y_at_m: np.ndarray
) -> tuple[Any, xr.DataTree, xr.DataArray, str]:
    """PSIS-LOO and LOO-PIT of the outcome.

    Parameters
    ----------
    panel : Panel
    post : xarray.Dataset
        The posterior draws (chain, draw) the log-likelihood was computed on.
    loglik : array (obs, sample)
        Pointwise log-likelihood (:func:`outcome_loglik`; original units for a normal
        outcome).
    y_at_m : array (obs, sample)
        Outcome replicates at the observed mediators, on the model scale.

    Returns
    -------
    loo, tree, loo_pit, message
        ArviZ's result, the DataTree it was computed from (with a group ``loo_pointwise``:
        each row's ``loo_pit`` and ``pareto_k``, and its ``stage``), the LOO-PIT values and
        a warning about Pareto k (empty when none is over :data:`PARETO_K_LIMIT`).
    """
    import arviz_stats as azs

    spec = panel.spec
    name = spec.outcome.name
    chains, draws = post.sizes["chain"], post.sizes["draw"]
    y_obs = panel.dataset["Y"].values.astype(float)
    if spec.outcome.family == "normal":  # LOO in original units (the loglik has the Jacobian)
        scaling = panel.scaling[name]
        y_obs, y_at_m = scaling.to_original(y_obs), scaling.to_original(y_at_m)

    def cdo(values: np.ndarray) -> np.ndarray:
        return np.moveaxis(values, -1, 0).reshape(chains, draws, -1)

    obs = {"obs": np.arange(len(y_obs))}
    sample = {"chain": post["chain"].values, "draw": post["draw"].values}
    tree = xr.DataTree.from_dict({
        "posterior": post,
        "log_likelihood": xr.Dataset({name: (("chain", "draw", "obs"), cdo(loglik))}, coords={**sample, **obs}),
        "posterior_predictive": xr.Dataset({name: (("chain", "draw", "obs"), cdo(y_at_m))}, coords={**sample, **obs}),
        "observed_data": xr.Dataset({name: ("obs", y_obs)}, coords=obs),
    })
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ArviZ's own Pareto-k warning: ours names the count
        loo = azs.loo(tree, pointwise=True, var_name=name)
        # the values plot_loo_pit draws (its default method "pot_c" uses Pareto-tail PIT)
        # (reusing the PSIS weights of arviz_stats.loo: the same values, half the cost)
        pit = azs.loo_pit(
            tree, var_names=[name], pareto_pit=True,
            log_weights=xr.Dataset({name: loo.log_weights}), pareto_k=xr.Dataset({name: loo.pareto_k}),
        )[name]
    k = np.asarray(loo.pareto_k).reshape(-1)
    stage = np.asarray(spec.stage_levels)[panel.dataset["stage_idx"].values]
    tree[LOO_POINTWISE] = xr.DataTree(xr.Dataset(
        {"loo_pit": ("obs", np.asarray(pit.values, dtype=float)), "pareto_k": ("obs", k)},
        coords={**obs, "stage": ("obs", stage)},
    ))
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


