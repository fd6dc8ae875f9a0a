"""Sustained interventions over waves: the g-formula against a static per-wave analysis (issue 18).

Workload: the longitudinal scenario (the default five-mechanism spec with a ``[time]``
table: lags of care use, stage and severity; severity time-varying; stage transitions
given the previous wave's care use; ``carepaths.longitudinal``), ``--persons`` (1,000) x
5 waves, seeds 20261128 + r for replicates r = 0 .. ``--replicates - 1``. The
intervention: support +1 SD from wave 2 on, sustained. Its truth per wave by the forward
simulation of 50,000 new persons on the true parameters (``sim.trajectory_truth``).

Two analyses of each replicate's panel, each fitted with the package defaults
(2 chains x 1,000 draws):

* **g-formula**: the ``[time]`` spec's per-wave model and models over waves,
  ``fit.trajectories(...)`` on 300 posterior draws;
* **static**: the same spec without ``[time]`` (a per-wave mediation analysis, no lags),
  whose answer for a wave is its per-stage total effect of +1 SD of support weighted by
  that wave's observed stage mix (what a user of a static analysis would report for a
  sustained policy), on every posterior draw.

Printed per wave (2-5): each analysis's mean error in posterior SDs over the replicates with
its Monte Carlo SE, and how many replicates' 95% intervals (the package interval) cover the truth.

Run: ``.venv/bin/python benchmarks/trajectories.py [--persons 1000] [--replicates 6]``
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np

SEED = 20261128
TIME = {"lags": ["care_use", "stage", "severity"], "time_varying": ["severity"],
        "stage_transition": {"given": ["care_use"]}}


def main() -> None:
    """Fit every replicate both ways and print the table."""
    import carepaths
    from carepaths import Intervention, MediationModel, Panel
    from carepaths.intervals import interval_bounds

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1000)
    parser.add_argument("--replicates", type=int, default=6)
    parser.add_argument("--waves", type=int, default=5)
    args = parser.parse_args()
    plain = carepaths.load_spec("five_mechanisms")
    data = plain.to_dict()
    data["time"] = TIME
    spec = carepaths.Spec.from_dict(data)
    iv = Intervention("support +1 SD from wave 2", "support", shift=1.0, from_wave=2)
    waves = list(range(2, args.waves + 1))
    print(f"# python {platform.python_version()}; {args.persons} persons x {args.waves} waves; "
          f"{args.replicates} replicates; seeds {SEED} + r", flush=True)
    z = {a: np.full((args.replicates, len(waves)), np.nan) for a in ("g-formula", "static")}
    covered = {a: np.zeros((args.replicates, len(waves)), dtype=bool) for a in ("g-formula", "static")}
    unconverged = {"g-formula": 0, "static": 0}
    truths = []
    for r in range(args.replicates):
        sim = carepaths.simulate(spec, args.persons, args.waves, seed=SEED + r, mc_persons=2000)
        truth = sim.trajectory_truth(iv, mc_persons=50_000)["care_use_diff"].sel(world=iv.name, wave=waves).values
        truths.append(truth)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            fit = MediationModel(spec, Panel.from_frame(sim.data, spec)).fit(seed=SEED + r)
            traj = fit.trajectories(iv, draws=300, seed=SEED + r)
            t1 = time.perf_counter()
            static_fit = MediationModel(plain, Panel.from_frame(sim.data, plain)).fit(seed=SEED + r)
            te = static_fit.effects().draws["TE"].sel(stage=list(plain.stage_levels))  # (chain, draw, stage)
            t2 = time.perf_counter()
        unconverged["g-formula"] += not traj.converged
        unconverged["static"] += not static_fit.converged
        table = traj.summary().loc["care_use_diff"].loc[iv.name]
        shares = (sim.data.groupby(["wave", "stage"]).size().unstack(fill_value=0)
                  .reindex(columns=list(plain.stage_levels), fill_value=0))
        shares = shares.div(shares.sum(axis=1), axis=0)
        for j, wave in enumerate(waves):
            g = table.loc[wave]
            z["g-formula"][r, j] = (g["mean"] - truth[j]) / g["sd"]
            covered["g-formula"][r, j] = g["lower"] <= truth[j] <= g["upper"]
            draws = (te.values * shares.loc[wave].to_numpy()).sum(axis=-1).ravel()
            lo, hi = interval_bounds(draws)
            z["static"][r, j] = (draws.mean() - truth[j]) / draws.std(ddof=1)
            covered["static"][r, j] = lo <= truth[j] <= hi
        print(f"replicate {r}: g-formula (fit + models over waves + trajectories) {t1 - t0:.1f} s, static fit "
              f"{t2 - t1:.1f} s; truth {np.round(truth, 4).tolist()}", flush=True)
    R = args.replicates
    print(f"\n## support +1 SD from wave 2 ({R} replicates)")
    print(f"not converged: g-formula {unconverged['g-formula']} of {R}, static {unconverged['static']} of {R}")
    print(f"true effect on care use by wave (mean over replicates): {np.round(np.mean(truths, axis=0), 4).tolist()}\n")
    print("| wave | g-formula: mean error / sd (SE) | covered (95%) | static: mean error / sd (SE) | covered (95%) |")
    print("|---:|---:|---:|---:|---:|")
    for j, wave in enumerate(waves):
        cells = []
        for a in ("g-formula", "static"):
            e = z[a][:, j]
            cells.append(f"{e.mean():+.2f} ({e.std(ddof=1) / np.sqrt(R):.2f}) | {int(covered[a][:, j].sum())}/{R}")
        print(f"| {wave} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
