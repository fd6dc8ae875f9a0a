"""G-computation of counterfactual outcome means: the worlds every effect contrasts.

One function, :func:`world_means`, evaluates the structural equations
(:mod:`carepaths.structural.equations`) under the exposure values of an effect contrast and returns,
per row, the expected outcome in each counterfactual world. The simulator uses it with
the true parameters (the truth); :mod:`carepaths.counterfactual.effects` uses it on every posterior
draw (the estimate); so truth and estimate are computed by the same code.

Worlds (``x0`` the reference exposure, ``x1`` the contrasted one; ``M(x)`` the mediators
under exposure x with the row's own latent noise; ``G(x)`` mediators drawn from their
counterfactual distributions *one at a time*, each from an independent system):

========== =====================================================
``x0_m0``  E[Y(x0, M(x0))]
``x1_m0``  E[Y(x1, M(x0))]
``x1_m1``  E[Y(x1, M(x1))]
``x1_g0``  E[Y(x1, G(x0))]
``swap``   E[Y(x1, G(x0) with mediator k from G(x1))], one row per mediator k
========== =====================================================

so that, per row, ``TE = x1_m1 - x0_m0 = NDE + NIE`` with ``NDE = x1_m0 - x0_m0`` and
``NIE = x1_m1 - x1_m0``, and the interventional indirect effect of mechanism k is
``swap[k] - x1_g0`` (Vansteelandt & Daniel 2017; Loh et al. 2020). The remainder
``NIE - sum_k IIE_k`` is due to mediator interdependence and to the outcome's
non-linearity.

Without mediator edges the mediators are independent given the exposure, covariates and
person effects, so the joint system's own noise already draws each mediator from its
counterfactual distribution: ``G = M`` (no extra noise, less Monte Carlo error). With
edges, each mechanism needs its own independent system (``system_latents``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from carepaths.structural import equations
from carepaths.spec import Spec

__all__ = ["Rows", "world_means", "WORLDS", "effects_from_worlds"]

WORLDS = ("x0_m0", "x1_m0", "x1_m1", "x1_g0")


@dataclass(frozen=True)
class Rows:
    """The rows a counterfactual average runs over, with their person effects.

    Attributes
    ----------
    C : array (obs, confounder)
    stage_idx : int array (obs,)
    u : array (obs, mediator) or float
        Mediator person intercepts (0 where they are absorbed in abducted latent noise).
    a_i, b_i : array (obs, mediator) or float
        Person deviations of the a and b paths (random slopes).
    c_i : array (obs,) or float
        Person deviation of the direct path.
    v : array (obs,) or float
        Outcome person (plus cluster) intercept.
    x_between : array (obs,), optional
        The person-mean exposure when the exposure is split within/between.
    """

    C: np.ndarray
    stage_idx: np.ndarray
    u: Any = 0.0
    a_i: Any = 0.0
    b_i: Any = 0.0
    c_i: Any = 0.0
    v: Any = 0.0
    x_between: np.ndarray | None = None


def _mediators(
    spec: Spec, params: Mapping[str, Any], rows: Rows, x: np.ndarray, latents: np.ndarray,
) -> np.ndarray:
    names = list(spec.mediator_names)
    return equations.mediators_from_latents(
        params,
        families=[m.family for m in spec.mediators],
        order=[names.index(m) for m in spec.mediator_order],
        x=x, C=rows.C, stage_idx=rows.stage_idx, latents=latents,
        person_intercepts=rows.u, person_slopes=rows.a_i, x_between=rows.x_between,
    )


def world_means(
    spec: Spec,
    params: Mapping[str, Any],
    rows: Rows,
    x0: np.ndarray,
    x1: np.ndarray,
    latents: np.ndarray,
    system_latents: Sequence[np.ndarray] | None = None,
    *,
    dtype: Any = None,
) -> dict[str, np.ndarray]:
    """Expected outcome per row in every counterfactual world of an exposure contrast.

    Parameters
    ----------
    spec : Spec
    params : mapping
        Parameters in the naming of :mod:`carepaths.structural.equations` (one draw).
    rows : Rows
        Covariates, stages and person effects of the rows.
    x0, x1 : array (obs,)
        Reference and contrasted exposure on the model scale (the within-person part
        when the exposure is split within/between).
    latents : array (obs, mediator)
        Latent mediator noise of the joint system (common to x0 and x1).
    system_latents : sequence of K arrays (obs, mediator), optional
        Independent latent noise of one system per mechanism, for the interventional
        effects. Required when the spec has mediator edges; without edges the joint
        system is used (see the module docstring).
    dtype : numpy dtype, optional
        Precision of the inverse link (:func:`carepaths.structural.equations.inverse_link`):
        posterior effects pass ``numpy.float32`` for speed; the default is double.

    Returns
    -------
    dict of str to array
        ``x0_m0``, ``x1_m0``, ``x1_m1``, ``x1_g0`` (obs,) and ``swap`` (mediator, obs):
        expected outcomes (probability, count or value on the model scale). With batched
        parameters (a trailing draw axis, see :mod:`carepaths.structural.equations`) every array
        has the draw axis last.
    """
    K = len(spec.mediators)
    family = spec.outcome.family
    M0 = _mediators(spec, params, rows, x0, latents)
    M1 = _mediators(spec, params, rows, x1, latents)

    # without mediator x mediator terms the outcome predictor is linear in the mediators,
    # with slopes that depend on the exposure (exposure x mediator terms) and the row
    # (moderated b paths): evaluate its parts once, as
    # outcome_predictor(x, M) = outcome_predictor(x, no mediators) + sum_k slope_k(x) M_k
    no_mediators = np.zeros((M0.shape[0], 0, *M0.shape[2:]))

    def eta(x: np.ndarray) -> np.ndarray:
        return equations.outcome_predictor(
            params, x=x, M=no_mediators, C=rows.C, stage_idx=rows.stage_idx, person_intercept=rows.v,
            person_slope_c=rows.c_i, person_slope_b=rows.b_i, x_between=rows.x_between,
        )


    def mean(e: np.ndarray) -> np.ndarray:
        return equations.outcome_mean(family, e, dtype=dtype, link=spec.outcome.link)

    if "b_mm" in params:  # not linear in the mediators: the whole predictor in every world
        return _worlds_of_the_whole_predictor(spec, params, rows, x0, x1, M0, M1, system_latents, mean)
    base0, base1 = eta(x0), eta(x1)
    # the slopes at x1 serve every world but x0_m0; they differ at x0 only with an exposure
    # x mediator term
    slopes = equations.outcome_mediator_slopes(
        params, stage_idx=rows.stage_idx, person_slope_b=rows.b_i, x=x1, C=rows.C
    )
    sum0 = (slopes * M0).sum(axis=1)
    e10 = base1 + sum0  # x1 with M(x0)
    if "b_xm" in params:
        slopes0 = equations.outcome_mediator_slopes(
            params, stage_idx=rows.stage_idx, person_slope_b=rows.b_i, x=x0, C=rows.C
        )
        out = {"x0_m0": mean(base0 + (slopes0 * M0).sum(axis=1)), "x1_m0": mean(e10)}
    else:
        out = {"x0_m0": mean(base0 + sum0), "x1_m0": mean(e10)}
    # each mediator's change of the predictor from M(x0) to M(x1): b_k (M_k(x1) - M_k(x0))
    moved = M1 - M0
    moved *= slopes
    out["x1_m1"] = mean(e10 + moved.sum(axis=1))
    if system_latents is None:
        if spec.mediator_edges:
            raise ValueError("system_latents are required when the spec has mediator edges")
        reference, swapped = e10, moved  # G = M (module docstring)
        out["x1_g0"] = out["x1_m0"]
    else:
        G0 = np.stack([_mediators(spec, params, rows, x0, system_latents[k])[:, k] for k in range(K)], axis=1)
        G1 = np.stack([_mediators(spec, params, rows, x1, system_latents[k])[:, k] for k in range(K)], axis=1)
        reference = base1 + (slopes * G0).sum(axis=1)  # x1 with G(x0)
        swapped = slopes * (G1 - G0)
        out["x1_g0"] = mean(reference)
    out["swap"] = np.stack([mean(reference + swapped[:, k]) for k in range(K)])
    return out


def _worlds_of_the_whole_predictor(
    spec: Spec, params: Mapping[str, Any], rows: Rows, x0: np.ndarray, x1: np.ndarray,
    M0: np.ndarray, M1: np.ndarray, system_latents: Sequence[np.ndarray] | None, mean: Any,
) -> dict[str, np.ndarray]:
    """:func:`world_means`' worlds with the whole outcome predictor evaluated in each.

    For an outcome equation that is not linear in the mediators (mediator x mediator
    terms), where swapping one mediator's term is not enough: each world's mediators go
    into :func:`carepaths.structural.equations.outcome_predictor` as a whole.
    """
    K = len(spec.mediators)

    def world(x: np.ndarray, M: np.ndarray) -> np.ndarray:
        return mean(equations.outcome_predictor(
            params, x=x, M=M, C=rows.C, stage_idx=rows.stage_idx, person_intercept=rows.v,
            person_slope_c=rows.c_i, person_slope_b=rows.b_i, x_between=rows.x_between,
        ))

    out = {"x0_m0": world(x0, M0), "x1_m0": world(x1, M0), "x1_m1": world(x1, M1)}
    if system_latents is None:
        if spec.mediator_edges:
            raise ValueError("system_latents are required when the spec has mediator edges")
        reference, moved = M0, M1  # G = M (module docstring)
        out["x1_g0"] = out["x1_m0"]
    else:
        reference = np.stack([_mediators(spec, params, rows, x0, system_latents[k])[:, k] for k in range(K)], axis=1)
        moved = np.stack([_mediators(spec, params, rows, x1, system_latents[k])[:, k] for k in range(K)], axis=1)
        out["x1_g0"] = world(x1, reference)
    swap = []
    for k in range(K):  # G(x0) with mechanism k's mediator from G(x1)
        G = reference.copy()
        G[:, k] = moved[:, k]
        swap.append(world(x1, G))
    out["swap"] = np.stack(swap)
    return out


def effects_from_worlds(worlds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-row effects on the difference scale from :func:`world_means` output.

    Returns ``TE``, ``NDE``, ``NIE``, ``interdependence`` (obs,) and ``IIE``
    (mediator, obs).
    """
    te = worlds["x1_m1"] - worlds["x0_m0"]
    nde = worlds["x1_m0"] - worlds["x0_m0"]
    nie = worlds["x1_m1"] - worlds["x1_m0"]
    iie = worlds["swap"] - worlds["x1_g0"]
    return {"TE": te, "NDE": nde, "NIE": nie, "IIE": iie, "interdependence": nie - iie.sum(axis=0)}


# ----------------------------------------------------------------------------- more worlds
def outcome_means_given(
    spec: Spec, params: Mapping[str, Any], rows: Rows, x: np.ndarray, M: np.ndarray, *, dtype: Any = None
) -> np.ndarray:
    """E[Y | x, M] per row: the outcome's structural equation at given exposure and mediators.

    The whole outcome predictor is evaluated (every term, interactions included), so the
    worlds below hold whatever form the outcome equation takes.
    """
    eta = equations.outcome_predictor(
        params, x=x, M=M, C=rows.C, stage_idx=rows.stage_idx, person_intercept=rows.v,
        person_slope_c=rows.c_i, person_slope_b=rows.b_i, x_between=rows.x_between,
    )
    return equations.outcome_mean(spec.outcome.family, eta, dtype=dtype, link=spec.outcome.link)


def mediators_at(
    spec: Spec, params: Mapping[str, Any], rows: Rows, x: np.ndarray, latents: np.ndarray,
    overrides: Mapping[int, Any] | None = None,
) -> np.ndarray:
    """The mediators under exposure ``x`` from the rows' latent noise (the joint system).

    ``overrides`` (mediator index -> function of its values) is the do-operator on those
    mediators; their children follow (:func:`equations.mediators_from_latents`).
    """
    names = list(spec.mediator_names)
    return equations.mediators_from_latents(
        params,
        families=[m.family for m in spec.mediators],
        order=[names.index(m) for m in spec.mediator_order],
        x=x, C=rows.C, stage_idx=rows.stage_idx, latents=latents,
        person_intercepts=rows.u, person_slopes=rows.a_i, x_between=rows.x_between,
        overrides=overrides,
    )


def crossed_means(
    spec: Spec, params: Mapping[str, Any], rows: Rows, x_outcome: np.ndarray, x_mediators: np.ndarray,
    latents: np.ndarray, *, dtype: Any = None,
) -> np.ndarray:
    """E[Y(x_outcome, M(x_mediators))] per row: the exposure at one value, the mediators at another.

    With ``x_outcome = x0`` and ``x_mediators = x1`` this is the world of the *total*
    natural direct effect (``NDE(treated) = E[Y(x1, M(x1))] - E[Y(x0, M(x1))]``) and the
    *pure* natural indirect effect (``NIE(control) = E[Y(x0, M(x1))] - E[Y(x0, M(x0))]``).
    ``latents`` are the joint system's (the same as :func:`world_means` uses), so the
    identities ``TE = NDE + NIE = NDE(treated) + NIE(control)`` hold per draw.
    """
    M = mediators_at(spec, params, rows, x_mediators, latents)
    return outcome_means_given(spec, params, rows, x_outcome, M, dtype=dtype)


def controlled_means(
    spec: Spec, params: Mapping[str, Any], rows: Rows, x: np.ndarray, latents: np.ndarray,
    fixed: Mapping[int, float], *, dtype: Any = None,
) -> np.ndarray:
    """E[Y(x, m*)] per row: the mediators in ``fixed`` set to a value (the controlled worlds).

    ``fixed`` maps a mediator's index to its value on the model scale; the do-operator
    replaces that mediator's values, and mediators downstream of it (declared
    ``mediator_edges``) follow their equations (:func:`equations.mediators_from_latents`).
    The rest keep their natural values under ``x``.
    """
    M = mediators_at(spec, params, rows, x, latents,
                     overrides={k: (lambda values, v=float(v): np.full_like(values, v)) for k, v in fixed.items()})
    return outcome_means_given(spec, params, rows, x, M, dtype=dtype)
