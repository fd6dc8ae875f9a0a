"""One replicate of a study: simulate a panel with a known truth, fit it, summarise it.

:func:`run_replicate` is what a Dask worker runs. It takes the plan as JSON and returns a
plain record (JSON-ready), so a replicate needs nothing from the process that submitted it.

A coverage or power replicate simulates from the simulator's truth (fixed across
replicates). An SBC replicate (simulation-based calibration, Talts et al. 2018) draws its
truth from the model's prior instead: the simulator gives the design (persons, waves,
stages, exposures, confounders), one prior draw of every parameter and person effect
(:meth:`carepaths.MediationModel.prior_draws`) replicates the mediators and outcome from
the model's own equations on the model's scale
(:func:`carepaths.checks.predictive.replicate_values`,
:meth:`carepaths.Panel.with_model_values`, the scaling constants kept), and the ranks of
that draw's paths and effects among the posterior draws are uniform when the posterior is
computed correctly.

A record holds, for every quantity the study checks, the truth, the posterior mean, SD, the
equal-tailed interval at the plan's level and the rank of the truth among ``RANK_DRAWS``
evenly spaced posterior draws: the stage paths ``a``, ``b``, ``c`` on the model's scale
(``Simulation.true_paths_on_model_scale``) and the per-stage effects ``TE``, ``NDE``,
``NIE`` (``fit.effects()`` against the simulator's g-computation truth); and for a power
study the claim's posterior probability. Whether the fit converged is part of the record.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from typing import Any

import numpy as np

__all__ = ["RANK_DRAWS", "run_replicate"]

#: Posterior draws (evenly spaced) among which the truth is ranked.
RANK_DRAWS = 99
_PATHS = ("a", "b", "c")
_EFFECTS = ("TE", "NDE", "NIE")


def _label(name: str, coords: dict[str, Any]) -> str:
    return f"{name}[{', '.join(str(v) for v in coords.values())}]" if coords else name


def _quantities(name: str, draws: Any, truth: Any, level: float) -> list[dict]:
    """One entry per scalar of a variable: draws (chain, draw, ...) against the truth (...)."""
    sample = ("chain", "draw")
    other = [d for d in draws.dims if d not in sample]
    truth = truth.transpose(*other)
    flat = draws.transpose(*sample, *other).values.reshape(-1, int(np.prod([draws.sizes[d] for d in other], dtype=int)))
    true = np.asarray(truth.values, dtype=float).ravel()
    pick = np.linspace(0, flat.shape[0] - 1, RANK_DRAWS).round().astype(int)
    lo, hi = np.quantile(flat, [(1 - level) / 2, (1 + level) / 2], axis=0)
    out = []
    for j, index in enumerate(np.ndindex(*[draws.sizes[d] for d in other])):
        coords = {d: np.asarray(draws[d].values[i]).item() for d, i in zip(other, index, strict=True)}
        column = flat[:, j]
        out.append({
            "quantity": _label(name, coords), "truth": float(true[j]), "mean": float(column.mean()),
            "sd": float(column.std(ddof=1)), "lower": float(lo[j]), "upper": float(hi[j]),
            "rank": int((column[pick] < true[j]).sum()),
        })
    return out


@contextlib.contextmanager
def _quiet(logger: str) -> Any:
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)


def _paths(params: Any, spec: Any) -> Any:
    """The stage paths a (mediator, stage), b (mediator, stage), c (stage) of a parameter set.

    The equations' arrays (:func:`carepaths.structural.parameters.structural_arrays`), so a
    prior draw and the posterior are compared on the same terms, pooled stages included.
    """
    import xarray as xr

    coords = {"mediator": list(spec.mediator_names), "stage": list(spec.stage_levels)}
    shape = (params.chains, params.draws)
    out = {}
    for name, dims in (("a", ("mediator", "stage")), ("b", ("mediator", "stage")), ("c", ("stage",))):
        values = np.asarray(params.fixed[name], dtype=float)
        out[name] = xr.DataArray(values.reshape(*shape, *values.shape[1:]), dims=("chain", "draw", *dims),
                                 coords={d: coords[d] for d in dims})
    return xr.Dataset(out)


def run_replicate(plan_json: str, design: int, replicate: int) -> dict:
    """Simulate, fit and summarise one replicate of a study.

    Parameters
    ----------
    plan_json : str
        :meth:`carepaths.studies.design.StudyPlan.to_json`.
    design, replicate : int
        The task: which design, which replicate of it.

    Returns
    -------
    dict
        The record (JSON-ready): ``design``, ``replicate``, ``persons``, ``waves``,
        ``seed``, ``converged``, ``failures``, ``quantities`` (list of dicts), for a power
        study ``claim_probability`` and ``supported``, and ``seconds``,
        ``compile_seconds`` (the model's compile, cached after a process's first),
        ``pid`` and ``started`` (Unix time): how it ran, not part of its numbers.
    """
    from carepaths.checks.predictive import replicate_values
    from carepaths.counterfactual.effects import compute_effects
    from carepaths.data import Panel
    from carepaths.exceptions import ConvergenceWarning
    from carepaths.model.build import MediationModel
    from carepaths.simulation import simulate
    from carepaths.spec import Spec
    from carepaths.studies.claims import parse_claim
    from carepaths.studies.design import StudyPlan

    start, started = time.perf_counter(), time.time()
    plan = StudyPlan.from_json(plan_json)
    spec = Spec.from_dict(plan.spec)
    persons, waves = plan.designs[design]
    seed = plan.task_seed(design, replicate)
    params = {k: np.asarray(v, dtype=float) for k, v in plan.truth.items()} or None
    # SBC's truth is a prior draw: the simulator's Monte Carlo truth (its own seed stream, so
    # the data do not depend on its size) is not used, and is kept to the smallest size
    mc_persons = 100 if plan.kind == "sbc" else plan.mc_persons
    sim = simulate(spec, persons, waves, params, seed=seed, mc_persons=mc_persons)
    panel = Panel.from_frame(sim.data, spec)
    if plan.kind == "sbc":  # the truth drawn from the prior; the data from the model's equations
        with _quiet("pymc"):  # PyMC logs each prior draw's variables ("Sampling: [...]")
            truth = MediationModel(spec, panel).prior_draws(1, seed=seed)
        M, Y = replicate_values(truth, panel, seed=seed)
        panel = panel.with_model_values(M[:, :, 0], Y[:, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # recorded below, reported by the study
        fit = MediationModel(spec, panel).fit(seed=seed, progressbar=False, **plan.fit)
        effects = fit.effects(seed=seed)
    stages = [s for s in effects.draws["stage"].values if s in set(spec.stage_levels)] or list(effects.draws["stage"].values)
    if plan.kind == "sbc":
        true_paths = _paths(truth, spec).isel(chain=0, draw=0)
        post_paths = _paths(fit.parameters(), spec)
        true_effects = compute_effects(truth, panel, seed=seed).draws.isel(chain=0, draw=0)
    else:
        post = fit.posterior["posterior"]
        true_paths, post_paths = sim.true_paths_on_model_scale(panel), post
        true_effects = sim.effects
    quantities = []
    for name in _PATHS:
        if name in post_paths and name in true_paths:
            quantities += _quantities(name, post_paths[name], true_paths[name], plan.level)
    for name in _EFFECTS:
        quantities += _quantities(name, effects.draws[name].sel(stage=stages), true_effects[name].sel(stage=stages),
                                  plan.level)
    record = {
        "design": design, "replicate": replicate, "persons": persons, "waves": waves, "seed": seed,
        "converged": bool(fit.converged), "failures": list(fit.convergence_failures), "quantities": quantities,
    }
    if plan.kind == "power":
        probability = parse_claim(plan.claim, spec).probability(effects.draws)
        record["claim_probability"] = probability
        record["supported"] = bool(probability >= plan.threshold)
    record["seconds"] = round(time.perf_counter() - start, 3)
    record["compile_seconds"] = float(fit.posterior.attrs.get("compile_seconds", float("nan")))
    record["pid"], record["started"] = os.getpid(), started
    return record
