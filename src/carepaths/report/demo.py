"""The demo: simulate the default panel, fit it, compute every answer and write the report.

:func:`run_demo` is what ``carepaths demo`` and ``make demo`` run.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

from carepaths.counterfactual.interventions import worked_examples
from carepaths.exceptions import CarepathsError, ConvergenceWarning
from carepaths.files import check_output_dir, write_with
from carepaths.model.build import MediationModel
from carepaths.report.html import Progress, Report, build_report
from carepaths.simulation import simulate
from carepaths.spec import load_spec

__all__ = ["DEMO_DEFAULTS", "run_demo"]

#: The settings of ``carepaths demo`` (and ``make demo``): the default panel and fit size.
DEMO_DEFAULTS = {
    "persons": 1000, "waves": 4, "draws": 2000, "tune": 1000, "chains": 2, "seed": 2026, "check_draws": 500,
}


def run_demo(
    out: str | Path = "carepaths-demo",
    *,
    persons: int = DEMO_DEFAULTS["persons"],
    waves: int = DEMO_DEFAULTS["waves"],
    draws: int = DEMO_DEFAULTS["draws"],
    tune: int = DEMO_DEFAULTS["tune"],
    chains: int = DEMO_DEFAULTS["chains"],
    seed: int = DEMO_DEFAULTS["seed"],
    progress: Progress | None = None,
    progressbar: bool = False,
) -> Report:
    """Simulate the default panel, fit it, compute every answer and write the report.

    Steps: simulate ``persons x waves`` person-waves of the default five-mechanism spec
    (seed ``seed``) and validate them; fit the model (``chains x draws`` after ``tune``
    tuning steps); save the fit; effects by stage; posterior predictive checks; the
    worked-example interventions compared; the sensitivity of every effect to unmeasured
    mediator-outcome confounding (all mediators, the same rho); the report. Every table goes to ``out`` as
    CSV, the fit as ``fit.nc``, the panel as ``panel.csv`` and the true effects of the
    simulation as ``true_effects.csv``.

    Parameters
    ----------
    out : str or path-like
        Output folder: created when missing (its parent must exist); checked
        before any work, and every file in it is written atomically.
    persons, waves : int
        Panel size.
    draws, tune, chains : int
        Sampler settings (see :meth:`carepaths.MediationModel.fit`).
    seed : int
        Seed of the simulation, the sampler and every Monte Carlo step.
    progress : callable, optional
        Called with a line naming each step as it starts and its seconds when done.
    progressbar : bool
        Show the sampler's progress bar.

    Returns
    -------
    Report
        With ``seconds["total"]``, the whole demo's wall-clock time.

    Raises
    ------
    CarepathsError
        If a size or sampler setting is not a positive integer (``tune`` may be 0),
        before anything is simulated or compiled.
    """
    for name, value, least in (("persons", persons, 1), ("waves", waves, 1), ("draws", draws, 1),
                               ("tune", tune, 0), ("chains", chains, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise CarepathsError(f"{name} must be an integer >= {least}, got {value!r}.")
    say = progress or (lambda _line: None)
    out = Path(out)
    out = check_output_dir(out, what="demo output folder")
    out.mkdir(exist_ok=True)
    seconds: dict[str, float] = {}
    t_total = time.perf_counter()
    caught: list[str] = []

    def step(number: int, name: str) -> float:
        say(f"[{number}/8] {name} ...")
        return time.perf_counter()

    def done(key: str, t0: float) -> None:
        seconds[key] = time.perf_counter() - t0
        say(f"      {seconds[key]:.1f} s")

    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always")
        t0 = step(1, f"Simulating the default panel: {persons} persons x {waves} waves (seed {seed})")
        spec = load_spec("five_mechanisms")
        sim = simulate(spec, persons, waves, seed=seed)
        panel = sim.panel()
        write_with(out / "panel.csv", lambda tmp: sim.data.to_csv(tmp, index=False))
        truth = sim.effects_table()
        write_with(out / "true_effects.csv", truth.to_csv)
        done("simulate", t0)

        t0 = step(2, f"Fitting: {chains} chains x {draws} draws after {tune} tuning steps (compiling first)")
        fit = MediationModel(spec, panel).fit(draws=draws, tune=tune, chains=chains, seed=seed, progressbar=progressbar)
        fit.save(out / "fit.nc")
        done("fit", t0)
        say("      converged" if fit.converged else "      NOT CONVERGED (see the report's banner)")

        t0 = step(3, "Effects by stage (g-computation on every draw)")
        effects = fit.effects(seed=seed)
        done("effects", t0)

        t0 = step(4, "Posterior predictive checks and LOO")
        checks = fit.check(seed=seed, draws=min(draws, DEMO_DEFAULTS["check_draws"]))
        done("checks", t0)

        t0 = step(5, "Comparing the worked-example interventions")
        comparison = fit.compare(worked_examples(spec), seed=seed)
        done("compare", t0)

        t0 = step(6, "Sensitivity to unmeasured mediator-outcome confounding (every draw, 21 values of rho)")
        sensitivity = fit.sensitivity(mediator="all", seed=seed)
        done("sensitivity", t0)

        t0 = step(7, "Building the report")
        note = (
            f"Simulated with carepaths.simulate(seed={seed}); its true effects are known, so the "
            "estimates can be checked against them."
        )
        report = build_report(
            fit=fit, out=out, effects=effects, checks=checks, comparison=comparison, sensitivity=sensitivity, truth=truth,
            title="carepaths demo: the default five-mechanism panel", data_note=note,
            seconds=seconds, progress=None,
        )
        done("report", t0)
    seen: set[str] = set()
    for w in recorded:  # each distinct warning once, to the caller; non-convergence once
        text = str(w.message)
        key = "convergence" if issubclass(w.category, ConvergenceWarning) else text
        if key not in seen:
            seen.add(key)
            caught.append(text)
            warnings.warn(text, w.category, stacklevel=2)
    report.files.update(panel=out / "panel.csv", truth=out / "true_effects.csv", fit=out / "fit.nc")
    report.seconds = {**seconds, "total": time.perf_counter() - t_total}
    report.warnings = caught
    say(f"[8/8] Wrote {report.path} in {report.seconds['total']:.0f} s")
    return report
