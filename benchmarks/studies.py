"""SBC, coverage and power studies of the default spec on Dask (issue 19).

``sbc``: simulation-based calibration of the default five-mechanism spec at ``--persons``
(200) x ``--waves`` (4), ``--replicates`` (200) prior draws, package-default fits, seed
20261128. Printed: per stage path and stage effect, the chi-square and ArviZ ECDF (pot_c)
p-values of rank uniformity; how many are above 0.01; unconverged replicates; wall time.
The rank ECDF figure is written to ``--figure`` (default docs/_static/sbc_ranks.png).

``coverage``: the default five-mechanism spec at ``--persons`` (200) x ``--waves`` (4),
``--replicates`` replicates, package-default fits (2 chains x 1,000 draws), 90% intervals,
seed 20261128, on a LocalCluster of ``--workers`` processes (default one per CPU).
Printed: the coverage of every stage path (a, b, c on the model's scale) and stage effect
(TE, NDE, NIE), pooled over quantities and per kind, with binomial Monte Carlo SEs; how
many quantities' coverage lies in 85-95%; unconverged replicates; wall time.

``power``: the claim (``--claim``, default the paradox) at ``--persons-list`` persons.

``compiles``: a short coverage study (8 replicates, 2 chains x 200 draws) whose records
say, per worker process in the order it ran them, how long each model's compile took: the
first compile of a process against the ones after it (PyTensor's and carepaths' caches).

The study folder (``--out``) keeps every replicate: run it again to resume.

Run: ``.venv/bin/python benchmarks/studies.py sbc --out /tmp/sbc`` (or ``coverage``, ``power``)
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

SEED = 20261128


def main() -> None:
    """Run the study and print its summary."""
    import carepaths
    from carepaths import studies

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["sbc", "coverage", "power", "compiles"])
    parser.add_argument("--persons", type=int, default=200)
    parser.add_argument("--persons-list", type=int, nargs="+", default=[200, 500, 1000, 2000, 3000])
    parser.add_argument("--waves", type=int, default=4)
    parser.add_argument("--replicates", type=int, default=None, help="default 200 for sbc, else 100")
    parser.add_argument("--figure", default="docs/_static/sbc_ranks.png")
    parser.add_argument("--draws", type=int, default=1000, help="sbc, power: draws per chain (2 chains)")
    parser.add_argument("--tune", type=int, default=1000, help="sbc, power: tuning steps per chain")
    parser.add_argument("--claim", default="paradox")
    parser.add_argument("--effect-scale", type=float, default=1.0,
                        help="power: the simulator's b and c paths times this (a smaller effect to power for)")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    args.replicates = args.replicates or (200 if args.kind == "sbc" else 100)
    spec = carepaths.load_spec("five_mechanisms")
    print(f"# python {platform.python_version()}, carepaths {carepaths.__version__}; {args.kind}, "
          f"{args.replicates} replicates, seed {SEED}", flush=True)
    t0 = time.perf_counter()
    if args.kind == "compiles":
        res = studies.coverage(spec, args.out, persons=args.persons, waves=args.waves, replicates=8, seed=SEED,
                               workers=args.workers, draws=200, tune=200)
        by_pid = {}
        for r in sorted(res.records, key=lambda r: r["started"]):
            by_pid.setdefault(r["pid"], []).append(r)
        print(f"{res!r}\nwall {time.perf_counter() - t0:.0f} s")
        for pid, rs in by_pid.items():
            print(f"worker {pid}: replicates {[r['replicate'] for r in rs]}, compile seconds "
                  f"{[round(r['compile_seconds'], 1) for r in rs]}, replicate seconds {[round(r['seconds'], 1) for r in rs]}")
        return
    if args.kind == "sbc":
        import matplotlib

        matplotlib.use("Agg")
        res = studies.sbc(spec, args.out, persons=args.persons, waves=args.waves, replicates=args.replicates,
                          seed=SEED, workers=args.workers, draws=args.draws, tune=args.tune)
        print(f"{res!r}\nwall {time.perf_counter() - t0:.0f} s for the replicates run now; seconds per replicate "
              f"(median) {np.median([r['seconds'] for r in res.records]):.1f}")
        ranks = res.ranks()
        print(ranks.to_string())
        for test in ("p_value", "ecdf_p_value"):
            print(f"{test}: {int((ranks[test] > 0.01).sum())} of {len(ranks)} above 0.01; smallest "
                  f"{ranks[test].min():.3f} ({ranks[test].idxmin()[1]})")
        res.plot().savefig(args.figure, dpi=80)
        print(f"figure: {args.figure}")
        return
    if args.kind == "coverage":
        res = studies.coverage(spec, args.out, persons=args.persons, waves=args.waves, replicates=args.replicates,
                               seed=SEED, workers=args.workers)
    else:
        from carepaths.simulation import default_params

        truth = None
        if args.effect_scale != 1.0:
            defaults = default_params(spec)
            truth = {k: (np.asarray(defaults[k], dtype=float) * args.effect_scale).tolist() for k in ("b", "c")}
            sim = carepaths.simulate(spec, 50, 2, truth, seed=1, mc_persons=20_000)
            print("true effects (risk differences):", {n: dict(zip(sim.effects["stage"].values.tolist(),
                                                                   sim.effects[n].values.round(3).tolist()))
                                                        for n in ("TE", "NIE")})
        res = studies.power(spec, args.out, persons=args.persons_list, waves=args.waves, claim=args.claim,
                            replicates=args.replicates, seed=SEED, workers=args.workers, draws=args.draws,
                            tune=args.tune, truth=truth)
    wall = time.perf_counter() - t0
    print(f"{res!r}\nwall {wall:.0f} s for the replicates run now; fit seconds per replicate (median) "
          f"{np.median([r['seconds'] for r in res.records]):.1f}")
    if args.kind == "coverage":
        t = res.table()
        t["covered"] = (t["lower"] <= t["truth"]) & (t["truth"] <= t["upper"])
        t["kind"] = t["quantity"].str.split("[").str[0]
        print("\n| quantities | coverage | MC SE |\n|---|---:|---:|")
        for name, g in [("all", t), *t.groupby("kind")]:
            # replicates are independent; quantities within a replicate are not, so the SE
            # is that of the per-replicate coverage averaged over replicates
            per_rep = g.groupby("replicate")["covered"].mean()
            print(f"| {name} | {g['covered'].mean():.3f} | {per_rep.std(ddof=1) / np.sqrt(len(per_rep)):.3f} |")
        c = res.coverage()
        inside = ((c["coverage"] >= 0.85) & (c["coverage"] <= 0.95)).sum()
        print(f"\nquantities with coverage in 85-95%: {inside} of {len(c)}; lowest "
              f"{c['coverage'].min():.2f} ({c['coverage'].idxmin()[1]}), highest {c['coverage'].max():.2f}")
    else:
        print(res.power().to_string(index=False))


if __name__ == "__main__":
    main()
