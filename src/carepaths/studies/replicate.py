"""One replicate of a study: simulate a panel with a known truth, fit it, summarise it.

:func:`run_replicate` is what a Dask worker runs. It takes the plan as JSON and returns a
plain record (JSON-ready), so a replicate needs nothing from the process that submitted it.

A record holds, for every quantity the study checks, the truth, the posterior mean, SD, the
equal-tailed interval at the plan's level and the rank of the truth among ``RANK_DRAWS``
evenly spaced posterior draws: the stage paths ``a``, ``b``, ``c`` on the model's scale
(``Simulation.true_paths_on_model_scale``) and the per-stage effects ``TE``, ``NDE``,
``NIE`` (``fit.effects()`` against the simulator's g-computation truth); and for a power
study the claim's posterior probability. Whether the fit converged is part of the record.
"""

from __future__ import annotations

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
    sim = simulate(spec, persons, waves, params, seed=seed, mc_persons=plan.mc_persons)
    panel = Panel.from_frame(sim.data, spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # recorded below, reported by the study
        fit = MediationModel(spec, panel).fit(seed=seed, progressbar=False, **plan.fit)
        effects = fit.effects(seed=seed)
    post = fit.posterior["posterior"]
    true_paths = sim.true_paths_on_model_scale(panel)
    quantities = []
    for name in _PATHS:
        if name in post and name in true_paths:
            quantities += _quantities(name, post[name], true_paths[name], plan.level)
    stages = [s for s in effects.draws["stage"].values if s in set(spec.stage_levels)] or list(effects.draws["stage"].values)
    for name in _EFFECTS:
        quantities += _quantities(name, effects.draws[name].sel(stage=stages), sim.effects[name].sel(stage=stages),
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
