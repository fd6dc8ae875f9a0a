"""Missing values in the fitted model (``Panel.from_frame(..., missing="model")``).

Four pieces of :class:`~carepaths.model.build.MediationModel`'s log-density:

* normal mediators with person intercepts integrated out, when some of their rows cannot
  use the constant sufficient statistics: a missing value drawn as a latent value
  (``M_missing``), or a row whose confounders hold a latent value (``C_missing``). Those
  rows add their residuals one by one; the other rows keep the sufficient statistics;
* the imputation model of a continuous exposure and each numeric confounder with missing
  values: normal, with a mean per stage and a person intercept integrated out (the
  person's other waves inform a missing wave), ``impute_mean``, ``impute_sigma``,
  ``impute_sd``. The latent values (``X_missing``, ``C_missing``) also enter every
  equation the variable enters, so the row's mediators and outcome inform them too;
* missing binary and ordinal mediators summed out of their rows' likelihood (a finite
  mixture per row, :mod:`carepaths.structural.mixtures`), with each component's
  posterior weight kept (``M_missing_weights``);
* the checks of what is not modelled (mediator edges with a missing mediator, product
  terms with an imputed variable).

Everything here is written once for the observed and the latent parts by the structural
equations (:mod:`carepaths.structural.equations`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from carepaths.exceptions import SpecError
from carepaths.model._densities import _compound_symmetric_normal, _data
from carepaths.spec import Spec
from carepaths.structural import equations
from carepaths.structural.mixtures import MixtureGroup
from carepaths.structural.parameters import MISSING_CONFOUNDERS, MISSING_EXPOSURE, product_terms

__all__ = ["IMPUTATION_PARAMS", "MISSING_CONFOUNDERS", "MISSING_EXPOSURE", "check_missing_supported",
           "check_mixture_supported", "compound_symmetric_rows", "discrete_mixture", "imputation_model",
           "marginal_mediators"]
#: The imputation model's parameters, by prior name (priors.IMPUTATION_PRIORS).
IMPUTATION_PARAMS = ("impute_mean", "impute_sigma", "impute_sd")


def check_missing_supported(spec: Spec, *, mediators: bool, confounders: list[str]) -> None:
    """Refuse what a latent mediator or confounder value cannot be part of yet.

    Parameters
    ----------
    spec : Spec
    mediators : bool
        Whether some mediator values are missing.
    confounders : list of str
        The confounder terms with missing values.
    """
    if mediators and spec.mediator_edges:
        raise SpecError(
            "the panel has missing mediator values (missing='model') and the spec declares mediator edges "
            "([[mediator_edges]]): a missing mediator would then be a latent predictor of another mediator, "
            "which carepaths does not model yet. Pass missing='drop' to Panel.from_frame, or remove the edges."
        )
    terms = product_terms(spec)
    moderating = sorted({spec.confounder_terms[t.index[-1]] for name in ("a_mod", "b_mod", "c_mod")
                         for t in terms.get(name, ())} & set(confounders))
    if moderating:
        raise SpecError(
            f"the panel has missing values of confounder(s) {moderating} (missing='model'), which moderate a path "
            "([[moderation]]): an imputed value inside a product term is not modelled yet. Pass missing='drop' to "
            "Panel.from_frame, or remove the moderation."
        )


def check_mixture_supported(spec: Spec, quadrature_outcome: bool) -> None:
    """Refuse a missing binary or ordinal mediator the model cannot sum out of its row.

    The sum runs over one row's likelihood given the person effects; with the person
    intercepts integrated out (``structure.person_intercepts = "integrated"``, the default)
    a row's likelihood does not exist apart from the person's other waves.
    """
    if quadrature_outcome:
        raise SpecError(
            "the panel has missing binary or ordinal mediator values (missing='model'), which the model sums "
            "out of each row's likelihood given the person effects; with structure.person_intercepts = "
            "\"integrated\" (the default) the person intercepts are integrated out and a row has no likelihood "
            "of its own. Set structure.person_intercepts = \"sampled\" in the spec, or pass missing='drop'."
        )


def discrete_mixture(
    groups: list[MixtureGroup], M: Any, outcome_logp: Callable[[np.ndarray, Any], Any],
    mediator_logp: Callable[[int, float, np.ndarray], Any],
) -> tuple[Any, Any]:
    """The rows' likelihood with their missing binary and ordinal mediators summed out.

    Per row of a group, ``log sum_c exp(sum_k log P(M_k = value_ck) + log p(Y | M = value_c))``
    over the group's components (:mod:`carepaths.structural.mixtures`); each component's
    posterior weight is the term's share of the sum.

    Parameters
    ----------
    groups : list of MixtureGroup
    M : tensor or array (obs, mediator)
        The mediators (latent normal values in place; any value at the summed-out cells).
    outcome_logp : callable (rows, M rows) -> tensor (rows,)
        The outcome's log-density at the rows with the given mediators.
    mediator_logp : callable (mediator, value, rows) -> tensor (rows,)
        ``log P(M_k = value)`` at the rows.

    Returns
    -------
    logp : tensor ()
    weights : tensor (component,)
        Every group's (row, component) weights, flat in the groups' order.
    """
    import pytensor.tensor as pt

    total: Any = 0.0
    weights = []
    M = pt.as_tensor(M)
    for g in groups:
        base = M[g.rows]
        terms = []
        for values in g.values:
            filled = pt.set_subtensor(base[:, g.mediators], np.broadcast_to(values, (len(g.rows), len(values))))
            term = outcome_logp(g.rows, filled)
            for k, value in zip(g.mediators, values, strict=True):
                term = term + mediator_logp(int(k), float(value), g.rows)
            terms.append(term)
        stacked = pt.stack(terms, axis=1)  # (row, component)
        norm = pt.logsumexp(stacked, axis=1, keepdims=True)
        total = total + norm.sum()
        weights.append(pt.exp(stacked - norm).flatten())
    return total, pt.concatenate(weights)


def compound_symmetric_rows(
    prefix: str, n_persons: int, *, D: np.ndarray, y: np.ndarray, person: np.ndarray, W: Any,
    resid: Any = None, resid_person: np.ndarray | None = None, sigma: Any, sd: Any,
) -> Any:
    """Normal log-density of every person's waves with the person intercept integrated out.

    The constant rows (design ``D``, values ``y``, persons ``person``) enter through
    sufficient statistics, as in the complete-data model; the rows that hold a latent
    value enter through their residuals ``resid`` (tensor) with persons ``resid_person``.

    Returns
    -------
    tensor ()
    """
    import pytensor.tensor as pt

    D_sum = np.zeros((n_persons, D.shape[1]))
    np.add.at(D_sum, person, D)
    rss = (_data(f"{prefix}_ss", np.array([y @ y]))[0] - 2.0 * pt.dot(_data(f"{prefix}_cross", D.T @ y), W)
           + pt.dot(W, pt.dot(_data(f"{prefix}_gram", D.T @ D), W)))
    per_person = (_data(f"{prefix}_person_sums", np.bincount(person, y, minlength=n_persons))
                  - pt.dot(_data(f"{prefix}_design_person_sums", D_sum), W))
    included = person
    if resid is not None and len(resid_person):
        rss = rss + pt.sum(resid**2)
        per_person = pt.inc_subtensor(per_person[resid_person], resid)
        included = np.concatenate([person, resid_person])
    counts = np.bincount(included, minlength=n_persons)
    return _compound_symmetric_normal(per_person[:, None], rss[None], sigma[None], sd[None], counts,
                                      prefix=f"{prefix}_")[0]


def marginal_mediators(
    spec: Spec, ds: Any, params: Mapping[str, Any], normal: list[int], sigma_m: Any, sd_u: Any, *,
    M: Any, M_const: np.ndarray, m_seen: np.ndarray, C: Any, C_const: np.ndarray, X: Any, X_const: np.ndarray,
    special: np.ndarray,
) -> list[Any]:
    """Each normal mediator's log-density (intercepts integrated out) with latent values.

    Parameters
    ----------
    M, C, X : tensors (obs, mediator), (obs, confounder), (obs,)
        The mediators, confounders and exposure, latent values in place.
    M_const, C_const, X_const : arrays
        The same with 0 in place of every missing value (the constant statistics never
        use those rows).
    m_seen : bool array (obs, mediator)
        Where the mediator enters its likelihood: observed, or a latent value.
    special : bool array (obs,)
        Rows whose confounders or exposure hold a latent value: their design is not constant.

    Returns
    -------
    list of tensors ()
        One log-density per normal mediator, in the order of ``normal``.
    """
    import pytensor.tensor as pt

    split = spec.structure.center_exposure_within_person  # refused with a missing exposure
    x = X_const if not split else ds["X_within"].values
    x_between = ds["X_between"].values if split else None
    stage_idx, person_idx = ds["stage_idx"].values, ds["person_idx"].values
    n_persons = int(person_idx.max()) + 1
    moderated = "a_mod" in params
    D = equations.mediator_design(x=x, C=C_const, stage_idx=stage_idx, n_stages=len(spec.stage_levels),
                                  M=M_const if spec.mediator_edges else None, x_between=x_between, moderated=moderated)
    W_all = equations.mediator_coefficient_matrix(
        params, with_edges=bool(spec.mediator_edges), with_between=split, with_moderation=moderated,
        concatenate=pt.concatenate,
    )
    observed = ~np.isnan(ds["M"].values)
    out = []
    for j, k in enumerate(normal):
        name = spec.mediator_names[k]
        const = observed[:, k] & ~special
        rows = np.flatnonzero(m_seen[:, k] & ~const)  # a latent value, or a latent confounder
        resid = None
        if len(rows):
            eta = equations.mediator_predictor(
                params, k, x=x[rows] if split else X[rows], C=C[rows], stage_idx=stage_idx[rows],
                x_between=None if x_between is None else x_between[rows],
                M=M_const[rows] if spec.mediator_edges else None,
            )
            resid = M[rows, k] - eta
        out.append(compound_symmetric_rows(
            name, n_persons, D=D[const], y=M_const[const, k], person=person_idx[const], W=W_all[:, k],
            resid=resid, resid_person=person_idx[rows], sigma=sigma_m[j], sd=sd_u[k],
        ))
    return out


def imputation_model(ds: Any, n_stages: int, variables: list[tuple[str, np.ndarray, Any]],
                     raw: Mapping[str, Any]) -> Any:
    """Log-density of the imputed variables' values (exposure, confounders), observed and latent.

    Each variable: ``V ~ Normal(impute_mean[v, stage] + w_i, impute_sigma[v])`` with a
    person intercept ``w_i ~ Normal(0, impute_sd[v])`` integrated out (without a person
    column, no intercept).

    Parameters
    ----------
    ds : xarray.Dataset
        The panel's dataset.
    n_stages : int
    variables : list of (name, values, tensor)
        Each imputed variable (the imputation model's order): its name, its model-scale
        values with NaN where missing (obs,), and the same as a tensor with the latent
        values in place.
    raw : mapping
        The model's variables, with ``impute_mean`` (variable, stage), ``impute_sigma``
        and ``impute_sd`` (variable).

    Returns
    -------
    tensor ()
    """
    stage_idx = ds["stage_idx"].values
    has_person = "person_idx" in ds
    person_idx = ds["person_idx"].values if has_person else np.arange(len(stage_idx))
    n_persons = int(person_idx.max()) + 1
    onehot = np.eye(n_stages)[stage_idx]
    total = 0.0
    for i, (name, values, tensor) in enumerate(variables):
        seen = ~np.isnan(values)
        gap = np.flatnonzero(~seen)
        mean = raw["impute_mean"][i]
        if not has_person:
            import pymc as pm

            total = total + pm.logp(pm.Normal.dist(mean[stage_idx], raw["impute_sigma"][i]), tensor).sum()
            continue
        total = total + compound_symmetric_rows(
            f"impute_{name}", n_persons, D=onehot[seen], y=values[seen], person=person_idx[seen], W=mean,
            resid=tensor[gap] - mean[stage_idx[gap]], resid_person=person_idx[gap], sigma=raw["impute_sigma"][i],
            sd=raw["impute_sd"][i],
        )
    return total
