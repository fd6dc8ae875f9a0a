"""A study's plan: what is simulated and fitted, at which designs, how often, with which seeds.

A :class:`StudyPlan` is plain data (it travels to Dask workers as JSON and is written
beside the results as ``study.json``). Its tasks are ``(design, replicate)`` pairs; each
task's seed is derived from the study's seed and the pair alone
(``numpy.random.SeedSequence(seed, spawn_key=(design, replicate))``), so a replicate's
numbers do not depend on which worker runs it, in which order, or how many workers there are.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from carepaths.exceptions import CarepathsError
from carepaths.spec import Spec

__all__ = ["KINDS", "StudyPlan", "make_plan"]

#: The kinds of study (:mod:`carepaths.studies`).
KINDS = ("sbc", "coverage", "power")
_FIT_KEYS = ("draws", "tune", "chains")


@dataclass(frozen=True)
class StudyPlan:
    """Everything that decides a study's numbers.

    Attributes
    ----------
    kind : {"sbc", "coverage", "power"}
    spec : dict
        ``Spec.to_dict()`` of the spec simulated and fitted.
    designs : tuple of (persons, waves)
    replicates : int
        Replicates per design.
    seed : int
    fit : dict
        ``draws``, ``tune``, ``chains`` of every fit.
    truth : dict
        Simulator parameters overriding its defaults (``simulate(..., params=...)``), as lists.
    claim : str or None
        A power study's claim (:mod:`carepaths.studies.claims`).
    threshold : float
        The posterior probability at which a claim counts as supported.
    level : float
        The coverage study's interval probability.
    mc_persons : int
        Persons of the simulator's Monte Carlo truth of the effects.
    """

    kind: str
    spec: dict
    designs: tuple[tuple[int, int], ...]
    replicates: int
    seed: int
    fit: dict = field(default_factory=dict)
    truth: dict = field(default_factory=dict)
    claim: str | None = None
    threshold: float = 0.95
    level: float = 0.9
    mc_persons: int = 20_000

    def tasks(self) -> list[tuple[int, int]]:
        """Every ``(design, replicate)`` pair, design-major."""
        return [(d, r) for d in range(len(self.designs)) for r in range(self.replicates)]

    def task_seed(self, design: int, replicate: int) -> int:
        """The seed of one replicate, from the study's seed and the pair alone."""
        return int(np.random.SeedSequence(self.seed, spawn_key=(design, replicate)).generate_state(1)[0])

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): what ``study.json`` holds and workers receive."""
        data = asdict(self)
        data["designs"] = [list(d) for d in self.designs]
        return json.dumps(data, sort_keys=True, indent=1)

    @classmethod
    def from_json(cls, text: str) -> StudyPlan:
        """The plan back from :meth:`to_json`."""
        data = json.loads(text)
        data["designs"] = tuple(tuple(d) for d in data["designs"])
        return cls(**data)

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the canonical JSON: two plans with one fingerprint give the same numbers."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()


def _count(value: object, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise CarepathsError(f"{what} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _truth(spec: Spec, truth: Mapping[str, Any] | None) -> dict:
    from carepaths.longitudinal import TIME_PARAMS
    from carepaths.simulation import SIMULATOR_ONLY
    from carepaths.structural.parameters import parameter_dims

    known = set(parameter_dims(spec)) | set(SIMULATOR_ONLY) | (set(TIME_PARAMS) if spec.time is not None else set())
    out = {}
    for name, value in (truth or {}).items():
        if name not in known:
            raise CarepathsError(f"truth: unknown parameter {name!r}; the simulator's parameters are "
                                 f"{', '.join(sorted(known))}.")
        array = np.asarray(value, dtype=float)
        if not np.all(np.isfinite(array)):
            raise CarepathsError(f"truth: parameter {name!r} has non-finite values; give finite numbers.")
        out[name] = array.tolist()
    return out


def make_plan(
    kind: str, spec: Spec, *, persons: int | Sequence[int], waves: int, replicates: int, seed: int,
    truth: Mapping[str, Any] | None = None, claim: str | None = None, threshold: float = 0.95,
    level: float = 0.9, draws: int = 1000, tune: int = 1000, chains: int = 2, mc_persons: int = 20_000,
) -> StudyPlan:
    """Validate a study's inputs into a :class:`StudyPlan` (every error before any fit).

    Parameters
    ----------
    kind : {"sbc", "coverage", "power"}
    spec : Spec
    persons : int or sequence of int
        Persons per replicate; a sequence makes one design per value (a power curve).
    waves : int
    replicates : int
        Replicates per design.
    seed : int
    truth, claim, threshold, level, draws, tune, chains, mc_persons
        See :class:`StudyPlan`.

    Returns
    -------
    StudyPlan
    """
    from carepaths.studies.claims import parse_claim

    if kind not in KINDS:
        raise CarepathsError(f"unknown kind of study {kind!r}; expected one of {', '.join(KINDS)}.")
    if not isinstance(spec, Spec):
        raise CarepathsError(f"spec must be a carepaths.Spec (carepaths.load_spec(...)), got {type(spec).__name__}.")
    sizes = [persons] if isinstance(persons, int | np.integer) and not isinstance(persons, bool) else list(persons)
    if not sizes:
        raise CarepathsError("empty design: give at least one number of persons (persons=[200, 500, ...]).")
    sizes = [_count(p, "persons", 2) for p in sizes]
    if len(set(sizes)) != len(sizes):
        raise CarepathsError(f"persons has repeated values {sizes}: give each design once.")
    n_waves = _count(waves, "waves", 1)
    if spec.columns.person is None and n_waves != 1:
        raise CarepathsError(f"spec '{spec.name}' has no person column (one row per person): use waves=1.")
    if kind == "power":
        claim = parse_claim(claim, spec).text
    elif claim is not None:
        raise CarepathsError(f"claim is a power study's; a {kind} study takes none.")
    for name, value in (("threshold", threshold), ("level", level)):
        if isinstance(value, bool) or not isinstance(value, float | int) or not 0 < value < 1 or not math.isfinite(value):
            raise CarepathsError(f"{name} must be a probability strictly between 0 and 1, got {value!r}.")
    if kind == "sbc":
        if truth:
            raise CarepathsError("truth: an SBC study draws every replicate's truth from the model's prior; give "
                                 "priors in the spec's [priors] table instead, or run a coverage study at a fixed truth.")
        if spec.time is not None:
            raise CarepathsError(f"spec '{spec.name}' has a [time] section: SBC replicates the mediators and outcome "
                                 "from the model at the simulated stages and confounders, which a stage-transition "
                                 "model and lagged terms would need drawn wave by wave (not built); run a coverage "
                                 "study for it.")
    fit = {"draws": _count(draws, "draws", 10), "tune": _count(tune, "tune", 0), "chains": _count(chains, "chains", 1)}
    return StudyPlan(
        kind=kind, spec=spec.to_dict(), designs=tuple((p, n_waves) for p in sizes),
        replicates=_count(replicates, "replicates", 1), seed=_count(seed, "seed", 0), fit=fit,
        truth=_truth(spec, truth), claim=claim, threshold=float(threshold), level=float(level),
        mc_persons=_count(mc_persons, "mc_persons", 100),
    )
