"""Studies of many fits: simulation-based calibration, coverage and power, on Dask.

A study simulates panels with a known truth (for SBC, drawn from the model's prior), fits
each and summarises it: one replicate per
task, run on a Dask ``LocalCluster`` by default or on any scheduler by address
(:mod:`carepaths.studies.runner`), each record written to the study's folder as it finishes
(:mod:`carepaths.studies.store`), with seeds derived per replicate so that the numbers do not
depend on the number of workers (:mod:`carepaths.studies.design`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from carepaths.spec import Spec
from carepaths.studies.claims import CLAIM_EFFECTS, Claim, parse_claim
from carepaths.studies.design import KINDS, StudyPlan, make_plan
from carepaths.studies.results import StudyResult, load_study
from carepaths.studies.runner import run_study

__all__ = ["CLAIM_EFFECTS", "KINDS", "Claim", "StudyPlan", "StudyResult", "coverage", "load_study", "make_plan",
           "parse_claim", "power", "run_study", "sbc",
           # the submodules, so that the API reference (autosummary honours __all__) documents them
           "claims", "design", "replicate", "results", "runner", "store"]


def sbc(
    spec: Spec, out: str | Path, *, persons: int = 200, waves: int = 4, replicates: int = 200, seed: int = 0,
    draws: int = 1000, tune: int = 1000, chains: int = 2, scheduler: str | None = None, workers: int | None = None,
    progress: bool = True,
) -> StudyResult:
    """Simulation-based calibration: the rank of a prior draw among the posterior draws.

    Each replicate draws every parameter and person effect from the model's prior, draws
    the mediators and outcome from the model's equations at a simulated design (persons,
    waves, stages, exposures, confounders), fits the model and ranks the prior draw's stage
    paths and stage effects among ``RANK_DRAWS`` posterior draws: uniform ranks say the
    posterior is computed correctly (Talts et al. 2018). Specs with a ``[time]`` section
    are refused (their stages and lags would need drawing wave by wave).

    Parameters
    ----------
    spec : Spec
        Its ``[priors]`` are the priors drawn from.
    out : str or path
        The study's folder (as for :func:`coverage`).
    persons, waves : int
        The design simulated.
    replicates : int
    seed : int
    draws, tune, chains, scheduler, workers, progress
        As for :func:`coverage`.

    Returns
    -------
    StudyResult
        ``.ranks()``: per quantity, the chi-square test of uniform ranks; ``.plot()``: the
        rank ECDFs (ArviZ) with their uniformity test.
    """
    plan = make_plan("sbc", spec, persons=persons, waves=waves, replicates=replicates, seed=seed, draws=draws,
                     tune=tune, chains=chains)
    return load_study(run_study(plan, out, scheduler=scheduler, workers=workers, progress=progress))


def coverage(
    spec: Spec, out: str | Path, *, persons: int = 200, waves: int = 4, replicates: int = 100, seed: int = 0,
    truth: Mapping[str, Any] | None = None, level: float = 0.9, draws: int = 1000, tune: int = 1000, chains: int = 2,
    scheduler: str | None = None, workers: int | None = None, progress: bool = True,
) -> StudyResult:
    """How often the posterior intervals cover the truth: the stage paths and stage effects.

    Parameters
    ----------
    spec : Spec
    out : str or path
        The study's folder: one file per replicate; a study run again into the same
        folder with the same arguments resumes where it stopped.
    persons, waves : int
        The design simulated.
    replicates : int
    seed : int
        The study's seed; each replicate's is derived from it.
    truth : mapping, optional
        Simulator parameters overriding its defaults (``simulate(..., params=...)``).
    level : float
        The intervals' probability (0.9: 90% equal-tailed intervals).
    draws, tune, chains : int
        Every fit's sampler settings.
    scheduler : str, optional
        A Dask scheduler's address; default a LocalCluster of ``workers`` processes.
    workers : int, optional
    progress : bool

    Returns
    -------
    StudyResult
        ``.coverage()``: per quantity, the share of replicates covered.
    """
    plan = make_plan("coverage", spec, persons=persons, waves=waves, replicates=replicates, seed=seed, truth=truth,
                     level=level, draws=draws, tune=tune, chains=chains)
    return load_study(run_study(plan, out, scheduler=scheduler, workers=workers, progress=progress))


def power(
    spec: Spec, out: str | Path, *, persons: Sequence[int], waves: int = 4, claim: str = "paradox",
    replicates: int = 100, seed: int = 0, truth: Mapping[str, Any] | None = None, threshold: float = 0.95,
    draws: int = 1000, tune: int = 1000, chains: int = 2, scheduler: str | None = None, workers: int | None = None,
    progress: bool = True,
) -> StudyResult:
    """The probability that the posterior supports a claim, at each number of persons.

    Parameters
    ----------
    spec : Spec
    out : str or path
        The study's folder (as for :func:`coverage`).
    persons : sequence of int
        One design per value.
    waves : int
    claim : str
        ``"paradox"`` (the spec's ``[paradox]``) or statements such as ``"NIE < 0 in
        recovery"`` joined by ``and`` (:mod:`carepaths.studies.claims`).
    replicates : int
        Replicates per design.
    seed : int
    truth : mapping, optional
        Simulator parameters overriding its defaults: the effect size powered for.
    threshold : float
        The posterior probability at which the claim counts as supported.
    draws, tune, chains, scheduler, workers, progress
        As for :func:`coverage`.

    Returns
    -------
    StudyResult
        ``.power()``: per design, the share supported with its 95% Clopper-Pearson interval.
    """
    plan = make_plan("power", spec, persons=persons, waves=waves, replicates=replicates, seed=seed, truth=truth,
                     claim=claim, threshold=threshold, draws=draws, tune=tune, chains=chains)
    return load_study(run_study(plan, out, scheduler=scheduler, workers=workers, progress=progress))
