"""Attrition: the rows observed against the completers, under MAR and MCAR dropout (issue 17).

Workload: the default five-mechanism spec, 1,000 persons x 4 waves, simulated with seed
20261127 and 30% of the person-waves lost to monotone dropout
(``simulate(..., missing={"mechanism": ..., "rate": 0.3})``): MAR on the previous wave's
care use and severity, MCAR, and MNAR on the same wave's. Each panel is fitted twice with
the package defaults (2 chains x 1,000 draws):

* **observed rows**: every row observed, persons with 1-4 waves (what carepaths fits);
* **completers**: only the persons seen at every wave (complete-case analysis).

Printed per mechanism, stage and effect (TE, NIE): the truth of the complete cohort
(``sim.effects``), each analysis's posterior mean and SD, its error in posterior SDs
(``(mean - truth) / sd``), whether the package interval (95%, ``carepaths.intervals``)
covers the truth, and its shift from the complete panel's fit (no attrition, same
persons and seed) in its own posterior SDs: what the attrition, and the way it is handled,
added. The fit times are against the complete panel's (same run).

Run: ``.venv/bin/python benchmarks/missing_data.py [--persons 1000] [--strength 1] [--mechanisms mar mcar mnar]``
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

SEED = 20261127


def fit_effects(spec, frame, seed, missing=None):  # noqa: ANN001, ANN201
    """(effects summary, fit wall seconds, converged, rows) of one analysis (``missing=`` of Panel.from_frame)."""
    import carepaths

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        panel = carepaths.Panel.from_frame(frame, spec, missing=missing)
        t0 = time.perf_counter()
        fit = carepaths.MediationModel(spec, panel).fit(draws=1000, tune=1000, chains=2, seed=seed)
        wall = time.perf_counter() - t0
        table = fit.effects().summary()
    return table, wall, fit.converged, panel.n_obs


def main() -> None:
    """Fit every mechanism both ways and print the tables."""
    import carepaths
    from carepaths.missingness import completers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=0.3)
    parser.add_argument("--mechanisms", nargs="+", default=["mar", "mcar", "mnar"])
    parser.add_argument("--strength", type=float, default=1.0, help="log-odds of dropping out per SD (MAR, MNAR)")
    args = parser.parse_args()
    spec = carepaths.load_spec("five_mechanisms")
    print(f"# python {platform.python_version()}; {args.persons} persons x 4 waves; {args.rate:.0%} of the "
          f"person-waves lost; dropout log-odds {args.strength:g} per SD; seed {SEED}", flush=True)
    base = carepaths.simulate(spec, args.persons, 4, seed=SEED, mc_persons=20_000)
    base_table, base_wall, base_ok, base_rows = fit_effects(spec, base.data, SEED)
    print(f"complete panel (no attrition): {base_rows} rows, fit {base_wall:.1f} s, "
          f"{'converged' if base_ok else 'NOT CONVERGED'}", flush=True)
    for mechanism in args.mechanisms:
        sim = carepaths.simulate(spec, args.persons, 4, seed=SEED, mc_persons=20_000,
                                 missing={"mechanism": mechanism, "rate": args.rate, "strength": args.strength})
        truth = sim.effects_table()["true"]
        results = {}
        for label, frame in (("observed rows", sim.data), ("completers", completers(sim.data, spec, sim.attrition))):
            results[label] = fit_effects(spec, frame, SEED)
        print(f"\n## {mechanism.upper()}: {len(sim.data)} of {len(sim.complete_data)} rows observed, "
              f"{int((~sim.attrition['dropped_out']).sum())} completers")
        for label, (_, wall, ok, rows) in results.items():
            print(f"{label}: {rows} rows, fit {wall:.1f} s ({wall / base_wall:.2f}x the complete panel's), "
                  f"{'converged' if ok else 'NOT CONVERGED'}")
        print("\n| stage | effect | truth | complete panel: mean (sd) | error / sd | observed rows: mean (sd) | "
              "error / sd | covered | shift from complete / sd | completers: mean (sd) | error / sd | covered | "
              "shift from complete / sd |")
        print("|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---:|")
        obs, comp = results["observed rows"][0], results["completers"][0]
        for stage in spec.stage_levels:
            for effect in ("TE", "NIE"):
                t = float(truth.loc[(stage, effect)])
                ref = base_table.loc[(stage, effect)]
                cells = [f"{ref['mean']:.4f} ({ref['sd']:.4f}) | {(ref['mean'] - t) / ref['sd']:+.2f}"]
                for table in (obs, comp):
                    row = table.loc[(stage, effect)]
                    z = (row["mean"] - t) / row["sd"]
                    covered = row["lower"] <= t <= row["upper"]
                    shift = (row["mean"] - ref["mean"]) / row["sd"]
                    cells.append(f"{row['mean']:.4f} ({row['sd']:.4f}) | {z:+.2f} | {'yes' if covered else 'NO'} | "
                                 f"{shift:+.2f}")
                print(f"| {stage} | {effect} | {t:.4f} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
