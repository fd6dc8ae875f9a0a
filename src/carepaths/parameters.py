"""The model's parameters per posterior draw, in the naming of :mod:`carepaths.equations`.

The fitted PyMC model names its variables for sampling (``cutpoints_<mediator>``,
``d_edge``, ``z_v``, ``sigma_m`` over normal mediators only, ...). Everything that
evaluates the structural equations on posterior draws — effects, interventions,
predictive checks — reads them through :class:`PosteriorParams`, which applies the
model's conventions in one place:

* an ordinal mediator's intercept in the first stage is fixed at 0 (its cutpoints carry
  the level), whatever the free variable ``alpha_m`` holds there;
* ``sigma_m`` and ``cutpoints`` are given for every mediator (NaN where a family has
  none), ``d`` as a (mediator, parent) matrix, ``gamma_m``/``delta`` as empty arrays
  without confounders;
* person effects: ``v`` = ``sd_v * z_v`` (plus the cluster intercept), explicit mediator
  intercepts ``u`` (normal mediators' intercepts are integrated out in the
  ``"intercepts"`` mode and are 0 here: :func:`draw_person_intercepts` draws them from
  their exact conditional posterior when a use needs them), and random slopes;
* a model with paths shared across stages (``structure.stage_specific_paths = false``)
  reads back with each path repeated over the stage axis.

:func:`params_from_draws` reads prior draws the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from carepaths.spec import Spec

__all__ = [
    "PosteriorParams",
    "posterior_params",
    "params_from_draws",
    "person_intercept_posterior",
    "draw_person_intercepts",
]


@dataclass(frozen=True)
class PosteriorParams:
    """Posterior draws of every parameter, stacked over (chain, draw) into one sample axis.

    Attributes
    ----------
    spec : Spec
    chains, draws : int
        Sizes of the chain and draw dims (samples = chains * draws, chain-major).
    fixed : dict of str to array
        Population-level parameters with a leading sample axis, in the naming of
        :mod:`carepaths.equations`.
    person : dict of str to array
        Person-level quantities with a leading sample axis: ``sd_u`` (sample, mediator),
        ``sd_v`` (sample,), ``sd_cluster`` (sample,), ``slope_cov`` (sample, slope,
        slope); for the observed persons ``v`` (sample, person), ``u`` (sample, person,
        mediator), ``slopes`` (sample, person, slope), ``cluster`` (sample, cluster);
        each present only when the model has it.
    """

    spec: Spec
    chains: int
    draws: int
    fixed: dict[str, np.ndarray]
    person: dict[str, np.ndarray]

    @property
    def n_samples(self) -> int:
        """Number of posterior samples (chains x draws)."""
        return self.chains * self.draws

    def sample(self, i: int) -> dict[str, np.ndarray]:
        """The population-level parameters of sample ``i`` (for :mod:`carepaths.equations`)."""
        return {name: value[i] for name, value in self.fixed.items()}


def posterior_params(fit: Any) -> PosteriorParams:
    """Read a fit's posterior into :class:`PosteriorParams`.

    Parameters
    ----------
    fit : Fit
        A fitted model (:class:`carepaths.fit.Fit`).

    Returns
    -------
    PosteriorParams
    """
    return params_from_draws(fit.spec, fit.posterior["posterior"].to_dataset())


def params_from_draws(spec: Spec, post: Any) -> PosteriorParams:
    """Read draws of the model's variables (posterior or prior) into :class:`PosteriorParams`.

    Parameters
    ----------
    spec : Spec
        The spec the model was built from.
    post : xarray.Dataset
        The model's variables with ``chain`` and ``draw`` dims: a fit's posterior group, or
        the prior group of :meth:`carepaths.model.MediationModel.sample_prior_predictive`
        (one chain).

    Returns
    -------
    PosteriorParams
        With shared paths (``structure.stage_specific_paths = false``) repeated over the
        stage axis, so ``a``, ``b`` are (sample, mediator, stage) and ``c`` is (sample,
        stage) for every model.
    """
    chains, draws = post.sizes["chain"], post.sizes["draw"]
    n = chains * draws
    K = len(spec.mediators)
    n_conf = len(spec.confounder_terms)
    names = list(spec.mediator_names)

    def get(name: str) -> np.ndarray:
        values = post[name].values
        return values.reshape(n, *values.shape[2:])

    fixed: dict[str, np.ndarray] = {}
    n_stages = len(spec.stage_levels)
    for name in ("alpha_m", "a", "b"):
        fixed[name] = get(name).copy()  # (sample, mediator, stage)
    fixed["c"], fixed["beta0"] = get("c"), get("beta0")
    if not spec.structure.stage_specific_paths:  # one path for every stage
        for name in ("a", "b", "c"):
            fixed[name] = np.repeat(fixed[name][..., None], n_stages, axis=-1)
    for k, med in enumerate(spec.mediators):
        if med.family == "ordinal":
            fixed["alpha_m"][:, k, 0] = 0.0
    fixed["gamma_m"] = get("gamma_m") if n_conf else np.zeros((n, K, 0))
    fixed["delta"] = get("delta") if n_conf else np.zeros((n, 0))
    d = np.zeros((n, K, K))
    if spec.mediator_edges:
        d_edge = get("d_edge")
        for e, (src, dst) in enumerate(spec.mediator_edges):
            d[:, names.index(dst), names.index(src)] = d_edge[:, e]
    fixed["d"] = d
    sigma_m = np.full((n, K), np.nan)
    normal = [k for k, m in enumerate(spec.mediators) if m.family == "normal"]
    if normal:
        sigma_m[:, normal] = get("sigma_m")
    fixed["sigma_m"] = sigma_m
    n_cut = max([len(m.categories) - 1 for m in spec.mediators if m.family == "ordinal"], default=1)
    cutpoints = np.full((n, K, n_cut), np.nan)
    for k, med in enumerate(spec.mediators):
        if med.family == "ordinal":
            cutpoints[:, k, : len(med.categories) - 1] = get(f"cutpoints_{med.name}")
    fixed["cutpoints"] = cutpoints
    fixed["sigma_y"] = get("sigma_y") if "sigma_y" in post else np.full(n, np.nan)
    fixed["phi"] = get("phi") if "phi" in post else np.full(n, np.nan)
    if spec.structure.center_exposure_within_person:
        fixed["a_between"], fixed["c_between"] = get("a_between"), get("c_between")

    person: dict[str, np.ndarray] = {}
    mode = spec.structure.person_effects if spec.columns.person else "none"
    if mode != "none":
        person["sd_u"], person["sd_v"] = get("sd_u"), get("sd_v")
        person["v"] = person["sd_v"][:, None] * get("z_v")
        u = np.zeros((n, post.sizes["person"], K))
        if "z_u" in post:
            explicit = [names.index(str(m)) for m in post["z_u"].coords["mediator_explicit"].values]
            u[:, :, explicit] = get("z_u") * person["sd_u"][:, None, explicit]
        person["u"] = u
    if mode == "slopes":
        stds, corr = get("chol_slope_stds"), get("chol_slope_corr")
        person["slope_cov"] = corr * stds[:, :, None] * stds[:, None, :]
        person["slopes"] = get("person_slope")
    if spec.columns.cluster is not None:
        person["sd_cluster"] = get("sd_cluster")
        person["cluster"] = person["sd_cluster"][:, None] * get("z_cluster")
    return PosteriorParams(spec=spec, chains=chains, draws=draws, fixed=fixed, person=person)


def person_intercept_posterior(
    resid_sums: np.ndarray, counts: np.ndarray, sigma: Any, sd_u: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of a normal mediator's integrated-out person intercept, given the data.

    In ``person_effects = "intercepts"`` mode the model integrates the person intercepts
    u_i of normal mediators out (:mod:`carepaths.model`), so the posterior holds none.
    Given one draw of the other parameters, person i's waves are
    ``r_it = u_i + e_it`` with ``u_i ~ Normal(0, sd_u^2)``, ``e_it ~ Normal(0, sigma^2)``
    and ``r_it`` the residual of the mediator after its fixed part (without u); the
    conditional posterior is normal (conjugacy)::

        u_i | rest ~ Normal( var_u * sum_t r_it / (sigma^2 + n_i var_u),
                             var_u * sigma^2 / (sigma^2 + n_i var_u) )

    and, as u enters no other equation, drawing it from here after a posterior draw of
    the rest is a draw from the joint posterior.

    Parameters
    ----------
    resid_sums : array (person,) or (person, draw)
        Per-person sums of the residuals ``sum_t r_it``.
    counts : array (person,)
        Waves per person ``n_i``.
    sigma, sd_u : float or array (draw,)
        Residual SD and person-intercept SD (one per draw with a draw axis).

    Returns
    -------
    mean, var : arrays shaped like ``resid_sums``
    """
    counts = np.asarray(counts, dtype=float)
    resid_sums = np.asarray(resid_sums, dtype=float)
    if resid_sums.ndim == 2:
        counts = counts[:, None]
    var_e, var_u = np.asarray(sigma, dtype=float) ** 2, np.asarray(sd_u, dtype=float) ** 2
    denom = var_e + counts * var_u
    mean = var_u * resid_sums / denom
    var = np.broadcast_to(var_u * var_e / denom, mean.shape)
    return mean, var


def draw_person_intercepts(
    resid_sums: np.ndarray, counts: np.ndarray, sigma: Any, sd_u: Any, rng: np.random.Generator
) -> np.ndarray:
    """One draw of integrated-out person intercepts from :func:`person_intercept_posterior`.

    Parameters
    ----------
    resid_sums, counts, sigma, sd_u
        As in :func:`person_intercept_posterior`.
    rng : numpy.random.Generator

    Returns
    -------
    array shaped like ``resid_sums``
    """
    mean, var = person_intercept_posterior(resid_sums, counts, sigma, sd_u)
    return mean + np.sqrt(var) * rng.standard_normal(mean.shape)
