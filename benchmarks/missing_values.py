"""Missing values inside rows: the model (missing="model") against complete-case analysis (issue 17).

Workload: the default five-mechanism spec, ``--persons`` (1,000) x 4 waves, simulated with
seeds 20261127 + r for replicates r = 0 .. ``--replicates - 1``, with single values set
missing within rows (``simulate(..., missing={"mechanism": ..., "rate": 0.3, "strength": 2,
"pattern": "items"})``, :mod:`carepaths.missingness`): 30% of the outcomes, 15% of each
normal mediator and of age, 7.5% of the exposure. Under MAR the outcome is missing more
often where the row's observed mediators are low (log-odds -2 per SD of their sum), the
others where severity is high (+2 per SD); under MCAR at the same rates, unrelated to
anything. Each replicate's panel
is fitted with the package defaults (2 chains x 1,000 draws) two ways:

* **complete cases**: ``Panel.from_frame(..., missing="drop")``, every row with a missing
  value dropped (what R ``mediation`` and CMAverse do by default);
* **model**: ``Panel.from_frame(..., missing="model")``, every row kept, missing outcomes
  leaving the likelihood, missing mediators drawn as latent values.

Replicate 0's complete panel (no missing values) is fitted too, the fit-time baseline.

Printed per mechanism, stage and effect (TE, NIE): over replicates, the mean error in
posterior SDs (``(mean - truth) / sd``) with its Monte Carlo standard error (the SD of the
replicates' errors / sqrt(R)), how many replicates' 95% intervals cover the truth, and
(MCAR) the mean shift between the two analyses in the model's posterior SDs with its
standard error. The truth is the complete cohort's (``sim.effects``, Monte Carlo SE about
0.002 at 20,000 persons). Fit times against the complete panel's, same run.

``--complete`` fits every replicate's complete panel instead (no missing values, same
seeds) and prints its errors: what the model itself, without any missing value, gets at
these seeds (the reference the two analyses should be read against).

``--binary`` makes encouragement a bernoulli mediator and samples the person intercepts
(``structure.person_intercepts = "sampled"``, which summing a missing binary mediator out
of its row needs); its missing values are then summed out
(:mod:`carepaths.structural.mixtures`).

Run: ``.venv/bin/python benchmarks/missing_values.py [--persons 1000] [--replicates 8] [--complete] [--binary]``
"""

from __future__ import annotations

import argparse
import platform

import numpy as np
from missing_data import fit_effects  # the same fit, run as benchmarks/missing_values.py

SEED = 20261127
EFFECTS = ("TE", "NIE")


def main() -> None:
    """Fit every replicate both ways and print the tables."""
    import carepaths

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1000)
    parser.add_argument("--replicates", type=int, default=8)
    parser.add_argument("--rate", type=float, default=0.3)
    parser.add_argument("--strength", type=float, default=2.0)
    parser.add_argument("--mechanisms", nargs="+", default=["mar", "mcar"])
    parser.add_argument("--complete", action="store_true", help="fit each replicate's complete panel only")
    parser.add_argument("--binary", action="store_true",
                        help="encouragement bernoulli, person intercepts sampled (its missing values summed out)")
    args = parser.parse_args()
    spec = carepaths.load_spec("five_mechanisms")
    if args.binary:
        data = spec.to_dict()
        data["mediators"][0]["family"] = "bernoulli"
        data["structure"]["person_intercepts"] = "sampled"
        spec = carepaths.Spec.from_dict(data)
    print(f"# python {platform.python_version()}; {args.persons} persons x 4 waves; {args.replicates} replicates; "
          f"{'binary encouragement, sampled intercepts; ' if args.binary else ''}"
          f"outcome {args.rate:.0%} missing, each mediator and age {args.rate / 2:.0%}, the exposure "
          f"{args.rate / 4:.1%}; log-odds {args.strength:g} per SD; seeds {SEED} + r", flush=True)
    if args.complete:
        complete_panels(spec, args)
        return
    base = carepaths.simulate(spec, args.persons, 4, seed=SEED, mc_persons=2_000)
    _, base_wall, base_ok, base_rows = fit_effects(spec, base.data, SEED)
    print(f"complete panel (replicate 0, no missing values): {base_rows} rows, fit {base_wall:.1f} s, "
          f"{'converged' if base_ok else 'NOT CONVERGED'}", flush=True)
    stages = list(spec.stage_levels)
    for mechanism in args.mechanisms:
        # (analysis, replicate, stage, effect) -> (error / sd, covered, mean, sd)
        z = {a: np.full((args.replicates, len(stages), 2), np.nan) for a in ("drop", "model")}
        covered = {a: np.zeros((args.replicates, len(stages), 2), dtype=bool) for a in ("drop", "model")}
        means = {a: np.full((args.replicates, len(stages), 2), np.nan) for a in ("drop", "model")}
        sds = {a: np.full((args.replicates, len(stages), 2), np.nan) for a in ("drop", "model")}
        walls = {"drop": [], "model": []}
        unconverged = {"drop": 0, "model": 0}
        for r in range(args.replicates):
            sim = carepaths.simulate(spec, args.persons, 4, seed=SEED + r, mc_persons=20_000,
                                     missing={"mechanism": mechanism, "rate": args.rate, "strength": args.strength,
                                              "pattern": "items"})
            truth = sim.effects_table()["true"]
            for analysis in ("drop", "model"):
                table, wall, ok, rows = fit_effects(spec, sim.data, SEED + r, missing=analysis)
                walls[analysis].append(wall)
                unconverged[analysis] += not ok
                for i, stage in enumerate(stages):
                    for j, effect in enumerate(EFFECTS):
                        row, t = table.loc[(stage, effect)], float(truth.loc[(stage, effect)])
                        z[analysis][r, i, j] = (row["mean"] - t) / row["sd"]
                        covered[analysis][r, i, j] = row["lower"] <= t <= row["upper"]
                        means[analysis][r, i, j], sds[analysis][r, i, j] = row["mean"], row["sd"]
                print(f"{mechanism} replicate {r}: {analysis}: {rows} rows, fit {wall:.1f} s, "
                      f"{'converged' if ok else 'NOT CONVERGED'}", flush=True)
        R = args.replicates
        print(f"\n## {mechanism.upper()} ({R} replicates)")
        for analysis in ("drop", "model"):
            w = np.array(walls[analysis])
            print(f"{analysis}: fit {w.mean():.1f} s on average ({w.mean() / base_wall:.2f}x the complete panel's "
                  f"{base_wall:.1f} s), {unconverged[analysis]} of {R} not converged")
        header = "| stage | effect | complete cases: mean error / sd (SE) | covered | model: mean error / sd (SE) | covered |"
        if mechanism == "mcar":
            header += " model - complete cases, in model sd (SE) |"
        print("\n" + header)
        print("|---|---|---:|---:|---:|---:|" + ("---:|" if mechanism == "mcar" else ""))
        for i, stage in enumerate(stages):
            for j, effect in enumerate(EFFECTS):
                cells = []
                for analysis in ("drop", "model"):
                    e = z[analysis][:, i, j]
                    cells.append(f"{e.mean():+.2f} ({e.std(ddof=1) / np.sqrt(R):.2f}) | "
                                 f"{int(covered[analysis][:, i, j].sum())}/{R}")
                if mechanism == "mcar":
                    shift = (means["model"][:, i, j] - means["drop"][:, i, j]) / sds["model"][:, i, j]
                    cells.append(f"{shift.mean():+.2f} ({shift.std(ddof=1) / np.sqrt(R):.2f})")
                print(f"| {stage} | {effect} | {' | '.join(cells)} |", flush=True)


def complete_panels(spec, args) -> None:  # noqa: ANN001
    """Each replicate's complete panel (no missing values): errors against the truth."""
    import carepaths

    stages = list(spec.stage_levels)
    z = np.full((args.replicates, len(stages), 2), np.nan)
    covered = np.zeros_like(z, dtype=bool)
    for r in range(args.replicates):
        sim = carepaths.simulate(spec, args.persons, 4, seed=SEED + r, mc_persons=20_000)
        truth = sim.effects_table()["true"]
        table, wall, ok, rows = fit_effects(spec, sim.data, SEED + r)
        print(f"complete replicate {r}: {rows} rows, fit {wall:.1f} s, {'converged' if ok else 'NOT CONVERGED'}",
              flush=True)
        for i, stage in enumerate(stages):
            for j, effect in enumerate(EFFECTS):
                row, t = table.loc[(stage, effect)], float(truth.loc[(stage, effect)])
                z[r, i, j] = (row["mean"] - t) / row["sd"]
                covered[r, i, j] = row["lower"] <= t <= row["upper"]
    R = args.replicates
    print(f"\n## complete panels ({R} replicates)\n\n| stage | effect | mean error / sd (SE) | covered |\n|---|---|---:|---:|")
    for i, stage in enumerate(stages):
        for j, effect in enumerate(EFFECTS):
            e = z[:, i, j]
            print(f"| {stage} | {effect} | {e.mean():+.2f} ({e.std(ddof=1) / np.sqrt(R):.2f}) | "
                  f"{int(covered[:, i, j].sum())}/{R} |")


if __name__ == "__main__":
    main()
