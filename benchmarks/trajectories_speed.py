"""Speed of the g-formula on posterior draws (issue 18): persons x waves x draws x interventions.

Workload (the issue's): the longitudinal scenario at 2,000 persons x 6 waves, 2,000
posterior draws and 5 interventions (support shifted by 0.5 .. 2.5 SD from wave 2), each
draw simulating every person through the 6 waves in 6 worlds (the natural course and the
5 interventions) and summarising them (care use, by stage, continuation, cumulative).
The draws are the truth repeated (the cost does not depend on the values).

Timed in the same run: the per-draw loop (one process, ``workers=1``: the baseline) and the
package's default (chunks of draws in worker processes, one per CPU this process may use,
``workers=None``), with identical numbers (checked).

Run: ``.venv/bin/python benchmarks/trajectories_speed.py [--persons 2000] [--waves 6] [--draws 2000]``
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np


def main() -> None:
    """Time both ways and print the ratio."""
    import carepaths
    from carepaths import Intervention, Panel
    from carepaths.counterfactual.trajectories import posterior_trajectories
    from carepaths.counterfactual.population import default_workers
    from carepaths.longitudinal import time_arrays
    from carepaths.simulation import _simulator_values
    from carepaths.structural.parameters import ParameterSet

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=2000)
    parser.add_argument("--waves", type=int, default=6)
    parser.add_argument("--draws", type=int, default=2000)
    args = parser.parse_args()
    data = carepaths.load_spec("five_mechanisms").to_dict()
    data["time"] = {"lags": ["care_use", "stage", "severity"], "time_varying": ["severity"],
                    "stage_transition": {"given": ["care_use"]}}
    spec = carepaths.Spec.from_dict(data)
    sim = carepaths.simulate(spec, args.persons, args.waves, seed=1, mc_persons=200)
    panel = Panel.from_frame(sim.data, spec)
    truth = sim.truth
    params = ParameterSet(spec=spec, chains=1, draws=args.draws,
                          fixed={k: np.repeat(v, args.draws, axis=0) for k, v in truth.fixed.items()},
                          person={k: np.repeat(v, args.draws, axis=0) for k, v in truth.person.items()}, source="posterior")
    values = _simulator_values(sim.params, truth)
    tp = {**time_arrays(spec, values), "sd_x_person": float(values["sd_x_person"])}
    entries = [(f"+{0.5 * k:g} SD", (Intervention(f"+{0.5 * k:g} SD", "support", shift=0.5 * k, from_wave=2),))
               for k in range(1, 6)]
    samples = np.arange(args.draws)
    print(f"# python {platform.python_version()}; {args.persons} persons x {args.waves} waves; {args.draws} draws; "
          f"{len(entries)} interventions; {default_workers()} workers by default", flush=True)
    timings = {}
    results = {}
    for label, workers in (("per-draw loop (1 process)", 1), ("default (workers=None)", None)):
        t0 = time.perf_counter()
        results[label] = posterior_trajectories(spec, panel, params, lambda i: tp, entries, samples=samples, seed=1,
                                                converged=True, workers=workers)
        timings[label] = time.perf_counter() - t0
        print(f"{label}: {timings[label]:.1f} s", flush=True)
    a, b = results.values()
    assert all(np.array_equal(a.draws[n].values, b.draws[n].values, equal_nan=True) for n in a.draws.data_vars)
    base, fast = timings.values()
    print(f"ratio default / loop: {fast / base:.2f} (identical numbers)")


if __name__ == "__main__":
    main()
