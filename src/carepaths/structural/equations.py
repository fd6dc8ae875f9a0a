"""The structural equations of the mediation model: the single source of truth.

Everything that evaluates the model's equations — the simulator, the fitted model,
posterior prediction, effects and interventions — calls these functions, so they can
never disagree. For person i at wave t in stage s (``DESIGN.md``)::

    M_k = F_k( alpha_m[k, s] + (a[k, s] + a_i[k]) * X + C @ gamma_m[k]
               + sum_j d[k, j] * M_j + u_i[k] )                      (mediator k)
    Y   = F_Y( beta0[s] + (c[s] + c_i) * X + sum_k (b[k, s] + b_i[k]) * M_k
               + C @ delta + v_i + w_cluster )                       (outcome)

``d[k, j]`` is non-zero only for declared mediator edges j -> k. Mediators enter the
outcome on their model scale (a bernoulli mediator as 0/1, an ordinal one as its
0..K-1 code). The link functions are identity (normal), logit or probit (bernoulli, and
the cumulative logit or probit of ordinal mediators; the spec's ``link``, logit by
default) and log (negative binomial).

Links as latent variables: a bernoulli or ordinal mediator is ``eta + e`` cut at 0 (or at
its cutpoints), with ``e`` standard logistic (logit) or standard normal (probit); a
binary outcome has ``P(Y = 1) = F(eta)`` with ``F`` the logistic or the standard normal
CDF. Every function below that depends on the link takes it as ``link`` (``"logit"``,
``"probit"``, or None for the family's default: logit for bernoulli and ordinal, and
nothing to choose for normal and negative-binomial variables).

The linear-predictor functions use only indexing, ``+``, ``*`` and ``@``, so they
accept NumPy arrays and PyTensor tensors alike. Each mediator has its own predictor
(one-dimensional gathers by stage were measured fastest in the compiled model); the
outcome takes all mediators as one (obs, mediator) matrix. The functions that draw
values or take expectations are NumPy-only.

Batched draws: every NumPy function also evaluates many posterior draws at once when
each parameter carries a trailing draw axis (``a`` (mediator, stage, draw), ``c``
(stage, draw), ``delta`` (confounder, draw), ``cutpoints`` (mediator, cut, draw), ...),
the exposure is a column (obs, 1), per-row person effects carry the draw axis last
((obs, draw), (obs, mediator, draw)) and mediators are (obs, mediator, draw). Results
then have the draw axis last. :mod:`carepaths.counterfactual.effects` uses this to evaluate chunks of
draws in a few large array operations.

Parameter names (the ``params`` mapping; ``xarray`` dims in brackets):
``alpha_m`` (mediator, stage), ``a`` (mediator, stage), ``gamma_m`` (mediator,
confounder), ``d`` (mediator, parent), ``sigma_m`` (mediator), ``cutpoints``
(mediator, cut), ``beta0`` (stage), ``c`` (stage), ``b`` (mediator, stage), ``delta``
(confounder), ``sigma_y`` (), ``phi`` () — the negative-binomial dispersion, with
variance mu + mu**2 / phi — and, with the within/between split of the exposure,
``a_between`` (mediator) and ``c_between`` (): paths of the person-mean exposure.

Product terms, present only where the spec declares them (``[[interactions]]``,
``[[moderation]]``; :func:`carepaths.structural.parameters.product_terms`): ``b_xm``
(mediator) for ``X M_k`` and ``b_mm`` (mediator, mediator) for ``M_j M_k`` in the outcome;
``a_mod`` (mediator, confounder) for ``C_j X`` in mediator k's equation, ``b_mod``
(mediator, confounder) for ``C_j M_k`` and ``c_mod`` (confounder) for ``C_j X`` in the
outcome's: the paths a, b and c at a row are ``a[k, s] + C @ a_mod[k]``,
``b[k, s] + b_xm[k] X + C @ b_mod[k]`` and ``c[s] + C @ c_mod``. A parameter set without
them evaluates exactly as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import special

__all__ = [
    "mediator_predictor",
    "mediator_design",
    "mediator_coefficients",
    "mediator_predictors",
    "mediator_coefficient_matrix",
    "outcome_predictor",
    "outcome_design",
    "outcome_coefficients",
    "draw_mediator",
    "draw_outcome",
    "outcome_mean",
    "inverse_link",
    "outcome_mediator_slopes",
    "latent_from_uniform",
    "draw_latent",
    "latent_from_observed",
    "mediator_from_latent",
    "mediators_from_latents",
    "LINKS",
]


def _times_covariates(C: Any, coefficients: Any) -> Any:
    """``C @ coefficients``; with per-draw confounders ``C`` (obs, confounder, draw), each
    draw's own (imputed missing values differ by draw; a draw axis last on both)."""
    if getattr(C, "ndim", 2) == 3:
        return np.einsum("ocb,cb->ob", C, np.broadcast_to(coefficients, (C.shape[1], C.shape[2])))
    return C @ coefficients


def mediator_predictor(
    params: Mapping[str, Any],
    k: int,
    *,
    x: Any,
    C: Any,
    stage_idx: Any,
    M: Any = None,
    person_intercept: Any = 0.0,
    person_slope: Any = 0.0,
    x_between: Any = None,
) -> Any:
    """Linear predictor of mediator ``k`` (before its link function).

    Parameters
    ----------
    params : mapping
        Parameter arrays (names in the module docstring).
    k : int
        Mediator index (spec order).
    x : array (obs,)
        Exposure on the model scale.
    C : array (obs, confounder)
        Confounder design matrix.
    stage_idx : int array (obs,)
        Stage code of each row.
    M : array (obs, mediator), optional
        Current mediator values, used only through the declared edges ``d[k, j]``
        (zero for every non-edge, so only the parents' columns matter). Needed when
        the spec has mediator edges.
    person_intercept, person_slope : array (obs,) or float
        The person's intercept u_i[k] and exposure-slope deviation a_i[k], per row.
    x_between : array (obs,), optional
        With the within/between split (``center_exposure_within_person``): the person
        mean of the exposure, with its own path ``a_between[k]``; ``x`` is then the
        within-person deviation.

    With ``a_mod`` in ``params`` (``[[moderation]]`` of an ``a`` path) the predictor gains
    ``sum_j a_mod[k, j] C_j x``: the path is ``a[k, s] + C @ a_mod[k]`` at the row's
    confounders (zero for the columns that do not moderate it).

    Returns
    -------
    array (obs,)
    """
    eta = params["alpha_m"][k][stage_idx] + (params["a"][k][stage_idx] + person_slope) * x
    eta = eta + _times_covariates(C, params["gamma_m"][k]) + person_intercept
    if x_between is not None:
        eta = eta + params["a_between"][k] * x_between
    if M is not None:  # sum_j d[k, j] * M_j (zero for non-edges)
        for j in range(_static_shape(M)[1]):
            eta = eta + params["d"][k][j] * M[:, j]
    if "a_mod" in params:  # sum_j a_mod[k, j] W_j X: the path a moderated by confounders
        eta = eta + _times_covariates(C, params["a_mod"][k]) * x
    return eta


def mediator_design(
    *,
    x: np.ndarray,
    C: np.ndarray,
    stage_idx: np.ndarray,
    n_stages: int,
    M: np.ndarray | None = None,
    x_between: np.ndarray | None = None,
    moderated: bool = False,
) -> np.ndarray:
    """The mediator equation's design matrix, for the fixed part in matrix form.

    ``mediator_design(...) @ mediator_coefficients(params, k)`` equals
    ``mediator_predictor(params, k, ...)`` without person effects (``tests`` check this).
    Columns: stage indicators (``alpha_m``), stage indicators times x (``a``), the
    confounders (``gamma_m``), when ``M`` is given the mediators (edges ``d``), when
    ``x_between`` is given the person-mean exposure (``a_between``), and with
    ``moderated`` the confounders times x (``a_mod``, moderated ``a`` paths).
    The fitted model uses this form to reduce normal mediators to sufficient statistics.

    Returns
    -------
    numpy.ndarray (obs, 2 * n_stages + confounders [+ mediators] [+ 1] [+ confounders])
    """
    onehot = np.eye(n_stages)[stage_idx]
    cols = [onehot, onehot * x[:, None], C]
    if M is not None:
        cols.append(M)
    if x_between is not None:
        cols.append(x_between[:, None])
    if moderated:
        cols.append(C * x[:, None])
    return np.column_stack(cols)


def mediator_coefficients(
    params: Mapping[str, Any],
    k: int,
    *,
    with_edges: bool = False,
    with_between: bool = False,
    with_moderation: bool = False,
    concatenate: Any = np.concatenate,
) -> Any:
    """Coefficients of mediator ``k`` matching the columns of :func:`mediator_design`.

    ``concatenate`` is ``numpy.concatenate`` or ``pytensor.tensor.concatenate``;
    ``with_moderation`` matches the design's ``moderated``.
    """
    parts = [params["alpha_m"][k], params["a"][k], params["gamma_m"][k]]
    if with_edges:
        parts.append(params["d"][k])
    if with_between:
        parts.append(params["a_between"][k : k + 1])
    if with_moderation:
        parts.append(params["a_mod"][k])
    return concatenate(parts)


def mediator_coefficient_matrix(
    params: Mapping[str, Any],
    *,
    with_edges: bool = False,
    with_between: bool = False,
    with_moderation: bool = False,
    concatenate: Any = np.concatenate,
) -> Any:
    """Every mediator's coefficients as columns: (column, mediator[, draw]).

    Column k is :func:`mediator_coefficients` of mediator k, matching
    :func:`mediator_design` (tested). ``concatenate`` as there.
    """
    parts = [params["alpha_m"].swapaxes(0, 1), params["a"].swapaxes(0, 1), params["gamma_m"].swapaxes(0, 1)]
    if with_edges:
        parts.append(params["d"].swapaxes(0, 1))
    if with_between:
        parts.append(params["a_between"][None])
    if with_moderation:
        parts.append(params["a_mod"].swapaxes(0, 1))
    return concatenate(parts, axis=0)


def mediator_predictors(
    params: Mapping[str, Any],
    *,
    x: np.ndarray,
    C: np.ndarray,
    stage_idx: np.ndarray,
    person_intercepts: Any = 0.0,
    person_slopes: Any = 0.0,
    x_between: np.ndarray | None = None,
) -> np.ndarray:
    """Linear predictors of all mediators at once, for a spec without mediator edges (NumPy).

    Equals ``mediator_predictor(params, k, ...)`` for every k, stacked on a mediator
    axis (tested), computed as ``mediator_design(...) @ mediator_coefficients(...)`` for
    all mediators in one matrix product, plus the person effects. g-computation uses it:
    one product per exposure value instead of K predictors.

    Parameters
    ----------
    params : mapping
        Parameter arrays (names in the module docstring), optionally batched.
    x : array (obs,) or (obs, 1)
        Exposure on the model scale (a column with batched parameters).
    C, stage_idx, x_between
        As in :func:`mediator_predictor` (``x_between`` a column when batched).
    person_intercepts, person_slopes : array (obs, mediator[, draw]) or float
        u_i and a_i per row.

    Returns
    -------
    array (obs, mediator) (or (obs, mediator, draw) with batched parameters)
    """
    x = np.asarray(x, dtype=float)
    n = len(stage_idx)
    if np.ndim(C) == 3:  # per-draw confounders (imputed values): mediator by mediator
        K = np.shape(params["a"])[0]
        return np.stack([
            mediator_predictor(
                params, k, x=x, C=C, stage_idx=stage_idx, x_between=x_between,
                person_intercept=person_intercepts[:, k] if np.ndim(person_intercepts) else person_intercepts,
                person_slope=person_slopes[:, k] if np.ndim(person_slopes) else person_slopes,
            ) for k in range(K)
        ], axis=1)
    n_stages = np.shape(params["a"])[1]
    between = None if x_between is None else np.reshape(x_between, n)
    moderated = "a_mod" in params
    design = mediator_design(x=np.reshape(x, n), C=C, stage_idx=stage_idx, n_stages=n_stages, x_between=between,
                             moderated=moderated)
    coefficients = mediator_coefficient_matrix(
        {name: np.asarray(params[name]) for name in ("alpha_m", "a", "gamma_m", "d", "a_between", "a_mod")
         if name in params},
        with_between=between is not None, with_moderation=moderated,
    )  # (column, mediator[, draw])
    eta = (design @ coefficients.reshape(design.shape[1], -1)).reshape(n, *coefficients.shape[1:])
    if np.ndim(person_slopes):
        eta += person_slopes * x.reshape(n, 1, *x.shape[1:])
    if np.ndim(person_intercepts):
        eta += person_intercepts
    return eta


def outcome_predictor(
    params: Mapping[str, Any],
    *,
    x: Any,
    M: Any,
    C: Any,
    stage_idx: Any,
    person_intercept: Any = 0.0,
    person_slope_c: Any = 0.0,
    person_slope_b: Any = 0.0,
    x_between: Any = None,
) -> Any:
    """Linear predictor of the outcome (before its link function).

    Parameters
    ----------
    params : mapping
        Parameter arrays (names in the module docstring).
    x : array (obs,)
        Exposure on the model scale.
    M : array (obs, mediator)
        Mediator values on the model scale, in spec order.
    C : array (obs, confounder)
        Confounder design matrix.
    stage_idx : int array (obs,)
        Stage code of each row.
    person_intercept : array (obs,) or float
        v_i (plus any cluster intercept), per row.
    person_slope_c : array (obs,) or float
        The person's direct-path deviation c_i, per row.
    person_slope_b : array (obs, mediator) or float
        The person's mediator-path deviations b_i[k], per row.
    x_between : array (obs,), optional
        The person mean of the exposure, with its own direct path ``c_between``, when
        the exposure is split within/between (``x`` is then the within deviation).

    Declared product terms (in ``params`` only when the spec has them, see
    :func:`carepaths.structural.parameters.product_terms`) add ``b_xm[k] x M_k``
    (exposure x mediator), ``sum_j b_mm[j, k] M_j M_k`` (mediator x mediator),
    ``sum_j b_mod[k, j] C_j M_k`` and ``sum_j c_mod[j] C_j x`` (paths b and c moderated by
    confounders). Every term uses ``x`` as given (the within-person deviation when the
    exposure is split).

    Returns
    -------
    array (obs,)
    """
    eta = params["beta0"][stage_idx] + (params["c"][stage_idx] + person_slope_c) * x
    slope_b = person_slope_b if getattr(person_slope_b, "ndim", 0) >= 2 else None
    K = _static_shape(M)[1]
    for k in range(K):  # one-dimensional gathers: fastest in the compiled model
        b_k = params["b"][k][stage_idx]
        if slope_b is not None:
            b_k = b_k + slope_b[:, k]
        if "b_xm" in params:  # exposure x mediator: the path of M_k changes with x
            b_k = b_k + params["b_xm"][k] * x
        if "b_mod" in params:  # moderated b paths: the path of M_k changes with the confounders
            b_k = b_k + _times_covariates(C, params["b_mod"][k])
        eta = eta + b_k * M[:, k]
    if "b_mm" in params:  # mediator x mediator: sum_j b_mm[j, k] M_j M_k
        for k in range(K):
            eta = eta + (M * params["b_mm"][:, k]).sum(axis=1) * M[:, k]
    if x_between is not None:
        eta = eta + params["c_between"] * x_between
    if "c_mod" in params:  # the moderated direct path: sum_j c_mod[j] C_j x
        eta = eta + _times_covariates(C, params["c_mod"]) * x
    return eta + _times_covariates(C, params["delta"]) + person_intercept


def outcome_design(
    *,
    x: np.ndarray,
    M: np.ndarray,
    C: np.ndarray,
    stage_idx: np.ndarray,
    n_stages: int,
    x_between: np.ndarray | None = None,
    products: Mapping[str, Sequence[tuple[int, ...]]] | None = None,
) -> np.ndarray:
    """The outcome equation's design matrix, for the fixed part in matrix form.

    ``outcome_design(...) @ outcome_coefficients(params)`` equals
    ``outcome_predictor(params, ...)`` without person effects (tested). Columns: stage
    indicators (``beta0``), stage indicators times x (``c``), for each mediator k the
    stage indicators times M_k (``b[k]``), the confounders (``delta``), when
    ``x_between`` is given the person-mean exposure (``c_between``), and then one column
    per declared product term (``products``, by parameter the index of each term in its
    full array, :func:`carepaths.structural.parameters.product_indices`): ``x M_k``
    (``b_xm``), ``M_j M_k`` (``b_mm``), ``C_j M_k`` (``b_mod``) and ``C_j x`` (``c_mod``).
    The fitted model evaluates the outcome's predictor and its gradient as two dense
    products with this fixed matrix, cheaper than gathering every path by stage
    (``benchmarks/README.md``).

    Returns
    -------
    numpy.ndarray (obs, 2 * n_stages + mediators * n_stages + confounders [+ 1] [+ terms])
    """
    onehot = np.eye(n_stages)[stage_idx]
    cols = [onehot, onehot * x[:, None], *(onehot * M[:, [k]] for k in range(M.shape[1])), C]
    if x_between is not None:
        cols.append(x_between[:, None])
    products = products or {}
    cols += [x[:, None] * M[:, [k]] for (k,) in products.get("b_xm", ())]
    cols += [M[:, [j]] * M[:, [k]] for j, k in products.get("b_mm", ())]
    cols += [C[:, [j]] * M[:, [k]] for k, j in products.get("b_mod", ())]
    cols += [C[:, [j]] * x[:, None] for (j,) in products.get("c_mod", ())]
    return np.column_stack(cols)


def outcome_coefficients(
    params: Mapping[str, Any],
    *,
    with_between: bool = False,
    concatenate: Any = np.concatenate,
    products: Mapping[str, Sequence[tuple[int, ...]]] | None = None,
) -> Any:
    """Coefficients of the outcome matching the columns of :func:`outcome_design`.

    ``concatenate`` is ``numpy.concatenate`` or ``pytensor.tensor.concatenate``;
    ``products`` as there (each declared term's element of its full array).
    """
    parts = [params["beta0"], params["c"], params["b"].flatten(), params["delta"]]
    if with_between:
        c_between = params["c_between"]
        parts.append(c_between.reshape((1,)) if hasattr(c_between, "reshape") else np.array([c_between]))
    for name in ("b_xm", "b_mm", "b_mod", "c_mod"):
        indices = (products or {}).get(name, ())
        if indices:  # one element per declared term, in the order of the design's columns
            parts.append(params[name][tuple(list(axis) for axis in zip(*indices, strict=True))])
    return concatenate(parts)


def outcome_mediator_slopes(
    params: Mapping[str, Any],
    *,
    stage_idx: np.ndarray,
    person_slope_b: Any = 0.0,
    x: Any = None,
    C: np.ndarray | None = None,
) -> np.ndarray:
    """Each row's outcome path of each mediator at exposure ``x`` (NumPy).

    ``b[k, s] + b_i[k]``, plus ``b_xm[k] x`` with an exposure x mediator term and
    ``C @ b_mod[k]`` with a moderated ``b`` path (then ``x`` and ``C`` are needed: the
    slope depends on the exposure and the row). Without mediator x mediator terms
    (``b_mm``) the outcome predictor is linear in the mediators with these slopes:
    ``outcome_predictor(params, x=x, M=M, ...) == outcome_predictor(params, x=x,
    M=<no columns>, ...) + (outcome_mediator_slopes(params, x=x, C=C, ...) * M).sum(axis=1)``
    (tested); g-computation uses this to swap one mediator's term at a time. With
    ``b_mm`` it is not linear in them, and the full predictor must be evaluated.

    Parameters
    ----------
    params : mapping
        Parameter arrays, optionally batched (draw axis last).
    stage_idx : int array (obs,)
    person_slope_b : array (obs, mediator[, draw]) or float
        The person's deviations b_i.
    x : array (obs,) or (obs, 1), optional
        The exposure (a column with batched parameters); needed with ``b_xm``.
    C : array (obs, confounder), optional
        The confounders; needed with ``b_mod``.

    Returns
    -------
    array (obs, mediator) (or (obs, mediator, draw) with batched parameters)
    """
    b = np.asarray(params["b"])
    gathered = np.take(b, stage_idx, axis=1)  # (mediator, obs[, draw])
    slopes = np.ascontiguousarray(np.moveaxis(gathered, 0, 1)) + person_slope_b
    if "b_xm" in params:
        if x is None:
            raise ValueError("the slopes depend on the exposure (an exposure x mediator term): pass x")
        x = np.asarray(x, dtype=float)
        slopes = slopes + np.asarray(params["b_xm"]) * x.reshape(len(x), 1, *x.shape[1:])
    if "b_mod" in params:
        if C is None:
            raise ValueError("the slopes depend on the confounders (a moderated b path): pass C")
        slopes = slopes + np.tensordot(C, np.asarray(params["b_mod"]), axes=([1], [1]))
    return slopes


def _static_shape(array: Any) -> tuple:
    """The shape of a NumPy array, or the static shape of a PyTensor variable."""
    tensor_type = getattr(array, "type", None)
    return tuple(tensor_type.shape) if tensor_type is not None else np.shape(array)


LINKS = ("logit", "probit")
"""The links a bernoulli or ordinal variable may take (the spec's ``link``)."""


def _link(family: str, link: str | None) -> str:
    """The link of a bernoulli or ordinal variable: ``link``, or logit by default."""
    if link is None or link == "logit":
        return "logit"
    if link == "probit":
        return "probit"
    raise ValueError(f"unknown link {link!r} for family {family!r}; links: {', '.join(LINKS)}")


def inverse_link(family: str, eta: np.ndarray, *, dtype: Any = None, link: str | None = None) -> np.ndarray:
    """Mean of a normal, bernoulli or negative-binomial variable given its predictor.

    ``link`` chooses a bernoulli variable's inverse link: the logistic function
    (``"logit"``, the default) or the standard normal CDF ``Phi`` (``"probit"``).
    ``dtype`` (e.g. ``numpy.float32``) evaluates the logit, probit and log links in that
    precision; g-computation uses single precision, because evaluating them over rows x
    draws x worlds dominates its cost (rounding of 1e-7, far below any Monte Carlo
    error). The identity link (normal) has nothing to evaluate and returns ``eta``.
    """
    if family == "normal":
        return eta
    if family == "bernoulli" and _link(family, link) == "probit":
        if dtype is None:
            return special.ndtr(eta)
        p = np.asarray(eta, dtype=dtype)
        if p is eta:  # never overwrite the caller's array
            p = p.copy()
        return special.ndtr(p, out=p)
    if family == "bernoulli":
        if dtype is None:
            return special.expit(eta)
        with np.errstate(over="ignore"):  # exp(-eta) = inf for eta << 0 gives 0, as it should
            p = np.negative(eta, dtype=dtype)
            np.exp(p, out=p)
            p += 1.0
            return np.reciprocal(p, out=p)
    if family == "negative_binomial":
        return np.exp(eta, dtype=dtype)
    raise ValueError(f"no inverse link for family {family!r}")


def _valid_cuts(cutpoints: np.ndarray) -> np.ndarray:
    """Cutpoints without their NaN padding, cut axis last: (cut,) or (draw, cut)."""
    cuts = np.moveaxis(np.asarray(cutpoints, dtype=float), 0, -1)  # (..., cut)
    valid = ~np.isnan(cuts).reshape(-1, cuts.shape[-1]).any(axis=0)
    return cuts[..., valid]


def _ordinal_from_latent(latent: np.ndarray, cutpoints: np.ndarray) -> np.ndarray:
    return (latent[..., None] > _valid_cuts(cutpoints)).sum(axis=-1).astype(float)


def latent_from_uniform(
    family: str, uniform: np.ndarray, *, sigma: Any = np.nan, link: str | None = None
) -> np.ndarray:
    """Additive latent noise of a mediator from standard-uniform noise.

    Normal mediators: ``sigma * Phi^-1(U)`` (the residual); bernoulli and ordinal
    mediators: ``logit(U)`` (a standard-logistic latent residual) with the logit link,
    ``Phi^-1(U)`` (a standard-normal one) with the probit link.
    """
    if family == "normal":
        return sigma * special.ndtri(uniform)
    if family in ("bernoulli", "ordinal"):
        if _link(family, link) == "probit":
            return special.ndtri(uniform)
        return special.logit(uniform)
    raise ValueError(f"unknown mediator family {family!r}")


def draw_latent(
    family: str, rng: np.random.Generator, shape: tuple[int, ...], *, sigma: Any = np.nan,
    link: str | None = None,
) -> np.ndarray:
    """Fresh additive latent noise of a mediator: ``Normal(0, sigma)``, or by the link of a
    bernoulli or ordinal one, standard logistic (logit) or standard normal (probit).

    ``sigma`` broadcasts against ``shape`` (a draw axis last, for batched parameters).
    """
    if family == "normal":
        # single-precision standard normals (twice as fast to draw; their rounding at
        # 1e-7 is far below any Monte Carlo error), scaled in double precision
        return np.asarray(sigma) * rng.standard_normal(shape, dtype=np.float32)
    if family in ("bernoulli", "ordinal"):
        if _link(family, link) == "probit":  # single precision, as for normal mediators
            return rng.standard_normal(shape, dtype=np.float32).astype(float)
        return rng.logistic(size=shape)
    raise ValueError(f"unknown mediator family {family!r}")


def mediator_from_latent(
    family: str, eta: np.ndarray, latent: np.ndarray, *, cutpoints: np.ndarray | None = None
) -> np.ndarray:
    """Mediator values from their predictor and additive latent noise.

    Normal: ``eta + latent``; bernoulli: ``1[eta + latent > 0]``; ordinal: the number of
    cutpoints below ``eta + latent`` (codes 0..K-1).
    """
    if family == "normal":
        return eta + latent
    if family == "bernoulli":
        return (eta + latent > 0).astype(float)
    if family == "ordinal":
        assert cutpoints is not None
        return _ordinal_from_latent(eta + latent, cutpoints)
    raise ValueError(f"unknown mediator family {family!r}")


def latent_from_observed(
    family: str,
    eta: np.ndarray,
    observed: np.ndarray,
    rng: np.random.Generator,
    *,
    cutpoints: np.ndarray | None = None,
    link: str | None = None,
) -> np.ndarray:
    """Latent noise consistent with observed mediator values (abduction).

    For a normal mediator the residual ``observed - eta`` (exact). For a bernoulli or
    ordinal mediator a draw of the latent residual from its distribution (standard
    logistic for the logit link, standard normal for the probit link) truncated to the
    interval that reproduces the observed category, by inverting its CDF. Then
    ``mediator_from_latent(family, eta, latent)`` returns ``observed`` exactly, and the
    same latent under another exposure gives the unit's counterfactual mediator.

    Parameters
    ----------
    family : {"normal", "bernoulli", "ordinal"}
    eta : array (obs,)
        The predictor at the observed exposure.
    observed : array (obs,)
        Observed values on the model scale (0/1, ordinal codes); NaN where missing gives
        NaN there.
    rng : numpy.random.Generator
    cutpoints : array (cut,), optional
        Increasing cutpoints of an ordinal mediator (NaN-padded).
    link : {"logit", "probit"}, optional
        The link of a bernoulli or ordinal mediator (default logit).
    """
    eta = np.asarray(eta)
    observed = np.asarray(observed).reshape(observed.shape + (1,) * (eta.ndim - np.ndim(observed)))
    if family == "normal":
        return observed - eta
    gap = np.isnan(observed)
    if gap.any():  # a missing value: NaN noise (the caller draws it from the mediator's distribution)
        latent = latent_from_observed(family, eta, np.where(gap, 0.0, observed), rng, cutpoints=cutpoints, link=link)
        return np.where(gap, np.nan, latent)
    if family == "bernoulli":
        lower = np.where(observed > 0.5, -eta, -np.inf)
        upper = np.where(observed > 0.5, np.inf, -eta)
    elif family == "ordinal":
        assert cutpoints is not None
        cuts = _valid_cuts(cutpoints)  # (cut,) or (draw, cut)
        pad = np.full(cuts.shape[:-1] + (1,), np.inf)
        cuts = np.concatenate([-pad, cuts, pad], axis=-1)
        code = observed.astype(int)
        if cuts.ndim == 1:
            lower, upper = cuts[code] - eta, cuts[code + 1] - eta
        else:  # (obs, draw): each draw's own cutpoints
            draw = np.arange(cuts.shape[0])
            lower, upper = cuts[draw, code] - eta, cuts[draw, code + 1] - eta
    else:
        raise ValueError(f"unknown mediator family {family!r}")
    if _link(family, link) == "probit":
        return _truncated_standard_normal(lower, upper, rng.random(np.shape(eta)))
    lo, hi = special.expit(lower), special.expit(upper)
    u = lo + (hi - lo) * rng.random(np.shape(eta))
    u = np.clip(u, np.nextafter(lo, 1.0), np.nextafter(hi, 0.0))
    return special.logit(u)


def _truncated_standard_normal(lower: np.ndarray, upper: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Standard normal draws truncated to ``(lower, upper)``, by inverting the CDF in log space.

    ``u = Phi(lo) + U (Phi(hi) - Phi(lo))`` and ``z = Phi^-1(u)``, with ``log Phi``
    (``log_ndtr``) and ``Phi^-1(exp(.))`` (``ndtri_exp``), which keep their relative
    precision however far into the lower tail; an interval above 0 is mirrored below it
    (``-Z`` truncated to ``(-upper, -lower)``), where ``1 - Phi`` would round to 0. So every
    draw is finite and inside its interval, also for a category 40 standard deviations
    from the predictor (where ``Phi`` itself underflows).
    """
    lower, upper = np.broadcast_arrays(lower, upper)
    flip = lower > 0.0
    lo = np.where(flip, -upper, lower)
    hi = np.where(flip, -lower, upper)
    log_lo, log_hi = special.log_ndtr(lo), special.log_ndtr(hi)
    ratio = np.exp(log_lo - log_hi)  # Phi(lo) / Phi(hi), in [0, 1)
    with np.errstate(divide="ignore"):
        log_u = log_hi + np.log(ratio + (1.0 - uniform) * (1.0 - ratio))  # 1 - U in (0, 1]
    z = special.ndtri_exp(np.minimum(log_u, np.log(np.nextafter(1.0, 0.0))))  # finite at U = 0 too
    z = np.clip(z, lo, hi)  # ndtri's own rounding stays inside the interval
    return np.where(flip, -z, z)


def draw_mediator(
    family: str,
    eta: np.ndarray,
    uniform: np.ndarray,
    *,
    sigma: float = np.nan,
    cutpoints: np.ndarray | None = None,
    link: str | None = None,
) -> np.ndarray:
    """Mediator values from their predictor and standard-uniform noise.

    Driving every family by one uniform per row makes counterfactual draws use common
    random numbers: the same person-wave keeps its noise under every exposure value.

    Parameters
    ----------
    family : {"normal", "bernoulli", "ordinal"}
    eta : array (obs,)
        Linear predictor from :func:`mediator_predictor`.
    uniform : array (obs,)
        Standard-uniform noise in (0, 1).
    sigma : float
        Residual SD of a normal mediator.
    cutpoints : array (cut,)
        Increasing cutpoints of an ordinal mediator (NaN-padded).
    link : {"logit", "probit"}, optional
        The link of a bernoulli or ordinal mediator (default logit).

    Returns
    -------
    array (obs,)
        Normal values, 0/1, or ordinal codes 0..K-1.
    """
    latent = latent_from_uniform(family, uniform, sigma=sigma, link=link)
    return mediator_from_latent(family, eta, latent, cutpoints=cutpoints)


def mediators_from_latents(
    params: Mapping[str, Any],
    *,
    families: Sequence[str],
    order: Sequence[int],
    x: np.ndarray,
    C: np.ndarray,
    stage_idx: np.ndarray,
    latents: np.ndarray,
    person_intercepts: np.ndarray | float = 0.0,
    person_slopes: np.ndarray | float = 0.0,
    x_between: np.ndarray | None = None,
    overrides: Mapping[int, Any] | None = None,
) -> np.ndarray:
    """All mediators under exposure ``x``, in causal order, from fixed latent noise.

    Parameters
    ----------
    params : mapping
        Parameter arrays.
    families : sequence of str
        Family of each mediator (spec order).
    order : sequence of int
        A topological order of the mediators (parents first).
    x, C, stage_idx, x_between : arrays
        As in :func:`mediator_predictor`.
    latents : array (obs, mediator)
        Additive latent noise per row and mediator (:func:`latent_from_uniform`,
        :func:`latent_from_observed`).
    person_intercepts, person_slopes : array (obs, mediator) or float
        The person's u_i and a_i per row.
    overrides : mapping of int to callable, optional
        Interventions on mediators: ``overrides[k](values)`` replaces mediator k's
        values before its children are computed (the do-operator on node k), so
        everything downstream follows the structural equations.

    Returns
    -------
    array (obs, mediator)
        Mediator values in spec order.
    """
    has_edges = bool(np.any(np.asarray(params["d"]) != 0))
    if not has_edges:  # every predictor in one matrix product; then each family's draw
        eta_all = mediator_predictors(
            params, x=x, C=C, stage_idx=stage_idx, person_intercepts=person_intercepts,
            person_slopes=person_slopes, x_between=x_between,
        )
        if all(f == "normal" for f in families):
            M = eta_all
            M += latents
        else:
            M = np.empty(latents.shape)
            for k, family in enumerate(families):
                M[:, k] = mediator_from_latent(
                    family, eta_all[:, k], latents[:, k],
                    cutpoints=np.asarray(params["cutpoints"][k], dtype=float),
                )
        for k, override in (overrides or {}).items():
            M[:, k] = override(M[:, k])
        return M
    M = np.zeros(latents.shape)
    u = np.broadcast_to(person_intercepts, latents.shape)
    slope = np.broadcast_to(person_slopes, latents.shape)
    for k in order:  # parents first: their values enter through the edges d[k, j]
        eta = mediator_predictor(
            params, k, x=x, C=C, stage_idx=stage_idx, M=M if has_edges else None,
            person_intercept=u[:, k], person_slope=slope[:, k], x_between=x_between,
        )
        M[:, k] = mediator_from_latent(
            families[k], eta, latents[:, k],
            cutpoints=np.asarray(params["cutpoints"][k], dtype=float),
        )
        if overrides and k in overrides:
            M[:, k] = overrides[k](M[:, k])
    return M


def outcome_mean(family: str, eta: np.ndarray, *, dtype: Any = None, link: str | None = None) -> np.ndarray:
    """E[Y | predictor]: the mean of the outcome's family (probability, count or value).

    ``dtype`` and ``link`` (a bernoulli outcome's) as in :func:`inverse_link`.
    """
    return inverse_link(family, eta, dtype=dtype, link=link)


def draw_outcome(
    family: str,
    eta: np.ndarray,
    rng: np.random.Generator,
    *,
    sigma: float = np.nan,
    phi: float = np.nan,
    link: str | None = None,
) -> np.ndarray:
    """Outcome values from their predictor.

    Parameters
    ----------
    family : {"normal", "bernoulli", "negative_binomial"}
    eta : array (obs,)
        Linear predictor from :func:`outcome_predictor`.
    rng : numpy.random.Generator
    sigma : float
        Residual SD of a normal outcome.
    phi : float
        Dispersion of a negative-binomial outcome (variance mu + mu**2 / phi).
    link : {"logit", "probit"}, optional
        The link of a bernoulli outcome (default logit).

    Returns
    -------
    array (obs,)
    """
    mu = outcome_mean(family, eta, link=link)
    if family == "normal":
        return mu + sigma * rng.standard_normal(mu.shape)
    if family == "bernoulli":
        return (rng.random(mu.shape) < mu).astype(float)
    if family == "negative_binomial":
        # gamma-Poisson mixture: lambda ~ Gamma(shape=phi, scale=mu/phi)
        lam = rng.gamma(shape=phi, scale=mu / phi)
        return rng.poisson(lam).astype(float)
    raise ValueError(f"unknown outcome family {family!r}")
