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
(``(mean - truth) / sd``) and whether the package interval (95%, ``carepaths.intervals``) covers the truth; then the
difference between the two analyses in posterior SDs, the fit times, and the complete
panel's fit as the time baseline (same run).

Run: ``.venv/bin/python benchmarks/missing_data.py [--persons 1000]``
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

SEED = 20261127


def fit_effects(spec, frame, seed):  # noqa: ANN001, ANN201
    """(effects summary, fit wall seconds, converged, rows) of one analysis."""
    import carepaths

    panel = carepaths.Panel.from_frame(frame, spec)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
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
    args = parser.parse_args()
    spec = carepaths.load_spec("five_mechanisms")
    print(f"# python {platform.python_version()}; {args.persons} persons x 4 waves; {args.rate:.0%} of the "
          f"person-waves lost; seed {SEED}", flush=True)
    base = carepaths.simulate(spec, args.persons, 4, seed=SEED, mc_persons=20_000)
    _, base_wall, base_ok, base_rows = fit_effects(spec, base.data, SEED)
    print(f"complete panel (no attrition): {base_rows} rows, fit {base_wall:.1f} s, "
          f"{'converged' if base_ok else 'NOT CONVERGED'}", flush=True)
    for mechanism in args.mechanisms:
        sim = carepaths.simulate(spec, args.persons, 4, seed=SEED, mc_persons=20_000,
                                 missing={"mechanism": mechanism, "rate": args.rate})
        truth = sim.effects_table()["true"]
        results = {}
        for label, frame in (("observed rows", sim.data), ("completers", completers(sim.data, spec, sim.attrition))):
            results[label] = fit_effects(spec, frame, SEED)
        print(f"\n## {mechanism.upper()}: {len(sim.data)} of {len(sim.complete_data)} rows observed, "
              f"{int((~sim.attrition['dropped_out']).sum())} completers")
        for label, (_, wall, ok, rows) in results.items():
            print(f"{label}: {rows} rows, fit {wall:.1f} s ({wall / base_wall:.2f}x the complete panel's), "
                  f"{'converged' if ok else 'NOT CONVERGED'}")
        print("\n| stage | effect | truth | observed rows: mean (sd) | error / sd | covered | "
              "completers: mean (sd) | error / sd | covered | difference / sd |")
        print("|---|---|---:|---:|---:|---|---:|---:|---|---:|")
        obs, comp = results["observed rows"][0], results["completers"][0]
        for stage in spec.stage_levels:
            for effect in ("TE", "NIE"):
                t = float(truth.loc[(stage, effect)])
                cells = []
                for table in (obs, comp):
                    row = table.loc[(stage, effect)]
                    z = (row["mean"] - t) / row["sd"]
                    covered = row["lower"] <= t <= row["upper"]
                    cells.append(f"{row['mean']:.4f} ({row['sd']:.4f}) | {z:+.2f} | {'yes' if covered else 'NO'}")
                diff = (obs.loc[(stage, effect), "mean"] - comp.loc[(stage, effect), "mean"]) / comp.loc[(stage, effect), "sd"]
                print(f"| {stage} | {effect} | {t:.4f} | {cells[0]} | {cells[1]} | {diff:+.2f} |", flush=True)


if __name__ == "__main__":
    main()
