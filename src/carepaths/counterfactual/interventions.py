"""Counterfactual interventions on the exposure or a mediator, by stage, and their comparison.

An :class:`Intervention` sets, shifts or scales one variable — the exposure or any
mediator — optionally only in some stages. :func:`compare` evaluates, on every posterior
draw, the expected outcome with the intervention(s) in place against the status quo
(everyone as observed), through the structural equations (:mod:`carepaths.structural.equations`):

* an intervention on the exposure changes every mediator through its path a and the
  outcome through c and the mediators;
* an intervention on a mediator replaces that mediator's values (the do-operator on that
  node); mediators downstream of it (declared ``mediator_edges``) and the outcome are
  recomputed;
* a combination (a list of interventions) applies them together: the exposure first,
  then the mediators in causal order.

Status quo and intervention share each row's latent noise and person effects within a
draw (common random numbers), so an intervention that changes nothing gives exactly 0.

Units: ``set`` is a value in the variable's original units (a category label for an
ordinal mediator, 0/1 for a binary variable); ``shift`` is in standard deviations of the
observed variable (``shift=-0.5`` lowers it by half an SD), or in the variable's own
units with ``units="original"`` (``shift=1.0, units="original"``: one point more on its
scale); ``scale`` multiplies the variable's original value (``scale=0.8`` lowers it by
20%). Shifts and scales need a continuous variable.

Names: an intervention's name labels its rows; it must not be empty and must not be
one of the labels the comparison uses itself (:data:`RESERVED_NAMES`: ``"status quo"``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from carepaths.structural import equations
from carepaths.exceptions import CarepathsError
from carepaths.spec import Spec, suggest_closest

__all__ = [
    "Intervention", "validate", "validate_over_waves", "model_transform", "worked_examples", "intervention_means", "RESERVED_NAMES",
    "SHIFT_UNITS",
]

#: Labels the comparison's tables use themselves, so no intervention may be named so
#: (compared without regard to case and spacing).
RESERVED_NAMES = ("status quo",)
#: What ``shift`` counts in: SDs of the observed variable, or the variable's own units.
SHIFT_UNITS = ("sd", "original")


def _normal_name(name: str) -> str:
    return " ".join(name.split()).casefold()


def _finite_number(value: Any) -> bool:
    return (
        not isinstance(value, bool) and isinstance(value, int | float | np.integer | np.floating)
        and bool(np.isfinite(value))
    )


@dataclass(frozen=True)
class Intervention:
    """One intervention: set, shift or scale the exposure or a mediator.

    Parameters
    ----------
    name : str
        Label used in tables and figures.
    target : str
        The exposure or a mediator of the spec.
    set : float or str, optional
        Set the target to this value (original units; a category label for an ordinal
        mediator; 0 or 1 for a binary variable).
    shift : float, optional
        Add this much to the target (continuous targets): standard deviations of the
        observed target by default, the target's own units with ``units="original"``.
    scale : float, optional
        Multiply the target's original value by this factor (continuous targets).
    stages : sequence of str, optional
        Act only in these stages (default: every stage).
    units : {"sd", "original"}
        What ``shift`` counts in (default ``"sd"``); ``set`` is always in original units
        and ``scale`` is a factor, so they take the default only.
    from_wave : int, optional
        Act from this wave on (1 is the first), sustained: for care trajectories over
        waves (:mod:`carepaths.counterfactual.trajectories`); the per-wave comparison
        (:func:`compare`) refuses it.

    Raises
    ------
    CarepathsError
        On an empty or reserved name (:data:`RESERVED_NAMES`), a target that is not a
        name, not exactly one of set/shift/scale, a value that is not a finite number
        (NaN and infinity would give NaN answers), unknown units, or bad stages.

    Examples
    --------
    >>> from carepaths.interventions import Intervention
    >>> Intervention("family psychoeducation", "discouragement", shift=-0.5,
    ...              stages=["recovery", "maintenance"])  # doctest: +ELLIPSIS
    Intervention(name='family psychoeducation', target='discouragement', ...)
    >>> Intervention("booster", "job_seek", shift=1.0, units="original").describe()
    'job_seek + 1 (original units) in every stage'
    """

    name: str
    target: str
    set: float | str | None = None
    shift: float | None = None
    scale: float | None = None
    stages: tuple[str, ...] | None = None
    units: str = "sd"
    from_wave: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise CarepathsError(
                f"an intervention needs a non-empty name (a string) for its rows, got {self.name!r}."
            )
        if _normal_name(self.name) in RESERVED_NAMES:
            raise CarepathsError(
                f"intervention name {self.name!r} is reserved: the comparison labels its own "
                f"{self.name.strip()!r} row with it. Choose another name, e.g. 'usual care plus'."
            )
        if not isinstance(self.target, str) or not self.target:
            raise CarepathsError(
                f"intervention {self.name!r}: target must be the name of the exposure or a mediator, "
                f"got {self.target!r}."
            )
        given = [k for k in ("set", "shift", "scale") if getattr(self, k) is not None]
        if len(given) != 1:
            raise CarepathsError(
                f"intervention {self.name!r}: give exactly one of set=, shift= or scale= "
                f"(got {', '.join(given) or 'none'})."
            )
        for key in ("shift", "scale"):
            value = getattr(self, key)
            if value is not None and not _finite_number(value):
                raise CarepathsError(
                    f"intervention {self.name!r}: {key} must be a finite number, got {value!r}."
                )
        if self.set is not None and not isinstance(self.set, str) and not _finite_number(self.set):
            raise CarepathsError(
                f"intervention {self.name!r}: set must be a finite number in the target's units "
                f"(or a category label of an ordinal mediator), got {self.set!r}."
            )
        if not isinstance(self.units, str) or self.units not in SHIFT_UNITS:
            raise CarepathsError(
                f"intervention {self.name!r}: units must be one of {', '.join(map(repr, SHIFT_UNITS))} "
                f"(what shift= counts in), got {self.units!r}."
                f"{suggest_closest(self.units, SHIFT_UNITS) if isinstance(self.units, str) else ''}"
            )
        if self.units != "sd" and self.shift is None:
            raise CarepathsError(
                f"intervention {self.name!r}: units= says what shift= counts in; set= is always in "
                "the target's original units and scale= is a factor. Leave units out."
            )
        if self.from_wave is not None and (isinstance(self.from_wave, bool) or not isinstance(self.from_wave, int | np.integer)
                                           or self.from_wave < 1):
            raise CarepathsError(
                f"intervention {self.name!r}: from_wave must be a wave number (1 is the first), got {self.from_wave!r}."
            )
        if self.stages is not None:
            stages = (self.stages,) if isinstance(self.stages, str) else self.stages
            if not isinstance(stages, Sequence) or not all(isinstance(s, str) for s in stages):
                raise CarepathsError(
                    f"intervention {self.name!r}: stages must be a list of stage names, got {self.stages!r}."
                )
            stages = tuple(stages)
            if not stages:
                raise CarepathsError(
                    f"intervention {self.name!r}: stages is empty; leave it out to act in every stage."
                )
            if len(set(stages)) != len(stages):
                raise CarepathsError(f"intervention {self.name!r}: stages lists a stage twice ({', '.join(stages)}).")
            object.__setattr__(self, "stages", stages)

    @property
    def kind(self) -> str:
        """``"set"``, ``"shift"`` or ``"scale"``."""
        return next(k for k in ("set", "shift", "scale") if getattr(self, k) is not None)

    def describe(self, *, staged: bool = True) -> str:
        """One line in words, e.g. ``discouragement - 0.5 SD in recovery, maintenance``.

        A shift in the target's own units reads ``job_seek + 1 (original units)``.
        ``staged=False`` (a spec without stages) leaves out ``in every stage``.
        """
        if self.kind == "shift":
            unit = "SD" if self.units == "sd" else "(original units)"
            what = f"{self.target} {'+' if self.shift >= 0 else '-'} {abs(self.shift):g} {unit}"
        elif self.kind == "scale":
            what = f"{self.target} x {self.scale:g}"
        else:
            what = f"{self.target} := {self.set}"
        if self.from_wave is not None:
            what += f" from wave {self.from_wave}"
        if self.stages:
            return what + f" in {', '.join(self.stages)}"
        return what + (" in every stage" if staged else "")


# --------------------------------------------------------------------------- validation
def _label(entry: Intervention | Sequence[Intervention]) -> tuple[str, tuple[Intervention, ...]]:
    if isinstance(entry, Intervention):
        return entry.name, (entry,)
    if isinstance(entry, Sequence) and not isinstance(entry, str) and entry:
        parts = tuple(entry)
        if all(isinstance(p, Intervention) for p in parts):
            return " + ".join(p.name for p in parts), parts
    raise CarepathsError(
        f"each entry to compare must be an Intervention or a non-empty list of Interventions "
        f"applied together; got {entry!r}."
    )


def validate(spec: Spec, interventions: Sequence[Any]) -> list[tuple[str, tuple[Intervention, ...]]]:
    """Check interventions against a spec; return (label, components) per entry.

    Raises
    ------
    CarepathsError
        On an empty list, an unknown target or stage, a ``set`` value outside a binary or
        ordinal variable's support, a shift or scale of a binary or ordinal variable,
        two entries with the same name, or a combination acting twice on one target.
    """
    entries = _entries(interventions, "compare", "Intervention('care coordination', 'attitudes', shift=0.5)")
    return _check_entries(spec, entries, over_waves=False)


def _entries(interventions: Any, who: str, example: str) -> list[tuple[str, tuple[Intervention, ...]]]:
    """(label, components) per entry of a non-empty list of interventions (one is a list of one)."""
    if isinstance(interventions, Intervention):
        interventions = [interventions]
    if not isinstance(interventions, Sequence) or isinstance(interventions, str) or len(interventions) == 0:
        raise CarepathsError(f"{who} needs a non-empty list of interventions, e.g. [{example}].")
    return [_label(e) for e in interventions]


def _check_entries(spec: Spec, entries: list[tuple[str, tuple[Intervention, ...]]], *,
                   over_waves: bool) -> list[tuple[str, tuple[Intervention, ...]]]:
    names = [name for name, _ in entries]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise CarepathsError(f"intervention names must be unique; repeated: {', '.join(dupes)}.")
    targets = (spec.exposure.name, *spec.mediator_names)
    for label, parts in entries:
        seen = [p.target for p in parts]
        if len(set(seen)) != len(seen):
            raise CarepathsError(f"combination {label!r} acts twice on one target ({', '.join(seen)}); merge them.")
        for iv in parts:
            _check_one(spec, iv, targets, over_waves=over_waves)
    return entries


def validate_over_waves(spec: Spec, interventions: Sequence[Any]) -> list[tuple[str, tuple[Intervention, ...]]]:
    """Check interventions sustained over waves (care trajectories) against a spec.

    As :func:`validate`, with ``from_wave`` allowed, and a target without a time index
    (a confounder that is not time-varying, or a name the spec does not have) refused
    as such.
    """
    entries = _entries(interventions, "trajectories", "Intervention('more support', 'support', shift=1.0, from_wave=2)")
    varying = spec.time.time_varying if spec.time is not None else ()
    for _, parts in entries:
        for iv in parts:
            if iv.target in spec.confounder_names and iv.target not in varying:
                raise CarepathsError(
                    f"intervention {iv.name!r}: {iv.target!r} has no time index (a confounder that is not in the "
                    "spec's time.time_varying): nothing about it changes from wave to wave, so there is nothing to "
                    "intervene on over waves. Intervene on the exposure or a mediator."
                )
            if iv.target in varying:
                raise CarepathsError(
                    f"intervention {iv.name!r}: intervening on the time-varying confounder {iv.target!r} is not "
                    "supported yet; intervene on the exposure or a mediator."
                )
    return _check_entries(spec, entries, over_waves=True)


def _check_one(spec: Spec, iv: Intervention, targets: Sequence[str], *, over_waves: bool = False) -> None:
    if iv.from_wave is not None and not over_waves:
        raise CarepathsError(
            f"intervention {iv.name!r}: from_wave={iv.from_wave} sustains it over waves, for care trajectories "
            "(carepaths.counterfactual.trajectories); this per-wave comparison acts at every wave. Leave "
            "from_wave out here."
        )
    if iv.target not in targets:
        raise CarepathsError(
            f"intervention {iv.name!r}: unknown target {iv.target!r}.{suggest_closest(iv.target, targets)} "
            f"Targets are the exposure and the mediators: {', '.join(targets)}."
        )
    if iv.stages:
        for stage in iv.stages:
            if stage not in spec.stages:
                known = ", ".join(spec.stages) if spec.stages else "none (the spec has no stages)"
                raise CarepathsError(
                    f"intervention {iv.name!r}: stage {stage!r} is not in the spec."
                    f"{suggest_closest(stage, spec.stages)} Stages: {known}."
                )
    kind, categories = _target_kind(spec, iv.target)
    if kind in ("binary", "ordinal") and iv.kind != "set":
        raise CarepathsError(
            f"intervention {iv.name!r}: {iv.target!r} is {kind}, so it cannot be "
            f"{'shifted' if iv.kind == 'shift' else 'scaled'}; use set= with one of its values "
            f"({', '.join(map(str, categories))})."
        )
    if iv.kind == "set":
        if kind == "binary" and iv.set not in (0, 1):
            raise CarepathsError(
                f"intervention {iv.name!r}: {iv.target!r} is binary; set= must be 0 or 1, got {iv.set!r}."
            )
        if kind == "ordinal" and iv.set not in categories:
            raise CarepathsError(
                f"intervention {iv.name!r}: {iv.set!r} is not a category of {iv.target!r}; "
                f"categories: {', '.join(map(str, categories))}."
            )
        if kind == "continuous" and (isinstance(iv.set, bool) or not isinstance(iv.set, int | float)):
            raise CarepathsError(f"intervention {iv.name!r}: set= must be a number for {iv.target!r}, got {iv.set!r}.")


def _target_kind(spec: Spec, target: str) -> tuple[str, tuple]:
    if target == spec.exposure.name:
        return ("binary", (0, 1)) if spec.exposure.kind == "binary" else ("continuous", ())
    med = spec.mediators[spec.mediator_names.index(target)]
    if med.family == "bernoulli":
        return "binary", (0, 1)
    if med.family == "ordinal":
        return "ordinal", tuple(med.categories)
    return "continuous", ()


# --------------------------------------------------------------------------- transforms
def model_transform(
    spec: Spec, iv: Intervention, *, loc: float, scale: float, sd_observed: float,
    stage_mask: np.ndarray | None,
) -> Callable[[np.ndarray], np.ndarray]:
    """The intervention as a function of the target's model-scale values.

    Parameters
    ----------
    loc, scale : float
        The target's model scale: ``z = (original - loc) / scale`` (a standardised
        variable; ``loc=0, scale=1`` for 0/1 variables, ordinal codes and unscaled ones).
    sd_observed : float
        The observed SD of the target in original units, which ``shift`` counts in
        (with ``units="sd"``; with ``units="original"`` a shift is in original units).
    stage_mask : bool array (obs,), optional
        Rows where the intervention acts (None: every row).
    """
    kind, categories = _target_kind(spec, iv.target)

    def new_values(z: np.ndarray) -> np.ndarray:
        if iv.kind == "shift":
            step = float(iv.shift) if iv.units == "original" else float(iv.shift) * sd_observed
            return z + step / scale
        if iv.kind == "scale":
            return (float(iv.scale) * (loc + scale * z) - loc) / scale
        if kind == "ordinal":
            return np.full_like(z, float(categories.index(iv.set)))
        return np.full_like(z, (float(iv.set) - loc) / scale)

    def apply(z: np.ndarray) -> np.ndarray:
        out = new_values(z)
        if stage_mask is None:
            return out
        mask = stage_mask.reshape(stage_mask.shape + (1,) * (np.ndim(z) - 1))
        return np.where(mask, out, z)

    return apply


def intervention_means(
    spec: Spec,
    params: Mapping[str, Any],
    rows: Any,
    x_obs: np.ndarray,
    latents: np.ndarray,
    transforms: Mapping[str, Callable[[np.ndarray], np.ndarray]],
    *,
    x_between: np.ndarray | None = None,
    dtype: Any = None,
) -> np.ndarray:
    """Expected outcome per row with the given transforms in place (no transforms: status quo).

    Parameters
    ----------
    spec : Spec
    params : mapping
        Parameters in the equations' naming (one draw, or batched with a draw axis last).
    rows : Rows
        Covariates, stages and person effects.
    x_obs : array
        The observed exposure on the model scale (within-person part when split).
    latents : array (obs, mediator[, draw])
        Latent mediator noise (shared by the status quo and every intervention).
    transforms : mapping of target name to callable
        Model-scale transforms (:func:`model_transform`) by target.
    x_between : array, optional
        The person-mean exposure when the exposure is split: a transform of the exposure
        acts on the total (within + between) and the within part follows.
    dtype : numpy dtype, optional
        Precision of the inverse link (:func:`carepaths.structural.equations.inverse_link`).

    Returns
    -------
    array (obs[, draw])
    """
    names = list(spec.mediator_names)
    x = x_obs
    exposure = spec.exposure.name
    if exposure in transforms:
        between = 0.0 if x_between is None else x_between
        x = transforms[exposure](x_obs + between) - between
    overrides = {names.index(t): f for t, f in transforms.items() if t != exposure}
    M = equations.mediators_from_latents(
        params,
        families=[m.family for m in spec.mediators],
        order=[names.index(m) for m in spec.mediator_order],
        x=x, C=rows.C, stage_idx=rows.stage_idx, latents=latents,
        person_intercepts=rows.u, person_slopes=rows.a_i, x_between=rows.x_between,
        overrides=overrides,
    )
    eta = equations.outcome_predictor(
        params, x=x, M=M, C=rows.C, stage_idx=rows.stage_idx, person_intercept=rows.v,
        person_slope_c=rows.c_i, person_slope_b=rows.b_i, x_between=rows.x_between,
    )
    return equations.outcome_mean(spec.outcome.family, eta, dtype=dtype, link=spec.outcome.link)


def worked_examples(spec: Spec) -> list[Any]:
    """The worked examples of the docs: three interventions and their combination.

    * family psychoeducation: ``discouragement`` - 0.5 SD in recovery and maintenance;
    * care coordination: ``attitudes`` + 0.5 SD;
    * peer-support group: the exposure (``support``) + 0.17 SD everywhere — the pooled
      effect of social-support interventions in severe mental illness (domain.md);
    * all three together.

    Needs a spec with those mediators and stages (the shipped ``five_mechanisms``).
    """
    needed = {"discouragement", "attitudes"}
    missing = needed - set(spec.mediator_names)
    if missing or not {"recovery", "maintenance"} <= set(spec.stages):
        raise CarepathsError(
            "the worked examples need mediators 'discouragement' and 'attitudes' and stages "
            "'recovery' and 'maintenance' (the shipped five_mechanisms spec); build your own "
            "Intervention objects for this spec."
        )
    family = Intervention("family psychoeducation", "discouragement", shift=-0.5, stages=("recovery", "maintenance"))
    coordination = Intervention("care coordination", "attitudes", shift=0.5)
    peer = Intervention("peer-support group", spec.exposure.name, shift=0.17)
    return [family, coordination, peer, [family, coordination, peer]]

