"""The decomposition by mechanism over waves: interventional effects of a sustained exposure.

For an intervention on the exposure sustained over waves (``ā``: from a wave, in some
stages), the worlds contrasted set the mediators of every wave to *random draws* of
their history under a reference regime, given the baseline (the mediational g-formula;
VanderWeele & Tchetgen Tchetgen 2017, Lin et al. 2017): ``G(ā)`` is the mediator
history of a person drawn at random, among those with the same first-wave stage, from
the world under ``ā``; ``G(nat)`` one drawn likewise from the natural course. A random
draw is a random permutation of the persons' simulated histories within each
first-wave stage (the whole history over waves and mediators moves together), so ``G``
follows the distribution of the mediator history given the baseline stage, not a
person's own; the other baseline confounders are averaged over.
Everything else (stage, time-varying confounders, later exposures, care use) follows
the equations given the set mediators, wave by wave.

Per wave, on care use (the outcome's mean):

==================== ========================================================
``overall``          ``E[Y(ā, G(ā))] - E[Y(nat, G(nat))]``
``IDE``              ``E[Y(ā, G(nat))] - E[Y(nat, G(nat))]``
``IIE``              ``E[Y(ā, G(ā))] - E[Y(ā, G(nat))]``
``IIE[m]``           ``E[Y(ā, G_m(ā), G_-m(nat))] - E[Y(ā, G(nat))]``
``interdependence``  ``IIE`` minus the sum over m of ``IIE[m]``
==================== ========================================================

so ``overall = IDE + IIE`` exactly. ``G_m(ā)`` is drawn independently of ``G_-m(nat)``
(its own permutation), as in the per-wave interventional effects of
:mod:`carepaths.counterfactual.worlds`. These effects stay identified with time-varying
confounders affected by earlier exposure, where natural effects are not; they need
sequential exchangeability of the exposure and the mediators at every wave given the
past (:mod:`carepaths.causal.waves`). The overall effect differs from the difference in
care use of the trajectories (which lets each person keep their own mediators).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from carepaths.exceptions import CarepathsError
from carepaths.spec import Spec

__all__ = ["check_decomposable", "effect_names", "mechanism_effects"]


def effect_names(spec: Spec) -> list[str]:
    """The effects of the decomposition, in order (the ``effect`` coordinate)."""
    return ["overall", "IDE", "IIE", *(f"IIE[{m}]" for m in spec.mediator_names), "interdependence"]


def check_decomposable(spec: Spec, entries: Sequence[tuple[str, Sequence[Any]]]) -> None:
    """Refuse a decomposition by mechanism of an intervention that acts on a mediator.

    The decomposition splits what an intervention on the exposure does into what goes
    through each mechanism; an intervention on a mediator is itself a mechanism's
    intervention, with nothing to split.
    """
    for label, parts in entries:
        on_mediators = [iv.target for iv in parts if iv.target != spec.exposure.name]
        if on_mediators:
            raise CarepathsError(
                f"the decomposition by mechanism splits an intervention on the exposure {spec.exposure.name!r}; "
                f"{label!r} acts on the mediator(s) {', '.join(on_mediators)}, which is itself one mechanism's "
                "intervention. Leave decompose out, or decompose only interventions on the exposure."
            )


def mechanism_effects(
    spec: Spec, run: Callable[[Sequence[Any], Mapping[int, np.ndarray]], Any], natural: Any,
    intervened: Sequence[tuple[Sequence[Any], Any]], rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """The decomposition of each intervention's effect on care use, wave by wave.

    Parameters
    ----------
    spec : Spec
    run : callable
        ``run(interventions, fixed) -> Course``: the forward simulation
        (:func:`carepaths.counterfactual.trajectories.forward`) with the random numbers
        of ``natural``, under ``interventions`` and with mediator ``k`` set to
        ``fixed[k]`` (wave, person) at every wave.
    natural : Course
        The natural course.
    intervened : sequence of (interventions, Course)
        Each intervention on the exposure and its world (persons keep their mediators).
    rng : numpy.random.Generator
        Draws the permutations within first-wave stages (one for the joint mediator
        history, one per mediator for its swap).

    Returns
    -------
    effects, se : arrays (world, wave, effect)
        ``world`` as in :func:`~carepaths.counterfactual.trajectories.summarise` (the
        natural course first, its row NaN); ``effect`` as :func:`effect_names`. ``se``:
        person-level Monte Carlo standard errors of the effects (paired by person).
    """
    T, n = natural.y.shape
    K = len(spec.mediators)
    baseline = natural.stage[0]
    joint = _permutation_within(baseline, rng)
    alone = [_permutation_within(baseline, rng) for _ in range(K)]
    g_nat = natural.M[:, joint, :]
    reference = run((), {k: g_nat[..., k] for k in range(K)}).y  # Y(nat, G(nat))
    names = effect_names(spec)
    effects = np.full((1 + len(intervened), T, len(names)), np.nan)
    se = np.full_like(effects, np.nan)
    for w, (parts, world) in enumerate(intervened, start=1):
        g_world = world.M[:, joint, :]
        own = run(parts, {k: g_world[..., k] for k in range(K)}).y  # Y(ā, G(ā))
        crossed = run(parts, {k: g_nat[..., k] for k in range(K)}).y  # Y(ā, G(nat))
        swaps = [run(parts, {j: (world.M[:, alone[k], k] if j == k else g_nat[..., j]) for j in range(K)}).y - crossed
                 for k in range(K)]
        per_person = [own - reference, crossed - reference, own - crossed, *swaps,
                      own - crossed - np.sum(swaps, axis=0)]
        stacked = np.stack(per_person, axis=-1)  # (wave, person, effect)
        effects[w] = stacked.mean(axis=1)
        se[w] = stacked.std(axis=1, ddof=1) / np.sqrt(n)
    return effects, se


def _permutation_within(groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random permutation of the persons that maps each person to one of their group."""
    out = np.arange(len(groups))
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        out[members] = rng.permutation(members)
    return out
