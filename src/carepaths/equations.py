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
0..K-1 code). The link functions are identity (normal), logit (bernoulli, and the
cumulative logit of ordinal mediators) and log (negative binomial).

The linear-predictor functions use only indexing, ``.T``, ``+``, ``*``, ``@`` and
``sum``, so they accept NumPy arrays and PyTensor tensors alike. Each mediator has its
own predictor (one-dimensional gathers by stage were measured fastest in the compiled
model); the outcome takes all mediators as one (obs, mediator) matrix. The functions that draw values or take
expectations are NumPy-only.

Parameter names (the ``params`` mapping; ``xarray`` dims in brackets):
``alpha_m`` (mediator, stage), ``a`` (mediator, stage), ``gamma_m`` (mediator,
confounder), ``d`` (mediator, parent), ``sigma_m`` (mediator), ``cutpoints``
(mediator, cut), ``beta0`` (stage), ``c`` (stage), ``b`` (mediator, stage), ``delta``
(confounder), ``sigma_y`` (), ``phi`` () — the negative-binomial dispersion, with
variance mu + mu**2 / phi — and, with the within/between split of the exposure,
``a_between`` (mediator) and ``c_between`` (): paths of the person-mean exposure.
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
    "outcome_predictor",
    "draw_mediator",
    "draw_outcome",
    "outcome_mean",
    "inverse_link",
    "mediators_from_noise",
]


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

    Returns
    -------
    array (obs,)
    """
    eta = params["alpha_m"][k][stage_idx] + (params["a"][k][stage_idx] + person_slope) * x
    eta = eta + C @ params["gamma_m"][k] + person_intercept
    if x_between is not None:
        eta = eta + params["a_between"][k] * x_between
    if M is not None:
        eta = eta + M @ params["d"][k]
    return eta


def mediator_design(
    *,
    x: np.ndarray,
    C: np.ndarray,
    stage_idx: np.ndarray,
    n_stages: int,
    M: np.ndarray | None = None,
    x_between: np.ndarray | None = None,
) -> np.ndarray:
    """The mediator equation's design matrix, for the fixed part in matrix form.

    ``mediator_design(...) @ mediator_coefficients(params, k)`` equals
    ``mediator_predictor(params, k, ...)`` without person effects (``tests`` check this).
    Columns: stage indicators (``alpha_m``), stage indicators times x (``a``), the
    confounders (``gamma_m``), when ``M`` is given the mediators (edges ``d``), and when
    ``x_between`` is given the person-mean exposure (``a_between``).
    The fitted model uses this form to reduce normal mediators to sufficient statistics.

    Returns
    -------
    numpy.ndarray (obs, 2 * n_stages + confounders [+ mediators])
    """
    onehot = np.eye(n_stages)[stage_idx]
    cols = [onehot, onehot * x[:, None], C]
    if M is not None:
        cols.append(M)
    if x_between is not None:
        cols.append(x_between[:, None])
    return np.column_stack(cols)


def mediator_coefficients(
    params: Mapping[str, Any],
    k: int,
    *,
    with_edges: bool = False,
    with_between: bool = False,
    concatenate: Any = np.concatenate,
) -> Any:
    """Coefficients of mediator ``k`` matching the columns of :func:`mediator_design`.

    ``concatenate`` is ``numpy.concatenate`` or ``pytensor.tensor.concatenate``.
    """
    parts = [params["alpha_m"][k], params["a"][k], params["gamma_m"][k]]
    if with_edges:
        parts.append(params["d"][k])
    if with_between:
        parts.append(params["a_between"][k : k + 1])
    return concatenate(parts)


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

    Returns
    -------
    array (obs,)
    """
    eta = params["beta0"][stage_idx] + (params["c"][stage_idx] + person_slope_c) * x
    slope_b = person_slope_b if getattr(person_slope_b, "ndim", 0) == 2 else None
    for k in range(M.shape[1]):  # one-dimensional gathers: fastest in the compiled model
        b_k = params["b"][k][stage_idx]
        if slope_b is not None:
            b_k = b_k + slope_b[:, k]
        eta = eta + b_k * M[:, k]
    if x_between is not None:
        eta = eta + params["c_between"] * x_between
    return eta + C @ params["delta"] + person_intercept


def inverse_link(family: str, eta: np.ndarray) -> np.ndarray:
    """Mean of a normal, bernoulli or negative-binomial variable given its predictor."""
    if family == "normal":
        return eta
    if family == "bernoulli":
        return special.expit(eta)
    if family == "negative_binomial":
        return np.exp(eta)
    raise ValueError(f"no inverse link for family {family!r}")


def _ordinal_from_latent(latent: np.ndarray, cutpoints: np.ndarray) -> np.ndarray:
    cuts = cutpoints[~np.isnan(cutpoints)]
    return (latent[..., None] > cuts).sum(axis=-1).astype(float)


def draw_mediator(
    family: str,
    eta: np.ndarray,
    uniform: np.ndarray,
    *,
    sigma: float = np.nan,
    cutpoints: np.ndarray | None = None,
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

    Returns
    -------
    array (obs,)
        Normal values, 0/1, or ordinal codes 0..K-1.
    """
    if family == "normal":
        return eta + sigma * special.ndtri(uniform)
    latent = eta + special.logit(uniform)  # logistic latent variable
    if family == "bernoulli":
        return (latent > 0).astype(float)
    if family == "ordinal":
        assert cutpoints is not None
        return _ordinal_from_latent(latent, cutpoints)
    raise ValueError(f"unknown mediator family {family!r}")


def mediators_from_noise(
    params: Mapping[str, Any],
    *,
    families: Sequence[str],
    order: Sequence[int],
    x: np.ndarray,
    C: np.ndarray,
    stage_idx: np.ndarray,
    uniforms: np.ndarray,
    person_intercepts: np.ndarray | float = 0.0,
    person_slopes: np.ndarray | float = 0.0,
) -> np.ndarray:
    """All mediators under exposure ``x``, drawn in causal order from fixed noise.

    Parameters
    ----------
    params : mapping
        Parameter arrays.
    families : sequence of str
        Family of each mediator (spec order).
    order : sequence of int
        A topological order of the mediators (parents first).
    x, C, stage_idx : arrays
        As in :func:`mediator_predictor`.
    uniforms : array (obs, mediator)
        Standard-uniform noise per row and mediator.
    person_intercepts, person_slopes : array (obs, mediator) or float
        The person's u_i and a_i per row.

    Returns
    -------
    array (obs, mediator)
        Mediator values in spec order.
    """
    M = np.zeros(uniforms.shape)
    u = np.broadcast_to(person_intercepts, uniforms.shape)
    slope = np.broadcast_to(person_slopes, uniforms.shape)
    for k in order:  # parents first: their values enter through the edges d[k, j]
        eta = mediator_predictor(
            params, k, x=x, C=C, stage_idx=stage_idx, M=M,
            person_intercept=u[:, k], person_slope=slope[:, k],
        )
        M[:, k] = draw_mediator(
            families[k],
            eta,
            uniforms[:, k],
            sigma=float(params["sigma_m"][k]),
            cutpoints=np.asarray(params["cutpoints"][k], dtype=float),
        )
    return M


def outcome_mean(family: str, eta: np.ndarray) -> np.ndarray:
    """E[Y | predictor]: the mean of the outcome's family (probability, count or value)."""
    return inverse_link(family, eta)


def draw_outcome(
    family: str,
    eta: np.ndarray,
    rng: np.random.Generator,
    *,
    sigma: float = np.nan,
    phi: float = np.nan,
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

    Returns
    -------
    array (obs,)
    """
    mu = outcome_mean(family, eta)
    if family == "normal":
        return mu + sigma * rng.standard_normal(mu.shape)
    if family == "bernoulli":
        return (rng.random(mu.shape) < mu).astype(float)
    if family == "negative_binomial":
        # gamma-Poisson mixture: lambda ~ Gamma(shape=phi, scale=mu/phi)
        lam = rng.gamma(shape=phi, scale=mu / phi)
        return rng.poisson(lam).astype(float)
    raise ValueError(f"unknown outcome family {family!r}")
