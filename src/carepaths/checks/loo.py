"""PSIS-LOO and LOO-PIT of the outcome, from the structural equations' pointwise log-likelihood.

The outcome's pointwise log-likelihood (per person-wave, given the observed mediators and
the posterior person effects) is computed from the structural equations on the posterior
draws by :func:`outcome_loglik` (during the predictive checks' replication), not with
``pymc.compute_log_likelihood``: it needs no rebuild and compile of the PyMC model, and it
is the same density the model samples (``tests/test_checks.py`` checks the two agree).

What is left out (:data:`LOO_UNITS`)
------------------------------------
``"person"`` (the default for a panel, a spec with a person column)
    Leave-one-person-out: each person's pointwise log-likelihood is summed over their
    waves, and PSIS runs over persons. A person's waves share the person's effects, so
    leaving out one wave of a person still leaves the others, which tell the model much
    about that person: leave-one-wave-out is optimistic about predicting a new person.
``"row"``
    Leave-one-person-wave-out (the only choice without a person column, where each row
    is its own person).

ArviZ's PSIS-LOO (``arviz_stats.loo``) gives the elpd and the Pareto k of every unit;
units with k > :data:`PARETO_K_LIMIT` (0.7) are counted and reported.

LOO-PIT
-------
The LOO-PIT of each row (``arviz_stats.loo_pit``) uses outcome replicates drawn at the
observed mediators, the predictive distribution matching that likelihood, weighted by the
PSIS weights of leaving out the row's unit (its person, or itself). For a discrete outcome
(binary, count) the PIT of ``P(y_rep <= y)`` is a step, not uniform even for a calibrated
model; it is randomised within the step, ``P(y_rep < y) + U * P(y_rep = y)`` with ``U``
uniform (``pareto_pit=False`` and a ``random_state`` seeded from the check's seed), which
is uniform for a calibrated model. A normal outcome keeps ArviZ's Pareto-smoothed PIT.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import xarray as xr
from scipy import special

from carepaths.data import Panel
from carepaths.figures import LOO_POINTWISE

__all__ = [
    "outcome_loglik", "psis_loo", "loo_pit_values", "per_person", "PARETO_K_LIMIT", "LOO_POINTWISE",
    "LOO_UNITS", "DISCRETE_FAMILIES",
]

PARETO_K_LIMIT = 0.7
#: What PSIS-LOO leaves out: one person (all their waves) or one row (person-wave).
LOO_UNITS = ("person", "row")
#: Outcome families whose LOO-PIT is randomised within its steps.
DISCRETE_FAMILIES = ("bernoulli", "negative_binomial")


def outcome_loglik(
    family: str, y: np.ndarray, eta: np.ndarray, *, sigma: Any, phi: Any, link: str | None = None
) -> np.ndarray:
    """log p(y | eta) of the outcome family (the density the model's ``Y`` uses).

    ``link`` is a bernoulli outcome's: ``"logit"`` (None, the default) or ``"probit"``,
    whose ``log Phi(+-eta)`` is evaluated by ``scipy.special.log_ndtr``, exact in both tails.
    """
    if family == "bernoulli" and link == "probit":
        return y * special.log_ndtr(eta) + (1.0 - y) * special.log_ndtr(-eta)
    if family == "bernoulli":
        if link not in (None, "logit"):
            raise ValueError(f"unknown link {link!r} for a bernoulli outcome; links: logit, probit")
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


def per_person(values: np.ndarray, person: np.ndarray) -> np.ndarray:
    """Sums of ``values`` (obs, ...) over each person's rows: (person, ...), persons 0..P-1."""
    order = np.argsort(person, kind="stable")
    sorted_person = person[order]
    starts = np.flatnonzero(np.r_[True, sorted_person[1:] != sorted_person[:-1]])
    return np.add.reduceat(values[order], starts, axis=0)


def loo_pit_values(
    tree: xr.DataTree, name: str, log_weights: xr.DataArray, pareto_k: xr.DataArray, *,
    discrete: bool, random_state: Any, randomise: bool = True,
) -> xr.DataArray:
    """LOO-PIT of every row from PSIS log weights (see the module docstring).

    Parameters
    ----------
    tree : xarray.DataTree
        With ``posterior``, ``log_likelihood``, ``posterior_predictive`` and
        ``observed_data`` (variable ``name`` over ``obs``).
    name : str
        The outcome.
    log_weights, pareto_k : xarray.DataArray
        Smoothed log weights (chain, draw, obs) and Pareto k (obs) of the unit each row
        belongs to.
    discrete : bool
        Whether the outcome is discrete: then the PIT is randomised within its steps
        (``pareto_pit=False``); otherwise ArviZ's Pareto-smoothed PIT.
    random_state : int or numpy.random.Generator
        The tie-breaking noise of a discrete outcome.
    randomise : bool
        False gives the plain ``P(y_rep <= y)`` (a step for a discrete outcome; for
        comparison only: it is not uniform even for a calibrated model).

    Returns
    -------
    xarray.DataArray
        One value in [0, 1] per row (dim ``obs``).
    """
    import arviz_stats as azs

    if not randomise:
        lw = log_weights.transpose("obs", "chain", "draw").values.reshape(log_weights.sizes["obs"], -1)
        w = np.exp(lw - special.logsumexp(lw, axis=1, keepdims=True))
        pred = tree["posterior_predictive"].to_dataset()[name].transpose("obs", "chain", "draw").values
        y = tree["observed_data"].to_dataset()[name].values
        pit = (w * (pred.reshape(len(y), -1) <= y[:, None])).sum(axis=1)
        return xr.DataArray(np.clip(pit, 0.0, 1.0), dims=("obs",), coords={"obs": tree["observed_data"]["obs"].values})
    return azs.loo_pit(
        tree, var_names=[name], pareto_pit=not discrete, random_state=random_state,
        log_weights=xr.Dataset({name: log_weights}), pareto_k=xr.Dataset({name: pareto_k}),
    )[name]


def psis_loo(
    panel: Panel, post: xr.Dataset, loglik: np.ndarray, y_at_m: np.ndarray, *, unit: str = "row",
    seed: int = 0, person_loglik: np.ndarray | None = None,
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
    unit : {"row", "person"}
        What is left out (:data:`LOO_UNITS`); ``"person"`` needs a person column.
    seed : int
        Seed of the LOO-PIT's tie-breaking noise (discrete outcomes).
    person_loglik : array (person, sample), optional
        Each person's log-likelihood with the person intercept integrated out (a model
        that integrates it): what leaving a person out removes, used in place of the sums
        of ``loglik`` over the person's rows (which condition on one draw of the
        intercept) when ``unit="person"``. Integrating the intercept out makes the
        importance ratios far less variable (fewer high Pareto k).

    Returns
    -------
    loo, tree, loo_pit, message
        ArviZ's result (over persons or rows), the DataTree it was computed from
        (``log_likelihood`` per row; with persons left out also ``log_likelihood_person``,
        the per-person sums PSIS ran on; and a group ``loo_pointwise``: each row's
        ``loo_pit`` and ``pareto_k`` (its person's with persons left out), its ``stage``
        and ``person``, and the attribute ``loo``), the LOO-PIT values and a warning about
        Pareto k (empty when none is over :data:`PARETO_K_LIMIT`).
    """
    import arviz_stats as azs

    spec = panel.spec
    name = spec.outcome.name
    chains, draws = post.sizes["chain"], post.sizes["draw"]
    y_obs = panel.dataset["Y"].values.astype(float)
    # the rows with an observed outcome (all but those missing with missing="model"): a
    # missing outcome has nothing to predict, and a person without one is left out
    seen = ~np.isnan(y_obs)
    y_obs, loglik, y_at_m = y_obs[seen], loglik[seen], y_at_m[seen]
    if spec.outcome.family == "normal":  # LOO in original units (the loglik has the Jacobian)
        scaling = panel.scaling[name]
        y_obs, y_at_m = scaling.to_original(y_obs), scaling.to_original(y_at_m)

    def cdo(values: np.ndarray) -> np.ndarray:
        return np.moveaxis(values, -1, 0).reshape(chains, draws, -1)

    n = len(y_obs)
    obs = {"obs": np.arange(n)}
    sample = {"chain": post["chain"].values, "draw": post["draw"].values}
    has_person = "person_idx" in panel.dataset
    person = panel.dataset["person_idx"].values[seen] if has_person else np.arange(n)
    persons_seen, person = np.unique(person, return_inverse=True)  # persons 0..P-1 with an outcome
    if person_loglik is not None:
        person_loglik = person_loglik[persons_seen]
    tree = xr.DataTree.from_dict({
        "posterior": post,
        "log_likelihood": xr.Dataset({name: (("chain", "draw", "obs"), cdo(loglik))}, coords={**sample, **obs}),
        "posterior_predictive": xr.Dataset({name: (("chain", "draw", "obs"), cdo(y_at_m))}, coords={**sample, **obs}),
        "observed_data": xr.Dataset({name: ("obs", y_obs)}, coords=obs),
    })
    if unit == "person":
        persons = {"person": np.arange(int(person.max()) + 1)}
        tree["log_likelihood_person"] = xr.DataTree(xr.Dataset(
            {name: (("chain", "draw", "person"), cdo(per_person(loglik, person) if person_loglik is None
                                                      else person_loglik))}, coords={**sample, **persons},
        ))
        loo_tree = xr.DataTree.from_dict({
            "posterior": post, "log_likelihood": tree["log_likelihood_person"].to_dataset(),
        })
    else:
        loo_tree = tree
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ArviZ's own Pareto-k warning: ours names the count
        loo = azs.loo(loo_tree, pointwise=True, var_name=name)
        log_weights, pareto_k = loo.log_weights, loo.pareto_k
        if unit == "person":  # each row is weighted as its person is left out
            index = xr.DataArray(person, dims="obs", coords=obs)
            log_weights = log_weights.isel(person=index).drop_vars("person", errors="ignore")
            pareto_k = pareto_k.isel(person=index).drop_vars("person", errors="ignore")
        # the values plot_loo_pit draws, reusing the PSIS weights of arviz_stats.loo
        pit = loo_pit_values(
            tree, name, log_weights, pareto_k, discrete=spec.outcome.family in DISCRETE_FAMILIES,
            random_state=np.random.default_rng([int(seed), 1]),
        )
    k_unit = np.asarray(loo.pareto_k).reshape(-1)
    stage = np.asarray(spec.stage_levels)[panel.dataset["stage_idx"].values[seen]]
    coords = {**obs, "stage": ("obs", stage)}
    if "person" in panel.dataset.coords:
        coords["person"] = ("obs", panel.dataset["person"].values[seen])
    if not seen.all():  # which of the panel's rows each LOO row is
        coords["panel_obs"] = ("obs", np.flatnonzero(seen))
    tree[LOO_POINTWISE] = xr.DataTree(xr.Dataset(
        {"loo_pit": ("obs", np.asarray(pit.values, dtype=float)),
         "pareto_k": ("obs", np.asarray(pareto_k.values, dtype=float).reshape(-1))},
        coords=coords, attrs={"loo": unit},
    ))
    n_bad = int((k_unit > PARETO_K_LIMIT).sum())
    message = ""
    if n_bad:
        units = "persons" if unit == "person" else "rows"
        influential = (
            "These are influential persons (often persons with outlying outcomes); consider "
            if unit == "person" else
            "These are influential person-waves (often persons with few waves and an outlying "
            "outcome); consider "
        )
        message = (
            f"PSIS-LOO: {n_bad} of {k_unit.size} {units} have Pareto k > {PARETO_K_LIMIT} "
            f"(max {np.nanmax(k_unit):.2f}), so their leave-one-out estimates are unreliable and "
            f"elpd_loo may be optimistic. {influential}K-fold cross-validation by person "
            "(az.loo_kfold) or moment matching (az.loo_moment_match)."
        )
    return loo, tree, pit, message
