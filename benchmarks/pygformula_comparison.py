"""carepaths' Bayesian g-formula against pygformula's parametric g-formula (issue 18).

Workload: a longitudinal scenario without person effects that pygformula 1.1.0 can express:
support (the exposure), one mediator (encouragement), care use (bernoulli), severity (a
time-varying confounder that responds to earlier care), two stages (crisis, recovery) whose
transitions respond to the previous wave's care use, lags of care use and severity in every
equation; ``--persons`` (2,000) x ``--waves`` (5), seed 20261128. Stage-specific paths:
a = (0.5, 0.3), b = (0.4, -0.3), c = (0.2, -0.2) in crisis and recovery.

Interventions, each against the natural course: support +1 SD in every wave; +1 SD from wave
2 on; +1 SD only in the waves a person is in recovery (dynamic). The estimand: the difference
in the share in care at every wave.

* **carepaths**: the spec's per-wave model and models over waves (package defaults,
  2 chains x 1,000 draws), ``fit.trajectories`` on 400 posterior draws: posterior mean and SD.
* **pygformula** 1.1.0 (maximum likelihood, statsmodels): the same panel re-indexed so that
  its order within a time point matches the waves. pygformula applies an intervention after
  every covariate of a time point, so the mediator and care use of wave t, which follow the
  exposure within the wave, become the first covariates of its time point t (simulated from
  the previous time point's exposure, stage and severity as ``lag1_``), followed by the stage,
  severity and exposure of wave t+1; time point 0 holds the first wave's stage, severity and
  exposure (observed, as the natural course starts) and placeholders 0 for the mediator and
  care. Its models are the correctly specified ones with every term interacted with the stage
  (the stage is binary, so pygformula samples it; it would take a categorical covariate's most
  probable category). Its share in care at wave t is the mean of its simulated care use at
  time point t over ``--simul`` (20,000) simulated persons; its Monte Carlo SE is
  sqrt(p(1-p)/n) per world, summed over the two worlds: an upper bound, as pygformula
  reuses its seed in every world (common random numbers). Its models over waves also
  see wave T+1's stage, severity and exposure (its time points end with the exposure), so the
  panel is simulated with one wave more, which carepaths does not see.

Agreement: both estimate the same functional from the same data, so they should differ by
much less than the posterior SD (the error both share). Printed per intervention and wave:
each estimate, the truth (``sim.trajectory_truth``, 50,000 persons), and
z = (carepaths - pygformula) / sqrt(posterior SD^2 + pygformula MC SE^2); agreement is
|z| < 2 at every wave (the MC SE of carepaths' posterior mean, 400 draws, is under a tenth of
the posterior SD and left out).

Run (pygformula needs pandas < 3, so it has its own environment):
``make bench-pygformula`` or ``.venv-pygformula/bin/python benchmarks/pygformula_comparison.py``
"""

from __future__ import annotations

import argparse
import contextlib
import io
import platform
import time
import warnings

import numpy as np
import pandas as pd

SEED = 20261128
PATHS = {"a": [[0.5, 0.3]], "b": [[0.4, -0.3]], "c": [0.2, -0.2]}


def scenario_spec():
    """The five-mechanism spec cut down to what pygformula can express: one mediator, one
    time-varying confounder, two stages, no person effects."""
    import carepaths

    data = carepaths.load_spec("five_mechanisms").to_dict()
    data["name"] = "pygformula_comparison"
    data["stages"] = ["crisis", "recovery"]
    data["mediators"] = [m for m in data["mediators"] if m["name"] == "encouragement"]
    data["confounders"] = [c for c in data["confounders"] if c["name"] == "severity"]
    data["structure"]["person_effects"] = "none"
    data["structure"]["pool_stages"] = False
    data.pop("paradox", None)
    data["time"] = {"lags": ["care_use", "stage", "severity"], "time_varying": ["severity"],
                    "stage_transition": {"given": ["care_use"]}}
    return carepaths.Spec.from_dict(data)


def reindexed(panel: pd.DataFrame, waves: int) -> pd.DataFrame:
    """pygformula's long data: time point t holds wave t's mediator and care use and wave
    t+1's stage, severity and exposure (t = 0 .. waves); ``yend`` is care use at the last wave."""
    wide = panel.set_index(["person", "wave"]).sort_index()
    persons = wide.index.get_level_values("person").unique()
    rows = []
    for t in range(waves + 1):
        nxt = wide.xs(t + 1, level="wave").reindex(persons)
        cur = wide.xs(t, level="wave").reindex(persons) if t >= 1 else None
        rows.append(pd.DataFrame({
            "id": persons, "t": t,
            "m": cur["encouragement"].to_numpy() if cur is not None else 0.0,
            "y": cur["care_use"].to_numpy() if cur is not None else 0,
            "rec": (nxt["stage"] == "recovery").astype(int).to_numpy(),
            "sev": nxt["severity"].to_numpy(), "x": nxt["support"].to_numpy(),
        }))
    long = pd.concat(rows).sort_values(["id", "t"]).reset_index(drop=True)
    last = wide.xs(waves, level="wave")["care_use"]
    long["yend"] = long["id"].map(last).astype(int)
    return long


def pygformula_shares(long: pd.DataFrame, waves: int, sd: float, n_simul: int, seed: int):
    """Share in care at waves 1..waves under the natural course and the three interventions."""
    from pygformula import ParametricGformula

    def everywhere(new_df, pool, int_var, time_name, t):
        new_df.loc[new_df[time_name] == t, int_var] = new_df.loc[new_df[time_name] == t, int_var] + sd

    def in_recovery(new_df, pool, int_var, time_name, t):
        rows = (new_df[time_name] == t) & (new_df["rec"] == 1)
        new_df.loc[rows, int_var] = new_df.loc[rows, int_var] + sd

    fw = "I(t == 1)"
    now = f"lag1_x + lag1_sev + lag1_y + lag2_sev + {fw}"
    covnames = ["m", "y", "rec", "sev", "x"]
    covmodels = [
        f"m ~ lag1_rec * ({now})",
        f"y ~ lag1_rec * (m + {now})",
        "rec ~ lag1_rec * y",
        "sev ~ lag1_sev + rec + lag1_rec + y",
        "x ~ rec * (sev + y + lag1_sev)",
    ]
    g = ParametricGformula(
        obs_data=long, id="id", time_name="t", time_points=waves + 1,
        covnames=covnames, covtypes=["normal", "binary", "binary", "normal", "normal"], covmodels=covmodels,
        outcome_name="yend", outcome_type="binary_eof", ymodel=f"yend ~ lag1_rec * (m + {now})",
        int_descript=["every wave", "from wave 2", "in recovery"],
        Intervention1_x=[everywhere, list(range(0, waves))],
        Intervention2_x=[everywhere, list(range(1, waves))],
        Intervention3_x=[in_recovery, list(range(0, waves))],
        n_simul=n_simul, seed=seed, nsamples=0,
    )
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # its own tables
        warnings.simplefilter("ignore")
        g.fit()
    shares = {}
    for name, sim in g.summary_dict["sim_data"].items():
        by_t = sim.groupby("t")["y"].mean()
        shares[name] = np.array([by_t.loc[t] for t in range(1, waves + 1)], dtype=float)
    return shares


def main() -> None:
    """Fit both, print the table."""
    import carepaths
    from carepaths import Intervention, MediationModel, Panel

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=2000)
    parser.add_argument("--waves", type=int, default=5)
    parser.add_argument("--simul", type=int, default=20_000)
    parser.add_argument("--draws", type=int, default=400)
    args = parser.parse_args()
    import pygformula

    spec = scenario_spec()
    T = args.waves
    print(f"# python {platform.python_version()}, carepaths {carepaths.__version__}, pygformula "
          f"{getattr(pygformula, '__version__', '1.1.0')}; {args.persons} persons x {T} waves; seed {SEED}", flush=True)
    params = {k: np.asarray(v, dtype=float) for k, v in PATHS.items()}
    sim = carepaths.simulate(spec, args.persons, T + 1, params, seed=SEED, mc_persons=2000)
    panel = sim.data[sim.data["wave"] <= T].reset_index(drop=True)
    sd = float(panel["support"].std(ddof=1))
    interventions = [
        Intervention("every wave", "support", shift=1.0),
        Intervention("from wave 2", "support", shift=1.0, from_wave=2),
        Intervention("in recovery", "support", shift=1.0, stages=["recovery"]),
    ]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = MediationModel(spec, Panel.from_frame(panel, spec)).fit(seed=SEED)
        traj = fit.trajectories(interventions, draws=args.draws, seed=SEED)
    t1 = time.perf_counter()
    pyg = pygformula_shares(reindexed(sim.data, T), T, sd, args.simul, SEED)
    t2 = time.perf_counter()
    print(f"carepaths: fit + models over waves + trajectories {t1 - t0:.1f} s ({'converged' if traj.converged else 'NOT CONVERGED'}); "
          f"pygformula: fit + simulation {t2 - t1:.1f} s", flush=True)
    table = traj.summary()
    nat = pyg["Natural course"]
    worst = 0.0
    for iv in interventions:
        truth = sim.trajectory_truth(iv, mc_persons=50_000)["care_use_diff"].sel(world=iv.name).values
        ours = table.loc["care_use_diff"].loc[iv.name]
        theirs = pyg[iv.name] - nat
        mc = np.sqrt(pyg[iv.name] * (1 - pyg[iv.name]) / args.simul + nat * (1 - nat) / args.simul)
        print(f"\n## support +1 SD, {iv.name}\n")
        print("| wave | truth | carepaths mean (posterior SD) | pygformula (MC SE) | z |")
        print("|---:|---:|---:|---:|---:|")
        for j, wave in enumerate(range(1, T + 1)):
            row = ours.loc[wave]
            z = (row["mean"] - theirs[j]) / np.sqrt(row["sd"] ** 2 + mc[j] ** 2)
            worst = max(worst, abs(z))
            print(f"| {wave} | {truth[j]:+.4f} | {row['mean']:+.4f} ({row['sd']:.4f}) | {theirs[j]:+.4f} ({mc[j]:.4f}) "
                  f"| {z:+.2f} |")
    print(f"\nlargest |z| {worst:.2f}: {'agree' if worst < 2 else 'DISAGREE'} (|z| < 2 at every wave)")
    print("natural course, share in care by wave: carepaths "
          f"{np.round(table.loc['care_use'].loc['natural course']['mean'].to_numpy(), 4).tolist()}, pygformula "
          f"{np.round(nat, 4).tolist()}, observed {np.round(panel.groupby('wave')['care_use'].mean().to_numpy(), 4).tolist()}")


if __name__ == "__main__":
    main()
